//! Committed offsets and group metadata as records of the internal topic
//! `__consumer_offsets`. An offset record's key names (group, topic, partition)
//! and its value holds the commit; a group record's key names the group and its
//! value is the group's [`GroupSnapshot`]; a null value is a tombstone. Keys start
//! with their format version, which tells the two apart. Written through the
//! normal partition log, so they are durable (acks=all waits for the fsync), and
//! replayed once per partition at start.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use ractor::RpcReplyPort;
use ractor::concurrency::oneshot;
use serde::{Deserialize, Serialize};
use weir_client::protocol::batch_encoder::{NewRecord, encode_batch, encode_transactional_batch};
use weir_client::protocol::records::batches;

use super::state::{GroupSnapshot, codes};
use crate::log::{LogReader, ReadError};
use crate::partition::txns::{Marker, TxnCheck, marker_of};
use crate::partition::{
    AppendOutcome, PartitionEntry, PartitionError, PartitionMsg, PartitionRegistry,
};

pub use crate::controller::OFFSETS_TOPIC;

/// Bytes read per step when replaying an offsets partition.
const REPLAY_READ_BYTES: usize = 4 * 1024 * 1024;
/// Steps a replay takes at most (bounds a corrupt or endless log).
const REPLAY_STEPS_MAX: usize = 1_000_000;
/// INVALID_PRODUCER_EPOCH.
const INVALID_PRODUCER_EPOCH: i16 = 47;
/// Longest an offsets append waits to become durable.
const APPEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Key of an offset commit record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OffsetKey {
    /// Record format version.
    pub version: u16,
    /// Group id.
    pub group: String,
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
}

/// Version of offset record keys.
const OFFSET_KEY_VERSION: u16 = 1;
/// Version of group metadata record keys.
const GROUP_KEY_VERSION: u16 = 2;

/// Key of a group metadata record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GroupKey {
    /// Record format version ([`GROUP_KEY_VERSION`]).
    pub version: u16,
    /// Group id.
    pub group: String,
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetValue {
    /// Next offset to consume.
    pub offset: i64,
    /// Leader epoch of the last consumed record (-1 unknown).
    pub leader_epoch: i32,
    /// Client metadata.
    pub metadata: Option<String>,
    /// When the commit was made (ms), for retention.
    pub commit_timestamp_ms: i64,
}

/// Offsets of one group, by (topic, partition).
pub type GroupOffsets = HashMap<(String, i32), OffsetValue>;

/// What a replay found of one group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadedGroup {
    /// Committed offsets.
    pub offsets: GroupOffsets,
    /// The last stored group metadata.
    pub snapshot: Option<GroupSnapshot>,
    /// Offsets committed by open transactions (TxnOffsetCommit), by producer
    /// id: they count once the transaction's COMMIT marker is written.
    pub pending: PendingTxnOffsets,
}

/// Offsets of open transactions by producer id.
pub type PendingTxnOffsets = HashMap<i64, GroupOffsets>;

impl LoadedGroup {
    /// Whether anything worth keeping is left: offsets, members, or offsets
    /// of open transactions.
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
            && self.pending.is_empty()
            && self.snapshot.as_ref().is_none_or(|s| s.members.is_empty())
    }

    /// A transaction of `producer_id` ended: its offsets count (commit) or go.
    pub fn complete_txn(&mut self, producer_id: i64, commit: bool) {
        if let Some(offsets) = self.pending.remove(&producer_id)
            && commit
        {
            self.offsets.extend(offsets);
        }
    }
}

/// The `__consumer_offsets` partition that holds `group` (Kafka: hash mod N).
pub fn partition_for(group: &str, partitions: i32) -> i32 {
    (crc32c::crc32c(group.as_bytes()) % partitions.max(1) as u32) as i32
}

/// A batch holding `commits` (a `None` value deletes that offset).
pub fn commit_batch(
    group: &str,
    commits: &[((String, i32), Option<OffsetValue>)],
    now_ms: i64,
) -> Option<Bytes> {
    let records: Vec<NewRecord> = commits
        .iter()
        .map(|((topic, partition), value)| {
            let key = OffsetKey {
                version: OFFSET_KEY_VERSION,
                group: group.to_owned(),
                topic: topic.clone(),
                partition: *partition,
            };
            NewRecord {
                key: postcard::to_stdvec(&key).ok().map(Bytes::from),
                value: value
                    .as_ref()
                    .and_then(|v| postcard::to_stdvec(v).ok())
                    .map(Bytes::from),
                timestamp_ms: now_ms,
            }
        })
        .collect();
    encode_batch(&records)
}

