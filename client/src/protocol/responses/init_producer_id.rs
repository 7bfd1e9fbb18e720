//! InitProducerId response (v4).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// InitProducerId response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitProducerIdResponse {
    /// Quota throttle in milliseconds.
    pub throttle_time_ms: i32,
    /// Error, 0 if none.
    pub error_code: i16,
    /// The producer id assigned.
    pub producer_id: i64,
    /// Its epoch.
    pub producer_epoch: i16,
}

impl InitProducerIdResponse {
    /// Decodes a v4 body.
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let throttle_time_ms = r.i32()?;
        let error_code = r.i16()?;
        let producer_id = r.i64()?;
        let producer_epoch = r.i16()?;
        r.tagged_fields(true)?;
        r.finish()?;
        Ok(Self {
            throttle_time_ms,
            error_code,
            producer_id,
            producer_epoch,
        })
    }
}
