//! `weir produce` and `weir consume`.

use std::io::{BufRead, Write};
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::{Args, ValueEnum};
use weir_client::consumer::{
    Consumer, ConsumerConfig, ConsumerRecord, HeaderFilter, IsolationLevel, Offset,
    list_offset_with,
};
use weir_client::producer::{Producer, ProducerConfig, ProducerRecord};
use weir_client::protocol::compression::Compression;

use crate::topic::parse_kv;

#[derive(Args, Debug)]
pub struct ProduceArgs {
    /// Topic.
    #[arg(long, short = 't', env = "WEIR_TOPIC")]
    topic: String,
    /// Read lines from this file instead of stdin.
    #[arg(long)]
    file: Option<std::path::PathBuf>,
    /// Key of every record.
    #[arg(long, short = 'k')]
    key: Option<String>,
    /// Split each line at this separator into key and value (kcat's -K).
    #[arg(long, short = 'K')]
    key_separator: Option<String>,
    /// Header `key=value` on every record (repeatable).
    #[arg(long = "header", short = 'H', value_parser = parse_kv)]
    headers: Vec<(String, String)>,
    /// Partition (default: the partitioner's choice).
    #[arg(long, short = 'p')]
    partition: Option<i32>,
    /// acks: 0, 1 or all (-1).
    #[arg(long, default_value = "all", value_parser = parse_acks)]
    acks: i16,
    /// Compression: none, gzip, snappy, lz4, zstd.
    #[arg(long, default_value = "none")]
    compression: Compression,
    /// Produce every line in one transaction with this `transactional.id`,
    /// committed at the end (aborted if a record fails); read_committed
    /// consumers see all of it or nothing. Needs acks=all.
    #[arg(long)]
    transactional_id: Option<String>,
    /// `transaction.timeout.ms` of that transaction.
    #[arg(long, default_value_t = 60_000, requires = "transactional_id")]
    transaction_timeout_ms: u64,
}

/// `0`, `1`, `all` or `-1`.
pub fn parse_acks(s: &str) -> Result<i16, String> {
    match s {
        "0" => Ok(0),
        "1" => Ok(1),
        "all" | "-1" => Ok(-1),
        other => Err(format!("acks is 0, 1 or all, not {other:?}")),
    }
}

pub async fn produce(bootstrap: &str, args: ProduceArgs) -> anyhow::Result<()> {
    let mut config = ProducerConfig::new(bootstrap);
    config.acks = args.acks;
    config.idempotence = args.acks == -1;
    config.compression = args.compression;
    if args.transactional_id.is_some() && args.acks != -1 {
        bail!("--transactional-id needs --acks all");
    }
    config.transactional_id = args.transactional_id.clone();
    config.transaction_timeout = Duration::from_millis(args.transaction_timeout_ms);
    let producer = Producer::new(config).await.context("connecting")?;
    if args.transactional_id.is_some() {
        producer
            .init_transactions()
            .await
            .context("initialising transactions")?;
        producer.begin_transaction()?;
    }
    let produced = produce_lines(&producer, &args).await;
    if args.transactional_id.is_none() {
        return produced;
    }
    match produced {
        Ok(()) => producer
            .commit_transaction()
            .await
            .context("committing the transaction")?,
        Err(e) => {
            if let Err(abort) = producer.abort_transaction().await {
                eprintln!("aborting the transaction failed too: {abort}");
            }
            return Err(e.context("the transaction was aborted"));
        }
    }
    eprintln!(
        "committed the transaction of {}",
        args.transactional_id.as_deref().unwrap_or_default()
    );
    Ok(())
}

