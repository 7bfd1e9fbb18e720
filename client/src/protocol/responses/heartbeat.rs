//! Heartbeat response (v4).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// Heartbeat response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatResponse {
    /// Quota throttle in milliseconds.
    pub throttle_time_ms: i32,
    /// Error, 0 if none (REBALANCE_IN_PROGRESS asks to rejoin).
    pub error_code: i16,
}

impl HeartbeatResponse {
    /// Decodes a v4 body.
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let throttle_time_ms = r.i32()?;
        let error_code = r.i16()?;
        r.tagged_fields(true)?;
        r.finish()?;
        Ok(Self {
            throttle_time_ms,
            error_code,
        })
    }
}
