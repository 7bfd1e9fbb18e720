//! The scenario format: every story in `files/` is valid, and what the format
//! forbids (unknown keys and steps, references to ids no earlier step defined,
//! contradictory counts) is refused with the step named.

use rand::SeedableRng;
use rand::rngs::StdRng;
use weir_scenarios::scenario::{BrokerPick, Millis, Scenario, ScenarioError, Step, TargetKind};

const HEAD: &str = "name = \"t\"\n[[step]]\ndo = \"create-topic\"\ntopic = \"a\"\n";

fn parse(steps: &str) -> Result<Scenario, ScenarioError> {
    Scenario::parse(&format!("{HEAD}{steps}"), "test.toml")
}

fn refused(steps: &str, needle: &str) {
    let error = parse(steps).expect_err("must be refused").to_string();
    assert!(
        error.contains(needle),
        "{error:?} should mention {needle:?}"
    );
}

#[test]
fn every_story_file_is_valid_and_described() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("files");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(
            path.extension().and_then(|e| e.to_str()),
            Some("toml"),
            "files/ holds scenario files only: {}",
            path.display()
        );
        let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !scenario.description.trim().is_empty(),
            "{}",
            path.display()
        );
        assert!(
            scenario.supports(TargetKind::Processes).is_ok()
                || scenario.supports(TargetKind::Docker).is_ok(),
            "{}",
            path.display()
        );
        count += 1;
    }
    assert!(count >= 9, "{count} files");
}

#[test]
fn a_full_story_parses_with_defaults() {
    let scenario = parse(
        r#"
[[step]]
do = "produce"
id = "load"
topic = "a"
duration_ms = 1000
rate = 10
background = true
headers = { source = "web" }

[[step]]
do = "consume"
id = "g"
topic = "a"
group = "g"
delivery = "at-most-once"
header_filter = "source=web"

[[step]]
do = "wait"
ms = [10, 20]

[[step]]
do = "await"
id = "load"
"#,
    )
    .unwrap();
    assert_eq!(scenario.cluster.brokers, 1);
    let Step::Produce(p) = &scenario.steps[1] else {
        panic!("{:?}", scenario.steps[1]);
    };
    assert!(p.idempotent && p.producers == 1 && p.header_every == 1);
    assert_eq!(p.headers.get("source").map(String::as_str), Some("web"));
    let Step::Consume(c) = &scenario.steps[2] else {
        panic!("{:?}", scenario.steps[2]);
    };
    assert_eq!((c.consumers, c.assignor.as_str()), (1, "range"));
    assert_eq!(
        scenario.steps.iter().map(Step::kind).collect::<Vec<_>>(),
        ["create-topic", "produce", "consume", "wait", "await"]
    );
}

#[test]
fn unknown_keys_and_steps_are_refused() {
    refused(
        "[[step]]\ndo = \"produce\"\ntopic = \"a\"\ncount = 1\nkeyz = 3\n",
        "keyz",
    );
    refused("[[step]]\ndo = \"explode\"\n", "explode");
    let error = Scenario::parse("name = \"t\"\nbrokerz = 1\n", "t.toml").unwrap_err();
    assert!(error.to_string().contains("brokerz"), "{error}");
}

#[test]
fn references_must_name_earlier_steps() {
    refused(
        "[[step]]\ndo = \"produce\"\ntopic = \"b\"\ncount = 1\n",
        "step 2 (produce)",
    );
    refused("[[step]]\ndo = \"await\"\nid = \"nothing\"\n", "nothing");
    refused("[[step]]\ndo = \"add-consumer\"\nto = \"g\"\n", "\"g\"");
    refused(
        "[[step]]\ndo = \"assert\"\ncheck = \"acked\"\nstep = \"p\"\nequals = 1\n",
        "\"p\"",
    );
}

#[test]
fn contradictions_are_refused() {
    refused(
        "[[step]]\ndo = \"produce\"\ntopic = \"a\"\ncount = 1\nduration_ms = 5\nrate = 1\n",
        "exactly one of count and duration_ms",
    );
    refused(
        "[[step]]\ndo = \"produce\"\ntopic = \"a\"\ncount = 1\nbackground = true\n",
        "needs an id",
    );
    refused(
        "[[step]]\ndo = \"produce\"\ntopic = \"a\"\nduration_ms = 5\n",
        "needs a rate",
    );
    refused("[[step]]\ndo = \"kill-broker\"\nbroker = 2\n", "broker 2");
    refused(
        "[[step]]\ndo = \"consume\"\nid = \"g\"\ntopic = \"a\"\ngroup = \"g\"\nheader_filter = \"nokey\"\n",
        "key=value",
    );
    refused(
        "[[step]]\ndo = \"assert\"\ncheck = \"members\"\ngroup = \"g\"\n",
        "equals",
    );
}

