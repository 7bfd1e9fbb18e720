//! Log storage tests: round trips, indexes, rolls, retention, recovery from torn
//! and corrupt tails, a seeded crash test on the simulated page cache, and the
//! flusher's group commit and failure handling. Randomized tests print their seed
//! (`WEIR_TEST_SEED=<n>` replays one).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::batch::testing::{batch_with_timestamps, test_batch};
use super::batch::{self, BATCH_HEADER_BYTES};
use super::index::SegmentIndex;
use super::*;

mod replica;

fn dir() -> PathBuf {
    PathBuf::from("/sim/topic-0")
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        index_interval_bytes: 256,
        recovery_checkpoint_interval_ms: 0,
        ..LogConfig::default()
    }
}

/// A batch of `n` records tagged `tag`, all at `ts`.
fn batch(tag: u64, n: usize, ts: i64) -> Bytes {
    batch_with_timestamps(tag, &vec![ts; n], 8)
}

fn seed() -> u64 {
    let seed = std::env::var("WEIR_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("WEIR_TEST_SEED={seed}");
    seed
}

/// Splits served bytes into batches, asserting each is whole and valid.
fn split(records: &Bytes) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < records.len() {
        let header = records[at..]
            .first_chunk::<BATCH_HEADER_BYTES>()
            .map(batch::BatchHeader::parse)
            .expect("served bytes hold whole batches");
        let one = records.slice(at..at + header.total_len as usize);
        batch::check(&one).expect("served batches are valid");
        out.push(one);
        at += header.total_len as usize;
    }
    out
}

/// Every batch readable from `from`, as served.
fn served(reader: &LogReader, from: i64) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut offset = from;
    loop {
        let read = reader.read(offset, 1 << 20, i64::MAX, true).unwrap();
        if read.records.is_empty() {
            return out;
        }
        for one in split(&read.records) {
            offset = batch::check(&one).unwrap().last_offset + 1;
            out.push(one);
        }
    }
}

/// (base offset, record count) of every batch readable from `from`.
fn read_all(reader: &LogReader, from: i64) -> Vec<(i64, i32)> {
    served(reader, from)
        .iter()
        .map(|b| batch::check(b).unwrap())
        .map(|h| (h.base_offset, h.record_count))
        .collect()
}

fn segment_count(log: &Log) -> usize {
    log.shared.segments.read().len()
}

#[test]
fn append_and_read_round_trip_across_segments() {
    let fs = Arc::new(SimFs::new());
    let mut log = Log::open(&dir(), config(), fs.clone()).unwrap();
    let mut expected = Vec::new();
    for i in 0..200u64 {
        let info = log.append(batch(i, 3, 1000 + i as i64), None, 0).unwrap();
        assert_eq!(info.base_offset, i as i64 * 3);
        assert_eq!(info.last_offset, i as i64 * 3 + 2);
        expected.push((info.base_offset, 3));
    }
    assert!(segment_count(&log) > 3, "segments rolled by size");
    let reader = log.reader();
    assert_eq!(reader.log_end_offset(), 600);
    assert_eq!(read_all(&reader, 0), expected);
    // The high watermark bounds reads.
    let below_hw = reader.read(297, 1 << 20, 300, true).unwrap();
    assert_eq!(split(&below_hw.records).len(), 1);
    assert!(
        reader
            .read(300, 1 << 20, 300, true)
            .unwrap()
            .records
            .is_empty()
    );
    // The log end reads empty; past it is out of range.
    assert!(
        reader
            .read(600, 10, i64::MAX, true)
            .unwrap()
            .records
            .is_empty()
    );
    assert!(matches!(
        reader.read(601, 10, i64::MAX, true),
        Err(ReadError::OffsetOutOfRange { .. })
    ));
}

