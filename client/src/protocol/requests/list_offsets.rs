//! ListOffsets request (v1–6).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// Timestamp asking for the latest offset (the high watermark or last stable offset).
pub const LATEST_TIMESTAMP: i64 = -1;
/// Timestamp asking for the log start offset.
pub const EARLIEST_TIMESTAMP: i64 = -2;
/// Timestamp asking for the offset of the largest timestamp (v7+, KIP-734).
pub const MAX_TIMESTAMP: i64 = -3;

/// ListOffsets request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOffsetsRequest {
    /// -1 for consumers.
    pub replica_id: i32,
    /// 0 read_uncommitted, 1 read_committed (v2+).
    pub isolation_level: i8,
    /// Topics to look up.
    pub topics: Vec<ListOffsetsTopic>,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOffsetsTopic {
    /// Topic name.
    pub name: String,
    /// Partitions to look up.
    pub partitions: Vec<ListOffsetsPartition>,
}

/// One partition lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOffsetsPartition {
    /// Partition index.
    pub partition_index: i32,
    /// The leader epoch the client knows (v4+; -1 unknown).
    pub current_leader_epoch: i32,
    /// A timestamp in ms, or one of the special values above.
    pub timestamp: i64,
}

impl ListOffsetsRequest {
    pub fn decode(r: &mut Reader, v: i16) -> Result<Self, DecodeError> {
        let flex = v >= 6;
        let replica_id = r.i32()?;
        let isolation_level = if v >= 2 { r.i8()? } else { 0 };
        let topics = r.array(flex, 2, "topics", |r| {
            let name = r.string(flex, "topic name")?;
            let partitions = r.array(flex, 12, "partitions", |r| {
                let partition_index = r.i32()?;
                let current_leader_epoch = if v >= 4 { r.i32()? } else { -1 };
                let timestamp = r.i64()?;
                r.tagged_fields(flex)?;
                Ok(ListOffsetsPartition {
                    partition_index,
                    current_leader_epoch,
                    timestamp,
                })
            })?;
            r.tagged_fields(flex)?;
            Ok(ListOffsetsTopic { name, partitions })
        })?;
        r.tagged_fields(flex)?;
        Ok(Self {
            replica_id,
            isolation_level,
            topics,
        })
    }
}
