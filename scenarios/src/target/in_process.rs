//! One broker inside the driver's process. ractor's registry is process-global, so
//! this target runs exactly one broker; it can stop gracefully and start again on the
//! same data, but not be killed or paused (there is no process to signal).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Parser;
use weir_broker::broker::Broker;
use weir_broker::config::{BrokerConfig, Cli};

/// The broker and what it needs to start again.
pub struct InProcessCluster {
    broker: Option<Broker>,
    port: u16,
    data_dir: PathBuf,
    config: PathBuf,
}

impl InProcessCluster {
    /// Starts the broker with `config` and its data under `dir`.
    pub async fn start(dir: &Path, config: &Path) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("finding a free port")?
            .port();
        let mut cluster = Self {
            broker: None,
            port,
            data_dir: dir.join("broker-1"),
            config: config.to_owned(),
        };
        cluster.spawn().await?;
        Ok(cluster)
    }

    async fn spawn(&mut self) -> anyhow::Result<()> {
        let args = [
            "weir-broker".to_owned(),
            "--listen".to_owned(),
            format!("127.0.0.1:{}", self.port),
            "--data-dir".to_owned(),
            self.data_dir.display().to_string(),
            "--config".to_owned(),
            self.config.display().to_string(),
        ];
        let cli = Cli::try_parse_from(args).context("broker flags")?;
        let config = BrokerConfig::resolve(&cli).context("broker config")?;
        self.broker = Some(Broker::start(config).await?);
        Ok(())
    }

    /// Whether the broker runs.
    pub fn is_running(&self) -> bool {
        self.broker.is_some()
    }

    /// `127.0.0.1:port`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Graceful shutdown.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(broker) = self.broker.take() {
            broker.shutdown().await;
        }
        Ok(())
    }

    /// Stops the broker if it runs, then starts it on the same port and data.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await?;
        self.spawn().await
    }

    /// Stops the broker.
    pub async fn shutdown(mut self) {
        let _ = self.stop().await;
    }
}
