//! ListOffsets: earliest, latest and by-timestamp lookups on the shared log view.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::ListOffsetsRequest;
use weir_client::protocol::requests::list_offsets::ListOffsetsPartition;
use weir_client::protocol::requests::list_offsets::{EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};

use super::dispatch::ResponseFuture;
use super::encode::reply;
use super::{BrokerCtx, errors};
use crate::partition::PartitionEntry;

/// The replica id of a consumer's request.
const CONSUMER_REPLICA_ID: i32 = -1;
/// ListOffsets' isolation level for reading committed records only.
const READ_COMMITTED: i8 = 1;
/// Kafka's debugging replica id: answered by any replica, leader or not.
const DEBUGGING_REPLICA_ID: i32 = -2;

pub fn start(
    ctx: &Arc<BrokerCtx>,
    header: RequestHeader,
    request: ListOffsetsRequest,
) -> ResponseFuture {
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    lookup(
                        ctx,
                        (request.replica_id, request.isolation_level),
                        &topic.name,
                        p,
                    )
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(TopicName(StrBytes::from_string(topic.name.clone())))
                .with_partitions(partitions)
        })
        .collect();
    let body = ListOffsetsResponse::default().with_topics(topics);
    Box::pin(std::future::ready(reply(&header, &body)))
}

fn lookup(
    ctx: &BrokerCtx,
    (replica_id, isolation_level): (i32, i8),
    topic: &str,
    p: &ListOffsetsPartition,
) -> ListOffsetsPartitionResponse {
    let (partition, timestamp) = (p.partition_index, p.timestamp);
    let response = ListOffsetsPartitionResponse::default()
        .with_partition_index(partition)
        .with_timestamp(-1)
        .with_offset(-1);
    let image = ctx.image();
    let handle = match ctx.partitions.lookup(topic, partition) {
        Some(PartitionEntry::Online(handle)) => handle,
        Some(PartitionEntry::Offline) => return response.with_error_code(errors::storage_error()),
        None => {
            let code = errors::missing_partition(&image, ctx.config.node_id, topic, partition);
            return response.with_error_code(code);
        }
    };
    // Kafka answers only from the leader, except to its debugging replica id.
    if replica_id != DEBUGGING_REPLICA_ID {
        let Some(placed) = image.partition(topic, partition) else {
            return response.with_error_code(errors::unknown_topic_or_partition());
        };
        if let Some(code) =
            errors::leader_epoch_fencing(p.current_leader_epoch, placed.leader_epoch)
        {
            return response.with_error_code(code);
        }
        if placed.leader != ctx.config.node_id {
            return response.with_error_code(errors::NOT_LEADER_OR_FOLLOWER);
        }
    }
    let high_watermark = *handle.high_watermark.borrow();
    // read_committed's end of the log is the last stable offset.
    let latest = if isolation_level == READ_COMMITTED {
        *handle.last_stable.borrow()
    } else {
        high_watermark
    };
    // A new leader whose high watermark has not reached the start of its
    // epoch does not yet know where the committed log ends: a client asks
    // again (Kafka's OFFSET_NOT_AVAILABLE) rather than being sent backwards.
    let epoch_start = handle.epoch_start_offset.load(Ordering::Acquire);
    if replica_id == CONSUMER_REPLICA_ID && epoch_start > high_watermark {
        return response.with_error_code(errors::OFFSET_NOT_AVAILABLE);
    }
    match timestamp {
        LATEST_TIMESTAMP => response.with_offset(latest),
        EARLIEST_TIMESTAMP => response.with_offset(handle.reader.log_start_offset()),
        ts if ts >= 0 => match handle.reader.offset_for_timestamp(ts) {
            Ok(Some((offset, found_ts))) if offset < latest => {
                response.with_offset(offset).with_timestamp(found_ts)
            }
            Ok(_) => response,
            Err(e) => {
                tracing::warn!(topic, partition, error = %e, "timestamp lookup failed");
                response.with_error_code(errors::storage_error())
            }
        },
        _ => response.with_error_code(ResponseError::InvalidRequest.code()),
    }
}
