//! Transactions as one partition sees them (Kafka's `ProducerStateManager`
//! transaction half and its `TransactionIndex`): which producers have a
//! transaction open here and from which offset, which ended transactions are
//! not yet safe to show (their marker is above the high watermark), and the
//! aborted transactions that read_committed fetches must be told about.
//!
//! The last stable offset (LSO) is the lower of the high watermark and the
//! first offset of any transaction that is open or whose marker is not yet
//! replicated: read_committed consumers read up to it, never past it.
//!
//! Pure code. The partition actor feeds it every transactional batch and
//! marker it appends (as leader or follower); recovery and follower
//! truncation rebuild it by replaying the log's transactional batches, so
//! the index is as durable as the log it is derived from.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use parking_lot::RwLock;
use weir_client::protocol::batch_encoder::{put_varint, put_varint_bytes};
use weir_client::protocol::records::{CONTROL_MASK, RecordBatchView, TRANSACTIONAL_MASK};

use crate::limits::PRODUCERS_PER_PARTITION_MAX;

/// Aborted transactions remembered per partition (oldest dropped first; Kafka
/// keeps them per segment and drops them with the segment).
pub const ABORTED_TXNS_MAX: usize = 100_000;

/// What a control batch says (its record key's `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// The transaction aborted: its records are never to be read committed.
    Abort,
    /// The transaction committed.
    Commit,
}

impl Marker {
    fn code(self) -> i16 {
        match self {
            Self::Abort => 0,
            Self::Commit => 1,
        }
    }
}

/// One aborted transaction of this partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    /// Its producer.
    pub producer_id: i64,
    /// Offset of its first record here.
    pub first_offset: i64,
    /// Offset of its ABORT marker.
    pub last_offset: i64,
}

/// The aborted transactions of a partition, shared with fetches.
#[derive(Debug, Clone, Default)]
pub struct AbortedIndex(Arc<RwLock<VecDeque<AbortedTxn>>>);

impl AbortedIndex {
    /// Aborted transactions a read_committed fetch of `[from, to)` must list:
    /// those whose marker is at or after `from` and that began before `to`,
    /// as (producer id, first offset), in marker order.
    pub fn overlapping(&self, from: i64, to: i64) -> Vec<(i64, i64)> {
        let index = self.0.read();
        let start = index.partition_point(|t| t.last_offset < from);
        index
            .iter()
            .skip(start)
            .filter(|t| t.first_offset < to)
            .map(|t| (t.producer_id, t.first_offset))
            .collect()
    }

    /// Everything, oldest marker first (tests, DescribeProducers).
    pub fn all(&self) -> Vec<AbortedTxn> {
        self.0.read().iter().copied().collect()
    }

    fn push(&self, txn: AbortedTxn) {
        let mut index = self.0.write();
        if index.len() == ABORTED_TXNS_MAX {
            index.pop_front();
        }
        index.push_back(txn);
    }

    fn replace(&self, all: VecDeque<AbortedTxn>) {
        *self.0.write() = all;
    }

    fn forget_below(&self, log_start: i64) {
        let mut index = self.0.write();
        while index.front().is_some_and(|t| t.last_offset < log_start) {
            index.pop_front();
        }
    }
}

/// An open transaction of one producer on this partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenTxn {
    /// Offset of its first record here.
    pub first_offset: i64,
    /// The producer's epoch when it began.
    pub epoch: i16,
    /// When its first record was appended (ms).
    pub started_ms: i64,
}

/// How an append's transactional batches are checked against their
/// coordinator (KIP-890 part 1, Kafka's `transaction.partition.verification.enable`):
/// a batch that would open a transaction on this partition is appended only
/// once the coordinator confirmed the partition is in the producer's ongoing
/// transaction, so a late or stray batch cannot open a transaction nothing
/// will ever end (a hanging transaction holds the LSO back forever).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnCheck {
    /// Append without asking (verification off; tests of the partition alone).
    Off,
    /// Ask first: an opening batch is answered with a verification guard.
    Required,
    /// The coordinator confirmed the partition under this guard.
    Verified(u64),
}

/// Whether a transactional batch may be appended now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Append it.
    Append,
    /// Verify with the coordinator, then append again under this guard.
    Verify(u64),
}

