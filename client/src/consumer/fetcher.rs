//! The consumer's fetch task: one Fetch in flight per leader, decoded off the
//! application's path, queued (bounded) for `poll`. A partition's next fetch
//! starts as soon as its last answer arrived, not when it was consumed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{
    BrokerId, FetchRequest, ListOffsetsRequest, OffsetForLeaderEpochRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::mpsc;

use super::{ConsumerRecord, Fetched, IsolationLevel, Offset, Shared};
use crate::cluster::Cluster;
use crate::error::{ClientError, codes};
use crate::protocol::ApiKey;
use crate::protocol::compression::{Compression, decompress};
use crate::protocol::records::{BatchError, batches, records_of};
use crate::protocol::responses::fetch::AbortedTransaction;
use crate::protocol::responses::{
    FETCH_VERSION, FetchResponse, LIST_OFFSETS_VERSION, ListOffsetsResponse,
    OFFSET_FOR_LEADER_EPOCH_VERSION, OffsetForLeaderEpochResponse,
};

/// A partition to fetch.
#[derive(Debug, Clone)]
struct FetchTarget {
    topic: Arc<str>,
    partition: i32,
    /// Offset to fetch from.
    offset: i64,
    /// The position's seek epoch: answers for an older one are dropped.
    seek_epoch: u64,
    /// The partition's leader epoch in the metadata the fetch goes by: the
    /// leader fences a stale one (FENCED_LEADER_EPOCH).
    leader_epoch: i32,
}

/// What a fetched partition advances its position by.
struct Advance {
    /// The next offset to fetch.
    next: i64,
    high_watermark: i64,
    last_stable_offset: i64,
    /// The leader epoch of the last batch read (-1: none).
    last_epoch: i32,
}

const FETCH_KEY: i16 = ApiKey::Fetch as i16;
const LIST_OFFSETS_KEY: i16 = ApiKey::ListOffsets as i16;
const OFFSET_FOR_LEADER_EPOCH_KEY: i16 = ApiKey::OffsetForLeaderEpoch as i16;

/// Largest decompressed records section accepted from one batch.
const DECOMPRESSED_BATCH_BYTES_MAX: usize = 256 << 20;

/// The offset for `timestamp` (-2 earliest, -1 latest) of a partition, from
/// its leader, as a read_uncommitted consumer sees it.
pub async fn list_offset(
    cluster: &Cluster,
    topic: &str,
    partition: i32,
    timestamp: i64,
) -> Result<i64, ClientError> {
    list_offset_with(
        cluster,
        topic,
        partition,
        timestamp,
        IsolationLevel::ReadUncommitted,
    )
    .await
}

/// The offset for `timestamp` (-2 earliest, -1 latest) of a partition, from
/// its leader, for a consumer of `isolation` (read_committed's latest is the
/// last stable offset).
pub async fn list_offset_with(
    cluster: &Cluster,
    topic: &str,
    partition: i32,
    timestamp: i64,
    isolation: IsolationLevel,
) -> Result<i64, ClientError> {
    let mut last = ClientError::UnknownTopic(format!("{topic}-{partition}"));
    for attempt in 0..10u64 {
        let result = async {
            let meta = cluster.topic(topic).await?;
            let leader = meta
                .partitions
                .get(partition as usize)
                .map(|p| p.leader)
                .ok_or_else(|| ClientError::UnknownTopic(format!("{topic}-{partition}")))?;
            let conn = cluster.broker(leader).await?;
            let request = ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_isolation_level(isolation.as_i8())
                .with_topics(vec![
                    ListOffsetsTopic::default()
                        .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                        .with_partitions(vec![
                            ListOffsetsPartition::default()
                                .with_partition_index(partition)
                                .with_current_leader_epoch(-1)
                                .with_timestamp(timestamp),
                        ]),
                ]);
            let body = conn
                .call(LIST_OFFSETS_KEY, LIST_OFFSETS_VERSION, &request)
                .await?;
            let response = conn.decode(body, ListOffsetsResponse::decode)?;
            let p = response
                .topics
                .iter()
                .flat_map(|t| t.partitions.iter())
                .find(|p| p.partition_index == partition)
                .ok_or_else(|| ClientError::UnknownTopic(format!("{topic}-{partition}")))?;
            match ClientError::from_code(p.error_code, None) {
                Some(e) => Err(e),
                None => Ok(p.offset),
            }
        }
        .await;
        match result {
            Ok(offset) => return Ok(offset),
            Err(e) if e.is_retriable() => {
                cluster.invalidate(topic);
                last = e;
            }
            Err(e) => return Err(e),
        }
        tokio::time::sleep(Duration::from_millis(50 * (attempt + 1))).await;
    }
    Err(last)
}

