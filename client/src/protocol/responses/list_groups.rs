//! ListGroups response (v4).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// ListGroups response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListGroupsResponse {
    /// Quota throttle in milliseconds.
    pub throttle_time_ms: i32,
    /// Error, 0 if none.
    pub error_code: i16,
    /// Each group (matching the states filter).
    pub groups: Vec<ListedGroup>,
}

/// One group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroup {
    /// Group id.
    pub group_id: String,
    /// Protocol type (e.g. "consumer").
    pub protocol_type: String,
    /// State name.
    pub group_state: String,
}

impl ListGroupsResponse {
    /// Decodes a v4 body.
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let throttle_time_ms = r.i32()?;
        let error_code = r.i16()?;
        let groups = r.array(true, 4, "groups", |r| {
            let group_id = r.group_id(true)?;
            let protocol_type = r.string(true, "protocol_type")?;
            let group_state = r.string(true, "group_state")?;
            r.tagged_fields(true)?;
            Ok(ListedGroup {
                group_id,
                protocol_type,
                group_state,
            })
        })?;
        r.tagged_fields(true)?;
        r.finish()?;
        Ok(Self {
            throttle_time_ms,
            error_code,
            groups,
        })
    }
}
