//! Sending a request to a transactional id's coordinator (through the
//! transaction manager) and awaiting its answer.

use std::time::Duration;

use ractor::concurrency::oneshot;
use ractor::{ActorRef, RpcReplyPort};

use super::BrokerCtx;
use crate::limits::{ACTOR_CALL_TIMEOUT_MS, GROUP_ROUTE_WAIT_MS};
use crate::txn::state::codes;
use crate::txn::{TxnManagerMsg, TxnMsg};

/// Longest transactional id accepted (Kafka bounds it by the request size;
/// ours are bounded like group ids).
const TRANSACTIONAL_ID_BYTES_MAX: usize = 1_024;

/// Asks `transactional_id`'s coordinator; `create` starts one for an id with
/// no metadata (InitProducerId). The answer, or the Kafka error code.
pub async fn ask<T: Send + 'static>(
    ctx: &BrokerCtx,
    transactional_id: &str,
    create: bool,
    msg: impl FnOnce(RpcReplyPort<T>) -> TxnMsg,
) -> Result<T, i16> {
    if transactional_id.is_empty() || transactional_id.len() > TRANSACTIONAL_ID_BYTES_MAX {
        return Err(codes::INVALID_REQUEST);
    }
    let Some(manager) = ractor::registry::where_is(ctx.txn_manager_name.clone()) else {
        return Err(codes::COORDINATOR_NOT_AVAILABLE);
    };
    let manager: ActorRef<TxnManagerMsg> = manager.into();
    let (answer_tx, answer) = oneshot();
    let (routed_tx, routed) = oneshot();
    let forward = TxnManagerMsg::Route {
        transactional_id: transactional_id.to_owned(),
        create,
        msg: msg(RpcReplyPort::from(answer_tx)),
        routed: RpcReplyPort::from(routed_tx),
    };
    if manager.cast(forward).is_err() {
        return Err(codes::COORDINATOR_NOT_AVAILABLE);
    }
    let routing = Duration::from_millis(GROUP_ROUTE_WAIT_MS);
    match tokio::time::timeout(routing, routed).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(code))) => return Err(code),
        Ok(Err(_)) => return Err(codes::COORDINATOR_NOT_AVAILABLE),
        Err(_) => return Err(codes::COORDINATOR_LOAD_IN_PROGRESS),
    }
    // A coordinator stores each step with acks=all before answering.
    let wait = Duration::from_millis(ACTOR_CALL_TIMEOUT_MS * 2);
    match tokio::time::timeout(wait, answer).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(_)) => Err(codes::COORDINATOR_NOT_AVAILABLE),
        Err(_) => Err(crate::errors::REQUEST_TIMED_OUT),
    }
}
