//! DescribeCluster request (v0–1): the brokers and the active controller.

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// `endpoint_type` of a client asking for brokers (v1; v0 always does).
pub const ENDPOINT_TYPE_BROKER: i8 = 1;

/// DescribeCluster request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeClusterRequest {
    /// Whether to return the cluster's authorized operations.
    pub include_cluster_authorized_operations: bool,
    /// Which endpoints to describe: 1 brokers, 2 controllers (v1+).
    pub endpoint_type: i8,
}

impl DescribeClusterRequest {
    pub fn decode(r: &mut Reader, v: i16) -> Result<Self, DecodeError> {
        let include_cluster_authorized_operations = r.bool()?;
        let endpoint_type = if v >= 1 {
            r.i8()?
        } else {
            ENDPOINT_TYPE_BROKER
        };
        r.tagged_fields(true)?;
        Ok(Self {
            include_cluster_authorized_operations,
            endpoint_type,
        })
    }
}
