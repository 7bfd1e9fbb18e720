//! Log storage tests: round trips, indexes, rolls, retention, recovery from torn
//! and corrupt tails, a seeded crash test on the simulated page cache, and the
//! flusher's group commit and failure handling.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use weir_client::protocol::records::testing::build_batch;
use weir_client::protocol::records::{RecordBatchView, batches};

use super::*;

fn dir() -> PathBuf {
    PathBuf::from("/sim/topic-0")
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        index_interval_bytes: 256,
        ..LogConfig::default()
    }
}

/// A batch of `n` records whose values are `tag-i`.
fn batch(tag: u64, n: usize, ts: i64) -> Bytes {
    let values: Vec<Vec<u8>> = (0..n).map(|i| format!("{tag}-{i}").into_bytes()).collect();
    let records: Vec<weir_client::protocol::records::testing::KeyValue<'_>> =
        values.iter().map(|v| (None, Some(v.as_slice()))).collect();
    build_batch(&records, ts)
}

fn seed() -> u64 {
    let seed = std::env::var("WEIR_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("WEIR_TEST_SEED={seed}");
    seed
}

/// (base offset, record count) of every batch readable from `from`.
fn read_all(reader: &LogReader, from: i64) -> Vec<(i64, i32)> {
    let mut out = Vec::new();
    let mut offset = from;
    for _ in 0..100_000 {
        let read = reader.read(offset, 1 << 20, i64::MAX, true).unwrap();
        if read.records.is_empty() {
            break;
        }
        for item in batches(&read.records) {
            let (view, _) = item.expect("served batches are valid");
            out.push((view.base_offset(), view.record_count()));
            offset = view.base_offset() + i64::from(view.last_offset_delta()) + 1;
        }
    }
    out
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
    assert!(
        log.shared.segments.read().len() > 3,
        "segments rolled by size"
    );
    let reader = log.reader();
    assert_eq!(reader.log_end_offset(), 600);
    assert_eq!(read_all(&reader, 0), expected);
    // A fetch in the middle of a batch returns the batch that contains it.
    let mid = reader.read(301, 1, i64::MAX, true).unwrap();
    let (view, _) = RecordBatchView::parse(&mid.records).unwrap();
    assert_eq!(view.base_offset(), 300);
    // max_bytes without min_one returns nothing when the first batch is larger.
    assert!(
        reader
            .read(300, 1, i64::MAX, false)
            .unwrap()
            .records
            .is_empty()
    );
    // The high watermark bounds reads.
    assert!(
        reader
            .read(300, 1 << 20, 300, true)
            .unwrap()
            .records
            .is_empty()
    );
    // Out of range.
    assert!(matches!(
        reader.read(601, 10, i64::MAX, true),
        Err(ReadError::OffsetOutOfRange { .. })
    ));
}

#[test]
fn reopen_after_clean_close_keeps_everything_and_continues() {
    let fs = Arc::new(SimFs::new());
    let mut log = Log::open(&dir(), config(), fs.clone()).unwrap();
    for i in 0..50 {
        log.append(batch(i, 2, 5), None, 0).unwrap();
    }
    drop(log);
    let mut log = Log::open(&dir(), config(), fs.clone()).unwrap();
    assert_eq!(log.reader().log_end_offset(), 100);
    assert_eq!(
        log.append(batch(99, 1, 5), None, 0).unwrap().base_offset,
        100
    );
    assert_eq!(read_all(&log.reader(), 0).len(), 51);
}

#[test]
fn offset_for_timestamp_uses_batch_max_timestamps() {
    let fs = Arc::new(SimFs::new());
    let mut log = Log::open(&dir(), config(), fs).unwrap();
    for i in 0..100 {
        log.append(batch(i, 1, 1_000 + i as i64 * 10), None, 0)
            .unwrap();
    }
    let reader = log.reader();
    assert_eq!(reader.offset_for_timestamp(0).unwrap(), Some((0, 1_000)));
    assert_eq!(
        reader.offset_for_timestamp(1_505).unwrap(),
        Some((51, 1_510))
    );
    assert_eq!(reader.offset_for_timestamp(5_000).unwrap(), None);
}

#[test]
fn offset_for_timestamp_finds_the_record_inside_a_batch() {
    let fs = Arc::new(SimFs::new());
    let mut log = Log::open(&dir(), config(), fs).unwrap();
    // One batch of three records at 1000, 1010, 1020 (deltas written by hand).
    let batch =
        weir_client::protocol::records::testing::build_batch_with_timestamps(&[1000, 1010, 1020]);
    log.append(batch, None, 0).unwrap();
    let reader = log.reader();
    assert_eq!(reader.offset_for_timestamp(1005).unwrap(), Some((1, 1010)));
    assert_eq!(reader.offset_for_timestamp(1020).unwrap(), Some((2, 1020)));
    assert_eq!(reader.offset_for_timestamp(1021).unwrap(), None);
}

#[test]
fn log_append_time_rewrites_timestamp_and_crc() {
    let fs = Arc::new(SimFs::new());
    let mut log = Log::open(&dir(), config(), fs).unwrap();
    let info = log.append(batch(1, 2, 5), Some(77_777), 3).unwrap();
    assert_eq!(info.max_timestamp, 77_777);
    let read = log.reader().read(0, 1 << 20, i64::MAX, true).unwrap();
    let (view, _) = RecordBatchView::parse(&read.records).expect("CRC recomputed");
    assert!(view.is_log_append_time());
    assert_eq!(
        (view.max_timestamp(), view.partition_leader_epoch()),
        (77_777, 3)
    );
}

#[test]
fn invalid_batches_are_refused_before_writing() {
    let fs = Arc::new(SimFs::new());
    let mut log = Log::open(
        &dir(),
        LogConfig {
            max_message_bytes: 100,
            ..config()
        },
        fs,
    )
    .unwrap();
    let big = batch(1, 20, 0);
    assert!(matches!(
        log.append(big, None, 0),
        Err(LogError::MessageTooLarge { .. })
    ));
    let mut bad = batch(1, 1, 0).to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 0x55;
    assert!(matches!(
        log.append(Bytes::from(bad), None, 0),
        Err(LogError::Corrupt { .. })
    ));
    assert_eq!(log.reader().log_end_offset(), 0);
}

#[test]
fn retention_by_size_and_time_deletes_whole_old_segments() {
    let fs = Arc::new(SimFs::new());
    let mut log = Log::open(&dir(), config(), fs.clone()).unwrap();
    for i in 0..200 {
        log.append(batch(i, 3, 1_000), None, 0).unwrap();
    }
    // Retention only deletes flushed segments.
    log.mark_flushed(log.reader().log_end_offset()).unwrap();
    let segments_before = log.shared.segments.read().len();
    log.set_config(LogConfig {
        retention_bytes: Some(8192),
        retention_ms: None,
        ..config()
    });
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
    // Time retention deletes everything but the active segment.
    log.set_config(LogConfig {
        retention_ms: Some(10),
        ..config()
    });
    log.apply_retention(1_000_000).unwrap();
    assert_eq!(log.shared.segments.read().len(), 1);
    // The start offset survives a reopen.
    let start = log.reader().log_start_offset();
    drop(log);
    let log = Log::open(&dir(), config(), fs).unwrap();
    assert_eq!(log.reader().log_start_offset(), start);
}

#[test]
fn delete_records_advances_log_start() {
    let fs = Arc::new(SimFs::new());
    let mut log = Log::open(&dir(), config(), fs.clone()).unwrap();
    for i in 0..100 {
        log.append(batch(i, 3, 1_000), None, 0).unwrap();
    }
    assert_eq!(log.delete_records_before(150).unwrap(), 150);
    assert_eq!(log.reader().log_start_offset(), 150);
    assert!(log.shared.segments.read()[0].base_offset <= 150);
    drop(log);
    let log = Log::open(&dir(), config(), fs).unwrap();
    assert_eq!(log.reader().log_start_offset(), 150);
}

#[test]
fn segment_roll_by_time() {
    let fs = Arc::new(SimFs::new());
    let mut log = Log::open(
        &dir(),
        LogConfig {
            segment_ms: Some(1),
            ..config()
        },
        fs,
    )
    .unwrap();
    log.append(batch(0, 1, 0), None, 0).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    log.append(batch(1, 1, 0), None, 0).unwrap();
    assert_eq!(log.shared.segments.read().len(), 2);
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
        let n = rng.random_range(1..60);
        for i in 0..n {
            log.append(batch(i, rng.random_range(1..5), 1), None, 0)
                .unwrap();
        }
        let before = read_all(&log.reader(), 0);
        drop(log);
        let path = last_segment_path(&fs, &dir());
        let mut cut = 0;
        fs.with_file_bytes(&path, |b| {
            cut = rng.random_range(0..=b.len());
            b.truncate(cut);
        });
        let mut log = Log::open(&dir(), config(), fs.clone()).unwrap();
        let after = read_all(&log.reader(), 0);
        assert!(
            before.starts_with(&after),
            "recovered log is a prefix of the original"
        );
        let end = log.reader().log_end_offset();
        let next = log.append(batch(999, 1, 1), None, 0).unwrap();
        assert_eq!(
            next.base_offset, end,
            "appends continue at the recovered end"
        );
    }
}

