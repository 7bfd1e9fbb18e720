//! AlterPartitionReassignments request (v0, flexible).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// AlterPartitionReassignments request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterPartitionReassignmentsRequest {
    /// How long to wait for the request to be taken.
    pub timeout_ms: i32,
    /// Topics whose partitions to reassign.
    pub topics: Vec<ReassignableTopic>,
}

/// One topic's partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReassignableTopic {
    /// Topic name.
    pub name: String,
    /// Its partitions to reassign.
    pub partitions: Vec<ReassignablePartition>,
}

/// One partition's target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReassignablePartition {
    /// Partition index.
    pub partition_index: i32,
    /// Target replica broker ids; null cancels the reassignment in progress.
    pub replicas: Option<Vec<i32>>,
}

impl AlterPartitionReassignmentsRequest {
    pub fn decode(r: &mut Reader, _v: i16) -> Result<Self, DecodeError> {
        let timeout_ms = r.i32()?;
        let topics = r.array(true, 3, "topics", |r| {
            let name = r.string(true, "topic name")?;
            let partitions = r.array(true, 6, "partitions", |r| {
                let partition_index = r.i32()?;
                let replicas = r.nullable_array(true, 4, "replicas", |r| r.i32())?;
                r.tagged_fields(true)?;
                Ok(ReassignablePartition {
                    partition_index,
                    replicas,
                })
            })?;
            r.tagged_fields(true)?;
            Ok(ReassignableTopic { name, partitions })
        })?;
        r.tagged_fields(true)?;
        Ok(Self { timeout_ms, topics })
    }
}
