//! The three brokers of `docker/compose.yml` as containers, one compose project
//! per run (its own name, host ports, networks and volumes, so a run never meets
//! a user's `just run-cluster` or another run), driven by docker: `docker kill`,
//! `docker stop`/`start`, `docker pause`/`unpause`, and a network partition that
//! disconnects a broker from the inter-broker network while its client port stays
//! reachable. The project is taken down with its volumes at the end, also when a
//! run fails or panics (`Drop`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::Context;
use tokio::process::Command;

/// Brokers in `docker/compose.yml`.
pub const DOCKER_BROKERS: u32 = 3;
/// How long a compose or docker command may take (`up` creates networks,
/// volumes and containers on a slow machine).
const DOCKER_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a started container may take until its client port accepts.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Seconds `docker stop` waits after SIGTERM before SIGKILL (controlled
/// shutdown is bounded by 10 s).
const STOP_GRACE_S: u32 = 30;

/// `compose up` attempts, each with fresh host ports (another process may take
/// a free port between the choice and docker's bind).
const UP_ATTEMPTS: u32 = 3;

/// Runs in this process, for unique project names.
static RUNS: AtomicU32 = AtomicU32::new(0);

/// The image the containers run: `WEIR_IMAGE`, else `weir-broker:dev`.
pub fn image() -> String {
    std::env::var("WEIR_IMAGE").unwrap_or_else(|_| "weir-broker:dev".into())
}

/// The workspace's `docker/` directory (compose file and helper scripts).
pub fn docker_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docker")
}

