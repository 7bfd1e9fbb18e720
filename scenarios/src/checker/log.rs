//! Log invariants: what producers were told against what the final drain read.

use std::collections::{BTreeMap, BTreeSet, HashSet};

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
