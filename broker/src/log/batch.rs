//! The RecordBatch v2 header as the log needs it: parse the 61-byte header, check a
//! whole batch (magic, lengths, CRC-32C), rewrite the fields Kafka rewrites on append
//! (baseOffset, partitionLeaderEpoch, and for LogAppendTime the timestamp type and
//! maxTimestamp with the CRC recomputed), and walk the records of an uncompressed
//! batch for their timestamps. The wire crate has its own view; this one keeps the
//! storage self-contained and is checked on append *and* on recovery.

use thiserror::Error;

/// Bytes of a RecordBatch v2 header (up to the first record).
pub const BATCH_HEADER_BYTES: usize = 61;
/// Bytes before the part of the batch that `batchLength` counts.
pub const LOG_OVERHEAD_BYTES: usize = 12;
/// The only batch format the log stores.
pub const MAGIC_V2: i8 = 2;

/// Byte positions of the header fields.
const BATCH_LENGTH_AT: usize = 8;
const LEADER_EPOCH_AT: usize = 12;
const MAGIC_AT: usize = 16;
const CRC_AT: usize = 17;
const ATTRIBUTES_AT: usize = 21;
const LAST_OFFSET_DELTA_AT: usize = 23;
const BASE_TIMESTAMP_AT: usize = 27;
const MAX_TIMESTAMP_AT: usize = 35;
const PRODUCER_ID_AT: usize = 43;
const PRODUCER_EPOCH_AT: usize = 51;
const BASE_SEQUENCE_AT: usize = 53;
const RECORD_COUNT_AT: usize = 57;

/// Attribute bits: compression codec (0 = none) and timestamp type.
const COMPRESSION_MASK: i16 = 0x7;
const LOG_APPEND_TIME_BIT: i16 = 0x8;

const _: () = assert!(RECORD_COUNT_AT + 4 == BATCH_HEADER_BYTES);
const _: () = assert!(
    ATTRIBUTES_AT == CRC_AT + 4,
    "the CRC covers attributes onwards"
);

/// Why bytes are not a valid v2 batch.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BatchError {
    /// Fewer bytes than a header, or than `batchLength` announces.
    #[error("short batch: {len} bytes, {need} needed")]
    Short {
        /// Bytes present.
        len: usize,
        /// Bytes the header (or `batchLength`) requires.
        need: usize,
    },
    /// Not magic 2.
    #[error("unsupported magic {0}")]
    BadMagic(i8),
    /// `batchLength` is smaller than a header or differs from the bytes given.
    #[error("batchLength {batch_length} does not match {len} bytes")]
    BadLength {
        /// The announced `batchLength`.
        batch_length: i32,
        /// Bytes given for the batch.
        len: usize,
    },
    /// A negative `lastOffsetDelta`.
    #[error("negative lastOffsetDelta {0}")]
    BadOffsetDelta(i32),
    /// The stored CRC-32C does not match the bytes.
    #[error("crc mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    BadCrc {
        /// The CRC in the header.
        stored: u32,
        /// The CRC of the bytes.
        computed: u32,
    },
}

/// The header fields of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// First offset of the batch.
    pub base_offset: i64,
    /// Bytes after the `batchLength` field.
    pub batch_length: i32,
    /// Whole batch length in bytes (`batchLength` + 12; 12 if negative).
    pub total_len: u64,
    /// Leader epoch stamped by the broker (outside the CRC).
    pub leader_epoch: i32,
    /// Format version (2 for valid batches).
    pub magic: i8,
    /// Stored CRC-32C over attributes onwards.
    pub crc: u32,
    /// Compression, timestamp type, transactional and control bits.
    pub attributes: i16,
    /// Offset of the last record relative to `base_offset`.
    pub last_offset_delta: i32,
    /// Last offset of the batch.
    pub last_offset: i64,
    /// Timestamp the record deltas are relative to.
    pub base_timestamp: i64,
    /// Largest timestamp in the batch (the append time for LogAppendTime).
    pub max_timestamp: i64,
    /// Records in the batch.
    pub record_count: i32,
    /// Idempotent producer id, or -1.
    pub producer_id: i64,
    /// Producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence of the first record, or -1.
    pub base_sequence: i32,
}

