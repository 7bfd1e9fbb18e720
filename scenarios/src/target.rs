//! Where a story's brokers run. Every target offers the same operations; the ones it
//! cannot do (signals on an in-process broker) are refused before a run starts, by
//! [`crate::scenario::Scenario::supports`].

mod in_process;
mod processes;

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

use crate::scenario::{ClusterSpec, TargetKind};

pub use in_process::InProcessCluster;
pub use processes::{ProcessCluster, broker_binary};

/// A running cluster of one target.
pub enum Cluster {
    /// A broker inside this process (boxed: a broker's handles are large).
    InProcess(Box<InProcessCluster>),
    /// Broker processes on 127.0.0.1.
    Processes(ProcessCluster),
}

impl Cluster {
    /// Starts the brokers `spec` describes, with their data under `dir`.
    pub async fn start(kind: TargetKind, spec: &ClusterSpec, dir: &Path) -> anyhow::Result<Self> {
        if spec.brokers != 1 {
            anyhow::bail!(
                "{} brokers: the broker does not form multi-broker clusters yet",
                spec.brokers
            );
        }
        let config = dir.join("broker.toml");
        std::fs::write(&config, broker_config_toml(&spec.config)?)
            .with_context(|| format!("writing {}", config.display()))?;
        Ok(match kind {
            TargetKind::InProcess => {
                Self::InProcess(Box::new(InProcessCluster::start(dir, &config).await?))
            }
            TargetKind::Processes => {
                Self::Processes(ProcessCluster::start(spec.brokers, dir, &config).await?)
            }
        })
    }

    /// `host:port,…` of every broker.
    pub fn bootstrap(&self) -> String {
        match self {
            Self::InProcess(c) => c.bootstrap(),
            Self::Processes(c) => c.bootstrap(),
        }
    }

    /// SIGKILL.
    pub async fn kill(&mut self, broker: u32) -> anyhow::Result<()> {
        self.processes("kill-broker")?.kill(broker).await
    }

    /// Graceful shutdown (SIGTERM for a process), waiting until it exited.
    pub async fn stop(&mut self, broker: u32) -> anyhow::Result<()> {
        match self {
            Self::InProcess(c) => c.stop().await,
            Self::Processes(c) => c.stop(broker).await,
        }
    }

    /// Starts a stopped or killed broker again (stopping it first if it runs),
    /// optionally on an emptied data directory.
    pub async fn restart(&mut self, broker: u32, wipe_data: bool) -> anyhow::Result<()> {
        match self {
            Self::InProcess(c) if !wipe_data => c.restart().await,
            Self::InProcess(_) => anyhow::bail!("wipe_data needs the processes target"),
            Self::Processes(c) => c.restart(broker, wipe_data).await,
        }
    }

    /// SIGSTOP.
    pub fn pause(&mut self, broker: u32) -> anyhow::Result<()> {
        self.processes("pause-broker")?.signal(broker, true)
    }

    /// SIGCONT.
    pub fn resume(&mut self, broker: u32) -> anyhow::Result<()> {
        self.processes("resume-broker")?.signal(broker, false)
    }

    /// Stops everything (no graceful shutdown is owed at the end of a story).
    pub async fn shutdown(self) {
        match self {
            Self::InProcess(c) => c.shutdown().await,
            Self::Processes(c) => c.shutdown().await,
        }
    }

    fn processes(&mut self, step: &str) -> anyhow::Result<&mut ProcessCluster> {
        match self {
            Self::Processes(c) => Ok(c),
            Self::InProcess(_) => anyhow::bail!("{step} needs the processes target"),
        }
    }
}

/// The `[cluster.config]` table as a broker config file (Kafka property names as
/// quoted keys, so `log.fsync` stays one key rather than a nested table). Values are
/// scalars; JSON's string escapes are valid in TOML basic strings.
fn broker_config_toml(config: &BTreeMap<String, toml::Value>) -> anyhow::Result<String> {
    let mut text = String::new();
    for (key, value) in config {
        let value = match value {
            toml::Value::String(s) => serde_json::to_string(s)?,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => anyhow::bail!("cluster.config.{key}: {other:?} is not a scalar"),
        };
        text.push_str(&format!("{} = {value}\n", serde_json::to_string(key)?));
    }
    Ok(text)
}
