//! A release `weir-broker` process for tests that talk to a real broker over
//! TCP: its own port and data dir, killed when dropped.
//!
//! The binary comes from `WEIR_BROKER_BIN` or `target/release/weir-broker`
//! (`scripts/test.sh` builds it before the tests run). Without it a test fails
//! with a message naming the build command: it never passes vacuously.

#![allow(dead_code)]

pub mod cluster;
pub mod load;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running broker.
pub struct BrokerProcess {
    pub port: u16,
    pub data_dir: tempfile::TempDir,
    extra: Vec<String>,
    child: Option<Child>,
}

/// A port free right now on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("WEIR_BROKER_BIN") {
        return PathBuf::from(path);
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/weir-broker");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --release -p weir-broker` first (scripts/test.sh does)",
        path.display()
    );
    path
}

impl BrokerProcess {
    /// Starts a broker with `extra` flags and waits until it listens.
    pub fn start(extra: &[&str]) -> Self {
        let mut broker = Self {
            port: free_port(),
            data_dir: tempfile::tempdir().expect("a temp dir"),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
        };
        broker.spawn();
        broker
    }

    /// `127.0.0.1:port`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let child = Command::new(binary())
            .arg("--listen")
            .arg(self.bootstrap())
            .arg("--data-dir")
            .arg(self.data_dir.path().join("data"))
            .args(&self.extra)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting weir-broker");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("weir-broker did not listen on {} within 30 s", self.port);
    }

    /// SIGKILL, then start again on the same port and data.
    pub fn kill_and_restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
