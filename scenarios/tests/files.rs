//! Every story in `scenarios/files/` passes on the `processes` target with
//! weir-client, single-broker stories and three-broker cluster stories alike; the
//! stories that kill, stop, restart or pause a broker pass with librdkafka too
//! (client and broker share Weir's protocol code, so a bug on both sides could
//! cancel out); and stories without signals pass on the `in-process` target. Needs
//! the release broker (`cargo build --release -p weir-broker`). Stories kept in
//! `files-failing/` show broker bugs still open and are not run.

mod support;

use weir_scenarios::backend::BackendKind;
use weir_scenarios::scenario::{Scenario, TargetKind};

#[test]
fn every_single_broker_story_passes_on_processes() {
    let ran = run_stories(|brokers| brokers == 1);
    assert!(ran >= 9, "only {ran} runs");
}

#[test]
fn every_cluster_story_passes_on_processes() {
    let ran = run_stories(|brokers| brokers > 1);
    assert!(ran >= 5, "only {ran} runs");
}

/// Runs the stories in `files/` whose broker count `wanted` accepts, each with
/// weir-client and, when it signals brokers, with librdkafka; returns the runs.
fn run_stories(wanted: impl Fn(u32) -> bool) -> usize {
    let files = support::story_files();
    assert!(
        files.len() >= 9,
        "the seed stories are in scenarios/files: {files:?}"
    );
    let librdkafka = support::librdkafka_available();
    let mut failed = Vec::new();
    let mut ran = 0;
    for file in &files {
        let scenario = Scenario::load(file).expect("a valid scenario file");
        if !wanted(scenario.cluster.brokers) || scenario.supports(TargetKind::Processes).is_err() {
            continue;
        }
        let mut backends = vec![BackendKind::Weir];
        if librdkafka && scenario.has_broker_faults() {
            backends.push(BackendKind::Librdkafka);
        }
        for backend in backends {
            let (_, outcome) = support::run(file, TargetKind::Processes, backend);
            ran += 1;
            if !outcome.passed() {
                failed.push(format!("{} with {backend}", file.display()));
            }
        }
    }
    assert!(
        failed.is_empty(),
        "failed (seed {}): {failed:?}",
        support::seed()
    );
    ran
}

#[test]
fn stories_without_signals_pass_in_process() {
    let picked = ["one-producer-fixed-group.toml", "sigterm-restart.toml"];
    for name in picked {
        let file = support::crate_dir().join("files").join(name);
        let scenario = Scenario::load(&file).expect("a valid scenario file");
        assert!(scenario.supports(TargetKind::InProcess).is_ok(), "{name}");
        let (_, outcome) = support::run(&file, TargetKind::InProcess, BackendKind::Weir);
        assert!(
            outcome.passed(),
            "{name} in-process (seed {})",
            support::seed()
        );
    }
    let killing = Scenario::load(&support::crate_dir().join("files/kill-broker-mid-stream.toml"))
        .expect("a valid scenario file");
    assert!(
        killing.supports(TargetKind::InProcess).is_err(),
        "kill-broker cannot run without a process to signal"
    );
}
