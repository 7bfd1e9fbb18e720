//! `weir perf produce|consume`: throughput and latency figures, a progress
//! bar, a summary table or one JSON line, and an optional SVG latency plot.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use clap::{Args, Subcommand};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use weir_client::admin::{Admin, NewTopic};
use weir_client::cluster::ClientConfig;
use weir_client::consumer::{Consumer, ConsumerConfig, Offset};
use weir_client::producer::{Producer, ProducerConfig, ProducerRecord};
use weir_client::protocol::compression::Compression;

use crate::records::parse_acks;

#[derive(Subcommand, Debug)]
pub enum PerfCommand {
    /// Produce `--records` records of `--size` bytes as fast as possible.
    Produce(ProduceArgs),
    /// Consume `--records` records from the beginning of a topic.
    Consume(ConsumeArgs),
    /// Produce and consume in one process: latency from send to poll.
    E2e(E2eArgs),
}

#[derive(Args, Debug)]
pub struct E2eArgs {
    /// Topic (created with one partition if missing).
    #[arg(long, short = 't', env = "WEIR_TOPIC")]
    topic: String,
    /// Records to send.
    #[arg(long, default_value_t = 100_000)]
    records: u64,
    /// Value bytes per record (at least 8: the send time is in the value).
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// acks: 0, 1 or all.
    #[arg(long, default_value = "1", value_parser = parse_acks)]
    acks: i16,
    /// Records per second (0: as fast as possible, which measures queueing).
    #[arg(long, default_value_t = 50_000)]
    rate: u64,
    /// linger.ms.
    #[arg(long, default_value_t = 0)]
    linger_ms: u64,
    /// One machine-readable JSON line instead of the table.
    #[arg(long)]
    json: bool,
    /// Write a latency percentile plot to this SVG file.
    #[arg(long)]
    svg: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ProduceArgs {
    /// Topic (created with `--partitions` if missing).
    #[arg(long, short = 't', env = "WEIR_TOPIC")]
    topic: String,
    /// Records to send.
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// Value bytes per record.
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// acks: 0, 1 or all.
    #[arg(long, default_value = "1", value_parser = parse_acks)]
    acks: i16,
    /// Partitions of the topic if it has to be created.
    #[arg(long, default_value_t = 1)]
    partitions: i32,
    /// Compression: none, gzip, snappy, lz4, zstd.
    #[arg(long, default_value = "none")]
    compression: Compression,
    /// linger.ms.
    #[arg(long, default_value_t = 5)]
    linger_ms: u64,
    /// batch.size in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    batch_size: usize,
    /// Idempotent producer (needs acks=all; default: on with acks=all).
    #[arg(long)]
    idempotence: Option<bool>,
    /// One machine-readable JSON line instead of the table.
    #[arg(long)]
    json: bool,
    /// Write a latency percentile plot to this SVG file.
    #[arg(long)]
    svg: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ConsumeArgs {
    /// Topic.
    #[arg(long, short = 't', env = "WEIR_TOPIC")]
    topic: String,
    /// Records to read (from the beginning of every partition).
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// One machine-readable JSON line instead of the table.
    #[arg(long)]
    json: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout_s: u64,
}

pub async fn run(bootstrap: &str, cmd: PerfCommand) -> anyhow::Result<()> {
    match cmd {
        PerfCommand::Produce(args) => produce(bootstrap, args).await,
        PerfCommand::Consume(args) => consume(bootstrap, args).await,
        PerfCommand::E2e(args) => e2e(bootstrap, args).await,
    }
}

fn progress(total: u64, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} records  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Creates `topic` unless it exists.
async fn ensure_topic(bootstrap: &str, topic: &str, partitions: i32) -> anyhow::Result<()> {
    let admin = Admin::new(ClientConfig::new(bootstrap))?;
    let created = admin
        .create_topics(&[NewTopic::new(topic, partitions)], false)
        .await?;
    if let Some(Err(e)) = created.into_iter().next()
        && e.code() != Some(weir_client::error::codes::TOPIC_ALREADY_EXISTS)
    {
        return Err(e).context("creating the topic");
    }
    Ok(())
}

async fn e2e(bootstrap: &str, args: E2eArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.size >= 8, "--size must be at least 8");
    ensure_topic(bootstrap, &args.topic, 1).await?;
    let mut consumer = Consumer::new(ConsumerConfig {
        fetch_max_wait: Duration::from_millis(100),
        ..ConsumerConfig::new(bootstrap)
    })?;
    consumer.assign_topic(&args.topic, Offset::End).await?;
    let mut config = ProducerConfig::new(bootstrap);
    config.acks = args.acks;
    config.idempotence = args.acks == -1;
    config.linger = Duration::from_millis(args.linger_ms);
    let producer = Producer::new(config).await.context("connecting")?;
    let base = Instant::now();
    let total = args.records;
    let reader = tokio::spawn(async move {
        let mut histogram = latency_histogram();
        let (mut seen, mut bytes) = (0u64, 0u64);
        let deadline = Instant::now() + Duration::from_secs(300);
        while seen < total && Instant::now() < deadline {
            for r in consumer.poll(100_000, Duration::from_millis(500)).await? {
                let value = r.value.unwrap_or_default();
                let Some(stamp) = value.first_chunk::<8>() else {
                    continue;
                };
                let sent = u64::from_be_bytes(*stamp);
                let now = base.elapsed().as_micros() as u64;
                let _ = histogram.record(now.saturating_sub(sent).max(1));
                seen += 1;
                bytes += value.len() as u64;
            }
        }
        anyhow::Ok((histogram, seen, bytes))
    });
    let bar = progress(args.records, args.json);
    let padding = vec![b'e'; args.size - 8];
    for i in 0..args.records {
        if args.rate > 0 {
            let due = Duration::from_secs_f64(i as f64 / args.rate as f64);
            if let Some(wait) = due.checked_sub(base.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
        let mut value = Vec::with_capacity(args.size);
        value.extend_from_slice(&(base.elapsed().as_micros() as u64).to_be_bytes());
        value.extend_from_slice(&padding);
        // Fire and forget: the consumer side measures delivery.
        drop(
            producer
                .send(ProducerRecord::new(&args.topic, value))
                .await?,
        );
        if i % 4096 == 0 {
            bar.set_position(i);
        }
    }
    producer.flush(Duration::from_secs(300)).await?;
    let (histogram, seen, bytes) = reader.await??;
    bar.finish_and_clear();
    Summary {
        kind: "e2e",
        records: seen,
        bytes,
        elapsed_s: base.elapsed().as_secs_f64(),
        histogram: &histogram,
    }
    .print(
        args.json,
        &[
            ("rate", args.rate.to_string()),
            ("acks", args.acks.to_string()),
        ],
    );
    if let Some(path) = &args.svg {
        plot(&histogram, path).with_context(|| format!("writing {}", path.display()))?;
    }
    anyhow::ensure!(
        seen == args.records,
        "read {seen} of {} records",
        args.records
    );
    Ok(())
}

async fn produce(bootstrap: &str, args: ProduceArgs) -> anyhow::Result<()> {
    ensure_topic(bootstrap, &args.topic, args.partitions).await?;
    let mut config = ProducerConfig::new(bootstrap);
    config.acks = args.acks;
    config.idempotence = args.idempotence.unwrap_or(args.acks == -1);
    config.compression = args.compression;
    config.linger = Duration::from_millis(args.linger_ms);
    config.batch_size = args.batch_size;
    config.max_request_size = config.max_request_size.max(args.batch_size);
    let producer = Producer::new(config).await.context("connecting")?;
    let payload = Bytes::from(
        (0..args.size)
            .map(|i| b'a' + (i % 26) as u8)
            .collect::<Vec<u8>>(),
    );
    let bar = progress(args.records, args.json);
    let (tx, mut rx) =
        tokio::sync::mpsc::unbounded_channel::<(Instant, weir_client::producer::DeliveryFuture)>();
    let collector = tokio::spawn(async move {
        let mut histogram = latency_histogram();
        let mut failed = 0u64;
        let mut first_error = None;
        let mut last_ack = Instant::now();
        while let Some((sent, future)) = rx.recv().await {
            match future.await {
                Ok(_) => {
                    last_ack = Instant::now();
                    let micros = last_ack.duration_since(sent).as_micros().max(1) as u64;
                    let _ = histogram.record(micros.min(600_000_000));
                }
                Err(e) => {
                    failed += 1;
                    first_error.get_or_insert(e);
                }
            }
        }
        (histogram, failed, first_error, last_ack)
    });
    let started = Instant::now();
    let topic = args.topic.clone();
    for i in 0..args.records {
        let record = ProducerRecord {
            topic: topic.clone(),
            value: Some(payload.clone()),
            ..Default::default()
        };
        let future = producer.send(record).await?;
        let _ = tx.send((Instant::now(), future));
        if i % 65_536 == 0 {
            bar.set_position(i);
        }
    }
    drop(tx);
    producer.flush(Duration::from_secs(600)).await?;
    let (histogram, failed, first_error, last_ack) = collector.await?;
    bar.finish_and_clear();
    let elapsed = last_ack.duration_since(started).as_secs_f64().max(1e-9);
    let delivered = args.records - failed;
    let summary = Summary {
        kind: "produce",
        records: delivered,
        bytes: delivered * args.size as u64,
        elapsed_s: elapsed,
        histogram: &histogram,
    };
    summary.print(
        args.json,
        &[
            ("size", args.size.to_string()),
            ("acks", args.acks.to_string()),
            ("compression", args.compression.to_string()),
            ("failed", failed.to_string()),
        ],
    );
    if let Some(path) = &args.svg {
        plot(&histogram, path).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(e) = first_error {
        anyhow::bail!("{failed} records failed; the first: {e}");
    }
    Ok(())
}

async fn consume(bootstrap: &str, args: ConsumeArgs) -> anyhow::Result<()> {
    let mut consumer = Consumer::new(ConsumerConfig::new(bootstrap))?;
    consumer
        .assign_topic(&args.topic, Offset::Beginning)
        .await?;
    let bar = progress(args.records, args.json);
    let mut histogram = latency_histogram();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.timeout_s);
    let (mut records, mut bytes) = (0u64, 0u64);
    while records < args.records && Instant::now() < deadline {
        let asked = Instant::now();
        let batch = consumer.poll(100_000, Duration::from_secs(1)).await?;
        if batch.is_empty() {
            continue;
        }
        let _ = histogram.record(asked.elapsed().as_micros().max(1) as u64);
        records += batch.len() as u64;
        bytes += batch
            .iter()
            .map(|r| r.value.as_ref().map_or(0, |v| v.len()) as u64)
            .sum::<u64>();
        bar.set_position(records);
    }
    bar.finish_and_clear();
    let summary = Summary {
        kind: "consume",
        records,
        bytes,
        elapsed_s: started.elapsed().as_secs_f64().max(1e-9),
        histogram: &histogram,
    };
    summary.print(args.json, &[("latency", "poll".into())]);
    if records < args.records {
        anyhow::bail!(
            "read {records} of {} records in {} s",
            args.records,
            args.timeout_s
        );
    }
    Ok(())
}

/// Latencies in µs from 1 µs to 10 minutes, 3 significant digits.
fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("constant, valid bounds")
}

/// The figures of one run.
struct Summary<'a> {
    kind: &'static str,
    records: u64,
    bytes: u64,
    elapsed_s: f64,
    /// Latencies in µs.
    histogram: &'a Histogram<u64>,
}

impl Summary<'_> {
    fn print(&self, json: bool, extra: &[(&str, String)]) {
        let ms = |q: f64| self.histogram.value_at_quantile(q) as f64 / 1000.0;
        let rps = self.records as f64 / self.elapsed_s;
        let mbps = self.bytes as f64 / self.elapsed_s / 1e6;
        if json {
            let mut line = serde_json::json!({
                "kind": self.kind,
                "records": self.records,
                "elapsed_s": self.elapsed_s,
                "records_per_sec": rps,
                "mb_per_sec": mbps,
                "p50_ms": ms(0.5),
                "p99_ms": ms(0.99),
                "p999_ms": ms(0.999),
                "max_ms": self.histogram.max() as f64 / 1000.0,
            });
            for (k, v) in extra {
                line[*k] = serde_json::Value::String(v.clone());
            }
            println!("{line}");
            return;
        }
        println!("{:<14}{}", "kind", self.kind);
        println!("{:<14}{}", "records", self.records);
        println!("{:<14}{:.3} s", "elapsed", self.elapsed_s);
        println!("{:<14}{:.0}", "records/s", rps);
        println!("{:<14}{:.1}", "MB/s", mbps);
        for (label, q) in [("p50", 0.5), ("p99", 0.99), ("p99.9", 0.999)] {
            println!("{:<14}{:.3} ms", label, ms(q));
        }
        println!(
            "{:<14}{:.3} ms",
            "max",
            self.histogram.max() as f64 / 1000.0
        );
        for (k, v) in extra {
            println!("{k:<14}{v}");
        }
    }
}

/// Latency by percentile, as an SVG line chart.
fn plot(histogram: &Histogram<u64>, path: &std::path::Path) -> anyhow::Result<()> {
    use plotters::prelude::*;
    let points: Arc<Vec<(f64, f64)>> = Arc::new(
        (0..=1000)
            .map(|i| {
                let q = i as f64 / 1000.0;
                (q * 100.0, histogram.value_at_quantile(q) as f64 / 1000.0)
            })
            .collect(),
    );
    let max_ms = points.iter().map(|p| p.1).fold(0.001, f64::max);
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .margin(20)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .caption("latency by percentile (ms)", ("sans-serif", 20))
        .build_cartesian_2d(0.0..100.0, 0.0..max_ms * 1.05)?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("ms")
        .draw()?;
    chart.draw_series(LineSeries::new(points.iter().copied(), &BLUE))?;
    root.present()?;
    Ok(())
}
