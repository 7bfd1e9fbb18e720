//! The protocol layer's one error type.

use thiserror::Error;

/// Why a frame or request could not be decoded. Every variant is a client error:
/// the broker answers with a Kafka error code or closes the connection.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// A field needs more bytes than the frame has left.
    #[error("truncated: needed {needed} bytes, {remaining} remain")]
    Truncated { needed: usize, remaining: usize },
    /// A length prefix is negative (where null is not allowed) or exceeds a limit.
    #[error("invalid length {len} for {what}")]
    InvalidLength { what: &'static str, len: i64 },
    /// A varint runs past 5 (or 10) bytes.
    #[error("malformed varint")]
    BadVarint,
    /// A string field is not UTF-8.
    #[error("invalid UTF-8 in {what}")]
    InvalidUtf8 { what: &'static str },
    /// The frame's length prefix exceeds the configured maximum.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    FrameTooLarge { len: usize, max: usize },
    /// The frame is shorter than any valid request.
    #[error("frame of {len} bytes is too short")]
    FrameTooSmall { len: usize },
    /// An API key we do not serve.
    #[error("unknown api key {api_key}")]
    UnknownApi { api_key: i16 },
    /// A version of a served API outside the advertised range.
    #[error("unsupported version {api_version} of api {api_key}")]
    UnsupportedVersion { api_key: i16, api_version: i16 },
    /// Bytes left over after the request body was fully decoded.
    #[error("{remaining} trailing bytes after the request body")]
    TrailingBytes { remaining: usize },
    /// A field holds a value the protocol forbids (e.g. a null non-nullable string).
    #[error("invalid value for {what}")]
    InvalidValue { what: &'static str },
}
