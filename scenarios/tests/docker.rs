//! The docker target: the cluster stories that cut a leader off, kill it,
//! pause it and restart every container in turn run on the three containers of `docker/compose.yml`, with
//! weir-client and librdkafka, one compose project per run, taken down with its
//! volumes even when a run fails. The image is built first from the release
//! broker (`docker/build-image.sh`, no registry needed). Without a Docker engine
//! (`docker info` fails) the test is skipped with a loud message, or fails when
//! `WEIR_REQUIRE_DOCKER` is set.

mod support;

use std::process::Command;

use weir_scenarios::backend::BackendKind;
use weir_scenarios::scenario::{Scenario, TargetKind};
use weir_scenarios::target::{broker_binary, docker_available, docker_dir, image};

/// The stories run on docker: a network partition (docker only), a leader
/// kill, a leader paused past its lease, a rolling restart (docker stop/start).
const STORIES: [&str; 4] = [
    "cluster-leader-isolated.toml",
    "cluster-leader-kill.toml",
    "cluster-leader-paused.toml",
    "cluster-rolling-restart.toml",
];

#[test]
fn cluster_stories_pass_on_docker() {
    if !docker_available() {
        assert!(
            std::env::var_os("WEIR_REQUIRE_DOCKER").is_none(),
            "WEIR_REQUIRE_DOCKER is set but `docker info` fails"
        );
        eprintln!(
            "\n!!! SKIPPED: no Docker engine answers `docker info`; \
             the docker scenario stories did not run !!!\n"
        );
        return;
    }
    let binary = broker_binary().expect("the release weir-broker");
    let built = Command::new("bash")
        .arg(docker_dir().join("build-image.sh"))
        .arg(image())
        .env("WEIR_BROKER_BIN", &binary)
        .status()
        .expect("running docker/build-image.sh");
    assert!(built.success(), "docker/build-image.sh failed");

    let librdkafka = support::librdkafka_available();
    let mut failed = Vec::new();
    let mut ran = 0;
    for name in STORIES {
        let file = support::crate_dir().join("files").join(name);
        let scenario = Scenario::load(&file).expect("a valid scenario file");
        assert!(scenario.supports(TargetKind::Docker).is_ok(), "{name}");
        let mut backends = vec![BackendKind::Weir];
        if librdkafka {
            backends.push(BackendKind::Librdkafka);
        }
        for backend in backends {
            let (_, outcome) = support::run(&file, TargetKind::Docker, backend);
            ran += 1;
            if !outcome.passed() {
                failed.push(format!("{name} with {backend}"));
            }
        }
    }
    assert!(
        failed.is_empty(),
        "failed on docker (seed {}): {failed:?}",
        support::seed()
    );
    assert!(ran >= STORIES.len(), "only {ran} runs");
}
