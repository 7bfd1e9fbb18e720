//! OffsetFetch response (v7).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// OffsetFetch response (v7 answers for a single group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchResponse {
    /// Quota throttle in milliseconds.
    pub throttle_time_ms: i32,
    /// Each topic asked for (or every committed one).
    pub topics: Vec<OffsetFetchResponseTopic>,
    /// Top-level error, 0 if none.
    pub error_code: i16,
}

/// One topic's committed offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchResponseTopic {
    /// Topic name.
    pub name: String,
    /// Each partition.
    pub partitions: Vec<OffsetFetchResponsePartition>,
}

/// One partition's committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchResponsePartition {
    /// Partition index.
    pub partition_index: i32,
    /// Committed offset, -1 if none.
    pub committed_offset: i64,
    /// Leader epoch of the commit, -1 if unknown.
    pub committed_leader_epoch: i32,
    /// Metadata committed with the offset.
    pub metadata: Option<String>,
    /// Error, 0 if none.
    pub error_code: i16,
}

impl OffsetFetchResponse {
    /// Decodes a v7 body.
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let throttle_time_ms = r.i32()?;
        let topics = r.array(true, 3, "topics", |r| {
            let name = r.string(true, "topic name")?;
            let partitions = r.array(true, 20, "partitions", |r| {
                let partition_index = r.i32()?;
                let committed_offset = r.i64()?;
                let committed_leader_epoch = r.i32()?;
                let metadata = r.nullable_string(true, "metadata")?;
                let error_code = r.i16()?;
                r.tagged_fields(true)?;
                Ok(OffsetFetchResponsePartition {
                    partition_index,
                    committed_offset,
                    committed_leader_epoch,
                    metadata,
                    error_code,
                })
            })?;
            r.tagged_fields(true)?;
            Ok(OffsetFetchResponseTopic { name, partitions })
        })?;
        let error_code = r.i16()?;
        r.tagged_fields(true)?;
        r.finish()?;
        Ok(Self {
            throttle_time_ms,
            topics,
            error_code,
        })
    }
}
