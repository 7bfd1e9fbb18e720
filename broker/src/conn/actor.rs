//! The Connection actor: decodes and dispatches each frame in arrival order, spawns
//! the handler's second phase, and queues its result for the writer.
//!
//! Backpressure: the reader takes an in-flight permit before it casts a frame, and
//! the permit is released only when the response is written, so one connection has
//! at most `max_inflight_requests` requests decoded and unanswered, and the
//! mailbox cannot grow past that.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use ractor_cluster_derive::RactorMessage;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinHandle;

use super::reader::read_frames;
use super::request_log::{self, RequestHead};
use super::writer::{Pending, write_responses};
use crate::context::BrokerCtx;
use crate::limits::SHUTDOWN_GRACE_MS;
use crate::metrics::{ConnectionGuard, Metrics, RequestTimer};
use crate::wire::dispatch::{self, Outcome, ResponseFuture};

/// Messages of a [`Connection`].
#[derive(RactorMessage)]
pub enum ConnectionMsg {
    /// A complete request frame, with the in-flight permit it holds.
    Frame {
        frame: Bytes,
        permit: OwnedSemaphorePermit,
    },
    /// The client closed its side or sent something unreadable.
    ReaderClosed { reason: String },
    /// The writer finished (drained after the reader closed, or failed).
    WriterClosed { reason: String },
}

/// What a connection starts with.
pub struct ConnectionArgs {
    /// The accepted socket.
    pub stream: TcpStream,
    /// The client's address (for logs).
    pub peer: SocketAddr,
    /// Shared broker context.
    pub ctx: Arc<BrokerCtx>,
    /// Name of the listener that accepted it.
    pub listener: Arc<str>,
    /// The listener's connection-limit permit, released when this actor ends.
    pub connection_permit: OwnedSemaphorePermit,
}

/// The connection actor.
pub struct Connection;

/// A connection's state.
pub struct ConnectionState {
    /// Client address.
    peer: SocketAddr,
    /// Shared broker context.
    ctx: Arc<BrokerCtx>,
    /// Name of the listener that accepted it.
    listener: Arc<str>,
    /// Feeds the writer; `None` once the reader closed (the writer then drains).
    to_writer: Option<mpsc::Sender<Pending>>,
    /// The socket reader task.
    reader: JoinHandle<()>,
    /// The response writer task.
    writer: Option<JoinHandle<()>>,
    /// Held for the connection's lifetime (the listener's connection limit).
    _connection_permit: OwnedSemaphorePermit,
    /// Counts this connection in the open-connections gauge while it lives.
    _counted: ConnectionGuard,
}

impl Actor for Connection {
    type Msg = ConnectionMsg;
    type State = ConnectionState;
    type Arguments = ConnectionArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: ConnectionArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let inflight_max = args.ctx.config.max_inflight_requests;
        let frame_bytes_max = args.ctx.config.frame_bytes_max;
        let _ = args.stream.set_nodelay(true);
        let (read_half, write_half) = args.stream.into_split();
        let permits = Arc::new(Semaphore::new(inflight_max));
        let (to_writer, from_actor) = mpsc::channel(inflight_max);
        let reader = tokio::spawn(read_frames(
            read_half,
            myself.clone(),
            permits,
            frame_bytes_max,
        ));
        let writer = tokio::spawn(write_responses(write_half, from_actor, myself));
        tracing::debug!(peer = %args.peer, "connection open");
        let counted = args.ctx.metrics.connection_opened();
        Ok(ConnectionState {
            peer: args.peer,
            ctx: args.ctx,
            listener: args.listener,
            to_writer: Some(to_writer),
            reader,
            writer: Some(writer),
            _connection_permit: args.connection_permit,
            _counted: counted,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ConnectionMsg::Frame { frame, permit } => state.on_frame(&myself, frame, permit),
            ConnectionMsg::ReaderClosed { reason } => {
                tracing::debug!(peer = %state.peer, reason, "reader closed; draining responses");
                // Dropping the sender lets the writer finish what is queued, then stop.
                state.to_writer = None;
            }
            ConnectionMsg::WriterClosed { reason } => {
                tracing::debug!(peer = %state.peer, reason, "connection closed");
                myself.stop(None);
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Stop reading; let the writer answer what is already in flight (bounded).
        state.reader.abort();
        state.to_writer = None;
        if let Some(writer) = state.writer.take() {
            let grace = Duration::from_millis(SHUTDOWN_GRACE_MS);
            if tokio::time::timeout(grace, writer).await.is_err() {
                tracing::warn!(peer = %state.peer, "in-flight responses abandoned at shutdown");
            }
        }
        Ok(())
    }
}

impl ConnectionState {
    fn on_frame(
        &mut self,
        myself: &ActorRef<ConnectionMsg>,
        frame: Bytes,
        permit: OwnedSemaphorePermit,
    ) {
        let Some(to_writer) = &self.to_writer else {
            return;
        };
        // Dispatch runs here, in arrival order: casts it makes keep request order.
        let timer = self.ctx.metrics.request_started(&frame);
        let logged = Logged {
            started: Instant::now(),
            peer: self.peer,
            head: RequestHead::read(&frame),
            slow: match self.ctx.config.request_slow_threshold_ms {
                0 => None,
                ms => Some(Duration::from_millis(ms)),
            },
        };
        let response = dispatch::dispatch(&self.ctx, &self.listener, frame);
        let response = tokio::spawn(timed(self.ctx.metrics.clone(), (timer, logged), response));
        // Capacity equals the permit count, so this cannot be full.
        if to_writer.try_send(Pending { response, permit }).is_err() {
            myself.stop(Some("writer gone".into()));
        }
    }
}

/// What a request is logged with.
struct Logged {
    started: Instant,
    peer: SocketAddr,
    head: RequestHead,
    slow: Option<Duration>,
}

/// Runs a request's second phase, records its latency and response size
/// (dispatch to response ready) and logs it.
async fn timed(
    metrics: Arc<Metrics>,
    (timer, logged): (RequestTimer, Logged),
    response: ResponseFuture,
) -> Outcome {
    let outcome = response.await;
    let (bytes, closed) = match &outcome {
        Outcome::Reply(out) => (out.len(), false),
        Outcome::ReplyThenClose(out) => (out.len(), true),
        Outcome::Silent => (0, false),
        Outcome::Close(_) => (0, true),
    };
    metrics.request_finished(timer, bytes, closed);
    let took = logged.started.elapsed();
    request_log::finished(logged.peer, &logged.head, took, bytes, logged.slow);
    outcome
}
