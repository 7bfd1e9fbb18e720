//! The Listener actor: accepts TCP connections under a connection limit and spawns
//! one [`Connection`] actor per socket, linked as a temporary child: a connection
//! that ends or fails is never restarted and never takes the listener down.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use ractor_cluster_derive::RactorMessage;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::conn::{Connection, ConnectionArgs};
use crate::context::BrokerCtx;

/// Longest pause between accept retries after errors (e.g. out of file descriptors).
const ACCEPT_BACKOFF_MS_MAX: u64 = 1_000;

/// Messages of the [`Listener`].
#[derive(RactorMessage)]
pub enum ListenerMsg {
    /// Stop accepting; existing connections keep running.
    StopAccepting,
}

/// What a listener starts with.
pub struct ListenerArgs {
    /// The bound socket (bound before start, so the port is known to Metadata).
    pub socket: Arc<parking_lot::Mutex<Option<std::net::TcpListener>>>,
    /// The listener's name (Metadata answers with endpoints on it).
    pub listener: String,
    /// Shared broker context.
    pub ctx: Arc<BrokerCtx>,
}

/// The listener actor.
pub struct Listener;

/// A listener's state.
pub struct ListenerState {
    /// The accept loop.
    accept: Option<JoinHandle<()>>,
    /// Bound address (for logs).
    addr: SocketAddr,
}

impl Actor for Listener {
    type Msg = ListenerMsg;
    type State = ListenerState;
    type Arguments = ListenerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: ListenerArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        // A restarted listener reuses the same bound socket.
        let std_socket = {
            let guard = args.socket.lock();
            guard
                .as_ref()
                .ok_or("listener socket missing")?
                .try_clone()?
        };
        std_socket.set_nonblocking(true)?;
        let socket = TcpListener::from_std(std_socket)?;
        let addr = socket.local_addr()?;
        let limit = Arc::new(Semaphore::new(args.ctx.config.max_connections));
        let listener: Arc<str> = args.listener.into();
        let accept = tokio::spawn(accept_loop(socket, limit, args.ctx, listener, myself));
        tracing::info!(%addr, "listening");
        Ok(ListenerState {
            accept: Some(accept),
            addr,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ListenerMsg::StopAccepting => {
                if let Some(accept) = state.accept.take() {
                    accept.abort();
                    tracing::info!(addr = %state.addr, "stopped accepting");
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<Self::Msg>,
        evt: SupervisionEvent,
        _state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Connections are temporary children: their end is logged, never escalated.
        if let SupervisionEvent::ActorFailed(cell, error) = evt {
            tracing::warn!(actor = %cell.get_id(), %error, "connection actor failed");
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(accept) = state.accept.take() {
            accept.abort();
        }
        // Connections finish their in-flight requests in their own post_stop.
        myself.stop_children_and_wait(None, None).await;
        Ok(())
    }
}

async fn accept_loop(
    socket: TcpListener,
    limit: Arc<Semaphore>,
    ctx: Arc<BrokerCtx>,
    listener_name: Arc<str>,
    listener: ActorRef<ListenerMsg>,
) {
    let mut backoff_ms = 1;
    loop {
        let Ok(connection_permit) = limit.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer) = match socket.accept().await {
            Ok(accepted) => {
                backoff_ms = 1;
                accepted
            }
            Err(e) => {
                tracing::warn!(error = %e, backoff_ms, "accept failed");
                tokio::time::sleep(Duration::from_millis(backoff_ms)).await;
                backoff_ms = (backoff_ms * 2).min(ACCEPT_BACKOFF_MS_MAX);
                continue;
            }
        };
        let args = ConnectionArgs {
            stream,
            peer,
            ctx: ctx.clone(),
            listener: listener_name.clone(),
            connection_permit,
        };
        if let Err(e) = Actor::spawn_linked(None, Connection, args, listener.get_cell()).await {
            tracing::warn!(%peer, error = %e, "connection actor failed to start");
        }
    }
}
