//! OffsetDelete response (v0, not flexible: classic strings and arrays, no tags).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// OffsetDelete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetDeleteResponse {
    /// Top-level error, 0 if none.
    pub error_code: i16,
    /// Quota throttle in milliseconds.
    pub throttle_time_ms: i32,
    /// Each topic asked for.
    pub topics: Vec<OffsetDeleteResponseTopic>,
}

/// One topic's results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetDeleteResponseTopic {
    /// Topic name.
    pub name: String,
    /// Each partition asked for.
    pub partitions: Vec<OffsetDeleteResponsePartition>,
}

/// One partition's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetDeleteResponsePartition {
    /// Partition index.
    pub partition_index: i32,
    /// Error, 0 if none.
    pub error_code: i16,
}

impl OffsetDeleteResponse {
    /// Decodes a v0 body.
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let error_code = r.i16()?;
        let throttle_time_ms = r.i32()?;
        let topics = r.array(false, 6, "topics", |r| {
            let name = r.string(false, "topic name")?;
            let partitions = r.array(false, 6, "partitions", |r| {
                Ok(OffsetDeleteResponsePartition {
                    partition_index: r.i32()?,
                    error_code: r.i16()?,
                })
            })?;
            Ok(OffsetDeleteResponseTopic { name, partitions })
        })?;
        r.finish()?;
        Ok(Self {
            error_code,
            throttle_time_ms,
            topics,
        })
    }
}