/// A transactional batch (part of `producer_id`'s transaction) holding
/// `commits`, as TxnOffsetCommit writes them.
pub fn txn_commit_batch(
    group: &str,
    commits: &[((String, i32), OffsetValue)],
    (producer_id, producer_epoch): (i64, i16),
    now_ms: i64,
) -> Option<Bytes> {
    let records: Vec<NewRecord> = commits
        .iter()
        .map(|((topic, partition), value)| {
            let key = OffsetKey {
                version: OFFSET_KEY_VERSION,
                group: group.to_owned(),
                topic: topic.clone(),
                partition: *partition,
            };
            NewRecord {
                key: postcard::to_stdvec(&key).ok().map(Bytes::from),
                value: postcard::to_stdvec(value).ok().map(Bytes::from),
                timestamp_ms: now_ms,
            }
        })
        .collect();
    encode_transactional_batch(&records, producer_id, producer_epoch)
}

/// What a replay found of every group in one offsets partition, by group id.
pub type PartitionGroups = HashMap<String, LoadedGroup>;

/// A batch holding `group`'s metadata record (`None`: its tombstone).
pub fn snapshot_batch(group: &str, snapshot: Option<&GroupSnapshot>, now_ms: i64) -> Option<Bytes> {
    let key = GroupKey {
        version: GROUP_KEY_VERSION,
        group: group.to_owned(),
    };
    let record = NewRecord {
        key: postcard::to_stdvec(&key).ok().map(Bytes::from),
        value: snapshot
            .and_then(|s| postcard::to_stdvec(s).ok())
            .map(Bytes::from),
        timestamp_ms: now_ms,
    };
    encode_batch(&[record])
}

/// Replays an offsets partition and returns what it holds of `group`.
pub fn load_group(reader: &LogReader, group: &str) -> Result<LoadedGroup, ReadError> {
    let mut all = load_partition(reader, Some(group))?;
    Ok(all.remove(group).unwrap_or_default())
}

/// Replays an offsets partition once and returns the latest offsets and metadata
/// of every group in it (or only of `only`). Groups with neither offsets nor
/// members left are left out.
pub fn load_partition(
    reader: &LogReader,
    only: Option<&str>,
) -> Result<PartitionGroups, ReadError> {
    let mut groups = PartitionGroups::new();
    let mut position = reader.log_start_offset();
    for _ in 0..REPLAY_STEPS_MAX {
        let end = reader.log_end_offset();
        if position >= end {
            break;
        }
        let read = reader.read(position, REPLAY_READ_BYTES, end, true)?;
        if read.records.is_empty() {
            break;
        }
        for (view, _) in batches(&read.records).flatten() {
            position = view.base_offset() + i64::from(view.last_offset_delta()) + 1;
            if view.is_control() {
                if let Some(marker) = marker_of(&view) {
                    let commit = marker == Marker::Commit;
                    for group in groups.values_mut() {
                        group.complete_txn(view.producer_id(), commit);
                    }
                }
                continue;
            }
            let txn = view.is_transactional().then(|| view.producer_id());
            for record in view.records().into_iter().flatten().flatten() {
                apply_record(
                    &mut groups,
                    (only, txn),
                    record.key.as_deref(),
                    record.value.as_deref(),
                );
            }
        }
    }
    groups.retain(|_, group| !group.is_empty());
    Ok(groups)
}

/// Applies one record; a record of an open transaction (`txn`: its
/// producer) is held as pending until the transaction's marker.
fn apply_record(
    groups: &mut PartitionGroups,
    (only, txn): (Option<&str>, Option<i64>),
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) {
    let Some(key) = key else { return };
    let Ok((version, _)) = postcard::take_from_bytes::<u16>(key) else {
        return;
    };
    match version {
        OFFSET_KEY_VERSION => {
            let Ok(key) = postcard::from_bytes::<OffsetKey>(key) else {
                return;
            };
            if only.is_some_and(|group| key.group != group) {
                return;
            }
            let slot = (key.topic, key.partition);
            let value = value.and_then(|v| postcard::from_bytes::<OffsetValue>(v).ok());
            if let (Some(producer_id), Some(value)) = (txn, &value) {
                let group = groups.entry(key.group).or_default();
                let pending = group.pending.entry(producer_id).or_default();
                pending.insert(slot, value.clone());
                return;
            }
            match value {
                Some(value) => {
                    let group = groups.entry(key.group).or_default();
                    group.offsets.insert(slot, value);
                }
                None => {
                    if let Some(group) = groups.get_mut(&key.group) {
                        group.offsets.remove(&slot);
                    }
                }
            }
        }
        GROUP_KEY_VERSION => {
            let Ok(key) = postcard::from_bytes::<GroupKey>(key) else {
                return;
            };
            if only.is_some_and(|group| key.group != group) {
                return;
            }
            let snapshot = value.and_then(|v| postcard::from_bytes::<GroupSnapshot>(v).ok());
            match snapshot {
                Some(snapshot) => groups.entry(key.group).or_default().snapshot = Some(snapshot),
                None => {
                    if let Some(group) = groups.get_mut(&key.group) {
                        group.snapshot = None;
                    }
                }
            }
        }
        _ => {}
    }
}

