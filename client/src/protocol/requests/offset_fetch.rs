//! OffsetFetch request (v1–7).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// OffsetFetch request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchRequest {
    /// Group id.
    pub group_id: String,
    /// (topic, partitions) wanted; `None` for every committed partition (v2+).
    pub topics: Option<Vec<(String, Vec<i32>)>>,
    /// Wait for pending transactional commits (v7+; no transactions yet).
    pub require_stable: bool,
}

impl OffsetFetchRequest {
    pub fn decode(r: &mut Reader, v: i16) -> Result<Self, DecodeError> {
        let flex = v >= 6;
        let group_id = r.group_id(flex)?;
        let topics = r.nullable_array(flex, 2, "topics", |r| {
            let name = r.string(flex, "topic name")?;
            let partitions = r.array(flex, 4, "partition_indexes", |r| r.i32())?;
            r.tagged_fields(flex)?;
            Ok((name, partitions))
        })?;
        if v < 2 && topics.is_none() {
            return Err(DecodeError::InvalidValue { what: "topics" });
        }
        let require_stable = if v >= 7 { r.bool()? } else { false };
        r.tagged_fields(flex)?;
        Ok(Self {
            group_id,
            topics,
            require_stable,
        })
    }
}
