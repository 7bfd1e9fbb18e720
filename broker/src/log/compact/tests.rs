//! Compaction: only the latest record per key survives in sealed, flushed
//! segments, offsets and the active segment are untouched, old tombstones go,
//! the result survives a reopen, and a crash before the swap leaves no trace.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use weir_client::protocol::batch_encoder::{NewRecord, encode_batch};
use weir_client::protocol::records::batches;

use crate::log::{CompactionTxns, Log, LogConfig, LogReader, SimFs};

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 2048,
        index_interval_bytes: 256,
        recovery_checkpoint_interval_ms: 0,
        compact: true,
        delete_retention_ms: 1_000,
        ..LogConfig::default()
    }
}

/// A batch of (key, value) records at `ts` (`None` value: tombstone).
fn batch(records: &[(&str, Option<&str>)], ts: i64) -> Bytes {
    let records: Vec<NewRecord> = records
        .iter()
        .map(|(k, v)| NewRecord {
            key: Some(Bytes::copy_from_slice(k.as_bytes())),
            value: v.map(|v| Bytes::copy_from_slice(v.as_bytes())),
            timestamp_ms: ts,
        })
        .collect();
    encode_batch(&records).unwrap()
}

/// (offset, key, value) of a record read back.
type ReadRecord = (i64, String, Option<String>);

/// Every record readable from the log start, and the batch ranges.
fn read_everything(reader: &LogReader) -> (Vec<ReadRecord>, Vec<(i64, i64)>) {
    let (mut records, mut ranges) = (Vec::new(), Vec::new());
    let mut offset = reader.log_start_offset();
    for _ in 0..100_000 {
        let read = reader.read(offset, 1 << 20, i64::MAX, true).unwrap();
        if read.records.is_empty() {
            break;
        }
        for (view, _) in batches(&read.records).map(Result::unwrap) {
            let last = view.base_offset() + i64::from(view.last_offset_delta());
            ranges.push((view.base_offset(), last));
            for r in view.records().unwrap().map(Result::unwrap) {
                let text = |b: Option<Bytes>| b.map(|b| String::from_utf8(b.to_vec()).unwrap());
                records.push((
                    view.base_offset() + i64::from(r.offset_delta),
                    text(r.key).unwrap(),
                    text(r.value),
                ));
            }
            offset = last + 1;
        }
    }
    (records, ranges)
}

fn compact(log: &mut Log, now_ms: i64) -> super::CompactionStats {
    let job = log
        .compaction_job(now_ms, CompactionTxns::none())
        .expect("something to compact");
    let done = job.run().unwrap();
    log.finish_compaction(done).unwrap()
}

/// 300 batches over 10 keys (values name their offset), a tombstone for k3
/// early and one for k4 late, everything flushed but the active segment.
fn filled_log(fs: Arc<SimFs>) -> (Log, BTreeMap<String, (i64, Option<String>)>) {
    let mut log = Log::open(&PathBuf::from("/sim/c-0"), config(), fs).unwrap();
    let mut latest = BTreeMap::new();
    for i in 0..300i64 {
        let key = format!("k{}", i % 10);
        let (value, ts) = match i {
            13 => (None, 100),
            294 => (None, 5_000),
            _ => (Some(format!("v{i}")), 100 + i),
        };
        let info = log
            .append(batch(&[(&key, value.as_deref())], ts), None, 0)
            .unwrap();
        latest.insert(key, (info.base_offset, value));
    }
    let end = log.reader().log_end_offset();
    log.mark_flushed(end).unwrap();
    (log, latest)
}

