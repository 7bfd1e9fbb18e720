//! DeleteRecords request (v0–2).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// The `offset` that means "up to the high watermark".
pub const HIGH_WATERMARK: i64 = -1;

/// DeleteRecords request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRecordsRequest {
    /// Topics whose records to delete.
    pub topics: Vec<DeleteRecordsTopic>,
    /// How long to wait for the deletion.
    pub timeout_ms: i32,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRecordsTopic {
    /// Topic name.
    pub name: String,
    /// Its partitions.
    pub partitions: Vec<DeleteRecordsPartition>,
}

/// One partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRecordsPartition {
    /// Partition index.
    pub partition_index: i32,
    /// Records below this offset are deleted ([`HIGH_WATERMARK`]: all of them).
    pub offset: i64,
}

impl DeleteRecordsRequest {
    pub fn decode(r: &mut Reader, v: i16) -> Result<Self, DecodeError> {
        let flex = v >= 2;
        let topics = r.array(flex, 3, "topics", |r| {
            let name = r.string(flex, "topic name")?;
            let partitions = r.array(flex, 12, "partitions", |r| {
                let partition_index = r.i32()?;
                let offset = r.i64()?;
                r.tagged_fields(flex)?;
                Ok(DeleteRecordsPartition {
                    partition_index,
                    offset,
                })
            })?;
            r.tagged_fields(flex)?;
            Ok(DeleteRecordsTopic { name, partitions })
        })?;
        let timeout_ms = r.i32()?;
        r.tagged_fields(flex)?;
        Ok(Self { topics, timeout_ms })
    }
}
