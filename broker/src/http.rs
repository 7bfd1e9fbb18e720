//! The broker's HTTP port (`http.listener`, default 127.0.0.1:9644): `/healthz`
//! answers 200 while the process runs, `/readyz` 200 only while the broker is
//! ready ([`crate::readiness`]) and 503 with the reason otherwise, both as
//! JSON; `/metrics` the broker's metrics in Prometheus text format
//! ([`crate::metrics`]). Served by axum on the broker's runtime, apart from the Kafka
//! listeners: nothing here sits in a Kafka request's path.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde::{Deserialize, Serialize};

use crate::config::BrokerConfig;
use crate::context::BrokerCtx;
use crate::readiness;

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
    (
        [(
            axum::http::header::CONTENT_TYPE,
            crate::metrics::CONTENT_TYPE,
        )],
        ctx.metrics.render(),
    )
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