/// Whether a Docker engine answers (`docker info`).
pub fn docker_available() -> bool {
    std::process::Command::new("docker")
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// One compose project of three brokers.
pub struct DockerCluster {
    /// The compose project name, unique to the run.
    project: String,
    /// `docker/compose.yml`.
    compose_file: PathBuf,
    /// Where `compose logs` are saved at the end.
    log: PathBuf,
    /// Variables the compose file reads (image, ports, config file).
    env: Vec<(String, String)>,
    brokers: Vec<BrokerContainer>,
    /// Taken down already (nothing left for `Drop`).
    down: bool,
}

struct BrokerContainer {
    /// Broker id, from 1 (service `broker-<id>`).
    node_id: u32,
    /// Client port on 127.0.0.1.
    port: u16,
    /// The container's id.
    id: String,
    /// Killed or stopped, and not started again.
    stopped: bool,
    /// Paused (its processes frozen by the cgroup freezer).
    paused: bool,
    /// Disconnected from the inter-broker network.
    isolated: bool,
}

/// `count` distinct free ports on 127.0.0.1 (all bound at once, so none is
/// handed out twice).
fn free_ports(count: u32) -> anyhow::Result<Vec<u16>> {
    let listeners = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .context("finding free ports")?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

/// Runs `program args`, bounded by [`DOCKER_TIMEOUT`]; its stdout on success,
/// its stderr in the error otherwise.
async fn run(program: &str, args: &[&str], env: &[(String, String)]) -> anyhow::Result<String> {
    let shown = format!("{program} {}", args.join(" "));
    let output = Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(DOCKER_TIMEOUT, output)
        .await
        .with_context(|| format!("{shown}: no exit within {DOCKER_TIMEOUT:?}"))?
        .with_context(|| format!("running {shown}"))?;
    anyhow::ensure!(
        output.status.success(),
        "{shown}: {} ({})",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

impl DockerCluster {
    /// Starts `count` (three) brokers reading `config`, under a fresh project.
    pub async fn start(count: u32, dir: &Path, config: &Path) -> anyhow::Result<Self> {
        anyhow::ensure!(
            count == DOCKER_BROKERS,
            "{count} brokers: the docker target runs docker/compose.yml's {DOCKER_BROKERS}"
        );
        let image = image();
        run("docker", &["image", "inspect", &image], &[])
            .await
            .with_context(|| format!("no image {image}: run `bash docker/build-image.sh`"))?;
        let config = std::path::absolute(config).context("the config file's path")?;
        let project = format!(
            "weir-scenario-{}-{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        );
        let env = vec![
            ("WEIR_IMAGE".to_owned(), image),
            ("WEIR_CONFIG_FILE".to_owned(), config.display().to_string()),
            (
                "WEIR_BROKER_LOG".to_owned(),
                std::env::var("WEIR_BROKER_LOG").unwrap_or_else(|_| "info".into()),
            ),
        ];
        let brokers = (1..=count)
            .map(|node_id| BrokerContainer {
                node_id,
                port: 0,
                id: String::new(),
                stopped: false,
                paused: false,
                isolated: false,
            })
            .collect();
        // From here on `Drop` takes the project down, whatever fails next.
        let mut cluster = Self {
            project,
            compose_file: docker_dir().join("compose.yml"),
            log: dir.join("brokers.log"),
            env,
            brokers,
            down: false,
        };
        cluster.compose_up().await?;
        for i in 0..cluster.brokers.len() {
            let service = format!("broker-{}", cluster.brokers[i].node_id);
            let id = cluster.compose(&["ps", "-q", &service]).await?;
            let id = id.trim();
            anyhow::ensure!(!id.is_empty(), "compose started no container for {service}");
            cluster.brokers[i].id = id.to_owned();
        }
        for broker in &cluster.brokers {
            broker.await_listening().await?;
        }
        Ok(cluster)
    }

    /// `compose up` on fresh host ports, again on others when docker finds one
    /// taken.
    async fn compose_up(&mut self) -> anyhow::Result<()> {
        let mut attempt = 1;
        loop {
            let ports = free_ports(DOCKER_BROKERS)?;
            self.env.retain(|(k, _)| !k.starts_with("WEIR_PORT_"));
            for (broker, port) in self.brokers.iter_mut().zip(ports) {
                broker.port = port;
                self.env
                    .push((format!("WEIR_PORT_{}", broker.node_id), port.to_string()));
            }
            match self.compose(&["up", "-d"]).await {
                Ok(_) => return Ok(()),
                Err(e)
                    if attempt < UP_ATTEMPTS && format!("{e:#}").contains("already allocated") =>
                {
                    tracing::warn!(attempt, error = %e, "a host port was taken; again on others");
                    self.compose(&["down", "--volumes", "--timeout", "1"])
                        .await?;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn compose(&self, args: &[&str]) -> anyhow::Result<String> {
        let script = docker_dir().join("compose.sh");
        let file = self.compose_file.display().to_string();
        let mut all = vec![
            script.to_str().context("a non-UTF-8 path")?,
            "-f",
            &file,
            "-p",
            &self.project,
        ];
        all.extend_from_slice(args);
        run("bash", &all, &self.env).await
    }

    /// The compose project's name.
    pub fn project(&self) -> &str {
        &self.project
    }

    /// Whether `broker` runs and is not paused (an isolated broker is up: its
    /// clients still reach it).
    pub fn is_up(&self, broker: u32) -> bool {
        self.brokers
            .iter()
            .any(|b| b.node_id == broker && !b.stopped && !b.paused)
    }

    /// The ids of the brokers that run and are not paused.
    pub fn up(&self) -> Vec<u32> {
        self.brokers
            .iter()
            .filter(|b| !b.stopped && !b.paused)
            .map(|b| b.node_id)
            .collect()
    }

    /// The addresses of the brokers that are up.
    pub fn up_bootstrap(&self) -> String {
        let addrs: Vec<String> = self
            .brokers
            .iter()
            .filter(|b| !b.stopped && !b.paused)
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

    fn broker(&mut self, broker: u32) -> anyhow::Result<&mut BrokerContainer> {
        self.brokers
            .iter_mut()
            .find(|b| b.node_id == broker)
            .with_context(|| format!("no broker {broker}"))
    }

    /// `docker kill` (SIGKILL).
    pub async fn kill(&mut self, broker: u32) -> anyhow::Result<()> {
        let b = self.broker(broker)?;
        run("docker", &["kill", &b.id], &[]).await?;
        b.stopped = true;
        b.paused = false;
        Ok(())
    }

    /// `docker stop` (SIGTERM, SIGKILL after [`STOP_GRACE_S`]); a paused
    /// container is unpaused first so it can act on SIGTERM.
    pub async fn stop(&mut self, broker: u32) -> anyhow::Result<()> {
        let b = self.broker(broker)?;
        if b.stopped {
            return Ok(());
        }
        if b.paused {
            run("docker", &["unpause", &b.id], &[]).await?;
            b.paused = false;
        }
        let grace = STOP_GRACE_S.to_string();
        run("docker", &["stop", "-t", &grace, &b.id], &[]).await?;
        b.stopped = true;
        Ok(())
    }

    /// `docker start` (after stopping it if it runs), on the same volume.
    pub async fn restart(&mut self, broker: u32, wipe_data: bool) -> anyhow::Result<()> {
        anyhow::ensure!(!wipe_data, "wipe_data needs the processes target");
        self.stop(broker).await?;
        let b = self.broker(broker)?;
        run("docker", &["start", &b.id], &[]).await?;
        b.stopped = false;
        b.await_listening().await
    }

    /// `docker pause` or `docker unpause`.
    pub async fn pause(&mut self, broker: u32, pause: bool) -> anyhow::Result<()> {
        let b = self.broker(broker)?;
        let verb = if pause { "pause" } else { "unpause" };
        run("docker", &[verb, &b.id], &[]).await?;
        b.paused = pause;
        Ok(())
    }

    /// Cuts `broker` from the other brokers (`docker network disconnect` of the
    /// inter-broker network) or joins it again under its `broker-N.inter` alias;
    /// its client network stays.
    pub async fn isolate(&mut self, broker: u32, isolate: bool) -> anyhow::Result<()> {
        let network = format!("{}_inter", self.project);
        let b = self.broker(broker)?;
        if isolate {
            run("docker", &["network", "disconnect", &network, &b.id], &[]).await?;
        } else {
            let alias = format!("broker-{}.inter", b.node_id);
            let args = ["network", "connect", "--alias", &alias, &network, &b.id];
            run("docker", &args, &[]).await?;
        }
        b.isolated = isolate;
        Ok(())
    }

    /// Saves the brokers' logs beside the run and takes the project down with its
    /// volumes.
    pub async fn shutdown(mut self) {
        match self.compose(&["logs", "--no-color", "-t"]).await {
            Ok(logs) => {
                if let Err(e) = std::fs::write(&self.log, logs) {
                    tracing::warn!(error = %e, "saving the brokers' logs failed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "compose logs failed"),
        }
        match self.compose(&["down", "--volumes", "--timeout", "1"]).await {
            Ok(_) => self.down = true,
            Err(e) => tracing::warn!(project = %self.project, error = %e, "compose down failed"),
        }
    }
}

impl Drop for DockerCluster {
    /// A run that failed or panicked still removes its containers, networks and
    /// volumes (a blocking call: there may be no runtime left to await on).
    fn drop(&mut self) {
        if self.down {
            return;
        }
        let status = std::process::Command::new("bash")
            .arg(docker_dir().join("compose.sh"))
            .arg("-f")
            .arg(&self.compose_file)
            .args(["-p", &self.project, "down", "--volumes", "--timeout", "1"])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !status.is_ok_and(|s| s.success()) {
            eprintln!(
                "compose project {} may be left running: docker-compose -p {} down -v",
                self.project, self.project
            );
        }
    }
}

impl BrokerContainer {
    /// Waits until the client port accepts a connection (at most
    /// [`START_TIMEOUT`]); docker's published port accepts before the broker
    /// does, so a Kafka ApiVersions answer is what counts.
    async fn await_listening(&self) -> anyhow::Result<()> {
        let addr = format!("127.0.0.1:{}", self.port);
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            let attempt = weir_client::conn::Connection::connect(
                &addr,
                "weir-scenarios-probe",
                1,
                Duration::from_secs(2),
            );
            if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(3), attempt).await {
                return Ok(());
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "broker {} did not answer on {addr} within {START_TIMEOUT:?}",
                self.node_id
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
