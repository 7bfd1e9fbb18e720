//! ListPartitionReassignments response (v0).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// ListPartitionReassignments response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPartitionReassignmentsResponse {
    /// Quota throttle in milliseconds.
    pub throttle_time_ms: i32,
    /// Top-level error, 0 if none.
    pub error_code: i16,
    /// Top-level error message, null if none.
    pub error_message: Option<String>,
    /// Topics with reassignments in progress.
    pub topics: Vec<OngoingTopicReassignment>,
}

/// One topic's reassignments in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OngoingTopicReassignment {
    /// Topic name.
    pub name: String,
    /// Its partitions being reassigned.
    pub partitions: Vec<OngoingPartitionReassignment>,
}

/// One partition being reassigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OngoingPartitionReassignment {
    /// Partition index.
    pub partition_index: i32,
    /// The current replica set (old and target together).
    pub replicas: Vec<i32>,
    /// Replicas being added.
    pub adding_replicas: Vec<i32>,
    /// Replicas being removed.
    pub removing_replicas: Vec<i32>,
}

impl ListPartitionReassignmentsResponse {
    /// Decodes a v0 body.
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let throttle_time_ms = r.i32()?;
        let error_code = r.i16()?;
        let error_message = r.nullable_string(true, "error_message")?;
        let topics = r.array(true, 3, "topics", |r| {
            let name = r.string(true, "topic name")?;
            let partitions = r.array(true, 8, "partitions", |r| {
                let partition_index = r.i32()?;
                let replicas = r.array(true, 4, "replicas", |r| r.i32())?;
                let adding_replicas = r.array(true, 4, "adding_replicas", |r| r.i32())?;
                let removing_replicas = r.array(true, 4, "removing_replicas", |r| r.i32())?;
                r.tagged_fields(true)?;
                Ok(OngoingPartitionReassignment {
                    partition_index,
                    replicas,
                    adding_replicas,
                    removing_replicas,
                })
            })?;
            r.tagged_fields(true)?;
            Ok(OngoingTopicReassignment { name, partitions })
        })?;
        r.tagged_fields(true)?;
        r.finish()?;
        Ok(Self {
            throttle_time_ms,
            error_code,
            error_message,
            topics,
        })
    }
}