/// Sends every input line and waits until each is acknowledged.
async fn produce_lines(producer: &Producer, args: &ProduceArgs) -> anyhow::Result<()> {
    let input: Box<dyn BufRead> = match &args.file {
        Some(path) => Box::new(std::io::BufReader::new(
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
        )),
        None => Box::new(std::io::BufReader::new(std::io::stdin())),
    };
    let mut pending = Vec::new();
    for line in input.lines() {
        let line = line?;
        let (key, value) = match &args.key_separator {
            Some(sep) => match line.split_once(sep.as_str()) {
                Some((k, v)) => (Some(k.to_owned()), v.to_owned()),
                None => (None, line),
            },
            None => (args.key.clone(), line),
        };
        let record = ProducerRecord {
            topic: args.topic.clone(),
            partition: args.partition,
            key: key.map(Bytes::from),
            value: Some(Bytes::from(value)),
            headers: args
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), Some(Bytes::from(v.clone()))))
                .collect(),
            timestamp_ms: None,
        };
        pending.push(producer.send(record).await?);
    }
    producer.flush(Duration::from_secs(120)).await?;
    let count = pending.len();
    for f in pending {
        f.await.context("a record was not delivered")?;
    }
    eprintln!("produced {count} records to {}", args.topic);
    Ok(())
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    /// The value only.
    Plain,
    /// One JSON object per line.
    Json,
}

#[derive(Args, Debug)]
pub struct ConsumeArgs {
    /// Topic.
    #[arg(long, short = 't', env = "WEIR_TOPIC")]
    topic: String,
    /// Only this partition (default: all).
    #[arg(long, short = 'p')]
    partition: Option<i32>,
    /// Start: beginning, end, an offset, or @<timestamp ms>.
    #[arg(long, short = 'o', default_value = "beginning")]
    offset: String,
    /// Stop after this many records.
    #[arg(long, short = 'c')]
    count: Option<u64>,
    /// Stop at the end of every partition (as it was when consuming started).
    #[arg(long, short = 'e')]
    exit_at_end: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "plain")]
    format: Format,
    /// kcat-like template: %t topic, %p partition, %o offset, %k key, %s value,
    /// %T timestamp, %h headers, \n newline, \t tab.
    #[arg(short = 'f')]
    template: Option<String>,
    /// Only records with header `key=value` (or `key` with any value).
    #[arg(long)]
    header_filter: Option<String>,
    /// Which records of transactions to read: read-uncommitted (all, up to
    /// the high watermark) or read-committed (committed ones only, up to the
    /// last stable offset).
    #[arg(long, value_enum, default_value = "read-uncommitted")]
    isolation: Isolation,
    #[command(flatten)]
    group: crate::group_consume::GroupArgs,
}

/// `--isolation`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Isolation {
    /// Every record, aborted transactions included (Kafka's default).
    ReadUncommitted,
    /// Records of committed transactions (and non-transactional ones) only.
    ReadCommitted,
}

impl From<Isolation> for IsolationLevel {
    fn from(i: Isolation) -> Self {
        match i {
            Isolation::ReadUncommitted => IsolationLevel::ReadUncommitted,
            Isolation::ReadCommitted => IsolationLevel::ReadCommitted,
        }
    }
}

fn parse_offset(s: &str) -> anyhow::Result<Offset> {
    Ok(match s {
        "beginning" | "earliest" => Offset::Beginning,
        "end" | "latest" => Offset::End,
        s if s.starts_with('@') => Offset::Timestamp(s[1..].parse().context("timestamp")?),
        s => Offset::At(s.parse().with_context(|| format!("offset {s:?}"))?),
    })
}