#[test]
fn only_the_latest_record_per_key_survives_with_offsets_kept() {
    let fs = Arc::new(SimFs::new());
    let (mut log, latest) = filled_log(fs.clone());
    let (before, _) = read_everything(&log.reader());
    assert_eq!(before.len(), 300);
    let segments_before = log.shared.segments.read().len();
    let stats = compact(&mut log, 3_000);
    assert!(
        stats.segments_before > 1 && stats.records_removed > 200,
        "{stats:?}"
    );
    assert!(stats.bytes_after < stats.bytes_before / 2, "{stats:?}");
    assert!(
        stats.segments_after < stats.segments_before,
        "small segments merge: {stats:?}"
    );
    assert_eq!(
        log.shared.segments.read().len(),
        segments_before - stats.segments_before + stats.segments_after
    );
    let (after, ranges) = read_everything(&log.reader());
    // Batches still cover every offset, in order, with no gaps.
    let mut next = 0;
    for (first, last) in &ranges {
        assert_eq!(*first, next, "contiguous batches: {ranges:?}");
        next = last + 1;
    }
    assert_eq!(next, 300);
    // Every surviving record is one that was written, at its own offset.
    for (offset, key, value) in &after {
        let original = &before[*offset as usize];
        assert_eq!((&original.1, &original.2), (key, value));
    }
    // The latest value of every key is still there; k3's old tombstone is gone.
    for (key, (offset, value)) in &latest {
        let found = after
            .iter()
            .any(|(o, k, v)| o == offset && k == key && v == value);
        assert!(found, "latest {key} at {offset} kept");
    }
    let tombstones: Vec<_> = after.iter().filter(|r| r.2.is_none()).collect();
    assert!(tombstones.iter().all(|r| r.1 == "k4"), "{tombstones:?}");
    // Superseded records remain only in the active segment.
    let active_base = log.shared.segments.read().last().unwrap().base_offset;
    for (offset, key, _) in &after {
        assert!(*offset >= active_base || latest[key].0 == *offset);
    }
    // A second pass finds nothing more to remove in the sealed segments.
    let again = compact(&mut log, 3_000);
    assert_eq!(again.segments_before, 0, "{again:?}");

    // Reopening (recovery) keeps exactly the compacted log.
    drop(log);
    let reopened = Log::open(&PathBuf::from("/sim/c-0"), config(), fs).unwrap();
    assert_eq!(read_everything(&reopened.reader()).0, after);
}

#[test]
fn a_fetch_inside_a_removed_range_gets_the_next_batch() {
    let (mut log, _) = filled_log(Arc::new(SimFs::new()));
    compact(&mut log, 3_000);
    let read = log.reader().read(1, 1 << 20, i64::MAX, true).unwrap();
    let (view, _) = batches(&read.records).next().unwrap().unwrap();
    let last = view.base_offset() + i64::from(view.last_offset_delta());
    assert!(view.base_offset() <= 1 && last >= 1, "covers offset 1");
}

#[test]
fn unflushed_and_active_segments_are_left_alone() {
    let fs = Arc::new(SimFs::new());
    let mut log = Log::open(&PathBuf::from("/sim/c-1"), config(), fs).unwrap();
    for i in 0..200 {
        log.append(batch(&[("k", Some(&format!("v{i}")))], 1), None, 0)
            .unwrap();
    }
    assert!(
        log.compaction_job(0, CompactionTxns::none()).is_none(),
        "nothing flushed yet"
    );
    let not_compacted = Log::open(
        &PathBuf::from("/sim/c-2"),
        LogConfig {
            compact: false,
            ..config()
        },
        Arc::new(SimFs::new()),
    )
    .unwrap();
    assert!(
        not_compacted
            .compaction_job(0, CompactionTxns::none())
            .is_none()
    );
}

#[test]
fn a_crash_before_the_swap_leaves_the_old_segments() {
    let fs = Arc::new(SimFs::new());
    let (log, _) = filled_log(fs.clone());
    let (before, _) = read_everything(&log.reader());
    let done = log
        .compaction_job(3_000, CompactionTxns::none())
        .unwrap()
        .run()
        .unwrap();
    assert!(!done.groups.is_empty());
    let leftovers: Vec<PathBuf> = done.groups.iter().map(|c| c.path.clone()).collect();
    drop((done, log));
    let reopened = Log::open(&PathBuf::from("/sim/c-0"), config(), fs.clone()).unwrap();
    assert_eq!(read_everything(&reopened.reader()).0, before);
    for path in leftovers {
        assert!(
            !crate::log::FileSystem::exists(&*fs, &path),
            "stale {path:?} removed"
        );
    }
}

