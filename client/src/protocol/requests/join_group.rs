//! JoinGroup request (v0–7).

use bytes::Bytes;

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// JoinGroup request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupRequest {
    /// Group id.
    pub group_id: String,
    /// Session timeout.
    pub session_timeout_ms: i32,
    /// Rebalance timeout (v1+; the session timeout before).
    pub rebalance_timeout_ms: i32,
    /// Empty for a new member.
    pub member_id: String,
    /// Static membership id (v5+).
    pub group_instance_id: Option<String>,
    /// e.g. "consumer".
    pub protocol_type: String,
    /// (name, metadata) in preference order.
    pub protocols: Vec<(String, Bytes)>,
}

impl JoinGroupRequest {
    pub fn decode(r: &mut Reader, v: i16) -> Result<Self, DecodeError> {
        let flex = v >= 6;
        let group_id = r.group_id(flex)?;
        let session_timeout_ms = r.i32()?;
        let rebalance_timeout_ms = if v >= 1 { r.i32()? } else { session_timeout_ms };
        let member_id = r.string(flex, "member_id")?;
        let group_instance_id = if v >= 5 {
            r.nullable_string(flex, "group_instance_id")?
        } else {
            None
        };
        let protocol_type = r.string(flex, "protocol_type")?;
        let protocols = r.array(flex, 2, "protocols", |r| {
            let name = r.string(flex, "protocol name")?;
            let metadata = r.bytes(flex, "protocol metadata")?;
            r.tagged_fields(flex)?;
            Ok((name, metadata))
        })?;
        r.tagged_fields(flex)?;
        Ok(Self {
            group_id,
            session_timeout_ms,
            rebalance_timeout_ms,
            member_id,
            group_instance_id,
            protocol_type,
            protocols,
        })
    }
}