fn i64_at(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl BatchHeader {
    /// Reads the header fields; checks nothing.
    pub fn parse(b: &[u8; BATCH_HEADER_BYTES]) -> Self {
        let base_offset = i64_at(b, 0);
        let batch_length = i32_at(b, BATCH_LENGTH_AT);
        let last_offset_delta = i32_at(b, LAST_OFFSET_DELTA_AT);
        Self {
            base_offset,
            batch_length,
            total_len: LOG_OVERHEAD_BYTES as u64 + batch_length.max(0) as u64,
            leader_epoch: i32_at(b, LEADER_EPOCH_AT),
            magic: b[MAGIC_AT] as i8,
            crc: i32_at(b, CRC_AT) as u32,
            attributes: i16::from_be_bytes([b[ATTRIBUTES_AT], b[ATTRIBUTES_AT + 1]]),
            last_offset_delta,
            last_offset: base_offset.saturating_add(i64::from(last_offset_delta)),
            base_timestamp: i64_at(b, BASE_TIMESTAMP_AT),
            max_timestamp: i64_at(b, MAX_TIMESTAMP_AT),
            record_count: i32_at(b, RECORD_COUNT_AT),
            producer_id: i64_at(b, PRODUCER_ID_AT),
            producer_epoch: i16::from_be_bytes([b[PRODUCER_EPOCH_AT], b[PRODUCER_EPOCH_AT + 1]]),
            base_sequence: i32_at(b, BASE_SEQUENCE_AT),
        }
    }

    /// Whether the batch carries LogAppendTime (every record has `max_timestamp`).
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & LOG_APPEND_TIME_BIT != 0
    }

    /// Whether the records are stored uncompressed.
    pub fn is_uncompressed(&self) -> bool {
        self.attributes & COMPRESSION_MASK == 0
    }
}

/// Checks that `bytes` is exactly one valid v2 batch: header present, magic 2,
/// `batchLength` matching the bytes, a non-negative `lastOffsetDelta`, and the
/// CRC-32C. Returns its header.
pub fn check(bytes: &[u8]) -> Result<BatchHeader, BatchError> {
    let Some(raw) = bytes.first_chunk::<BATCH_HEADER_BYTES>() else {
        return Err(BatchError::Short {
            len: bytes.len(),
            need: BATCH_HEADER_BYTES,
        });
    };
    let header = BatchHeader::parse(raw);
    if header.magic != MAGIC_V2 {
        return Err(BatchError::BadMagic(header.magic));
    }
    let too_small = header.batch_length < (BATCH_HEADER_BYTES - LOG_OVERHEAD_BYTES) as i32;
    if too_small || header.total_len != bytes.len() as u64 {
        return Err(BatchError::BadLength {
            batch_length: header.batch_length,
            len: bytes.len(),
        });
    }
    if header.last_offset_delta < 0 {
        return Err(BatchError::BadOffsetDelta(header.last_offset_delta));
    }
    let computed = crc32c::crc32c(&bytes[ATTRIBUTES_AT..]);
    if computed != header.crc {
        return Err(BatchError::BadCrc {
            stored: header.crc,
            computed,
        });
    }
    Ok(header)
}

/// Gives a header its offsets and leader epoch (both outside the CRC).
pub fn assign(header: &mut [u8; BATCH_HEADER_BYTES], base_offset: i64, leader_epoch: i32) {
    header[0..BATCH_LENGTH_AT].copy_from_slice(&base_offset.to_be_bytes());
    header[LEADER_EPOCH_AT..MAGIC_AT].copy_from_slice(&leader_epoch.to_be_bytes());
}

/// Marks a batch LogAppendTime with `now` as its max timestamp (Kafka keeps
/// `baseTimestamp`) and recomputes the CRC over the rewritten header and the
/// untouched `body` (the bytes after the header).
pub fn stamp_log_append_time(header: &mut [u8; BATCH_HEADER_BYTES], body: &[u8], now: i64) {
    let attributes = i16::from_be_bytes([header[ATTRIBUTES_AT], header[ATTRIBUTES_AT + 1]])
        | LOG_APPEND_TIME_BIT;
    header[ATTRIBUTES_AT..LAST_OFFSET_DELTA_AT].copy_from_slice(&attributes.to_be_bytes());
    header[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&now.to_be_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&header[ATTRIBUTES_AT..]), body);
    header[CRC_AT..ATTRIBUTES_AT].copy_from_slice(&crc.to_be_bytes());
}

/// The first record of an uncompressed, CreateTime batch whose offset and
/// timestamp satisfy `wanted`: (offset, timestamp). `None` when the batch is
/// compressed or LogAppendTime (the caller answers at batch level), when no record
/// matches, or when the records are malformed.
pub fn find_record(batch: &[u8], wanted: impl Fn(i64, i64) -> bool) -> Option<(i64, i64)> {
    let header = BatchHeader::parse(batch.first_chunk::<BATCH_HEADER_BYTES>()?);
    if !header.is_uncompressed() || header.is_log_append_time() {
        return None;
    }
    let mut rest = batch.get(BATCH_HEADER_BYTES..)?;
    for _ in 0..header.record_count.max(0) {
        let length = usize::try_from(varint(&mut rest)?).ok()?;
        let mut record = rest.get(..length)?;
        rest = &rest[length..];
        let _attributes = record.split_first()?;
        record = &record[1..];
        let timestamp = header.base_timestamp.wrapping_add(varint(&mut record)?);
        let offset = header.base_offset + varint(&mut record)?;
        if wanted(offset, timestamp) {
            return Some((offset, timestamp));
        }
    }
    None
}

