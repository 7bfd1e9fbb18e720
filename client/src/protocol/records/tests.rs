//! Unit tests of the batch view, the batch and record iterators and the builders.

use bytes::{BufMut, Bytes, BytesMut};

use super::testing::{TestRecord, build_batch, build_batch_of, fix_crc, fix_crcs, put_varint};
use super::*;

fn one_record() -> Bytes {
    build_batch(&[(None, Some(b"v"))], 0)
}

/// `batch` with `f` applied to its bytes and the CRC recomputed.
fn tampered(batch: &Bytes, f: impl FnOnce(&mut [u8])) -> Bytes {
    let mut b = BytesMut::from(&batch[..]);
    f(&mut b);
    fix_crc(&mut b).expect("still a whole v2 batch");
    b.freeze()
}

fn set_i32(b: &mut [u8], at: usize, v: i32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

#[test]
fn parse_reads_every_header_field() {
    let batch = build_batch(&[(Some(b"k1"), Some(b"v1")), (None, Some(b"v2"))], 1000);
    let (view, len) = RecordBatchView::parse(&batch).unwrap();
    assert_eq!(len, batch.len());
    assert_eq!(view.base_offset(), 0);
    assert_eq!(
        view.batch_length() as usize,
        batch.len() - LOG_OVERHEAD_BYTES
    );
    assert_eq!(view.partition_leader_epoch(), 0);
    assert_eq!(view.magic(), 2);
    assert_eq!(view.crc(), crc32c::crc32c(&batch[21..]));
    assert_eq!((view.attributes(), view.compression()), (0, 0));
    assert!(!view.is_log_append_time() && !view.is_transactional() && !view.is_control());
    assert_eq!((view.record_count(), view.last_offset_delta()), (2, 1));
    assert_eq!((view.base_timestamp(), view.max_timestamp()), (1000, 1000));
    assert_eq!(view.producer_id(), -1);
    assert_eq!((view.producer_epoch(), view.base_sequence()), (-1, -1));
    assert_eq!(view.last_offset(), 1);
    view.check_produced().unwrap();
}

#[test]
fn records_of_an_uncompressed_batch() {
    let headers = [(&b"h1"[..], Some(&b"x"[..])), (&b"h2"[..], None)];
    let records = [
        TestRecord {
            key: Some(b"k1"),
            value: Some(b"v1"),
            headers: &headers,
            timestamp: 500,
        },
        TestRecord {
            key: None,
            value: None,
            headers: &[],
            timestamp: 480,
        },
    ];
    let batch = build_batch_of(&records, 42);
    let (view, _) = RecordBatchView::parse(&batch).unwrap();
    assert_eq!((view.base_offset(), view.max_timestamp()), (42, 500));
    let got: Vec<Record> = view.records().unwrap().map(Result::unwrap).collect();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].key.as_deref(), Some(&b"k1"[..]));
    assert_eq!(
        got[0].headers[0],
        (Bytes::from_static(b"h1"), Some("x".into()))
    );
    assert_eq!(got[0].headers[1], (Bytes::from_static(b"h2"), None));
    assert_eq!((got[1].key.clone(), got[1].value.clone()), (None, None));
    assert_eq!((got[1].offset_delta, got[1].timestamp_delta), (1, -20));
}

#[test]
fn crc_mismatch() {
    let batch = one_record();
    let mut bad = BytesMut::from(&batch[..]);
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(matches!(
        RecordBatchView::parse(&bad.freeze()),
        Err(BatchError::CrcMismatch { .. })
    ));
}

#[test]
fn truncated_anywhere_is_truncated() {
    let batch = one_record();
    for len in 0..batch.len() {
        let got = RecordBatchView::parse(&batch.slice(..len));
        assert!(
            matches!(got, Err(BatchError::Truncated { position: 0, .. })),
            "{len}: {got:?}"
        );
    }
}

#[test]
fn record_count_max_with_valid_crc_is_refused() {
    let batch = tampered(&one_record(), |b| set_i32(b, 57, i32::MAX));
    assert!(RecordBatchView::parse(&batch).is_err());
    // Even with a matching lastOffsetDelta, the bytes cannot hold that many.
    let batch = tampered(&one_record(), |b| {
        set_i32(b, 57, i32::MAX);
        set_i32(b, 23, i32::MAX - 1);
    });
    assert!(matches!(
        RecordBatchView::parse(&batch),
        Err(BatchError::Invalid(_))
    ));
}

#[test]
fn inconsistent_counts_are_refused() {
    for (count, last_offset_delta) in [(-1, 0), (2, 0), (1, -1), (i32::MIN, i32::MIN)] {
        let batch = tampered(&one_record(), |b| {
            set_i32(b, 57, count);
            set_i32(b, 23, last_offset_delta);
        });
        assert!(
            matches!(
                RecordBatchView::parse(&batch),
                Err(BatchError::InconsistentCount { .. })
            ),
            "count {count} lastOffsetDelta {last_offset_delta}"
        );
    }
}

