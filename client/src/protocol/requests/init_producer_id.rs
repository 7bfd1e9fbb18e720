//! InitProducerId request (v0–4).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// InitProducerId request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitProducerIdRequest {
    /// Null for an idempotent (non-transactional) producer.
    pub transactional_id: Option<String>,
    /// Transaction timeout (unused without transactions).
    pub transaction_timeout_ms: i32,
    /// The producer's current id (v3+, KIP-360), else -1.
    pub producer_id: i64,
    /// The producer's current epoch (v3+), else -1.
    pub producer_epoch: i16,
}

impl InitProducerIdRequest {
    pub fn decode(r: &mut Reader, v: i16) -> Result<Self, DecodeError> {
        let flex = v >= 2;
        let transactional_id = r.nullable_string(flex, "transactional_id")?;
        let transaction_timeout_ms = r.i32()?;
        let (producer_id, producer_epoch) = if v >= 3 {
            (r.i64()?, r.i16()?)
        } else {
            (-1, -1)
        };
        r.tagged_fields(flex)?;
        Ok(Self {
            transactional_id,
            transaction_timeout_ms,
            producer_id,
            producer_epoch,
        })
    }
}