#[test]
fn signals_need_a_process_target() {
    let scenario =
        parse("[[step]]\ndo = \"pause-broker\"\n[[step]]\ndo = \"resume-broker\"\n").unwrap();
    assert!(scenario.needs_signals() && scenario.has_broker_faults());
    assert!(scenario.supports(TargetKind::Processes).is_ok());
    let why = scenario.supports(TargetKind::InProcess).unwrap_err();
    assert!(why.contains("pause-broker"), "{why}");
    let graceful =
        parse("[[step]]\ndo = \"stop-broker\"\n[[step]]\ndo = \"restart-broker\"\n").unwrap();
    assert!(graceful.supports(TargetKind::InProcess).is_ok());
    assert!(graceful.has_broker_faults() && !graceful.needs_signals());
}

#[test]
fn wait_ranges_come_from_the_seed() {
    let range = Millis::Range([100, 200]);
    let picks = |seed| {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..20)
            .map(|_| range.pick(&mut rng).as_millis())
            .collect::<Vec<_>>()
    };
    assert_eq!(picks(7), picks(7), "a seed replays its choices");
    assert_ne!(picks(7), picks(8));
    assert!(picks(9).iter().all(|ms| (100..=200).contains(ms)));
    assert_eq!(
        Millis::Fixed(5)
            .pick(&mut StdRng::seed_from_u64(1))
            .as_millis(),
        5
    );
}

#[test]
fn brokers_are_picked_by_id_or_by_role() {
    let scenario = parse(
        r#"
[[step]]
do = "kill-broker"
broker = "leader of a-0"

[[step]]
do = "restart-broker"
broker = "last"

[[step]]
do = "pause-broker"
broker = "follower of a-12"

[[step]]
do = "stop-broker"
broker = "controller"

[[step]]
do = "kill-broker"
broker = "coordinator of group billing"

[[step]]
do = "resume-broker"
"#,
    )
    .expect("valid");
    let picks: Vec<String> = scenario
        .steps
        .iter()
        .filter_map(|step| match step {
            Step::KillBroker(b)
            | Step::StopBroker(b)
            | Step::PauseBroker(b)
            | Step::ResumeBroker(b) => Some(b.broker.clone()),
            Step::RestartBroker(r) => Some(r.broker.clone()),
            _ => None,
        })
        .map(|pick| pick.to_string())
        .collect();
    assert_eq!(
        picks,
        [
            "leader of a-0",
            "last",
            "follower of a-12",
            "controller",
            "coordinator of group billing",
            "1"
        ]
    );
    assert_eq!(
        picks_of("do = \"kill-broker\"\nbroker = \"leader of a-b-3\""),
        BrokerPick::LeaderOf {
            topic: "a-b".into(),
            partition: 3
        },
        "the partition is after the last dash"
    );
    refused(
        "[[step]]\ndo = \"kill-broker\"\nbroker = \"leader\"",
        "leader of T-P",
    );
    refused(
        "[[step]]\ndo = \"kill-broker\"\nbroker = \"leader of a\"",
        "not topic-partition",
    );
    refused(
        "[[step]]\ndo = \"kill-broker\"\nbroker = \"leader of nope-0\"",
        "no earlier create-topic",
    );
    refused("[[step]]\ndo = \"kill-broker\"\nbroker = 2", "not in 1..=1");
}

#[test]
fn clusters_need_the_processes_target() {
    let scenario = Scenario::parse(
        &format!("{HEAD}[[step]]\ndo = \"kill-broker\"\nbroker = 3\n\n[[step]]\ndo = \"assert\"\ncheck = \"in-sync\"\ntopic = \"a\"\n[cluster]\nbrokers = 3\n"),
        "test.toml",
    )
    .expect("valid");
    assert!(scenario.supports(TargetKind::Processes).is_ok());
    let refusal = scenario.supports(TargetKind::InProcess).unwrap_err();
    assert!(refusal.contains("one broker"), "{refusal}");
    refused(
        "[[step]]\ndo = \"assert\"\ncheck = \"in-sync\"",
        "needs a topic",
    );
}

#[test]
fn network_partitions_need_the_docker_target() {
    let steps = "[[step]]\ndo = \"isolate-broker\"\nbroker = \"leader of a-0\"\n\n\
                 [[step]]\ndo = \"assert\"\ncheck = \"reachable\"\nbroker = \"last\"\n\n\
                 [[step]]\ndo = \"assert\"\ncheck = \"fenced\"\nbroker = \"last\"\n\n\
                 [[step]]\ndo = \"heal-broker\"\nbroker = \"last\"\n";
    let scenario = Scenario::parse(
        &format!("{HEAD}{steps}[cluster]\nbrokers = 3\n"),
        "test.toml",
    )
    .expect("valid");
    assert!(scenario.has_broker_faults() && scenario.needs_signals());
    assert!(scenario.supports(TargetKind::Docker).is_ok());
    for target in [TargetKind::Processes, TargetKind::InProcess] {
        let why = scenario.supports(target).unwrap_err();
        assert!(
            why.contains("isolate-broker needs the docker target"),
            "{why}"
        );
    }
    // The compose file has three brokers; a story with another count is refused.
    let one = parse("[[step]]\ndo = \"kill-broker\"\n").unwrap();
    assert!(
        one.supports(TargetKind::Docker)
            .unwrap_err()
            .contains("3 brokers")
    );
    refused(
        "[[step]]\ndo = \"assert\"\ncheck = \"reachable\"",
        "needs a broker",
    );
    refused("[[step]]\ndo = \"heal-broker\"\nbroker = 4", "not in 1..=1");
}

