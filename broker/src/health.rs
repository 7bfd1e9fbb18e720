//! `weir-broker health`: exits 0 only when a broker is ready to serve, for
//! container health checks (a `FROM scratch` image has no curl or shell).
//!
//! It asks the broker's HTTP port for `/readyz`, which judges what only the
//! broker knows ([`crate::readiness`]: listeners open, registered and not
//! fenced, its heartbeats taken by the active controller — a broker cut off
//! from the quorum is not ready). With the HTTP port off (`http.listener=""`)
//! or `--address` given, it asks the client listener for Kafka Metadata
//! instead: ready when the answer names an active controller and lists this
//! broker (a cut-off broker still lists itself there).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use weir_client::admin::Admin;
use weir_client::cluster::{ClientConfig, ClusterInfo};

use crate::config::{BrokerConfig, ConfigError};
use crate::http::Status;

/// Flags of `weir-broker health`; what they leave out comes from the broker's
/// own configuration (`--config`, `WEIR_*` environment, flags before `health`).
#[derive(Debug, Clone, clap::Args)]
pub struct HealthArgs {
    /// The broker's client listener, `host:port` (default: its first client
    /// listener, with 0.0.0.0 or [::] asked on loopback).
    #[arg(long)]
    pub address: Option<String>,
    /// The broker's HTTP port, `host:port` (default: its `http.listener`).
    #[arg(long)]
    pub http: Option<String>,
    /// The broker id that must answer (default: the configured node.id).
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
    /// `/readyz` says not ready.
    #[error("broker {node_id}: {reason}")]
    NotReady { node_id: i32, reason: String },
    /// Another broker answered on the HTTP port.
    #[error("broker {answered} answered on {addr}, not broker {node_id}")]
    OtherBroker {
        addr: String,
        node_id: i32,
        answered: i32,
    },
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

/// Asks the broker (its `/readyz`, or Kafka Metadata) and judges the answer.
pub async fn check(
    config: Result<BrokerConfig, ConfigError>,
    args: &HealthArgs,
) -> Result<String, NotReady> {
    match target(config, args)? {
        Probe::Readyz { addr, node_id } => {
            let timeout_ms = args.timeout_ms;
            let asked = tokio::time::timeout(Duration::from_millis(timeout_ms), readyz(&addr))
                .await
                .map_err(|_| NotReady::TimedOut {
                    addr: addr.clone(),
                    timeout_ms,
                })?;
            let (code, status) = asked.map_err(|message| NotReady::Unreachable {
                addr: addr.clone(),
                message,
            })?;
            judge_readyz(&addr, code, status, node_id)
        }
        Probe::Metadata { addr, node_id } => metadata(addr, node_id, args.timeout_ms).await,
    }
}

/// GET `/readyz` from `addr`: the status code and the decoded answer.
async fn readyz(addr: &str) -> Result<(u16, Status), String> {
    use http_body_util::{BodyExt, Empty, Limited};
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    let connection = tokio::spawn(connection);
    let request = hyper::Request::get("/readyz")
        .header(hyper::header::HOST, addr)
        .body(Empty::<bytes::Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let code = response.status().as_u16();
    let body = Limited::new(response.into_body(), READYZ_BYTES_MAX)
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    connection.abort();
    let status = serde_json::from_slice(&body)
        .map_err(|e| format!("HTTP {code}, not a readiness answer: {e}"))?;
    Ok((code, status))
}

/// A readiness answer is a few hundred bytes; more is not one.
const READYZ_BYTES_MAX: usize = 64 * 1024;

/// Ready when `node_id` answered 200 and ready.
fn judge_readyz(addr: &str, code: u16, status: Status, node_id: i32) -> Result<String, NotReady> {
    if status.node_id != node_id {
        return Err(NotReady::OtherBroker {
            addr: addr.into(),
            node_id,
            answered: status.node_id,
        });
    }
    if code == 200 && status.ready {
        return Ok(format!("ready: broker {node_id} ({addr}/readyz)"));
    }
    Err(NotReady::NotReady {
        node_id,
        reason: status
            .reason
            .unwrap_or_else(|| format!("/readyz answered HTTP {code}")),
    })
}

/// Asks the broker's client listener for Metadata and judges the answer.
async fn metadata(addr: String, node_id: i32, timeout_ms: u64) -> Result<String, NotReady> {
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

/// What to ask.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Probe {
    /// The HTTP port's `/readyz`.
    Readyz { addr: String, node_id: i32 },
    /// The client listener's Metadata.
    Metadata { addr: String, node_id: i32 },
}

/// The address to ask and the id that must answer: the flags, else the
/// broker's configuration (its HTTP port when on, else its client listener).
fn target(config: Result<BrokerConfig, ConfigError>, args: &HealthArgs) -> Result<Probe, NotReady> {
    match (&args.http, &args.address, args.node_id) {
        (Some(addr), _, Some(node_id)) => {
            return Ok(Probe::Readyz {
                addr: addr.clone(),
                node_id,
            });
        }
        (None, Some(addr), Some(node_id)) => {
            return Ok(Probe::Metadata {
                addr: addr.clone(),
                node_id,
            });
        }
        _ => {}
    }
    let config = config.map_err(|e| NotReady::Config(format!("broker config: {e}")))?;
    let node_id = args.node_id.unwrap_or(config.node_id);
    let http = match (&args.http, &args.address) {
        (Some(addr), _) => Some(addr.clone()),
        (None, None) => config.http_listener.map(|h| local_addr(h.addr).to_string()),
        (None, Some(_)) => None,
    };
    if let Some(addr) = http {
        return Ok(Probe::Readyz { addr, node_id });
    }
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
    Ok(Probe::Metadata { addr, node_id })
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
            http: None,
            node_id: Some(4),
            timeout_ms: 100,
        };
        let broken = || Err(ConfigError::UnknownKey { key: "x".into() });
        let metadata = |addr: &str, node_id| Probe::Metadata {
            addr: addr.into(),
            node_id,
        };
        assert_eq!(target(broken(), &args).unwrap(), metadata("127.0.0.1:1", 4));
        let http = HealthArgs {
            http: Some("127.0.0.1:2".into()),
            ..args.clone()
        };
        let readyz = Probe::Readyz {
            addr: "127.0.0.1:2".into(),
            node_id: 4,
        };
        assert_eq!(target(broken(), &http).unwrap(), readyz);
        // The configuration's HTTP port by default; its client listener when
        // the port is off.
        let defaults = HealthArgs {
            address: None,
            http: None,
            node_id: None,
            timeout_ms: 100,
        };
        let readyz = Probe::Readyz {
            addr: "127.0.0.1:9644".into(),
            node_id: 0,
        };
        assert_eq!(
            target(Ok(BrokerConfig::default()), &defaults).unwrap(),
            readyz
        );
        let off = BrokerConfig {
            http_listener: None,
            ..BrokerConfig::default()
        };
        assert_eq!(
            target(Ok(off), &defaults).unwrap(),
            metadata("127.0.0.1:9092", 0)
        );
    }

    #[test]
    fn readyz_must_come_from_this_broker_and_say_ready() {
        let status = |node_id, ready: bool| Status {
            node_id,
            ready,
            reason: (!ready).then(|| "cut off from the quorum".into()),
        };
        assert!(judge_readyz("a", 200, status(1, true), 1).is_ok());
        assert!(matches!(
            judge_readyz("a", 503, status(1, false), 1),
            Err(NotReady::NotReady { reason, .. }) if reason.contains("cut off")
        ));
        assert!(matches!(
            judge_readyz("a", 200, status(2, true), 1),
            Err(NotReady::OtherBroker { answered: 2, .. })
        ));
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
            http: None,
            node_id: Some(1),
            timeout_ms: 1_000,
        };
        let err = check(Err(ConfigError::UnknownKey { key: "x".into() }), &args).await;
        assert!(err.is_err(), "{err:?}");
        let http = HealthArgs {
            address: None,
            http: Some(format!("127.0.0.1:{port}")),
            ..args
        };
        let err = check(Err(ConfigError::UnknownKey { key: "x".into() }), &http).await;
        assert!(matches!(err, Err(NotReady::Unreachable { .. })), "{err:?}");
    }
}
