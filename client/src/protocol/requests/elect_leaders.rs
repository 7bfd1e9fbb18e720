//! ElectLeaders request (v0–2).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// ElectLeaders' election type PREFERRED (v0 has no field: always preferred).
pub const ELECTION_TYPE_PREFERRED: i8 = 0;
/// ElectLeaders' election type UNCLEAN.
pub const ELECTION_TYPE_UNCLEAN: i8 = 1;

/// ElectLeaders request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElectLeadersRequest {
    /// 0 preferred, 1 unclean (v1+; v0 is preferred).
    pub election_type: i8,
    /// The partitions to elect leaders of, by topic; null for every partition.
    pub topic_partitions: Option<Vec<ElectLeadersTopic>>,
    /// How long to wait for the elections.
    pub timeout_ms: i32,
}

/// One topic's partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElectLeadersTopic {
    /// Topic name.
    pub topic: String,
    /// Partition indexes.
    pub partitions: Vec<i32>,
}

impl ElectLeadersRequest {
    pub fn decode(r: &mut Reader, v: i16) -> Result<Self, DecodeError> {
        let flex = v >= 2;
        let election_type = if v >= 1 {
            r.i8()?
        } else {
            ELECTION_TYPE_PREFERRED
        };
        let topic_partitions = r.nullable_array(flex, 3, "topic_partitions", |r| {
            let topic = r.string(flex, "topic")?;
            let partitions = r.array(flex, 4, "partitions", |r| r.i32())?;
            r.tagged_fields(flex)?;
            Ok(ElectLeadersTopic { topic, partitions })
        })?;
        let timeout_ms = r.i32()?;
        r.tagged_fields(flex)?;
        Ok(Self {
            election_type,
            topic_partitions,
            timeout_ms,
        })
    }
}
