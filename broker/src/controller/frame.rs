//! The framing every metadata file uses: `[len u32][crc32c u32][payload]`, so a
//! torn or corrupt tail is found and dropped on load.

/// Largest payload (a topic with 10k partitions fits easily).
pub const PAYLOAD_BYTES_MAX: usize = 16 * 1024 * 1024;

/// Bytes of a frame's header (length + CRC).
const HEADER_BYTES: usize = 8;

/// Appends one framed payload to `out`; `None` when it is over the limit.
pub fn encode_into(payload: &[u8], out: &mut Vec<u8>) -> Option<()> {
    if payload.len() > PAYLOAD_BYTES_MAX {
        return None;
    }
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_be_bytes());
    out.extend_from_slice(payload);
    Some(())
}

/// The payloads of the valid frames at the start of `bytes`, and the length of
/// that valid prefix (everything from the first torn or corrupt frame on is
/// left out).
pub fn decode_all(bytes: &[u8]) -> (Vec<&[u8]>, usize) {
    let mut payloads = Vec::new();
    let mut pos = 0;
    while let Some(header) = bytes.get(pos..pos + HEADER_BYTES) {
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
        let start = pos + HEADER_BYTES;
        if len > PAYLOAD_BYTES_MAX {
            break;
        }
        let Some(payload) = bytes.get(start..start + len) else {
            break;
        };
        if crc32c::crc32c(payload) != crc {
            break;
        }
        payloads.push(payload);
        pos = start + len;
    }
    (payloads, pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_and_corrupt_tails_are_dropped() {
        let mut bytes = Vec::new();
        encode_into(b"one", &mut bytes).unwrap();
        encode_into(b"two", &mut bytes).unwrap();
        let whole = bytes.len();
        let (payloads, valid) = decode_all(&bytes);
        assert_eq!((payloads, valid), (vec![&b"one"[..], &b"two"[..]], whole));
        let (payloads, valid) = decode_all(&bytes[..whole - 1]);
        assert_eq!((payloads.len(), valid), (1, 11));
        bytes[whole - 1] ^= 1;
        assert_eq!(decode_all(&bytes).0.len(), 1);
        assert!(encode_into(&vec![0; PAYLOAD_BYTES_MAX + 1], &mut bytes).is_none());
    }
}
