//! Where a story's brokers run. Every target offers the same operations; the ones it
//! cannot do (signals on an in-process broker) are refused before a run starts, by
//! [`crate::scenario::Scenario::supports`].

mod docker;
mod in_process;
mod processes;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use weir_client::admin::Admin;
use weir_client::cluster::ClientConfig;

use crate::scenario::{ClusterSpec, TargetKind};

pub use docker::{DOCKER_BROKERS, DockerCluster, docker_available, docker_dir, image};
pub use in_process::InProcessCluster;
pub use processes::{ProcessCluster, broker_binary};

/// How long a cluster may take to form, or a restarted broker to join it again.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one Metadata question may take.
const REGISTER_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);

/// A running cluster of one target.
pub enum Cluster {
    /// A broker inside this process (boxed: a broker's handles are large).
    InProcess(Box<InProcessCluster>),
    /// Broker processes on 127.0.0.1.
    Processes(ProcessCluster),
    /// Broker containers of one compose project.
    Docker(DockerCluster),
}

impl Cluster {
    /// Starts the brokers `spec` describes, with their data under `dir`.
    pub async fn start(kind: TargetKind, spec: &ClusterSpec, dir: &Path) -> anyhow::Result<Self> {
        if kind == TargetKind::InProcess && spec.brokers != 1 {
            anyhow::bail!(
                "{} brokers: the in-process target runs one broker (use --target processes)",
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
                let cluster =
                    Self::Processes(ProcessCluster::start(spec.brokers, dir, &config).await?);
                if spec.brokers > 1 {
                    cluster.await_registered().await?;
                }
                cluster
            }
            TargetKind::Docker => {
                let cluster = Self::Docker(DockerCluster::start(spec.brokers, dir, &config).await?);
                cluster.await_registered().await?;
                cluster
            }
        })
    }

    /// Waits (at most [`REGISTER_TIMEOUT`]) until Metadata, asked of a running
    /// broker, lists every running broker and names a controller: the cluster has
    /// formed, or a restarted broker has joined it again.
    pub async fn await_registered(&self) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + REGISTER_TIMEOUT;
        loop {
            let want = self.up();
            let last = match self.up_admin() {
                Ok(admin) => {
                    match tokio::time::timeout(REGISTER_ATTEMPT_TIMEOUT, admin.cluster_info()).await
                    {
                        Ok(Ok(info)) => {
                            let listed: Vec<u32> = info
                                .brokers
                                .iter()
                                .filter_map(|b| u32::try_from(b.node_id).ok())
                                .collect();
                            if info.controller_id >= 0 && want.iter().all(|id| listed.contains(id))
                            {
                                return Ok(());
                            }
                            format!(
                                "brokers {listed:?} listed, controller {}",
                                info.controller_id
                            )
                        }
                        Ok(Err(e)) => e.to_string(),
                        Err(_) => "Metadata timed out".into(),
                    }
                }
                Err(e) => e.to_string(),
            };
            if tokio::time::Instant::now() > deadline {
                anyhow::bail!(
                    "brokers {want:?} not all registered within {REGISTER_TIMEOUT:?} (last: {last})"
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether `broker` runs and is not paused.
    pub fn is_up(&self, broker: u32) -> bool {
        match self {
            Self::InProcess(c) => broker == 1 && c.is_running(),
            Self::Processes(c) => c.is_up(broker),
            Self::Docker(c) => c.is_up(broker),
        }
    }

    /// The brokers that run and are not paused.
    pub fn up(&self) -> Vec<u32> {
        match self {
            Self::InProcess(c) if c.is_running() => vec![1],
            Self::InProcess(_) => Vec::new(),
            Self::Processes(c) => c.up(),
            Self::Docker(c) => c.up(),
        }
    }

    /// A fresh admin client bootstrapped from the brokers that are up only, for
    /// questions that must be answered now (a paused broker would hold a request
    /// until its timeout).
    pub fn up_admin(&self) -> anyhow::Result<Admin> {
        let bootstrap = match self {
            Self::InProcess(c) => c.bootstrap(),
            Self::Processes(c) => c.up_bootstrap(),
            Self::Docker(c) => c.up_bootstrap(),
        };
        anyhow::ensure!(!bootstrap.is_empty(), "no broker is up");
        let mut config = ClientConfig::new(&bootstrap);
        config.client_id = "weir-scenarios-roles".into();
        config.request_timeout = REGISTER_ATTEMPT_TIMEOUT;
        Ok(Admin::new(config)?)
    }

    /// `host:port,…` of every broker.
    pub fn bootstrap(&self) -> String {
        match self {
            Self::InProcess(c) => c.bootstrap(),
            Self::Processes(c) => c.bootstrap(),
            Self::Docker(c) => c.bootstrap(),
        }
    }

    /// An admin client that talks to `broker` alone, never to the addresses its
    /// metadata lists (so an answer shows that this broker serves clients).
    pub fn admin_of(&self, broker: u32) -> anyhow::Result<Admin> {
        let addr = match self {
            Self::Docker(c) => c.address(broker)?,
            Self::InProcess(c) if broker == 1 => c.bootstrap(),
            Self::InProcess(_) => anyhow::bail!("no broker {broker}"),
            Self::Processes(c) => c.address(broker)?,
        };
        let mut config = ClientConfig::new(&addr);
        config.client_id = "weir-scenarios-reachable".into();
        config.request_timeout = REGISTER_ATTEMPT_TIMEOUT;
        Ok(Admin::new(config)?)
    }

    /// SIGKILL (`docker kill` for a container).
    pub async fn kill(&mut self, broker: u32) -> anyhow::Result<()> {
        match self {
            Self::Docker(c) => c.kill(broker).await,
            _ => self.processes("kill-broker")?.kill(broker).await,
        }
    }

    /// Graceful shutdown (SIGTERM for a process), waiting until it exited.
    pub async fn stop(&mut self, broker: u32) -> anyhow::Result<()> {
        match self {
            Self::InProcess(c) => c.stop().await,
            Self::Processes(c) => c.stop(broker).await,
            Self::Docker(c) => c.stop(broker).await,
        }
    }

    /// Starts a stopped or killed broker again (stopping it first if it runs),
    /// optionally on an emptied data directory.
    pub async fn restart(&mut self, broker: u32, wipe_data: bool) -> anyhow::Result<()> {
        match self {
            Self::InProcess(c) if !wipe_data => c.restart().await,
            Self::InProcess(_) => anyhow::bail!("wipe_data needs the processes target"),
            Self::Processes(c) => {
                c.restart(broker, wipe_data).await?;
                if c.broker_count() > 1 {
                    self.await_registered().await?;
                }
                Ok(())
            }
            Self::Docker(c) => {
                c.restart(broker, wipe_data).await?;
                self.await_registered().await
            }
        }
    }

    /// SIGSTOP (`docker pause` for a container).
    pub async fn pause(&mut self, broker: u32) -> anyhow::Result<()> {
        match self {
            Self::Docker(c) => c.pause(broker, true).await,
            _ => self.processes("pause-broker")?.signal(broker, true),
        }
    }

    /// SIGCONT (`docker unpause`).
    pub async fn resume(&mut self, broker: u32) -> anyhow::Result<()> {
        match self {
            Self::Docker(c) => c.pause(broker, false).await,
            _ => self.processes("resume-broker")?.signal(broker, false),
        }
    }

    /// Cuts `broker` from the other brokers (`isolate`) or joins it to them
    /// again; its clients reach it throughout. Docker only.
    pub async fn isolate(&mut self, broker: u32, isolate: bool) -> anyhow::Result<()> {
        match self {
            Self::Docker(c) => c.isolate(broker, isolate).await,
            _ => anyhow::bail!("cutting the network between brokers needs the docker target"),
        }
    }

    /// Stops everything (no graceful shutdown is owed at the end of a story).
    pub async fn shutdown(self) {
        match self {
            Self::InProcess(c) => c.shutdown().await,
            Self::Processes(c) => c.shutdown().await,
            Self::Docker(c) => c.shutdown().await,
        }
    }

    fn processes(&mut self, step: &str) -> anyhow::Result<&mut ProcessCluster> {
        match self {
            Self::Processes(c) => Ok(c),
            _ => anyhow::bail!("{step} needs the processes or docker target"),
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
