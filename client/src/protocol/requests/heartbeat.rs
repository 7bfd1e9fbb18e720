//! Heartbeat request (v0–4).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// Heartbeat request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatRequest {
    /// Group id.
    pub group_id: String,
    /// Generation the member is in.
    pub generation_id: i32,
    /// Member id.
    pub member_id: String,
    /// Static membership id (v3+).
    pub group_instance_id: Option<String>,
}

impl HeartbeatRequest {
    pub fn decode(r: &mut Reader, v: i16) -> Result<Self, DecodeError> {
        let flex = v >= 4;
        let group_id = r.group_id(flex)?;
        let generation_id = r.i32()?;
        let member_id = r.string(flex, "member_id")?;
        let group_instance_id = if v >= 3 {
            r.nullable_string(flex, "group_instance_id")?
        } else {
            None
        };
        r.tagged_fields(flex)?;
        Ok(Self {
            group_id,
            generation_id,
            member_id,
            group_instance_id,
        })
    }
}