/// Sets `batchLength`, `recordCount` and the CRC of a whole batch in `bytes` (after
/// records were removed from it).
pub fn set_length_count_crc(bytes: &mut [u8], record_count: i32) {
    let batch_length = (bytes.len() - LOG_OVERHEAD_BYTES) as i32;
    bytes[BATCH_LENGTH_AT..LEADER_EPOCH_AT].copy_from_slice(&batch_length.to_be_bytes());
    bytes[RECORD_COUNT_AT..BATCH_HEADER_BYTES].copy_from_slice(&record_count.to_be_bytes());
    let crc = crc32c::crc32c(&bytes[ATTRIBUTES_AT..]);
    bytes[CRC_AT..ATTRIBUTES_AT].copy_from_slice(&crc.to_be_bytes());
}

/// A batch with no records covering `base_offset..=base_offset + last_offset_delta`
/// (what compaction leaves where every record of a run of batches was removed;
/// Kafka's clients skip such batches and move past their last offset).
pub fn empty_batch(
    base_offset: i64,
    last_offset_delta: i32,
    leader_epoch: i32,
    base_timestamp: i64,
    max_timestamp: i64,
) -> [u8; BATCH_HEADER_BYTES] {
    let mut b = [0u8; BATCH_HEADER_BYTES];
    b[0..BATCH_LENGTH_AT].copy_from_slice(&base_offset.to_be_bytes());
    b[LEADER_EPOCH_AT..MAGIC_AT].copy_from_slice(&leader_epoch.to_be_bytes());
    b[MAGIC_AT] = MAGIC_V2 as u8;
    b[LAST_OFFSET_DELTA_AT..BASE_TIMESTAMP_AT].copy_from_slice(&last_offset_delta.to_be_bytes());
    b[BASE_TIMESTAMP_AT..MAX_TIMESTAMP_AT].copy_from_slice(&base_timestamp.to_be_bytes());
    b[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&max_timestamp.to_be_bytes());
    // Producer id and epoch -1, base sequence -1: no producer.
    b[MAX_TIMESTAMP_AT + 8..RECORD_COUNT_AT].fill(0xff);
    set_length_count_crc(&mut b, 0);
    b
}

/// Reads one zigzag varint (up to 64 bits) and advances `buf` past it.
pub(super) fn varint(buf: &mut &[u8]) -> Option<i64> {
    /// Bytes of the longest 64-bit varint.
    const VARINT_BYTES_MAX: usize = 10;
    let mut raw: u64 = 0;
    for i in 0..VARINT_BYTES_MAX {
        let (&byte, rest) = buf.split_first()?;
        *buf = rest;
        raw |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((raw >> 1) as i64 ^ -((raw & 1) as i64));
        }
    }
    None
}

#[cfg(test)]
pub mod testing {
    //! Builders of valid v2 batches for tests.

    use bytes::{BufMut, Bytes, BytesMut};

    use super::{ATTRIBUTES_AT, BATCH_HEADER_BYTES, CRC_AT, LOG_OVERHEAD_BYTES, MAGIC_V2};

    fn put_varint(buf: &mut BytesMut, value: i64) {
        let mut raw = ((value << 1) ^ (value >> 63)) as u64;
        while raw >= 0x80 {
            buf.put_u8((raw as u8) | 0x80);
            raw >>= 7;
        }
        buf.put_u8(raw as u8);
    }

