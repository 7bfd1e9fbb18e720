//! FindCoordinator: a group's coordinator is the leader of its offsets
//! partition, a transactional id's the leader of its `__transaction_state`
//! partition, answered with its endpoint on the listener the request came in
//! on. This broker's own offsets partitions count while they load. The first
//! transactional request creates `__transaction_state`, as in Kafka.

use std::sync::Arc;

use kafka_protocol::messages::{BrokerId, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::FindCoordinatorRequest;
use weir_client::protocol::requests::find_coordinator::{KEY_TYPE_GROUP, KEY_TYPE_TRANSACTION};

use super::dispatch::ResponseFuture;
use super::encode::reply;
use super::{BrokerCtx, errors};
use crate::controller::{TopicError, TopicSpec};
use crate::group::offsets::{self, OFFSETS_TOPIC};
use crate::group::state::codes;
use crate::partition::PartitionEntry;
use crate::txn::log::{self as txn_log, TXN_STATE_TOPIC};

pub fn start(
    ctx: &Arc<BrokerCtx>,
    listener: &str,
    header: RequestHeader,
    request: FindCoordinatorRequest,
) -> ResponseFuture {
    match request.key_type {
        KEY_TYPE_GROUP => {
            let body = group_coordinator(ctx, listener, &request.key, header.api_version);
            Box::pin(std::future::ready(reply(&header, &body)))
        }
        KEY_TYPE_TRANSACTION => {
            let (ctx, listener) = (ctx.clone(), listener.to_owned());
            Box::pin(async move {
                let body = txn_coordinator(&ctx, &listener, &request.key, header.api_version).await;
                reply(&header, &body)
            })
        }
        _ => {
            let body = FindCoordinatorResponse::default()
                .with_error_code(errors::INVALID_REQUEST)
                .with_node_id(BrokerId(-1))
                .with_port(-1);
            Box::pin(std::future::ready(reply(&header, &body)))
        }
    }
}

fn group_coordinator(
    ctx: &BrokerCtx,
    listener: &str,
    key: &str,
    version: i16,
) -> FindCoordinatorResponse {
    let image = ctx.image();
    let partition = offsets::partition_for(key, ctx.config.offsets_topic_num_partitions);
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
    match found(ctx, listener, coordinator) {
        Some(body) if online => body,
        _ => not_available(version, "the group coordinator is loading"),
    }
}

async fn txn_coordinator(
    ctx: &BrokerCtx,
    listener: &str,
    key: &str,
    version: i16,
) -> FindCoordinatorResponse {
    if ctx.image().topic(TXN_STATE_TOPIC).is_none() {
        create_txn_state_topic(ctx).await;
    }
    let partition = txn_log::partition_for(key, ctx.config.transaction_state_log_num_partitions);
    let leader = ctx
        .image()
        .topic(TXN_STATE_TOPIC)
        .and_then(|t| t.partitions.get(partition as usize))
        .map(|p| p.leader)
        .filter(|&l| l >= 0);
    match leader.and_then(|l| found(ctx, listener, l)) {
        Some(body) => body,
        None => not_available(version, "the transaction coordinator is not available"),
    }
}

/// Creates `__transaction_state` (compacted, replicated as
/// `transaction.state.log.replication.factor` says, capped by the live brokers).
async fn create_txn_state_topic(ctx: &BrokerCtx) {
    let spec = TopicSpec {
        name: TXN_STATE_TOPIC.into(),
        num_partitions: Some(ctx.config.transaction_state_log_num_partitions),
        replication_factor: None,
        configs: vec![
            ("cleanup.policy".into(), Some("compact".into())),
            (
                "segment.bytes".into(),
                Some(ctx.config.transaction_state_log_segment_bytes.to_string()),
            ),
        ],
    };
    for result in ctx.create_topics(vec![spec], false).await {
        match result {
            Ok(()) | Err(TopicError::AlreadyExists(_)) => {}
            Err(e) => tracing::warn!(error = %e, "cannot create {TXN_STATE_TOPIC}"),
        }
    }
}

/// The answer naming `coordinator`, if it has an endpoint on `listener`.
fn found(ctx: &BrokerCtx, listener: &str, coordinator: i32) -> Option<FindCoordinatorResponse> {
    let image = ctx.image();
    let endpoint = image.brokers.get(&coordinator)?.endpoint(listener)?;
    Some(
        FindCoordinatorResponse::default()
            .with_error_code(errors::NONE)
            .with_node_id(BrokerId(coordinator))
            .with_host(StrBytes::from_string(endpoint.host.clone()))
            .with_port(i32::from(endpoint.port)),
    )
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
