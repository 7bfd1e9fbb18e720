//! Fetch: reads straight from the partitions' shared log views (never through a
//! partition mailbox) and parks on their high-watermark watches for long polls.
//!
//! A follower's fetch (`replica_id` = its broker id) reads up to the log end
//! instead, parks on the log-end watch, tells the partition actor how far the
//! follower has got (its fetch offset), and is answered with a diverging
//! epoch when the follower's last fetched epoch ends earlier here.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::select_all;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, EpochEndOffset, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{FetchResponse, ProducerId, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::watch;
use tokio::time::Instant;
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::FetchRequest;

use super::dispatch::ResponseFuture;
use super::encode::reply;
use super::{BrokerCtx, errors};
use crate::limits::FETCH_WAIT_MS_MAX;
use crate::log::ReadError;
use crate::metrics::record_count;
use crate::partition::{PartitionEntry, PartitionMsg};

/// One partition's read, before encoding.
struct PartitionRead {
    /// Partition index.
    partition: i32,
    /// Kafka error code.
    error_code: i16,
    /// High watermark at read time (-1 on error).
    high_watermark: i64,
    /// Last stable offset at read time (-1 on error).
    last_stable_offset: i64,
    /// For read_committed: the aborted transactions (producer id, first
    /// offset) the records read overlap.
    aborted: Vec<(i64, i64)>,
    /// Log start offset at read time (-1 on error).
    log_start_offset: i64,
    /// Whole batches read (empty, never null).
    records: Bytes,
    /// For a follower whose log diverges: the largest epoch both know of and
    /// where it ends here.
    diverging: Option<(i32, i64)>,
}

/// Fetch's API key.
const API_KEY: i16 = 1;

/// Fetch's isolation level for reading committed records only.
const READ_COMMITTED: i8 = 1;

/// How soon a parked fetch looks again when a partition it waits on restarts.
const RESTART_POLL: Duration = Duration::from_millis(20);

/// One topic's reads.
type TopicReads = (String, Vec<PartitionRead>);

pub fn start(ctx: &Arc<BrokerCtx>, header: RequestHeader, request: FetchRequest) -> ResponseFuture {
    let ctx = ctx.clone();
    Box::pin(async move {
        let wait_ms = (request.max_wait_ms.max(0) as u64).min(FETCH_WAIT_MS_MAX);
        let deadline = Instant::now() + Duration::from_millis(wait_ms);
        loop {
            let (reads, watches) = read_all(&ctx, &request);
            let bytes: usize = reads
                .iter()
                .flat_map(|(_, ps)| ps)
                .map(|p| p.records.len())
                .sum();
            // An error or a diverging epoch is answered at once.
            let has_error = reads
                .iter()
                .flat_map(|(_, ps)| ps)
                .any(|p| p.error_code != errors::NONE || p.diverging.is_some());
            let satisfied = bytes >= request.min_bytes.max(1) as usize || has_error;
            if satisfied || Instant::now() >= deadline || watches.is_empty() {
                for (topic, partitions) in &reads {
                    let bytes = partitions.iter().map(|p| p.records.len() as u64).sum();
                    let records = partitions.iter().map(|p| record_count(&p.records)).sum();
                    ctx.metrics.fetched(topic, records, bytes);
                    for p in partitions {
                        ctx.metrics.error(API_KEY, p.error_code);
                    }
                }
                return reply(&header, &response(reads));
            }
            wait_for_data(watches, deadline).await;
        }
    })
}