/// The offsets of a group that has been empty since `empty_since_ms` that are
/// past `retention_ms` at `now_ms` (Kafka, KIP-211: the clock starts at the later
/// of the commit and the group becoming empty).
pub fn expired(
    offsets: &GroupOffsets,
    empty_since_ms: i64,
    retention_ms: i64,
    now_ms: i64,
) -> Vec<(String, i32)> {
    let mut keys: Vec<_> = offsets
        .iter()
        .filter(|(_, v)| {
            v.commit_timestamp_ms
                .max(empty_since_ms)
                .saturating_add(retention_ms)
                <= now_ms
        })
        .map(|(k, _)| k.clone())
        .collect();
    keys.sort();
    keys
}

/// Appends `records` (a `None` value deletes that offset) for `group` to its offsets
/// partition with acks=all, so it returns once they are durable; or the Kafka
/// error code.
pub async fn append(
    registry: &PartitionRegistry,
    offsets_partitions: i32,
    group: &str,
    records: &[((String, i32), Option<OffsetValue>)],
    now_ms: i64,
) -> Result<(), i16> {
    submit(registry, offsets_partitions, group, records, now_ms)?
        .durable()
        .await
}

/// An append handed to the offsets partition, not yet durable.
pub struct PendingAppend {
    /// The partition's answer; `None` when there was nothing to write.
    answer: Option<AppendAnswer>,
}

type AppendAnswer = ractor::concurrency::OneshotReceiver<Result<AppendOutcome, PartitionError>>;

/// Casts the append to the offsets partition now (so appends of one caller reach
/// the log in call order) without waiting for it.
pub fn submit(
    registry: &PartitionRegistry,
    offsets_partitions: i32,
    group: &str,
    records: &[((String, i32), Option<OffsetValue>)],
    now_ms: i64,
) -> Result<PendingAppend, i16> {
    let batch = commit_batch(group, records, now_ms);
    submit_batch(registry, offsets_partitions, group, batch)
}

/// Casts `batch` (records of `group`) to the group's offsets partition.
pub fn submit_batch(
    registry: &PartitionRegistry,
    offsets_partitions: i32,
    group: &str,
    batch: Option<Bytes>,
) -> Result<PendingAppend, i16> {
    let Some(batch) = batch else {
        return Ok(PendingAppend { answer: None });
    };
    let partition = partition_for(group, offsets_partitions);
    let Some(PartitionEntry::Online(handle)) = registry.lookup(OFFSETS_TOPIC, partition) else {
        return Err(codes::COORDINATOR_NOT_AVAILABLE);
    };
    let (tx, rx) = oneshot();
    let append = PartitionMsg::Append {
        records: batch,
        acks: -1,
        // A transaction's offsets are verified by the coordinator's
        // AddOffsetsToTxn before TxnOffsetCommit gets here.
        check: TxnCheck::Off,
        reply: RpcReplyPort::from(tx),
    };
    if handle.actor.cast(append).is_err() {
        return Err(codes::COORDINATOR_NOT_AVAILABLE);
    }
    Ok(PendingAppend { answer: Some(rx) })
}

impl PendingAppend {
    /// Waits (bounded) until the append is durable.
    pub async fn durable(self) -> Result<(), i16> {
        let Some(rx) = self.answer else {
            return Ok(());
        };
        match tokio::time::timeout(APPEND_TIMEOUT, rx).await {
            Ok(Ok(Ok(_))) => Ok(()),
            // A transactional commit of a fenced producer (TxnOffsetCommit).
            Ok(Ok(Err(PartitionError::InvalidProducerEpoch(_)))) => Err(INVALID_PRODUCER_EPOCH),
            Ok(_) => Err(codes::COORDINATOR_NOT_AVAILABLE),
            Err(_) => Err(codes::REQUEST_TIMED_OUT),
        }
    }
}

#[cfg(test)]
mod tests;
