//! `weir-broker health`: exits 0 only when a broker is ready to serve, for
//! container health checks (a `FROM scratch` image has no curl or shell).
//!
//! Ready means what a client needs: the broker's client listener answers a
//! Kafka Metadata request, and the answer names an active controller and lists
//! this broker, which a broker only does once its metadata is loaded and, in a
//! cluster, once it is registered with the controller and not fenced.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use weir_client::admin::Admin;
use weir_client::cluster::{ClientConfig, ClusterInfo};

use crate::config::{BrokerConfig, ConfigError};

/// Flags of `weir-broker health`; what they leave out comes from the broker's
/// own configuration (`--config`, `WEIR_*` environment, flags before `health`).
#[derive(Debug, Clone, clap::Args)]
pub struct HealthArgs {
    /// The broker's client listener, `host:port` (default: its first client
    /// listener, with 0.0.0.0 or [::] asked on loopback).
    #[arg(long)]
    pub address: Option<String>,
    /// The broker id that must be listed (default: the configured node.id).
    #[arg(long)]
    pub node_id: Option<i32>,
    /// How long the whole check may take before it counts as a failure.
    #[arg(long, default_value_t = 3_000)]
    pub timeout_ms: u64,
}

/// Why a broker is not ready.
#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    /// The address or node id could not be worked out.
    #[error("{0}")]
    Config(String),
    /// The listener did not answer Metadata.
    #[error("no Metadata answer from {addr}: {message}")]
    Unreachable { addr: String, message: String },
    /// No answer within the timeout.
    #[error("no Metadata answer from {addr} within {timeout_ms} ms")]
    TimedOut { addr: String, timeout_ms: u64 },
    /// No active controller is known.
    #[error("no active controller is known")]
    NoController,
    /// This broker is not listed: not registered yet, or fenced.
    #[error("broker {node_id} is not listed (not registered yet, or fenced); listed: {listed:?}")]
    NotListed { node_id: i32, listed: Vec<i32> },
}

/// Runs the check and reports it: a line on stdout and exit 0 when ready, the
/// reason on stderr and exit 1 otherwise.
pub fn main(config: Result<BrokerConfig, ConfigError>, args: &HealthArgs) -> ExitCode {
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| NotReady::Config(format!("starting a runtime: {e}")))
        .and_then(|runtime| runtime.block_on(check(config, args)));
    match outcome {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("not ready: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Asks the broker's listener for Metadata and judges the answer.
pub async fn check(
    config: Result<BrokerConfig, ConfigError>,
    args: &HealthArgs,
) -> Result<String, NotReady> {
    let (addr, node_id) = target(config, args)?;
    let timeout_ms = args.timeout_ms;
    let mut client = ClientConfig::new(&addr);
    client.client_id = "weir-broker-health".into();
    client.request_timeout = Duration::from_millis(timeout_ms);
    // A fresh admin knows only `addr`, so its one Metadata request goes there
    // and never to another broker's advertised address.
    let admin = Admin::new(client).map_err(|e| NotReady::Config(e.to_string()))?;
    let info = tokio::time::timeout(Duration::from_millis(timeout_ms), admin.cluster_info())
        .await
        .map_err(|_| NotReady::TimedOut {
            addr: addr.clone(),
            timeout_ms,
        })?
        .map_err(|e| NotReady::Unreachable {
            addr: addr.clone(),
            message: e.to_string(),
        })?;
    judge(&info, node_id)
}

/// The address to ask and the id that must be listed: the flags, else the
/// broker's configuration.
fn target(
    config: Result<BrokerConfig, ConfigError>,
    args: &HealthArgs,
) -> Result<(String, i32), NotReady> {
    if let (Some(addr), Some(id)) = (&args.address, args.node_id) {
        return Ok((addr.clone(), id));
    }
    let config = config.map_err(|e| NotReady::Config(format!("broker config: {e}")))?;
    let addr = match &args.address {
        Some(addr) => addr.clone(),
        None => {
            let listener = config
                .client_listeners()
                .next()
                .ok_or_else(|| NotReady::Config("no client listener is configured".into()))?;
            local_addr(listener.addr).to_string()
        }
    };
    Ok((addr, args.node_id.unwrap_or(config.node_id)))
}

/// Where a process on the same host reaches a listener bound to `addr`.
fn local_addr(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// Ready when a controller is known and `node_id` is listed.
fn judge(info: &ClusterInfo, node_id: i32) -> Result<String, NotReady> {
    if info.controller_id < 0 {
        return Err(NotReady::NoController);
    }
    let listed: Vec<i32> = info.brokers.iter().map(|b| b.node_id).collect();
    if !listed.contains(&node_id) {
        return Err(NotReady::NotListed { node_id, listed });
    }
    Ok(format!(
        "ready: broker {node_id}, {} broker(s) listed, controller {}",
        listed.len(),
        info.controller_id
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_client::cluster::BrokerInfo;

    fn info(controller_id: i32, ids: &[i32]) -> ClusterInfo {
        ClusterInfo {
            cluster_id: None,
            controller_id,
            brokers: ids
                .iter()
                .map(|&node_id| BrokerInfo {
                    node_id,
                    addr: format!("127.0.0.1:{}", 9092 + node_id),
                    rack: None,
                })
                .collect(),
        }
    }

    #[test]
    fn ready_needs_a_controller_and_this_broker_listed() {
        assert!(judge(&info(2, &[1, 2, 3]), 1).is_ok());
        assert!(matches!(
            judge(&info(-1, &[1, 2, 3]), 1),
            Err(NotReady::NoController)
        ));
        assert!(matches!(
            judge(&info(2, &[2, 3]), 1),
            Err(NotReady::NotListed { node_id: 1, .. })
        ));
    }

    #[test]
    fn wildcard_listeners_are_asked_on_loopback() {
        let any: SocketAddr = "0.0.0.0:9092".parse().unwrap();
        assert_eq!(local_addr(any).to_string(), "127.0.0.1:9092");
        let any6: SocketAddr = "[::]:9092".parse().unwrap();
        assert_eq!(local_addr(any6).to_string(), "[::1]:9092");
        let own: SocketAddr = "10.0.0.5:9092".parse().unwrap();
        assert_eq!(local_addr(own), own);
    }

    #[test]
    fn flags_win_over_a_broken_config() {
        let args = HealthArgs {
            address: Some("127.0.0.1:1".into()),
            node_id: Some(4),
            timeout_ms: 100,
        };
        let broken = Err(ConfigError::UnknownKey { key: "x".into() });
        assert_eq!(target(broken, &args).unwrap(), ("127.0.0.1:1".into(), 4));
        let defaults = HealthArgs {
            address: None,
            node_id: None,
            timeout_ms: 100,
        };
        let (addr, id) = target(Ok(BrokerConfig::default()), &defaults).unwrap();
        assert_eq!((addr.as_str(), id), ("127.0.0.1:9092", 0));
    }

    #[tokio::test]
    async fn nothing_listening_is_not_ready() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let args = HealthArgs {
            address: Some(format!("127.0.0.1:{port}")),
            node_id: Some(1),
            timeout_ms: 1_000,
        };
        let err = check(Err(ConfigError::UnknownKey { key: "x".into() }), &args).await;
        assert!(err.is_err(), "{err:?}");
    }
}