/// A crash after the commit point (the `.swap` rename) and before the old files
/// are gone: opening the log finishes the swap.
#[test]
fn a_crash_after_the_commit_point_is_finished_on_open() {
    let fs = Arc::new(SimFs::new());
    let dir = PathBuf::from("/sim/c-0");
    let (log, _) = filled_log(fs.clone());
    let done = log
        .compaction_job(3_000, CompactionTxns::none())
        .unwrap()
        .run()
        .unwrap();
    let group = done
        .groups
        .iter()
        .find(|g| g.originals.len() > 1)
        .expect("a merged group");
    let swap = super::swap_path(&group.originals[0].path);
    crate::log::FileSystem::rename(&*fs, &group.path, &swap).unwrap();
    // What the log would read after a completed compaction, from a twin log.
    let (mut twin, _) = filled_log(Arc::new(SimFs::new()));
    compact(&mut twin, 3_000);
    let expected = read_everything(&twin.reader()).0;
    drop((done, log));
    let reopened = Log::open(&dir, config(), fs.clone()).unwrap();
    let (records, ranges) = read_everything(&reopened.reader());
    let mut next = 0;
    for (first, last) in &ranges {
        assert_eq!(
            *first, next,
            "contiguous after the finished swap: {ranges:?}"
        );
        next = last + 1;
    }
    assert_eq!(next, 300);
    // The one swapped group is compacted; every record read is one written and
    // every latest value is present (the twin shows the fully compacted log).
    for r in &expected {
        assert!(records.contains(r), "{r:?} kept");
    }
    let swaps = crate::log::FileSystem::list_dir(&*fs, &dir)
        .unwrap()
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".swap"))
        .count();
    assert_eq!(swaps, 0);
}

/// `batch` with its records section compressed with `codec`.
fn compressed(batch: &Bytes, codec: weir_client::protocol::compression::Compression) -> Bytes {
    let mut out = batch[..61].to_vec();
    weir_client::protocol::compression::compress(codec, &batch[61..], &mut out).unwrap();
    let attributes = i16::from_be_bytes([out[21], out[22]]) | codec.id();
    out[21..23].copy_from_slice(&attributes.to_be_bytes());
    let count = i32::from_be_bytes([out[57], out[58], out[59], out[60]]);
    crate::log::batch::set_length_count_crc(&mut out, count);
    Bytes::from(out)
}

/// Every record of the log (compressed or not) as (offset, key, value).
fn read_decompressing(reader: &LogReader) -> Vec<ReadRecord> {
    use weir_client::protocol::compression::{Compression, decompress};
    use weir_client::protocol::records::records_of;
    let mut out = Vec::new();
    let mut offset = reader.log_start_offset();
    for _ in 0..100_000 {
        let read = reader.read(offset, 1 << 20, i64::MAX, true).unwrap();
        if read.records.is_empty() {
            break;
        }
        for (view, _) in batches(&read.records).map(Result::unwrap) {
            let codec = Compression::from_attributes(view.attributes()).unwrap();
            let section = decompress(codec, &view.records_bytes(), 1 << 20).unwrap();
            for r in records_of(section.into(), view.record_count()).map(Result::unwrap) {
                let text = |b: Option<Bytes>| b.map(|b| String::from_utf8(b.to_vec()).unwrap());
                out.push((
                    view.base_offset() + i64::from(r.offset_delta),
                    text(r.key).unwrap(),
                    text(r.value),
                ));
            }
            offset = view.last_offset() + 1;
        }
    }
    out
}

#[test]
fn compressed_batches_keep_only_their_latest_records_in_their_codec() {
    use weir_client::protocol::compression::Compression;
    for codec in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let fs = Arc::new(SimFs::new());
        let mut log = Log::open(&PathBuf::from("/sim/z-0"), config(), fs).unwrap();
        let mut latest = BTreeMap::new();
        // 60 batches of 4 records over 6 keys: each batch supersedes older ones.
        for b in 0..60i64 {
            let keys: Vec<String> = (0..4).map(|i| format!("k{}", (b * 4 + i) % 6)).collect();
            let values: Vec<String> = (0..4).map(|i| format!("v{}", b * 4 + i)).collect();
            let records: Vec<(&str, Option<&str>)> = keys
                .iter()
                .zip(&values)
                .map(|(k, v)| (k.as_str(), Some(v.as_str())))
                .collect();
            let info = log
                .append(compressed(&batch(&records, 100 + b), codec), None, 0)
                .unwrap();
            for (i, (k, v)) in keys.iter().zip(&values).enumerate() {
                latest.insert(k.clone(), (info.base_offset + i as i64, v.clone()));
            }
        }
        let end = log.reader().log_end_offset();
        log.mark_flushed(end).unwrap();
        let before = read_decompressing(&log.reader());
        assert_eq!(before.len(), 240);
        let stats = compact(&mut log, 3_000);
        assert!(stats.records_removed > 100, "{codec}: {stats:?}");
        let after = read_decompressing(&log.reader());
        for (offset, key, value) in &after {
            assert_eq!(
                &before[*offset as usize],
                &(*offset, key.clone(), value.clone()),
                "{codec}"
            );
        }
        for (key, (offset, value)) in &latest {
            assert!(
                after.contains(&(*offset, key.clone(), Some(value.clone()))),
                "{codec}: latest {key}"
            );
        }
        // Rewritten batches keep their codec.
        let read = log.reader().read(0, 1 << 20, i64::MAX, true).unwrap();
        let (first, _) = batches(&read.records).next().unwrap().unwrap();
        assert!(
            first.record_count() == 0
                || Compression::from_attributes(first.attributes()).unwrap() == codec,
            "{codec}"
        );
    }
}

