//! OffsetCommit request (v2–8).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// OffsetCommit request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitRequest {
    /// Group id.
    pub group_id: String,
    /// Generation (-1 for a commit from outside the group).
    pub generation_id: i32,
    /// Member id (empty from outside the group).
    pub member_id: String,
    /// Static membership id (v7+).
    pub group_instance_id: Option<String>,
    /// Retention override (v2–4; -1 for the broker default).
    pub retention_time_ms: i64,
    /// What to commit.
    pub topics: Vec<OffsetCommitTopic>,
}

/// One topic's commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitTopic {
    /// Topic name.
    pub name: String,
    /// Partition commits.
    pub partitions: Vec<OffsetCommitPartition>,
}

/// One partition's commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitPartition {
    /// Partition index.
    pub partition_index: i32,
    /// Next offset to consume.
    pub committed_offset: i64,
    /// Leader epoch of the last consumed record (v6+; -1 unknown).
    pub committed_leader_epoch: i32,
    /// Client metadata (nullable).
    pub committed_metadata: Option<String>,
}

impl OffsetCommitRequest {
    pub fn decode(r: &mut Reader, v: i16) -> Result<Self, DecodeError> {
        let flex = v >= 8;
        let group_id = r.group_id(flex)?;
        let generation_id = r.i32()?;
        let member_id = r.string(flex, "member_id")?;
        let group_instance_id = if v >= 7 {
            r.nullable_string(flex, "group_instance_id")?
        } else {
            None
        };
        let retention_time_ms = if (2..=4).contains(&v) { r.i64()? } else { -1 };
        let topics = r.array(flex, 2, "topics", |r| {
            let name = r.string(flex, "topic name")?;
            let partitions = r.array(flex, 13, "partitions", |r| {
                let partition_index = r.i32()?;
                let committed_offset = r.i64()?;
                let committed_leader_epoch = if v >= 6 { r.i32()? } else { -1 };
                let committed_metadata = r.nullable_string(flex, "committed_metadata")?;
                r.tagged_fields(flex)?;
                Ok(OffsetCommitPartition {
                    partition_index,
                    committed_offset,
                    committed_leader_epoch,
                    committed_metadata,
                })
            })?;
            r.tagged_fields(flex)?;
            Ok(OffsetCommitTopic { name, partitions })
        })?;
        r.tagged_fields(flex)?;
        Ok(Self {
            group_id,
            generation_id,
            member_id,
            group_instance_id,
            retention_time_ms,
            topics,
        })
    }
}
