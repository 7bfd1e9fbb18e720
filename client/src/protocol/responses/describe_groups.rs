//! DescribeGroups response (v5).

use bytes::Bytes;

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// DescribeGroups response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeGroupsResponse {
    /// Quota throttle in milliseconds.
    pub throttle_time_ms: i32,
    /// Each group asked for.
    pub groups: Vec<DescribedGroup>,
}

/// One group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedGroup {
    /// Error, 0 if none.
    pub error_code: i16,
    /// Group id.
    pub group_id: String,
    /// State name (e.g. "Stable"), or empty.
    pub group_state: String,
    /// Protocol type (e.g. "consumer"), or empty.
    pub protocol_type: String,
    /// Chosen protocol (assignor), or empty.
    pub protocol_data: String,
    /// The members.
    pub members: Vec<DescribedGroupMember>,
    /// ACL operations bitfield (i32::MIN when not asked for).
    pub authorized_operations: i32,
}

/// One member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedGroupMember {
    /// Member id.
    pub member_id: String,
    /// Static membership id.
    pub group_instance_id: Option<String>,
    /// Client id of its last JoinGroup.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Its metadata for the chosen protocol.
    pub member_metadata: Bytes,
    /// Its current assignment.
    pub member_assignment: Bytes,
}

impl DescribeGroupsResponse {
    /// Decodes a v5 body.
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let throttle_time_ms = r.i32()?;
        let groups = r.array(true, 12, "groups", decode_group)?;
        r.tagged_fields(true)?;
        r.finish()?;
        Ok(Self {
            throttle_time_ms,
            groups,
        })
    }
}

fn decode_group(r: &mut Reader) -> Result<DescribedGroup, DecodeError> {
    let error_code = r.i16()?;
    let group_id = r.group_id(true)?;
    let group_state = r.string(true, "group_state")?;
    let protocol_type = r.string(true, "protocol_type")?;
    let protocol_data = r.string(true, "protocol_data")?;
    let members = r.array(true, 7, "members", |r| {
        let member_id = r.string(true, "member_id")?;
        let group_instance_id = r.nullable_string(true, "group_instance_id")?;
        let client_id = r.string(true, "client_id")?;
        let client_host = r.string(true, "client_host")?;
        let member_metadata = r.bytes(true, "member_metadata")?;
        let member_assignment = r.bytes(true, "member_assignment")?;
        r.tagged_fields(true)?;
        Ok(DescribedGroupMember {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            member_metadata,
            member_assignment,
        })
    })?;
    let authorized_operations = r.i32()?;
    r.tagged_fields(true)?;
    Ok(DescribedGroup {
        error_code,
        group_id,
        group_state,
        protocol_type,
        protocol_data,
        members,
        authorized_operations,
    })
}
