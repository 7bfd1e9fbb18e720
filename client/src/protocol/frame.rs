//! Length-prefixed framing: a big-endian i32 size, then that many bytes.
//!
//! The size is checked against the maximum before any buffer grows, so a hostile
//! prefix costs the peer its connection, not our memory. An incomplete frame is
//! `Ok(None)`: the caller reads more.

use bytes::{Buf, BufMut, BytesMut};

use super::error::DecodeError;
use super::limits::FRAME_BYTES_MIN;

/// Bytes of the length prefix.
pub const FRAME_PREFIX_BYTES: usize = 4;

/// Splits one complete frame body off the front of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed; `buf` then holds at most the
/// prefix and a partial body, and the caller may reserve `needed_bytes(buf)`.
pub fn split_frame(
    buf: &mut BytesMut,
    frame_bytes_max: usize,
) -> Result<Option<BytesMut>, DecodeError> {
    let Some(len) = peek_frame_len(buf, frame_bytes_max)? else {
        return Ok(None);
    };
    if buf.len() < FRAME_PREFIX_BYTES + len {
        return Ok(None);
    }
    buf.advance(FRAME_PREFIX_BYTES);
    Ok(Some(buf.split_to(len)))
}

/// The checked body length of the frame at the front of `buf`, once its prefix is in.
pub fn peek_frame_len(buf: &[u8], frame_bytes_max: usize) -> Result<Option<usize>, DecodeError> {
    let Some(prefix) = buf.get(..FRAME_PREFIX_BYTES) else {
        return Ok(None);
    };
    let len = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    let len = usize::try_from(len).map_err(|_| DecodeError::InvalidLength {
        what: "frame",
        len: len.into(),
    })?;
    if len > frame_bytes_max {
        return Err(DecodeError::FrameTooLarge {
            len,
            max: frame_bytes_max,
        });
    }
    if len < FRAME_BYTES_MIN {
        return Err(DecodeError::FrameTooSmall { len });
    }
    Ok(Some(len))
}

/// Appends `body` as one frame.
pub fn put_frame(out: &mut BytesMut, body: &[u8]) {
    out.reserve(FRAME_PREFIX_BYTES + body.len());
    out.put_i32(body.len() as i32);
    out.put_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_prefix_is_refused_before_buffering() {
        let mut buf = BytesMut::from(&[0x7f, 0xff, 0xff, 0xff][..]);
        let err = split_frame(&mut buf, 1024).unwrap_err();
        assert!(matches!(err, DecodeError::FrameTooLarge { .. }));
    }

    #[test]
    fn negative_and_tiny_prefixes_are_errors() {
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
        assert!(split_frame(&mut buf, 1024).is_err());
        let mut buf = BytesMut::from(&[0, 0, 0, 1, 0][..]);
        assert!(split_frame(&mut buf, 1024).is_err());
    }

    #[test]
    fn partial_then_complete() {
        let mut out = BytesMut::new();
        put_frame(&mut out, b"0123456789ab");
        let mut buf = BytesMut::from(&out[..7]);
        assert_eq!(split_frame(&mut buf, 1024).unwrap(), None);
        buf.extend_from_slice(&out[7..]);
        assert_eq!(
            &split_frame(&mut buf, 1024).unwrap().unwrap()[..],
            b"0123456789ab"
        );
        assert!(buf.is_empty());
    }
}
