//! Replication support: a follower's appends (batches kept as the leader wrote
//! them), the leader-epoch cache (from appends, on disk, across reopens, rebuilt
//! from headers, answering OffsetForLeaderEpoch), truncation at and inside
//! batches and segments, truncation below the log start, flushes and compactions
//! that straddle a truncation, and crashes after (and during) a truncation.
//! Randomized tests print their seed (`WEIR_TEST_SEED=<n>` replays one).

use super::*;
use crate::log::checkpoint::{self, LOG_START_OFFSET_FILE, RECOVERY_POINT_FILE};
use crate::log::epochs::{EpochCache, LEADER_EPOCH_CHECKPOINT_FILE};

fn follower_dir() -> PathBuf {
    PathBuf::from("/sim/topic-0-follower")
}

/// Segments of about three 3-record batches (106 bytes each).
fn small_segments() -> LogConfig {
    LogConfig {
        segment_bytes: 350,
        index_interval_bytes: 150,
        ..config()
    }
}

/// A batch as a leader stored it: records tagged `tag` at `ts`, given `base` and
/// `epoch` (both outside the CRC, so the batch stays valid).
fn leader_batch(tag: u64, records: usize, ts: i64, base: i64, epoch: i32) -> Bytes {
    let mut bytes = batch(tag, records, ts).to_vec();
    let header: &mut [u8; BATCH_HEADER_BYTES] = (&mut bytes[..BATCH_HEADER_BYTES])
        .try_into()
        .expect("a whole header");
    batch::assign(header, base, epoch);
    Bytes::from(bytes)
}

fn header(b: &Bytes) -> batch::BatchHeader {
    batch::check(b).expect("a valid batch")
}

/// The batch stored at `base`, as served.
fn stored(log: &Log, base: i64) -> Bytes {
    let read = log.reader().read(base, 1, i64::MAX, true).unwrap();
    let one = split(&read.records).remove(0);
    assert_eq!(header(&one).base_offset, base);
    one
}

fn epochs_of(log: &Log) -> Vec<(i32, i64)> {
    log.shared.epochs.read().entries().to_vec()
}

/// The cache Kafka's rules give for `batches` (every batch the log holds or
/// held below its start, oldest first) in a log from `log_start` to `log_end`.
fn epochs_from(batches: &[Bytes], log_start: i64, log_end: i64) -> Vec<(i32, i64)> {
    let mut cache = EpochCache::default();
    for b in batches {
        let h = header(b);
        cache.assign(h.leader_epoch, h.base_offset);
    }
    cache.fit(log_start, log_end);
    cache.entries().to_vec()
}

fn epoch_file_text(fs: &SimFs, dir: &Path) -> String {
    let file = fs
        .open(&dir.join(LEADER_EPOCH_CHECKPOINT_FILE), false)
        .unwrap();
    let mut buf = vec![0u8; file.len().unwrap() as usize];
    file.read_exact_at(&mut buf, 0).unwrap();
    String::from_utf8(buf).unwrap()
}

/// Base offsets of the `.log` files in `dir`.
fn segment_files(fs: &SimFs, dir: &Path) -> Vec<i64> {
    let mut bases: Vec<i64> = fs
        .list_dir(dir)
        .unwrap()
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .map(|p| p.file_stem().unwrap().to_str().unwrap().parse().unwrap())
        .collect();
    bases.sort_unstable();
    bases
}

fn segment_bases(log: &Log) -> Vec<i64> {
    log.shared
        .segments
        .read()
        .iter()
        .map(|s| s.base_offset)
        .collect()
}

