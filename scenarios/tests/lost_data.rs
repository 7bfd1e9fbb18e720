//! The checker on real loss: histories recorded from a broker restarted on an
//! emptied data directory, once live (the driver runs `tests/lossy/`) and once
//! from a history recorded that way and kept in `tests/data/`. The report must
//! name every lost record, with nothing else wrong.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use weir_scenarios::backend::BackendKind;
use weir_scenarios::scenario::TargetKind;
use weir_scenarios::{CheckConfig, Finding, History, Invariant, OpKind, Position, Report, check};

/// Values of the run's first producer (step 2), which the wipe destroyed.
const DOOMED_PREFIX: &str = "step2-";

/// What the report must say about a wiped history: each acknowledged value of the
/// first producer is a lost write where the drain read its offset or a later one
/// (the new records reused those offsets), and unseen beyond; nothing else fails.
fn assert_names_the_lost(history: &History, report: &Report) {
    let mut last_drained: BTreeMap<i32, i64> = BTreeMap::new();
    let mut doomed = Vec::new();
    for op in &history.ops {
        match &op.kind {
            OpKind::Drained {
                partition, offset, ..
            } => {
                let last = last_drained.entry(*partition).or_insert(*offset);
                *last = (*last).max(*offset);
            }
            OpKind::SendOk {
                value,
                partition,
                offset,
            } if value.starts_with(DOOMED_PREFIX) => {
                doomed.push((value.clone(), Position::new(*partition, *offset)));
            }
            _ => {}
        }
    }
    assert_eq!(
        doomed.len(),
        300,
        "the first producer's 300 acknowledgements"
    );
    let mut want_lost = BTreeSet::new();
    let mut want_unseen = BTreeSet::new();
    // The report's examples come in acknowledgement order.
    let mut first_lost = None;
    for (value, at) in doomed {
        if first_lost.is_none()
            && last_drained
                .get(&at.partition)
                .is_some_and(|last| *last >= at.offset)
        {
            first_lost = Some((value.clone(), at));
        }
        if last_drained
            .get(&at.partition)
            .is_some_and(|last| *last >= at.offset)
        {
            want_lost.insert((value, at));
        } else {
            want_unseen.insert((value, at));
        }
    }
    assert!(!want_lost.is_empty(), "the new records reused some offsets");
    let mut lost = BTreeSet::new();
    let mut unseen = BTreeSet::new();
    for finding in &report.findings {
        match finding {
            Finding::LostWrite { value, at } => assert!(lost.insert((value.clone(), *at))),
            Finding::Unseen { value, at } => assert!(unseen.insert((value.clone(), *at))),
            other => panic!("only loss is expected, got {other:?}"),
        }
    }
    assert_eq!(lost, want_lost);
    assert_eq!(unseen, want_unseen);
    let text = report.to_string();
    assert!(
        text.contains(&format!("lost write: {} violations", want_lost.len())),
        "{text}"
    );
    let (first, at) = first_lost.expect("a lost write");
    assert!(
        text.contains(&format!("{first:?} acked at {at}, never read")),
        "{text}"
    );
    assert_eq!(report.violations(Invariant::Duplicate).count(), 0);
}

#[test]
fn recorded_history_of_a_wiped_broker_names_the_lost_records() {
    let path = support::crate_dir().join("tests/data/wiped-data-dir.jsonl");
    let file = std::fs::File::open(&path).expect("the recorded history");
    let history = History::read_jsonl(std::io::BufReader::new(file)).expect("a valid history");
    let config = CheckConfig {
        idempotent: true,
        delivery: None,
        delivery_only: false,
    };
    let report = check(&history, &config);
    assert!(!report.is_ok());
    assert_names_the_lost(&history, &report);
}

#[test]
fn a_live_run_on_a_wiped_broker_fails_and_names_the_lost_records() {
    let file = support::crate_dir().join("tests/lossy/wiped-data-dir.toml");
    let (_, outcome) = support::run(&file, TargetKind::Processes, BackendKind::Weir);
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert!(!outcome.passed(), "the checker must catch the loss");
    let [topic] = outcome.checks.as_slice() else {
        panic!("one topic, no group: {:?}", outcome.checks);
    };
    assert_eq!(topic.label, "topic doomed (idempotent)");
    // The saved part of the history is what the checker judged.
    let saved = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("scenario-runs")
        .join(format!("wiped-data-dir-weir-processes-{}", support::seed()))
        .join("topic-doomed.jsonl");
    let history = History::read_jsonl(std::io::BufReader::new(
        std::fs::File::open(&saved).expect("the saved history"),
    ))
    .expect("a valid history");
    assert_eq!(
        check(
            &history,
            &CheckConfig {
                idempotent: true,
                delivery: None,
                delivery_only: false
            }
        ),
        topic.report
    );
    assert_names_the_lost(&history, &topic.report);
}