/// A follower truncates its log while a compaction of it runs: what the job
/// read is gone, so nothing it wrote is swapped in, even once the cut segment is
/// sealed again by new batches.
#[test]
fn a_compaction_made_before_a_truncation_is_discarded() {
    let fs = Arc::new(SimFs::new());
    let dir = PathBuf::from("/sim/c-0");
    let (mut log, _) = filled_log(fs.clone());
    let job = log.compaction_job(3_000, CompactionTxns::none()).unwrap();
    // Inside the last segment the job cleans (one record per batch).
    let cut = job.cleanable_end() - 5;
    let done = job.run().unwrap();
    assert!(!done.groups.is_empty());
    let cleaned: Vec<PathBuf> = done.groups.iter().map(|g| g.path.clone()).collect();
    assert_eq!(log.truncate_to(cut).unwrap(), cut);
    for i in 0..200 {
        let (key, value) = (format!("n{}", i % 7), format!("new{i}"));
        log.append(batch(&[(&key, Some(&value))], 9_000), None, 1)
            .unwrap();
    }
    let segments = log.shared.segments.read().clone();
    let at = segments.iter().rposition(|s| s.base_offset < cut).unwrap();
    assert!(at + 1 < segments.len(), "the cut segment is sealed again");
    let before = read_everything(&log.reader());
    let stats = log.finish_compaction(done).unwrap();
    assert_eq!(stats, super::CompactionStats::default());
    assert_eq!(read_everything(&log.reader()), before);
    assert!(before.0.iter().all(|r| (r.0 < cut) != r.1.starts_with('n')));
    for path in cleaned {
        assert!(
            !crate::log::FileSystem::exists(&*fs, &path),
            "{path:?} removed"
        );
    }
    // A job made after the truncation compacts as usual.
    let end = log.reader().log_end_offset();
    log.mark_flushed(end).unwrap();
    assert!(compact(&mut log, 3_000).records_removed > 0);
    drop(log);
    let reopened = Log::open(&dir, config(), fs).unwrap();
    let after = read_everything(&reopened.reader()).0;
    assert!(after.iter().all(|r| (r.0 < cut) != r.1.starts_with('n')));
}

/// A transactional batch of `producer` with one (key, value) record.
fn txn_batch(producer: i64, key: &str, value: &str, ts: i64) -> Bytes {
    let records = [NewRecord {
        key: Some(Bytes::copy_from_slice(key.as_bytes())),
        value: Some(Bytes::copy_from_slice(value.as_bytes())),
        timestamp_ms: ts,
    }];
    weir_client::protocol::batch_encoder::encode_transactional_batch(&records, producer, 0).unwrap()
}

/// Every batch readable: (base offset, control, the data records' values).
fn batches_read(reader: &LogReader) -> Vec<(i64, bool, Vec<String>)> {
    let mut out = Vec::new();
    let mut offset = reader.log_start_offset();
    for _ in 0..100_000 {
        let read = reader.read(offset, 1 << 20, i64::MAX, true).unwrap();
        if read.records.is_empty() {
            break;
        }
        for (view, _) in batches(&read.records).map(Result::unwrap) {
            let values = if view.is_control() {
                Vec::new()
            } else {
                view.records()
                    .unwrap()
                    .map(Result::unwrap)
                    .filter_map(|r| r.value)
                    .map(|v| String::from_utf8(v.to_vec()).unwrap())
                    .collect()
            };
            out.push((view.base_offset(), view.is_control(), values));
            offset = view.base_offset() + i64::from(view.last_offset_delta()) + 1;
        }
    }
    out
}

