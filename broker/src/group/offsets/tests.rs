//! Offsets records: replay of a partition holding several groups, tombstones,
//! retention, and how long a replay of many commits takes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use super::*;
use crate::log::{CompactionTxns, Log, LogConfig, RealFs, SimFs};

fn value(offset: i64, commit_timestamp_ms: i64) -> OffsetValue {
    OffsetValue {
        offset,
        leader_epoch: -1,
        metadata: None,
        commit_timestamp_ms,
    }
}

fn commit(log: &mut Log, group: &str, topic: &str, partition: i32, v: Option<OffsetValue>) {
    let batch = commit_batch(group, &[((topic.into(), partition), v)], 0).unwrap();
    log.append(batch, None, 0).unwrap();
}

#[test]
fn one_replay_finds_every_group_with_tombstones_applied() {
    let fs = Arc::new(SimFs::new());
    let mut log = Log::open(&PathBuf::from("/sim/o"), LogConfig::default(), fs).unwrap();
    commit(&mut log, "a", "t", 0, Some(value(5, 1)));
    commit(&mut log, "b", "t", 0, Some(value(7, 1)));
    commit(&mut log, "a", "t", 0, Some(value(9, 2)));
    commit(&mut log, "a", "t", 1, Some(value(3, 2)));
    commit(&mut log, "b", "t", 0, None);
    commit(&mut log, "c", "u", 2, Some(value(1, 3)));
    let groups = load_partition(&log.reader(), None).unwrap();
    assert_eq!(groups.len(), 2, "b's only offset was deleted: {groups:?}");
    let a = &groups["a"].offsets;
    assert_eq!(a[&("t".to_string(), 0)].offset, 9, "the latest commit wins");
    assert_eq!(a[&("t".to_string(), 1)].offset, 3);
    assert_eq!(groups["c"].offsets[&("u".to_string(), 2)].offset, 1);
    assert_eq!(load_group(&log.reader(), "a").unwrap().offsets, *a);
    assert!(load_group(&log.reader(), "b").unwrap().is_empty());
}

#[test]
fn transactional_offsets_count_only_after_their_commit_marker() {
    use crate::partition::txns::{Marker, marker_batch};
    let fs = Arc::new(SimFs::new());
    let mut log = Log::open(&PathBuf::from("/sim/t"), LogConfig::default(), fs).unwrap();
    commit(&mut log, "g", "t", 0, Some(value(1, 1)));
    let txn = |offset| txn_commit_batch("g", &[(("t".into(), 0), value(offset, 2))], (7, 0), 2);
    // Producer 7 commits offset 5 in a transaction that aborts, then 9 in
    // one that commits; producer 8's offset 20 is still open at the end.
    log.append(txn(5).unwrap(), None, 0).unwrap();
    log.append(marker_batch(7, 0, Marker::Abort, 0, 3), None, 0)
        .unwrap();
    let loaded = load_group(&log.reader(), "g").unwrap();
    assert_eq!(
        loaded.offsets[&("t".to_string(), 0)].offset,
        1,
        "aborted: not counted"
    );
    assert!(loaded.pending.is_empty());
    log.append(txn(9).unwrap(), None, 0).unwrap();
    let open = load_group(&log.reader(), "g").unwrap();
    assert_eq!(
        open.offsets[&("t".to_string(), 0)].offset,
        1,
        "open: not yet counted"
    );
    assert_eq!(open.pending[&7][&("t".to_string(), 0)].offset, 9);
    log.append(marker_batch(7, 0, Marker::Commit, 0, 4), None, 0)
        .unwrap();
    let batch = txn_commit_batch("g", &[(("t".into(), 0), value(20, 5))], (8, 0), 5).unwrap();
    log.append(batch, None, 0).unwrap();
    let mut loaded = load_group(&log.reader(), "g").unwrap();
    assert_eq!(
        loaded.offsets[&("t".to_string(), 0)].offset,
        9,
        "committed: counted"
    );
    assert_eq!(loaded.pending.keys().collect::<Vec<_>>(), vec![&8]);
    // The coordinator settles what the replay left open when the marker comes.
    loaded.complete_txn(8, true);
    assert_eq!(loaded.offsets[&("t".to_string(), 0)].offset, 20);
    assert!(loaded.pending.is_empty());
}

#[test]
fn retention_counts_from_the_later_of_commit_and_empty() {
    let mut offsets = GroupOffsets::new();
    offsets.insert(("t".into(), 0), value(1, 1_000));
    offsets.insert(("t".into(), 1), value(1, 5_000));
    // Empty since 2 000, retention 10 000: the clock starts at 2 000 and 5 000.
    assert!(expired(&offsets, 2_000, 10_000, 11_999).is_empty());
    assert_eq!(expired(&offsets, 2_000, 10_000, 12_000), [("t".into(), 0)]);
    assert_eq!(expired(&offsets, 2_000, 10_000, 15_000).len(), 2);
    // A group that became empty later keeps everything longer.
    assert!(expired(&offsets, 9_000, 10_000, 15_000).is_empty());
}

