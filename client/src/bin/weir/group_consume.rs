//! `weir consume --group G`: consume as a member of a consumer group (the
//! group assigns the partitions; offsets are committed to it).

use std::io::{BufWriter, StdoutLock, Write};
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::{Args, ValueEnum};
use weir_client::consumer::group::{
    DeliveryMode, GroupConfig, GroupConsumer, RebalanceListener, TopicPartition,
};
use weir_client::consumer::{ConsumerRecord, HeaderFilter, IsolationLevel, Offset};

/// The group options of `weir consume`.
#[derive(Args, Debug, Clone)]
pub struct GroupArgs {
    /// Consume as a member of this consumer group: partitions come from the
    /// group, offsets are committed to it, `--offset` applies only where the
    /// group has none committed.
    #[arg(long, short = 'g', env = "WEIR_GROUP")]
    pub group: Option<String>,
    /// Static membership (`group.instance.id`).
    #[arg(long, requires = "group")]
    pub group_instance_id: Option<String>,
    /// Partition assignors in preference order: range, roundrobin,
    /// cooperative-sticky (cooperative rebalancing needs it alone).
    #[arg(
        long = "assignor",
        value_delimiter = ',',
        default_value = "range,cooperative-sticky"
    )]
    pub assignors: Vec<String>,
    /// When offsets are committed.
    #[arg(long, value_enum, default_value = "at-least-once")]
    pub delivery: Delivery,
    /// Session timeout in ms (`session.timeout.ms`).
    #[arg(long, default_value_t = 45_000)]
    pub session_timeout_ms: u64,
}

/// `--delivery`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Delivery {
    /// Commit after records were printed (a crash may print some twice).
    AtLeastOnce,
    /// Commit before printing (a crash may skip some, none is printed twice).
    AtMostOnce,
}

/// What to consume, from `weir consume`'s other options.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// Topic to subscribe to.
    pub topic: &'a str,
    /// Where to start without a committed offset.
    pub reset: Offset,
    /// Stop after this many records.
    pub count: Option<u64>,
    /// Stop once every assigned partition is consumed to its end.
    pub exit_at_end: bool,
    /// `key=value` or `key`: only records with that header.
    pub header_filter: Option<&'a str>,
    /// `isolation.level`.
    pub isolation: IsolationLevel,
}

/// Rebalances, reported on stderr (as kcat does).
struct Report;

fn list(partitions: &[TopicPartition]) -> String {
    let names: Vec<String> = partitions
        .iter()
        .map(|(t, p)| format!("{t}[{p}]"))
        .collect();
    names.join(", ")
}

impl RebalanceListener for Report {
    fn on_assigned(&mut self, partitions: &[TopicPartition]) {
        if !partitions.is_empty() {
            eprintln!("% assigned: {}", list(partitions));
        }
    }

    fn on_revoked(&mut self, partitions: &[TopicPartition]) {
        eprintln!("% revoked: {}", list(partitions));
    }

    fn on_lost(&mut self, partitions: &[TopicPartition]) {
        eprintln!("% lost: {}", list(partitions));
    }
}

/// The group consumer `args` describe.
pub fn group_config(
    bootstrap: &str,
    args: &GroupArgs,
    target: &Target,
) -> anyhow::Result<GroupConfig> {
    let Some(group) = &args.group else {
        bail!("--group is required");
    };
    let mut config = GroupConfig::new(bootstrap, group.clone());
    config.consumer.auto_offset_reset = target.reset;
    config.consumer.isolation_level = target.isolation;
    config.group_instance_id = args.group_instance_id.clone();
    config.assignors = args
        .assignors
        .iter()
        .map(|name| {
            GroupConfig::assignor(name.trim()).with_context(|| {
                format!("unknown assignor {name:?} (range, roundrobin, cooperative-sticky)")
            })
        })
        .collect::<anyhow::Result<_>>()?;
    config.delivery = match args.delivery {
        Delivery::AtLeastOnce => DeliveryMode::AtLeastOnce,
        Delivery::AtMostOnce => DeliveryMode::AtMostOnce,
    };
    config.session_timeout = Duration::from_millis(args.session_timeout_ms);
    config.heartbeat_interval = (config.session_timeout / 3).min(Duration::from_secs(3));
    config.validate()?;
    Ok(config)
}

fn header_filter(spec: Option<&str>) -> Option<HeaderFilter> {
    spec.map(|f| match f.split_once('=') {
        Some((k, v)) => HeaderFilter {
            key: k.to_owned(),
            value: Some(Bytes::copy_from_slice(v.as_bytes())),
        },
        None => HeaderFilter {
            key: f.to_owned(),
            value: None,
        },
    })
}

/// Whether every assigned partition was consumed to its end (the high
/// watermark, or the last stable offset for read_committed).
fn at_end(consumer: &GroupConsumer) -> bool {
    consumer.generation() >= 0
        && consumer.assignment().iter().all(|(t, p)| {
            match (consumer.position(t, *p), consumer.end_offset(t, *p)) {
                (Some(at), Some(end)) => end >= 0 && at >= end,
                _ => false,
            }
        })
}

/// Consumes `target.topic` in the group, printing each record with `print`,
/// until the count or the end is reached or Ctrl-C; then commits (per
/// `--delivery`) and leaves the group.
pub async fn consume<F>(
    bootstrap: &str,
    args: &GroupArgs,
    target: Target<'_>,
    mut print: F,
) -> anyhow::Result<()>
where
    F: FnMut(&mut BufWriter<StdoutLock<'static>>, &ConsumerRecord) -> std::io::Result<()>,
{
    let config = group_config(bootstrap, args, &target)?;
    let mut consumer = GroupConsumer::new(config)?;
    consumer.set_listener(Report);
    consumer.set_header_filter(header_filter(target.header_filter));
    consumer.subscribe([target.topic])?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut printed = 0u64;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let left = target.count.map_or(u64::MAX, |c| c.saturating_sub(printed));
        if left == 0 || (target.exit_at_end && at_end(&consumer)) {
            break;
        }
        // Never take more than will be printed: at-least-once commits what
        // `poll` handed out.
        let max = left.min(10_000) as usize;
        let records = tokio::select! {
            r = consumer.poll(max, Duration::from_millis(500)) => r?,
            _ = &mut ctrl_c => break,
        };
        for r in &records {
            print(&mut out, r)?;
            printed += 1;
        }
        out.flush()?;
    }
    out.flush()?;
    consumer.close().await.context("committing on close")?;
    Ok(())
}