/// Every segment agrees with its bytes: contiguous offsets, size equal to the
/// file, max timestamp that of its batches, an offset index entry exactly at each
/// batch `index_interval_bytes` or more past the previous entry, a time entry at
/// each batch that raised the max timestamp; and the writer counts from the
/// active segment's last index entry.
fn assert_segments_consistent(log: &Log, context: &str) {
    let segments = log.shared.segments.read().clone();
    let end = log.reader().log_end_offset();
    let interval = u64::from(log.config().index_interval_bytes);
    let active = segments.last().unwrap();
    assert_eq!(
        log.bytes_since_index,
        active.bytes_since_index(),
        "{context}"
    );
    for (i, segment) in segments.iter().enumerate() {
        let next = segments.get(i + 1).map_or(end, |s| s.base_offset);
        assert_eq!(segment.next_offset(), next, "{context}: contiguous");
        let size = segment.size();
        assert_eq!(segment.file.len().unwrap(), size, "{context}: file size");
        let (mut position, mut max_ts, mut offset) = (0, -1, segment.base_offset);
        let index = segment.index.read().clone();
        let mut indexed: Option<u64> = None;
        let (mut expected_offsets, mut expected_times) = (Vec::new(), Vec::new());
        while let Some(h) = segment.header_at(position, size).unwrap() {
            assert_eq!(h.base_offset, offset, "{context}: batches continue");
            if indexed.is_none_or(|p| position - p >= interval) {
                let relative = (h.base_offset - segment.base_offset) as u32;
                expected_offsets.push((relative, position as u32));
                indexed = Some(position);
            }
            if h.max_timestamp > max_ts {
                let relative = (h.base_offset - segment.base_offset) as u32;
                expected_times.push((h.max_timestamp, relative));
                max_ts = h.max_timestamp;
            }
            offset = h.last_offset + 1;
            position += h.total_len;
        }
        assert_eq!((position, offset), (size, next), "{context}: whole batches");
        assert_eq!(index.offsets, expected_offsets, "{context}: offset index");
        assert_eq!(index.times, expected_times, "{context}: time index");
        assert_eq!(
            segment.max_timestamp.load(Ordering::Acquire),
            max_ts,
            "{context}: max timestamp of base {}",
            segment.base_offset
        );
    }
}

/// The log serves exactly `model` from its start, ends where the model does,
/// holds the epochs its batches say, and its files match its segments.
fn assert_log(fs: &SimFs, log: &Log, model: &[Bytes], context: &str) {
    let start = log.reader().log_start_offset();
    let end = model.last().map_or(start, |b| header(b).last_offset + 1);
    assert_log_with(fs, log, model, &epochs_from(model, start, end), context);
}

/// [`assert_log`] with the epochs given (when the model alone does not say them:
/// after the log start moved past batches).
fn assert_log_with(fs: &SimFs, log: &Log, model: &[Bytes], epochs: &[(i32, i64)], context: &str) {
    let reader = log.reader();
    let start = reader.log_start_offset();
    assert_eq!(served(&reader, start), model, "{context}: batches");
    let end = model.last().map_or(start, |b| header(b).last_offset + 1);
    assert_eq!(reader.log_end_offset(), end, "{context}: log end");
    assert_eq!(epochs_of(log), epochs, "{context}: epochs");
    let latest = log.latest_epoch();
    assert_eq!(reader.latest_epoch(), latest);
    if latest >= 0 {
        assert_eq!(reader.end_offset_for_epoch(latest), (latest, end));
    }
    assert_eq!(
        segment_files(fs, &dir()),
        segment_bases(log),
        "{context}: files"
    );
    assert!(
        log.unflushed_sealed
            .iter()
            .all(|(sealed_end, _)| *sealed_end <= end),
        "{context}: nothing to flush past the end"
    );
    assert_segments_consistent(log, context);
}

/// A leader log of `count` 3-record batches (timestamps 1000 + i), in epochs
/// that rise by 2 every `per_epoch` batches, from epoch 1.
fn leader_log(fs: &Arc<SimFs>, config: LogConfig, count: u64, per_epoch: u64) -> (Log, Vec<Bytes>) {
    let mut log = Log::open(&dir(), config, fs.clone()).unwrap();
    let mut model = Vec::new();
    for i in 0..count {
        let epoch = 1 + 2 * (i / per_epoch) as i32;
        let info = log
            .append(batch(i, 3, 1_000 + i as i64), None, epoch)
            .unwrap();
        model.push(stored(&log, info.base_offset));
    }
    (log, model)
}

