//! Remotable gateway actors: one per service per broker, found by process
//! group (ractor_cluster's only discovery), never one per partition.
//!
//! Payloads are opaque postcard bytes: ractor_cluster's own decoding of a
//! field panics on bad bytes (and the message is dropped), while ours returns
//! an error the service can answer.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster::RactorClusterMessage;
use tokio::sync::Semaphore;

/// Requests a gateway serves at once; beyond, new ones wait unanswered and the
/// caller's timeout tells it (ractor_cluster has no backpressure of its own).
const GATEWAY_INFLIGHT_MAX: usize = 256;

/// Messages of a broker's controller gateway.
#[derive(RactorClusterMessage)]
pub enum ControllerGatewayMsg {
    /// A Raft RPC of the metadata quorum; the reply is the encoded answer.
    #[rpc]
    Raft(Vec<u8>, RpcReplyPort<Vec<u8>>),
    /// A controller request forwarded by a broker that is not the active
    /// controller; the reply is the encoded answer.
    #[rpc]
    Request(Vec<u8>, RpcReplyPort<Vec<u8>>),
}

/// What a controller gateway hands its messages to (the controller's side,
/// so this layer needs to know nothing of Raft or metadata).
pub trait ControllerService: Send + Sync + 'static {
    /// Answers an encoded Raft RPC.
    fn raft(&self, bytes: Vec<u8>) -> BoxFuture<'static, Vec<u8>>;
    /// Answers an encoded forwarded controller request.
    fn request(&self, bytes: Vec<u8>) -> BoxFuture<'static, Vec<u8>>;
}

/// The process group a broker's controller gateway joins.
pub fn controller_group(node_id: i32) -> String {
    format!("weir.controller-gateway.{node_id}")
}

/// Broker `node_id`'s controller gateway, if it is linked (or local).
pub fn controller_gateway(node_id: i32) -> Option<ActorRef<ControllerGatewayMsg>> {
    ractor::pg::get_members(&controller_group(node_id))
        .into_iter()
        .next()
        .map(ActorRef::from)
}

/// What a gateway starts with.
#[derive(Clone)]
pub struct ControllerGatewayArgs {
    /// This broker's id (names the process group).
    pub node_id: i32,
    /// Who answers.
    pub service: Arc<dyn ControllerService>,
}

/// The controller gateway actor.
pub struct ControllerGateway;

/// A gateway's state.
pub struct ControllerGatewayState {
    /// Who answers.
    service: Arc<dyn ControllerService>,
    /// Bounds the requests being served.
    inflight: Arc<Semaphore>,
}

impl Actor for ControllerGateway {
    type Msg = ControllerGatewayMsg;
    type State = ControllerGatewayState;
    type Arguments = ControllerGatewayArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: ControllerGatewayArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        ractor::pg::join(controller_group(args.node_id), vec![myself.get_cell()]);
        Ok(ControllerGatewayState {
            service: args.service,
            inflight: Arc::new(Semaphore::new(GATEWAY_INFLIGHT_MAX)),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Each answer runs on its own task: a Raft RPC must never wait behind
        // a forwarded request that waits for a commit (which needs that RPC).
        let Ok(permit) = state.inflight.clone().try_acquire_owned() else {
            tracing::warn!("controller gateway saturated; a request is dropped");
            return Ok(());
        };
        let service = state.service.clone();
        match msg {
            ControllerGatewayMsg::Raft(bytes, reply) => {
                tokio::spawn(async move {
                    let _ = reply.send(service.raft(bytes).await);
                    drop(permit);
                });
            }
            ControllerGatewayMsg::Request(bytes, reply) => {
                tokio::spawn(async move {
                    let _ = reply.send(service.request(bytes).await);
                    drop(permit);
                });
            }
        }
        Ok(())
    }
}
