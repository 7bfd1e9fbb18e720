//! Choosing the partition of a produced record.
//!
//! Keyed records hash exactly as Kafka's Java client does (murmur2 of the key
//! bytes), so a key lands on the same partition whichever client produced it;
//! compacted topics and per-key ordering depend on that.

use std::collections::HashMap;

use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Kafka's `Utils.murmur2`: 32-bit MurmurHash2 with seed `0x9747b28c`, bytes read
/// little-endian, and Java's `>>>` (a logical shift) in the mixing steps.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    // Java's `int length`: arrays are shorter than 2^31, so `as` loses nothing.
    let mut h = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    // Java's fall-through switch on `length % 4`.
    if tail.len() == 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Kafka's `Utils.toPositive`: clears the sign bit (not `abs`, which overflows
/// on `i32::MIN`).
pub const fn to_positive(n: i32) -> i32 {
    n & 0x7fff_ffff
}

/// The partition Kafka's Java producer picks for `key` among `partition_count`
/// partitions: `toPositive(murmur2(key)) % partition_count`. A count below 1 gives
/// 0 instead of dividing by zero.
pub fn partition_for_key(key: &[u8], partition_count: i32) -> i32 {
    if partition_count < 1 {
        return 0;
    }
    to_positive(murmur2(key)) % partition_count
}

/// Picks the partition of each record. Callers pass the topic's current
/// partition count (at least 1); implementations must never panic on a smaller
/// one, and return 0 for it.
pub trait Partitioner: Send + Sync {
    /// The partition for a record with `key` (`None` for a null key; an empty key
    /// is a key) in `topic`, which has `partition_count` partitions.
    fn partition(&self, topic: &str, key: Option<&[u8]>, partition_count: i32) -> i32;

    /// Called when the batch for `prev_partition` of `topic` filled up and a new
    /// one is starting, so sticky partitioners can move on.
    fn on_new_batch(&self, topic: &str, partition_count: i32, prev_partition: i32) {
        let _ = (topic, partition_count, prev_partition);
    }
}

/// Kafka's default partitioning: keyed records by [`partition_for_key`]; keyless
/// ones stick to one partition per topic until its batch is done, then move to a
/// random other partition (KIP-480), so keyless records fill batches instead of
/// spreading thin ones over every partition.
#[derive(Debug)]
pub struct DefaultPartitioner {
    state: Mutex<StickyState>,
}

#[derive(Debug)]
struct StickyState {
    /// The current sticky partition of each topic.
    sticky: HashMap<String, i32>,
    rng: SmallRng,
}

impl Default for DefaultPartitioner {
    fn default() -> Self {
        Self::new()
    }
}

impl DefaultPartitioner {
    /// A partitioner with randomly seeded sticky choices.
    pub fn new() -> Self {
        Self::with_rng(SmallRng::from_rng(&mut rand::rng()))
    }

    /// A partitioner whose sticky choices follow `seed` (for reproducible tests).
    pub fn with_seed(seed: u64) -> Self {
        Self::with_rng(SmallRng::seed_from_u64(seed))
    }

    fn with_rng(rng: SmallRng) -> Self {
        Self {
            state: Mutex::new(StickyState {
                sticky: HashMap::new(),
                rng,
            }),
        }
    }
}

impl Partitioner for DefaultPartitioner {
    fn partition(&self, topic: &str, key: Option<&[u8]>, partition_count: i32) -> i32 {
        if let Some(key) = key {
            return partition_for_key(key, partition_count);
        }
        if partition_count < 1 {
            return 0;
        }
        let mut state = self.state.lock();
        let state = &mut *state;
        match state.sticky.get(topic) {
            Some(&p) if p < partition_count => p,
            // New topic, or a sticky choice beyond the count (a stale count).
            _ => {
                let p = state.rng.random_range(0..partition_count);
                state.sticky.insert(topic.to_owned(), p);
                p
            }
        }
    }

    fn on_new_batch(&self, topic: &str, partition_count: i32, prev_partition: i32) {
        if partition_count < 1 {
            return;
        }
        let mut state = self.state.lock();
        let state = &mut *state;
        // As Java's StickyPartitionCache: only move if the sticky partition is
        // still the one whose batch completed (another send may have moved it).
        if let Some(&current) = state.sticky.get(topic)
            && current != prev_partition
            && current < partition_count
        {
            return;
        }
        let next = if partition_count == 1 {
            0
        } else if (0..partition_count).contains(&prev_partition) {
            // Uniform over the other partitions.
            let p = state.rng.random_range(0..partition_count - 1);
            if p >= prev_partition { p + 1 } else { p }
        } else {
            state.rng.random_range(0..partition_count)
        };
        state.sticky.insert(topic.to_owned(), next);
    }
}