#[test]
fn append_replica_copies_the_leaders_batches_exactly() {
    let fs = Arc::new(SimFs::new());
    let config = LogConfig {
        segment_bytes: 1024,
        ..config()
    };
    let mut leader = Log::open(&dir(), config.clone(), fs.clone()).unwrap();
    for i in 0..60u64 {
        let epoch = 1 + 2 * (i / 20) as i32;
        let append_time = (i % 7 == 0).then_some(50_000 + i as i64);
        let n = 1 + (i % 3) as usize;
        leader
            .append(batch(i, n, 1_000 + i as i64), append_time, epoch)
            .unwrap();
    }
    let sent = served(&leader.reader(), 0);
    let mut follower = Log::open(&follower_dir(), config.clone(), fs.clone()).unwrap();
    for b in &sent {
        let h = header(b);
        let info = follower.append_replica(b.clone()).unwrap();
        let expected = AppendInfo {
            base_offset: h.base_offset,
            last_offset: h.last_offset,
            max_timestamp: h.max_timestamp,
            log_append_time: None,
        };
        assert_eq!(info, expected);
    }
    assert_eq!(served(&follower.reader(), 0), sent, "byte for byte");
    assert!(segment_count(&follower) > 3, "the follower rolled");
    assert_eq!(
        segment_bases(&follower),
        segment_bases(&leader),
        "rolled alike"
    );
    assert_eq!(epochs_of(&follower), epochs_of(&leader));
    let starts: Vec<i64> = [0, 20, 40]
        .iter()
        .map(|&i| header(&sent[i]).base_offset)
        .collect();
    assert_eq!(
        epochs_of(&leader),
        [(1, starts[0]), (3, starts[1]), (5, starts[2])]
    );
    for ts in [999, 1_030, 50_014, 60_000] {
        assert_eq!(
            follower.reader().offset_for_timestamp(ts).unwrap(),
            leader.reader().offset_for_timestamp(ts).unwrap(),
            "indexed alike (ts {ts})"
        );
    }
    drop(follower);
    let follower = Log::open(&follower_dir(), config, fs).unwrap();
    assert_eq!(served(&follower.reader(), 0), sent);
    assert_eq!(epochs_of(&follower), epochs_of(&leader));
}

#[test]
fn append_replica_refuses_a_gap_or_overlap_without_writing() {
    let fs = Arc::new(SimFs::new());
    let (leader, sent) = leader_log(&fs, config(), 10, 4);
    let mut follower = Log::open(&follower_dir(), config(), fs.clone()).unwrap();
    for b in &sent[..5] {
        follower.append_replica(b.clone()).unwrap();
    }
    let end = follower.reader().log_end_offset();
    assert_eq!(end, 15);
    let active = follower.shared.segments.read().last().unwrap().path.clone();
    let file_len = || fs.open(&active, false).unwrap().len().unwrap();
    let len_before = file_len();
    let epochs_before = epochs_of(&follower);
    for (b, found) in [(&sent[6], 18), (&sent[4], 12), (&sent[0], 0)] {
        match follower.append_replica(b.clone()) {
            Err(LogError::NonContiguous { expected, found: f }) => {
                assert_eq!((expected, f), (end, found));
            }
            other => panic!("expected NonContiguous, got {other:?}"),
        }
    }
    // A batch of a newer epoch that does not continue the log records no epoch.
    let ahead = leader_batch(99, 1, 5, 40, 9);
    assert!(matches!(
        follower.append_replica(ahead),
        Err(LogError::NonContiguous { .. })
    ));
    let mut corrupt = sent[5].to_vec();
    *corrupt.last_mut().unwrap() ^= 1;
    assert!(matches!(
        follower.append_replica(Bytes::from(corrupt)),
        Err(LogError::Corrupt { .. })
    ));
    follower.set_config(LogConfig {
        max_message_bytes: 100,
        ..config()
    });
    assert!(matches!(
        follower.append_replica(sent[5].clone()),
        Err(LogError::MessageTooLarge { max: 100, .. })
    ));
    follower.set_config(config());
    assert_eq!(follower.reader().log_end_offset(), end, "nothing published");
    assert_eq!(file_len(), len_before, "nothing written");
    assert_eq!(epochs_of(&follower), epochs_before);
    assert!(follower.failure().is_none(), "refusals are not failures");
    // The right batch still goes in.
    for b in &sent[5..] {
        follower.append_replica(b.clone()).unwrap();
    }
    assert_eq!(served(&follower.reader(), 0), served(&leader.reader(), 0));
}

#[test]
fn appends_with_rising_epochs_fill_the_cache_and_its_file() {
    let fs = Arc::new(SimFs::new());
    let mut log = Log::open(&dir(), config(), fs.clone()).unwrap();
    assert_eq!((log.latest_epoch(), log.reader().latest_epoch()), (-1, -1));
    let mut append = |epoch| log.append(batch(0, 2, 5), None, epoch).unwrap().base_offset;
    append(0);
    append(0);
    let two = append(2);
    append(2);
    append(1); // an older epoch: stamped, not recorded
    append(-1); // no epoch
    let five = append(5);
    append(5);
    assert_eq!(two, 4);
    assert_eq!(epochs_of(&log), [(0, 0), (2, two), (5, five)]);
    assert_eq!(log.latest_epoch(), 5);
    assert_eq!(log.reader().latest_epoch(), 5);
    assert_eq!(header(&stored(&log, 8)).leader_epoch, 1);
    assert_eq!(
        epoch_file_text(&fs, &dir()),
        format!("0\n3\n0 0\n2 {two}\n5 {five}\n")
    );
    // The file was written durably before the batches: a crash that loses
    // the unflushed batches loses their epochs with them.
    drop(log);
    fs.crash();
    let log = Log::open(&dir(), config(), fs.clone()).unwrap();
    assert_eq!(log.reader().log_end_offset(), 0);
    assert!(epochs_of(&log).is_empty());
    assert_eq!(epoch_file_text(&fs, &dir()), "0\n0\n");
}

