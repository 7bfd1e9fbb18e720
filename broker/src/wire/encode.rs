//! Response framing: length prefix, response header, body.

use bytes::{BufMut, BytesMut};
use kafka_protocol::protocol::{Encodable, HeaderVersion};
use weir_client::protocol::RequestHeader;
use weir_client::protocol::header::put_response_header;

use super::dispatch::Outcome;

/// Encodes `body` as the response to `header`, framed. An encoding failure means a
/// handler filled a field the version lacks: a bug, logged, and the connection is
/// closed rather than sending bytes the client would misread.
pub fn reply<R: Encodable + HeaderVersion>(header: &RequestHeader, body: &R) -> Outcome {
    let version = header.api_version;
    let flexible_header = R::header_version(version) >= 1;
    let mut out = BytesMut::with_capacity(64);
    out.put_i32(0);
    put_response_header(&mut out, header.correlation_id, flexible_header);
    match body.encode(&mut out, version) {
        Ok(()) => {
            finish_frame(&mut out);
            Outcome::Reply(out)
        }
        Err(e) => {
            tracing::error!(api_key = header.api_key, version, error = %e, "response encoding failed");
            Outcome::Close(format!("response encoding failed: {e}"))
        }
    }
}

/// Starts a hand-encoded response frame (for versions kafka-protocol cannot encode).
pub fn begin_frame(correlation_id: i32, flexible_header: bool) -> BytesMut {
    let mut out = BytesMut::with_capacity(64);
    out.put_i32(0);
    put_response_header(&mut out, correlation_id, flexible_header);
    out
}

/// Writes the length prefix of a frame started with a zero placeholder.
pub fn finish_frame(out: &mut BytesMut) {
    let len = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&len.to_be_bytes());
}

/// Writes a classic (non-compact) string.
pub fn put_string(out: &mut BytesMut, s: &str) {
    out.put_i16(s.len() as i16);
    out.put_slice(s.as_bytes());
}
