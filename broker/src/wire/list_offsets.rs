//! ListOffsets: earliest, latest and by-timestamp lookups on the shared log view.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::ListOffsetsRequest;
use weir_client::protocol::requests::list_offsets::{EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};

use super::dispatch::ResponseFuture;
use super::encode::reply;
use super::{BrokerCtx, errors};
use crate::partition::PartitionEntry;

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
                .map(|p| lookup(ctx, &topic.name, p.partition_index, p.timestamp))
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
    topic: &str,
    partition: i32,
    timestamp: i64,
) -> ListOffsetsPartitionResponse {
    let response = ListOffsetsPartitionResponse::default()
        .with_partition_index(partition)
        .with_timestamp(-1)
        .with_offset(-1);
    let handle = match ctx.partitions.lookup(topic, partition) {
        Some(PartitionEntry::Online(handle)) => handle,
        Some(PartitionEntry::Offline) => return response.with_error_code(errors::storage_error()),
        None => {
            let image = ctx.image();
            let code = errors::missing_partition(&image, ctx.config.node_id, topic, partition);
            return response.with_error_code(code);
        }
    };
    // Without transactions the last stable offset equals the high watermark, so
    // both isolation levels get the same answer.
    let high_watermark = *handle.high_watermark.borrow();
    match timestamp {
        LATEST_TIMESTAMP => response.with_offset(high_watermark),
        EARLIEST_TIMESTAMP => response.with_offset(handle.reader.log_start_offset()),
        ts if ts >= 0 => match handle.reader.offset_for_timestamp(ts) {
            Ok(Some((offset, found_ts))) if offset < high_watermark => {
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
