//! CreatePartitions response (v3).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// CreatePartitions response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePartitionsResponse {
    /// Quota throttle in milliseconds.
    pub throttle_time_ms: i32,
    /// Each topic asked for.
    pub results: Vec<CreatePartitionsTopicResult>,
}

/// One topic's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePartitionsTopicResult {
    /// Topic name.
    pub name: String,
    /// Error, 0 if none.
    pub error_code: i16,
    /// Error message, null if none.
    pub error_message: Option<String>,
}

impl CreatePartitionsResponse {
    /// Decodes a v3 body.
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let throttle_time_ms = r.i32()?;
        let results = r.array(true, 5, "results", |r| {
            let name = r.string(true, "topic name")?;
            let error_code = r.i16()?;
            let error_message = r.nullable_string(true, "error_message")?;
            r.tagged_fields(true)?;
            Ok(CreatePartitionsTopicResult {
                name,
                error_code,
                error_message,
            })
        })?;
        r.tagged_fields(true)?;
        r.finish()?;
        Ok(Self {
            throttle_time_ms,
            results,
        })
    }
}
