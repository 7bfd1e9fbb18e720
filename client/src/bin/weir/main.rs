//! `weir`: the operator's command-line tool (topics, produce, consume, perf).
//!
//! Every flag can also come from the environment (`WEIR_BOOTSTRAP`, ...).

mod group;
mod group_consume;
mod perf;
mod placement;
mod profile;
mod records;
mod topic;

use clap::{Parser, Subcommand};

/// Talk to a Kafka-compatible cluster (Weir or any other).
#[derive(Parser, Debug)]
#[command(name = "weir", version, about)]
struct Cli {
    /// Brokers to bootstrap from, comma separated (default: the profile's,
    /// else 127.0.0.1:9092).
    #[arg(long, short = 'b', global = true, env = "WEIR_BOOTSTRAP")]
    bootstrap: Option<String>,
    /// Settings file with named profiles (default ~/.config/weir/config.toml).
    #[arg(long, global = true, env = "WEIR_CONFIG")]
    config_file: Option<std::path::PathBuf>,
    /// Profile of the settings file to use (default: `default`).
    #[arg(long, global = true, env = "WEIR_PROFILE")]
    profile: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create, list, describe and delete topics.
    #[command(subcommand)]
    Topic(topic::TopicCommand),
    /// Produce lines from stdin or a file, one record per line.
    Produce(records::ProduceArgs),
    /// Consume records and print them.
    Consume(records::ConsumeArgs),
    /// The cluster as a whole.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Consumer groups: list, describe, lag, reset offsets, delete.
    #[command(subcommand)]
    Group(group::GroupCommand),
    /// Load generators with throughput and latency figures.
    #[command(subcommand)]
    Perf(perf::PerfCommand),
}

#[derive(Subcommand, Debug)]
enum ClusterCommand {
    /// Cluster id, controller and brokers.
    Status,
    /// Move leadership back to preferred replicas (the first of each
    /// partition's replicas), or with --unclean elect leaders for partitions
    /// that have none; every partition unless --topic is given.
    ElectLeaders {
        /// Only this topic's partitions.
        #[arg(long, short = 't')]
        topic: Option<String>,
        /// Only this partition (needs --topic).
        #[arg(long, short = 'p')]
        partition: Option<i32>,
        /// Unclean election: an out-of-sync replica may lead a partition
        /// that has no leader (acknowledged records may be lost).
        #[arg(long)]
        unclean: bool,
    },
    /// Move every replica off a broker (internal topics too) by partition
    /// reassignment, to the live brokers holding the fewest, and wait until
    /// it holds and leads nothing; then it can be stopped.
    Decommission {
        /// The broker's node.id.
        broker_id: i32,
        /// Print the reassignments without starting them.
        #[arg(long)]
        dry_run: bool,
        /// Return once the reassignments are recorded, without waiting.
        #[arg(long)]
        no_wait: bool,
        /// Give up waiting after this many seconds (the moves go on).
        #[arg(long, default_value_t = 3600)]
        timeout_secs: u64,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    exit_quietly_on_a_closed_pipe();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let profile = profile::load(cli.config_file.as_deref(), cli.profile.as_deref())?;
    let bootstrap = cli
        .bootstrap
        .or(profile.bootstrap)
        .unwrap_or_else(|| "127.0.0.1:9092".to_owned());
    let bootstrap = bootstrap.as_str();
    match cli.command {
        Command::Topic(cmd) => topic::run(bootstrap, cmd).await,
        Command::Produce(args) => records::produce(bootstrap, args).await,
        Command::Consume(args) => records::consume(bootstrap, args).await,
        Command::Cluster(ClusterCommand::Status) => topic::cluster_status(bootstrap).await,
        Command::Cluster(ClusterCommand::ElectLeaders {
            topic,
            partition,
            unclean,
        }) => placement::elect_leaders(bootstrap, topic, partition, unclean).await,
        Command::Cluster(ClusterCommand::Decommission {
            broker_id,
            dry_run,
            no_wait,
            timeout_secs,
        }) => {
            let timeout = std::time::Duration::from_secs(timeout_secs);
            placement::decommission(bootstrap, broker_id, dry_run, !no_wait, timeout).await
        }
        Command::Group(cmd) => group::run(bootstrap, cmd).await,
        Command::Perf(cmd) => perf::run(bootstrap, cmd).await,
    }
}

/// `weir ... | head` closes stdout early, and Rust's `println!` then panics
/// with a broken pipe; a reader that has seen enough is not an error, so the
/// CLI exits 0 quietly instead, as Unix tools do.
fn exit_quietly_on_a_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}
