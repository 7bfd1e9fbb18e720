//! Exactly-once pipeline invariants: what a consume-transform-produce pipeline's
//! transactions wrote and committed, against the input topic as drained, the
//! output as a read_committed reader reads it, and the group's final offsets.
//!
//! Each output value names the input record it came from
//! ([`output_id`]), so the checker maps the output back to the input without
//! trusting anything the pipeline's members said about it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::log::Drain;
use super::{Finding, Position};
use crate::history::{History, OpKind, TxnOutcome};

/// The id of the output written for the input record `input` read at
/// `partition`/`offset` in transaction `txn`: `<txn>/<partition>/<offset>/<input>`.
/// Transaction names hold no `/` (the scenario format refuses one in a
/// transactional id), so the id splits back unambiguously.
pub fn output_id(txn: &str, partition: i32, offset: i64, input: &str) -> String {
    format!("{txn}/{partition}/{offset}/{input}")
}

/// The transaction, input place and input id an [`output_id`] names.
pub fn parse_output_id(id: &str) -> Option<(&str, Position, &str)> {
    let mut parts = id.splitn(4, '/');
    let txn = parts.next()?;
    let partition = parts.next()?.parse().ok()?;
    let offset = parts.next()?.parse().ok()?;
    let input = parts.next()?;
    Some((txn, Position::new(partition, offset), input))
}

/// One transaction as its member logged it.
struct Txn<'a> {
    name: &'a str,
    outcome: TxnOutcome,
    outputs: Vec<&'a str>,
}

/// Every pipeline finding: per input record its loss or duplicate, then outputs
/// that name no input, outputs of aborted transactions, partly read
/// transactions, and committed offsets that are not the input's ends.
pub(super) fn check(history: &History) -> Vec<Finding> {
    let input = Drain::from_history(history);
    let mut ends: BTreeMap<i32, i64> = BTreeMap::new();
    let mut committed: BTreeMap<i32, i64> = BTreeMap::new();
    let mut txns: Vec<Txn<'_>> = Vec::new();
    let mut txn_of: HashMap<&str, usize> = HashMap::new();
    // Each output value read, with the distinct places it was read at (a
    // reader that re-reads one record is not a fault of the log).
    let mut read: BTreeMap<&str, BTreeSet<Position>> = BTreeMap::new();
    for op in &history.ops {
        match &op.kind {
            OpKind::EndOffset { partition, offset } => {
                let end = ends.entry(*partition).or_insert(*offset);
                *end = (*end).max(*offset);
            }
            OpKind::Committed {
                partition, offset, ..
            } => {
                // The last read of the group's offsets is its final position.
                committed.insert(*partition, *offset);
            }
            OpKind::Txn {
                txn,
                outcome,
                outputs,
                ..
            } => {
                for output in outputs {
                    txn_of.insert(output.value.as_str(), txns.len());
                }
                txns.push(Txn {
                    name: txn,
                    outcome: *outcome,
                    outputs: outputs.iter().map(|o| o.value.as_str()).collect(),
                });
            }
            OpKind::ReadCommitted {
                value,
                partition,
                offset,
            } => {
                read.entry(value)
                    .or_default()
                    .insert(Position::new(*partition, *offset));
            }
            _ => {}
        }
    }

    let mut findings = Vec::new();
    // Input place -> the outputs read that came from it.
    let mut came_from: BTreeMap<Position, Vec<(String, Position)>> = BTreeMap::new();
    let mut strays = Vec::new();
    for (&value, places) in &read {
        let at = *places.iter().next().expect("read at one place at least");
        let why = match parse_output_id(value) {
            None => Some("not an output id".to_owned()),
            Some((_, source, id)) => match input.values_at.get(&source) {
                None => Some(format!(
                    "names {source} of the input, which the input does not hold"
                )),
                Some(held) if !held.contains(id) => Some(format!(
                    "names {id:?} at {source} of the input, which holds {:?} there",
                    held.iter().collect::<Vec<_>>()
                )),
                Some(_) => {
                    let outputs = came_from.entry(source).or_default();
                    outputs.extend(places.iter().map(|place| (value.to_owned(), *place)));
                    None
                }
            },
        };
        if let Some(why) = why {
            strays.push(Finding::StrayOutput {
                value: value.to_owned(),
                at,
                why,
            });
        }
    }
    for (at, values) in &input.values_at {
        let input = values.iter().next().cloned().unwrap_or_default();
        match came_from.get(at).map(Vec::as_slice) {
            None | Some([]) => findings.push(Finding::OutputLost { input, at: *at }),
            Some([_]) => {}
            Some(outputs) => findings.push(Finding::OutputDuplicated {
                input,
                at: *at,
                outputs: outputs.to_vec(),
            }),
        }
    }
    findings.extend(strays);

    for (&value, places) in &read {
        if let Some(&index) = txn_of.get(value)
            && txns[index].outcome == TxnOutcome::Aborted
        {
            for at in places {
                findings.push(Finding::AbortedTxnRead {
                    value: value.to_owned(),
                    txn: txns[index].name.to_owned(),
                    at: *at,
                });
            }
        }
    }

    for txn in &txns {
        let (seen, missing): (Vec<&str>, Vec<&str>) = txn
            .outputs
            .iter()
            .partition(|value| read.contains_key(*value));
        let partial = match txn.outcome {
            TxnOutcome::Committed => !missing.is_empty(),
            TxnOutcome::Unknown => !seen.is_empty() && !missing.is_empty(),
            // Any read is already an aborted transaction read.
            TxnOutcome::Aborted => false,
        };
        if partial {
            findings.push(Finding::PartialTxn {
                txn: txn.name.to_owned(),
                outcome: txn.outcome,
                read: seen.len(),
                missing: missing.into_iter().map(str::to_owned).collect(),
            });
        }
    }

    // Where no drain logged an end, the input (written without transactions)
    // ends one past the last record drained.
    for (&partition, &last) in &input.last_offset {
        ends.entry(partition).or_insert(last + 1);
    }
    let partitions: BTreeSet<i32> = ends.keys().chain(committed.keys()).copied().collect();
    for partition in partitions {
        let end = ends.get(&partition).copied().unwrap_or(0);
        let at = committed.get(&partition).copied();
        let holds = match at {
            Some(offset) => offset == end,
            None => end == 0,
        };
        if !holds {
            findings.push(Finding::OffsetsNotAtEnd {
                partition,
                committed: at,
                end,
            });
        }
    }
    findings
}
