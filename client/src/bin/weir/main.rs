//! `weir`: the operator's command-line tool (topics, produce, consume, perf).
//!
//! Every flag can also come from the environment (`WEIR_BOOTSTRAP`, ...).

mod perf;
mod records;
mod topic;

use clap::{Parser, Subcommand};

/// Talk to a Kafka-compatible cluster (Weir or any other).
#[derive(Parser, Debug)]
#[command(name = "weir", version, about)]
struct Cli {
    /// Brokers to bootstrap from, comma separated.
    #[arg(
        long,
        short = 'b',
        global = true,
        env = "WEIR_BOOTSTRAP",
        default_value = "127.0.0.1:9092"
    )]
    bootstrap: String,
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
    /// Cluster id, controller and brokers.
    Cluster,
    /// Load generators with throughput and latency figures.
    #[command(subcommand)]
    Perf(perf::PerfCommand),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Topic(cmd) => topic::run(&cli.bootstrap, cmd).await,
        Command::Produce(args) => records::produce(&cli.bootstrap, args).await,
        Command::Consume(args) => records::consume(&cli.bootstrap, args).await,
        Command::Cluster => topic::cluster_status(&cli.bootstrap).await,
        Command::Perf(cmd) => perf::run(&cli.bootstrap, cmd).await,
    }
}
