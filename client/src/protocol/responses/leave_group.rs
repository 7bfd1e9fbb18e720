//! LeaveGroup response (v4).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// LeaveGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveGroupResponse {
    /// Quota throttle in milliseconds.
    pub throttle_time_ms: i32,
    /// Top-level error, 0 if none.
    pub error_code: i16,
    /// Each member that asked to leave.
    pub members: Vec<MemberResponse>,
}

/// One leaving member's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberResponse {
    /// Member id.
    pub member_id: String,
    /// Static membership id.
    pub group_instance_id: Option<String>,
    /// Error, 0 if none.
    pub error_code: i16,
}

impl LeaveGroupResponse {
    /// Decodes a v4 body.
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let throttle_time_ms = r.i32()?;
        let error_code = r.i16()?;
        let members = r.array(true, 5, "members", |r| {
            let member_id = r.string(true, "member_id")?;
            let group_instance_id = r.nullable_string(true, "group_instance_id")?;
            let error_code = r.i16()?;
            r.tagged_fields(true)?;
            Ok(MemberResponse {
                member_id,
                group_instance_id,
                error_code,
            })
        })?;
        r.tagged_fields(true)?;
        r.finish()?;
        Ok(Self {
            throttle_time_ms,
            error_code,
            members,
        })
    }
}