#[test]
fn compacted_shapes_parse_but_are_not_producer_batches() {
    // Fewer records than offsets spanned (compaction kept record 0 of 0..=4).
    let gap = tampered(&one_record(), |b| set_i32(b, 23, 4));
    let (view, _) = RecordBatchView::parse(&gap).unwrap();
    assert!(matches!(
        view.check_produced(),
        Err(BatchError::InconsistentCount { .. })
    ));
    // An empty batch (kept for producer state).
    let empty = build_batch(&[], 7);
    let (view, _) = RecordBatchView::parse(&empty).unwrap();
    assert_eq!(view.record_count(), 0);
    assert_eq!(view.records().unwrap().count(), 0);
    assert!(view.check_produced().is_err());
}

#[test]
fn legacy_and_unknown_magic() {
    for (magic, legacy) in [(0i8, true), (1, true), (3, false), (-1, false)] {
        let mut b = BytesMut::from(&one_record()[..]);
        b[16] = magic as u8;
        let got = RecordBatchView::parse(&b.freeze());
        if legacy {
            assert_eq!(got, Err(BatchError::UnsupportedMagic { magic }));
        } else {
            assert_eq!(got, Err(BatchError::UnknownMagic { magic }));
        }
    }
}

#[test]
fn batch_length_below_header_or_negative() {
    for batch_length in [-1, i32::MIN, 0, 48] {
        let mut b = BytesMut::from(&one_record()[..]);
        set_i32(&mut b, 8, batch_length);
        assert!(matches!(
            RecordBatchView::parse(&b.freeze()),
            Err(BatchError::Invalid(_))
        ));
    }
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

#[test]
fn batches_stop_at_corruption() {
    let one = one_record();
    let mut set = BytesMut::new();
    set.put_slice(&one);
    set.put_slice(&one);
    let last = set.len() - 1;
    set[last] ^= 0x40;
    let items: Vec<BatchItem> = batches(&set.freeze()).collect();
    assert_eq!(items.len(), 2);
    assert!(matches!(items[1], Err(BatchError::CrcMismatch { .. })));
}

/// A batch whose records section is `body`, claiming `count` records.
fn batch_with_body(count: i32, body: &[u8]) -> Bytes {
    let mut b = BytesMut::from(&build_batch(&[], 0)[..]);
    b.put_slice(body);
    let batch_length = (b.len() - LOG_OVERHEAD_BYTES) as i32;
    set_i32(&mut b, 8, batch_length);
    set_i32(&mut b, 57, count);
    set_i32(&mut b, 23, (count - 1).max(0));
    fix_crc(&mut b).unwrap();
    b.freeze()
}

fn record_errors(batch: &Bytes) -> Vec<BatchError> {
    let (view, _) = RecordBatchView::parse(batch).expect("header is valid");
    view.records().unwrap().filter_map(Result::err).collect()
}

#[test]
fn malformed_records_are_errors_not_panics() {
    let mut huge_key = BytesMut::new();
    huge_key.put_slice(&[22, 0, 0, 0]);
    put_varint(&mut huge_key, i64::from(i32::MAX));
    huge_key.put_slice(&[0; 3]);
    let mut many_headers = BytesMut::from(&[20u8, 0, 0, 0, 1, 1][..]);
    put_varint(&mut many_headers, i64::from(i32::MAX));
    let cases: [(&str, &[u8]); 5] = [
        ("negative length", &[1, 0, 0, 0, 0, 0, 0]),
        ("length past the end", &[40, 0, 0, 0, 1, 1, 0]),
        ("huge key", &huge_key),
        ("huge header count", &many_headers),
        (
            "overlong varint",
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        ),
    ];
    for (what, body) in cases {
        let errors = record_errors(&batch_with_body(1, body));
        assert!(
            matches!(errors[..], [BatchError::MalformedRecord { index: 0, .. }]),
            "{what}: {errors:?}"
        );
    }
}

#[test]
fn bytes_after_the_last_record_are_an_error() {
    let good = build_batch(&[(None, Some(b"v"))], 0);
    let mut body = good[RECORD_BATCH_HEADER_BYTES..].to_vec();
    body.extend_from_slice(&[0; 7]);
    let errors = record_errors(&batch_with_body(1, &body));
    assert_eq!(errors, [BatchError::TrailingRecordBytes { remaining: 7 }]);
}

#[test]
fn compressed_batches_have_no_record_iterator() {
    let batch = tampered(&one_record(), |b| b[22] |= 4);
    let (view, _) = RecordBatchView::parse(&batch).unwrap();
    assert_eq!(view.compression(), 4);
    assert!(view.records().is_none());
}

#[test]
fn fix_crcs_walks_a_set() {
    let one = one_record();
    let mut set = [&one[..], &one[..], &one[..5]].concat();
    set[30] ^= 1;
    set[one.len() + 30] ^= 1;
    assert_eq!(fix_crcs(&mut set), 2);
    let ok = batches(&Bytes::from(set)).filter(Result::is_ok).count();
    assert_eq!(ok, 2);
}