#[test]
fn recovery_drops_everything_from_a_flipped_byte_on() {
    let mut rng = StdRng::seed_from_u64(seed());
    for _ in 0..40 {
        let fs = Arc::new(SimFs::new());
        let mut log = Log::open(
            &dir(),
            LogConfig {
                segment_bytes: 1 << 20,
                ..config()
            },
            fs.clone(),
        )
        .unwrap();
        for i in 0..30 {
            log.append(batch(i, 2, 1), None, 0).unwrap();
        }
        let before = read_all(&log.reader(), 0);
        drop(log);
        let path = last_segment_path(&fs, &dir());
        let mut in_epoch_field = false;
        fs.with_file_bytes(&path, |b| {
            let at = rng.random_range(0..b.len());
            // partitionLeaderEpoch (bytes 12..16 of a batch) is outside the CRC, as
            // in Kafka: a flip there cannot be detected.
            let mut start = 0;
            while start + 12 <= at {
                let len = 12
                    + i32::from_be_bytes([b[start + 8], b[start + 9], b[start + 10], b[start + 11]])
                        as usize;
                if at < start + len {
                    break;
                }
                start += len;
            }
            in_epoch_field = (12..16).contains(&(at - start));
            b[at] ^= 1 << rng.random_range(0..8);
        });
        if in_epoch_field {
            continue;
        }
        // The recovery checkpoint is at the end; force a full scan as after a crash.
        let _ = fs.remove_file(&dir().join("recovery-point"));
        let log = Log::open(
            &dir(),
            LogConfig {
                segment_bytes: 1 << 20,
                ..config()
            },
            fs.clone(),
        )
        .unwrap();
        let after = read_all(&log.reader(), 0);
        assert!(after.len() < before.len(), "the damaged batch is gone");
        assert!(before.starts_with(&after));
    }
}

