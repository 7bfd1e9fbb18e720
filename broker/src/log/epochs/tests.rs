//! The epoch cache on its own: Kafka's assign, endOffsetFor, truncateFromEnd and
//! truncateFromStart, and the checkpoint text (round trip, torn and corrupt files).

use std::path::PathBuf;

use super::*;
use crate::log::SimFs;

fn cache(entries: &[(i32, i64)]) -> EpochCache {
    let mut cache = EpochCache::default();
    for &(epoch, start) in entries {
        assert!(cache.assign(epoch, start));
    }
    assert_eq!(cache.entries(), entries);
    cache
}

#[test]
fn assign_records_only_newer_epochs() {
    let mut cache = EpochCache::default();
    assert_eq!(cache.latest_epoch(), -1);
    assert!(!cache.assign(-1, 0), "a negative epoch is no epoch");
    assert!(cache.assign(0, 0));
    assert!(!cache.assign(0, 5), "the same epoch keeps its first offset");
    assert!(cache.assign(3, 10));
    assert!(!cache.assign(2, 20), "an older epoch is ignored");
    assert_eq!(cache.entries(), [(0, 0), (3, 10)]);
    assert_eq!(cache.latest_epoch(), 3);
    // An entry at the new start (Kafka: a log start moved to the end) is replaced.
    let mut at_end = cache.clone();
    assert!(at_end.truncate_from_start(30));
    assert_eq!(at_end.entries(), [(3, 30)]);
    assert!(at_end.assign(4, 30));
    assert_eq!(at_end.entries(), [(4, 30)]);
}

#[test]
fn end_offset_for_follows_kafka() {
    let cache = cache(&[(1, 10), (3, 50), (4, 80)]);
    let leo = 120;
    // The latest epoch ends at the log end.
    assert_eq!(cache.end_offset_for(4, leo), (4, 120));
    // A middle epoch ends where the next starts.
    assert_eq!(cache.end_offset_for(3, leo), (3, 80));
    assert_eq!(cache.end_offset_for(1, leo), (1, 50));
    // An epoch between two known ones: the one below, ending at the one above.
    assert_eq!(cache.end_offset_for(2, leo), (1, 50));
    // Below the earliest: itself, ending where the earliest starts.
    assert_eq!(cache.end_offset_for(0, leo), (0, 10));
    // Above the latest, and undefined.
    assert_eq!(cache.end_offset_for(5, leo), (-1, -1));
    assert_eq!(cache.end_offset_for(-1, leo), (-1, -1));
    assert_eq!(cache.end_offset_for(-7, leo), (-1, -1));
    // An empty cache knows nothing.
    assert_eq!(EpochCache::default().end_offset_for(0, leo), (-1, -1));
}

#[test]
fn truncate_from_end_drops_epochs_starting_at_or_after_the_cut() {
    let mut c = cache(&[(1, 10), (3, 50), (4, 80)]);
    assert!(!c.truncate_from_end(81));
    assert!(c.truncate_from_end(80));
    assert_eq!(c.entries(), [(1, 10), (3, 50)]);
    assert!(c.truncate_from_end(11));
    assert_eq!(c.entries(), [(1, 10)]);
    assert!(c.truncate_from_end(0));
    assert!(c.entries().is_empty());
}

#[test]
fn truncate_from_start_collapses_entries_below_the_start() {
    let mut c = cache(&[(1, 10), (3, 50), (4, 80)]);
    assert!(!c.truncate_from_start(5), "nothing below");
    assert!(!c.truncate_from_start(10), "already starts there");
    assert!(c.truncate_from_start(60));
    assert_eq!(c.entries(), [(3, 60), (4, 80)]);
    assert!(c.truncate_from_start(80));
    assert_eq!(c.entries(), [(4, 80)]);
    assert!(c.truncate_from_start(95));
    assert_eq!(c.entries(), [(4, 95)]);
    assert!(c.clear());
    assert!(!c.clear());
}

#[test]
fn fit_collapses_below_the_start_and_drops_from_the_end() {
    let mut c = cache(&[(1, 10), (3, 50), (4, 80)]);
    assert!(!c.fit(0, 100));
    assert!(c.fit(60, 100));
    assert_eq!(c.entries(), [(3, 60), (4, 80)]);
    assert!(c.fit(60, 70));
    assert_eq!(c.entries(), [(3, 60)]);
    // A log start moved to the end leaves nothing (whatever the order of events).
    let mut fresh = cache(&[(1, 10), (3, 50), (4, 80)]);
    assert!(c.fit(70, 70));
    assert!(fresh.fit(70, 70));
    assert!(c.entries().is_empty() && fresh.entries().is_empty());
}

#[test]
fn checkpoint_text_is_kafkas_and_round_trips() {
    let c = cache(&[(0, 0), (2, 150), (7, 4_000_000_000)]);
    assert_eq!(c.encode(), "0\n3\n0 0\n2 150\n7 4000000000\n");
    assert_eq!(EpochCache::decode(c.encode().as_bytes()), Some(c));
    assert_eq!(EpochCache::decode(b"0\n0\n"), Some(EpochCache::default()));
}

#[test]
fn torn_or_corrupt_checkpoints_read_as_missing() {
    let good = "0\n2\n1 10\n3 50\n";
    assert!(EpochCache::decode(good.as_bytes()).is_some());
    // Every strict prefix is torn (one cut inside the last number too).
    for cut in 0..good.len() {
        assert_eq!(
            EpochCache::decode(&good.as_bytes()[..cut]),
            None,
            "prefix of {cut} bytes"
        );
    }
    for bad in [
        "1\n2\n1 10\n3 50\n",        // unknown version
        "0\n3\n1 10\n3 50\n",        // fewer entries than counted
        "0\n1\n1 10\n3 50\n",        // more
        "0\n2\n3 10\n1 50\n",        // epochs not increasing
        "0\n2\n1 50\n3 10\n",        // offsets not increasing
        "0\n2\n1 10\n3 50 9\n",      // three fields
        "0\n2\n-1 10\n3 50\n",       // negative epoch
        "0\n2\n1 x\n3 50\n",         // not a number
        "0\n99999999\n1 10\n3 50\n", // beyond the bound
    ] {
        assert_eq!(EpochCache::decode(bad.as_bytes()), None, "{bad:?}");
    }
}

#[test]
fn the_file_is_replaced_atomically_and_read_back() {
    let fs = SimFs::new();
    let dir = PathBuf::from("/sim/epochs");
    assert_eq!(read(&fs, &dir), None);
    let c = cache(&[(0, 0), (5, 42)]);
    write(&fs, &dir, &c, true).unwrap();
    assert_eq!(read(&fs, &dir), Some(c.clone()));
    // Durable: a crash keeps it.
    fs.crash();
    assert_eq!(read(&fs, &dir), Some(c));
    let path = dir.join(LEADER_EPOCH_CHECKPOINT_FILE);
    fs.with_file_bytes(&path, |b| b.truncate(b.len() - 3));
    assert_eq!(read(&fs, &dir), None, "a torn file reads as missing");
}
