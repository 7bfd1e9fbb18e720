//! `weir-broker`: wiring only. Parse config, set up logging, start the broker,
//! wait for SIGTERM/SIGINT, shut down gracefully; or, as `weir-broker health`,
//! check a running broker's readiness.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use weir_broker::broker::Broker;
use weir_broker::config::{BrokerConfig, Cli, Command, LogFormat};
use weir_broker::health;

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    if let Some(Command::Health(args)) = &cli.command {
        return Ok(health::main(BrokerConfig::resolve(&cli), args));
    }
    let config = BrokerConfig::resolve(&cli)?;
    init_tracing(config.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("weir-worker")
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(run(config))?;
    Ok(ExitCode::SUCCESS)
}

async fn run(config: BrokerConfig) -> anyhow::Result<()> {
    let mut broker = Broker::start(config).await?;
    for addr in broker.listen_addrs() {
        tracing::info!(%addr, "weir-broker ready");
    }
    tokio::select! {
        signal = wait_for_signal() => signal?,
        () = broker.stopped() => anyhow::bail!("the broker's actor tree stopped after repeated failures"),
    }
    tracing::info!("shutting down");
    broker.shutdown().await;
    tracing::info!("shutdown complete");
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
