//! FindCoordinator response (v3).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// FindCoordinator response (v3 answers for a single key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindCoordinatorResponse {
    /// Quota throttle in milliseconds.
    pub throttle_time_ms: i32,
    /// Error, 0 if none.
    pub error_code: i16,
    /// Error message, null if none.
    pub error_message: Option<String>,
    /// Coordinator's broker id.
    pub node_id: i32,
    /// Coordinator's host.
    pub host: String,
    /// Coordinator's port.
    pub port: i32,
}

impl FindCoordinatorResponse {
    /// Decodes a v3 body.
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let throttle_time_ms = r.i32()?;
        let error_code = r.i16()?;
        let error_message = r.nullable_string(true, "error_message")?;
        let node_id = r.i32()?;
        let host = r.string(true, "host")?;
        let port = r.i32()?;
        r.tagged_fields(true)?;
        r.finish()?;
        Ok(Self {
            throttle_time_ms,
            error_code,
            error_message,
            node_id,
            host,
            port,
        })
    }
}
