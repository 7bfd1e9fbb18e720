//! Building one RecordBatch v2 in place: records are encoded straight into the
//! buffer behind a 61-byte header that is filled in when the batch is sealed
//! (so an uncompressed batch is never copied).

use bytes::{BufMut, Bytes, BytesMut};

use crate::protocol::compression::{Compression, CompressionError, compress};

/// Bytes of a batch header.
pub const HEADER_BYTES: usize = 61;

/// The RecordBatch attribute bit of a transactional batch.
pub const TRANSACTIONAL_ATTRIBUTE: i16 = 0x10;

/// A header of a record.
pub type Header = (String, Option<Bytes>);

/// Bytes of the zigzag varint of `v`.
fn varint_len(v: i64) -> usize {
    let z = ((v << 1) ^ (v >> 63)) as u64;
    (64 - (z | 1).leading_zeros() as usize).div_ceil(7)
}

fn put_varint(out: &mut BytesMut, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.put_u8((z as u8) | 0x80);
        z >>= 7;
    }
    out.put_u8(z as u8);
}

fn bytes_len(b: Option<&[u8]>) -> usize {
    match b {
        None => 1,
        Some(b) => varint_len(b.len() as i64) + b.len(),
    }
}

fn put_bytes(out: &mut BytesMut, b: Option<&[u8]>) {
    match b {
        None => put_varint(out, -1),
        Some(b) => {
            put_varint(out, b.len() as i64);
            out.put_slice(b);
        }
    }
}

/// An open batch.
#[derive(Debug)]
pub struct BatchBuilder {
    buf: BytesMut,
    count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    transactional: bool,
}

