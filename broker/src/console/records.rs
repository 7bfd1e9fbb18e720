//! What the console reads and shows of raw bytes: records of one local
//! partition (decompressed, bounded), values as text or hex, and a consumer
//! group member's assignment. Everything here is attacker-controlled bytes:
//! decoding is lenient and bounded, and the pages escape what it returns.

use bytes::Bytes;
use weir_client::protocol::compression::{Compression, decompress};
use weir_client::protocol::records::{batches, records_of};

use crate::log::LogReader;

/// Records one page of the browser shows at most.
pub const RECORDS_PER_PAGE: usize = 50;
/// Bytes read from the log per page.
const READ_BYTES: usize = 1024 * 1024;
/// Largest decompressed batch the browser decodes.
const DECOMPRESSED_BYTES_MAX: usize = 8 * 1024 * 1024;
/// Bytes of a key, value or header shown (the rest is cut, and said so).
pub const SHOWN_BYTES_MAX: usize = 2 * 1024;

/// One record as the browser shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownRecord {
    pub offset: i64,
    pub timestamp_ms: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(Bytes, Option<Bytes>)>,
}

/// Up to [`RECORDS_PER_PAGE`] records from `from` (moved up to the log start),
/// below `below` (the high watermark); control records are skipped. Also
/// answers the offset the page started from.
pub fn read_records(reader: &LogReader, from: i64, below: i64) -> (i64, Vec<ShownRecord>) {
    let from = from.max(reader.log_start_offset());
    let mut out = Vec::new();
    let Ok(read) = reader.read(from, READ_BYTES, below, true) else {
        return (from, out);
    };
    for item in batches(&read.records) {
        let Ok((view, _)) = item else { break };
        if view.is_control() {
            continue;
        }
        let records = match Compression::from_attributes(view.attributes()) {
            Ok(Compression::None) => view.records(),
            Ok(codec) => decompress(codec, &view.records_bytes(), DECOMPRESSED_BYTES_MAX)
                .ok()
                .map(|body| records_of(Bytes::from(body), view.record_count())),
            Err(_) => None,
        };
        for record in records.into_iter().flatten() {
            let Ok(record) = record else { break };
            let offset = view.base_offset() + i64::from(record.offset_delta);
            if offset < from || offset >= below {
                continue;
            }
            out.push(ShownRecord {
                offset,
                timestamp_ms: view.base_timestamp() + record.timestamp_delta,
                key: record.key,
                value: record.value,
                headers: record.headers,
            });
            if out.len() == RECORDS_PER_PAGE {
                return (from, out);
            }
        }
    }
    (from, out)
}

/// How bytes are shown: as text when they are printable UTF-8 (and `hex` is
/// not asked for), else as hex; cut at [`SHOWN_BYTES_MAX`].
pub fn shown(bytes: &[u8], hex: bool) -> String {
    let cut = &bytes[..bytes.len().min(SHOWN_BYTES_MAX)];
    let more = if bytes.len() > cut.len() {
        format!(" … ({} bytes)", bytes.len())
    } else {
        String::new()
    };
    match std::str::from_utf8(cut) {
        Ok(text)
            if !hex
                && !text
                    .chars()
                    .any(|c| c.is_control() && c != '\n' && c != '\t') =>
        {
            format!("{text}{more}")
        }
        _ => {
            let hex: Vec<String> = cut.iter().map(|b| format!("{b:02x}")).collect();
            format!("{}{more}", hex.join(" "))
        }
    }
}

/// A consumer-protocol assignment (version, then topics with partitions) as
/// "topic: 0, 1; other: 2"; `None` when the bytes are not one.
pub fn assignment(bytes: &[u8]) -> Option<String> {
    let mut at = 2usize; // version
    let take = |at: &mut usize, n: usize| -> Option<&[u8]> {
        let b = bytes.get(*at..*at + n)?;
        *at += n;
        Some(b)
    };
    let count = i32::from_be_bytes(take(&mut at, 4)?.try_into().ok()?);
    if !(0..=10_000).contains(&count) {
        return None;
    }
    let mut topics = Vec::new();
    for _ in 0..count {
        let len = i16::from_be_bytes(take(&mut at, 2)?.try_into().ok()?);
        let name = std::str::from_utf8(take(&mut at, usize::try_from(len).ok()?)?).ok()?;
        let n = i32::from_be_bytes(take(&mut at, 4)?.try_into().ok()?);
        if !(0..=100_000).contains(&n) {
            return None;
        }
        let mut partitions = Vec::new();
        for _ in 0..n {
            partitions.push(i32::from_be_bytes(take(&mut at, 4)?.try_into().ok()?).to_string());
        }
        topics.push(format!("{name}: {}", partitions.join(", ")));
    }
    Some(topics.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_shown_as_text_and_binary_as_hex() {
        assert_eq!(
            shown(b"<script>alert(1)</script>", false),
            "<script>alert(1)</script>"
        );
        assert_eq!(shown(b"ab", true), "61 62");
        assert_eq!(shown(&[0, 255], false), "00 ff");
        let long = vec![b'x'; SHOWN_BYTES_MAX + 5];
        assert!(shown(&long, false).ends_with(&format!("({} bytes)", SHOWN_BYTES_MAX + 5)));
    }

    #[test]
    fn assignments_decode_and_garbage_does_not() {
        let mut b = vec![
            0, 1, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3,
        ];
        assert_eq!(assignment(&b).as_deref(), Some("t: 0, 3"));
        b.truncate(15);
        assert_eq!(assignment(&b), None);
        assert_eq!(assignment(&[0, 1, 0x7f, 0xff, 0xff, 0xff]), None);
    }
}
