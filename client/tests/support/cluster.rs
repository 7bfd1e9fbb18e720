//! Several release `weir-broker` processes forming one cluster on 127.0.0.1:
//! each with its own client, INTERNAL (replica fetches) and CONTROLLER ports
//! and data dir, voters of the metadata quorum (or broker-only nodes added
//! later), killed when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{binary, free_port};

/// One broker of a [`LocalCluster`].
pub struct Node {
    /// Broker id (1-based).
    pub node_id: i32,
    /// Client (PLAINTEXT) port.
    pub port: u16,
    /// INTERNAL port (followers' fetches).
    pub internal_port: u16,
    /// CONTROLLER port (broker link and Raft).
    pub controller_port: u16,
    /// HTTP port (/healthz, /readyz).
    pub http_port: u16,
    /// The running process, if any.
    child: Option<Child>,
}

impl Node {
    /// `127.0.0.1:port`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Whether the process runs.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

/// A cluster of broker processes.
pub struct LocalCluster {
    /// The brokers, by index (node id = index + 1).
    pub nodes: Vec<Node>,
    /// Holds every broker's data dir.
    dir: tempfile::TempDir,
    /// Extra `--override` settings for every broker.
    overrides: Vec<String>,
    /// The first this many nodes are the quorum's voters.
    voter_count: usize,
}

impl LocalCluster {
    /// Starts `count` brokers, every one a voter, with extra Kafka-named
    /// `overrides` (`name=value`).
    pub fn start(count: usize, overrides: &[&str]) -> Self {
        let nodes = (0..count)
            .map(|i| Node {
                node_id: i as i32 + 1,
                port: free_port(),
                internal_port: free_port(),
                controller_port: free_port(),
                http_port: free_port(),
                child: None,
            })
            .collect();
        let mut cluster = Self {
            nodes,
            dir: tempfile::tempdir().expect("a temp dir"),
            overrides: overrides.iter().map(|s| s.to_string()).collect(),
            voter_count: count,
        };
        for i in 0..count {
            cluster.spawn(i);
        }
        cluster
    }

    /// Every broker's bootstrap address, comma separated.
    pub fn bootstrap(&self) -> String {
        let all: Vec<String> = self.nodes.iter().map(Node::bootstrap).collect();
        all.join(",")
    }

    /// The data dir of broker `index`.
    pub fn data_dir(&self, index: usize) -> PathBuf {
        self.dir
            .path()
            .join(format!("broker-{}", self.nodes[index].node_id))
    }

    /// Adds and starts a broker-only node (`process.roles=broker`, not a
    /// voter); returns its index.
    pub fn add_broker(&mut self) -> usize {
        let index = self.nodes.len();
        self.nodes.push(Node {
            node_id: index as i32 + 1,
            port: free_port(),
            internal_port: free_port(),
            controller_port: free_port(),
            http_port: free_port(),
            child: None,
        });
        self.spawn(index);
        index
    }

    fn voters(&self) -> String {
        let voters: Vec<String> = self
            .nodes
            .iter()
            .take(self.voter_count)
            .map(|n| format!("{}@127.0.0.1:{}", n.node_id, n.controller_port))
            .collect();
        voters.join(",")
    }

    /// Starts broker `index` (again, on the same ports and data).
    pub fn spawn(&mut self, index: usize) {
        let voters = self.voters();
        let data_dir = self.data_dir(index);
        let node = &self.nodes[index];
        let listeners = format!(
            "PLAINTEXT://127.0.0.1:{},INTERNAL://127.0.0.1:{},CONTROLLER://127.0.0.1:{}",
            node.port, node.internal_port, node.controller_port
        );
        let mut command = Command::new(binary());
        command
            .arg("--node-id")
            .arg(node.node_id.to_string())
            .arg("--listen")
            .arg(listeners)
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--override")
            .arg(format!("controller.quorum.voters={voters}"))
            .arg("--override")
            .arg("inter.broker.listener.name=INTERNAL")
            .arg("--override")
            .arg(format!("http.listener=127.0.0.1:{}", node.http_port));
        if index >= self.voter_count {
            command.arg("--override").arg("process.roles=broker");
        }
        for o in &self.overrides {
            command.arg("--override").arg(o);
        }
        let child = command
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting weir-broker");
        self.nodes[index].child = Some(child);
        let port = self.nodes[index].port;
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("weir-broker {index} did not listen on {port} within 30 s");
    }

    /// SIGKILL broker `index`.
    pub fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.nodes[index].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops (`STOP`) or resumes (`CONT`) broker `index`'s process: a
    /// broker that stops answering without its sockets closing.
    pub fn signal(&self, index: usize, signal: &str) {
        let child = self.nodes[index].child.as_ref().expect("a running broker");
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -{signal} broker {index}");
    }

    /// `weir-broker health` of broker `index` (through its HTTP port's
    /// /readyz): whether it exited 0, and what it printed.
    pub fn health(&self, index: usize) -> (bool, String) {
        let node = &self.nodes[index];
        let out = Command::new(binary())
            .args(["health", "--timeout-ms", "2000", "--node-id"])
            .arg(node.node_id.to_string())
            .arg("--http")
            .arg(format!("127.0.0.1:{}", node.http_port))
            .output()
            .expect("running weir-broker health");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text.trim().to_owned())
    }

    /// `127.0.0.1:port` of the first broker still running.
    pub fn running_bootstrap(&self) -> String {
        let node = self.nodes.iter().find(|n| n.is_running());
        node.expect("a running broker").bootstrap()
    }

    /// The index of broker `node_id`.
    pub fn index_of(&self, node_id: i32) -> usize {
        self.nodes
            .iter()
            .position(|n| n.node_id == node_id)
            .expect("a broker of this cluster")
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}

/// Retries `attempt` (bounded: 60 s, every 200 ms) until it returns `Some`.
pub async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut attempt: impl FnMut() -> F,
) -> T {
    const SETTLE: Duration = Duration::from_secs(60);
    let deadline = Instant::now() + SETTLE;
    loop {
        if let Some(v) = attempt().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{what} not reached in {SETTLE:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