/// The fetch loop; ends when the consumer is dropped.
pub(super) async fn run(shared: Arc<Shared>, out: mpsc::Sender<Fetched>) {
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<i32>();
    let mut busy: HashMap<i32, bool> = HashMap::new();
    while !shared.closed.load(Ordering::Acquire) {
        let wake = shared.wake.notified();
        let mut refresh = Vec::new();
        let mut by_leader: HashMap<i32, Vec<FetchTarget>> = HashMap::new();
        let mut validate = Vec::new();
        {
            let mut positions = shared.positions.lock();
            for ((topic, partition), pos) in positions.iter_mut() {
                if pos.paused || pos.in_flight {
                    continue;
                }
                let leader = shared.cluster.cached(topic).and_then(|m| {
                    let p = m.partitions.get(*partition as usize)?;
                    Some((p.leader, p.leader_epoch))
                });
                let Some((leader, leader_epoch)) = leader.filter(|l| l.0 >= 0) else {
                    refresh.push(topic.to_string());
                    continue;
                };
                let target = FetchTarget {
                    topic: topic.clone(),
                    partition: *partition,
                    offset: pos.fetch_at,
                    seek_epoch: pos.epoch,
                    leader_epoch,
                };
                // KIP-320: after a leader change, the new leader first
                // confirms that what was fetched is still its log.
                if leader_epoch > pos.leader_epoch && pos.last_fetched_epoch >= 0 {
                    pos.in_flight = true;
                    validate.push((leader, target, pos.last_fetched_epoch));
                    continue;
                }
                pos.leader_epoch = pos.leader_epoch.max(leader_epoch);
                if busy.get(&leader).copied().unwrap_or(false) {
                    continue;
                }
                pos.in_flight = true;
                by_leader.entry(leader).or_default().push(target);
            }
        }
        for (leader, target, last_fetched_epoch) in validate {
            let shared = shared.clone();
            tokio::spawn(async move {
                validate_position(&shared, leader, target, last_fetched_epoch).await;
            });
        }
        if !refresh.is_empty() {
            refresh.sort();
            refresh.dedup();
            let _ = shared.cluster.refresh(Some(&refresh)).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        for (leader, partitions) in by_leader {
            busy.insert(leader, true);
            let (shared, out, done) = (shared.clone(), out.clone(), done_tx.clone());
            tokio::spawn(async move {
                fetch_once(&shared, &out, leader, partitions).await;
                let _ = done.send(leader);
            });
        }
        tokio::select! {
            _ = wake => {}
            Some(leader) = done_rx.recv() => { busy.insert(leader, false); }
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        while let Ok(leader) = done_rx.try_recv() {
            busy.insert(leader, false);
        }
    }
}

/// One Fetch to `leader`, answers handed over per partition.
async fn fetch_once(
    shared: &Shared,
    out: &mpsc::Sender<Fetched>,
    leader: i32,
    partitions: Vec<FetchTarget>,
) {
    let config = &shared.config;
    let mut topics: Vec<FetchTopic> = Vec::new();
    for target in &partitions {
        let topic = &target.topic;
        let p = FetchPartition::default()
            .with_partition(target.partition)
            .with_current_leader_epoch(target.leader_epoch)
            .with_fetch_offset(target.offset)
            .with_last_fetched_epoch(-1)
            .with_log_start_offset(-1)
            .with_partition_max_bytes(config.max_partition_fetch_bytes);
        match topics
            .iter_mut()
            .find(|t| t.topic.0.as_str() == topic.as_ref())
        {
            Some(t) => t.partitions.push(p),
            None => topics.push(
                FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                    .with_partitions(vec![p]),
            ),
        }
    }
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(config.fetch_max_wait.as_millis().min(i32::MAX as u128) as i32)
        .with_min_bytes(config.fetch_min_bytes)
        .with_max_bytes(config.fetch_max_bytes)
        .with_isolation_level(config.isolation_level.as_i8())
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(topics);
    let answer = async {
        let conn = shared.cluster.broker(leader).await?;
        let body = conn.call(FETCH_KEY, FETCH_VERSION, &request).await?;
        let response = conn.decode(body, FetchResponse::decode)?;
        conn.throttle(response.throttle_time_ms);
        match ClientError::from_code(response.error_code, None) {
            Some(e) => Err(e),
            None => Ok(response),
        }
    }
    .await;
    let response = match answer {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(leader, error = %e, "fetch failed");
            release(shared, &partitions, None);
            for target in &partitions {
                shared.cluster.invalidate(&target.topic);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            return;
        }
    };
    for t in response.responses {
        for p in t.partitions {
            let Some(target) = partitions
                .iter()
                .find(|f| f.topic.as_ref() == t.topic && f.partition == p.partition_index)
                .cloned()
            else {
                continue;
            };
            let (topic, partition, offset, epoch) = (
                target.topic.clone(),
                target.partition,
                target.offset,
                target.seek_epoch,
            );
            let one = [target];
            match p.error_code {
                0 => {}
                codes::OFFSET_OUT_OF_RANGE => {
                    reset(shared, &topic, partition, epoch).await;
                    continue;
                }
                code => {
                    let e = ClientError::Kafka {
                        code,
                        message: None,
                    };
                    release(shared, &one, None);
                    if e.is_retriable() {
                        shared.cluster.invalidate(&topic);
                    } else {
                        let _ = out
                            .send(Fetched {
                                topic,
                                partition,
                                epoch,
                                records: Err(e),
                                next: offset,
                            })
                            .await;
                    }
                    continue;
                }
            }
            let aborted = match config.isolation_level {
                IsolationLevel::ReadCommitted => Some(p.aborted_transactions.unwrap_or_default()),
                IsolationLevel::ReadUncommitted => None,
            };
            let decoded = decode_records(
                &topic,
                partition,
                p.records.unwrap_or_default(),
                offset,
                aborted.as_deref(),
            );
            let (records, next) = match decoded {
                Ok(decoded) => {
                    let advance = Advance {
                        next: decoded.next,
                        high_watermark: p.high_watermark,
                        last_stable_offset: p.last_stable_offset,
                        last_epoch: decoded.last_epoch,
                    };
                    release(shared, &one, Some(advance));
                    (Ok(decoded.records), decoded.next)
                }
                Err(e) => {
                    release(shared, &one, None);
                    (Err(e), offset)
                }
            };
            // Nothing to hand over unless records came, or skipped batches
            // (markers, aborted transactions) move the position.
            let empty = matches!(&records, Ok(r) if r.is_empty()) && next <= offset;
            if !empty
                && out
                    .send(Fetched {
                        topic,
                        partition,
                        epoch,
                        records,
                        next,
                    })
                    .await
                    .is_err()
            {
                return;
            }
        }
    }
    // Partitions the answer did not mention may be fetched again.
    release(shared, &partitions, None);
    shared.wake.notify_one();
}

/// Ends the in-flight state of `partitions`; with `advance`, moves their fetch
/// position and records the high watermark, unless a seek (a newer epoch)
/// moved them meanwhile.
fn release(shared: &Shared, partitions: &[FetchTarget], advance: Option<Advance>) {
    let mut positions = shared.positions.lock();
    for target in partitions {
        if let Some(pos) = positions.get_mut(&(target.topic.clone(), target.partition)) {
            pos.in_flight = false;
            if let Some(advance) = &advance
                && pos.epoch == target.seek_epoch
            {
                pos.fetch_at = pos.fetch_at.max(advance.next);
                pos.high_watermark = advance.high_watermark;
                pos.last_stable_offset = advance.last_stable_offset;
                if advance.last_epoch >= 0 {
                    pos.last_fetched_epoch = advance.last_epoch;
                }
            }
        }
    }
}

/// KIP-320: asks the partition's new leader where the epoch of the last
/// fetched batch ends there. Ending below the fetch position means the log
/// was truncated under the consumer (an unclean election): it goes back to
/// where the logs agree, as Kafka's consumer does with a reset policy, rather
/// than skip records. Then fetching goes on under the new epoch.
async fn validate_position(
    shared: &Shared,
    leader: i32,
    target: FetchTarget,
    last_fetched_epoch: i32,
) {
    let request = OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            OffsetForLeaderTopic::default()
                .with_topic(TopicName(StrBytes::from_string(target.topic.to_string())))
                .with_partitions(vec![
                    OffsetForLeaderPartition::default()
                        .with_partition(target.partition)
                        .with_current_leader_epoch(target.leader_epoch)
                        .with_leader_epoch(last_fetched_epoch),
                ]),
        ]);
    let answer = async {
        let conn = shared.cluster.broker(leader).await?;
        let body = conn
            .call(
                OFFSET_FOR_LEADER_EPOCH_KEY,
                OFFSET_FOR_LEADER_EPOCH_VERSION,
                &request,
            )
            .await?;
        let response = conn.decode(body, OffsetForLeaderEpochResponse::decode)?;
        let end = response
            .topics
            .into_iter()
            .flat_map(|t| t.partitions)
            .find(|p| p.partition == target.partition)
            .ok_or_else(|| {
                ClientError::UnknownTopic(format!("{}-{}", target.topic, target.partition))
            })?;
        match ClientError::from_code(end.error_code, None) {
            Some(e) => Err(e),
            None => Ok(end.end_offset),
        }
    }
    .await;
    let mut positions = shared.positions.lock();
    let Some(pos) = positions.get_mut(&(target.topic.clone(), target.partition)) else {
        return;
    };
    pos.in_flight = false;
    if pos.epoch != target.seek_epoch {
        return; // sought meanwhile: nothing fetched to validate
    }
    match answer {
        Ok(end) => {
            pos.leader_epoch = target.leader_epoch;
            if end >= 0 && end < pos.fetch_at {
                tracing::warn!(topic = %target.topic, partition = target.partition, from = pos.fetch_at, to = end, "log truncated under the consumer (KIP-320); fetching from where the logs agree");
                *pos = super::PartitionPosition::at(end, pos.epoch + 1);
                pos.leader_epoch = target.leader_epoch;
            }
        }
        Err(e) => {
            tracing::debug!(topic = %target.topic, partition = target.partition, error = %e, "position validation failed; retrying");
            drop(positions);
            shared.cluster.invalidate(&target.topic);
        }
    }
    shared.wake.notify_one();
}

