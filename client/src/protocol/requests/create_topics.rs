//! CreateTopics request (v2–7).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// CreateTopics request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTopicsRequest {
    /// Topics to create.
    pub topics: Vec<CreatableTopic>,
    /// How long to wait for the creation to complete.
    pub timeout_ms: i32,
    /// Validate only, create nothing.
    pub validate_only: bool,
}

/// One topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatableTopic {
    /// Topic name.
    pub name: String,
    /// Partition count, or -1 for the broker default.
    pub num_partitions: i32,
    /// Replication factor, or -1 for the broker default.
    pub replication_factor: i16,
    /// Manual assignment (partition → broker ids); empty for automatic.
    pub assignments: Vec<CreatableReplicaAssignment>,
    /// Topic configs.
    pub configs: Vec<CreatableTopicConfig>,
}

/// A manual replica assignment for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatableReplicaAssignment {
    /// Partition index.
    pub partition_index: i32,
    /// Replica broker ids.
    pub broker_ids: Vec<i32>,
}

/// One topic config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatableTopicConfig {
    /// Config name, e.g. `retention.ms`.
    pub name: String,
    /// Config value (nullable).
    pub value: Option<String>,
}

impl CreateTopicsRequest {
    pub fn decode(r: &mut Reader, v: i16) -> Result<Self, DecodeError> {
        let flex = v >= 5;
        let topics = r.array(flex, 8, "topics", |r| {
            let name = r.string(flex, "topic name")?;
            let num_partitions = r.i32()?;
            let replication_factor = r.i16()?;
            let assignments = r.array(flex, 5, "assignments", |r| {
                let partition_index = r.i32()?;
                let broker_ids = r.array(flex, 4, "broker_ids", |r| r.i32())?;
                r.tagged_fields(flex)?;
                Ok(CreatableReplicaAssignment {
                    partition_index,
                    broker_ids,
                })
            })?;
            let configs = r.array(flex, 2, "configs", |r| {
                let name = r.string(flex, "config name")?;
                let value = r.nullable_string(flex, "config value")?;
                r.tagged_fields(flex)?;
                Ok(CreatableTopicConfig { name, value })
            })?;
            r.tagged_fields(flex)?;
            Ok(CreatableTopic {
                name,
                num_partitions,
                replication_factor,
                assignments,
                configs,
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
