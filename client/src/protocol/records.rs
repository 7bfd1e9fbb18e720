//! RecordBatch v2: a zero-copy header view with CRC-32C validation, iteration over
//! the batches of a record set, and (for uncompressed batches) over records.
//!
//! Nothing here allocates in proportion to a count read from the wire, and nothing
//! panics on any input: lengths are checked against the bytes present first.

use bytes::{BufMut, Bytes, BytesMut};
use thiserror::Error;

use super::limits::RECORD_BATCH_HEADER_BYTES;
use super::reader::Reader;

/// Offset of `batchLength` (bytes after it = the rest of the batch).
const BATCH_LENGTH_OFFSET: usize = 8;
/// Bytes up to and including `batchLength`.
pub const LOG_OVERHEAD_BYTES: usize = 12;
/// Offset of `magic`.
const MAGIC_OFFSET: usize = 16;
/// Offset of `crc`.
const CRC_OFFSET: usize = 17;
/// Offset of `attributes` (the CRC covers from here to the end).
const ATTRIBUTES_OFFSET: usize = 21;
/// Smallest encoded record: length, attributes, two varint deltas, key/value
/// lengths and header count of one byte each.
const RECORD_BYTES_MIN: usize = 7;

/// Why a record set is not a valid sequence of v2 batches.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BatchError {
    /// Fewer bytes than the batch header or its declared length.
    #[error("truncated batch at byte {position}: needs {needed} bytes, {remaining} remain")]
    Truncated {
        position: usize,
        needed: usize,
        remaining: usize,
    },
    /// A magic other than 2 (legacy message sets).
    #[error("unsupported record batch magic {magic}")]
    UnsupportedMagic { magic: i8 },
    /// The stored CRC does not match the bytes.
    #[error("CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
    /// Header fields that contradict each other or the byte count.
    #[error("invalid batch header: {0}")]
    Invalid(&'static str),
}

/// A validated view of one RecordBatch v2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBatchView {
    /// The whole batch, from baseOffset to its last byte.
    bytes: Bytes,
}

