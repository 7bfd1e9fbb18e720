//! Idempotent producer state of one partition: per producer id, its epoch and
//! the last few batches it appended, so that a retried batch is answered with
//! its original offsets instead of being written twice (Kafka's
//! `ProducerStateManager`; its transaction half is `txns.rs`).
//!
//! The rules follow Kafka's `ProducerAppendInfo.checkSequence`:
//! - an older epoch than the one seen is fenced (INVALID_PRODUCER_EPOCH);
//! - a batch equal to one of the last [`PRODUCER_BATCHES_REMEMBERED`] is a
//!   duplicate: answered with the offsets it got then;
//! - a new epoch must start at sequence 0;
//! - otherwise the first sequence must follow the last one (wrapping at
//!   `i32::MAX`), else OUT_OF_ORDER_SEQUENCE_NUMBER;
//! - a producer with no state (new, or forgotten after expiry or retention)
//!   may start at any sequence.
//!
//! Pure code: the partition actor consults it before an append and records the
//! append after; recovery rebuilds it from the batch headers of the log.

use std::collections::{HashMap, VecDeque};

use crate::limits::{PRODUCER_BATCHES_REMEMBERED, PRODUCERS_PER_PARTITION_MAX};

/// The producer fields of one batch header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerBatch {
    /// Producer id (`-1`: not idempotent).
    pub producer_id: i64,
    /// Producer epoch.
    pub epoch: i16,
    /// Sequence of the first record.
    pub first_seq: i32,
    /// Records in the batch minus one (`lastOffsetDelta`).
    pub last_offset_delta: i32,
}

impl ProducerBatch {
    /// Whether the batch carries producer state to check.
    pub fn is_idempotent(&self) -> bool {
        self.producer_id >= 0 && self.first_seq >= 0
    }

    /// Sequence of the last record (sequences wrap at `i32::MAX` to 0).
    pub fn last_seq(&self) -> i32 {
        let last = i64::from(self.first_seq) + i64::from(self.last_offset_delta);
        (last % (i64::from(i32::MAX) + 1)) as i32
    }
}

/// One remembered append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AppendedBatch {
    first_seq: i32,
    last_seq: i32,
    base_offset: i64,
    last_offset: i64,
}

/// What one producer id last did here.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ProducerEntry {
    epoch: i16,
    /// Oldest first, at most `PRODUCER_BATCHES_REMEMBERED`.
    batches: VecDeque<AppendedBatch>,
    /// Largest batch timestamp seen (for expiry), ms.
    last_timestamp_ms: i64,
}

/// The verdict on a batch before it is appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Append it.
    Append,
    /// Already appended at these offsets: answer them, write nothing.
    Duplicate {
        /// Offset of its first record.
        base_offset: i64,
        /// Offset of its last record.
        last_offset: i64,
    },
    /// An older epoch than the producer's current one.
    Fenced(String),
    /// Not the next sequence.
    OutOfOrder(String),
}

/// The producer state of a partition.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProducerStates {
    producers: HashMap<i64, ProducerEntry>,
}

impl ProducerStates {
    /// Producers remembered.
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    /// Whether no producer is remembered.
    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// Decides what to do with `batch` (which must be idempotent).
    pub fn check(&self, batch: &ProducerBatch) -> SequenceCheck {
        let Some(entry) = self.producers.get(&batch.producer_id) else {
            return SequenceCheck::Append;
        };
        let pid = batch.producer_id;
        if batch.epoch < entry.epoch {
            return SequenceCheck::Fenced(format!(
                "producer {pid} epoch {} is older than the current epoch {}",
                batch.epoch, entry.epoch
            ));
        }
        if batch.epoch == entry.epoch {
            let last_seq = batch.last_seq();
            if let Some(dup) = entry
                .batches
                .iter()
                .find(|b| b.first_seq == batch.first_seq && b.last_seq == last_seq)
            {
                return SequenceCheck::Duplicate {
                    base_offset: dup.base_offset,
                    last_offset: dup.last_offset,
                };
            }
            let Some(last) = entry.batches.back() else {
                return SequenceCheck::Append;
            };
            if !in_sequence(last.last_seq, batch.first_seq) {
                return SequenceCheck::OutOfOrder(format!(
                    "producer {pid} epoch {}: sequence {} does not follow {}",
                    batch.epoch, batch.first_seq, last.last_seq
                ));
            }
            return SequenceCheck::Append;
        }
        if batch.first_seq != 0 {
            return SequenceCheck::OutOfOrder(format!(
                "producer {pid}: new epoch {} must start at sequence 0, not {}",
                batch.epoch, batch.first_seq
            ));
        }
        SequenceCheck::Append
    }

