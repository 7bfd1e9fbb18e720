//! Kafka request handling: dispatch by API key, one handler file per API, and the
//! one place ([`errors`]) that maps Weir's errors to Kafka error codes.
//!
//! A handler runs in two phases. Its synchronous part runs inside the connection
//! actor's `handle`, so casts it makes (appends) reach each partition in request
//! order. It returns a future, spawned by the connection, that finishes the work
//! (awaiting replies, long polls) and yields the encoded response; the connection's
//! writer sends responses strictly in request order.

pub mod alter_configs;
pub mod alter_partition_reassignments;
pub mod api_versions;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_producers;
pub mod describe_transactions;
pub mod dispatch;
pub mod elect_leaders;
pub mod encode;
/// The Kafka error-code table (kept below every layer that answers with codes).
pub use crate::errors;
pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod end_txn;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod list_partition_reassignments;
pub mod list_transactions;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod sync_group;
pub mod txn_offset_commit;
pub mod txn_route;
pub mod txn_verify;
pub mod write_txn_markers;

pub use crate::context::BrokerCtx;

use std::time::Duration;

use ractor::concurrency::{OneshotReceiver, oneshot};
use ractor::{ActorRef, RpcReplyPort};
use weir_client::protocol::limits::GROUP_ID_BYTES_MAX;

use crate::group::state::codes;
use crate::group::{GroupManagerMsg, GroupMsg};
use crate::limits::GROUP_ROUTE_WAIT_MS;

/// Which groups a request may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupRoute {
    /// Any group; an unknown one is created (JoinGroup, OffsetCommit).
    Create,
    /// Only a known group; an unknown one is GROUP_ID_NOT_FOUND (OffsetFetch,
    /// DescribeGroups, DeleteGroups, OffsetDelete).
    Existing,
    /// A member's request (SyncGroup, Heartbeat, LeaveGroup): an unknown group has
    /// no members, so the caller is UNKNOWN_MEMBER_ID, as in Kafka.
    Member,
}

/// A request on its way to a group coordinator; [`GroupCall::answer`] awaits it.
pub struct GroupCall<T> {
    route: GroupRoute,
    /// Refused before sending (bad group id, no manager).
    refused: Option<i16>,
    /// Whether the manager forwarded the message, or why not.
    routed: Option<OneshotReceiver<Result<(), i16>>>,
    /// The coordinator's answer.
    answer: Option<OneshotReceiver<T>>,
}

/// Sends `msg` towards `group_id`'s coordinator now, through the group manager,
/// which forwards in arrival order: called in a handler's synchronous phase, a
/// connection's group requests reach the coordinator in request order (librdkafka
/// pipelines commits; a later commit must never be applied before an earlier one).
pub fn send_to_group<T: Send + 'static>(
    ctx: &BrokerCtx,
    group_id: &str,
    route: GroupRoute,
    msg: impl FnOnce(RpcReplyPort<T>) -> GroupMsg,
) -> GroupCall<T> {
    let refused = |code| GroupCall {
        route,
        refused: Some(code),
        routed: None,
        answer: None,
    };
    if !valid_group_id(group_id) {
        return refused(errors::INVALID_GROUP_ID);
    }
    let Some(manager) = ractor::registry::where_is(ctx.group_manager_name.clone()) else {
        return refused(codes::COORDINATOR_NOT_AVAILABLE);
    };
    let manager: ActorRef<GroupManagerMsg> = manager.into();
    let (answer_tx, answer) = oneshot();
    let (routed_tx, routed) = oneshot();
    let forward = GroupManagerMsg::Route {
        group_id: group_id.to_owned(),
        create: route == GroupRoute::Create,
        msg: Box::new(msg(RpcReplyPort::from(answer_tx))),
        routed: RpcReplyPort::from(routed_tx),
    };
    if manager.cast(forward).is_err() {
        return refused(codes::COORDINATOR_NOT_AVAILABLE);
    }
    GroupCall {
        route,
        refused: None,
        routed: Some(routed),
        answer: Some(answer),
    }
}

impl<T> GroupCall<T> {
    /// The coordinator's answer within `wait`, or the Kafka error code.
    pub async fn answer(self, wait: Duration) -> Result<T, i16> {
        let route = self.route;
        match (route, self.wait(wait).await) {
            (GroupRoute::Member, Err(errors::GROUP_ID_NOT_FOUND)) => Err(errors::UNKNOWN_MEMBER_ID),
            (_, other) => other,
        }
    }

    async fn wait(self, wait: Duration) -> Result<T, i16> {
        if let Some(code) = self.refused {
            return Err(code);
        }
        let (Some(routed), Some(answer)) = (self.routed, self.answer) else {
            return Err(codes::COORDINATOR_NOT_AVAILABLE);
        };
        // The manager holds requests while the offsets load: past this wait the
        // client hears the retriable COORDINATOR_LOAD_IN_PROGRESS.
        let routing = Duration::from_millis(GROUP_ROUTE_WAIT_MS);
        match tokio::time::timeout(routing, routed).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(code))) => return Err(code),
            Ok(Err(_)) => return Err(codes::COORDINATOR_NOT_AVAILABLE),
            Err(_) => return Err(codes::COORDINATOR_LOAD_IN_PROGRESS),
        }
        match tokio::time::timeout(wait, answer).await {
            Ok(Ok(answer)) => Ok(answer),
            // The coordinator stopped with the message unanswered: retry.
            Ok(Err(_)) => Err(codes::COORDINATOR_NOT_AVAILABLE),
            Err(_) => Err(errors::REQUEST_TIMED_OUT),
        }
    }
}

/// Kafka refuses empty group ids; ours are bounded too.
pub fn valid_group_id(group_id: &str) -> bool {
    !group_id.is_empty() && group_id.len() <= GROUP_ID_BYTES_MAX
}

pub use dispatch::{Outcome, ResponseFuture, dispatch};
