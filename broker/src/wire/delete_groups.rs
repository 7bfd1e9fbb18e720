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
use super::{BrokerCtx, existing_group_call};
use crate::group::GroupMsg;
use crate::limits::ACTOR_CALL_TIMEOUT_MS;

pub fn start(
    ctx: &Arc<BrokerCtx>,
    header: RequestHeader,
    request: DeleteGroupsRequest,
) -> ResponseFuture {
    let ctx = ctx.clone();
    Box::pin(async move {
        let wait = Duration::from_millis(ACTOR_CALL_TIMEOUT_MS);
        let mut results = Vec::with_capacity(request.groups_names.len());
        for group_id in request.groups_names {
            let code =
                existing_group_call(&ctx, &group_id, wait, |reply| GroupMsg::Delete { reply })
                    .await
                    .unwrap_or_else(|code| code);
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
