//! OffsetDelete request (v0).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// OffsetDelete request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetDeleteRequest {
    /// Group id.
    pub group_id: String,
    /// (topic, partitions) whose committed offsets are deleted.
    pub topics: Vec<(String, Vec<i32>)>,
}

impl OffsetDeleteRequest {
    pub fn decode(r: &mut Reader, _v: i16) -> Result<Self, DecodeError> {
        let group_id = r.group_id(false)?;
        let topics = r.array(false, 6, "topics", |r| {
            let name = r.string(false, "topic name")?;
            let partitions = r.array(false, 4, "partitions", |r| r.i32())?;
            Ok((name, partitions))
        })?;
        Ok(Self { group_id, topics })
    }
}
