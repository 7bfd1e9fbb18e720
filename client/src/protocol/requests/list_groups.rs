//! ListGroups request (v0–5).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// ListGroups request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListGroupsRequest {
    /// Only groups in these states (v4+; empty means all).
    pub states_filter: Vec<String>,
    /// Only groups of these types (v5+; empty means all).
    pub types_filter: Vec<String>,
}

impl ListGroupsRequest {
    pub fn decode(r: &mut Reader, v: i16) -> Result<Self, DecodeError> {
        let flex = v >= 3;
        let states_filter = if v >= 4 {
            r.array(flex, 1, "states_filter", |r| r.string(flex, "state"))?
        } else {
            Vec::new()
        };
        let types_filter = if v >= 5 {
            r.array(flex, 1, "types_filter", |r| r.string(flex, "type"))?
        } else {
            Vec::new()
        };
        r.tagged_fields(flex)?;
        Ok(Self {
            states_filter,
            types_filter,
        })
    }
}