#[test]
fn the_cache_survives_a_flush_and_crash_up_to_the_flushed_offset() {
    let fs = Arc::new(SimFs::new());
    let flusher = Flusher::spawn().unwrap();
    let (mut log, model) = leader_log(&fs, small_segments(), 30, 10);
    assert_eq!(flush_now(&flusher, &mut log), Some(Ok(90)));
    for i in 0..5 {
        log.append(batch(100 + i, 1, 1), None, 9).unwrap();
    }
    assert_eq!(log.latest_epoch(), 9);
    drop(log);
    fs.crash();
    let log = Log::open(&dir(), small_segments(), fs.clone()).unwrap();
    assert_log(&fs, &log, &model, "after the crash");
    assert_eq!(epochs_of(&log), [(1, 0), (3, 30), (5, 60)]);
    flusher.shutdown();
}

#[test]
fn end_offset_for_epoch_answers_as_kafka() {
    let fs = Arc::new(SimFs::new());
    let mut log = Log::open(&dir(), config(), fs).unwrap();
    let reader = log.reader();
    assert_eq!(reader.end_offset_for_epoch(0), (-1, -1), "empty cache");
    for (epoch, batches) in [(2, 3), (4, 2), (7, 4)] {
        for i in 0..batches {
            log.append(batch(i, 5, 1), None, epoch).unwrap();
        }
    }
    // Epoch 2 starts at 0, 4 at 15, 7 at 25; the log ends at 45.
    assert_eq!(epochs_of(&log), [(2, 0), (4, 15), (7, 25)]);
    assert_eq!(
        reader.end_offset_for_epoch(7),
        (7, 45),
        "latest: the log end"
    );
    assert_eq!(reader.end_offset_for_epoch(4), (4, 25), "middle");
    assert_eq!(reader.end_offset_for_epoch(2), (2, 15), "earliest");
    assert_eq!(
        reader.end_offset_for_epoch(5),
        (4, 25),
        "between: the one below"
    );
    assert_eq!(reader.end_offset_for_epoch(1), (1, 0), "below the earliest");
    assert_eq!(reader.end_offset_for_epoch(8), (-1, -1), "above the latest");
    assert_eq!(reader.end_offset_for_epoch(-1), (-1, -1), "undefined");
    // The latest epoch follows the log end as it grows.
    log.append(batch(9, 5, 1), None, 7).unwrap();
    assert_eq!(reader.end_offset_for_epoch(7), (7, 50));
}

