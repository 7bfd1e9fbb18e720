//! DeleteGroups request (v0–2).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// DeleteGroups request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteGroupsRequest {
    /// Groups to delete.
    pub groups_names: Vec<String>,
}

impl DeleteGroupsRequest {
    pub fn decode(r: &mut Reader, v: i16) -> Result<Self, DecodeError> {
        let flex = v >= 2;
        let groups_names = r.array(flex, 1, "groups_names", |r| r.group_id(flex))?;
        r.tagged_fields(flex)?;
        Ok(Self { groups_names })
    }
}
