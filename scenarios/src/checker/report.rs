//! The checker's verdict: the findings, the counts behind them, and a short text a
//! person reads at the end of a run.

use std::fmt;

use super::{Finding, Position};
use crate::history::{History, OpKind, TxnOutcome};

/// How many examples of one invariant's violations the text shows.
const EXAMPLES_MAX: usize = 5;

/// The invariants, in the order the report lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Invariant {
    /// No acknowledged record is missing where the log moved past it.
    LostWrite,
    /// Every acknowledged record was read by the drain.
    Unseen,
    /// No value is in the log twice (idempotent producers only).
    Duplicate,
    /// Each producer's records are in its send order within a partition
    /// (idempotent producers only).
    ProducerOrder,
    /// One value per place, and acknowledged values where they were acknowledged.
    InconsistentOffsets,
    /// No definitely failed send is in the log.
    AbortedRead,
    /// Nothing below the committed offsets was skipped.
    AtLeastOnce,
    /// Nothing was handed to the application twice.
    AtMostOnce,
    /// Offsets handed over within one assignment only increase.
    MonotonicPolls,
    /// Pipeline: every input record has an output read with read_committed.
    OutputLoss,
    /// Pipeline: no input record has two outputs read with read_committed.
    OutputDuplicate,
    /// Pipeline: no output of an aborted transaction is read with read_committed.
    AbortedTxnRead,
    /// Pipeline: a transaction's outputs are read all or none, all if it committed.
    TxnAtomicity,
    /// Pipeline: every output read names a record of the input topic.
    OutputMapping,
    /// Pipeline: the group's final committed offsets are the input's end offsets.
    CommittedOffsets,
}

impl Invariant {
    fn name(self) -> &'static str {
        match self {
            Self::LostWrite => "lost write",
            Self::Unseen => "unseen",
            Self::Duplicate => "duplicate",
            Self::ProducerOrder => "producer order",
            Self::InconsistentOffsets => "inconsistent offsets",
            Self::AbortedRead => "aborted read",
            Self::AtLeastOnce => "at-least-once",
            Self::AtMostOnce => "at-most-once",
            Self::MonotonicPolls => "monotonic polls",
            Self::OutputLoss => "output loss",
            Self::OutputDuplicate => "output duplicate",
            Self::AbortedTxnRead => "aborted transaction read",
            Self::TxnAtomicity => "transaction atomicity",
            Self::OutputMapping => "output mapping",
            Self::CommittedOffsets => "committed offsets",
        }
    }
}

/// How many events of each kind the history holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Sends acknowledged (`SendOk`).
    pub acked: usize,
    /// Sends that definitely failed (`SendFail`).
    pub failed: usize,
    /// Sends with an unknown outcome (`SendUnknown`).
    pub unknown: usize,
    /// Records read by the final drain.
    pub drained: usize,
    /// Records group members handed to the application.
    pub delivered: usize,
    /// Pipeline transactions that committed.
    pub txns_committed: usize,
    /// Pipeline transactions that were aborted (never asked to commit).
    pub txns_aborted: usize,
    /// Pipeline transactions whose commit was asked for but did not answer.
    pub txns_unknown: usize,
    /// Outputs of aborted transactions that were appended to the log
    /// (acknowledged before the abort): what read_committed must skip.
    pub aborted_outputs_appended: usize,
    /// Records a pipeline's final read_committed read of its output read.
    pub read_committed: usize,
}

impl Counts {
    pub(super) fn of(history: &History) -> Self {
        let mut counts = Self::default();
        for op in &history.ops {
            match &op.kind {
                OpKind::SendOk { .. } => counts.acked += 1,
                OpKind::SendFail { .. } => counts.failed += 1,
                OpKind::SendUnknown { .. } => counts.unknown += 1,
                OpKind::Drained { .. } => counts.drained += 1,
                OpKind::Delivered { .. } => counts.delivered += 1,
                OpKind::ReadCommitted { .. } => counts.read_committed += 1,
                OpKind::Txn {
                    outcome, outputs, ..
                } => match outcome {
                    TxnOutcome::Committed => counts.txns_committed += 1,
                    TxnOutcome::Unknown => counts.txns_unknown += 1,
                    TxnOutcome::Aborted => {
                        counts.txns_aborted += 1;
                        counts.aborted_outputs_appended +=
                            outputs.iter().filter(|o| o.offset >= 0).count();
                    }
                },
                OpKind::SendInvoke { .. }
                | OpKind::Committed { .. }
                | OpKind::Assigned { .. }
                | OpKind::EndOffset { .. } => {}
            }
        }
        counts
    }
}

