//! DeleteTopics request (v1–6).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// DeleteTopics request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteTopicsRequest {
    /// Topics to delete: by name (v1–5), or by name or id (v6+).
    pub topics: Vec<DeleteTopicState>,
    /// How long to wait for the deletion to complete.
    pub timeout_ms: i32,
}

/// One topic to delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteTopicState {
    /// Topic name (null in v6+ when deleting by id).
    pub name: Option<String>,
    /// Topic id (v6+; all zero when deleting by name).
    pub topic_id: [u8; 16],
}

impl DeleteTopicsRequest {
    pub fn decode(r: &mut Reader, v: i16) -> Result<Self, DecodeError> {
        let flex = v >= 4;
        let topics = if v >= 6 {
            r.array(flex, 18, "topics", |r| {
                let name = r.nullable_string(flex, "topic name")?;
                let topic_id = r.uuid()?;
                r.tagged_fields(flex)?;
                Ok(DeleteTopicState { name, topic_id })
            })?
        } else {
            r.array(flex, 1, "topic_names", |r| {
                Ok(DeleteTopicState {
                    name: Some(r.string(flex, "topic name")?),
                    topic_id: [0; 16],
                })
            })?
        };
        let timeout_ms = r.i32()?;
        r.tagged_fields(flex)?;
        Ok(Self { topics, timeout_ms })
    }
}
