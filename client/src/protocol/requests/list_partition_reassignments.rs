//! ListPartitionReassignments request (v0, flexible).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// ListPartitionReassignments request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPartitionReassignmentsRequest {
    /// How long to wait for the answer.
    pub timeout_ms: i32,
    /// The partitions to list, by topic; null for every reassignment.
    pub topics: Option<Vec<ListPartitionReassignmentsTopic>>,
}

/// One topic's partitions to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPartitionReassignmentsTopic {
    /// Topic name.
    pub name: String,
    /// Partition indexes.
    pub partition_indexes: Vec<i32>,
}

impl ListPartitionReassignmentsRequest {
    pub fn decode(r: &mut Reader, _v: i16) -> Result<Self, DecodeError> {
        let timeout_ms = r.i32()?;
        let topics = r.nullable_array(true, 3, "topics", |r| {
            let name = r.string(true, "topic name")?;
            let partition_indexes = r.array(true, 4, "partition_indexes", |r| r.i32())?;
            r.tagged_fields(true)?;
            Ok(ListPartitionReassignmentsTopic {
                name,
                partition_indexes,
            })
        })?;
        r.tagged_fields(true)?;
        Ok(Self { timeout_ms, topics })
    }
}
