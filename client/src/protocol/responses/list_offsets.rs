//! ListOffsets response (v6).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// ListOffsets response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOffsetsResponse {
    /// Quota throttle in milliseconds.
    pub throttle_time_ms: i32,
    /// Each topic asked for.
    pub topics: Vec<ListOffsetsTopicResponse>,
}

/// One topic's offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOffsetsTopicResponse {
    /// Topic name.
    pub name: String,
    /// Each partition asked for.
    pub partitions: Vec<ListOffsetsPartitionResponse>,
}

/// One partition's offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOffsetsPartitionResponse {
    /// Partition index.
    pub partition_index: i32,
    /// Error, 0 if none.
    pub error_code: i16,
    /// Timestamp of the returned offset (-1 for earliest/latest).
    pub timestamp: i64,
    /// The offset.
    pub offset: i64,
    /// Leader epoch of the returned offset.
    pub leader_epoch: i32,
}

impl ListOffsetsResponse {
    /// Decodes a v6 body.
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let throttle_time_ms = r.i32()?;
        let topics = r.array(true, 3, "topics", |r| {
            let name = r.string(true, "topic name")?;
            let partitions = r.array(true, 27, "partitions", |r| {
                let partition_index = r.i32()?;
                let error_code = r.i16()?;
                let timestamp = r.i64()?;
                let offset = r.i64()?;
                let leader_epoch = r.i32()?;
                r.tagged_fields(true)?;
                Ok(ListOffsetsPartitionResponse {
                    partition_index,
                    error_code,
                    timestamp,
                    offset,
                    leader_epoch,
                })
            })?;
            r.tagged_fields(true)?;
            Ok(ListOffsetsTopicResponse { name, partitions })
        })?;
        r.tagged_fields(true)?;
        r.finish()?;
        Ok(Self {
            throttle_time_ms,
            topics,
        })
    }
}