/// Transactions of one partition.
#[derive(Debug, Default)]
pub struct TxnState {
    /// Open transactions by producer id.
    open: HashMap<i64, OpenTxn>,
    /// Verifications under way, by producer id: the guard a verified append
    /// must carry. A marker of the producer voids it (Kafka's
    /// `VerificationGuard`: a transaction ended between the coordinator's
    /// answer and the append must not be reopened by it).
    verifying: HashMap<i64, u64>,
    /// The last guard handed out.
    last_guard: u64,
    /// Ended transactions whose marker the high watermark has not passed:
    /// first offset → marker offset (several may share a first offset only
    /// across producers, so the value keeps the largest marker).
    unreplicated: BTreeMap<i64, i64>,
    /// Aborted transactions, in marker order.
    aborted: AbortedIndex,
}

impl TxnState {
    /// A state sharing `aborted` with readers.
    pub fn new(aborted: AbortedIndex) -> Self {
        Self {
            aborted,
            ..Self::default()
        }
    }

    /// The index fetches read.
    pub fn aborted(&self) -> &AbortedIndex {
        &self.aborted
    }

    /// Open transactions (DescribeProducers, tests).
    pub fn open(&self) -> &HashMap<i64, OpenTxn> {
        &self.open
    }

    /// KIP-890: may a transactional batch of `producer_id` be appended under
    /// `check`? A producer with a transaction open here needs no check.
    pub fn admit(&mut self, producer_id: i64, check: TxnCheck) -> Admission {
        if self.open.contains_key(&producer_id) {
            return Admission::Append;
        }
        let pending = self.verifying.get(&producer_id).copied();
        match (check, pending) {
            (TxnCheck::Off, _) => Admission::Append,
            (TxnCheck::Verified(guard), Some(current)) if guard == current => Admission::Append,
            // Concurrent requests of one producer share a verification.
            (_, Some(current)) => Admission::Verify(current),
            (_, None) => {
                if self.verifying.len() >= PRODUCERS_PER_PARTITION_MAX {
                    // Bounded: voided guards only cost their holders a retry.
                    self.verifying.clear();
                }
                self.last_guard += 1;
                self.verifying.insert(producer_id, self.last_guard);
                Admission::Verify(self.last_guard)
            }
        }
    }

    /// A transactional data batch of `producer_id` was appended at `base_offset`.
    pub fn on_data(&mut self, producer_id: i64, epoch: i16, base_offset: i64, now_ms: i64) {
        self.verifying.remove(&producer_id);
        self.open.entry(producer_id).or_insert(OpenTxn {
            first_offset: base_offset,
            epoch,
            started_ms: now_ms,
        });
    }

    /// A marker of `producer_id` was appended at `offset`. A marker with no
    /// open transaction here (a retried marker, or a partition added to a
    /// transaction that wrote nothing to it) ends nothing.
    pub fn on_marker(&mut self, producer_id: i64, marker: Marker, offset: i64) {
        self.verifying.remove(&producer_id);
        let Some(txn) = self.open.remove(&producer_id) else {
            return;
        };
        let end = self.unreplicated.entry(txn.first_offset).or_insert(offset);
        *end = (*end).max(offset);
        if marker == Marker::Abort {
            self.aborted.push(AbortedTxn {
                producer_id,
                first_offset: txn.first_offset,
                last_offset: offset,
            });
        }
    }

    /// The high watermark moved: ended transactions whose marker it passed
    /// no longer hold the LSO back.
    pub fn on_high_watermark(&mut self, high_watermark: i64) {
        self.unreplicated
            .retain(|_, marker| *marker >= high_watermark);
    }

    /// The last stable offset under `high_watermark`.
    pub fn last_stable_offset(&self, high_watermark: i64) -> i64 {
        let open = self.open.values().map(|t| t.first_offset).min();
        let ended = self.unreplicated.keys().next().copied();
        [Some(high_watermark), open, ended]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(high_watermark)
    }

    /// The earliest open transaction's first offset and start time, if any.
    pub fn oldest_open(&self) -> Option<(i64, OpenTxn)> {
        self.open
            .iter()
            .min_by_key(|(_, t)| t.first_offset)
            .map(|(pid, t)| (*pid, *t))
    }

    /// Retention or DeleteRecords moved the log start.
    pub fn on_log_start(&mut self, log_start: i64) {
        self.aborted.forget_below(log_start);
    }

