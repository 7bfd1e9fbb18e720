//! Kafka request handling: dispatch by API key, one handler file per API, and the
//! one place ([`errors`]) that maps Weir's errors to Kafka error codes.
//!
//! A handler runs in two phases. Its synchronous part runs inside the connection
//! actor's `handle`, so casts it makes (appends) reach each partition in request
//! order. It returns a future, spawned by the connection, that finishes the work
//! (awaiting replies, long polls) and yields the encoded response; the connection's
//! writer sends responses strictly in request order.

pub mod api_versions;
pub mod context;
pub mod create_topics;
pub mod delete_topics;
pub mod describe_configs;
pub mod dispatch;
pub mod encode;
pub mod errors;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod join_group;
pub mod leave_group;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_fetch;
pub mod produce;
pub mod sync_group;

pub use context::BrokerCtx;

use std::time::Duration;

use ractor::RpcReplyPort;

use crate::group::GroupMsg;
use crate::group::state::codes;

/// Asks `group_id`'s coordinator with `msg`, waiting at most `wait`; a Kafka error
/// code when the group id is invalid or the coordinator cannot answer.
pub async fn group_call<T: Send + 'static>(
    ctx: &BrokerCtx,
    group_id: &str,
    wait: Duration,
    msg: impl FnOnce(RpcReplyPort<T>) -> GroupMsg,
) -> Result<T, i16> {
    if group_id.is_empty() {
        return Err(errors::INVALID_GROUP_ID);
    }
    let coordinator = ctx.group_coordinator(group_id).await?;
    match coordinator.call(msg, Some(wait)).await {
        Ok(ractor::rpc::CallResult::Success(answer)) => Ok(answer),
        Ok(_) => Err(errors::REQUEST_TIMED_OUT),
        Err(_) => Err(codes::COORDINATOR_NOT_AVAILABLE),
    }
}
pub use dispatch::{Outcome, ResponseFuture, dispatch};
