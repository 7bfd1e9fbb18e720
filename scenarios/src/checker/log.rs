//! Log invariants: what producers were told against what the final drain read.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::{Finding, Position};
use crate::history::{History, OpKind};

/// The final drain, indexed both ways. Sorted maps keep findings in a stable order.
pub(super) struct Drain {
    /// The distinct values read at each place (a reader that re-reads a record is not
    /// a log fault, so a repeated value at one place counts once).
    pub(super) values_at: BTreeMap<Position, BTreeSet<String>>,
    /// The places each value was read at.
    pub(super) places_of: BTreeMap<String, BTreeSet<Position>>,
    /// The highest offset read in each partition.
    pub(super) last_offset: BTreeMap<i32, i64>,
}

impl Drain {
    pub(super) fn from_history(history: &History) -> Self {
        let mut drain = Self {
            values_at: BTreeMap::new(),
            places_of: BTreeMap::new(),
            last_offset: BTreeMap::new(),
        };
        for op in &history.ops {
            if let OpKind::Drained {
                value,
                partition,
                offset,
            } = &op.kind
            {
                let at = Position::new(*partition, *offset);
                drain.values_at.entry(at).or_default().insert(value.clone());
                drain.places_of.entry(value.clone()).or_default().insert(at);
                let last = drain.last_offset.entry(*partition).or_insert(*offset);
                *last = (*last).max(*offset);
            }
        }
        drain
    }
}

/// Every log finding, acknowledged sends first in log order, then the drain's own.
pub(super) fn check(history: &History, drain: &Drain, idempotent: bool) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut failed = HashSet::new();
    for op in &history.ops {
        match &op.kind {
            OpKind::SendOk {
                value,
                partition,
                offset,
            } => findings.extend(check_ack(drain, value, Position::new(*partition, *offset))),
            OpKind::SendFail { value, .. } if failed.insert(value.as_str()) => {
                if let Some(places) = drain.places_of.get(value) {
                    findings.push(Finding::AbortedRead {
                        value: value.clone(),
                        at: places.iter().copied().collect(),
                    });
                }
            }
            _ => {}
        }
    }
    for (at, values) in &drain.values_at {
        if values.len() > 1 {
            findings.push(Finding::ConflictingValues {
                at: *at,
                values: values.iter().cloned().collect(),
            });
        }
    }
    if idempotent {
        findings.extend(check_producer_order(history));
        for (value, places) in &drain.places_of {
            if places.len() > 1 {
                findings.push(Finding::Duplicate {
                    value: value.clone(),
                    at: places.iter().copied().collect(),
                });
            }
        }
    }
    findings
}

/// An acknowledged value must be drained at the place it was acknowledged at.
fn check_ack(drain: &Drain, value: &str, acked: Position) -> Option<Finding> {
    let value_owned = value.to_owned();
    match drain.places_of.get(value) {
        Some(places) if places.contains(&acked) => None,
        Some(places) => Some(Finding::MisplacedAck {
            value: value_owned,
            acked,
            read: places.iter().copied().collect(),
        }),
        None => {
            // Reading the acknowledged offset (holding something else) or a later
            // one proves the log got past this record without keeping it.
            let passed = drain
                .last_offset
                .get(&acked.partition)
                .is_some_and(|last| *last >= acked.offset);
            Some(if passed {
                Finding::LostWrite {
                    value: value_owned,
                    at: acked,
                }
            } else {
                Finding::Unseen {
                    value: value_owned,
                    at: acked,
                }
            })
        }
    }
}

/// An acknowledged send: its place in its producer's invocation order, its value
/// and its offset.
type AckedSend<'a> = (usize, &'a str, i64);

/// An idempotent producer keeps each partition in the order it was asked to send:
/// per producer and partition, acknowledged offsets rise with the invocation order.
fn check_producer_order(history: &History) -> Vec<Finding> {
    // Invocation order of every value, per producer.
    let mut invoked: HashMap<&str, (u32, usize)> = HashMap::new();
    let mut counts: HashMap<u32, usize> = HashMap::new();
    // Per producer and partition: (invocation index, value, offset) of each ack.
    let mut acks: BTreeMap<(u32, i32), Vec<AckedSend<'_>>> = BTreeMap::new();
    for op in &history.ops {
        match &op.kind {
            OpKind::SendInvoke { value } => {
                let count = counts.entry(op.process).or_default();
                invoked.entry(value).or_insert((op.process, *count));
                *count += 1;
            }
            OpKind::SendOk {
                value,
                partition,
                offset,
            } => {
                if let Some(&(process, index)) = invoked.get(value.as_str()) {
                    acks.entry((process, *partition))
                        .or_default()
                        .push((index, value, *offset));
                }
            }
            _ => {}
        }
    }
    let mut findings = Vec::new();
    for ((process, partition), mut acked) in acks {
        acked.sort_unstable();
        for pair in acked.windows(2) {
            let ((_, earlier, earlier_offset), (_, later, offset)) = (pair[0], pair[1]);
            if offset <= earlier_offset {
                findings.push(Finding::Reordered {
                    process,
                    value: later.to_owned(),
                    at: Position::new(partition, offset),
                    earlier_value: earlier.to_owned(),
                    earlier_at: Position::new(partition, earlier_offset),
                });
            }
        }
    }
    findings
}
