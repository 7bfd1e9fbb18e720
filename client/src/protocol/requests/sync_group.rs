//! SyncGroup request (v0–5).

use bytes::Bytes;

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// SyncGroup request; only the leader sends assignments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroupRequest {
    /// Group id.
    pub group_id: String,
    /// Generation the member joined.
    pub generation_id: i32,
    /// Member id.
    pub member_id: String,
    /// Static membership id (v3+).
    pub group_instance_id: Option<String>,
    /// Protocol type (v5+).
    pub protocol_type: Option<String>,
    /// Protocol name (v5+).
    pub protocol_name: Option<String>,
    /// (member id, assignment) from the leader.
    pub assignments: Vec<(String, Bytes)>,
}

impl SyncGroupRequest {
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
        let (protocol_type, protocol_name) = if v >= 5 {
            (
                r.nullable_string(flex, "protocol_type")?,
                r.nullable_string(flex, "protocol_name")?,
            )
        } else {
            (None, None)
        };
        let assignments = r.array(flex, 2, "assignments", |r| {
            let member_id = r.string(flex, "member_id")?;
            let assignment = r.bytes(flex, "assignment")?;
            r.tagged_fields(flex)?;
            Ok((member_id, assignment))
        })?;
        r.tagged_fields(flex)?;
        Ok(Self {
            group_id,
            generation_id,
            member_id,
            group_instance_id,
            protocol_type,
            protocol_name,
            assignments,
        })
    }
}
