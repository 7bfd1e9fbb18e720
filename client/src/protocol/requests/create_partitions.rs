//! CreatePartitions request (v0–3).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// CreatePartitions request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePartitionsRequest {
    /// Topics to grow.
    pub topics: Vec<CreatePartitionsTopic>,
    /// How long to wait for the new partitions.
    pub timeout_ms: i32,
    /// Validate only, change nothing.
    pub validate_only: bool,
}

/// One topic to grow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePartitionsTopic {
    /// Topic name.
    pub name: String,
    /// The new total partition count.
    pub count: i32,
    /// Replica broker ids of each new partition; `None` for automatic placement.
    pub assignments: Option<Vec<Vec<i32>>>,
}

impl CreatePartitionsRequest {
    pub fn decode(r: &mut Reader, v: i16) -> Result<Self, DecodeError> {
        let flex = v >= 2;
        let topics = r.array(flex, 7, "topics", |r| {
            let name = r.string(flex, "topic name")?;
            let count = r.i32()?;
            let assignments = r.nullable_array(flex, 2, "assignments", |r| {
                let broker_ids = r.array(flex, 4, "broker_ids", |r| r.i32())?;
                r.tagged_fields(flex)?;
                Ok(broker_ids)
            })?;
            r.tagged_fields(flex)?;
            Ok(CreatePartitionsTopic {
                name,
                count,
                assignments,
            })
        })?;
        let timeout_ms = r.i32()?;
        let validate_only = r.bool()?;
        r.tagged_fields(flex)?;
        Ok(Self {
            topics,
            timeout_ms,
            validate_only,
        })
    }
}
