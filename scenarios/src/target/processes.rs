//! Release `weir-broker` processes on 127.0.0.1, each with its own port, data
//! directory and log file, driven by signals: SIGKILL, SIGTERM, SIGSTOP, SIGCONT.
//! With more than one broker they form a cluster: each also listens on an INTERNAL
//! port (replica fetches) and a CONTROLLER port, and every broker is a voter of the
//! metadata quorum.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

/// How long a broker may take to listen after it starts.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a SIGTERM'd broker may take to exit before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// The brokers of one run.
pub struct ProcessCluster {
    brokers: Vec<BrokerProcess>,
}

struct BrokerProcess {
    /// Broker id, from 1.
    node_id: u32,
    /// Client (PLAINTEXT) port.
    port: u16,
    /// INTERNAL and CONTROLLER ports, in a cluster of several brokers.
    cluster_ports: Option<(u16, u16)>,
    /// `--override` settings that make it a member of the cluster (the quorum's
    /// voters, the inter-broker listener); empty for a lone broker.
    overrides: Vec<String>,
    /// Its own data directory, kept across restarts.
    data_dir: PathBuf,
    /// The `[cluster.config]` file every broker reads.
    config: PathBuf,
    /// Its stderr, appended across restarts.
    log: PathBuf,
    /// The running process, if any.
    child: Option<Child>,
    /// SIGSTOPped and not yet continued.
    paused: bool,
}

/// The broker binary: `WEIR_BROKER_BIN`, else `weir-broker` beside this executable
/// (or one directory up, for test binaries in `target/release/deps`), else the
/// workspace's `target/release/weir-broker`.
pub fn broker_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("WEIR_BROKER_BIN") {
        return Ok(PathBuf::from(path));
    }
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        candidates.push(dir.join("weir-broker"));
        if let Some(up) = dir.parent() {
            candidates.push(up.join("weir-broker"));
        }
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/weir-broker"));
    candidates.into_iter().find(|p| p.is_file()).context(
        "weir-broker not found: run `cargo build --release -p weir-broker` or set WEIR_BROKER_BIN",
    )
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

impl ProcessCluster {
    /// Starts `count` brokers with `config` under `dir`; more than one form a
    /// cluster in which every broker is a voter.
    pub async fn start(count: u32, dir: &Path, config: &Path) -> anyhow::Result<Self> {
        let mut brokers = Vec::new();
        for node_id in 1..=count {
            let cluster_ports = if count > 1 {
                Some((free_port()?, free_port()?))
            } else {
                None
            };
            brokers.push(BrokerProcess {
                node_id,
                port: free_port()?,
                cluster_ports,
                overrides: Vec::new(),
                data_dir: dir.join(format!("broker-{node_id}")),
                config: config.to_owned(),
                log: dir.join(format!("broker-{node_id}.log")),
                child: None,
                paused: false,
            });
        }
        let voters: Vec<String> = brokers
            .iter()
            .filter_map(|b| {
                let (_, controller) = b.cluster_ports?;
                Some(format!("{}@127.0.0.1:{controller}", b.node_id))
            })
            .collect();
        if !voters.is_empty() {
            for broker in &mut brokers {
                broker.overrides = vec![
                    format!("controller.quorum.voters={}", voters.join(",")),
                    "inter.broker.listener.name=INTERNAL".into(),
                ];
            }
        }
        for broker in &mut brokers {
            broker.spawn().await?;
        }
        Ok(Self { brokers })
    }

    /// How many brokers the cluster has.
    pub fn broker_count(&self) -> usize {
        self.brokers.len()
    }

    /// Whether broker `broker` runs and is not paused.
    pub fn is_up(&self, broker: u32) -> bool {
        self.brokers
            .iter()
            .any(|b| b.node_id == broker && b.child.is_some() && !b.paused)
    }

    /// The ids of the brokers that run and are not paused.
    pub fn up(&self) -> Vec<u32> {
        self.brokers
            .iter()
            .filter(|b| b.child.is_some() && !b.paused)
            .map(|b| b.node_id)
            .collect()
    }

    /// The addresses of the brokers that run and are not paused (a paused broker
    /// accepts connections but never answers, so clients that must answer now avoid
    /// it).
    pub fn up_bootstrap(&self) -> String {
        let addrs: Vec<String> = self
            .brokers
            .iter()
            .filter(|b| b.child.is_some() && !b.paused)
            .map(|b| format!("127.0.0.1:{}", b.port))
            .collect();
        addrs.join(",")
    }

    /// Every broker's address.
    pub fn bootstrap(&self) -> String {
        let addrs: Vec<String> = self
            .brokers
            .iter()
            .map(|b| format!("127.0.0.1:{}", b.port))
            .collect();
        addrs.join(",")
    }