#[test]
fn crash_keeps_every_record_below_the_flushed_offset() {
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let flusher = Flusher::spawn().unwrap();
    for round in 0..30 {
        let fs = Arc::new(SimFs::new());
        let mut log = Log::open(&dir(), config(), fs.clone()).unwrap();
        let mut acknowledged = 0;
        for i in 0..rng.random_range(1..120) {
            log.append(batch(i, rng.random_range(1..4), 1), None, 0)
                .unwrap();
            if rng.random_bool(0.2) {
                acknowledged = flush_now(&flusher, &mut log).unwrap_or(acknowledged);
            }
        }
        fs.crash();
        let log = Log::open(&dir(), config(), fs).unwrap();
        let end = log.reader().log_end_offset();
        assert!(
            end >= acknowledged,
            "seed {seed} round {round}: lost flushed data ({end} < {acknowledged})"
        );
        let got = read_all(&log.reader(), 0);
        let mut expect = 0;
        for (base, count) in got {
            assert_eq!(base, expect, "contiguous offsets after recovery");
            expect = base + i64::from(count);
        }
        assert_eq!(expect, end);
    }
    flusher.shutdown();
}

/// Flushes through the flusher and waits; returns the covered offset.
fn flush_now(flusher: &Flusher, log: &mut Log) -> Option<i64> {
    let target = log.flush_handle()?;
    let (tx, rx) = crossbeam_channel::bounded(1);
    let request = FlushRequest {
        target,
        done: Box::new(move |r| {
            let _ = tx.send(r.map_err(|e| e.to_string()));
        }),
    };
    assert!(flusher.handle().submit(request).is_ok());
    let up_to = rx.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
    log.mark_flushed(up_to).unwrap();
    Some(up_to)
}

