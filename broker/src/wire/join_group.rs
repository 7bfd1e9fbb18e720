//! JoinGroup: handed to the group's coordinator; the answer may be parked until
//! the rebalance completes.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::JoinGroupResponse;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::protocol::StrBytes;
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::JoinGroupRequest;

use super::BrokerCtx;
use super::dispatch::ResponseFuture;
use super::encode::reply;
use super::{GroupRoute, send_to_group};
use crate::group::GroupMsg;
use crate::group::state::{self, codes};

/// Extra time beyond the rebalance timeout before a parked join is abandoned.
const JOIN_SLACK: Duration = Duration::from_secs(5);

pub fn start(
    ctx: &Arc<BrokerCtx>,
    header: RequestHeader,
    request: JoinGroupRequest,
) -> ResponseFuture {
    let v = header.api_version;
    let req = state::JoinRequest {
        member_id: request.member_id.clone(),
        group_instance_id: request.group_instance_id,
        client_id: header.client_id.clone().unwrap_or_default(),
        client_host: String::new(),
        session_timeout_ms: request.session_timeout_ms,
        rebalance_timeout_ms: request.rebalance_timeout_ms,
        protocol_type: request.protocol_type,
        protocols: request.protocols,
        require_known_member_id: v >= 4,
    };
    let wait = Duration::from_millis(req.rebalance_timeout_ms.max(0) as u64) + JOIN_SLACK;
    let call = send_to_group(ctx, &request.group_id, GroupRoute::Create, |reply| {
        GroupMsg::Join { req, reply }
    });
    let metrics = ctx.metrics.clone();
    Box::pin(async move {
        let result = call.answer(wait).await;
        let response = result.unwrap_or_else(|code| state::JoinResponse {
            error_code: code,
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: request.member_id,
            members: Vec::new(),
        });
        // MEMBER_ID_REQUIRED is the first step of a join, not a failure, but
        // Kafka counts it too.
        metrics.error(header.api_key, response.error_code);
        reply(&header, &encode(response, v))
    })
}

fn encode(r: state::JoinResponse, v: i16) -> JoinGroupResponse {
    let members = r
        .members
        .into_iter()
        .map(|m| {
            JoinGroupResponseMember::default()
                .with_member_id(StrBytes::from_string(m.member_id))
                .with_group_instance_id(if v >= 5 {
                    m.group_instance_id.map(StrBytes::from_string)
                } else {
                    None
                })
                .with_metadata(m.metadata)
        })
        .collect();
    let mut body = JoinGroupResponse::default()
        .with_error_code(r.error_code)
        .with_generation_id(r.generation_id)
        .with_leader(StrBytes::from_string(r.leader))
        .with_member_id(StrBytes::from_string(r.member_id))
        .with_members(members);
    // v7+ carries the protocol type; v0–6 always carry the name (non-null).
    if v >= 7 {
        body = body.with_protocol_type(r.protocol_type.map(StrBytes::from_string));
    }
    let name = r.protocol_name.unwrap_or_default();
    body.with_protocol_name(
        if v >= 7 && r.error_code != codes::NONE && name.is_empty() {
            None
        } else {
            Some(StrBytes::from_string(name))
        },
    )
}