    /// A batch of records with the given timestamps, each with a `payload_len`
    /// byte value derived from `tag` and its index (so batches are distinguishable).
    pub fn batch_with_timestamps(tag: u64, timestamps: &[i64], payload_len: usize) -> Bytes {
        let base_ts = timestamps.first().copied().unwrap_or(0);
        let max_ts = timestamps.iter().copied().max().unwrap_or(base_ts);
        let mut records = BytesMut::new();
        for (i, ts) in timestamps.iter().enumerate() {
            let mut record = BytesMut::new();
            record.put_i8(0);
            put_varint(&mut record, ts - base_ts);
            put_varint(&mut record, i as i64);
            put_varint(&mut record, -1); // null key
            put_varint(&mut record, payload_len as i64);
            let fill = (tag as u8).wrapping_mul(31).wrapping_add(i as u8);
            record.put_bytes(fill, payload_len);
            put_varint(&mut record, 0); // no headers
            put_varint(&mut records, record.len() as i64);
            records.put_slice(&record);
        }
        let mut b = BytesMut::with_capacity(BATCH_HEADER_BYTES + records.len());
        b.put_i64(0); // baseOffset: the log assigns it
        b.put_i32((BATCH_HEADER_BYTES - LOG_OVERHEAD_BYTES + records.len()) as i32);
        b.put_i32(-1); // partitionLeaderEpoch
        b.put_i8(MAGIC_V2);
        b.put_u32(0); // crc, below
        b.put_i16(0); // attributes: CreateTime, uncompressed
        b.put_i32(timestamps.len().saturating_sub(1) as i32);
        b.put_i64(base_ts);
        b.put_i64(max_ts);
        b.put_i64(-1); // producerId
        b.put_i16(-1); // producerEpoch
        b.put_i32(-1); // baseSequence
        b.put_i32(timestamps.len() as i32);
        b.put_slice(&records);
        let crc = crc32c::crc32c(&b[ATTRIBUTES_AT..]);
        b[CRC_AT..ATTRIBUTES_AT].copy_from_slice(&crc.to_be_bytes());
        b.freeze()
    }

    /// A batch of `records` records with `payload_len`-byte values, all at
    /// `timestamp`.
    pub fn test_batch(records: usize, payload_len: usize, timestamp: i64) -> Bytes {
        batch_with_timestamps(records as u64, &vec![timestamp; records], payload_len)
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{batch_with_timestamps, test_batch};
    use super::*;

    #[test]
    fn built_batches_check_and_walk() {
        let batch = batch_with_timestamps(7, &[100, 90, 130], 5);
        let header = check(&batch).unwrap();
        assert_eq!((header.record_count, header.last_offset_delta), (3, 2));
        assert_eq!((header.base_timestamp, header.max_timestamp), (100, 130));
        assert_eq!(find_record(&batch, |_, ts| ts >= 95), Some((0, 100)));
        assert_eq!(find_record(&batch, |_, ts| ts >= 101), Some((2, 130)));
        assert_eq!(find_record(&batch, |o, _| o >= 1), Some((1, 90)));
        assert_eq!(find_record(&batch, |_, ts| ts > 130), None);
    }

    #[test]
    fn check_refuses_damage() {
        let batch = test_batch(2, 10, 5);
        assert!(matches!(check(&batch[..40]), Err(BatchError::Short { .. })));
        assert!(matches!(
            check(&batch[..batch.len() - 1]),
            Err(BatchError::BadLength { .. })
        ));
        let mut bad = batch.to_vec();
        bad[MAGIC_AT] = 1;
        assert_eq!(check(&bad), Err(BatchError::BadMagic(1)));
        let mut bad = batch.to_vec();
        *bad.last_mut().unwrap() ^= 1;
        assert!(matches!(check(&bad), Err(BatchError::BadCrc { .. })));
        // Offset and epoch are outside the CRC: rewriting them keeps it valid.
        let mut header = *batch.first_chunk::<BATCH_HEADER_BYTES>().unwrap();
        assign(&mut header, 42, 7);
        stamp_log_append_time(&mut header, &batch[BATCH_HEADER_BYTES..], 999);
        let mut stamped = header.to_vec();
        stamped.extend_from_slice(&batch[BATCH_HEADER_BYTES..]);
        let h = check(&stamped).unwrap();
        assert_eq!((h.base_offset, h.leader_epoch, h.last_offset), (42, 7, 43));
        assert!(h.is_log_append_time());
        assert_eq!((h.base_timestamp, h.max_timestamp), (5, 999));
        assert_eq!(find_record(&stamped, |_, _| true), None, "batch level");
    }

    #[test]
    fn varints_round_trip_and_stop_at_ten_bytes() {
        for value in [0i64, 1, -1, 63, -64, 300, i64::MAX, i64::MIN] {
            let mut buf = bytes::BytesMut::new();
            let raw = ((value << 1) ^ (value >> 63)) as u64;
            let mut r = raw;
            while r >= 0x80 {
                buf.extend_from_slice(&[(r as u8) | 0x80]);
                r >>= 7;
            }
            buf.extend_from_slice(&[r as u8]);
            let mut slice = &buf[..];
            assert_eq!(varint(&mut slice), Some(value));
            assert!(slice.is_empty());
        }
        let mut endless = &[0xffu8; 11][..];
        assert_eq!(varint(&mut endless), None);
    }
}