/// Spreads records evenly: each topic cycles through its partitions one record at
/// a time, keys ignored (Kafka's `RoundRobinPartitioner`).
#[derive(Debug, Default)]
pub struct RoundRobinPartitioner {
    /// The next counter value of each topic (wrapping, as Java's AtomicInteger).
    counters: Mutex<HashMap<String, i32>>,
}

impl RoundRobinPartitioner {
    /// A partitioner starting every topic at partition 0.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Partitioner for RoundRobinPartitioner {
    fn partition(&self, topic: &str, _key: Option<&[u8]>, partition_count: i32) -> i32 {
        if partition_count < 1 {
            return 0;
        }
        let mut counters = self.counters.lock();
        let counter = match counters.get_mut(topic) {
            Some(counter) => counter,
            None => counters.entry(topic.to_owned()).or_insert(0),
        };
        let value = *counter;
        *counter = value.wrapping_add(1);
        to_positive(value) % partition_count
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::Arc;

    use super::*;

    /// Kafka's `UtilsTest.testMurmur2`.
    #[test]
    fn murmur2_matches_kafka_utils_test() {
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            (b"abc", 479470107),
        ];
        for (data, expected) in cases {
            assert_eq!(
                murmur2(data),
                expected,
                "{:?}",
                String::from_utf8_lossy(data)
            );
        }
    }

    #[test]
    fn to_positive_clears_the_sign_bit() {
        assert_eq!(to_positive(0), 0);
        assert_eq!(to_positive(5), 5);
        assert_eq!(to_positive(-1), i32::MAX);
        assert_eq!(to_positive(i32::MIN), 0);
        assert_eq!(to_positive(-973932308), 1173551340);
    }

    /// Partitions that Java's producer picks, `Utils.toPositive(Utils.murmur2(key))
    /// % n`, computed by an independent port of that Java code (which reproduces
    /// the UtilsTest vectors above). Covers every tail length and high bytes.
    #[test]
    fn keyed_partitions_match_java() {
        let table: [(&[u8], i32, [i32; 3]); 12] = [
            (b"", 275646681, [0, 3, 9]),
            (b"a", -1563381124, [1, 4, 4]),
            (b"key", -1079937367, [1, 1, 1]),
            (b"user-1", 1404122828, [2, 2, 8]),
            (b"user-2", -324981792, [2, 2, 8]),
            (b"user-42", 1459644460, [1, 4, 4]),
            (b"order:1001", -387652882, [1, 4, 10]),
            (b"\x00\xff\x80", -1788735621, [2, 5, 11]),
            (b"foobar", -790332482, [0, 0, 6]),
            (b"21", -973932308, [0, 0, 0]),
            (b"\xff\xff\xff\xff", 644171429, [2, 5, 5]),
            (b"kafka", -798503068, [1, 4, 4]),
        ];
        let p = DefaultPartitioner::with_seed(1);
        for (key, hash, expected) in table {
            assert_eq!(murmur2(key), hash, "{key:?}");
            for (n, want) in [3, 6, 12].into_iter().zip(expected) {
                assert_eq!(partition_for_key(key, n), want, "{key:?} n={n}");
                assert_eq!(p.partition("t", Some(key), n), want, "{key:?} n={n}");
            }
        }
    }

    #[test]
    fn keyed_partitioning_ignores_batches_and_topics() {
        let p = DefaultPartitioner::with_seed(7);
        let before = p.partition("a", Some(b"user-1"), 12);
        p.on_new_batch("a", 12, before);
        assert_eq!(p.partition("a", Some(b"user-1"), 12), before);
        assert_eq!(p.partition("b", Some(b"user-1"), 12), before);
    }

    #[test]
    fn keyless_records_stick_until_a_new_batch() {
        let p = DefaultPartitioner::with_seed(42);
        let first = p.partition("t", None, 6);
        assert!((0..6).contains(&first));
        for _ in 0..100 {
            assert_eq!(p.partition("t", None, 6), first);
        }
        // A keyed record in between does not move the sticky partition.
        p.partition("t", Some(b"k"), 6);
        assert_eq!(p.partition("t", None, 6), first);
        p.on_new_batch("t", 6, first);
        let second = p.partition("t", None, 6);
        assert_ne!(second, first);
        assert_eq!(p.partition("t", None, 6), second);
    }

