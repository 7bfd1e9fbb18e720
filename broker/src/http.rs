//! The broker's HTTP port (`http.listener`, default 127.0.0.1:9644): `/healthz`
//! answers 200 while the process runs, `/readyz` 200 only while the broker is
//! ready ([`crate::readiness`]) and 503 with the reason otherwise, both as
//! JSON; `/metrics` the broker's metrics in Prometheus text format
//! ([`crate::metrics`]); `/` and the pages under it the web console
//! ([`crate::console`]). Served by axum on the broker's runtime, apart from the Kafka
//! listeners: nothing here sits in a Kafka request's path.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde::{Deserialize, Serialize};

use crate::config::BrokerConfig;
use crate::context::BrokerCtx;
use crate::group::GroupMsg;
use crate::metrics::CommittedOffset;
use crate::readiness;
use crate::wire::{GroupRoute, send_to_group};

/// Running groups asked for their offsets per scrape.
const LAG_GROUPS_ASKED_MAX: usize = 1_000;
/// How long a scrape waits for a group coordinator's offsets.
const LAG_ASK_WAIT_MS: u64 = 1_000;

/// What `/healthz` and `/readyz` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The broker's node.id (a probe checks it asked the right broker).
    pub node_id: i32,
    /// Whether it is ready (`/readyz`) or alive (`/healthz`).
    pub ready: bool,
    /// Why it is not ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Binds the HTTP port before anything starts: a configured port that is
/// taken fails the start; the default one only turns the port off (several
/// brokers on one host), with a warning.
pub fn bind(config: &BrokerConfig) -> anyhow::Result<Option<std::net::TcpListener>> {
    let Some(http) = config.http_listener else {
        return Ok(None);
    };
    match std::net::TcpListener::bind(http.addr) {
        Ok(socket) => {
            socket.set_nonblocking(true)?;
            Ok(Some(socket))
        }
        Err(e) if !http.explicit => {
            tracing::warn!(
                addr = %http.addr,
                error = %e,
                "default HTTP port unavailable: /healthz and /readyz are off (set http.listener)"
            );
            Ok(None)
        }
        Err(e) => Err(e).with_context(|| format!("binding http.listener on {}", http.addr)),
    }
}

/// Serves the port until the task is aborted.
pub fn serve(
    socket: std::net::TcpListener,
    ctx: Arc<BrokerCtx>,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let addr = socket.local_addr()?;
    let listener = tokio::net::TcpListener::from_std(socket)?;
    let app = axum::Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(crate::console::router())
        .with_state(ctx);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "HTTP port stopped");
        }
    });
    Ok((addr, task))
}

async fn healthz(State(ctx): State<Arc<BrokerCtx>>) -> Json<Status> {
    Json(Status {
        node_id: ctx.config.node_id,
        ready: true,
        reason: None,
    })
}

async fn metrics(State(ctx): State<Arc<BrokerCtx>>) -> impl axum::response::IntoResponse {
    if ctx.metrics.wants_committed_offsets() && ctx.config.http_metrics_partition_series {
        let offsets = committed_offsets(&ctx).await;
        ctx.metrics.set_committed_offsets(offsets);
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            crate::metrics::CONTENT_TYPE,
        )],
        ctx.metrics.render(),
    )
}

/// The committed offsets of every group this broker coordinates: dormant
/// groups' from the directory, running groups' asked of their coordinators
/// (at most [`LAG_GROUPS_ASKED_MAX`], each within [`LAG_ASK_WAIT_MS`]; a group
/// that does not answer in time is left out of this scrape).
async fn committed_offsets(ctx: &Arc<BrokerCtx>) -> Vec<CommittedOffset> {
    let (running, dormant) = ctx.groups.offsets_view();
    let mut out: Vec<CommittedOffset> = dormant
        .into_iter()
        .map(|(group, topic, partition, offset)| CommittedOffset {
            group,
            topic,
            partition,
            offset,
        })
        .collect();
    let wait = Duration::from_millis(LAG_ASK_WAIT_MS);
    let asks = running.into_iter().take(LAG_GROUPS_ASKED_MAX).map(|group| {
        let call = send_to_group(ctx, &group, GroupRoute::Existing, |reply| {
            GroupMsg::FetchOffsets {
                partitions: None,
                require_stable: false,
                reply,
            }
        });
        async move { (group, call.answer(wait).await) }
    });
    for (group, answer) in futures_util::future::join_all(asks).await {
        let Ok(fetched) = answer else { continue };
        for ((topic, partition), value) in fetched.offsets {
            if let Some(value) = value {
                out.push(CommittedOffset {
                    group: group.clone(),
                    topic,
                    partition,
                    offset: value.offset,
                });
            }
        }
    }
    out.sort_by(|a, b| (&a.group, &a.topic, a.partition).cmp(&(&b.group, &b.topic, b.partition)));
    out
}

async fn readyz(State(ctx): State<Arc<BrokerCtx>>) -> (StatusCode, Json<Status>) {
    let node_id = ctx.config.node_id;
    match readiness::check(&ctx) {
        Ok(()) => (
            StatusCode::OK,
            Json(Status {
                node_id,
                ready: true,
                reason: None,
            }),
        ),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Status {
                node_id,
                ready: false,
                reason: Some(reason),
            }),
        ),
    }
}
