//! Fetch response (v12).

use bytes::Bytes;

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// Fetch response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchResponse {
    /// Quota throttle in milliseconds.
    pub throttle_time_ms: i32,
    /// Top-level error, 0 if none.
    pub error_code: i16,
    /// Fetch session id, 0 outside a session.
    pub session_id: i32,
    /// The topics fetched.
    pub responses: Vec<FetchableTopicResponse>,
}

/// One topic's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchableTopicResponse {
    /// Topic name.
    pub topic: String,
    /// The partitions fetched.
    pub partitions: Vec<PartitionData>,
}

/// One partition's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionData {
    /// Partition index.
    pub partition_index: i32,
    /// Error, 0 if none.
    pub error_code: i16,
    /// High watermark.
    pub high_watermark: i64,
    /// Last stable offset (read_committed bound).
    pub last_stable_offset: i64,
    /// Log start offset.
    pub log_start_offset: i64,
    /// Set when the fetched epoch diverged from the leader's log (tag 0).
    pub diverging_epoch: EpochEndOffset,
    /// The current leader, sent with leadership errors (tag 1).
    pub current_leader: LeaderIdAndEpoch,
    /// Snapshot to fetch when below the log start offset (tag 2).
    pub snapshot_id: SnapshotId,
    /// Aborted transactions in the returned range (read_committed), or null.
    pub aborted_transactions: Option<Vec<AbortedTransaction>>,
    /// Replica to fetch from next, -1 for the leader.
    pub preferred_read_replica: i32,
    /// Record batches, a zero-copy slice of the response frame.
    pub records: Option<Bytes>,
}

/// Largest epoch and its end offset where the logs diverge; -1s when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEndOffset {
    /// The largest epoch.
    pub epoch: i32,
    /// Its end offset.
    pub end_offset: i64,
}

/// A partition leader; -1s when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderIdAndEpoch {
    /// Leader's broker id, -1 if unknown.
    pub leader_id: i32,
    /// Leader epoch.
    pub leader_epoch: i32,
}

/// End offset and epoch of a snapshot; -1s when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotId {
    /// End offset.
    pub end_offset: i64,
    /// Epoch.
    pub epoch: i32,
}

/// An aborted transaction overlapping the returned records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbortedTransaction {
    /// Its producer id.
    pub producer_id: i64,
    /// Its first offset.
    pub first_offset: i64,
}

// Absent tagged fields take the schema's defaults.
impl Default for EpochEndOffset {
    fn default() -> Self {
        Self {
            epoch: -1,
            end_offset: -1,
        }
    }
}

impl Default for LeaderIdAndEpoch {
    fn default() -> Self {
        Self {
            leader_id: -1,
            leader_epoch: -1,
        }
    }
}

impl Default for SnapshotId {
    fn default() -> Self {
        Self {
            end_offset: -1,
            epoch: -1,
        }
    }
}

impl FetchResponse {
    /// Decodes a v12 body.
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let throttle_time_ms = r.i32()?;
        let error_code = r.i16()?;
        let session_id = r.i32()?;
        let responses = r.array(true, 3, "responses", |r| {
            let topic = r.string(true, "topic")?;
            let partitions = r.array(true, 37, "partitions", decode_partition)?;
            r.tagged_fields(true)?;
            Ok(FetchableTopicResponse { topic, partitions })
        })?;
        r.tagged_fields(true)?;
        r.finish()?;
        Ok(Self {
            throttle_time_ms,
            error_code,
            session_id,
            responses,
        })
    }
}

fn decode_partition(r: &mut Reader) -> Result<PartitionData, DecodeError> {
    let partition_index = r.i32()?;
    let error_code = r.i16()?;
    let high_watermark = r.i64()?;
    let last_stable_offset = r.i64()?;
    let log_start_offset = r.i64()?;
    let aborted_transactions = r.nullable_array(true, 17, "aborted_transactions", |r| {
        let producer_id = r.i64()?;
        let first_offset = r.i64()?;
        r.tagged_fields(true)?;
        Ok(AbortedTransaction {
            producer_id,
            first_offset,
        })
    })?;
    let preferred_read_replica = r.i32()?;
    // Bounded by the frame: `take` hands out a slice, nothing is copied.
    let records = r.nullable_bytes(true, "records")?;
    let mut diverging_epoch = EpochEndOffset::default();
    let mut current_leader = LeaderIdAndEpoch::default();
    let mut snapshot_id = SnapshotId::default();
    r.tagged_fields_with(true, |tag, r| {
        match tag {
            0 => {
                diverging_epoch = EpochEndOffset {
                    epoch: r.i32()?,
                    end_offset: r.i64()?,
                }
            }
            1 => {
                current_leader = LeaderIdAndEpoch {
                    leader_id: r.i32()?,
                    leader_epoch: r.i32()?,
                }
            }
            2 => {
                snapshot_id = SnapshotId {
                    end_offset: r.i64()?,
                    epoch: r.i32()?,
                }
            }
            _ => return Ok(false),
        }
        r.tagged_fields(true)?;
        Ok(true)
    })?;
    Ok(PartitionData {
        partition_index,
        error_code,
        high_watermark,
        last_stable_offset,
        log_start_offset,
        diverging_epoch,
        current_leader,
        snapshot_id,
        aborted_transactions,
        preferred_read_replica,
        records,
    })
}