impl BatchBuilder {
    /// An empty batch with room for `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        let mut buf = BytesMut::with_capacity(capacity.max(HEADER_BYTES + 64));
        buf.put_bytes(0, HEADER_BYTES);
        Self {
            buf,
            count: 0,
            base_timestamp: 0,
            max_timestamp: 0,
            transactional: false,
        }
    }

    /// Marks the batch as part of a transaction (attribute bit 0x10).
    pub fn set_transactional(&mut self, transactional: bool) {
        self.transactional = transactional;
    }

    /// Records so far.
    pub fn count(&self) -> i32 {
        self.count
    }

    /// Bytes so far (header included).
    pub fn size(&self) -> usize {
        self.buf.len()
    }

    /// Upper bound of the bytes `record` adds (timestamp delta at most 10).
    pub fn record_size_bound(
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> usize {
        let mut n = 1 + 10 + 5 + bytes_len(key) + bytes_len(value) + 5;
        for (k, v) in headers {
            n += bytes_len(Some(k.as_bytes())) + bytes_len(v.as_deref());
        }
        n + 5
    }

    /// Appends a record; returns its index in the batch.
    pub fn append(
        &mut self,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> i32 {
        if self.count == 0 {
            self.base_timestamp = timestamp_ms;
            self.max_timestamp = timestamp_ms;
        }
        self.max_timestamp = self.max_timestamp.max(timestamp_ms);
        let delta = timestamp_ms - self.base_timestamp;
        let index = self.count;
        let mut len = 1 + varint_len(delta) + varint_len(i64::from(index));
        len += bytes_len(key) + bytes_len(value) + varint_len(headers.len() as i64);
        for (k, v) in headers {
            len += bytes_len(Some(k.as_bytes())) + bytes_len(v.as_deref());
        }
        let b = &mut self.buf;
        put_varint(b, len as i64);
        b.put_u8(0);
        put_varint(b, delta);
        put_varint(b, i64::from(index));
        put_bytes(b, key);
        put_bytes(b, value);
        put_varint(b, headers.len() as i64);
        for (k, v) in headers {
            put_bytes(b, Some(k.as_bytes()));
            put_bytes(b, v.as_deref());
        }
        self.count += 1;
        index
    }

    /// The finished batch: header filled in (producer fields as given, -1 for a
    /// non-idempotent producer), records compressed with `codec`.
    pub fn seal(
        self,
        codec: Compression,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
    ) -> Result<Bytes, CompressionError> {
        let mut buf = if codec == Compression::None {
            self.buf
        } else {
            let mut out = Vec::with_capacity(HEADER_BYTES + self.buf.len() / 2);
            out.resize(HEADER_BYTES, 0);
            compress(codec, &self.buf[HEADER_BYTES..], &mut out)?;
            BytesMut::from(&out[..])
        };
        let batch_length = (buf.len() - 12) as i32;
        let mut h = &mut buf[..HEADER_BYTES];
        h.put_i64(0); // baseOffset: the broker assigns it
        h.put_i32(batch_length);
        h.put_i32(-1); // partitionLeaderEpoch
        h.put_i8(2); // magic
        h.put_u32(0); // crc, below
        let transactional = if self.transactional {
            TRANSACTIONAL_ATTRIBUTE
        } else {
            0
        };
        h.put_i16(codec.id() | transactional);
        h.put_i32(self.count - 1);
        h.put_i64(self.base_timestamp);
        h.put_i64(self.max_timestamp);
        h.put_i64(producer_id);
        h.put_i16(producer_epoch);
        h.put_i32(base_sequence);
        h.put_i32(self.count);
        let crc = crc32c::crc32c(&buf[21..]);
        buf[17..21].copy_from_slice(&crc.to_be_bytes());
        Ok(buf.freeze())
    }
}

/// A sealed batch given to another producer identity: the producer fields
/// rewritten, the CRC recomputed, the records untouched.
pub fn restamp(batch: &[u8], producer_id: i64, producer_epoch: i16, base_sequence: i32) -> Bytes {
    let mut out = BytesMut::from(batch);
    out[43..51].copy_from_slice(&producer_id.to_be_bytes());
    out[51..53].copy_from_slice(&producer_epoch.to_be_bytes());
    out[53..57].copy_from_slice(&base_sequence.to_be_bytes());
    let crc = crc32c::crc32c(&out[21..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::compression::decompress;
    use crate::protocol::records::{RecordBatchView, records_of};

    fn build(codec: Compression) -> Bytes {
        let mut b = BatchBuilder::new(1024);
        b.append(1_000, Some(b"k1"), Some(b"v1"), &[]);
        b.append(
            1_005,
            None,
            Some(&[7u8; 300]),
            &[
                ("h".into(), Some(Bytes::from_static(b"x"))),
                ("n".into(), None),
            ],
        );
        b.append(990, Some(b""), None, &[]);
        b.seal(codec, 42, 3, 100).unwrap()
    }

    #[test]
    fn sealed_batches_parse_with_their_records_and_producer_fields() {
        for codec in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let batch = build(codec);
            let (view, len) = RecordBatchView::parse(&batch).unwrap();
            assert_eq!(len, batch.len());
            view.check_produced().unwrap();
            assert_eq!(view.record_count(), 3);
            assert_eq!(
                (
                    view.producer_id(),
                    view.producer_epoch(),
                    view.base_sequence()
                ),
                (42, 3, 100)
            );
            assert_eq!(
                (view.base_timestamp(), view.max_timestamp()),
                (1_000, 1_005)
            );
            assert_eq!(view.compression(), codec.id());
            let body = decompress(codec, &view.records_bytes(), 1 << 20).unwrap();
            let records: Vec<_> = records_of(body.into(), 3).map(Result::unwrap).collect();
            assert_eq!(records[0].key.as_deref(), Some(&b"k1"[..]));
            assert_eq!(records[1].value.as_deref().map(<[u8]>::len), Some(300));
            assert_eq!(records[1].headers.len(), 2);
            assert_eq!(records[1].headers[1].1, None);
            assert_eq!(records[2].key.as_deref(), Some(&b""[..]));
            assert_eq!(records[2].value, None);
            assert_eq!(records[2].timestamp_delta, -10);
            assert_eq!(records[2].offset_delta, 2);
        }
    }

    #[test]
    fn restamped_batches_carry_the_new_identity_and_a_valid_crc() {
        let batch = build(Compression::Lz4);
        let again = restamp(&batch, 99, 0, 7);
        let (view, _) = RecordBatchView::parse(&again).unwrap();
        assert_eq!(
            (
                view.producer_id(),
                view.producer_epoch(),
                view.base_sequence()
            ),
            (99, 0, 7)
        );
        assert_eq!(
            view.records_bytes(),
            RecordBatchView::parse(&batch).unwrap().0.records_bytes()
        );
    }

    #[test]
    fn transactional_batches_carry_the_attribute_bit() {
        for codec in [Compression::None, Compression::Zstd] {
            let mut b = BatchBuilder::new(256);
            b.set_transactional(true);
            b.append(1, None, Some(b"v"), &[]);
            let batch = b.seal(codec, 7, 1, 0).unwrap();
            let (view, _) = RecordBatchView::parse(&batch).unwrap();
            view.check_produced().unwrap();
            assert!(view.is_transactional());
            assert!(!view.is_control());
            assert_eq!(view.compression(), codec.id());
            let again = restamp(&batch, 7, 2, 5);
            assert!(RecordBatchView::parse(&again).unwrap().0.is_transactional());
        }
        let batch = build(Compression::None);
        assert!(!RecordBatchView::parse(&batch).unwrap().0.is_transactional());
    }

    #[test]
    fn size_bounds_hold() {
        let mut b = BatchBuilder::new(0);
        for i in 0..1000i64 {
            let value = vec![1u8; (i * 37 % 500) as usize];
            let before = b.size();
            let bound = BatchBuilder::record_size_bound(Some(b"key"), Some(&value), &[]);
            b.append(i * 1_000_000, Some(b"key"), Some(&value), &[]);
            assert!(b.size() - before <= bound);
        }
        for v in [0i64, 1, -1, 63, 64, -65, i64::MAX, i64::MIN] {
            let mut out = BytesMut::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
        }
    }
}
