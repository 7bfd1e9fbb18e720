//! DeleteTopics response (v6).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// DeleteTopics response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteTopicsResponse {
    /// Quota throttle in milliseconds.
    pub throttle_time_ms: i32,
    /// Each topic asked for.
    pub responses: Vec<DeletableTopicResult>,
}

/// One topic's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletableTopicResult {
    /// Topic name; null when deleted by an unknown id.
    pub name: Option<String>,
    /// Topic id.
    pub topic_id: [u8; 16],
    /// Error, 0 if deleted.
    pub error_code: i16,
    /// Error message, null if none.
    pub error_message: Option<String>,
}

impl DeleteTopicsResponse {
    /// Decodes a v6 body.
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let throttle_time_ms = r.i32()?;
        let responses = r.array(true, 21, "responses", |r| {
            let name = r.nullable_string(true, "topic name")?;
            let topic_id = r.uuid()?;
            let error_code = r.i16()?;
            let error_message = r.nullable_string(true, "error_message")?;
            r.tagged_fields(true)?;
            Ok(DeletableTopicResult {
                name,
                topic_id,
                error_code,
                error_message,
            })
        })?;
        r.tagged_fields(true)?;
        r.finish()?;
        Ok(Self {
            throttle_time_ms,
            responses,
        })
    }
}