#[test]
fn truncate_to_cuts_at_and_inside_batches_and_segments() {
    let fs = Arc::new(SimFs::new());
    let (mut log, mut model) = leader_log(&fs, small_segments(), 30, 10);
    // Three batches (nine offsets) per segment; epochs 1, 3, 5 from 0, 30, 60.
    assert_eq!(segment_bases(&log)[..4], [0, 9, 18, 27]);
    assert_log(&fs, &log, &model, "filled");

    // At or beyond the end: nothing happens.
    assert_eq!(log.truncate_to(90).unwrap(), 90);
    assert_eq!(log.truncate_to(1_000).unwrap(), 90);
    assert_log(&fs, &log, &model, "no-op");

    // Inside the last batch of the active segment: that batch goes whole.
    assert_eq!(log.truncate_to(88).unwrap(), 87);
    model.truncate(29);
    assert_log(&fs, &log, &model, "inside the last batch");
    assert_eq!(log.reader().offset_for_timestamp(1_029).unwrap(), None);

    // At a batch boundary inside a sealed segment (base 72): 81 goes.
    assert_eq!(log.truncate_to(75).unwrap(), 75);
    model.truncate(25);
    assert_log(&fs, &log, &model, "at a boundary");
    assert_eq!(*segment_bases(&log).last().unwrap(), 72);

    // At a segment's base: it goes, the one before becomes active again and its
    // index files go (an active segment's indexes live in memory).
    assert_eq!(log.truncate_to(63).unwrap(), 63);
    model.truncate(21);
    assert_log(&fs, &log, &model, "at a segment base");
    assert_eq!(*segment_bases(&log).last().unwrap(), 54);
    let active = log.shared.segments.read().last().unwrap().clone();
    assert!(!fs.exists(&active.sibling("index")));
    assert_eq!(epochs_of(&log), [(1, 0), (3, 30), (5, 60)]);

    // Across segments and epochs, inside a batch: epoch 3 started at 30 and goes.
    assert_eq!(log.truncate_to(31).unwrap(), 30);
    model.truncate(10);
    assert_log(&fs, &log, &model, "across segments");
    assert_eq!(epochs_of(&log), [(1, 0)]);
    assert_eq!(
        epoch_file_text(&fs, &dir()),
        "0\n1\n1 0\n",
        "the file follows"
    );
    assert_eq!(log.reader().end_offset_for_epoch(1), (1, 30));
    assert_eq!(log.reader().end_offset_for_epoch(3), (-1, -1));

    // Appends continue at the new end, as a leader and as a follower.
    let info = log.append(batch(50, 2, 2_000), None, 6).unwrap();
    assert_eq!(info.base_offset, 30);
    model.push(stored(&log, 30));
    let replicated = leader_batch(51, 3, 2_001, 32, 7);
    assert_eq!(
        log.append_replica(replicated.clone()).unwrap().base_offset,
        32
    );
    model.push(replicated);
    for i in 0..6 {
        let end = log.reader().log_end_offset();
        let b = leader_batch(60 + i, 3, 2_010 + i as i64, end, 7);
        log.append_replica(b.clone()).unwrap();
        model.push(b);
    }
    assert_log(&fs, &log, &model, "appended after the cut");
    assert_eq!(epochs_of(&log), [(1, 0), (6, 30), (7, 32)]);
    assert_eq!(
        log.reader().offset_for_timestamp(2_000).unwrap(),
        Some((30, 2_000))
    );
    // Every offset reads the batch that holds it.
    for b in &model {
        let h = header(b);
        for offset in h.base_offset..=h.last_offset {
            assert_eq!(&stored(&log, h.base_offset), b);
            let read = log.reader().read(offset, 1, i64::MAX, true).unwrap();
            assert_eq!(&split(&read.records)[0], b, "offset {offset}");
        }
    }
    drop(log);
    let log = Log::open(&dir(), small_segments(), fs.clone()).unwrap();
    assert_log(&fs, &log, &model, "reopened");
    assert_eq!(epochs_of(&log), [(1, 0), (6, 30), (7, 32)]);
}

#[test]
fn truncate_to_the_log_start_or_below_starts_over_there() {
    let fs = Arc::new(SimFs::new());
    let (mut log, model) = leader_log(&fs, small_segments(), 30, 10);
    assert_eq!(log.delete_records_before(40).unwrap(), 40);
    // Entries below the new start collapse into one starting there.
    assert_eq!(epochs_of(&log), [(3, 40), (5, 60)]);
    let first = model
        .iter()
        .position(|b| header(b).last_offset >= 40)
        .unwrap();
    let epochs = epochs_from(&model, 40, 90);
    assert_log_with(&fs, &log, &model[first..], &epochs, "after DeleteRecords");
    // Inside (start, end) but in the batch holding the start: nothing is left,
    // and the start comes down to the end.
    assert_eq!(log.truncate_to(41).unwrap(), 39);
    let reader = log.reader();
    assert_eq!(
        (reader.log_start_offset(), reader.log_end_offset()),
        (39, 39)
    );
    assert_log(&fs, &log, &[], "cut in the start's batch");
    assert_eq!(
        log.truncate_to(39).unwrap(),
        39,
        "at the end: nothing to do"
    );
    // At or below the start: an empty log there.
    log.append(batch(1, 3, 1), None, 8).unwrap();
    assert_eq!(log.truncate_to(20).unwrap(), 20);
    assert_eq!(
        (reader.log_start_offset(), reader.log_end_offset()),
        (20, 20)
    );
    assert_eq!(segment_bases(&log), [20]);
    assert!(epochs_of(&log).is_empty());
    assert_log(&fs, &log, &[], "below the start");
    assert!(matches!(
        log.truncate_to(-1),
        Err(LogError::OffsetOutOfRange { .. })
    ));
}

