//! OffsetCommit response (v8).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// OffsetCommit response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitResponse {
    /// Quota throttle in milliseconds.
    pub throttle_time_ms: i32,
    /// Each topic committed.
    pub topics: Vec<OffsetCommitResponseTopic>,
}

/// One topic's results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitResponseTopic {
    /// Topic name.
    pub name: String,
    /// Each partition committed.
    pub partitions: Vec<OffsetCommitResponsePartition>,
}

/// One partition's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitResponsePartition {
    /// Partition index.
    pub partition_index: i32,
    /// Error, 0 if none.
    pub error_code: i16,
}

impl OffsetCommitResponse {
    /// Decodes a v8 body.
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let throttle_time_ms = r.i32()?;
        let topics = r.array(true, 3, "topics", |r| {
            let name = r.string(true, "topic name")?;
            let partitions = r.array(true, 7, "partitions", |r| {
                let partition_index = r.i32()?;
                let error_code = r.i16()?;
                r.tagged_fields(true)?;
                Ok(OffsetCommitResponsePartition {
                    partition_index,
                    error_code,
                })
            })?;
            r.tagged_fields(true)?;
            Ok(OffsetCommitResponseTopic { name, partitions })
        })?;
        r.tagged_fields(true)?;
        r.finish()?;
        Ok(Self {
            throttle_time_ms,
            topics,
        })
    }
}