fn picks_of(step: &str) -> BrokerPick {
    let steps = format!("[[step]]\ndo = \"create-topic\"\ntopic = \"a-b\"\n[[step]]\n{step}\n");
    match &parse(&steps).expect("valid").steps[2] {
        Step::KillBroker(b) => b.broker.clone(),
        other => panic!("{other:?}"),
    }
}

/// A pipeline reading topic a (written by a produce step) into topic b.
const PIPELINE: &str = "[[step]]\ndo = \"create-topic\"\ntopic = \"b\"\n\n\
                        [[step]]\ndo = \"produce\"\ntopic = \"a\"\ncount = 10\n\n\
                        [[step]]\ndo = \"pipeline\"\nid = \"etl\"\ninput = \"a\"\noutput = \"b\"\n\
                        group = \"etl\"\ntransactional_id = \"etl\"\ncount = 10\n\n\
                        [[step]]\ndo = \"await\"\nid = \"etl\"\n";

#[test]
fn pipelines_parse_with_defaults() {
    let scenario = parse(PIPELINE).expect("valid");
    let Step::Pipeline(p) = &scenario.steps[3] else {
        panic!("{:?}", scenario.steps[3]);
    };
    assert_eq!(
        (p.consumers, p.batch, p.abort_every, p.count),
        (1, 50, 0, 10)
    );
    assert_eq!(
        (p.transaction_timeout_ms, p.session_timeout_ms),
        (10_000, 6_000)
    );
    assert_eq!(
        (
            p.input.as_str(),
            p.output.as_str(),
            p.transactional_id.as_str()
        ),
        ("a", "b", "etl")
    );
    assert!(scenario.supports(TargetKind::InProcess).is_ok());
}

#[test]
fn pipelines_are_validated() {
    let refused_pipeline = |steps: &str, needle: &str| {
        let error = parse(steps).expect_err("must be refused").to_string();
        assert!(
            error.contains(needle),
            "{error:?} should mention {needle:?}"
        );
    };
    refused_pipeline(
        &PIPELINE.replace("input = \"a\"", "input = \"nope\""),
        "no earlier create-topic step has id \"nope\"",
    );
    refused_pipeline(
        &PIPELINE.replace("topic = \"a\"\ncount = 10", "topic = \"b\"\ncount = 10"),
        "no produce step writes the input",
    );
    refused_pipeline(
        &PIPELINE.replace("output = \"b\"", "output = \"a\""),
        "written by this pipeline alone",
    );
    refused_pipeline(
        &PIPELINE.replace("transactional_id = \"etl\"", "transactional_id = \"e/t\""),
        "transactional_id",
    );
    refused_pipeline(
        &PIPELINE.replace(
            "count = 10\n\n[[step]]\ndo = \"await\"",
            "count = 10\nbatch = 0\n\n[[step]]\ndo = \"await\"",
        ),
        "batch must be",
    );
    refused_pipeline(
        &PIPELINE.replace("group = \"etl\"", "group = \"etl\"\nkeyz = 1"),
        "keyz",
    );
    refused_pipeline(
        &format!("{PIPELINE}[[step]]\ndo = \"add-consumer\"\nto = \"etl\"\n"),
        "no earlier consume step has id \"etl\"",
    );
    refused_pipeline(
        &format!(
            "{PIPELINE}[[step]]\ndo = \"consume\"\nid = \"etl\"\ntopic = \"a\"\ngroup = \"g\"\n"
        ),
        "used twice",
    );
}

#[test]
fn transaction_coordinators_are_a_role() {
    assert_eq!(
        picks_of("do = \"kill-broker\"\nbroker = \"coordinator of transaction etl-0\""),
        BrokerPick::TxnCoordinatorOf {
            transactional_id: "etl-0".into()
        }
    );
    assert_eq!(
        BrokerPick::TxnCoordinatorOf {
            transactional_id: "etl-0".into()
        }
        .to_string(),
        "coordinator of transaction etl-0"
    );
    refused(
        "[[step]]\ndo = \"kill-broker\"\nbroker = \"coordinator of nothing\"",
        "coordinator of transaction ID",
    );
}
