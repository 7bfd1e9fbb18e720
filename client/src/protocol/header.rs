//! Request header decoding (v1 and v2) and response header encoding.

use bytes::{BufMut, Bytes, BytesMut};

use super::api::{ApiKey, api_spec};
use super::error::DecodeError;
use super::reader::Reader;

/// The header every request starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader {
    /// Which API the body is for (raw: unknown keys still get an answer).
    pub api_key: i16,
    /// The body's version.
    pub api_version: i16,
    /// Echoed in the response so the client can match it.
    pub correlation_id: i32,
    /// The client's self-chosen name (nullable).
    pub client_id: Option<String>,
}

impl RequestHeader {
    /// Decodes the header from the front of `reader`.
    ///
    /// The first three fields are always read (so even an unknown API or version can
    /// be answered with its correlation id); the client id is a classic nullable
    /// string in every header version, and header v2 (flexible API versions) adds
    /// tagged fields.
    pub fn decode(reader: &mut Reader) -> Result<Self, DecodeError> {
        let api_key = reader.i16()?;
        let api_version = reader.i16()?;
        let correlation_id = reader.i32()?;
        let client_id = reader.nullable_string(false, "client_id")?;
        let header = Self {
            api_key,
            api_version,
            correlation_id,
            client_id,
        };
        if header.is_flexible() {
            reader.tagged_fields(true)?;
        }
        Ok(header)
    }

    /// Decodes just the fixed prefix (key, version, correlation id) of a frame, for
    /// answering a request whose full header is unreadable.
    pub fn peek_ids(frame: &[u8]) -> Option<(i16, i16, i32)> {
        let mut reader = Reader::new(Bytes::copy_from_slice(frame.get(..8)?));
        Some((reader.i16().ok()?, reader.i16().ok()?, reader.i32().ok()?))
    }

    /// Whether this request uses a flexible (tagged-field) version of a served API.
    pub fn is_flexible(&self) -> bool {
        api_spec(self.api_key).is_some_and(|spec| {
            spec.range.contains(self.api_version) && self.api_version >= spec.flexible_min
        })
    }

    /// The served API, if any.
    pub fn api(&self) -> Option<ApiKey> {
        ApiKey::from_i16(self.api_key)
    }
}

/// Writes a response header: v0 is just the correlation id; v1 (flexible responses,
/// except ApiVersions which always answers with v0) adds an empty tagged-field section.
pub fn put_response_header(out: &mut BytesMut, correlation_id: i32, flexible: bool) {
    out.put_i32(correlation_id);
    if flexible {
        out.put_u8(0);
    }
}