/// OFFSET_OUT_OF_RANGE: restart the partition where `auto.offset.reset` says.
async fn reset(shared: &Shared, topic: &Arc<str>, partition: i32, epoch: u64) {
    let timestamp = match shared.config.auto_offset_reset {
        Offset::End => -1,
        _ => -2,
    };
    let isolation = shared.config.isolation_level;
    let at = list_offset_with(&shared.cluster, topic, partition, timestamp, isolation).await;
    let mut positions = shared.positions.lock();
    if let Some(pos) = positions.get_mut(&(topic.clone(), partition)) {
        pos.in_flight = false;
        if pos.epoch != epoch {
            return; // sought meanwhile
        }
        if let Ok(at) = at {
            tracing::info!(topic = %topic, partition, from = pos.fetch_at, to = at, "offset out of range; reset");
            *pos = super::PartitionPosition::at(at, epoch + 1);
        }
    }
}

/// What a fetched record set holds at or after the fetch offset.
pub(crate) struct Decoded {
    pub(crate) records: Vec<ConsumerRecord>,
    /// The offset to fetch next.
    pub(crate) next: i64,
    /// The leader epoch of the last batch read (-1: none).
    pub(crate) last_epoch: i32,
}

/// The control record type of an ABORT marker (COMMIT is 1).
const CONTROL_TYPE_ABORT: i16 = 0;