/// Reads every requested partition within the request's byte budget. Returns the
/// reads and the watches to park on.
fn read_all(
    ctx: &BrokerCtx,
    request: &FetchRequest,
) -> (Vec<TopicReads>, Vec<watch::Receiver<i64>>) {
    let mut budget = request.max_bytes.max(0) as usize;
    let mut watches = Vec::new();
    let image = ctx.image();
    let follower = (request.replica_id >= 0).then_some(request.replica_id);
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let assignment = image.partition(&topic.topic, p.partition);
            if assignment.is_some_and(|i| i.leader != ctx.config.node_id)
                || follower.is_some_and(|r| assignment.is_none_or(|i| !i.replicas.contains(&r)))
            {
                partitions.push(failed(p.partition, errors::NOT_LEADER_OR_FOLLOWER));
                continue;
            }
            // KIP-320: a client or follower on another leader epoch is told so.
            if let Some(current) = assignment.map(|i| i.leader_epoch)
                && p.current_leader_epoch >= 0
                && p.current_leader_epoch != current
            {
                let code = if p.current_leader_epoch < current {
                    ResponseError::FencedLeaderEpoch.code()
                } else {
                    ResponseError::UnknownLeaderEpoch.code()
                };
                partitions.push(failed(p.partition, code));
                continue;
            }
            let handle = match ctx.partitions.lookup(&topic.topic, p.partition) {
                Some(PartitionEntry::Online(handle)) => handle,
                Some(PartitionEntry::Offline) => {
                    partitions.push(failed(p.partition, errors::storage_error()));
                    continue;
                }
                None => {
                    let code = errors::missing_partition(
                        &image,
                        ctx.config.node_id,
                        &topic.topic,
                        p.partition,
                    );
                    partitions.push(failed(p.partition, code));
                    continue;
                }
            };
            // KIP-74: until something has been returned, the first batch comes back
            // whole even when larger than the limits.
            let min_one = budget == request.max_bytes.max(0) as usize;
            let max_bytes = budget.min(p.partition_max_bytes.max(0) as usize);
            // Marking the value seen here means any append after this read
            // wakes us: consumers wait for the high watermark, followers for
            // the log end.
            let high_watermark = *handle.high_watermark.borrow();
            let last_stable_offset = *handle.last_stable.borrow();
            let (watch, limit) = match follower {
                Some(replica) => {
                    let _ = handle.actor.cast(PartitionMsg::FollowerFetched {
                        replica,
                        fetch_offset: p.fetch_offset,
                    });
                    let mut watch = handle.log_end.clone();
                    let end = *watch.borrow_and_update();
                    (watch, end)
                }
                // read_committed reads below the last stable offset only.
                None if request.isolation_level == READ_COMMITTED => {
                    let mut watch = handle.last_stable.clone();
                    let lso = *watch.borrow_and_update();
                    (watch, lso)
                }
                None => {
                    let mut watch = handle.high_watermark.clone();
                    let hw = *watch.borrow_and_update();
                    (watch, hw)
                }
            };
            if follower.is_some()
                && let Some(diverging) = diverging_epoch(&handle.reader, p)
            {
                partitions.push(PartitionRead {
                    partition: p.partition,
                    error_code: errors::NONE,
                    high_watermark,
                    last_stable_offset,
                    aborted: Vec::new(),
                    log_start_offset: handle.reader.log_start_offset(),
                    records: Bytes::new(),
                    diverging: Some(diverging),
                });
                continue;
            }
            let read = handle
                .reader
                .read(p.fetch_offset, max_bytes, limit, min_one);
            let log_start_offset = handle.reader.log_start_offset();
            let result = match read {
                Ok(read) => {
                    budget = budget.saturating_sub(read.records.len());
                    let aborted = match end_offset(&read.records) {
                        Some(end)
                            if follower.is_none() && request.isolation_level == READ_COMMITTED =>
                        {
                            handle.aborted.overlapping(p.fetch_offset, end)
                        }
                        _ => Vec::new(),
                    };
                    PartitionRead {
                        partition: p.partition,
                        error_code: errors::NONE,
                        high_watermark,
                        last_stable_offset,
                        aborted,
                        log_start_offset,
                        records: read.records,
                        diverging: None,
                    }
                }
                Err(ReadError::OffsetOutOfRange { .. }) => PartitionRead {
                    high_watermark,
                    last_stable_offset,
                    log_start_offset,
                    ..failed(p.partition, ResponseError::OffsetOutOfRange.code())
                },
                Err(e) => {
                    tracing::warn!(topic = %topic.topic, partition = p.partition, error = %e, "fetch read failed");
                    failed(p.partition, errors::storage_error())
                }
            };
            watches.push(watch);
            partitions.push(result);
        }
        topics.push((topic.topic.clone(), partitions));
    }
    (topics, watches)
}

