//! FindCoordinator request (v0–3).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// Key type of a consumer group.
pub const KEY_TYPE_GROUP: i8 = 0;
/// Key type of a transactional id.
pub const KEY_TYPE_TRANSACTION: i8 = 1;

/// FindCoordinator request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindCoordinatorRequest {
    /// Group id (or transactional id).
    pub key: String,
    /// 0 group, 1 transaction (v1+).
    pub key_type: i8,
}

impl FindCoordinatorRequest {
    pub fn decode(r: &mut Reader, v: i16) -> Result<Self, DecodeError> {
        let flex = v >= 3;
        let key = r.group_id(flex)?;
        let key_type = if v >= 1 { r.i8()? } else { KEY_TYPE_GROUP };
        r.tagged_fields(flex)?;
        Ok(Self { key, key_type })
    }
}
