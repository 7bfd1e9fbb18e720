//! DescribeGroups request (v0–5).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// DescribeGroups request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeGroupsRequest {
    /// Groups to describe.
    pub groups: Vec<String>,
    /// Whether to return each group's authorized operations (v3+).
    pub include_authorized_operations: bool,
}

impl DescribeGroupsRequest {
    pub fn decode(r: &mut Reader, v: i16) -> Result<Self, DecodeError> {
        let flex = v >= 5;
        let groups = r.array(flex, 1, "groups", |r| r.group_id(flex))?;
        let include_authorized_operations = if v >= 3 { r.bool()? } else { false };
        r.tagged_fields(flex)?;
        Ok(Self {
            groups,
            include_authorized_operations,
        })
    }
}
