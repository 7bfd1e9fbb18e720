//! DeleteRecords response (v2).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// DeleteRecords response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRecordsResponse {
    /// Quota throttle in milliseconds.
    pub throttle_time_ms: i32,
    /// Each topic asked for.
    pub topics: Vec<DeleteRecordsTopicResult>,
}

/// One topic's results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRecordsTopicResult {
    /// Topic name.
    pub name: String,
    /// Each partition asked for.
    pub partitions: Vec<DeleteRecordsPartitionResult>,
}

/// One partition's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRecordsPartitionResult {
    /// Partition index.
    pub partition_index: i32,
    /// The new low watermark (log start offset).
    pub low_watermark: i64,
    /// Error, 0 if none.
    pub error_code: i16,
}

impl DeleteRecordsResponse {
    /// Decodes a v2 body.
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let throttle_time_ms = r.i32()?;
        let topics = r.array(true, 3, "topics", |r| {
            let name = r.string(true, "topic name")?;
            let partitions = r.array(true, 15, "partitions", |r| {
                let partition_index = r.i32()?;
                let low_watermark = r.i64()?;
                let error_code = r.i16()?;
                r.tagged_fields(true)?;
                Ok(DeleteRecordsPartitionResult {
                    partition_index,
                    low_watermark,
                    error_code,
                })
            })?;
            r.tagged_fields(true)?;
            Ok(DeleteRecordsTopicResult { name, partitions })
        })?;
        r.tagged_fields(true)?;
        r.finish()?;
        Ok(Self {
            throttle_time_ms,
            topics,
        })
    }
}