    #[test]
    fn a_stale_new_batch_notice_does_not_move_the_partition() {
        let p = DefaultPartitioner::with_seed(3);
        let first = p.partition("t", None, 6);
        p.on_new_batch("t", 6, first);
        let second = p.partition("t", None, 6);
        // A second notice for the old partition (another sender raced us) is ignored.
        p.on_new_batch("t", 6, first);
        assert_eq!(p.partition("t", None, 6), second);
    }

    #[test]
    fn every_other_partition_is_reached_and_never_the_previous_one() {
        let p = DefaultPartitioner::with_seed(99);
        let mut seen = HashSet::new();
        let mut prev = p.partition("t", None, 5);
        for _ in 0..500 {
            p.on_new_batch("t", 5, prev);
            let next = p.partition("t", None, 5);
            assert_ne!(next, prev);
            assert!((0..5).contains(&next));
            seen.insert(next);
            prev = next;
        }
        assert_eq!(seen.len(), 5);
    }

    #[test]
    fn topics_stick_independently() {
        let p = DefaultPartitioner::with_seed(5);
        let a = p.partition("a", None, 100);
        let b = p.partition("b", None, 100);
        p.on_new_batch("a", 100, a);
        assert_ne!(p.partition("a", None, 100), a);
        assert_eq!(p.partition("b", None, 100), b);
    }

    #[test]
    fn single_partitions_growth_and_bad_counts() {
        let p = DefaultPartitioner::with_seed(11);
        assert_eq!(p.partition("t", None, 1), 0);
        p.on_new_batch("t", 1, 0);
        assert_eq!(p.partition("t", None, 1), 0);
        // The topic grew: still sticky (0 is valid), and moves within the new count.
        assert_eq!(p.partition("t", None, 4), 0);
        p.on_new_batch("t", 4, 0);
        let moved = p.partition("t", None, 4);
        assert!((1..4).contains(&moved));
        // A sticky partition beyond a (stale, smaller) count is re-chosen in range.
        let q = DefaultPartitioner::with_seed(0);
        let big = (0..50)
            .map(|i| q.partition(&format!("t{i}"), None, 1000))
            .max()
            .unwrap();
        assert!(big >= 2);
        for i in 0..50 {
            assert!((0..2).contains(&q.partition(&format!("t{i}"), None, 2)));
        }
        for count in [0, -3] {
            assert_eq!(p.partition("t", None, count), 0);
            assert_eq!(p.partition("t", Some(b"k"), count), 0);
            p.on_new_batch("t", count, 0);
            assert_eq!(RoundRobinPartitioner::new().partition("t", None, count), 0);
        }
    }

    #[test]
    fn unseeded_partitioner_works() {
        let p = DefaultPartitioner::new();
        let first = p.partition("t", None, 3);
        assert_eq!(p.partition("t", None, 3), first);
        assert_eq!(p.partition("t", Some(b"foobar"), 3), 0);
    }

    #[test]
    fn round_robin_cycles_per_topic_ignoring_keys() {
        let p = RoundRobinPartitioner::new();
        let a: Vec<i32> = (0..7).map(|_| p.partition("a", Some(b"same"), 3)).collect();
        assert_eq!(a, [0, 1, 2, 0, 1, 2, 0]);
        let b: Vec<i32> = (0..4).map(|_| p.partition("b", None, 4)).collect();
        assert_eq!(b, [0, 1, 2, 3]);
        // New batches do not skip partitions (the KAFKA-9965 double-count).
        p.on_new_batch("a", 3, 0);
        assert_eq!(p.partition("a", None, 3), 1);
    }

    #[test]
    fn round_robin_counter_wraps_like_java() {
        let p = RoundRobinPartitioner::new();
        p.counters.lock().insert("t".into(), i32::MAX);
        // i32::MAX % 3 = 1, then i32::MIN → toPositive 0.
        assert_eq!(p.partition("t", None, 3), 1);
        assert_eq!(p.partition("t", None, 3), 0);
        assert_eq!(p.partition("t", None, 3), 1);
    }

    #[test]
    fn partitioners_are_shareable_across_threads() {
        let p: Arc<dyn Partitioner> = Arc::new(RoundRobinPartitioner::new());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let p = Arc::clone(&p);
                std::thread::spawn(move || {
                    (0..300)
                        .map(|_| p.partition("t", None, 3))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut counts = [0; 3];
        for t in threads {
            for partition in t.join().unwrap() {
                counts[partition as usize] += 1;
            }
        }
        assert_eq!(counts, [400, 400, 400]);
    }
}