    /// Starts over from a replay (recovery, follower truncation); markers
    /// below `replicated` are known to be below the high watermark.
    pub fn reset(&mut self, replicated: i64) -> TxnReplay<'_> {
        self.open.clear();
        self.unreplicated.clear();
        self.verifying.clear();
        TxnReplay {
            state: self,
            aborted: VecDeque::new(),
            replicated,
        }
    }
}

/// A replay of a log's transactional batches into a [`TxnState`].
pub struct TxnReplay<'a> {
    state: &'a mut TxnState,
    aborted: VecDeque<AbortedTxn>,
    replicated: i64,
}

impl TxnReplay<'_> {
    /// A transactional data batch read back.
    pub fn data(&mut self, producer_id: i64, epoch: i16, base_offset: i64, timestamp_ms: i64) {
        self.state
            .on_data(producer_id, epoch, base_offset, timestamp_ms);
    }

    /// A marker read back.
    pub fn marker(&mut self, producer_id: i64, marker: Marker, offset: i64) {
        let Some(txn) = self.state.open.remove(&producer_id) else {
            return;
        };
        if offset >= self.replicated {
            let end = self
                .state
                .unreplicated
                .entry(txn.first_offset)
                .or_insert(offset);
            *end = (*end).max(offset);
        }
        if marker == Marker::Abort {
            if self.aborted.len() == ABORTED_TXNS_MAX {
                self.aborted.pop_front();
            }
            self.aborted.push_back(AbortedTxn {
                producer_id,
                first_offset: txn.first_offset,
                last_offset: offset,
            });
        }
    }

    /// Ends the replay: the aborted index now holds what it found.
    pub fn finish(self) {
        self.state.aborted.replace(self.aborted);
    }
}

/// What a control batch holds: its marker, or `None` for a control batch
/// that is not a transaction marker (or not a control batch at all).
pub fn marker_of(view: &RecordBatchView) -> Option<Marker> {
    if !view.is_control() {
        return None;
    }
    let record = view.records()?.next()?.ok()?;
    let key = record.key?;
    if key.len() < 4 {
        return None;
    }
    match i16::from_be_bytes([key[2], key[3]]) {
        0 => Some(Marker::Abort),
        1 => Some(Marker::Commit),
        _ => None,
    }
}

