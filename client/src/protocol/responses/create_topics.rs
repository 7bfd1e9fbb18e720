//! CreateTopics response (v7).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// CreateTopics response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTopicsResponse {
    /// Quota throttle in milliseconds.
    pub throttle_time_ms: i32,
    /// Each topic asked for.
    pub topics: Vec<CreatableTopicResult>,
}

/// One topic's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatableTopicResult {
    /// Topic name.
    pub name: String,
    /// The new topic's id.
    pub topic_id: [u8; 16],
    /// Error, 0 if created.
    pub error_code: i16,
    /// Error message, null if none.
    pub error_message: Option<String>,
    /// Why `configs` is missing, 0 if not (tag 0).
    pub topic_config_error_code: i16,
    /// Partition count (-1 on error).
    pub num_partitions: i32,
    /// Replication factor (-1 on error).
    pub replication_factor: i16,
    /// The topic's configuration, null when not returned.
    pub configs: Option<Vec<CreatableTopicConfigs>>,
}

/// One configuration entry of a new topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatableTopicConfigs {
    /// Config name.
    pub name: String,
    /// Value (null when sensitive).
    pub value: Option<String>,
    /// Whether it is read-only.
    pub read_only: bool,
    /// Where the value comes from.
    pub config_source: i8,
    /// Whether it is sensitive.
    pub is_sensitive: bool,
}

impl CreateTopicsResponse {
    /// Decodes a v7 body.
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let throttle_time_ms = r.i32()?;
        let topics = r.array(true, 28, "topics", decode_topic)?;
        r.tagged_fields(true)?;
        r.finish()?;
        Ok(Self {
            throttle_time_ms,
            topics,
        })
    }
}

fn decode_topic(r: &mut Reader) -> Result<CreatableTopicResult, DecodeError> {
    let name = r.string(true, "topic name")?;
    let topic_id = r.uuid()?;
    let error_code = r.i16()?;
    let error_message = r.nullable_string(true, "error_message")?;
    let num_partitions = r.i32()?;
    let replication_factor = r.i16()?;
    let configs = r.nullable_array(true, 6, "configs", |r| {
        let name = r.string(true, "config name")?;
        let value = r.nullable_string(true, "config value")?;
        let read_only = r.bool()?;
        let config_source = r.i8()?;
        let is_sensitive = r.bool()?;
        r.tagged_fields(true)?;
        Ok(CreatableTopicConfigs {
            name,
            value,
            read_only,
            config_source,
            is_sensitive,
        })
    })?;
    let mut topic_config_error_code = 0;
    r.tagged_fields_with(true, |tag, r| match tag {
        0 => {
            topic_config_error_code = r.i16()?;
            Ok(true)
        }
        _ => Ok(false),
    })?;
    Ok(CreatableTopicResult {
        name,
        topic_id,
        error_code,
        error_message,
        topic_config_error_code,
        num_partitions,
        replication_factor,
        configs,
    })
}