#[test]
fn truncate_fully_and_start_at_then_append() {
    let fs = Arc::new(SimFs::new());
    let flusher = Flusher::spawn().unwrap();
    let (mut log, _) = leader_log(&fs, small_segments(), 30, 10);
    assert_eq!(flush_now(&flusher, &mut log), Some(Ok(90)));
    log.truncate_fully_and_start_at(500).unwrap();
    let reader = log.reader();
    assert_eq!(
        (reader.log_start_offset(), reader.log_end_offset()),
        (500, 500)
    );
    assert_eq!(segment_bases(&log), [500]);
    assert_eq!(segment_files(&fs, &dir()), [500]);
    assert!(epochs_of(&log).is_empty());
    assert_eq!(epoch_file_text(&fs, &dir()), "0\n0\n");
    assert_eq!(log.latest_epoch(), -1);
    assert_eq!(log.flushed_offset(), 500);
    let checkpoint_at = |name| checkpoint::read(&*fs, &dir().join(name));
    assert_eq!(checkpoint_at(LOG_START_OFFSET_FILE), Some(500));
    assert_eq!(checkpoint_at(RECOVERY_POINT_FILE), Some(500));
    assert!(
        reader
            .read(500, 100, i64::MAX, true)
            .unwrap()
            .records
            .is_empty()
    );
    assert!(matches!(
        reader.read(499, 100, i64::MAX, true),
        Err(ReadError::OffsetOutOfRange { .. })
    ));
    let mut model = Vec::new();
    let b = leader_batch(1, 3, 7, 500, 12);
    log.append_replica(b.clone()).unwrap();
    model.push(b);
    let info = log.append(batch(2, 2, 8), None, 13).unwrap();
    assert_eq!(info.base_offset, 503);
    model.push(stored(&log, 503));
    assert_log(&fs, &log, &model, "appended");
    assert_eq!(epochs_of(&log), [(12, 500), (13, 503)]);
    assert_eq!(flush_now(&flusher, &mut log), Some(Ok(505)));
    drop(log);
    fs.crash();
    let mut log = Log::open(&dir(), small_segments(), fs.clone()).unwrap();
    assert_eq!(log.reader().log_start_offset(), 500);
    assert_log(&fs, &log, &model, "reopened after a crash");
    // Down again, below where it started.
    log.truncate_fully_and_start_at(7).unwrap();
    assert_eq!(segment_bases(&log), [7]);
    assert_log(&fs, &log, &[], "restarted lower");
    drop(log);
    let log = Log::open(&dir(), small_segments(), fs.clone()).unwrap();
    assert_eq!(log.reader().log_start_offset(), 7);
    assert_log(&fs, &log, &[], "reopened");
    flusher.shutdown();
}

#[test]
fn the_cache_file_is_rebuilt_from_headers_when_missing_corrupt_or_stale() {
    let fs = Arc::new(SimFs::new());
    let (log, model) = leader_log(&fs, small_segments(), 30, 7);
    let expected = epochs_of(&log);
    assert_eq!(expected, epochs_from(&model, 0, 90));
    assert_eq!(expected.len(), 5);
    let text = epoch_file_text(&fs, &dir());
    drop(log);
    let path = dir().join(LEADER_EPOCH_CHECKPOINT_FILE);
    for what in ["missing", "torn", "corrupt", "stale"] {
        match what {
            "missing" => fs.remove_file(&path).unwrap(),
            "torn" => fs.with_file_bytes(&path, |b| b.truncate(b.len() / 2)),
            "corrupt" => fs.with_file_bytes(&path, |b| b[0] = b'x'),
            // Valid, but older than the batches.
            _ => fs.with_file_bytes(&path, |b| *b = b"0\n1\n1 0\n".to_vec()),
        }
        let log = Log::open(&dir(), small_segments(), fs.clone()).unwrap();
        assert_eq!(epochs_of(&log), expected, "{what}");
        assert_eq!(epoch_file_text(&fs, &dir()), text, "{what}: rewritten");
    }
    // Entries past the recovered end (a crash lost their batches) are dropped.
    let mut lines: Vec<String> = expected.iter().map(|(e, o)| format!("{e} {o}\n")).collect();
    lines.push("20 95\n".to_owned());
    let beyond = format!("0\n{}\n{}", lines.len(), lines.concat());
    fs.with_file_bytes(&path, |b| *b = beyond.clone().into_bytes());
    assert_eq!(epoch_file_text(&fs, &dir()), beyond);
    let log = Log::open(&dir(), small_segments(), fs.clone()).unwrap();
    assert_eq!(epochs_of(&log), expected);
    assert_eq!(epoch_file_text(&fs, &dir()), text);
}