/// A control batch holding one transaction marker, as Kafka's
/// `EndTransactionMarker` writes it (key: version 0, type; value: version 0,
/// coordinator epoch). Offsets are the log's to assign.
pub fn marker_batch(
    producer_id: i64,
    producer_epoch: i16,
    marker: Marker,
    coordinator_epoch: i32,
    timestamp_ms: i64,
) -> Bytes {
    let mut key = BytesMut::with_capacity(4);
    key.put_i16(0);
    key.put_i16(marker.code());
    let mut value = BytesMut::with_capacity(6);
    value.put_i16(0);
    value.put_i32(coordinator_epoch);
    let mut record = BytesMut::new();
    record.put_i8(0);
    put_varint(&mut record, 0);
    put_varint(&mut record, 0);
    put_varint_bytes(&mut record, Some(&key));
    put_varint_bytes(&mut record, Some(&value));
    put_varint(&mut record, 0);
    let mut body = BytesMut::new();
    put_varint(&mut body, record.len() as i64);
    body.put_slice(&record);
    let mut after_crc = BytesMut::with_capacity(49 + body.len());
    after_crc.put_i16(TRANSACTIONAL_MASK | CONTROL_MASK);
    after_crc.put_i32(0);
    after_crc.put_i64(timestamp_ms);
    after_crc.put_i64(timestamp_ms);
    after_crc.put_i64(producer_id);
    after_crc.put_i16(producer_epoch);
    after_crc.put_i32(-1);
    after_crc.put_i32(1);
    after_crc.put_slice(&body);
    let mut out = BytesMut::with_capacity(21 + after_crc.len());
    out.put_i64(0);
    out.put_i32((after_crc.len() + 9) as i32);
    out.put_i32(-1);
    out.put_i8(2);
    out.put_u32(crc32c::crc32c(&after_crc));
    out.put_slice(&after_crc);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_transactions_hold_the_lso_until_their_marker_is_replicated() {
        let mut s = TxnState::default();
        assert_eq!(s.last_stable_offset(10), 10);
        s.on_data(7, 0, 10, 0);
        s.on_data(7, 0, 12, 0);
        s.on_data(8, 0, 11, 0);
        assert_eq!(s.last_stable_offset(20), 10);
        s.on_marker(7, Marker::Commit, 20);
        // The marker is at 20; with the high watermark at 21 it is replicated.
        assert_eq!(s.last_stable_offset(20), 10);
        s.on_high_watermark(21);
        assert_eq!(s.last_stable_offset(21), 11, "producer 8 is still open");
        s.on_marker(8, Marker::Abort, 21);
        s.on_high_watermark(22);
        assert_eq!(s.last_stable_offset(22), 22);
        assert_eq!(
            s.aborted().all(),
            vec![AbortedTxn {
                producer_id: 8,
                first_offset: 11,
                last_offset: 21
            }]
        );
    }

    #[test]
    fn fetches_are_told_of_the_aborted_transactions_they_overlap() {
        let mut s = TxnState::default();
        for (pid, first, marker) in [(1, 0, 5), (2, 6, 9), (3, 10, 20)] {
            s.on_data(pid, 0, first, 0);
            s.on_marker(pid, Marker::Abort, marker);
        }
        let index = s.aborted();
        assert_eq!(index.overlapping(0, 100), vec![(1, 0), (2, 6), (3, 10)]);
        assert_eq!(index.overlapping(6, 8), vec![(2, 6)]);
        assert_eq!(index.overlapping(9, 11), vec![(2, 6), (3, 10)]);
        assert_eq!(index.overlapping(21, 30), vec![]);
        s.on_log_start(7);
        assert_eq!(s.aborted().overlapping(0, 100), vec![(2, 6), (3, 10)]);
    }

    #[test]
    fn markers_without_an_open_transaction_end_nothing() {
        let mut s = TxnState::default();
        s.on_marker(1, Marker::Abort, 3);
        assert!(s.aborted().all().is_empty());
        assert_eq!(s.last_stable_offset(4), 4);
    }

    #[test]
    fn an_opening_batch_is_appended_only_under_a_live_verification_guard() {
        let mut s = TxnState::default();
        assert_eq!(s.admit(1, TxnCheck::Off), Admission::Append);
        let Admission::Verify(guard) = s.admit(1, TxnCheck::Required) else {
            panic!("an opening batch must be verified");
        };
        // A second request of the producer shares the verification.
        assert_eq!(s.admit(1, TxnCheck::Required), Admission::Verify(guard));
        assert_eq!(
            s.admit(1, TxnCheck::Verified(guard + 7)),
            Admission::Verify(guard)
        );
        assert_eq!(s.admit(1, TxnCheck::Verified(guard)), Admission::Append);
        s.on_data(1, 0, 0, 0);
        // Inside its transaction a producer's batches need no check.
        assert_eq!(s.admit(1, TxnCheck::Required), Admission::Append);
        s.on_marker(1, Marker::Commit, 1);
        // A marker between the coordinator's answer and the append voids the guard.
        let Admission::Verify(guard) = s.admit(1, TxnCheck::Required) else {
            panic!("a new transaction must be verified");
        };
        s.on_marker(1, Marker::Abort, 2);
        assert_ne!(s.admit(1, TxnCheck::Verified(guard)), Admission::Append);
    }

    #[test]
    fn a_replay_rebuilds_the_same_state() {
        let mut s = TxnState::default();
        let mut replay = s.reset(0);
        replay.data(1, 0, 0, 0);
        replay.marker(1, Marker::Abort, 3);
        replay.data(2, 0, 4, 0);
        replay.finish();
        s.on_high_watermark(10);
        assert_eq!(s.last_stable_offset(10), 4);
        assert_eq!(s.aborted().overlapping(0, 10), vec![(1, 0)]);
    }

    #[test]
    fn marker_batches_parse_back_as_markers() {
        for marker in [Marker::Abort, Marker::Commit] {
            let bytes = marker_batch(42, 3, marker, 7, 1_000);
            let (view, len) = RecordBatchView::parse(&bytes).unwrap();
            assert_eq!(len, bytes.len());
            assert!(view.is_control() && view.is_transactional());
            assert_eq!((view.producer_id(), view.producer_epoch()), (42, 3));
            assert_eq!(view.record_count(), 1);
            assert_eq!(marker_of(&view), Some(marker));
        }
    }
}
