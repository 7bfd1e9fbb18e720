//! DeleteRecords: each partition's actor moves its log start offset (offset -1:
//! the high watermark) and answers the new low watermark. Requests reach the
//! actors during dispatch, so they are ordered with the connection's appends.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use ractor::RpcReplyPort;
use ractor::concurrency::{OneshotReceiver, oneshot};
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::DeleteRecordsRequest;
use weir_client::protocol::requests::delete_records::HIGH_WATERMARK;

use super::dispatch::ResponseFuture;
use super::encode::reply;
use super::{BrokerCtx, errors};
use crate::group::offsets::OFFSETS_TOPIC;
use crate::limits::ACTOR_CALL_TIMEOUT_MS;
use crate::partition::{PartitionEntry, PartitionError, PartitionMsg};

/// A partition's answer: known now, or awaited from its actor.
enum Pending {
    Ready(i16),
    Waiting(OneshotReceiver<Result<i64, PartitionError>>),
}

pub fn start(
    ctx: &Arc<BrokerCtx>,
    header: RequestHeader,
    request: DeleteRecordsRequest,
) -> ResponseFuture {
    let pending: Vec<(String, Vec<(i32, Pending)>)> = request
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    (
                        p.partition_index,
                        send(ctx, &t.name, p.partition_index, p.offset),
                    )
                })
                .collect();
            (t.name.clone(), partitions)
        })
        .collect();
    Box::pin(async move {
        let wait = Duration::from_millis(ACTOR_CALL_TIMEOUT_MS);
        let mut topics = Vec::with_capacity(pending.len());
        for (name, partitions) in pending {
            let mut results = Vec::with_capacity(partitions.len());
            for (index, pending) in partitions {
                let (code, low_watermark) = match pending {
                    Pending::Ready(code) => (code, -1),
                    Pending::Waiting(rx) => match tokio::time::timeout(wait, rx).await {
                        Ok(Ok(Ok(low_watermark))) => (errors::NONE, low_watermark),
                        Ok(Ok(Err(e))) => (errors::partition_error_code(&e), -1),
                        Ok(Err(_)) => (
                            errors::partition_error_code(&PartitionError::NotAvailable),
                            -1,
                        ),
                        Err(_) => (errors::REQUEST_TIMED_OUT, -1),
                    },
                };
                results.push(
                    DeleteRecordsPartitionResult::default()
                        .with_partition_index(index)
                        .with_low_watermark(low_watermark)
                        .with_error_code(code),
                );
            }
            topics.push(
                DeleteRecordsTopicResult::default()
                    .with_name(TopicName(StrBytes::from_string(name)))
                    .with_partitions(results),
            );
        }
        reply(
            &header,
            &DeleteRecordsResponse::default().with_topics(topics),
        )
    })
}

/// Casts the deletion to the partition's actor now (request order). As in
/// Kafka, an internal topic's records cannot be deleted (they are the groups'
/// committed offsets).
fn send(ctx: &BrokerCtx, topic: &str, partition: i32, offset: i64) -> Pending {
    if topic == OFFSETS_TOPIC {
        return Pending::Ready(errors::INVALID_TOPIC_EXCEPTION);
    }
    let handle = match ctx.partitions.lookup(topic, partition) {
        Some(PartitionEntry::Online(handle)) => handle,
        Some(PartitionEntry::Offline) => return Pending::Ready(errors::storage_error()),
        None => {
            let image = ctx.image();
            let code = errors::missing_partition(&image, ctx.config.node_id, topic, partition);
            return Pending::Ready(code);
        }
    };
    let offset = (offset != HIGH_WATERMARK).then_some(offset);
    let (tx, rx) = oneshot();
    let msg = PartitionMsg::DeleteRecords {
        offset,
        reply: RpcReplyPort::from(tx),
    };
    match handle.actor.cast(msg) {
        Ok(()) => Pending::Waiting(rx),
        Err(_) => Pending::Ready(errors::partition_error_code(&PartitionError::NotAvailable)),
    }
}
