//! FindCoordinator: a group's coordinator is the leader of its offsets
//! partition, answered with its endpoint on the listener the request came in
//! on. This broker's own offsets partitions count while they load.

use std::sync::Arc;

use kafka_protocol::messages::{BrokerId, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::FindCoordinatorRequest;
use weir_client::protocol::requests::find_coordinator::KEY_TYPE_GROUP;

use super::dispatch::ResponseFuture;
use super::encode::reply;
use super::{BrokerCtx, errors};
use crate::group::offsets::{OFFSETS_TOPIC, partition_for};
use crate::group::state::codes;
use crate::partition::PartitionEntry;

pub fn start(
    ctx: &Arc<BrokerCtx>,
    listener: &str,
    header: RequestHeader,
    request: FindCoordinatorRequest,
) -> ResponseFuture {
    let image = ctx.image();
    let partition = partition_for(&request.key, ctx.config.offsets_topic_num_partitions);
    let leader = image
        .topic(OFFSETS_TOPIC)
        .and_then(|t| t.partitions.get(partition as usize))
        .map(|p| p.leader);
    // Before the offsets topic exists this broker answers for itself: its
    // group manager creates the topic, and requests wait for the load.
    let coordinator = leader.unwrap_or(ctx.config.node_id);
    // A partition still loading counts: group requests are held until the
    // offsets are loaded, which beats a client backing off for seconds. Only a
    // failed (offline) offsets partition makes the coordinator unavailable.
    let online = coordinator != ctx.config.node_id
        || !matches!(
            ctx.partitions.lookup(OFFSETS_TOPIC, partition),
            Some(PartitionEntry::Offline)
        );
    let endpoint = image
        .brokers
        .get(&coordinator)
        .and_then(|b| b.endpoint(listener));
    let body = match (request.key_type, endpoint) {
        (KEY_TYPE_GROUP, Some(endpoint)) if online => FindCoordinatorResponse::default()
            .with_error_code(errors::NONE)
            .with_node_id(BrokerId(coordinator))
            .with_host(StrBytes::from_string(endpoint.host.clone()))
            .with_port(i32::from(endpoint.port)),
        (KEY_TYPE_GROUP, _) => {
            not_available(header.api_version, "the group coordinator is loading")
        }
        _ => not_available(header.api_version, "transactions are not supported"),
    };
    Box::pin(std::future::ready(reply(&header, &body)))
}

fn not_available(version: i16, message: &'static str) -> FindCoordinatorResponse {
    let body = FindCoordinatorResponse::default()
        .with_error_code(codes::COORDINATOR_NOT_AVAILABLE)
        .with_node_id(BrokerId(-1))
        .with_port(-1);
    if version >= 1 {
        body.with_error_message(Some(StrBytes::from_static_str(message)))
    } else {
        body
    }
}