fn i16_at(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn i64_at(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

impl RecordBatchView {
    /// Validates the batch at the front of `data` (lengths, magic, CRC, header
    /// consistency); returns the view and the batch's total length.
    pub fn parse(data: &Bytes) -> Result<(Self, usize), BatchError> {
        let len = Self::total_len(data, 0)?;
        let view = Self {
            bytes: data.slice(..len),
        };
        view.check()?;
        Ok((view, len))
    }

    /// The declared total length of the batch at `data[0..]`, checked against what is
    /// present; magic is checked too (a legacy set has a different layout).
    fn total_len(data: &[u8], position: usize) -> Result<usize, BatchError> {
        if data.len() < LOG_OVERHEAD_BYTES + 5 {
            return Err(BatchError::Truncated {
                position,
                needed: LOG_OVERHEAD_BYTES + 5,
                remaining: data.len(),
            });
        }
        let batch_length = i32_at(data, BATCH_LENGTH_OFFSET);
        let magic = data[MAGIC_OFFSET] as i8;
        if magic != 2 {
            return Err(BatchError::UnsupportedMagic { magic });
        }
        let min = (RECORD_BATCH_HEADER_BYTES - LOG_OVERHEAD_BYTES) as i32;
        if batch_length < min {
            return Err(BatchError::Invalid("batchLength shorter than the header"));
        }
        let total = LOG_OVERHEAD_BYTES + batch_length as usize;
        if data.len() < total {
            return Err(BatchError::Truncated {
                position,
                needed: total,
                remaining: data.len(),
            });
        }
        Ok(total)
    }

    fn check(&self) -> Result<(), BatchError> {
        let stored = self.crc();
        let computed = crc32c::crc32c(&self.bytes[ATTRIBUTES_OFFSET..]);
        if stored != computed {
            return Err(BatchError::CrcMismatch { stored, computed });
        }
        let count = self.record_count();
        let records_bytes = self.bytes.len() - RECORD_BATCH_HEADER_BYTES;
        if count < 0 || self.last_offset_delta() < 0 {
            return Err(BatchError::Invalid(
                "negative recordCount or lastOffsetDelta",
            ));
        }
        if self.compression() == 0 && count as usize > records_bytes / RECORD_BYTES_MIN {
            return Err(BatchError::Invalid(
                "recordCount larger than the bytes can hold",
            ));
        }
        // Compressed batches are bounded by the decompression output cap, later.
        if count == 0 && !self.is_control() && records_bytes > 0 {
            return Err(BatchError::Invalid("records present but recordCount is 0"));
        }
        if count > 0 && self.last_offset_delta() < count - 1 {
            return Err(BatchError::Invalid(
                "lastOffsetDelta smaller than recordCount - 1",
            ));
        }
        Ok(())
    }

    /// The batch bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }
    pub fn base_offset(&self) -> i64 {
        i64_at(&self.bytes, 0)
    }
    pub fn batch_length(&self) -> i32 {
        i32_at(&self.bytes, BATCH_LENGTH_OFFSET)
    }
    pub fn partition_leader_epoch(&self) -> i32 {
        i32_at(&self.bytes, 12)
    }
    pub fn magic(&self) -> i8 {
        self.bytes[MAGIC_OFFSET] as i8
    }
    pub fn crc(&self) -> u32 {
        i32_at(&self.bytes, CRC_OFFSET) as u32
    }
    pub fn attributes(&self) -> i16 {
        i16_at(&self.bytes, ATTRIBUTES_OFFSET)
    }
    /// 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub fn compression(&self) -> i16 {
        self.attributes() & 0x7
    }
    /// Whether timestamps are the broker's (LogAppendTime).
    pub fn is_log_append_time(&self) -> bool {
        self.attributes() & 0x8 != 0
    }
    pub fn is_transactional(&self) -> bool {
        self.attributes() & 0x10 != 0
    }
    pub fn is_control(&self) -> bool {
        self.attributes() & 0x20 != 0
    }
    pub fn last_offset_delta(&self) -> i32 {
        i32_at(&self.bytes, 23)
    }
    pub fn base_timestamp(&self) -> i64 {
        i64_at(&self.bytes, 27)
    }
    pub fn max_timestamp(&self) -> i64 {
        i64_at(&self.bytes, 35)
    }
    pub fn producer_id(&self) -> i64 {
        i64_at(&self.bytes, 43)
    }
    pub fn producer_epoch(&self) -> i16 {
        i16_at(&self.bytes, 51)
    }
    pub fn base_sequence(&self) -> i32 {
        i32_at(&self.bytes, 53)
    }
    pub fn record_count(&self) -> i32 {
        i32_at(&self.bytes, 57)
    }

    /// Records of an uncompressed batch (`None` for a compressed one).
    pub fn records(&self) -> Option<Records> {
        (self.compression() == 0).then(|| Records {
            reader: Reader::new(self.bytes.slice(RECORD_BATCH_HEADER_BYTES..)),
            remaining: self.record_count().max(0) as usize,
        })
    }
}

/// What [`batches`] yields: a valid batch and its length, or why the set stops.
pub type BatchItem = Result<(RecordBatchView, usize), BatchError>;

/// Iterates the batches of a record set. Stops after the first error; a partial
/// trailing batch (which a Kafka fetch response may contain) is `Truncated`.
pub fn batches(records: &Bytes) -> Batches {
    Batches {
        rest: records.clone(),
        position: 0,
        failed: false,
    }
}

/// Iterator returned by [`batches`].
pub struct Batches {
    /// Bytes not yet iterated.
    rest: Bytes,
    /// Position of `rest` in the record set (for errors).
    position: usize,
    /// An error was yielded; iteration is over.
    failed: bool,
}

impl Iterator for Batches {
    type Item = BatchItem;
    fn next(&mut self) -> Option<BatchItem> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        match RecordBatchView::total_len(&self.rest, self.position)
            .and_then(|_| RecordBatchView::parse(&self.rest))
        {
            Ok((view, len)) => {
                self.rest = self.rest.slice(len..);
                self.position += len;
                Some(Ok((view, len)))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// One record of an uncompressed batch, borrowing the batch's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Offset relative to the batch's base offset.
    pub offset_delta: i32,
    /// Timestamp relative to the batch's base timestamp.
    pub timestamp_delta: i64,
    /// Key (nullable).
    pub key: Option<Bytes>,
    /// Value (nullable).
    pub value: Option<Bytes>,
    /// Headers as (key, value).
    pub headers: Vec<(Bytes, Option<Bytes>)>,
}

/// Iterator over the records of an uncompressed batch; stops at the first error.
pub struct Records {
    /// The records section.
    reader: Reader,
    /// Records still declared by recordCount.
    remaining: usize,
}

impl Iterator for Records {
    type Item = Result<Record, BatchError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let record =
            decode_record(&mut self.reader).map_err(|_| BatchError::Invalid("malformed record"));
        if record.is_err() {
            self.remaining = 0;
        }
        Some(record)
    }
}

fn decode_record(r: &mut Reader) -> Result<Record, super::DecodeError> {
    let length = r.varint()?;
    let body =
        r.take(
            usize::try_from(length).map_err(|_| super::DecodeError::InvalidValue {
                what: "record length",
            })?,
        )?;
    let mut r = Reader::new(body);
    let _attributes = r.i8()?;
    let timestamp_delta = r.varlong()?;
    let offset_delta = r.varint()?;
    let key = varint_bytes(&mut r)?;
    let value = varint_bytes(&mut r)?;
    let count = r.varint()?;
    let count = usize::try_from(count).map_err(|_| super::DecodeError::InvalidValue {
        what: "header count",
    })?;
    if count.saturating_mul(2) > r.remaining() {
        return Err(super::DecodeError::InvalidValue {
            what: "header count",
        });
    }
    let mut headers = Vec::with_capacity(count);
    for _ in 0..count {
        let key =
            varint_bytes(&mut r)?.ok_or(super::DecodeError::InvalidValue { what: "header key" })?;
        headers.push((key, varint_bytes(&mut r)?));
    }
    r.finish()?;
    Ok(Record {
        offset_delta,
        timestamp_delta,
        key,
        value,
        headers,
    })
}

fn varint_bytes(r: &mut Reader) -> Result<Option<Bytes>, super::DecodeError> {
    match r.varint()? {
        -1 => Ok(None),
        n if n < 0 => Err(super::DecodeError::InvalidValue {
            what: "record field length",
        }),
        n => Ok(Some(r.take(n as usize)?)),
    }
}

/// Builders for valid batches, for tests in this and other crates.
pub mod testing {
    use super::*;

    fn put_varint(out: &mut BytesMut, v: i64) {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        loop {
            let byte = (z & 0x7f) as u8;
            z >>= 7;
            if z == 0 {
                out.put_u8(byte);
                return;
            }
            out.put_u8(byte | 0x80);
        }
    }

    fn put_varint_bytes(out: &mut BytesMut, b: Option<&[u8]>) {
        match b {
            None => put_varint(out, -1),
            Some(b) => {
                put_varint(out, b.len() as i64);
                out.put_slice(b);
            }
        }
    }

    /// A record as (key, value), both nullable.
    pub type KeyValue<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

    /// A valid uncompressed v2 batch (base offset 0, CreateTime, no producer id)
    /// holding `records` as (key, value), all at `base_timestamp`.
    pub fn build_batch(records: &[KeyValue<'_>], base_timestamp: i64) -> Bytes {
        encode_batch(records, &vec![base_timestamp; records.len().max(1)])
    }

    /// A valid batch of one small record per timestamp.
    pub fn build_batch_with_timestamps(timestamps: &[i64]) -> Bytes {
        let records: Vec<KeyValue<'_>> =
            timestamps.iter().map(|_| (None, Some(&b"v"[..]))).collect();
        encode_batch(&records, timestamps)
    }

    /// `timestamps[i]` is record i's timestamp; the first is the base.
    fn encode_batch(records: &[KeyValue<'_>], timestamps: &[i64]) -> Bytes {
        let base_timestamp = timestamps[0];
        let max_timestamp = timestamps.iter().copied().max().unwrap_or(base_timestamp);
        let mut body = BytesMut::new();
        for (i, ((key, value), ts)) in records.iter().zip(timestamps).enumerate() {
            let mut rec = BytesMut::new();
            rec.put_i8(0);
            put_varint(&mut rec, ts - base_timestamp);
            put_varint(&mut rec, i as i64);
            put_varint_bytes(&mut rec, *key);
            put_varint_bytes(&mut rec, *value);
            put_varint(&mut rec, 0);
            put_varint(&mut body, rec.len() as i64);
            body.put_slice(&rec);
        }
        let mut after_crc = BytesMut::new();
        after_crc.put_i16(0);
        after_crc.put_i32(records.len().max(1) as i32 - 1);
        after_crc.put_i64(base_timestamp);
        after_crc.put_i64(max_timestamp);
        after_crc.put_i64(-1);
        after_crc.put_i16(-1);
        after_crc.put_i32(-1);
        after_crc.put_i32(records.len() as i32);
        after_crc.put_slice(&body);
        let mut out = BytesMut::new();
        out.put_i64(0);
        out.put_i32((after_crc.len() + 9) as i32);
        out.put_i32(0);
        out.put_i8(2);
        out.put_u32(crc32c::crc32c(&after_crc));
        out.put_slice(&after_crc);
        out.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::build_batch;
    use super::*;

    #[test]
    fn parse_and_iterate_records() {
        let batch = build_batch(&[(Some(b"k1"), Some(b"v1")), (None, Some(b"v2"))], 1000);
        let (view, len) = RecordBatchView::parse(&batch).unwrap();
        assert_eq!(len, batch.len());
        assert_eq!(
            (
                view.record_count(),
                view.last_offset_delta(),
                view.max_timestamp()
            ),
            (2, 1, 1000)
        );
        let recs: Vec<Record> = view.records().unwrap().map(Result::unwrap).collect();
        assert_eq!(recs[0].key.as_deref(), Some(&b"k1"[..]));
        assert_eq!(recs[1].key, None);
        assert_eq!(recs[1].offset_delta, 1);
    }

    #[test]
    fn crc_mismatch_and_truncation() {
        let batch = build_batch(&[(None, Some(b"v"))], 0);
        let mut bad = BytesMut::from(&batch[..]);
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(matches!(
            RecordBatchView::parse(&bad.freeze()),
            Err(BatchError::CrcMismatch { .. })
        ));
        let short = batch.slice(..batch.len() - 1);
        assert!(matches!(
            RecordBatchView::parse(&short),
            Err(BatchError::Truncated { .. })
        ));
    }

    #[test]
    fn record_count_max_with_valid_crc_is_refused() {
        let batch = build_batch(&[(None, Some(b"v"))], 0);
        let mut b = BytesMut::from(&batch[..]);
        b[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        assert!(matches!(
            RecordBatchView::parse(&b.freeze()),
            Err(BatchError::Invalid(_))
        ));
    }

    #[test]
    fn legacy_magic_is_unsupported() {
        let batch = build_batch(&[(None, Some(b"v"))], 0);
        let mut b = BytesMut::from(&batch[..]);
        b[16] = 1;
        assert!(matches!(
            RecordBatchView::parse(&b.freeze()),
            Err(BatchError::UnsupportedMagic { magic: 1 })
        ));
    }

    #[test]
    fn batches_of_a_set_then_partial_tail() {
        let one = build_batch(&[(None, Some(b"a"))], 0);
        let mut set = BytesMut::new();
        set.put_slice(&one);
        set.put_slice(&one);
        set.put_slice(&one[..20]);
        let items: Vec<BatchItem> = batches(&set.freeze()).collect();
        assert_eq!(items.len(), 3);
        assert!(items[0].is_ok() && items[1].is_ok());
        assert!(
            matches!(items[2], Err(BatchError::Truncated { position, .. }) if position == 2 * one.len())
        );
    }
}