#[test]
fn every_offset_reads_the_batch_that_contains_it() {
    let fs = Arc::new(SimFs::new());
    let mut log = Log::open(&dir(), config(), fs).unwrap();
    let mut rng = StdRng::seed_from_u64(seed());
    let mut batches = Vec::new();
    for i in 0..150 {
        let n = rng.random_range(1..6);
        let payload = rng.random_range(0..200);
        let info = log.append(test_batch(n, payload, i), None, 0).unwrap();
        batches.push((info.base_offset, info.last_offset));
    }
    let reader = log.reader();
    for (base, last) in batches {
        for offset in base..=last {
            // A fetch in the middle of a batch returns the whole batch (Kafka).
            let read = reader.read(offset, 1, i64::MAX, true).unwrap();
            let got = split(&read.records);
            assert_eq!(got.len(), 1, "min_one returns exactly the first batch");
            let header = batch::check(&got[0]).unwrap();
            assert_eq!((header.base_offset, header.last_offset), (base, last));
        }
    }
}

#[test]
fn max_bytes_returns_whole_batches_and_min_one_the_first() {
    let fs = Arc::new(SimFs::new());
    let config = LogConfig {
        segment_bytes: 1 << 20,
        ..config()
    };
    let mut log = Log::open(&dir(), config, fs).unwrap();
    for i in 0..10 {
        log.append(test_batch(2, 100, i), None, 0).unwrap();
    }
    let one = split(
        &log.reader()
            .read(0, 1 << 20, i64::MAX, false)
            .unwrap()
            .records,
    )[0]
    .len();
    let reader = log.reader();
    let read = |max_bytes, min_one| {
        split(
            &reader
                .read(0, max_bytes, i64::MAX, min_one)
                .unwrap()
                .records,
        )
    };
    assert_eq!(read(one * 5 / 2, false).len(), 2);
    assert_eq!(read(one * 3, false).len(), 3);
    assert!(
        read(one - 1, false).is_empty(),
        "without min_one nothing fits"
    );
    assert_eq!(
        read(1, true).len(),
        1,
        "KIP-74: the first batch even if larger"
    );
    assert_eq!(read(one + 1, true).len(), 1);
}

#[test]
fn segment_index_lookups() {
    let index = SegmentIndex {
        offsets: vec![(0, 0), (10, 4096), (25, 8200)],
        times: vec![(100, 0), (150, 12), (300, 30)],
    };
    assert_eq!(index.position_for(0), 0);
    assert_eq!(index.position_for(9), 0);
    assert_eq!(index.position_for(10), 4096);
    assert_eq!(index.position_for(24), 4096);
    assert_eq!(index.position_for(1000), 8200);
    assert_eq!(index.scan_start_for_time(50), 0);
    assert_eq!(index.scan_start_for_time(150), 0);
    assert_eq!(index.scan_start_for_time(151), 12);
    assert_eq!(index.scan_start_for_time(1000), 30);
}

#[test]
fn reopen_after_clean_close_keeps_everything_and_continues() {
    let fs = Arc::new(SimFs::new());
    let mut log = Log::open(&dir(), config(), fs.clone()).unwrap();
    for i in 0..50 {
        log.append(batch(i, 2, 5), None, 0).unwrap();
    }
    let before = served(&log.reader(), 0);
    drop(log);
    for _ in 0..2 {
        // The second open trusts the sealed segments (recovery point past them).
        let log = Log::open(&dir(), config(), fs.clone()).unwrap();
        assert_eq!(log.reader().log_end_offset(), 100);
        assert_eq!(served(&log.reader(), 0), before);
        assert_eq!(log.reader().offset_for_timestamp(5).unwrap(), Some((0, 5)));
    }
    let mut log = Log::open(&dir(), config(), fs).unwrap();
    let next = log.append(batch(99, 1, 5), None, 0).unwrap();
    assert_eq!(next.base_offset, 100);
    assert_eq!(read_all(&log.reader(), 0).len(), 51);
}

