//! The checker: Jepsen's queue invariants over a [`History`]. *Log* invariants compare
//! what producers were told with what a fresh reader drained at the end; *delivery*
//! invariants compare what group members handed to the application with the offsets
//! the log holds and the group committed. Every violation becomes a typed [`Finding`]
//! naming the values, partitions and offsets involved.

mod delivery;
mod log;
mod pipeline;
mod report;

use std::fmt;

use crate::history::{History, TxnOutcome};

pub use pipeline::{output_id, parse_output_id};
pub use report::{Counts, Invariant, Report};

/// What the run promised, which decides the invariants that apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CheckConfig {
    /// The producers were idempotent, so no value may be in the log twice and each
    /// producer's records keep their order within a partition.
    pub idempotent: bool,
    /// The delivery mode group members ran in; `None` when no group consumed.
    pub delivery: Option<DeliveryMode>,
    /// Check only the delivery invariants (the log was checked on its own, and a
    /// group that reads part of it would repeat those findings).
    pub delivery_only: bool,
}

/// A consumer group's promise to the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryMode {
    /// Commit after processing: nothing below the committed offset is skipped, but a
    /// record may be handed over twice.
    AtLeastOnce,
    /// Commit before processing: no record is handed over twice, but some may be skipped.
    AtMostOnce,
}

/// A record's place in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// Partition index.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
}

impl Position {
    /// The place `offset` of `partition`.
    pub fn new(partition: i32, offset: i64) -> Self {
        Self { partition, offset }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{}@{}", self.partition, self.offset)
    }
}

/// One violation, with the records that show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Acknowledged at `at`, never drained, though the drain read `at`'s offset or a
    /// later one of the same partition: the log moved past it, so it is gone.
    LostWrite { value: String, at: Position },
    /// Acknowledged at `at` and never drained, with nothing drained at or after that
    /// offset: lost, or the drain stopped early.
    Unseen { value: String, at: Position },
    /// One value at several places in the log, where the producers were idempotent.
    Duplicate { value: String, at: Vec<Position> },
    /// An idempotent producer's record acknowledged at or before the offset of a
    /// record it was asked to send earlier, in the same partition.
    Reordered {
        process: u32,
        value: String,
        at: Position,
        earlier_value: String,
        earlier_at: Position,
    },
    /// Several values drained at one place.
    ConflictingValues { at: Position, values: Vec<String> },
    /// An acknowledged value drained only at places other than the acknowledged one.
    MisplacedAck {
        value: String,
        acked: Position,
        read: Vec<Position>,
    },
    /// A send that failed definitely, yet its value is in the log.
    AbortedRead { value: String, at: Vec<Position> },
    /// At-least-once: an offset the log holds, below the group's final committed
    /// offset `committed`, that no member handed over.
    NotDelivered {
        value: String,
        at: Position,
        committed: i64,
    },
    /// At-most-once: one place handed over more than once, by these members in order.
    DeliveredTwice {
        value: String,
        at: Position,
        processes: Vec<u32>,
    },
    /// Within one member's assignment, a partition's offset did not increase.
    NonMonotonicPoll {
        process: u32,
        generation: i32,
        value: String,
        at: Position,
        previous_offset: i64,
    },
    /// Exactly-once pipeline: an input record (`input`, at `at` in the input
    /// topic) that no output read with read_committed came from.
    OutputLost { input: String, at: Position },
    /// Exactly-once pipeline: an input record that several outputs read with
    /// read_committed came from (each output value with where it was read).
    OutputDuplicated {
        input: String,
        at: Position,
        outputs: Vec<(String, Position)>,
    },
    /// Exactly-once pipeline: an output of a transaction that never committed
    /// was read with read_committed.
    AbortedTxnRead {
        value: String,
        txn: String,
        at: Position,
    },
    /// Exactly-once pipeline: a committed transaction with outputs that
    /// read_committed did not read, or one of unknown outcome read in part.
    PartialTxn {
        txn: String,
        outcome: TxnOutcome,
        read: usize,
        missing: Vec<String>,
    },
    /// Exactly-once pipeline: an output read with read_committed that names no
    /// record of the input topic (or another value than the input holds there).
    StrayOutput {
        value: String,
        at: Position,
        why: String,
    },
    /// Exactly-once pipeline: the group's final committed offset of an input
    /// partition is not the partition's end.
    OffsetsNotAtEnd {
        partition: i32,
        committed: Option<i64>,
        end: i64,
    },
}

