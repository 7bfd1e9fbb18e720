//! SyncGroup response (v5).

use bytes::Bytes;

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// SyncGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroupResponse {
    /// Quota throttle in milliseconds.
    pub throttle_time_ms: i32,
    /// Error, 0 if none.
    pub error_code: i16,
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The chosen protocol (assignor).
    pub protocol_name: Option<String>,
    /// Our assignment.
    pub assignment: Bytes,
}

impl SyncGroupResponse {
    /// Decodes a v5 body.
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let throttle_time_ms = r.i32()?;
        let error_code = r.i16()?;
        let protocol_type = r.nullable_string(true, "protocol_type")?;
        let protocol_name = r.nullable_string(true, "protocol_name")?;
        let assignment = r.bytes(true, "assignment")?;
        r.tagged_fields(true)?;
        r.finish()?;
        Ok(Self {
            throttle_time_ms,
            error_code,
            protocol_type,
            protocol_name,
            assignment,
        })
    }
}
