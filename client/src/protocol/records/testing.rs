//! Builders for valid uncompressed v2 batches and a CRC fixer, for tests and fuzzers
//! in this and other crates. Compiled always: small, and free of test-only crates.

use bytes::{BufMut, Bytes, BytesMut};

use super::{CRC_COVERED_FROM, LOG_OVERHEAD_BYTES, MAGIC_V2, batch_total_len};
use crate::protocol::limits::RECORD_BATCH_HEADER_BYTES;

/// A record as (key, value), both nullable.
pub type KeyValue<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

/// A record header as (key, nullable value).
pub type Header<'a> = (&'a [u8], Option<&'a [u8]>);

/// One record for [`build_batch_of`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TestRecord<'a> {
    /// Key (nullable).
    pub key: Option<&'a [u8]>,
    /// Value (nullable).
    pub value: Option<&'a [u8]>,
    /// Headers, in order.
    pub headers: &'a [Header<'a>],
    /// Absolute timestamp in ms (the first record's is the batch's base).
    pub timestamp: i64,
}

/// A valid uncompressed v2 batch (base offset 0, CreateTime, no producer id)
/// holding `records` as (key, value), all at `base_timestamp`.
pub fn build_batch(records: &[KeyValue<'_>], base_timestamp: i64) -> Bytes {
    let records: Vec<TestRecord<'_>> = records
        .iter()
        .map(|&(key, value)| TestRecord {
            key,
            value,
            headers: &[],
            timestamp: base_timestamp,
        })
        .collect();
    build_batch_at(&records, 0, base_timestamp)
}

/// A valid batch of one small record (value `v`) per timestamp.
pub fn build_batch_with_timestamps(timestamps: &[i64]) -> Bytes {
    let records: Vec<TestRecord<'_>> = timestamps
        .iter()
        .map(|&timestamp| TestRecord {
            key: None,
            value: Some(b"v"),
            headers: &[],
            timestamp,
        })
        .collect();
    build_batch_at(&records, 0, timestamps.first().copied().unwrap_or(0))
}

/// A valid uncompressed batch of `records` (with headers and per-record
/// timestamps) at `base_offset`.
pub fn build_batch_of(records: &[TestRecord<'_>], base_offset: i64) -> Bytes {
    let base_timestamp = records.first().map_or(0, |r| r.timestamp);
    build_batch_at(records, base_offset, base_timestamp)
}

fn build_batch_at(records: &[TestRecord<'_>], base_offset: i64, base_timestamp: i64) -> Bytes {
    let max_timestamp = records
        .iter()
        .map(|r| r.timestamp)
        .max()
        .unwrap_or(base_timestamp);
    let mut body = BytesMut::new();
    for (offset_delta, record) in records.iter().enumerate() {
        put_record(&mut body, record, offset_delta as i64, base_timestamp);
    }
    let mut after_crc = BytesMut::with_capacity(RECORD_BATCH_HEADER_BYTES + body.len());
    after_crc.put_i16(0);
    after_crc.put_i32(records.len().max(1) as i32 - 1);
    after_crc.put_i64(base_timestamp);
    after_crc.put_i64(max_timestamp);
    after_crc.put_i64(-1);
    after_crc.put_i16(-1);
    after_crc.put_i32(-1);
    after_crc.put_i32(records.len() as i32);
    after_crc.put_slice(&body);
    let mut out = BytesMut::with_capacity(CRC_COVERED_FROM + after_crc.len());
    out.put_i64(base_offset);
    out.put_i32((after_crc.len() + CRC_COVERED_FROM - LOG_OVERHEAD_BYTES) as i32);
    out.put_i32(0);
    out.put_i8(MAGIC_V2);
    out.put_u32(crc32c::crc32c(&after_crc));
    out.put_slice(&after_crc);
    out.freeze()
}

/// Appends one encoded record (length-prefixed) to `out`.
pub fn put_record(out: &mut BytesMut, r: &TestRecord<'_>, offset_delta: i64, base_ts: i64) {
    let mut rec = BytesMut::new();
    rec.put_i8(0);
    put_varint(&mut rec, r.timestamp.wrapping_sub(base_ts));
    put_varint(&mut rec, offset_delta);
    put_varint_bytes(&mut rec, r.key);
    put_varint_bytes(&mut rec, r.value);
    put_varint(&mut rec, r.headers.len() as i64);
    for (key, value) in r.headers {
        put_varint_bytes(&mut rec, Some(key));
        put_varint_bytes(&mut rec, *value);
    }
    put_varint(out, rec.len() as i64);
    out.put_slice(&rec);
}

pub use crate::protocol::batch_encoder::put_varint;
use crate::protocol::batch_encoder::put_varint_bytes;

/// Rewrites the CRC of the v2 batch at the front of `batch` to match its bytes;
/// returns its total length, or `None` (nothing written) when it is not a whole v2
/// batch. Lets tests and fuzzers tamper with a batch and still get past the CRC.
pub fn fix_crc(batch: &mut [u8]) -> Option<usize> {
    let len = batch_total_len(batch, 0).ok()?;
    let crc = crc32c::crc32c(&batch[CRC_COVERED_FROM..len]);
    batch[CRC_COVERED_FROM - 4..CRC_COVERED_FROM].copy_from_slice(&crc.to_be_bytes());
    Some(len)
}

/// [`fix_crc`] for every whole batch of a record set, front to back; returns how
/// many were fixed (it stops at the first thing that is not a whole v2 batch).
pub fn fix_crcs(set: &mut [u8]) -> usize {
    let (mut position, mut fixed) = (0, 0);
    while let Some(len) = fix_crc(&mut set[position..]) {
        position += len;
        fixed += 1;
    }
    fixed
}
