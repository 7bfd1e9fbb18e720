//! OffsetForLeaderEpoch request (v0–4): the end offset of a leader epoch, asked by
//! followers before they truncate and by consumers validating their position after
//! a leader change (KIP-320).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// The `replica_id` of a consumer.
pub const CONSUMER_REPLICA_ID: i32 = -1;
/// The `replica_id` of a request before v3, which has none: Kafka's "debug"
/// consumer id, the schema's default.
pub const DEBUG_REPLICA_ID: i32 = -2;
/// The `current_leader_epoch` that asks for no fencing (and that v0–1 imply).
pub const NO_LEADER_EPOCH: i32 = -1;

/// OffsetForLeaderEpoch request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetForLeaderEpochRequest {
    /// The follower's broker id, [`CONSUMER_REPLICA_ID`] for a consumer (v3+;
    /// [`DEBUG_REPLICA_ID`] before).
    pub replica_id: i32,
    /// Topics to look up.
    pub topics: Vec<OffsetForLeaderTopic>,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetForLeaderTopic {
    /// Topic name.
    pub topic: String,
    /// Partitions to look up.
    pub partitions: Vec<OffsetForLeaderPartition>,
}

/// One partition lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetForLeaderPartition {
    /// Partition index.
    pub partition: i32,
    /// The leader epoch the asker knows, to fence stale metadata (v2+;
    /// [`NO_LEADER_EPOCH`]: no fencing).
    pub current_leader_epoch: i32,
    /// The epoch whose end offset is asked for.
    pub leader_epoch: i32,
}

impl OffsetForLeaderEpochRequest {
    pub fn decode(r: &mut Reader, v: i16) -> Result<Self, DecodeError> {
        let flex = v >= 4;
        let replica_id = if v >= 3 { r.i32()? } else { DEBUG_REPLICA_ID };
        // Smallest encodings: an empty name and partition array (compact: one byte
        // each and the tagged-field count); a partition of two or three i32s.
        let topic_bytes_min = if flex { 3 } else { 6 };
        let partition_bytes_min = match v {
            0 | 1 => 8,
            2 | 3 => 12,
            _ => 13,
        };
        let topics = r.array(flex, topic_bytes_min, "topics", |r| {
            let topic = r.string(flex, "topic name")?;
            let partitions = r.array(flex, partition_bytes_min, "partitions", |r| {
                let partition = r.i32()?;
                let current_leader_epoch = if v >= 2 { r.i32()? } else { NO_LEADER_EPOCH };
                let leader_epoch = r.i32()?;
                r.tagged_fields(flex)?;
                Ok(OffsetForLeaderPartition {
                    partition,
                    current_leader_epoch,
                    leader_epoch,
                })
            })?;
            r.tagged_fields(flex)?;
            Ok(OffsetForLeaderTopic { topic, partitions })
        })?;
        r.tagged_fields(flex)?;
        Ok(Self { replica_id, topics })
    }
}