/// Kafka's cleaner on transactions: aborted records go and never supersede
/// committed ones, committed records compact like any, a marker goes once its
/// transaction has no record left and it is past `delete.retention.ms`, a
/// marker with records left stays, and nothing at or above the last stable
/// offset is touched.
#[test]
fn aborted_records_and_spent_markers_go_committed_records_compact() {
    use crate::partition::txns::{Marker, marker_batch};
    let fs = Arc::new(SimFs::new());
    let mut log = Log::open(&PathBuf::from("/sim/t-0"), config(), fs).unwrap();
    let mut append = |b: Bytes| log.append(b, None, 0).unwrap().base_offset;
    // Producer 1 commits k1=a1, k2=a2; producer 2 aborts k1=b1; producer 3
    // commits k2=c2 (superseding a2); producer 4 commits k3=d, superseded by
    // a plain k3=e: its marker has nothing left.
    append(txn_batch(1, "k1", "a1", 100));
    append(txn_batch(1, "k2", "a2", 100));
    let b1 = append(txn_batch(2, "k1", "b1", 100));
    let commit_1 = append(marker_batch(1, 0, Marker::Commit, 0, 100));
    let abort_2 = append(marker_batch(2, 0, Marker::Abort, 0, 100));
    append(txn_batch(3, "k2", "c2", 100));
    let commit_3 = append(marker_batch(3, 0, Marker::Commit, 0, 100));
    append(txn_batch(4, "k3", "d", 100));
    let commit_4 = append(marker_batch(4, 0, Marker::Commit, 0, 100));
    append(batch(&[("k3", Some("e"))], 100));
    for i in 0..80 {
        let key = format!("f{}", i % 4);
        append(batch(&[(&key, Some(&format!("filler{i}")))], 100));
    }
    // An open transaction near the end: the LSO stops cleaning before it.
    let open = append(txn_batch(5, "k9", "open", 100));
    for i in 0..40 {
        append(batch(&[("g", Some(&format!("late{i}")))], 100));
    }
    let end = log.reader().log_end_offset();
    log.mark_flushed(end).unwrap();
    let aborted = vec![(2, b1, abort_2)];
    let txns = |stable| CompactionTxns {
        stable_offset: stable,
        aborted: aborted.clone(),
    };

    // Within delete.retention.ms (1 s) every marker stays.
    let job = log.compaction_job(500, txns(open)).unwrap();
    log.finish_compaction(job.run().unwrap()).unwrap();
    let read = batches_read(&log.reader());
    let markers: Vec<i64> = read.iter().filter(|b| b.1).map(|b| b.0).collect();
    assert_eq!(markers, vec![commit_1, abort_2, commit_3, commit_4]);
    let values: Vec<&String> = read.iter().flat_map(|b| &b.2).collect();
    assert!(!values.contains(&&"b1".to_owned()), "aborted record kept");
    assert!(
        values.contains(&&"a1".to_owned()),
        "an aborted record superseded a committed one"
    );
    assert!(!values.contains(&&"a2".to_owned()) && values.contains(&&"c2".to_owned()));
    assert!(!values.contains(&&"d".to_owned()) && values.contains(&&"e".to_owned()));

    // Past it, the markers with nothing left go; producer 1's (a1) and
    // producer 3's (c2) stay.
    let job = log.compaction_job(10_000, txns(open)).unwrap();
    log.finish_compaction(job.run().unwrap()).unwrap();
    let read = batches_read(&log.reader());
    let markers: Vec<i64> = read.iter().filter(|b| b.1).map(|b| b.0).collect();
    assert_eq!(markers, vec![commit_1, commit_3]);
    // Above the LSO nothing was cleaned: every late record is still there.
    let late = read
        .iter()
        .flat_map(|b| &b.2)
        .filter(|v| v.starts_with("late"))
        .count();
    assert_eq!(late, 40);
    assert!(read.iter().any(|b| b.2 == ["open"]));
    // Offsets are kept: the log still ends where it did.
    assert_eq!(log.reader().log_end_offset(), end);
}
