//! DeleteGroups response (v2).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// DeleteGroups response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteGroupsResponse {
    /// Quota throttle in milliseconds.
    pub throttle_time_ms: i32,
    /// Each group asked for.
    pub results: Vec<DeletableGroupResult>,
}

/// One group's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletableGroupResult {
    /// Group id.
    pub group_id: String,
    /// Error, 0 if deleted.
    pub error_code: i16,
}

impl DeleteGroupsResponse {
    /// Decodes a v2 body.
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let throttle_time_ms = r.i32()?;
        let results = r.array(true, 4, "results", |r| {
            let group_id = r.group_id(true)?;
            let error_code = r.i16()?;
            r.tagged_fields(true)?;
            Ok(DeletableGroupResult {
                group_id,
                error_code,
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
