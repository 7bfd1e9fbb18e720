//! ListGroups: every group this broker knows (running or with stored offsets),
//! filtered by state (v4+) and type (v5+; every group here is "classic").

use std::sync::Arc;

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::ListGroupsRequest;

use super::BrokerCtx;
use super::dispatch::ResponseFuture;
use super::encode::reply;

/// The only group type served (the classic protocol).
const GROUP_TYPE: &str = "classic";

pub fn start(
    ctx: &Arc<BrokerCtx>,
    header: RequestHeader,
    request: ListGroupsRequest,
) -> ResponseFuture {
    let wanted = |filter: &[String], value: &str| {
        filter.is_empty() || filter.iter().any(|f| f.eq_ignore_ascii_case(value))
    };
    let groups = if wanted(&request.types_filter, GROUP_TYPE) {
        ctx.groups
            .list()
            .into_iter()
            .filter(|(_, listing)| wanted(&request.states_filter, listing.state))
            .map(|(group_id, listing)| {
                let group = ListedGroup::default()
                    .with_group_id(GroupId(StrBytes::from_string(group_id)))
                    .with_protocol_type(StrBytes::from_string(listing.protocol_type));
                let group = if header.api_version >= 4 {
                    group.with_group_state(StrBytes::from_static_str(listing.state))
                } else {
                    group
                };
                if header.api_version >= 5 {
                    group.with_group_type(StrBytes::from_static_str(GROUP_TYPE))
                } else {
                    group
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    let outcome = reply(&header, &ListGroupsResponse::default().with_groups(groups));
    Box::pin(std::future::ready(outcome))
}