/// The type of a control batch's marker: the second int16 of its first
/// record's key (control batches are never compressed).
fn control_type(view: &crate::protocol::records::RecordBatchView) -> Option<i16> {
    let record = view.records()?.next()?.ok()?;
    let key = record.key?;
    (key.len() >= 4).then(|| i16::from_be_bytes([key[2], key[3]]))
}

/// Kafka's read_committed filter over one fetched record set: the aborted
/// transactions the broker listed, by first offset, and the producers whose
/// aborted transaction is being read through (from its first offset up to
/// that producer's ABORT marker).
struct AbortedFilter<'a> {
    /// Sorted by first offset.
    aborted: Vec<&'a AbortedTransaction>,
    next: usize,
    producers: HashSet<i64>,
}

impl<'a> AbortedFilter<'a> {
    fn new(aborted: &'a [AbortedTransaction]) -> Self {
        let mut aborted: Vec<&AbortedTransaction> = aborted.iter().collect();
        aborted.sort_by_key(|a| a.first_offset);
        Self {
            aborted,
            next: 0,
            producers: HashSet::new(),
        }
    }

    /// Whether the batch belongs to an aborted transaction (the ABORT marker
    /// itself ends its producer's).
    fn skips(&mut self, view: &crate::protocol::records::RecordBatchView) -> bool {
        let producer = view.producer_id();
        if producer < 0 {
            return false;
        }
        let last = view.last_offset();
        while let Some(a) = self.aborted.get(self.next)
            && a.first_offset <= last
        {
            self.producers.insert(a.producer_id);
            self.next += 1;
        }
        if view.is_control() {
            if control_type(view) == Some(CONTROL_TYPE_ABORT) {
                self.producers.remove(&producer);
            }
            return false;
        }
        view.is_transactional() && self.producers.contains(&producer)
    }
}

