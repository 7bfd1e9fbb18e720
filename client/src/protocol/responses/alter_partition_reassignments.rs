//! AlterPartitionReassignments response (v0).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// AlterPartitionReassignments response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterPartitionReassignmentsResponse {
    /// Quota throttle in milliseconds.
    pub throttle_time_ms: i32,
    /// Top-level error, 0 if none.
    pub error_code: i16,
    /// Top-level error message, null if none.
    pub error_message: Option<String>,
    /// Per topic, the partitions' results.
    pub responses: Vec<ReassignableTopicResponse>,
}

/// One topic's results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReassignableTopicResponse {
    /// Topic name.
    pub name: String,
    /// Its partitions' results.
    pub partitions: Vec<ReassignablePartitionResponse>,
}

/// One partition's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReassignablePartitionResponse {
    /// Partition index.
    pub partition_index: i32,
    /// Error, 0 if none.
    pub error_code: i16,
    /// Error message, null if none.
    pub error_message: Option<String>,
}

impl AlterPartitionReassignmentsResponse {
    /// Decodes a v0 body.
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let throttle_time_ms = r.i32()?;
        let error_code = r.i16()?;
        let error_message = r.nullable_string(true, "error_message")?;
        let responses = r.array(true, 3, "responses", |r| {
            let name = r.string(true, "topic name")?;
            let partitions = r.array(true, 8, "partitions", |r| {
                let partition_index = r.i32()?;
                let error_code = r.i16()?;
                let error_message = r.nullable_string(true, "error_message")?;
                r.tagged_fields(true)?;
                Ok(ReassignablePartitionResponse {
                    partition_index,
                    error_code,
                    error_message,
                })
            })?;
            r.tagged_fields(true)?;
            Ok(ReassignableTopicResponse { name, partitions })
        })?;
        r.tagged_fields(true)?;
        r.finish()?;
        Ok(Self {
            throttle_time_ms,
            error_code,
            error_message,
            responses,
        })
    }
}
