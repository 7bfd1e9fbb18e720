//! IncrementalAlterConfigs response (v1).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// IncrementalAlterConfigs response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncrementalAlterConfigsResponse {
    /// Quota throttle in milliseconds.
    pub throttle_time_ms: i32,
    /// Each resource asked for.
    pub responses: Vec<AlterConfigsResourceResponse>,
}

/// One resource's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterConfigsResourceResponse {
    /// Error, 0 if none.
    pub error_code: i16,
    /// Error message, null if none.
    pub error_message: Option<String>,
    /// Resource type (2 topic, 4 broker, ...).
    pub resource_type: i8,
    /// Resource name.
    pub resource_name: String,
}

impl IncrementalAlterConfigsResponse {
    /// Decodes a v1 body.
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let throttle_time_ms = r.i32()?;
        let responses = r.array(true, 6, "responses", |r| {
            let error_code = r.i16()?;
            let error_message = r.nullable_string(true, "error_message")?;
            let resource_type = r.i8()?;
            let resource_name = r.string(true, "resource_name")?;
            r.tagged_fields(true)?;
            Ok(AlterConfigsResourceResponse {
                error_code,
                error_message,
                resource_type,
                resource_name,
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
