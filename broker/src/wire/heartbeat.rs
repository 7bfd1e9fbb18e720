//! Heartbeat.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::HeartbeatResponse;
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::HeartbeatRequest;

use super::dispatch::ResponseFuture;
use super::encode::reply;
use super::{BrokerCtx, GroupRoute, send_to_group};
use crate::group::GroupMsg;
use crate::limits::ACTOR_CALL_TIMEOUT_MS;

pub fn start(
    ctx: &Arc<BrokerCtx>,
    header: RequestHeader,
    request: HeartbeatRequest,
) -> ResponseFuture {
    let (member_id, generation_id) = (request.member_id, request.generation_id);
    let group_instance_id = request.group_instance_id;
    let call = send_to_group(ctx, &request.group_id, GroupRoute::Member, |reply| {
        GroupMsg::Heartbeat {
            member_id,
            group_instance_id,
            generation_id,
            reply,
        }
    });
    let metrics = ctx.metrics.clone();
    Box::pin(async move {
        let wait = Duration::from_millis(ACTOR_CALL_TIMEOUT_MS);
        let code = call.answer(wait).await.unwrap_or_else(|code| code);
        metrics.error(header.api_key, code);
        reply(&header, &HeartbeatResponse::default().with_error_code(code))
    })
}
