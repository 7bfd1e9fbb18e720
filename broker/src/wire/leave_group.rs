//! LeaveGroup (v3+: a batch of members, each with its own error code).

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::LeaveGroupResponse;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::protocol::StrBytes;
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::LeaveGroupRequest;

use super::dispatch::ResponseFuture;
use super::encode::reply;
use super::{BrokerCtx, GroupRoute, errors, send_to_group};
use crate::group::GroupMsg;
use crate::limits::ACTOR_CALL_TIMEOUT_MS;

pub fn start(
    ctx: &Arc<BrokerCtx>,
    header: RequestHeader,
    request: LeaveGroupRequest,
) -> ResponseFuture {
    let members = request.members.clone();
    let call = send_to_group(ctx, &request.group_id, GroupRoute::Member, |reply| {
        GroupMsg::Leave { members, reply }
    });
    Box::pin(async move {
        let wait = Duration::from_millis(ACTOR_CALL_TIMEOUT_MS);
        let result = call.answer(wait).await;
        let codes = match result {
            Ok(codes) => codes,
            Err(code) => vec![code; request.members.len()],
        };
        let body = if header.api_version >= 3 {
            let members = request
                .members
                .into_iter()
                .zip(&codes)
                .map(|((member_id, instance), code)| {
                    MemberResponse::default()
                        .with_member_id(StrBytes::from_string(member_id))
                        .with_group_instance_id(instance.map(StrBytes::from_string))
                        .with_error_code(*code)
                })
                .collect();
            LeaveGroupResponse::default()
                .with_error_code(errors::NONE)
                .with_members(members)
        } else {
            LeaveGroupResponse::default()
                .with_error_code(codes.first().copied().unwrap_or(errors::NONE))
        };
        reply(&header, &body)
    })
}
