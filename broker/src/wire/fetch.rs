//! Fetch: reads straight from the partitions' shared log views (never through a
//! partition mailbox) and parks on their high-watermark watches for long polls.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::select_all;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchResponse, TopicName};
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
use crate::partition::PartitionEntry;

/// One partition's read, before encoding.
struct PartitionRead {
    /// Partition index.
    partition: i32,
    /// Kafka error code.
    error_code: i16,
    /// High watermark at read time (-1 on error).
    high_watermark: i64,
    /// Log start offset at read time (-1 on error).
    log_start_offset: i64,
    /// Whole batches read (empty, never null).
    records: Bytes,
}

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
            let has_error = reads
                .iter()
                .flat_map(|(_, ps)| ps)
                .any(|p| p.error_code != errors::NONE);
            let satisfied = bytes >= request.min_bytes.max(1) as usize || has_error;
            if satisfied || Instant::now() >= deadline || watches.is_empty() {
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
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            if image
                .partition(&topic.topic, p.partition)
                .is_some_and(|i| i.leader != ctx.config.node_id)
            {
                partitions.push(failed(p.partition, errors::NOT_LEADER_OR_FOLLOWER));
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
            // Marking the value seen here means any append after this read wakes us.
            let mut watch = handle.high_watermark.clone();
            let high_watermark = *watch.borrow_and_update();
            let read = handle
                .reader
                .read(p.fetch_offset, max_bytes, high_watermark, min_one);
            let log_start_offset = handle.reader.log_start_offset();
            let result = match read {
                Ok(read) => {
                    budget = budget.saturating_sub(read.records.len());
                    PartitionRead {
                        partition: p.partition,
                        error_code: errors::NONE,
                        high_watermark,
                        log_start_offset,
                        records: read.records,
                    }
                }
                Err(ReadError::OffsetOutOfRange { .. }) => PartitionRead {
                    high_watermark,
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
        log_start_offset: -1,
        records: Bytes::new(),
    }
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
                    PartitionData::default()
                        .with_partition_index(p.partition)
                        .with_error_code(p.error_code)
                        .with_high_watermark(p.high_watermark)
                        // No transactions: the last stable offset is the high watermark.
                        .with_last_stable_offset(p.high_watermark)
                        .with_log_start_offset(p.log_start_offset)
                        .with_aborted_transactions(Some(Vec::new()))
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
