//! Committed offsets as records of the internal topic `__consumer_offsets`: the
//! key names (group, topic, partition), the value holds the commit, a null value
//! is a tombstone. Written through the normal partition log, so they are durable
//! (acks=all waits for the fsync) and replayed on coordinator start.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use ractor::RpcReplyPort;
use ractor::concurrency::oneshot;
use serde::{Deserialize, Serialize};
use weir_client::protocol::batch_encoder::{NewRecord, encode_batch};
use weir_client::protocol::records::batches;

use super::state::codes;
use crate::log::{LogReader, ReadError};
use crate::partition::{
    AppendOutcome, PartitionEntry, PartitionError, PartitionMsg, PartitionRegistry,
};

/// Name of the internal offsets topic.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";
/// Bytes read per step when replaying an offsets partition.
const REPLAY_READ_BYTES: usize = 4 * 1024 * 1024;
/// Steps a replay takes at most (bounds a corrupt or endless log).
const REPLAY_STEPS_MAX: usize = 1_000_000;
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
                version: 1,
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

/// Offsets of every group found in one offsets partition, by group id.
pub type PartitionOffsets = HashMap<String, GroupOffsets>;

/// Replays an offsets partition and returns `group`'s latest offsets.
pub fn load_group(reader: &LogReader, group: &str) -> Result<GroupOffsets, ReadError> {
    let mut all = load_partition(reader, Some(group))?;
    Ok(all.remove(group).unwrap_or_default())
}

/// Replays an offsets partition once and returns the latest offsets of every group
/// in it (or only of `only`). Groups whose offsets were all deleted are left out.
pub fn load_partition(
    reader: &LogReader,
    only: Option<&str>,
) -> Result<PartitionOffsets, ReadError> {
    let mut groups = PartitionOffsets::new();
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
            for record in view.records().into_iter().flatten().flatten() {
                apply_record(
                    &mut groups,
                    only,
                    record.key.as_deref(),
                    record.value.as_deref(),
                );
            }
        }
    }
    groups.retain(|_, offsets| !offsets.is_empty());
    Ok(groups)
}

fn apply_record(
    groups: &mut PartitionOffsets,
    only: Option<&str>,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) {
    let Some(key) = key.and_then(|k| postcard::from_bytes::<OffsetKey>(k).ok()) else {
        return;
    };
    if only.is_some_and(|group| key.group != group) {
        return;
    }
    let slot = (key.topic, key.partition);
    match value.and_then(|v| postcard::from_bytes::<OffsetValue>(v).ok()) {
        Some(value) => {
            groups.entry(key.group).or_default().insert(slot, value);
        }
        None => {
            if let Some(offsets) = groups.get_mut(&key.group) {
                offsets.remove(&slot);
            }
        }
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
    let Some(batch) = commit_batch(group, records, now_ms) else {
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
            Ok(_) => Err(codes::COORDINATOR_NOT_AVAILABLE),
            Err(_) => Err(codes::REQUEST_TIMED_OUT),
        }
    }
}

#[cfg(test)]
mod tests;