/// Replays `WEIR_OFFSETS_LOAD_COMMITS` single-commit batches (100 000 by default;
/// the note's figure uses 1 000 000) from a real on-disk log and prints how long
/// it took. Checks what was loaded, not the time.
#[test]
fn replay_of_many_commits() {
    let commits: usize = std::env::var("WEIR_OFFSETS_LOAD_COMMITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 64 << 20,
        ..LogConfig::default()
    };
    let mut log = Log::open(dir.path(), config, Arc::new(RealFs)).unwrap();
    let (groups, partitions) = (100, 10);
    for i in 0..commits {
        let group = format!("group-{}", i % groups);
        let partition = ((i / groups) % partitions) as i32;
        commit(
            &mut log,
            &group,
            "events",
            partition,
            Some(value(i as i64, 0)),
        );
    }
    let records = log.reader().log_end_offset();
    let started = Instant::now();
    let loaded = load_partition(&log.reader(), None).unwrap();
    let elapsed = started.elapsed();
    println!(
        "offsets replay: {commits} commits ({records} records) in {:.3} s = {:.0} commits/s",
        elapsed.as_secs_f64(),
        commits as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(loaded.len(), groups.min(commits));
    let last = commits - 1;
    let group = &loaded[&format!("group-{}", last % groups)].offsets;
    let partition = ((last / groups) % partitions) as i32;
    assert_eq!(
        group[&("events".to_string(), partition)].offset,
        last as i64
    );
}

/// Compaction (the offsets topic is `cleanup.policy=compact`) keeps what a replay
/// loads while shrinking what it reads.
#[test]
fn compaction_keeps_every_groups_latest_offsets() {
    let config = LogConfig {
        segment_bytes: 8192,
        compact: true,
        ..LogConfig::default()
    };
    let mut log = Log::open(&PathBuf::from("/sim/oc"), config, Arc::new(SimFs::new())).unwrap();
    for i in 0..5_000i64 {
        let group = format!("g{}", i % 7);
        commit(&mut log, &group, "t", (i % 3) as i32, Some(value(i, 0)));
    }
    commit(&mut log, "g0", "t", 0, None);
    let end = log.reader().log_end_offset();
    log.mark_flushed(end).unwrap();
    let before = load_partition(&log.reader(), None).unwrap();
    let size_before = log.reader().size_bytes();
    let job = log.compaction_job(now(), CompactionTxns::none()).unwrap();
    let stats = log.finish_compaction(job.run().unwrap()).unwrap();
    assert!(stats.records_removed > 4_000, "{stats:?}");
    assert!(log.reader().size_bytes() < size_before / 4);
    assert_eq!(load_partition(&log.reader(), None).unwrap(), before);
}

fn now() -> i64 {
    crate::group::coordinator::now_ms()
}

/// Group metadata records sit beside offsets under their own keys: the latest
/// snapshot wins, a tombstone removes it, and a group with members but no
/// offsets is kept.
#[test]
fn group_metadata_records_replay_beside_offsets() {
    use crate::group::state::{GroupSnapshot, StoredMember};
    let fs = Arc::new(SimFs::new());
    let mut log = Log::open(&PathBuf::from("/sim/om"), LogConfig::default(), fs).unwrap();
    let snapshot = |generation_id: i32, members: usize| GroupSnapshot {
        protocol_type: Some("consumer".into()),
        generation_id,
        protocol_name: Some("range".into()),
        leader_id: Some("m0".into()),
        members: (0..members)
            .map(|i| StoredMember {
                member_id: format!("m{i}"),
                group_instance_id: None,
                client_id: "c".into(),
                client_host: String::new(),
                session_timeout_ms: 10_000,
                rebalance_timeout_ms: 10_000,
                protocols: vec![("range".into(), vec![1, 2])],
                assignment: vec![3],
            })
            .collect(),
    };
    let mut put = |group: &str, s: Option<GroupSnapshot>| {
        log.append(snapshot_batch(group, s.as_ref(), 0).unwrap(), None, 0)
            .unwrap();
    };
    put("a", Some(snapshot(1, 2)));
    put("a", Some(snapshot(2, 1)));
    put("b", Some(snapshot(1, 1)));
    put("b", None);
    commit(&mut log, "b", "t", 0, Some(value(4, 0)));
    let groups = load_partition(&log.reader(), None).unwrap();
    assert_eq!(groups["a"].snapshot, Some(snapshot(2, 1)));
    assert!(groups["a"].offsets.is_empty());
    assert_eq!(groups["b"].snapshot, None, "tombstoned");
    assert_eq!(groups["b"].offsets.len(), 1);
}
