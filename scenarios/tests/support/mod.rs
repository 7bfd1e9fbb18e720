//! Runs scenario files for the tests: one at a time (the in-process target's broker
//! uses ractor's process-global registry, and two stories at once would only slow
//! each other on a small machine), with a seed from `WEIR_SCENARIO_SEED` or a fresh
//! one, printed so a failure can be replayed with `weir-scenarios run --seed`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use weir_scenarios::backend::BackendKind;
use weir_scenarios::driver::{self, RunConfig, RunOutcome};
use weir_scenarios::scenario::{Scenario, TargetKind};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The crate's directory.
pub fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every `*.toml` in `files/`, sorted.
pub fn story_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(crate_dir().join("files"))
        .expect("scenarios/files")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// The seed for this test process.
pub fn seed() -> u64 {
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *SEED.get_or_init(|| {
        let seed = std::env::var("WEIR_SCENARIO_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(rand::random);
        println!("scenario seed {seed} (set WEIR_SCENARIO_SEED={seed} to replay)");
        seed
    })
}

/// Whether the librdkafka backend can run here; under CI its absence is a failure.
pub fn librdkafka_available() -> bool {
    let python = std::env::var("WEIR_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = std::process::Command::new(python)
        .args(["-c", "import confluent_kafka"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok || std::env::var_os("CI").is_none(),
        "confluent-kafka is not importable (scripts/test.sh pip-installs it)"
    );
    if !ok {
        println!("confluent-kafka is missing: the librdkafka backend is skipped");
    }
    ok
}

/// Runs `file` and returns what happened, with its report printed.
pub fn run(file: &Path, target: TargetKind, backend: BackendKind) -> (Scenario, RunOutcome) {
    let _one = ONE_AT_A_TIME.lock();
    let scenario = Scenario::load(file).expect("a valid scenario file");
    let stem = file.file_stem().unwrap_or_default().to_string_lossy();
    let seed = seed();
    let config = RunConfig {
        target,
        backend,
        seed,
        scale: 1.0,
        dir: Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("scenario-runs")
            .join(format!("{stem}-{backend}-{target}-{seed}")),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let outcome = runtime
        .block_on(driver::run(&scenario, &config))
        .unwrap_or_else(|e| panic!("{}: {e:#}", file.display()));
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    for check in &outcome.checks {
        print!("{check}");
    }
    println!(
        "{} {} on {target} with {backend}: {} in {:.1} s ({})",
        if outcome.passed() { "PASS" } else { "FAIL" },
        stem,
        outcome
            .error
            .as_deref()
            .unwrap_or(if outcome.passed() { "ok" } else { "violations" }),
        outcome.elapsed.as_secs_f64(),
        config.dir.display()
    );
    if outcome.passed() {
        driver::remove_data(&config.dir);
    }
    (scenario, outcome)
}