fn failed(partition: i32, error_code: i16) -> PartitionRead {
    PartitionRead {
        partition,
        error_code,
        high_watermark: -1,
        last_stable_offset: -1,
        aborted: Vec::new(),
        log_start_offset: -1,
        records: Bytes::new(),
        diverging: None,
    }
}

/// Kafka's check of a follower's fetch: when the epoch of its last fetched
/// batch ends here before its fetch offset (or is unknown here), the logs
/// diverge, and the answer is the largest epoch this log has up to it and
/// where that epoch ends.
fn diverging_epoch(
    reader: &crate::log::LogReader,
    p: &weir_client::protocol::requests::fetch::FetchPartition,
) -> Option<(i32, i64)> {
    if p.last_fetched_epoch < 0 {
        return None;
    }
    let (epoch, end_offset) = reader.end_offset_for_epoch(p.last_fetched_epoch);
    (end_offset < p.fetch_offset || epoch < p.last_fetched_epoch).then_some((epoch, end_offset))
}

/// The offset after the last whole batch of `records` (read from the
/// headers alone: the log wrote them, they need no checking here).
fn end_offset(records: &Bytes) -> Option<i64> {
    let header = |at: usize, len: usize| records.get(at..at + len);
    let mut position = 0;
    let mut end = None;
    while let (Some(base), Some(length), Some(delta)) = (
        header(position, 8),
        header(position + 8, 4),
        header(position + 23, 4),
    ) {
        let base = i64::from_be_bytes(base.try_into().ok()?);
        let length = i32::from_be_bytes(length.try_into().ok()?);
        let delta = i32::from_be_bytes(delta.try_into().ok()?);
        let total = 12 + length.max(0) as usize;
        if position + total > records.len() {
            break;
        }
        end = Some(base + i64::from(delta) + 1);
        position += total;
    }
    end
}

/// Parks until any watched high watermark moves or the deadline passes.
async fn wait_for_data(mut watches: Vec<watch::Receiver<i64>>, deadline: Instant) {
    let changed = select_all(watches.iter_mut().map(|w| Box::pin(w.changed())));
    if let Ok((Err(_), _, _)) = tokio::time::timeout_at(deadline, changed).await {
        // That partition's actor is gone (restarting): don't spin, look again soon.
        tokio::time::sleep_until(deadline.min(Instant::now() + RESTART_POLL)).await;
    }
}

fn response(reads: Vec<TopicReads>) -> FetchResponse {
    let responses = reads
        .into_iter()
        .map(|(topic, partitions)| {
            let partitions = partitions
                .into_iter()
                .map(|p| {
                    let diverging = p.diverging.map_or_else(EpochEndOffset::default, |(e, o)| {
                        EpochEndOffset::default().with_epoch(e).with_end_offset(o)
                    });
                    PartitionData::default()
                        .with_diverging_epoch(diverging)
                        .with_partition_index(p.partition)
                        .with_error_code(p.error_code)
                        .with_high_watermark(p.high_watermark)
                        .with_last_stable_offset(p.last_stable_offset)
                        .with_log_start_offset(p.log_start_offset)
                        .with_aborted_transactions(Some(
                            p.aborted
                                .into_iter()
                                .map(|(producer_id, first_offset)| {
                                    AbortedTransaction::default()
                                        .with_producer_id(ProducerId(producer_id))
                                        .with_first_offset(first_offset)
                                })
                                .collect(),
                        ))
                        .with_records(Some(p.records))
                })
                .collect();
            FetchableTopicResponse::default()
                .with_topic(TopicName(StrBytes::from_string(topic)))
                .with_partitions(partitions)
        })
        .collect();
    FetchResponse::default()
        .with_error_code(errors::NONE)
        .with_session_id(0)
        .with_responses(responses)
}
