//! DescribeGroups: state, protocol and members of each group; a group this broker
//! does not know is "Dead" with no error (Kafka's answer before v6).

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsResponse, GroupId};
use kafka_protocol::protocol::StrBytes;
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::DescribeGroupsRequest;

use super::dispatch::ResponseFuture;
use super::encode::reply;
use super::{BrokerCtx, GroupRoute, errors, send_to_group};
use crate::group::{GroupDescription, GroupMsg};
use crate::limits::ACTOR_CALL_TIMEOUT_MS;

/// READ, DELETE and DESCRIBE (Kafka's AclOperation bits): everything a group
/// allows, as Kafka reports without an authorizer.
const GROUP_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);
/// "Not requested" in authorized_operations.
const OPERATIONS_OMITTED: i32 = i32::MIN;

pub fn start(
    ctx: &Arc<BrokerCtx>,
    header: RequestHeader,
    request: DescribeGroupsRequest,
) -> ResponseFuture {
    let calls: Vec<_> = request
        .groups
        .into_iter()
        .map(|group_id| {
            let call = send_to_group(ctx, &group_id, GroupRoute::Existing, |reply| {
                GroupMsg::Describe { reply }
            });
            (group_id, call)
        })
        .collect();
    Box::pin(async move {
        let wait = Duration::from_millis(ACTOR_CALL_TIMEOUT_MS);
        let operations = if request.include_authorized_operations {
            GROUP_OPERATIONS
        } else {
            OPERATIONS_OMITTED
        };
        let mut groups = Vec::with_capacity(calls.len());
        for (group_id, call) in calls {
            let result = call.answer(wait).await;
            let described = match result {
                Ok(description) => described(description, header.api_version),
                Err(errors::GROUP_ID_NOT_FOUND) => {
                    DescribedGroup::default().with_group_state(StrBytes::from_static_str("Dead"))
                }
                Err(code) => DescribedGroup::default().with_error_code(code),
            };
            groups.push(
                described
                    .with_group_id(GroupId(StrBytes::from_string(group_id)))
                    .with_authorized_operations(operations),
            );
        }
        reply(
            &header,
            &DescribeGroupsResponse::default().with_groups(groups),
        )
    })
}

fn described(d: GroupDescription, v: i16) -> DescribedGroup {
    let members = d
        .members
        .into_iter()
        .map(|m| {
            let member = DescribedGroupMember::default()
                .with_member_id(StrBytes::from_string(m.member_id))
                .with_client_id(StrBytes::from_string(m.client_id))
                .with_client_host(StrBytes::from_string(m.client_host))
                .with_member_metadata(m.metadata)
                .with_member_assignment(m.assignment);
            if v >= 4 {
                member.with_group_instance_id(m.group_instance_id.map(StrBytes::from_string))
            } else {
                member
            }
        })
        .collect();
    DescribedGroup::default()
        .with_group_state(StrBytes::from_static_str(d.state))
        .with_protocol_type(StrBytes::from_string(d.protocol_type))
        .with_protocol_data(StrBytes::from_string(d.protocol_name))
        .with_members(members)
}
