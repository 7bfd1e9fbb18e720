//! Metadata request (v0–12).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// Metadata request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataRequest {
    /// Topics asked for; `None` means every topic (null in v1+, empty in v0).
    pub topics: Option<Vec<MetadataRequestTopic>>,
    /// Whether unknown topics may be auto-created (v4+; always true before).
    pub allow_auto_topic_creation: bool,
    /// Whether to include topic ACL operations (v8+; we report none).
    pub include_topic_authorized_operations: bool,
}

/// One topic in a Metadata request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataRequestTopic {
    /// Topic id (v10+; all zero when asking by name).
    pub topic_id: [u8; 16],
    /// Topic name (nullable from v10, when asking by id).
    pub name: Option<String>,
}

impl MetadataRequest {
    pub fn decode(r: &mut Reader, v: i16) -> Result<Self, DecodeError> {
        let flex = v >= 9;
        let topics = r.nullable_array(flex, 2, "topics", |r| {
            let topic_id = if v >= 10 { r.uuid()? } else { [0; 16] };
            let name = if v >= 10 {
                r.nullable_string(flex, "topic name")?
            } else {
                Some(r.string(flex, "topic name")?)
            };
            r.tagged_fields(flex)?;
            Ok(MetadataRequestTopic { topic_id, name })
        })?;
        // In v0 an empty array (null is not allowed) asks for every topic.
        let topics = match topics {
            Some(t) if v == 0 && t.is_empty() => None,
            None if v == 0 => return Err(DecodeError::InvalidValue { what: "topics" }),
            other => other,
        };
        let allow_auto_topic_creation = if v >= 4 { r.bool()? } else { true };
        let mut include_topic_authorized_operations = false;
        if (8..=10).contains(&v) {
            let _include_cluster_authorized_operations = r.bool()?;
        }
        if v >= 8 {
            include_topic_authorized_operations = r.bool()?;
        }
        r.tagged_fields(flex)?;
        Ok(Self {
            topics,
            allow_auto_topic_creation,
            include_topic_authorized_operations,
        })
    }
}
