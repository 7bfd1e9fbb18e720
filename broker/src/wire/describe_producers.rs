//! DescribeProducers: the producers a partition leader remembers, with the
//! first offset of the transaction each has open there (KIP-664).

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{DescribeProducersResponse, ProducerId, TopicName};
use kafka_protocol::protocol::StrBytes;
use ractor::rpc::CallResult;
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::DescribeProducersRequest;

use super::dispatch::ResponseFuture;
use super::encode::reply;
use super::{BrokerCtx, errors};
use crate::limits::ACTOR_CALL_TIMEOUT_MS;
use crate::partition::{PartitionEntry, PartitionMsg};

pub fn start(
    ctx: &Arc<BrokerCtx>,
    header: RequestHeader,
    request: DescribeProducersRequest,
) -> ResponseFuture {
    let ctx = ctx.clone();
    Box::pin(async move {
        let mut topics = Vec::with_capacity(request.topics.len());
        for topic in request.topics {
            let mut partitions = Vec::with_capacity(topic.partition_indexes.len());
            for index in topic.partition_indexes {
                partitions.push(describe(&ctx, &topic.name, index).await);
            }
            topics.push(
                TopicResponse::default()
                    .with_name(TopicName(StrBytes::from_string(topic.name)))
                    .with_partitions(partitions),
            );
        }
        reply(
            &header,
            &DescribeProducersResponse::default().with_topics(topics),
        )
    })
}

async fn describe(ctx: &BrokerCtx, topic: &str, partition: i32) -> PartitionResponse {
    let response = PartitionResponse::default().with_partition_index(partition);
    let image = ctx.image();
    if image
        .partition(topic, partition)
        .is_some_and(|p| p.leader != ctx.config.node_id)
    {
        return response.with_error_code(errors::NOT_LEADER_OR_FOLLOWER);
    }
    let handle = match ctx.partitions.lookup(topic, partition) {
        Some(PartitionEntry::Online(handle)) => handle,
        Some(PartitionEntry::Offline) => return response.with_error_code(errors::storage_error()),
        None => {
            let code = errors::missing_partition(&image, ctx.config.node_id, topic, partition);
            return response.with_error_code(code);
        }
    };
    let call = handle.actor.call(
        |reply| PartitionMsg::DescribeProducers { reply },
        Some(Duration::from_millis(ACTOR_CALL_TIMEOUT_MS)),
    );
    match call.await {
        Ok(CallResult::Success(producers)) => response.with_active_producers(
            producers
                .into_iter()
                .map(|p| {
                    ProducerState::default()
                        .with_producer_id(ProducerId(p.producer_id))
                        .with_producer_epoch(i32::from(p.epoch))
                        .with_last_sequence(p.last_sequence)
                        .with_last_timestamp(p.last_timestamp_ms)
                        .with_coordinator_epoch(-1)
                        .with_current_txn_start_offset(p.txn_start_offset.unwrap_or(-1))
                })
                .collect(),
        ),
        _ => response.with_error_code(errors::REQUEST_TIMED_OUT),
    }
}