    /// Records that `batch` was appended at `base_offset` (an idempotent batch
    /// that passed [`check`](Self::check), or one read back from the log).
    pub fn record(&mut self, batch: &ProducerBatch, base_offset: i64, max_timestamp_ms: i64) {
        if !self.producers.contains_key(&batch.producer_id)
            && self.producers.len() >= PRODUCERS_PER_PARTITION_MAX
        {
            self.evict_oldest();
        }
        let entry = self
            .producers
            .entry(batch.producer_id)
            .or_insert_with(|| ProducerEntry {
                epoch: batch.epoch,
                batches: VecDeque::with_capacity(PRODUCER_BATCHES_REMEMBERED),
                last_timestamp_ms: max_timestamp_ms,
            });
        if batch.epoch != entry.epoch {
            entry.epoch = batch.epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == PRODUCER_BATCHES_REMEMBERED {
            entry.batches.pop_front();
        }
        entry.batches.push_back(AppendedBatch {
            first_seq: batch.first_seq,
            last_seq: batch.last_seq(),
            base_offset,
            last_offset: base_offset + i64::from(batch.last_offset_delta),
        });
        entry.last_timestamp_ms = entry.last_timestamp_ms.max(max_timestamp_ms);
    }

    /// Every remembered producer: (id, epoch, last sequence or -1, last
    /// timestamp), by id.
    pub fn describe(&self) -> Vec<(i64, i16, i32, i64)> {
        let mut all: Vec<_> = self
            .producers
            .iter()
            .map(|(&id, e)| {
                let last_seq = e.batches.back().map_or(-1, |b| b.last_seq);
                (id, e.epoch, last_seq, e.last_timestamp_ms)
            })
            .collect();
        all.sort_unstable();
        all
    }

    /// The epoch last seen of `producer_id`, if it is remembered.
    pub fn epoch_of(&self, producer_id: i64) -> Option<i16> {
        self.producers.get(&producer_id).map(|e| e.epoch)
    }

    /// A transaction marker of `producer_id` under `epoch` was written: an
    /// epoch newer than the producer's fences the older one (the coordinator
    /// bumped it to abort a zombie's transaction) and restarts its sequences.
    pub fn on_marker(&mut self, producer_id: i64, epoch: i16, timestamp_ms: i64) {
        let entry = self
            .producers
            .entry(producer_id)
            .or_insert_with(|| ProducerEntry {
                epoch,
                batches: VecDeque::new(),
                last_timestamp_ms: timestamp_ms,
            });
        if epoch > entry.epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
        entry.last_timestamp_ms = entry.last_timestamp_ms.max(timestamp_ms);
    }

    /// Forgets producers that appended nothing for `max_age_ms` (Kafka's
    /// `producer.id.expiration.ms`); returns how many.
    pub fn expire(&mut self, now_ms: i64, max_age_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers
            .retain(|_, e| now_ms.saturating_sub(e.last_timestamp_ms) < max_age_ms);
        before - self.producers.len()
    }

    /// Drops the tenth of producers that appended least recently.
    fn evict_oldest(&mut self) {
        let mut stamps: Vec<i64> = self
            .producers
            .values()
            .map(|e| e.last_timestamp_ms)
            .collect();
        let cut = stamps.len() / 10;
        let (_, &mut threshold, _) = stamps.select_nth_unstable(cut);
        self.producers
            .retain(|_, e| e.last_timestamp_ms > threshold);
    }
}

/// Whether `next` is the sequence after `last`.
fn in_sequence(last: i32, next: i32) -> bool {
    next == last.wrapping_add(1) || (last == i32::MAX && next == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(pid: i64, epoch: i16, first_seq: i32, count: i32) -> ProducerBatch {
        ProducerBatch {
            producer_id: pid,
            epoch,
            first_seq,
            last_offset_delta: count - 1,
        }
    }

    #[test]
    fn sequences_follow_and_retries_are_duplicates() {
        let mut s = ProducerStates::default();
        let first = batch(7, 0, 0, 3);
        assert_eq!(s.check(&first), SequenceCheck::Append);
        s.record(&first, 100, 1);
        let second = batch(7, 0, 3, 2);
        assert_eq!(s.check(&second), SequenceCheck::Append);
        s.record(&second, 103, 2);
        assert_eq!(
            s.check(&first),
            SequenceCheck::Duplicate {
                base_offset: 100,
                last_offset: 102
            }
        );
        assert_eq!(
            s.check(&second),
            SequenceCheck::Duplicate {
                base_offset: 103,
                last_offset: 104
            }
        );
        // A gap, and an overlap that is not an exact earlier batch.
        assert!(matches!(
            s.check(&batch(7, 0, 6, 1)),
            SequenceCheck::OutOfOrder(_)
        ));
        assert!(matches!(
            s.check(&batch(7, 0, 4, 1)),
            SequenceCheck::OutOfOrder(_)
        ));
        assert_eq!(s.check(&batch(7, 0, 5, 1)), SequenceCheck::Append);
    }

    #[test]
    fn only_the_last_five_batches_are_remembered() {
        let mut s = ProducerStates::default();
        for i in 0..6 {
            s.record(&batch(1, 0, i, 1), i64::from(i), 0);
        }
        assert!(matches!(
            s.check(&batch(1, 0, 0, 1)),
            SequenceCheck::OutOfOrder(_)
        ));
        assert!(matches!(
            s.check(&batch(1, 0, 1, 1)),
            SequenceCheck::Duplicate { base_offset: 1, .. }
        ));
    }

    #[test]
    fn epochs_fence_and_a_new_epoch_starts_at_zero() {
        let mut s = ProducerStates::default();
        s.record(&batch(1, 2, 0, 5), 0, 0);
        assert!(matches!(
            s.check(&batch(1, 1, 5, 1)),
            SequenceCheck::Fenced(_)
        ));
        assert!(matches!(
            s.check(&batch(1, 3, 5, 1)),
            SequenceCheck::OutOfOrder(_)
        ));
        let bumped = batch(1, 3, 0, 1);
        assert_eq!(s.check(&bumped), SequenceCheck::Append);
        s.record(&bumped, 5, 0);
        // The old epoch's batches are gone: its retry is fenced, not a duplicate.
        assert!(matches!(
            s.check(&batch(1, 2, 0, 5)),
            SequenceCheck::Fenced(_)
        ));
    }

    #[test]
    fn unknown_producers_start_anywhere_and_sequences_wrap() {
        let mut s = ProducerStates::default();
        assert_eq!(batch(9, 0, i32::MAX, 2).last_seq(), 0);
        let late = batch(9, 0, i32::MAX - 1, 1);
        assert_eq!(s.check(&late), SequenceCheck::Append);
        s.record(&late, 0, 0);
        assert_eq!(s.check(&batch(9, 0, i32::MAX, 1)), SequenceCheck::Append);
        s.record(&batch(9, 0, i32::MAX, 1), 1, 0);
        assert_eq!(s.check(&batch(9, 0, 0, 1)), SequenceCheck::Append);
    }

    #[test]
    fn idle_producers_expire_and_the_table_is_bounded() {
        let mut s = ProducerStates::default();
        s.record(&batch(1, 0, 0, 1), 0, 1_000);
        s.record(&batch(2, 0, 0, 1), 1, 5_000);
        assert_eq!(s.expire(6_000, 2_000), 1);
        assert_eq!(s.check(&batch(1, 0, 7, 1)), SequenceCheck::Append);
        assert!(matches!(
            s.check(&batch(2, 0, 7, 1)),
            SequenceCheck::OutOfOrder(_)
        ));

        let mut s = ProducerStates::default();
        for pid in 0..PRODUCERS_PER_PARTITION_MAX as i64 + 1 {
            s.record(&batch(pid, 0, 0, 1), pid, pid);
        }
        assert!(s.len() <= PRODUCERS_PER_PARTITION_MAX);
        assert!(s.len() >= PRODUCERS_PER_PARTITION_MAX * 8 / 10);
        assert!(!s.producers.contains_key(&0), "the oldest went first");
    }
}
