//! OffsetForLeaderEpoch: where a leader epoch ends in a partition's log. Followers
//! ask it before they truncate; consumers ask it after a leader change to check
//! that their position was not truncated away (KIP-320). Answered from the shared
//! log view, by the partition's leader only (Kafka's `fetchOnlyFromLeader`).

use std::sync::Arc;

use bytes::BufMut;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::OffsetForLeaderEpochRequest;
use weir_client::protocol::requests::offset_for_leader_epoch::OffsetForLeaderPartition;

use super::dispatch::{Outcome, ResponseFuture};
use super::encode::{begin_frame, finish_frame, put_string, reply};
use super::{BrokerCtx, errors};
use crate::controller::MetadataImage;
use crate::log::LogReader;
use crate::partition::PartitionEntry;

#[cfg(test)]
mod tests;

/// First version kafka-protocol can encode; older ones are written by hand.
const FIRST_ENCODABLE_VERSION: i16 = 2;

/// Kafka's UNDEFINED_EPOCH: no epoch known (also the log's latest epoch when its
/// epoch cache is empty).
const UNDEFINED_EPOCH: i32 = -1;
/// Kafka's UNDEFINED_EPOCH_OFFSET: no end offset known.
const UNDEFINED_EPOCH_OFFSET: i64 = -1;

pub fn start(
    ctx: &Arc<BrokerCtx>,
    header: RequestHeader,
    request: OffsetForLeaderEpochRequest,
) -> ResponseFuture {
    let image = ctx.image();
    let topics: Vec<OffsetForLeaderTopicResult> = request
        .topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| lookup(ctx, &image, &topic.topic, p))
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(TopicName(StrBytes::from_string(topic.topic.clone())))
                .with_partitions(partitions)
        })
        .collect();
    let outcome = if header.api_version < FIRST_ENCODABLE_VERSION {
        reply_legacy(&header, &topics)
    } else {
        reply(
            &header,
            &OffsetForLeaderEpochResponse::default().with_topics(topics),
        )
    };
    Box::pin(std::future::ready(outcome))
}

/// One partition's answer, checked in Kafka's order: a partition not hosted here
/// is refused as unknown or led elsewhere, an offline one as a storage error; a
/// hosted one is fenced by the asker's current leader epoch, then refused unless
/// this broker leads it.
fn lookup(
    ctx: &BrokerCtx,
    image: &MetadataImage,
    topic: &str,
    p: &OffsetForLeaderPartition,
) -> EpochEndOffset {
    let answer = EpochEndOffset::default()
        .with_partition(p.partition)
        .with_leader_epoch(UNDEFINED_EPOCH)
        .with_end_offset(UNDEFINED_EPOCH_OFFSET);
    let node_id = ctx.config.node_id;
    let handle = match ctx.partitions.lookup(topic, p.partition) {
        Some(PartitionEntry::Online(handle)) => handle,
        Some(PartitionEntry::Offline) => return answer.with_error_code(errors::storage_error()),
        None => {
            let code = errors::missing_partition(image, node_id, topic, p.partition);
            return answer.with_error_code(code);
        }
    };
    // Still hosted, but gone from the metadata: a deleted topic.
    let Some(placed) = image.partition(topic, p.partition) else {
        return answer.with_error_code(errors::unknown_topic_or_partition());
    };
    if let Some(code) = errors::leader_epoch_fencing(p.current_leader_epoch, placed.leader_epoch) {
        return answer.with_error_code(code);
    }
    if placed.leader != node_id {
        return answer.with_error_code(errors::NOT_LEADER_OR_FOLLOWER);
    }
    let (leader_epoch, end_offset) = epoch_end(&handle.reader, p.leader_epoch, placed.leader_epoch);
    answer
        .with_error_code(errors::NONE)
        .with_leader_epoch(leader_epoch)
        .with_end_offset(end_offset)
}

/// Where `requested` ends, as Kafka's leader-epoch cache answers: the largest
/// epoch not above it and the start offset of the epoch after that, the log end
/// offset for the latest epoch, (-1, -1) above it.
///
/// Kafka records a new leader's epoch in the cache when it is elected, at the log
/// end offset; ours is recorded by the first batch written in it. So while the
/// leader's `current_epoch` (from the metadata image) has written nothing, it is
/// answered as if recorded: it, and every epoch between the log's latest and it,
/// ends at the log end (where the log's latest epoch ends).
fn epoch_end(reader: &LogReader, requested: i32, current_epoch: i32) -> (i32, i64) {
    let latest = reader.latest_epoch();
    let unwritten = latest < requested && requested <= current_epoch;
    if !unwritten {
        return reader.end_offset_for_epoch(requested);
    }
    if requested == current_epoch || latest == UNDEFINED_EPOCH {
        // The leader's own epoch, or one with no epoch below it in the log (which
        // Kafka answers with itself).
        return (requested, reader.log_end_offset());
    }
    // Read under the cache's lock: if an append just opened a newer epoch, the
    // latest one ends where that starts.
    let (_, end_offset) = reader.end_offset_for_epoch(latest);
    (latest, end_offset)
}

/// OffsetForLeaderEpoch response v0–1, which kafka-protocol 0.18 cannot encode:
/// no throttle time, and no leader epoch in v0.
fn reply_legacy(header: &RequestHeader, topics: &[OffsetForLeaderTopicResult]) -> Outcome {
    let v = header.api_version;
    let mut out = begin_frame(header.correlation_id, false);
    out.put_i32(topics.len() as i32);
    for topic in topics {
        put_string(&mut out, topic.topic.0.as_str());
        out.put_i32(topic.partitions.len() as i32);
        for p in &topic.partitions {
            out.put_i16(p.error_code);
            out.put_i32(p.partition);
            if v >= 1 {
                out.put_i32(p.leader_epoch);
            }
            out.put_i64(p.end_offset);
        }
    }
    finish_frame(&mut out);
    Outcome::Reply(out)
}
