//! SyncGroup: the leader's assignment is handed out through the coordinator.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::SyncGroupResponse;
use kafka_protocol::protocol::StrBytes;
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::SyncGroupRequest;

use super::dispatch::ResponseFuture;
use super::encode::reply;
use super::{BrokerCtx, GroupRoute, send_to_group};
use crate::group::GroupMsg;

/// Longest a follower's SyncGroup waits for the leader's.
const SYNC_WAIT: Duration = Duration::from_secs(300);

pub fn start(
    ctx: &Arc<BrokerCtx>,
    header: RequestHeader,
    request: SyncGroupRequest,
) -> ResponseFuture {
    let (member_id, group_instance_id, generation_id, assignments) = (
        request.member_id,
        request.group_instance_id,
        request.generation_id,
        request.assignments,
    );
    let call = send_to_group(ctx, &request.group_id, GroupRoute::Member, |reply| {
        GroupMsg::Sync {
            member_id,
            group_instance_id,
            generation_id,
            assignments,
            reply,
        }
    });
    let metrics = ctx.metrics.clone();
    Box::pin(async move {
        let result = call.answer(SYNC_WAIT).await;
        let mut body = SyncGroupResponse::default();
        match result {
            Ok(r) => {
                body = body
                    .with_error_code(r.error_code)
                    .with_assignment(r.assignment);
                if header.api_version >= 5 {
                    body = body
                        .with_protocol_type(r.protocol_type.map(StrBytes::from_string))
                        .with_protocol_name(r.protocol_name.map(StrBytes::from_string));
                }
            }
            Err(code) => body = body.with_error_code(code),
        }
        metrics.error(header.api_key, body.error_code);
        reply(&header, &body)
    })
}
