//! JoinGroup response (v7).

use bytes::Bytes;

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupResponse {
    /// Quota throttle in milliseconds.
    pub throttle_time_ms: i32,
    /// Error, 0 if none (MEMBER_ID_REQUIRED asks to rejoin with `member_id`).
    pub error_code: i16,
    /// The generation joined.
    pub generation_id: i32,
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The protocol (assignor) the coordinator chose.
    pub protocol_name: Option<String>,
    /// The leader's member id.
    pub leader: String,
    /// Our member id.
    pub member_id: String,
    /// Every member with its metadata; empty unless we are the leader.
    pub members: Vec<JoinGroupResponseMember>,
}

/// One member, as the leader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupResponseMember {
    /// Member id.
    pub member_id: String,
    /// Static membership id.
    pub group_instance_id: Option<String>,
    /// The member's metadata for the chosen protocol.
    pub metadata: Bytes,
}

impl JoinGroupResponse {
    /// Decodes a v7 body.
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let throttle_time_ms = r.i32()?;
        let error_code = r.i16()?;
        let generation_id = r.i32()?;
        let protocol_type = r.nullable_string(true, "protocol_type")?;
        let protocol_name = r.nullable_string(true, "protocol_name")?;
        let leader = r.string(true, "leader")?;
        let member_id = r.string(true, "member_id")?;
        let members = r.array(true, 4, "members", |r| {
            let member_id = r.string(true, "member_id")?;
            let group_instance_id = r.nullable_string(true, "group_instance_id")?;
            let metadata = r.bytes(true, "member metadata")?;
            r.tagged_fields(true)?;
            Ok(JoinGroupResponseMember {
                member_id,
                group_instance_id,
                metadata,
            })
        })?;
        r.tagged_fields(true)?;
        r.finish()?;
        Ok(Self {
            throttle_time_ms,
            error_code,
            generation_id,
            protocol_type,
            protocol_name,
            leader,
            member_id,
            members,
        })
    }
}