/// The result of [`super::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Every violation found, grouped by nothing: see [`Finding::invariant`].
    pub findings: Vec<Finding>,
    /// The events the verdict rests on.
    pub counts: Counts,
    /// The invariants the run's promises made applicable, in listing order.
    pub checked: Vec<Invariant>,
}

impl Report {
    /// No invariant was violated.
    pub fn is_ok(&self) -> bool {
        self.findings.is_empty()
    }

    /// The findings that violate `invariant`.
    pub fn violations(&self, invariant: Invariant) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(move |finding| finding.invariant() == invariant)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counts;
        writeln!(
            f,
            "acked {}, failed {}, unknown {}, drained {}, delivered {}",
            c.acked, c.failed, c.unknown, c.drained, c.delivered
        )?;
        if c.txns_committed + c.txns_aborted + c.txns_unknown + c.read_committed > 0 {
            writeln!(
                f,
                "transactions committed {}, aborted {} ({} of their outputs appended), \
                 unknown {}; read_committed {}",
                c.txns_committed,
                c.txns_aborted,
                c.aborted_outputs_appended,
                c.txns_unknown,
                c.read_committed
            )?;
        }
        for &invariant in &self.checked {
            let violations: Vec<_> = self.violations(invariant).collect();
            if violations.is_empty() {
                writeln!(f, "{}: OK", invariant.name())?;
                continue;
            }
            let examples: Vec<String> = violations
                .iter()
                .take(EXAMPLES_MAX)
                .map(|finding| finding.to_string())
                .collect();
            writeln!(
                f,
                "{}: {} violations, e.g. {}",
                invariant.name(),
                violations.len(),
                examples.join("; ")
            )?;
        }
        Ok(())
    }
}

/// `p0@1, p1@4`
fn places(at: &[Position]) -> String {
    let places: Vec<String> = at.iter().map(Position::to_string).collect();
    places.join(", ")
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LostWrite { value, at } => write!(f, "{value:?} acked at {at}, never read"),
            Self::Unseen { value, at } => {
                write!(f, "{value:?} acked at {at}, nothing read from there on")
            }
            Self::Duplicate { value, at } => write!(f, "{value:?} at {}", places(at)),
            Self::Reordered {
                process,
                value,
                at,
                earlier_value,
                earlier_at,
            } => write!(
                f,
                "producer {process}: {value:?} acked at {at}, not after {earlier_value:?} sent before it at {earlier_at}"
            ),
            Self::ConflictingValues { at, values } => write!(f, "{at} holds {values:?}"),
            Self::MisplacedAck { value, acked, read } => {
                write!(f, "{value:?} acked at {acked}, read at {}", places(read))
            }
            Self::AbortedRead { value, at } => {
                write!(f, "{value:?} failed, read at {}", places(at))
            }
            Self::NotDelivered {
                value,
                at,
                committed,
            } => write!(
                f,
                "{value:?} at {at} never delivered, committed {committed}"
            ),
            Self::DeliveredTwice {
                value,
                at,
                processes,
            } => write!(f, "{value:?} at {at} delivered to {processes:?}"),
            Self::NonMonotonicPoll {
                process,
                generation,
                value,
                at,
                previous_offset,
            } => write!(
                f,
                "{value:?} at {at} after offset {previous_offset}, member {process} generation {generation}"
            ),
            Self::OutputLost { input, at } => {
                write!(f, "input {input:?} at {at} has no output")
            }
            Self::OutputDuplicated { input, at, outputs } => {
                let read: Vec<String> = outputs
                    .iter()
                    .map(|(value, place)| format!("{value:?} at {place}"))
                    .collect();
                write!(
                    f,
                    "input {input:?} at {at} came out {} times: {}",
                    outputs.len(),
                    read.join(", ")
                )
            }
            Self::AbortedTxnRead { value, txn, at } => {
                write!(f, "{value:?} of aborted transaction {txn} read at {at}")
            }
            Self::PartialTxn {
                txn,
                outcome,
                read,
                missing,
            } => write!(
                f,
                "{} transaction {txn}: {read} of {} outputs read, missing e.g. {:?}",
                outcome.name(),
                read + missing.len(),
                missing.first().map(String::as_str).unwrap_or_default()
            ),
            Self::StrayOutput { value, at, why } => write!(f, "{value:?} at {at}: {why}"),
            Self::OffsetsNotAtEnd {
                partition,
                committed,
                end,
            } => match committed {
                Some(committed) => write!(
                    f,
                    "partition {partition}: committed {committed}, the input ends at {end}"
                ),
                None => write!(
                    f,
                    "partition {partition}: nothing committed, the input ends at {end}"
                ),
            },
        }
    }
}