/// The records of a fetched record set at or after `from`, and the offset to
/// fetch next. A partial batch at the end is normal (the broker cuts at
/// `max_bytes`); anything else invalid is an error. Control batches are never
/// returned; with `aborted` (read_committed: the answer's aborted
/// transactions) neither are the batches of aborted transactions.
pub(crate) fn decode_records(
    topic: &Arc<str>,
    partition: i32,
    set: Bytes,
    from: i64,
    aborted: Option<&[AbortedTransaction]>,
) -> Result<Decoded, ClientError> {
    let corrupt = |why: String| ClientError::Kafka {
        code: 2,
        message: Some(format!("{topic}-{partition}: {why}")),
    };
    let mut out = Vec::new();
    let mut next = from;
    let mut last_epoch = -1;
    let mut filter = aborted.map(AbortedFilter::new);
    for item in batches(&set) {
        let (view, _) = match item {
            Ok(v) => v,
            Err(BatchError::Truncated { .. }) => break,
            Err(e) => return Err(corrupt(e.to_string())),
        };
        // Every batch counts for the bookkeeping, also those before `from`.
        let aborted = filter.as_mut().is_some_and(|f| f.skips(&view));
        let last = view.last_offset();
        if last < from {
            continue;
        }
        next = next.max(last + 1);
        last_epoch = view.partition_leader_epoch();
        if view.is_control() || aborted {
            continue;
        }
        let codec =
            Compression::from_attributes(view.attributes()).map_err(|e| corrupt(e.to_string()))?;
        let records = if codec == Compression::None {
            records_of(view.records_bytes(), view.record_count())
        } else {
            let body = decompress(codec, &view.records_bytes(), DECOMPRESSED_BATCH_BYTES_MAX)
                .map_err(|e| corrupt(e.to_string()))?;
            records_of(Bytes::from(body), view.record_count())
        };
        let base = view.base_offset();
        let log_append_time = view.is_log_append_time().then(|| view.max_timestamp());
        let base_timestamp = view.base_timestamp();
        out.reserve(view.record_count().clamp(0, 1 << 16) as usize);
        for record in records {
            let record = record.map_err(|e| corrupt(e.to_string()))?;
            let offset = base + i64::from(record.offset_delta);
            if offset < from {
                continue;
            }
            out.push(ConsumerRecord {
                topic: topic.clone(),
                partition,
                offset,
                timestamp_ms: log_append_time.unwrap_or(base_timestamp + record.timestamp_delta),
                key: record.key,
                value: record.value,
                headers: record.headers,
            });
        }
    }
    Ok(Decoded {
        records: out,
        next,
        last_epoch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::producer::batch::BatchBuilder;
    use crate::protocol::records::RecordBatchView;

    fn batch_at(base: i64, codec: Compression, values: &[&str]) -> Vec<u8> {
        let mut b = BatchBuilder::new(256);
        for v in values {
            b.append(1_000, None, Some(v.as_bytes()), &[]);
        }
        let mut bytes = b.seal(codec, -1, -1, -1).unwrap().to_vec();
        bytes[..8].copy_from_slice(&base.to_be_bytes());
        bytes
    }

    #[test]
    fn records_from_an_offset_inside_a_batch_across_codecs_and_a_partial_tail() {
        let topic: Arc<str> = Arc::from("t");
        let mut set = batch_at(10, Compression::Lz4, &["a", "b", "c"]);
        set.extend(batch_at(13, Compression::Zstd, &["d"]));
        let tail = batch_at(14, Compression::None, &["e"]);
        set.extend_from_slice(&tail[..tail.len() - 3]);
        let decoded = decode_records(&topic, 0, Bytes::from(set), 11, None).unwrap();
        let (records, next) = (decoded.records, decoded.next);
        let got: Vec<_> = records
            .iter()
            .map(|r| (r.offset, r.value.as_deref().map(|v| v.to_vec())))
            .collect();
        assert_eq!(
            got,
            vec![
                (11, Some(b"b".to_vec())),
                (12, Some(b"c".to_vec())),
                (13, Some(b"d".to_vec()))
            ]
        );
        assert_eq!(next, 14);
        let mut bad = batch_at(0, Compression::None, &["x"]);
        bad[30] ^= 1;
        assert!(decode_records(&topic, 0, Bytes::from(bad), 0, None).is_err());
    }

    fn txn_batch(base: i64, producer_id: i64, values: &[&str]) -> Vec<u8> {
        let mut b = BatchBuilder::new(256);
        b.set_transactional(true);
        for v in values {
            b.append(1_000, None, Some(v.as_bytes()), &[]);
        }
        let mut bytes = b
            .seal(Compression::None, producer_id, 0, 0)
            .unwrap()
            .to_vec();
        bytes[..8].copy_from_slice(&base.to_be_bytes());
        bytes
    }

    /// A COMMIT or ABORT marker as a coordinator writes it.
    fn marker(base: i64, producer_id: i64, commit: bool) -> Vec<u8> {
        let mut b = BatchBuilder::new(64);
        let key = [0u8, 0, 0, u8::from(commit)];
        b.append(1_000, Some(&key), Some(&[0, 0, 0, 0, 0, 0]), &[]);
        let mut bytes = b
            .seal(Compression::None, producer_id, 0, -1)
            .unwrap()
            .to_vec();
        bytes[..8].copy_from_slice(&base.to_be_bytes());
        bytes[22] |= 0x30; // transactional, control
        let crc = crc32c::crc32c(&bytes[21..]);
        bytes[17..21].copy_from_slice(&crc.to_be_bytes());
        bytes
    }

    fn values(decoded: &Decoded) -> Vec<(i64, String)> {
        decoded
            .records
            .iter()
            .map(|r| {
                let v = r.value.as_deref().unwrap_or_default();
                (r.offset, String::from_utf8_lossy(v).into_owned())
            })
            .collect()
    }

    #[test]
    fn read_committed_drops_aborted_transactions_and_nobody_sees_markers() {
        let topic: Arc<str> = Arc::from("t");
        let mut set = txn_batch(0, 1, &["a0", "a1"]); // aborted below
        set.extend(txn_batch(2, 2, &["c0"]));
        set.extend(batch_at(3, Compression::None, &["n0"])); // no transaction
        set.extend(marker(4, 1, false));
        set.extend(marker(5, 2, true));
        set.extend(txn_batch(6, 1, &["c1"])); // producer 1 again, committed
        set.extend(marker(7, 1, true));
        set.extend(txn_batch(8, 3, &["x0"]));
        set.extend(marker(9, 3, false));
        let set = Bytes::from(set);
        let aborted = [
            AbortedTransaction {
                producer_id: 3,
                first_offset: 8,
            },
            AbortedTransaction {
                producer_id: 1,
                first_offset: 0,
            },
        ];
        let committed = decode_records(&topic, 0, set.clone(), 0, Some(&aborted)).unwrap();
        assert_eq!(
            values(&committed),
            vec![(2, "c0".into()), (3, "n0".into()), (6, "c1".into())]
        );
        assert_eq!(committed.next, 10);
        let all = decode_records(&topic, 0, set.clone(), 0, None).unwrap();
        let got: Vec<String> = values(&all).into_iter().map(|(_, v)| v).collect();
        assert_eq!(got, ["a0", "a1", "c0", "n0", "c1", "x0"]);
        assert_eq!(all.next, 10);
        // From inside the aborted batch, and past it.
        let from_1 = decode_records(&topic, 0, set.clone(), 1, Some(&aborted)).unwrap();
        assert_eq!(values(&from_1)[0], (2, "c0".into()));
        let from_5 = decode_records(&topic, 0, set.clone(), 5, Some(&aborted)).unwrap();
        assert_eq!(values(&from_5), vec![(6, "c1".into())]);
        // Only markers and aborted data: nothing to hand out, but the
        // position moves past them.
        let tail = Bytes::from([txn_batch(8, 3, &["x0"]), marker(9, 3, false)].concat());
        let skipped = decode_records(&topic, 0, tail, 8, Some(&aborted[..1])).unwrap();
        assert!(skipped.records.is_empty());
        assert_eq!(skipped.next, 10);
        assert_eq!(
            control_type(
                &RecordBatchView::parse(&Bytes::from(marker(0, 1, true)))
                    .unwrap()
                    .0
            ),
            Some(1)
        );
    }
}