impl Finding {
    /// The invariant this finding violates.
    pub fn invariant(&self) -> Invariant {
        match self {
            Self::LostWrite { .. } => Invariant::LostWrite,
            Self::Unseen { .. } => Invariant::Unseen,
            Self::Duplicate { .. } => Invariant::Duplicate,
            Self::Reordered { .. } => Invariant::ProducerOrder,
            Self::ConflictingValues { .. } | Self::MisplacedAck { .. } => {
                Invariant::InconsistentOffsets
            }
            Self::AbortedRead { .. } => Invariant::AbortedRead,
            Self::NotDelivered { .. } => Invariant::AtLeastOnce,
            Self::DeliveredTwice { .. } => Invariant::AtMostOnce,
            Self::NonMonotonicPoll { .. } => Invariant::MonotonicPolls,
            Self::OutputLost { .. } => Invariant::OutputLoss,
            Self::OutputDuplicated { .. } => Invariant::OutputDuplicate,
            Self::AbortedTxnRead { .. } => Invariant::AbortedTxnRead,
            Self::PartialTxn { .. } => Invariant::TxnAtomicity,
            Self::StrayOutput { .. } => Invariant::OutputMapping,
            Self::OffsetsNotAtEnd { .. } => Invariant::CommittedOffsets,
        }
    }
}

/// Checks every invariant `config` promises over `history`.
pub fn check(history: &History, config: &CheckConfig) -> Report {
    let drain = log::Drain::from_history(history);
    let mut findings = Vec::new();
    let mut checked = Vec::new();
    if !config.delivery_only {
        findings = log::check(history, &drain, config.idempotent);
        checked.extend([
            Invariant::LostWrite,
            Invariant::Unseen,
            Invariant::InconsistentOffsets,
            Invariant::AbortedRead,
        ]);
        if config.idempotent {
            checked.extend([Invariant::Duplicate, Invariant::ProducerOrder]);
        }
    }
    if let Some(mode) = config.delivery {
        findings.extend(delivery::check(history, &drain, mode));
        checked.push(match mode {
            DeliveryMode::AtLeastOnce => Invariant::AtLeastOnce,
            DeliveryMode::AtMostOnce => Invariant::AtMostOnce,
        });
        checked.push(Invariant::MonotonicPolls);
    }
    checked.sort();
    Report {
        findings,
        counts: Counts::of(history),
        checked,
    }
}

/// Checks an exactly-once pipeline's history: the drain of its input topic
/// (`Drained`, `EndOffset`), its members' transactions (`Txn`), the
/// read_committed read of its output (`ReadCommitted`) and its group's final
/// committed offsets (`Committed`). Every input record must come out exactly
/// once, no output of an aborted transaction may be read, a transaction's
/// outputs are read all or none (all when it committed), every output names an
/// input record, and the group's committed offsets end at the input's ends.
pub fn check_pipeline(history: &History) -> Report {
    let mut checked = vec![
        Invariant::OutputLoss,
        Invariant::OutputDuplicate,
        Invariant::AbortedTxnRead,
        Invariant::TxnAtomicity,
        Invariant::OutputMapping,
        Invariant::CommittedOffsets,
    ];
    checked.sort();
    Report {
        findings: pipeline::check(history),
        counts: Counts::of(history),
        checked,
    }
}