#[test]
fn flusher_group_commits_and_reports_fsync_failure() {
    let fs = Arc::new(SimFs::new());
    let mut logs: Vec<Log> = (0..4)
        .map(|p| Log::open(&PathBuf::from(format!("/sim/t-{p}")), config(), fs.clone()).unwrap())
        .collect();
    let flusher = Flusher::spawn().unwrap();
    let syncs_before = fs.sync_count();
    let done = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = crossbeam_channel::unbounded();
    // The same file submitted many times in one burst is synced far fewer times.
    for round in 0..50 {
        for log in logs.iter_mut() {
            log.append(batch(round, 1, 1), None, 0).unwrap();
            let target = log.flush_handle().unwrap();
            let (done, tx) = (done.clone(), tx.clone());
            let request = FlushRequest {
                target,
                done: Box::new(move |r| {
                    done.fetch_add(1, Ordering::SeqCst);
                    let _ = tx.send(r.is_ok());
                }),
            };
            assert!(flusher.handle().submit(request).is_ok());
        }
    }
    for _ in 0..200 {
        assert!(rx.recv_timeout(Duration::from_secs(10)).unwrap());
    }
    let syncs = fs.sync_count() - syncs_before;
    eprintln!("200 flush requests, {syncs} file syncs");
    assert!(syncs <= 200);
    // An fsync failure reaches every waiter as an error, never as success.
    fs.fail_syncs("/sim/t-0");
    logs[0].append(batch(1, 1, 1), None, 0).unwrap();
    let target = logs[0].flush_handle().unwrap();
    let request = FlushRequest {
        target,
        done: Box::new(move |r| {
            let _ = tx.send(r.is_ok());
        }),
    };
    assert!(flusher.handle().submit(request).is_ok());
    assert!(!rx.recv_timeout(Duration::from_secs(10)).unwrap());
    flusher.shutdown();
}

#[test]
fn write_failure_makes_the_log_refuse_appends() {
    let fs = Arc::new(SimFs::new());
    let mut log = Log::open(&dir(), config(), fs.clone()).unwrap();
    log.append(batch(0, 1, 1), None, 0).unwrap();
    fs.fail_writes(".log");
    assert!(matches!(
        log.append(batch(1, 1, 1), None, 0),
        Err(LogError::Io { .. })
    ));
    fs.heal();
    assert!(matches!(
        log.append(batch(2, 1, 1), None, 0),
        Err(LogError::Failed(_))
    ));
    // Reopening recovers: what was written before the failure is intact.
    let log = Log::open(&dir(), config(), fs).unwrap();
    assert_eq!(read_all(&log.reader(), 0), vec![(0, 1)]);
}

#[test]
fn real_fs_round_trip_and_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let fs: Arc<dyn FileSystem> = Arc::new(RealFs);
    let path = tmp.path().join("t-0");
    let mut log = Log::open(&path, config(), fs.clone()).unwrap();
    for i in 0..100 {
        log.append(batch(i, 2, i as i64), None, 0).unwrap();
    }
    drop(log);
    let log = Log::open(&path, config(), fs).unwrap();
    assert_eq!(log.reader().log_end_offset(), 200);
    assert_eq!(read_all(&log.reader(), 0).len(), 100);
    assert!(path.join("00000000000000000000.log").exists());
}