#[test]
fn a_flush_handed_out_before_a_truncation_vouches_only_below_the_cut() {
    let fs = Arc::new(SimFs::new());
    let flusher = Flusher::spawn().unwrap();
    let (mut log, _) = leader_log(&fs, small_segments(), 20, 10);
    assert_eq!(flush_now(&flusher, &mut log), Some(Ok(60)));
    for i in 0..5 {
        log.append(batch(100 + i, 3, 1), None, 5).unwrap();
    }
    let stale = log.flush_handle().expect("unflushed appends");
    assert_eq!(stale.up_to, 75);
    assert_eq!(log.truncate_to(40).unwrap(), 39);
    assert_eq!(log.flushed_offset(), 39);
    // Appends past where the stale flush claimed to reach.
    for i in 0..15 {
        log.append(batch(200 + i, 3, 1), None, 7).unwrap();
    }
    assert_eq!(log.reader().log_end_offset(), 84);
    let (tx, rx) = crossbeam_channel::bounded(1);
    let request = FlushRequest {
        target: stale,
        done: Box::new(move |r| {
            let _ = tx.send(r.map_err(|e| e.to_string()));
        }),
    };
    assert!(flusher.handle().submit(request).is_ok());
    let up_to = rx.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
    assert_eq!(up_to, 75);
    log.mark_flushed(up_to).unwrap();
    assert_eq!(
        log.flushed_offset(),
        39,
        "the stale flush synced nothing after the cut"
    );
    let recovery_point = checkpoint::read(&*fs, &dir().join(RECOVERY_POINT_FILE));
    assert!(
        recovery_point.is_some_and(|rp| rp <= 39),
        "the stale flush left the recovery point alone ({recovery_point:?})"
    );
    // A flush handed out after the truncation counts in full.
    assert_eq!(flush_now(&flusher, &mut log), Some(Ok(84)));
    assert_eq!(log.flushed_offset(), 84);
    // A stale answer beyond the log end (cut, nothing appended) is no error.
    log.append(batch(300, 3, 1), None, 7).unwrap();
    let stale = log.flush_handle().unwrap();
    assert_eq!(log.truncate_to(80).unwrap(), 78);
    log.mark_flushed(stale.up_to).unwrap();
    assert_eq!(log.flushed_offset(), 78);
    flusher.shutdown();
}

#[test]
fn a_crash_after_a_truncation_never_brings_cut_batches_back() {
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let flusher = Flusher::spawn().unwrap();
    for round in 0..30 {
        let context = format!("seed {seed} round {round}");
        let fs = Arc::new(SimFs::new());
        let config = LogConfig {
            segment_bytes: rng.random_range(300..2_000),
            index_interval_bytes: rng.random_range(0..500),
            ..config()
        };
        let count = rng.random_range(5..60);
        let (mut log, mut model) = leader_log(&fs, config.clone(), count, rng.random_range(1..20));
        assert!(flush_now(&flusher, &mut log).unwrap().is_ok());
        let end = log.reader().log_end_offset();
        let offset = rng.random_range(1..end);
        let cut = log.truncate_to(offset).unwrap();
        model.retain(|b| header(b).last_offset < offset);
        let kept = model.len();
        // Batches of a new leader, unflushed unless flushed below.
        let epoch = log.latest_epoch() + rng.random_range(0..3);
        for i in 0..rng.random_range(0..8) {
            let b = leader_batch(
                1_000 + i,
                rng.random_range(1..4),
                7,
                log.reader().log_end_offset(),
                epoch,
            );
            log.append_replica(b.clone()).unwrap();
            model.push(b);
        }
        let flushed = rng.random_bool(0.3);
        if flushed {
            assert!(flush_now(&flusher, &mut log).unwrap_or(Ok(0)).is_ok());
        }
        drop(log);
        match rng.random_range(0..2) {
            0 => fs.crash(),
            _ => fs.crash_torn(rng.random()),
        }
        let mut log = Log::open(&dir(), config.clone(), fs.clone()).unwrap();
        let got = served(&log.reader(), 0);
        assert!(
            got.len() >= kept,
            "{context}: lost batches below the cut {cut}"
        );
        if flushed {
            assert_eq!(got.len(), model.len(), "{context}: lost flushed batches");
        }
        assert_log(&fs, &log, &model[..got.len()], &context);
        let end = log.reader().log_end_offset();
        assert_eq!(
            log.append(batch(9, 1, 1), None, epoch).unwrap().base_offset,
            end
        );
    }
    flusher.shutdown();
}

