//! Encoding uncompressed RecordBatch v2 batches: what the broker writes for its
//! internal topics (and what a producer sends).

use bytes::{BufMut, Bytes, BytesMut};

/// One record to encode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecord {
    /// Key (nullable).
    pub key: Option<Bytes>,
    /// Value (null is a tombstone).
    pub value: Option<Bytes>,
    /// Timestamp in ms.
    pub timestamp_ms: i64,
}

/// Appends a zigzag varint (or varlong) to `out`.
pub fn put_varint(out: &mut BytesMut, v: i64) {
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

/// Appends a varint length (-1 for null) and the bytes.
pub fn put_varint_bytes(out: &mut BytesMut, b: Option<&[u8]>) {
    match b {
        None => put_varint(out, -1),
        Some(b) => {
            put_varint(out, b.len() as i64);
            out.put_slice(b);
        }
    }
}

/// An uncompressed v2 batch (base offset 0, CreateTime, no producer id) holding
/// `records`; `None` for an empty list (a batch needs at least one record).
pub fn encode_batch(records: &[NewRecord]) -> Option<Bytes> {
    let base_timestamp = records.first()?.timestamp_ms;
    let max_timestamp = records
        .iter()
        .map(|r| r.timestamp_ms)
        .max()
        .unwrap_or(base_timestamp);
    let mut body = BytesMut::new();
    for (i, record) in records.iter().enumerate() {
        let mut rec = BytesMut::new();
        rec.put_i8(0);
        put_varint(&mut rec, record.timestamp_ms - base_timestamp);
        put_varint(&mut rec, i as i64);
        put_varint_bytes(&mut rec, record.key.as_deref());
        put_varint_bytes(&mut rec, record.value.as_deref());
        put_varint(&mut rec, 0);
        put_varint(&mut body, rec.len() as i64);
        body.put_slice(&rec);
    }
    let mut after_crc = BytesMut::with_capacity(49 + body.len());
    after_crc.put_i16(0);
    after_crc.put_i32(records.len() as i32 - 1);
    after_crc.put_i64(base_timestamp);
    after_crc.put_i64(max_timestamp);
    after_crc.put_i64(-1);
    after_crc.put_i16(-1);
    after_crc.put_i32(-1);
    after_crc.put_i32(records.len() as i32);
    after_crc.put_slice(&body);
    let mut out = BytesMut::with_capacity(12 + 9 + after_crc.len());
    out.put_i64(0);
    out.put_i32((after_crc.len() + 9) as i32);
    out.put_i32(0);
    out.put_i8(2);
    out.put_u32(crc32c::crc32c(&after_crc));
    out.put_slice(&after_crc);
    Some(out.freeze())
}

/// Like [`encode_batch`], but part of `producer_id`'s transaction (the
/// transactional attribute and producer fields set, no sequence: what a
/// group coordinator writes for TxnOffsetCommit).
pub fn encode_transactional_batch(
    records: &[NewRecord],
    producer_id: i64,
    producer_epoch: i16,
) -> Option<Bytes> {
    let plain = encode_batch(records)?;
    let mut out = BytesMut::from(&plain[..]);
    out[21..23].copy_from_slice(&0x10i16.to_be_bytes());
    out[43..51].copy_from_slice(&producer_id.to_be_bytes());
    out[51..53].copy_from_slice(&producer_epoch.to_be_bytes());
    let crc = crc32c::crc32c(&out[21..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    Some(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::records::RecordBatchView;

    #[test]
    fn encoded_batches_parse_back() {
        let records = vec![
            NewRecord {
                key: Some(Bytes::from_static(b"k")),
                value: Some(Bytes::from_static(b"v")),
                timestamp_ms: 10,
            },
            NewRecord {
                key: Some(Bytes::from_static(b"gone")),
                value: None,
                timestamp_ms: 15,
            },
        ];
        let batch = encode_batch(&records).unwrap();
        let (view, _) = RecordBatchView::parse(&batch).unwrap();
        assert_eq!((view.record_count(), view.max_timestamp()), (2, 15));
        let decoded: Vec<_> = view.records().unwrap().map(Result::unwrap).collect();
        assert_eq!(decoded[1].value, None);
        assert_eq!(decoded[1].timestamp_delta, 5);
        assert!(encode_batch(&[]).is_none());
    }

    #[test]
    fn transactional_batches_carry_their_producer() {
        let records = vec![NewRecord {
            key: Some(Bytes::from_static(b"k")),
            value: None,
            timestamp_ms: 3,
        }];
        let batch = encode_transactional_batch(&records, 77, 4).unwrap();
        let (view, _) = RecordBatchView::parse(&batch).unwrap();
        assert!(view.is_transactional() && !view.is_control());
        assert_eq!((view.producer_id(), view.producer_epoch()), (77, 4));
        assert_eq!(view.base_sequence(), -1);
        assert_eq!(view.records().unwrap().count(), 1);
    }
}
