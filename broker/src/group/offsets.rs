//! Committed offsets as records of the internal topic `__consumer_offsets`: the
//! key names (group, topic, partition), the value holds the commit, a null value
//! is a tombstone. Written through the normal partition log, so they are durable
//! (acks=all waits for the fsync) and replayed on coordinator start.

use std::collections::HashMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use weir_client::protocol::batch_encoder::{NewRecord, encode_batch};
use weir_client::protocol::records::batches;

use crate::log::{LogReader, ReadError};

/// Name of the internal offsets topic.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";
/// Bytes read per step when replaying an offsets partition.
const REPLAY_READ_BYTES: usize = 4 * 1024 * 1024;
/// Steps a replay takes at most (bounds a corrupt or endless log).
const REPLAY_STEPS_MAX: usize = 1_000_000;

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

/// Replays an offsets partition and returns `group`'s latest offsets.
pub fn load_group(reader: &LogReader, group: &str) -> Result<GroupOffsets, ReadError> {
    let mut offsets = GroupOffsets::new();
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
                    &mut offsets,
                    group,
                    record.key.as_deref(),
                    record.value.as_deref(),
                );
            }
        }
    }
    Ok(offsets)
}

fn apply_record(offsets: &mut GroupOffsets, group: &str, key: Option<&[u8]>, value: Option<&[u8]>) {
    let Some(key) = key.and_then(|k| postcard::from_bytes::<OffsetKey>(k).ok()) else {
        return;
    };
    if key.group != group {
        return;
    }
    let slot = (key.topic, key.partition);
    match value.and_then(|v| postcard::from_bytes::<OffsetValue>(v).ok()) {
        Some(value) => {
            offsets.insert(slot, value);
        }
        None => {
            offsets.remove(&slot);
        }
    }
}