    /// The client address of `broker` alone.
    pub fn address(&self, broker: u32) -> anyhow::Result<String> {
        let b = self
            .brokers
            .iter()
            .find(|b| b.node_id == broker)
            .with_context(|| format!("no broker {broker}"))?;
        Ok(format!("127.0.0.1:{}", b.port))
    }

    fn broker(&mut self, broker: u32) -> anyhow::Result<&mut BrokerProcess> {
        self.brokers
            .iter_mut()
            .find(|b| b.node_id == broker)
            .with_context(|| format!("no broker {broker}"))
    }

    /// SIGKILL, and reap it.
    pub async fn kill(&mut self, broker: u32) -> anyhow::Result<()> {
        self.broker(broker)?.kill().await
    }

    /// SIGTERM, and wait for the exit (SIGKILL after [`STOP_TIMEOUT`]).
    pub async fn stop(&mut self, broker: u32) -> anyhow::Result<()> {
        self.broker(broker)?.stop().await
    }

    /// Starts the broker again on its port and data (stopping it first if it runs).
    pub async fn restart(&mut self, broker: u32, wipe_data: bool) -> anyhow::Result<()> {
        let broker = self.broker(broker)?;
        broker.stop().await?;
        if wipe_data && broker.data_dir.exists() {
            std::fs::remove_dir_all(&broker.data_dir)
                .with_context(|| format!("emptying {}", broker.data_dir.display()))?;
        }
        broker.spawn().await
    }

    /// SIGSTOP (`pause`) or SIGCONT.
    pub fn signal(&mut self, broker: u32, pause: bool) -> anyhow::Result<()> {
        let broker = self.broker(broker)?;
        let signal = if pause {
            Signal::SIGSTOP
        } else {
            Signal::SIGCONT
        };
        broker.send(signal)?;
        broker.paused = pause;
        Ok(())
    }

    /// Kills every broker.
    pub async fn shutdown(mut self) {
        for broker in &mut self.brokers {
            if let Err(e) = broker.kill().await {
                tracing::warn!(broker = broker.node_id, error = %e, "kill at shutdown failed");
            }
        }
    }
}

impl BrokerProcess {
    async fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let listen = match self.cluster_ports {
            Some((internal, controller)) => format!(
                "PLAINTEXT://127.0.0.1:{},INTERNAL://127.0.0.1:{internal},\
                 CONTROLLER://127.0.0.1:{controller}",
                self.port
            ),
            None => format!("127.0.0.1:{}", self.port),
        };
        let mut command = Command::new(broker_binary()?);
        command
            .arg("--node-id")
            .arg(self.node_id.to_string())
            .arg("--listen")
            .arg(listen)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--config")
            .arg(&self.config);
        for setting in &self.overrides {
            command.arg("--override").arg(setting);
        }
        let child = command
            .env(
                "RUST_LOG",
                std::env::var("WEIR_BROKER_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("starting weir-broker")?;
        self.child = Some(child);
        self.paused = false;
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return Ok(());
            }
            if let Some(child) = &mut self.child
                && let Some(status) = child.try_wait()?
            {
                anyhow::bail!(
                    "broker {} exited with {status} at start; see {}",
                    self.node_id,
                    self.log.display()
                );
            }
            if tokio::time::Instant::now() > deadline {
                anyhow::bail!(
                    "broker {} did not listen within {START_TIMEOUT:?}",
                    self.node_id
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn send(&self, signal: Signal) -> anyhow::Result<()> {
        let pid = self
            .child
            .as_ref()
            .and_then(Child::id)
            .with_context(|| format!("broker {} is not running", self.node_id))?;
        let pid = i32::try_from(pid).context("pid out of range")?;
        kill(Pid::from_raw(pid), signal)
            .with_context(|| format!("sending {signal} to broker {}", self.node_id))
    }

    async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await.context("SIGKILL")?;
        }
        self.paused = false;
        Ok(())
    }

    async fn stop(&mut self) -> anyhow::Result<()> {
        if self.child.is_none() {
            return Ok(());
        }
        if self.paused {
            // A stopped process holds SIGTERM until it runs again.
            self.send(Signal::SIGCONT)?;
            self.paused = false;
        }
        self.send(Signal::SIGTERM)?;
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        match tokio::time::timeout(STOP_TIMEOUT, child.wait()).await {
            Ok(status) => {
                let status = status.context("waiting for the broker")?;
                if !status.success() {
                    tracing::warn!(broker = self.node_id, %status, "broker exited uncleanly on SIGTERM");
                }
                Ok(())
            }
            Err(_) => {
                tracing::warn!(
                    broker = self.node_id,
                    "no exit within {STOP_TIMEOUT:?} of SIGTERM; killing"
                );
                child.kill().await.context("SIGKILL")
            }
        }
    }
}
