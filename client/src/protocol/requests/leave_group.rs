//! LeaveGroup request (v0–4); v3+ leaves a batch of members.

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// LeaveGroup request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveGroupRequest {
    /// Group id.
    pub group_id: String,
    /// (member id, static id) of each leaving member (one for v0–2).
    pub members: Vec<(String, Option<String>)>,
}

impl LeaveGroupRequest {
    pub fn decode(r: &mut Reader, v: i16) -> Result<Self, DecodeError> {
        let flex = v >= 4;
        let group_id = r.group_id(flex)?;
        let members = if v >= 3 {
            r.array(flex, 3, "members", |r| {
                let member_id = r.string(flex, "member_id")?;
                let instance = r.nullable_string(flex, "group_instance_id")?;
                r.tagged_fields(flex)?;
                Ok((member_id, instance))
            })?
        } else {
            vec![(r.string(flex, "member_id")?, None)]
        };
        r.tagged_fields(flex)?;
        Ok(Self { group_id, members })
    }
}