#[test]
fn a_truncation_that_fails_midway_reopens_consistent() {
    let flusher = Flusher::spawn().unwrap();
    // Each budget fails a different sync of the truncation (or none).
    for syncs in 0..10 {
        let context = format!("{syncs} syncs allowed");
        let fs = Arc::new(SimFs::new());
        let (mut log, model) = leader_log(&fs, small_segments(), 30, 10);
        assert_eq!(flush_now(&flusher, &mut log), Some(Ok(90)));
        fs.fail_syncs_after(syncs);
        match log.truncate_to(50) {
            Ok(new_end) => assert_eq!(new_end, 48, "{context}"),
            Err(_) => {
                assert!(
                    log.failure().is_some(),
                    "{context}: the log refuses appends"
                );
                assert!(matches!(
                    log.append(batch(1, 1, 1), None, 9),
                    Err(LogError::Failed(_))
                ));
            }
        }
        drop(log);
        fs.heal();
        fs.crash();
        let log = Log::open(&dir(), small_segments(), fs.clone()).unwrap();
        let got = served(&log.reader(), 0);
        // The old log, or the cut one: never a gap, never epochs without batches.
        assert!(
            got.len() == model.len() || got.len() == 16,
            "{context}: {} batches",
            got.len()
        );
        assert_log(&fs, &log, &model[..got.len()], &context);
    }
    flusher.shutdown();
}

#[test]
fn appends_truncations_and_reopens_match_a_model() {
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let flusher = Flusher::spawn().unwrap();
    for round in 0..12 {
        let fs = Arc::new(SimFs::new());
        let config = LogConfig {
            segment_bytes: rng.random_range(250..1_500),
            index_interval_bytes: rng.random_range(0..400),
            ..config()
        };
        let mut log = Log::open(&dir(), config.clone(), fs.clone()).unwrap();
        let mut model: Vec<Bytes> = Vec::new();
        // The epoch cache by Kafka's rules, kept beside the log.
        let mut epochs = EpochCache::default();
        let mut epoch = 0;
        for step in 0..120 {
            let context = format!("seed {seed} round {round} step {step}");
            let reader = log.reader();
            let (start, end) = (reader.log_start_offset(), reader.log_end_offset());
            if rng.random_bool(0.1) {
                epoch += 1;
            }
            let (n, ts) = (rng.random_range(1..5), rng.random_range(0..10_000));
            match rng.random_range(0..20) {
                0..=6 => {
                    let e = if rng.random_bool(0.1) {
                        epoch - 1
                    } else {
                        epoch
                    };
                    let info = log.append(batch(rng.random(), n, ts), None, e).unwrap();
                    model.push(stored(&log, info.base_offset));
                    epochs.assign(e, info.base_offset);
                }
                7..=12 => {
                    let b = leader_batch(rng.random(), n, ts, end, epoch);
                    log.append_replica(b.clone()).unwrap();
                    model.push(b);
                    epochs.assign(epoch, end);
                }
                13..=15 => {
                    let offset = rng.random_range(start.saturating_sub(2).max(0)..=end + 2);
                    let new_end = log.truncate_to(offset).unwrap();
                    if offset >= end {
                        assert_eq!(new_end, end, "{context}");
                    } else if offset <= start {
                        assert_eq!(new_end, offset, "{context}");
                        assert_eq!(log.reader().log_start_offset(), offset);
                        model.clear();
                        epochs.clear();
                    } else {
                        model.retain(|b| header(b).last_offset < offset);
                        assert!(new_end <= offset, "{context}");
                        epochs.truncate_from_end(new_end);
                    }
                }
                16 => {
                    let offset = rng.random_range(start..=end);
                    let new_start = log.delete_records_before(offset).unwrap();
                    model.retain(|b| header(b).last_offset >= new_start);
                    epochs.fit(new_start, end);
                }
                17 => {
                    let _ = flush_now(&flusher, &mut log);
                }
                _ => {
                    drop(log);
                    log = Log::open(&dir(), config.clone(), fs.clone()).unwrap();
                }
            }
            assert_log_with(&fs, &log, &model, epochs.entries(), &context);
        }
    }
    flusher.shutdown();
}
