//! Heartbeat.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::HeartbeatResponse;
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::HeartbeatRequest;

use super::dispatch::ResponseFuture;
use super::encode::reply;
use super::{BrokerCtx, member_group_call};
use crate::group::GroupMsg;
use crate::limits::ACTOR_CALL_TIMEOUT_MS;

pub fn start(
    ctx: &Arc<BrokerCtx>,
    header: RequestHeader,
    request: HeartbeatRequest,
) -> ResponseFuture {
    let ctx = ctx.clone();
    Box::pin(async move {
        let (member_id, generation_id) = (request.member_id, request.generation_id);
        let wait = Duration::from_millis(ACTOR_CALL_TIMEOUT_MS);
        let code = member_group_call(&ctx, &request.group_id, wait, |reply| GroupMsg::Heartbeat {
            member_id,
            generation_id,
            reply,
        })
        .await
        .unwrap_or_else(|code| code);
        reply(&header, &HeartbeatResponse::default().with_error_code(code))
    })
}
