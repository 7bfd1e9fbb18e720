//! The end-of-run verdicts: the run's one history is split into what the checker
//! judges on its own — each topic's log (its producers and its drain), and each
//! group's deliveries (its members and committed offsets, against the records its
//! header filter lets through) — and each part is saved beside the whole, so it can
//! be checked again with `weir-scenarios check`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use anyhow::Context;

use super::{Group, PipelineRun, Role};
use crate::backend::{headers_of, parse_filter, parse_value_id};
use crate::checker::{CheckConfig, Report, check, check_pipeline};
use crate::history::{History, Op, OpKind};

/// How many header-filter violations the text shows.
const EXAMPLES_MAX: usize = 5;

/// One verdict.
#[derive(Debug)]
pub struct CheckOutcome {
    /// What was checked: `topic orders`, `group readers (at-least-once)`.
    pub label: String,
    /// The checker's report.
    pub report: Report,
    /// Records a member handed to the application though its header filter should
    /// have skipped them.
    pub filter_leaks: Vec<String>,
}

impl CheckOutcome {
    /// No violation.
    pub fn passed(&self) -> bool {
        self.report.is_ok() && self.filter_leaks.is_empty()
    }
}

impl fmt::Display for CheckOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}:", self.label)?;
        for line in self.report.to_string().lines() {
            writeln!(f, "  {line}")?;
        }
        if !self.filter_leaks.is_empty() {
            let examples: Vec<&str> = self
                .filter_leaks
                .iter()
                .take(EXAMPLES_MAX)
                .map(String::as_str)
                .collect();
            writeln!(
                f,
                "  header filter: {} violations, e.g. {}",
                self.filter_leaks.len(),
                examples.join("; ")
            )?;
        }
        Ok(())
    }
}

/// The value's event, if it names one.
fn value_of(kind: &OpKind) -> Option<&str> {
    match kind {
        OpKind::SendInvoke { value }
        | OpKind::SendOk { value, .. }
        | OpKind::SendFail { value, .. }
        | OpKind::SendUnknown { value, .. }
        | OpKind::Delivered { value, .. }
        | OpKind::Drained { value, .. }
        | OpKind::ReadCommitted { value, .. } => Some(value),
        OpKind::Committed { .. }
        | OpKind::Assigned { .. }
        | OpKind::EndOffset { .. }
        | OpKind::Txn { .. } => None,
    }
}

/// Whether the record `value` (an id from [`crate::backend::value_id`]) carried
/// the header.
fn carries(roles: &BTreeMap<u32, Role>, value: &str, (key, want): &(String, String)) -> bool {
    let Some((process, seq)) = parse_value_id(value) else {
        return false;
    };
    match roles.get(&process) {
        Some(Role::Producer(spec)) => headers_of(spec, seq)
            .iter()
            .any(|(k, v)| k == key && v == want),
        _ => false,
    }
}

fn sub_history(history: &History, keep: impl Fn(&Op) -> bool) -> History {
    History {
        ops: history.ops.iter().filter(|op| keep(op)).cloned().collect(),
    }
}

fn save(history: &History, dir: &Path, name: &str) -> anyhow::Result<()> {
    let path = dir.join(format!("{name}.jsonl"));
    let file =
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    history.write_jsonl(std::io::BufWriter::new(file))?;
    Ok(())
}

/// Checks every topic's log, every group's deliveries and every pipeline's
/// exactly-once promise.
pub(super) fn run(
    history: &History,
    roles: &BTreeMap<u32, Role>,
    groups: &BTreeMap<String, Group>,
    pipelines: &BTreeMap<String, PipelineRun>,
    dir: &Path,
) -> anyhow::Result<Vec<CheckOutcome>> {
    let mut outcomes = Vec::new();
    let topics: BTreeSet<&str> = roles
        .values()
        .filter_map(|r| match r {
            Role::Producer(spec) => Some(spec.topic.as_str()),
            _ => None,
        })
        .collect();
    for topic in topics {
        let log_processes: BTreeSet<u32> = roles
            .iter()
            .filter(|(_, r)| match r {
                Role::Producer(spec) => spec.topic == topic,
                Role::Drain(t) => t == topic,
                _ => false,
            })
            .map(|(p, _)| *p)
            .collect();
        let idempotent = roles.values().all(|r| match r {
            Role::Producer(spec) => spec.topic != topic || spec.idempotent,
            _ => true,
        });
        let log = sub_history(history, |op| log_processes.contains(&op.process));
        save(&log, dir, &format!("topic-{topic}"))?;
        let config = CheckConfig {
            idempotent,
            delivery: None,
            delivery_only: false,
        };
        outcomes.push(CheckOutcome {
            label: format!(
                "topic {topic}{}",
                if idempotent { " (idempotent)" } else { "" }
            ),
            report: check(&log, &config),
            filter_leaks: Vec::new(),
        });
        for (id, group) in groups.iter().filter(|(_, g)| g.spec.topic == topic) {
            let filter = group.spec.header_filter.as_deref().and_then(parse_filter);
            let passes = |value: &str| filter.as_ref().is_none_or(|f| carries(roles, value, f));
            let mine = |op: &Op| match roles.get(&op.process) {
                Some(Role::Member(step) | Role::Offsets(step)) => step == id,
                _ => false,
            };
            let deliveries = sub_history(history, |op| {
                mine(op)
                    || (log_processes.contains(&op.process)
                        && value_of(&op.kind).is_some_and(passes))
            });
            save(&deliveries, dir, &format!("group-{id}"))?;
            let filter_leaks = deliveries
                .ops
                .iter()
                .filter_map(|op| match &op.kind {
                    OpKind::Delivered {
                        value,
                        partition,
                        offset,
                        ..
                    } if !passes(value) => Some(format!("{value:?} at p{partition}@{offset}")),
                    _ => None,
                })
                .collect();
            let mode = group.spec.delivery;
            let config = CheckConfig {
                idempotent: false,
                delivery: Some(mode.into()),
                delivery_only: true,
            };
            outcomes.push(CheckOutcome {
                label: if group.spec.group == *id {
                    format!("group {id} ({})", mode.name())
                } else {
                    format!("group {} of step {id} ({})", group.spec.group, mode.name())
                },
                report: check(&deliveries, &config),
                filter_leaks,
            });
        }
    }
    for (id, pipeline) in pipelines {
        // The input's drain, the members' transactions, the read_committed read
        // of the output and the group's final offsets.
        let input = pipeline.spec.input.as_str();
        let processes: BTreeSet<u32> = roles
            .iter()
            .filter(|(_, r)| match r {
                Role::Drain(topic) => topic == input,
                Role::PipelineMember(step) | Role::OutputRead(step) | Role::Offsets(step) => {
                    step == id
                }
                _ => false,
            })
            .map(|(p, _)| *p)
            .collect();
        let part = sub_history(history, |op| processes.contains(&op.process));
        save(&part, dir, &format!("pipeline-{id}"))?;
        outcomes.push(CheckOutcome {
            label: format!(
                "pipeline {id} ({input} -> {}, exactly-once)",
                pipeline.spec.output
            ),
            report: check_pipeline(&part),
            filter_leaks: Vec::new(),
        });
    }
    Ok(outcomes)
}