#[test]
fn offset_for_timestamp_uses_the_time_index_and_records() {
    let fs = Arc::new(SimFs::new());
    let mut log = Log::open(&dir(), config(), fs).unwrap();
    for i in 0..100 {
        log.append(batch(i, 1, 1_000 + i as i64 * 10), None, 0)
            .unwrap();
    }
    // One batch of three records at 5000, 5010, 5020.
    log.append(batch_with_timestamps(1, &[5000, 5010, 5020], 4), None, 0)
        .unwrap();
    let reader = log.reader();
    assert_eq!(reader.offset_for_timestamp(0).unwrap(), Some((0, 1_000)));
    assert_eq!(
        reader.offset_for_timestamp(1_505).unwrap(),
        Some((51, 1_510))
    );
    assert_eq!(
        reader.offset_for_timestamp(5_005).unwrap(),
        Some((101, 5010))
    );
    assert_eq!(
        reader.offset_for_timestamp(5_020).unwrap(),
        Some((102, 5020))
    );
    assert_eq!(reader.offset_for_timestamp(5_021).unwrap(), None);
}

#[test]
fn log_append_time_rewrites_timestamp_and_crc() {
    let fs = Arc::new(SimFs::new());
    let mut log = Log::open(&dir(), config(), fs).unwrap();
    let info = log.append(batch(1, 2, 5), Some(77_777), 3).unwrap();
    assert_eq!(
        (info.max_timestamp, info.log_append_time),
        (77_777, Some(77_777))
    );
    let read = log.reader().read(0, 1 << 20, i64::MAX, true).unwrap();
    let header = batch::check(&read.records).expect("CRC recomputed");
    assert!(header.is_log_append_time());
    assert_eq!((header.base_timestamp, header.max_timestamp), (5, 77_777));
    assert_eq!(header.leader_epoch, 3);
    assert_eq!(
        log.reader().offset_for_timestamp(6).unwrap(),
        Some((0, 77_777))
    );
}

#[test]
fn invalid_batches_are_refused_before_writing() {
    let fs = Arc::new(SimFs::new());
    let config = LogConfig {
        max_message_bytes: 200,
        ..config()
    };
    let mut log = Log::open(&dir(), config, fs).unwrap();
    assert!(matches!(
        log.append(test_batch(20, 10, 0), None, 0),
        Err(LogError::MessageTooLarge { max: 200, .. })
    ));
    let mut bad = batch(1, 1, 0).to_vec();
    *bad.last_mut().unwrap() ^= 0x55;
    let mut bad_magic = batch(1, 1, 0).to_vec();
    bad_magic[16] = 1;
    let mut two = batch(1, 1, 0).to_vec();
    two.extend_from_slice(&batch(2, 1, 0));
    let short = batch(1, 1, 0).slice(..50);
    for bytes in [
        Bytes::from(bad),
        Bytes::from(bad_magic),
        Bytes::from(two),
        short,
    ] {
        assert!(matches!(
            log.append(bytes, None, 0),
            Err(LogError::Corrupt { .. })
        ));
    }
    assert_eq!(log.reader().log_end_offset(), 0);
    assert_eq!(log.append(batch(3, 1, 0), None, 0).unwrap().base_offset, 0);
}

#[test]
fn retention_by_size_and_time_deletes_whole_old_segments() {
    let fs = Arc::new(SimFs::new());
    let mut log = Log::open(&dir(), config(), fs.clone()).unwrap();
    for i in 0..200 {
        log.append(batch(i, 3, 1_000), None, 0).unwrap();
    }
    // Retention deletes only flushed segments.
    log.set_config(LogConfig {
        retention_bytes: Some(8192),
        retention_ms: None,
        ..config()
    });
    assert_eq!(log.apply_retention(2_000).unwrap(), 0);
    log.mark_flushed(log.reader().log_end_offset()).unwrap();
    let segments_before = segment_count(&log);
    let deleted = log.apply_retention(2_000).unwrap();
    assert!(deleted > 0 && deleted < segments_before);
    let reader = log.reader();
    assert!(reader.size_bytes() >= 8192 - 4096 && reader.size_bytes() <= 8192 + 4096);
    let start = reader.log_start_offset();
    assert_eq!(start, log.shared.segments.read()[0].base_offset);
    assert!(matches!(
        reader.read(0, 10, i64::MAX, true),
        Err(ReadError::OffsetOutOfRange { .. })
    ));
    assert_eq!(read_all(&reader, start).first().map(|b| b.0), Some(start));
    // Time retention: nothing is old enough yet, then all but the active segment.
    log.set_config(LogConfig {
        retention_ms: Some(10_000),
        ..config()
    });
    assert_eq!(log.apply_retention(5_000).unwrap(), 0);
    log.apply_retention(1_000_000).unwrap();
    assert_eq!(segment_count(&log), 1);
    // The start offset survives a reopen.
    let start = log.reader().log_start_offset();
    assert!(start > 0);
    drop(log);
    let log = Log::open(&dir(), config(), fs).unwrap();
    assert_eq!(log.reader().log_start_offset(), start);
    assert_eq!(log.reader().log_end_offset(), 600);
}

