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
pub mod delete_groups;
pub mod delete_topics;
pub mod describe_configs;
pub mod describe_groups;
pub mod dispatch;
pub mod encode;
pub mod errors;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod produce;
pub mod sync_group;

pub use context::BrokerCtx;

use std::time::Duration;

use ractor::RpcReplyPort;

use weir_client::protocol::limits::GROUP_ID_BYTES_MAX;

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
    call_group(ctx, group_id, true, wait, msg).await
}

/// Like [`group_call`], but only for a group this broker knows: an unknown one is
/// GROUP_ID_NOT_FOUND (DescribeGroups, DeleteGroups, OffsetDelete).
pub async fn existing_group_call<T: Send + 'static>(
    ctx: &BrokerCtx,
    group_id: &str,
    wait: Duration,
    msg: impl FnOnce(RpcReplyPort<T>) -> GroupMsg,
) -> Result<T, i16> {
    call_group(ctx, group_id, false, wait, msg).await
}

/// For requests from a member (SyncGroup, Heartbeat, LeaveGroup): a group this
/// broker does not know has no members, so the caller is UNKNOWN_MEMBER_ID (as in
/// Kafka), and no coordinator is started for it.
pub async fn member_group_call<T: Send + 'static>(
    ctx: &BrokerCtx,
    group_id: &str,
    wait: Duration,
    msg: impl FnOnce(RpcReplyPort<T>) -> GroupMsg,
) -> Result<T, i16> {
    match call_group(ctx, group_id, false, wait, msg).await {
        Err(errors::GROUP_ID_NOT_FOUND) => Err(errors::UNKNOWN_MEMBER_ID),
        other => other,
    }
}

async fn call_group<T: Send + 'static>(
    ctx: &BrokerCtx,
    group_id: &str,
    create: bool,
    wait: Duration,
    msg: impl FnOnce(RpcReplyPort<T>) -> GroupMsg,
) -> Result<T, i16> {
    if !valid_group_id(group_id) {
        return Err(errors::INVALID_GROUP_ID);
    }
    let coordinator = ctx.group_coordinator(group_id, create).await?;
    match coordinator.call(msg, Some(wait)).await {
        Ok(ractor::rpc::CallResult::Success(answer)) => Ok(answer),
        Ok(_) => Err(errors::REQUEST_TIMED_OUT),
        Err(_) => Err(codes::COORDINATOR_NOT_AVAILABLE),
    }
}
/// Kafka refuses empty group ids; ours are bounded too.
pub fn valid_group_id(group_id: &str) -> bool {
    !group_id.is_empty() && group_id.len() <= GROUP_ID_BYTES_MAX
}

pub use dispatch::{Outcome, ResponseFuture, dispatch};
