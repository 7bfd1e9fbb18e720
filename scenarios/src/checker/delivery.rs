//! Delivery invariants: what group members handed to the application against the log
//! (as drained) and the group's commits.

use std::collections::{BTreeMap, HashMap};

use super::log::Drain;
use super::{DeliveryMode, Finding, Position};
use crate::history::{History, OpKind};

/// Every delivery finding for a group that ran in `mode`: the mode's own invariant,
/// then monotonic polls, which both modes promise.
pub(super) fn check(history: &History, drain: &Drain, mode: DeliveryMode) -> Vec<Finding> {
    let deliveries = deliveries(history);
    let mut findings = match mode {
        DeliveryMode::AtLeastOnce => check_at_least_once(history, drain, &deliveries),
        DeliveryMode::AtMostOnce => check_at_most_once(&deliveries),
    };
    findings.extend(check_monotonic(history));
    findings
}

/// Who was handed each place, in log order, with the value they were handed.
type Deliveries = BTreeMap<Position, (String, Vec<u32>)>;

fn deliveries(history: &History) -> Deliveries {
    let mut deliveries = Deliveries::new();
    for op in &history.ops {
        if let OpKind::Delivered {
            value,
            partition,
            offset,
            ..
        } = &op.kind
        {
            let at = Position::new(*partition, *offset);
            let entry = deliveries
                .entry(at)
                .or_insert_with(|| (value.clone(), Vec::new()));
            entry.1.push(op.process);
        }
    }
    deliveries
}

/// Every offset the log holds below a partition's final committed offset was handed
/// to some member. Offsets missing from the drain (compaction, transaction markers)
/// do not exist for the application, so gaps are not counted.
fn check_at_least_once(history: &History, drain: &Drain, deliveries: &Deliveries) -> Vec<Finding> {
    let mut committed = BTreeMap::new();
    for op in &history.ops {
        if let OpKind::Committed {
            partition, offset, ..
        } = op.kind
        {
            // The last successful commit is the group's final position.
            committed.insert(partition, offset);
        }
    }
    let mut findings = Vec::new();
    for (&partition, &committed) in &committed {
        let below = Position::new(partition, i64::MIN)..Position::new(partition, committed);
        for (at, values) in drain.values_at.range(below) {
            if !deliveries.contains_key(at) {
                findings.push(Finding::NotDelivered {
                    value: values.iter().next().cloned().unwrap_or_default(),
                    at: *at,
                    committed,
                });
            }
        }
    }
    findings
}

/// No place was handed over twice, by the same member or by different ones.
fn check_at_most_once(deliveries: &Deliveries) -> Vec<Finding> {
    deliveries
        .iter()
        .filter(|(_, (_, processes))| processes.len() > 1)
        .map(|(at, (value, processes))| Finding::DeliveredTwice {
            value: value.clone(),
            at: *at,
            processes: processes.clone(),
        })
        .collect()
}

/// Within one assignment of one member (it starts at `Assigned` or when the member's
/// generation changes), each partition's delivered offsets strictly increase.
fn check_monotonic(history: &History) -> Vec<Finding> {
    // Per member: the current generation and the last offset delivered per partition.
    let mut current: HashMap<u32, (i32, HashMap<i32, i64>)> = HashMap::new();
    let mut findings = Vec::new();
    for op in &history.ops {
        match &op.kind {
            OpKind::Assigned { generation, .. } => {
                current.insert(op.process, (*generation, HashMap::new()));
            }
            OpKind::Delivered {
                value,
                partition,
                offset,
                generation,
            } => {
                let assignment = current
                    .entry(op.process)
                    .or_insert_with(|| (*generation, HashMap::new()));
                if assignment.0 != *generation {
                    *assignment = (*generation, HashMap::new());
                }
                if let Some(previous) = assignment.1.insert(*partition, *offset)
                    && previous >= *offset
                {
                    findings.push(Finding::NonMonotonicPoll {
                        process: op.process,
                        generation: *generation,
                        value: value.clone(),
                        at: Position::new(*partition, *offset),
                        previous_offset: previous,
                    });
                }
            }
            _ => {}
        }
    }
    findings
}
