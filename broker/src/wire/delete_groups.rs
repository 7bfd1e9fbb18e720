//! DeleteGroups: an empty group's offsets are tombstoned and the group forgotten;
//! a group with members is NON_EMPTY_GROUP, an unknown one GROUP_ID_NOT_FOUND.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsResponse, GroupId};
use kafka_protocol::protocol::StrBytes;
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::DeleteGroupsRequest;

use super::dispatch::ResponseFuture;
use super::encode::reply;
use super::{BrokerCtx, GroupRoute, send_to_group};
use crate::group::GroupMsg;
use crate::limits::ACTOR_CALL_TIMEOUT_MS;

pub fn start(
    ctx: &Arc<BrokerCtx>,
    header: RequestHeader,
    request: DeleteGroupsRequest,
) -> ResponseFuture {
    let calls: Vec<_> = request
        .groups_names
        .into_iter()
        .map(|group_id| {
            let call = send_to_group(ctx, &group_id, GroupRoute::Existing, |reply| {
                GroupMsg::Delete { reply }
            });
            (group_id, call)
        })
        .collect();
    Box::pin(async move {
        let wait = Duration::from_millis(ACTOR_CALL_TIMEOUT_MS);
        let mut results = Vec::with_capacity(calls.len());
        for (group_id, call) in calls {
            let code = call.answer(wait).await.unwrap_or_else(|code| code);
            results.push(
                DeletableGroupResult::default()
                    .with_group_id(GroupId(StrBytes::from_string(group_id)))
                    .with_error_code(code),
            );
        }
        reply(
            &header,
            &DeleteGroupsResponse::default().with_results(results),
        )
    })
}
