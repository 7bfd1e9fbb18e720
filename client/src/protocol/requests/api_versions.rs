//! ApiVersions request (v0–3).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// ApiVersions request; v3+ names the client software (KIP-511).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiVersionsRequest {
    /// The client library's name (v3+).
    pub client_software_name: Option<String>,
    /// The client library's version (v3+).
    pub client_software_version: Option<String>,
}

impl ApiVersionsRequest {
    pub fn decode(r: &mut Reader, v: i16) -> Result<Self, DecodeError> {
        if v < 3 {
            return Ok(Self::default());
        }
        let client_software_name = Some(r.string(true, "client_software_name")?);
        let client_software_version = Some(r.string(true, "client_software_version")?);
        r.tagged_fields(true)?;
        Ok(Self {
            client_software_name,
            client_software_version,
        })
    }
}