#[test]
fn delete_records_advances_log_start() {
    let fs = Arc::new(SimFs::new());
    let mut log = Log::open(&dir(), config(), fs.clone()).unwrap();
    for i in 0..100 {
        log.append(batch(i, 3, 1_000), None, 0).unwrap();
    }
    let segments_before = segment_count(&log);
    assert_eq!(log.delete_records_before(150).unwrap(), 150);
    assert!(
        segment_count(&log) < segments_before,
        "whole segments below go"
    );
    let reader = log.reader();
    assert_eq!(reader.log_start_offset(), 150);
    assert!(log.shared.segments.read()[0].base_offset <= 150);
    assert!(matches!(
        reader.read(149, 10, i64::MAX, true),
        Err(ReadError::OffsetOutOfRange { .. })
    ));
    assert_eq!(read_all(&reader, 150)[0].0, 150);
    // The start never moves back, and never past the end.
    assert_eq!(log.delete_records_before(10).unwrap(), 150);
    assert!(matches!(
        log.delete_records_before(301),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    drop(log);
    let log = Log::open(&dir(), config(), fs).unwrap();
    assert_eq!(log.reader().log_start_offset(), 150);
}

#[test]
fn segment_roll_by_time() {
    let fs = Arc::new(SimFs::new());
    let config = LogConfig {
        segment_ms: Some(1),
        ..config()
    };
    let mut log = Log::open(&dir(), config, fs).unwrap();
    log.append(batch(0, 1, 0), None, 0).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    log.append(batch(1, 1, 0), None, 0).unwrap();
    assert_eq!(segment_count(&log), 2);
    assert_eq!(log.shared.segments.read()[1].base_offset, 1);
}

fn last_segment_path(fs: &SimFs, dir: &Path) -> PathBuf {
    let mut logs: Vec<PathBuf> = fs
        .list_dir(dir)
        .unwrap()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs.pop().unwrap()
}

#[test]
fn recovery_truncates_torn_tails_at_random_positions() {
    let mut rng = StdRng::seed_from_u64(seed());
    for _ in 0..40 {
        let fs = Arc::new(SimFs::new());
        let mut log = Log::open(&dir(), config(), fs.clone()).unwrap();
        for i in 0..rng.random_range(1..60) {
            log.append(batch(i, rng.random_range(1..5), 1), None, 0)
                .unwrap();
        }
        let before = served(&log.reader(), 0);
        drop(log);
        let path = last_segment_path(&fs, &dir());
        fs.with_file_bytes(&path, |b| {
            let cut = rng.random_range(0..=b.len());
            b.truncate(cut);
        });
        let mut log = Log::open(&dir(), config(), fs.clone()).unwrap();
        let after = served(&log.reader(), 0);
        assert!(before.starts_with(&after), "recovered log is a prefix");
        let end = log.reader().log_end_offset();
        let next = log.append(batch(999, 1, 1), None, 0).unwrap();
        assert_eq!(
            next.base_offset, end,
            "appends continue at the recovered end"
        );
        assert_eq!(served(&log.reader(), 0).len(), after.len() + 1);
    }
}

/// Whether byte `at` of a segment lies in a batch's partitionLeaderEpoch, which
/// is outside the CRC (as in Kafka): a flip there cannot be detected.
fn in_epoch_field(bytes: &[u8], at: usize) -> bool {
    let mut start = 0;
    while start + 12 <= at {
        let len =
            12 + i32::from_be_bytes(bytes[start + 8..start + 12].try_into().unwrap()) as usize;
        if at < start + len {
            break;
        }
        start += len;
    }
    (12..16).contains(&(at - start))
}

#[test]
fn recovery_drops_everything_from_a_flipped_byte_on() {
    let mut rng = StdRng::seed_from_u64(seed());
    let config = LogConfig {
        segment_bytes: 1 << 20,
        ..config()
    };
    for _ in 0..40 {
        let fs = Arc::new(SimFs::new());
        let mut log = Log::open(&dir(), config.clone(), fs.clone()).unwrap();
        for i in 0..30 {
            log.append(batch(i, 2, 1), None, 0).unwrap();
        }
        let before = served(&log.reader(), 0);
        drop(log);
        let path = last_segment_path(&fs, &dir());
        let mut undetectable = false;
        let mut damaged_batch = 0;
        fs.with_file_bytes(&path, |b| {
            let at = rng.random_range(0..b.len());
            undetectable = in_epoch_field(b, at);
            damaged_batch = at / before[0].len();
            b[at] ^= 1 << rng.random_range(0..8);
        });
        if undetectable {
            continue;
        }
        // The recovery point is at the end; force a full scan as after a crash.
        let _ = fs.remove_file(&dir().join("recovery-point"));
        let mut log = Log::open(&dir(), config.clone(), fs.clone()).unwrap();
        let after = served(&log.reader(), 0);
        assert_eq!(
            after[..],
            before[..damaged_batch],
            "everything before stays"
        );
        let next = log.append(batch(99, 1, 1), None, 0).unwrap();
        assert_eq!(next.base_offset, damaged_batch as i64 * 2);
    }
}

#[test]
fn recovery_stops_at_offsets_that_do_not_continue() {
    let fs = Arc::new(SimFs::new());
    let mut log = Log::open(&dir(), config(), fs.clone()).unwrap();
    for i in 0..5 {
        log.append(batch(i, 2, 1), None, 0).unwrap();
    }
    let first = served(&log.reader(), 0)[0].clone();
    drop(log);
    // A valid batch (good CRC) whose offsets go backwards, then a good-looking one.
    let path = last_segment_path(&fs, &dir());
    fs.with_file_bytes(&path, |b| {
        b.extend_from_slice(&first);
        b.extend_from_slice(&first);
    });
    let _ = fs.remove_file(&dir().join("recovery-point"));
    let log = Log::open(&dir(), config(), fs).unwrap();
    assert_eq!(log.reader().log_end_offset(), 10);
    assert_eq!(read_all(&log.reader(), 0).len(), 5);
}

/// Flushes through the flusher and waits; marks the log flushed on success.
fn flush_now(flusher: &Flusher, log: &mut Log) -> Option<Result<i64, String>> {
    let target = log.flush_handle()?;
    let (tx, rx) = crossbeam_channel::bounded(1);
    let request = FlushRequest {
        target,
        done: Box::new(move |r| {
            let _ = tx.send(r.map_err(|e| e.to_string()));
        }),
    };
    assert!(flusher.handle().submit(request).is_ok());
    let result = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    if let Ok(up_to) = result {
        log.mark_flushed(up_to).unwrap();
    }
    Some(result)
}

/// One life of a log in the crash test: random appends and flushes. Returns the
/// offset every acknowledged flush covered.
fn crash_test_life(
    rng: &mut StdRng,
    flusher: &Flusher,
    log: &mut Log,
    original: &mut BTreeMap<i64, Bytes>,
) -> i64 {
    let mut flushed = log.flushed_offset();
    for _ in 0..rng.random_range(1..80) {
        let n = rng.random_range(1..5);
        let tag = rng.random::<u64>();
        let ts = rng.random_range(0..1_000_000);
        let sent = batch_with_timestamps(tag, &vec![ts; n], rng.random_range(0..300));
        let info = log.append(sent.clone(), None, 0).unwrap();
        original.insert(info.base_offset, sent);
        if rng.random_bool(0.15) {
            flushed = flush_now(flusher, log).unwrap().unwrap();
        }
    }
    flushed
}

#[test]
fn crash_keeps_every_record_below_the_flushed_offset() {
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let flusher = Flusher::spawn().unwrap();
    for round in 0..40 {
        let fs = Arc::new(SimFs::new());
        let config = LogConfig {
            segment_bytes: rng.random_range(1024..8192),
            index_interval_bytes: rng.random_range(0..1024),
            recovery_checkpoint_interval_ms: if rng.random_bool(0.5) { 0 } else { 60_000 },
            ..LogConfig::default()
        };
        let mut original: BTreeMap<i64, Bytes> = BTreeMap::new();
        let mut log = Log::open(&dir(), config.clone(), fs.clone()).unwrap();
        for life in 0..4 {
            let flushed = crash_test_life(&mut rng, &flusher, &mut log, &mut original);
            drop(log);
            match rng.random_range(0..3) {
                0 => fs.crash(),
                1 => fs.crash_torn(rng.random()),
                _ => {} // a clean stop
            }
            log = Log::open(&dir(), config.clone(), fs.clone()).unwrap();
            let context = format!("seed {seed} round {round} life {life}");
            let end = log.reader().log_end_offset();
            assert!(
                end >= flushed,
                "{context}: lost flushed data ({end} < {flushed})"
            );
            let mut expect = 0;
            for stored in served(&log.reader(), 0) {
                let header = batch::check(&stored).unwrap();
                assert_eq!(header.base_offset, expect, "{context}: contiguous offsets");
                let sent = &original[&header.base_offset];
                assert_eq!(stored[16..], sent[16..], "{context}: batch intact");
                expect = header.last_offset + 1;
            }
            assert_eq!(expect, end, "{context}");
            original.retain(|&base, _| base < end);
        }
    }
}

#[test]
fn flusher_group_commits_many_requests_into_fewer_syncs() {
    let fs = Arc::new(SimFs::new());
    // Recovery checkpoints (each a file sync) are not due within the test.
    let config = LogConfig {
        recovery_checkpoint_interval_ms: 60_000,
        ..config()
    };
    let mut logs: Vec<Log> = (0..4)
        .map(|p| {
            Log::open(
                &PathBuf::from(format!("/sim/t-{p}")),
                config.clone(),
                fs.clone(),
            )
            .unwrap()
        })
        .collect();
    let flusher = Flusher::spawn().unwrap();
    // Hold the flusher on the first request so the rest queue up behind it.
    let (gate_tx, gate_rx) = crossbeam_channel::bounded::<()>(0);
    logs[0].append(batch(0, 1, 1), None, 0).unwrap();
    let target = logs[0].flush_handle().unwrap();
    let request = FlushRequest {
        target,
        done: Box::new(move |_| {
            let _ = gate_rx.recv_timeout(Duration::from_secs(10));
        }),
    };
    assert!(flusher.handle().submit(request).is_ok());
    let syncs_before = fs.sync_count();
    let (tx, rx) = crossbeam_channel::unbounded();
    for round in 0..50 {
        for log in logs.iter_mut() {
            log.append(batch(round, 1, 1), None, 0).unwrap();
            let target = log.flush_handle().unwrap();
            let tx = tx.clone();
            let request = FlushRequest {
                target,
                done: Box::new(move |r| {
                    let _ = tx.send(r.ok());
                }),
            };
            assert!(flusher.handle().submit(request).is_ok());
        }
    }
    gate_tx.send(()).unwrap();
    for _ in 0..200 {
        assert!(rx.recv_timeout(Duration::from_secs(10)).unwrap().is_some());
    }
    let syncs = fs.sync_count() - syncs_before;
    eprintln!("200 flush requests, {syncs} syncs");
    assert!(
        syncs < 50,
        "one group commit syncs each file once ({syncs} syncs)"
    );
    flusher.shutdown();
}

#[test]
fn fsync_failure_fails_every_waiter_and_the_log_refuses_appends() {
    let fs = Arc::new(SimFs::new());
    let mut log = Log::open(&dir(), config(), fs.clone()).unwrap();
    let flusher = Flusher::spawn().unwrap();
    log.append(batch(0, 1, 1), None, 0).unwrap();
    assert_eq!(flush_now(&flusher, &mut log), Some(Ok(1)));
    fs.fail_syncs(".log");
    let (tx, rx) = crossbeam_channel::unbounded();
    for i in 0..5 {
        log.append(batch(i, 1, 1), None, 0).unwrap();
    }
    for _ in 0..5 {
        let tx = tx.clone();
        let request = FlushRequest {
            target: log.flush_handle().unwrap(),
            done: Box::new(move |r| {
                let _ = tx.send(r.is_ok());
            }),
        };
        assert!(flusher.handle().submit(request).is_ok());
    }
    for _ in 0..5 {
        assert!(
            !rx.recv_timeout(Duration::from_secs(10)).unwrap(),
            "never success"
        );
    }
    assert!(log.failure().is_some());
    assert!(matches!(
        log.append(batch(9, 1, 1), None, 0),
        Err(LogError::Failed(_))
    ));
    // Healing the disk does not make the failed log sync again.
    fs.heal();
    assert!(matches!(flush_now(&flusher, &mut log), Some(Err(_))));
    assert_eq!(log.flushed_offset(), 1);
    // Reopening recovers what was durable (and what the page cache still holds).
    drop(log);
    fs.crash();
    let log = Log::open(&dir(), config(), fs).unwrap();
    assert_eq!(log.reader().log_end_offset(), 1);
    flusher.shutdown();
}

#[test]
fn sync_failure_after_n_operations_is_reported() {
    let fs = Arc::new(SimFs::new());
    let mut log = Log::open(&dir(), config(), fs.clone()).unwrap();
    let flusher = Flusher::spawn().unwrap();
    fs.fail_syncs_after(3);
    let mut outcomes = Vec::new();
    for i in 0..10 {
        if log.append(batch(i, 1, 1), None, 0).is_err() {
            break;
        }
        outcomes.push(flush_now(&flusher, &mut log).unwrap().is_ok());
    }
    // The first append records epoch 0: the epoch checkpoint file and its
    // directory are synced. The first flush syncs the segment, then its recovery
    // checkpoint fails (only warned about: the data is durable); the second
    // flush's segment sync fails, and the log refuses appends from then on.
    assert_eq!(outcomes, [true, false]);
    assert_eq!(log.flushed_offset(), 1);
    assert!(log.failure().is_some());
}

#[test]
fn write_failure_makes_the_log_refuse_appends() {
    let fs = Arc::new(SimFs::new());
    let mut log = Log::open(&dir(), config(), fs.clone()).unwrap();
    log.append(batch(0, 1, 1), None, 0).unwrap();
    fs.fail_writes_after(1); // the header goes in, the body fails: a torn batch
    assert!(matches!(
        log.append(batch(1, 1, 1), None, 0),
        Err(LogError::Io { .. })
    ));
    fs.heal();
    assert!(matches!(
        log.append(batch(2, 1, 1), None, 0),
        Err(LogError::Failed(_))
    ));
    assert_eq!(
        log.reader().log_end_offset(),
        1,
        "readers never see the torn batch"
    );
    // Reopening recovers: what was written before the failure is intact.
    drop(log);
    let log = Log::open(&dir(), config(), fs).unwrap();
    assert_eq!(read_all(&log.reader(), 0), vec![(0, 1)]);
}

#[test]
fn readers_never_see_a_partial_batch() {
    let fs = Arc::new(SimFs::new());
    let mut log = Log::open(&dir(), config(), fs).unwrap();
    let reader = log.reader();
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    // A consumer tails the log while the writer appends: every batch it gets is
    // whole and valid, and offsets continue without gaps.
    let tailing = {
        let (stop, reads) = (stop.clone(), reads.clone());
        std::thread::spawn(move || {
            let mut next = 0;
            while !stop.load(Ordering::Acquire) || next < reader.log_end_offset() {
                let read = reader.read(next, 4096, i64::MAX, true).unwrap();
                for one in split(&read.records) {
                    let header = batch::check(&one).unwrap();
                    assert_eq!(header.base_offset, next);
                    next = header.last_offset + 1;
                }
                reads.fetch_add(1, Ordering::Relaxed);
            }
            next
        })
    };
    let mut i = 0;
    while i < 2_000 || (reads.load(Ordering::Relaxed) < 100 && i < 50_000) {
        log.append(batch(i, 1 + (i as usize % 3), 1), None, 0)
            .unwrap();
        i += 1;
    }
    stop.store(true, Ordering::Release);
    assert_eq!(tailing.join().unwrap(), log.reader().log_end_offset());
}

#[test]
fn sim_fs_crash_keeps_only_synced_bytes() {
    let fs = SimFs::new();
    let path = Path::new("/sim/f");
    let file = fs.open(path, true).unwrap();
    file.write_all_at(b"durable", 0).unwrap();
    file.sync().unwrap();
    file.write_all_at(b"-lost", 7).unwrap();
    fs.crash();
    let file = fs.open(path, false).unwrap();
    assert_eq!(file.len().unwrap(), 7);
    file.write_all_at(b"-tail-of-many-bytes", 7).unwrap();
    fs.crash_torn(7);
    let len = fs.open(path, false).unwrap().len().unwrap();
    assert!((7..=26).contains(&len));
    fs.fail_writes_after(1);
    let file = fs.open(path, false).unwrap();
    assert!(file.write_all_at(b"x", 0).is_ok());
    assert!(file.write_all_at(b"x", 0).is_err());
    assert!(
        file.write_all_at(b"x", 0).is_err(),
        "a failed disk stays failed"
    );
}

#[test]
fn fsync_policy_parses() {
    assert_eq!("default".parse(), Ok(FsyncPolicy::Default));
    assert_eq!("always".parse(), Ok(FsyncPolicy::Always));
    assert_eq!("never".parse(), Ok(FsyncPolicy::Never));
    assert_eq!("250".parse(), Ok(FsyncPolicy::IntervalMs(250)));
    assert!("0".parse::<FsyncPolicy>().is_err());
    assert!("sometimes".parse::<FsyncPolicy>().is_err());
}

#[test]
fn real_fs_round_trip_flush_and_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let fs: Arc<dyn FileSystem> = Arc::new(RealFs);
    let path = tmp.path().join("t-0");
    let flusher = Flusher::spawn().unwrap();
    let mut log = Log::open(&path, config(), fs.clone()).unwrap();
    for i in 0..100 {
        log.append(batch(i, 2, i as i64), None, 0).unwrap();
    }
    assert_eq!(flush_now(&flusher, &mut log), Some(Ok(200)));
    let before = served(&log.reader(), 0);
    drop(log);
    for _ in 0..2 {
        let log = Log::open(&path, config(), fs.clone()).unwrap();
        assert_eq!(log.reader().log_end_offset(), 200);
        assert_eq!(served(&log.reader(), 0), before);
        assert_eq!(
            log.reader().offset_for_timestamp(50).unwrap(),
            Some((100, 50))
        );
    }
    assert!(path.join("00000000000000000000.log").exists());
    assert!(path.join("00000000000000000000.index").exists());
    assert!(path.join("recovery-point").exists());
    flusher.shutdown();
}