pub async fn consume(bootstrap: &str, args: ConsumeArgs) -> anyhow::Result<()> {
    if args.group.group.is_some() {
        let target = crate::group_consume::Target {
            topic: &args.topic,
            reset: parse_offset(&args.offset)?,
            count: args.count,
            exit_at_end: args.exit_at_end,
            header_filter: args.header_filter.as_deref(),
            isolation: args.isolation.into(),
        };
        return crate::group_consume::consume(bootstrap, &args.group, target, |out, r| {
            print_record(out, r, args.format, args.template.as_deref())
        })
        .await;
    }
    let start = parse_offset(&args.offset)?;
    let isolation = IsolationLevel::from(args.isolation);
    let mut consumer = Consumer::new(ConsumerConfig {
        isolation_level: isolation,
        ..ConsumerConfig::new(bootstrap)
    })?;
    let meta = consumer.cluster().topic(&args.topic).await?;
    let partitions: Vec<i32> = match args.partition {
        Some(p) if (p as usize) < meta.partitions.len() => vec![p],
        Some(p) => bail!("{} has no partition {p}", args.topic),
        None => meta.partitions.iter().map(|p| p.partition).collect(),
    };
    let mut ends = Vec::new();
    if args.exit_at_end {
        for &p in &partitions {
            ends.push((
                p,
                list_offset_with(consumer.cluster(), &args.topic, p, -1, isolation).await?,
            ));
        }
    }
    consumer
        .assign(
            partitions
                .iter()
                .map(|&p| (args.topic.clone(), p, start))
                .collect(),
        )
        .await?;
    consumer.set_header_filter(
        args.header_filter
            .as_deref()
            .map(|f| match f.split_once('=') {
                Some((k, v)) => HeaderFilter {
                    key: k.to_owned(),
                    value: Some(Bytes::copy_from_slice(v.as_bytes())),
                },
                None => HeaderFilter {
                    key: f.to_owned(),
                    value: None,
                },
            }),
    );
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut printed = 0u64;
    loop {
        if args.count.is_some_and(|c| printed >= c) {
            break;
        }
        if args.exit_at_end
            && ends.iter().all(|&(p, end)| {
                consumer
                    .position(&args.topic, p)
                    .is_some_and(|at| at >= end)
            })
        {
            break;
        }
        for r in consumer.poll(10_000, Duration::from_millis(500)).await? {
            if args.count.is_some_and(|c| printed >= c) {
                break;
            }
            print_record(&mut out, &r, args.format, args.template.as_deref())?;
            printed += 1;
        }
        out.flush()?;
    }
    out.flush()?;
    Ok(())
}

fn text(b: &Option<Bytes>) -> String {
    b.as_deref()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

fn print_record(
    out: &mut impl Write,
    r: &ConsumerRecord,
    format: Format,
    template: Option<&str>,
) -> std::io::Result<()> {
    if let Some(t) = template {
        let mut chars = t.chars().peekable();
        while let Some(c) = chars.next() {
            match (c, chars.peek().copied()) {
                ('%', Some(k)) => {
                    chars.next();
                    match k {
                        't' => write!(out, "{}", r.topic)?,
                        'p' => write!(out, "{}", r.partition)?,
                        'o' => write!(out, "{}", r.offset)?,
                        'k' => write!(out, "{}", text(&r.key))?,
                        's' => write!(out, "{}", text(&r.value))?,
                        'T' => write!(out, "{}", r.timestamp_ms)?,
                        'h' => {
                            let hs: Vec<String> = r
                                .headers
                                .iter()
                                .map(|(k, v)| format!("{}={}", String::from_utf8_lossy(k), text(v)))
                                .collect();
                            write!(out, "{}", hs.join(","))?
                        }
                        '%' => write!(out, "%")?,
                        other => write!(out, "%{other}")?,
                    }
                }
                ('\\', Some('n')) => {
                    chars.next();
                    writeln!(out)?
                }
                ('\\', Some('t')) => {
                    chars.next();
                    write!(out, "\t")?
                }
                (c, _) => write!(out, "{c}")?,
            }
        }
        return Ok(());
    }
    match format {
        Format::Plain => writeln!(out, "{}", text(&r.value)),
        Format::Json => {
            let headers: serde_json::Map<String, serde_json::Value> = r
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        String::from_utf8_lossy(k).into_owned(),
                        v.as_ref().map_or(serde_json::Value::Null, |v| {
                            String::from_utf8_lossy(v).into_owned().into()
                        }),
                    )
                })
                .collect();
            let line = serde_json::json!({
                "topic": r.topic.as_ref(),
                "partition": r.partition,
                "offset": r.offset,
                "timestamp": r.timestamp_ms,
                "key": r.key.as_ref().map(|k| String::from_utf8_lossy(k).into_owned()),
                "value": r.value.as_ref().map(|v| String::from_utf8_lossy(v).into_owned()),
                "headers": headers,
            });
            writeln!(out, "{line}")
        }
    }
}
