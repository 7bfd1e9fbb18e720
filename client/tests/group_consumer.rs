//! GroupConsumer against the release broker: a group over a 6-partition topic
//! while a producer writes keyed records; members join, one leaves gracefully,
//! one is dropped without leaving (its session times out), a new one joins.
//!
//! Checked: assignments are disjoint in every generation and cover the topic
//! once the group settles; at-least-once delivers every acknowledged record;
//! at-most-once delivers none twice; cooperative-sticky members keep what they
//! own across rebalances (and are only ever asked to revoke what moves).

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use weir_client::admin::{Admin, NewTopic};
use weir_client::cluster::ClientConfig;
use weir_client::consumer::Offset;
use weir_client::consumer::assignor::{Assignor, CooperativeStickyAssignor, RangeAssignor};
use weir_client::consumer::group::{
    DeliveryMode, GroupConfig, GroupConsumer, RebalanceListener, RebalanceProtocol, TopicPartition,
};
use weir_client::error::ClientError;
use weir_client::producer::{Producer, ProducerConfig, ProducerRecord};

use support::BrokerProcess;

const TOPIC: &str = "orders";
const PARTITIONS: i32 = 6;
const BURSTS: usize = 30;
const PER_BURST: usize = 60;
/// Every wait in a scenario ends by then.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(45);
/// Polls one member makes at most.
const POLLS_MAX: usize = 5_000;

/// A broker whose group coordinator accepts short sessions.
fn broker() -> (BrokerProcess, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("broker.toml");
    std::fs::write(
        &config,
        "\"group.min.session.timeout.ms\" = 500\n\"group.initial.rebalance.delay.ms\" = 100\n",
    )
    .unwrap();
    let broker = BrokerProcess::start(&["--config", config.to_str().unwrap()]);
    (broker, dir)
}

async fn create_topic(bootstrap: &str) {
    let admin = Admin::new(ClientConfig::new(bootstrap)).unwrap();
    for r in admin
        .create_topics(&[NewTopic::new(TOPIC, PARTITIONS)], false)
        .await
        .unwrap()
    {
        r.unwrap();
    }
}

#[derive(Debug, Clone)]
enum Event {
    Generation {
        member: String,
        generation: i32,
        assignment: BTreeSet<TopicPartition>,
    },
    Revoked {
        member: String,
        partitions: Vec<TopicPartition>,
    },
    Lost {
        member: String,
    },
}

/// Records every callback into the scenario's log.
struct Recorder {
    name: String,
    log: Arc<Mutex<Vec<Event>>>,
}

impl RebalanceListener for Recorder {
    fn on_assigned(&mut self, _partitions: &[TopicPartition]) {}

    fn on_revoked(&mut self, partitions: &[TopicPartition]) {
        self.log.lock().push(Event::Revoked {
            member: self.name.clone(),
            partitions: partitions.to_vec(),
        });
    }

    fn on_lost(&mut self, _partitions: &[TopicPartition]) {
        self.log.lock().push(Event::Lost {
            member: self.name.clone(),
        });
    }

    fn on_generation(&mut self, generation: i32, _member_id: &str, assignment: &[TopicPartition]) {
        self.log.lock().push(Event::Generation {
            member: self.name.clone(),
            generation,
            assignment: assignment.iter().cloned().collect(),
        });
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Run,
    /// `close()`: commit, revoke, LeaveGroup.
    Close,
    /// Dropped without a word: the coordinator must time the session out.
    Drop,
    /// Stop polling for this long (ms) once, then carry on.
    Stall(u64),
}

struct Member {
    control: watch::Sender<Command>,
    task: JoinHandle<Result<(), ClientError>>,
}

/// Everything a scenario observed.
struct Run {
    log: Arc<Mutex<Vec<Event>>>,
    /// (partition, offset, member) per record handed out by `poll`.
    delivered: Arc<Mutex<Vec<(i32, i64, String)>>>,
    /// Log length when each stage of a scenario settled.
    marks: Mutex<Vec<usize>>,
    /// The generation `wait_settled` returned last: the next must be newer.
    floor: Mutex<i32>,
}

impl Run {
    /// Per generation: each recording member's assignment.
    fn generations(&self) -> BTreeMap<i32, BTreeMap<String, BTreeSet<TopicPartition>>> {
        let mut out: BTreeMap<i32, BTreeMap<String, BTreeSet<TopicPartition>>> = BTreeMap::new();
        for e in self.log.lock().iter() {
            if let Event::Generation {
                member,
                generation,
                assignment,
            } = e
            {
                out.entry(*generation)
                    .or_default()
                    .insert(member.clone(), assignment.clone());
            }
        }
        out
    }

    /// The latest generation after the last one waited for whose members are
    /// exactly `members` and whose assignments cover the whole topic.
    fn settled(
        &self,
        members: &[&str],
    ) -> Option<(i32, BTreeMap<String, BTreeSet<TopicPartition>>)> {
        let want: BTreeSet<&str> = members.iter().copied().collect();
        let floor = *self.floor.lock();
        self.generations()
            .into_iter()
            .rev()
            .take_while(|(g, _)| *g > floor)
            .find(|(_, by_member)| {
                let names: BTreeSet<&str> = by_member.keys().map(String::as_str).collect();
                let covered: BTreeSet<&TopicPartition> = by_member.values().flatten().collect();
                names == want && covered.len() == PARTITIONS as usize
            })
    }

    async fn wait_settled(
        &self,
        members: &[&str],
        deadline: Instant,
    ) -> (i32, BTreeMap<String, BTreeSet<TopicPartition>>) {
        while Instant::now() < deadline {
            if let Some(s) = self.settled(members) {
                *self.floor.lock() = s.0;
                return s;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the group never settled with {members:?}: {:#?}",
            self.generations()
        );
    }

    fn delivered_set(&self) -> BTreeSet<(i32, i64)> {
        self.delivered
            .lock()
            .iter()
            .map(|(p, o, _)| (*p, *o))
            .collect()
    }
}

fn group_config(
    bootstrap: &str,
    group: &str,
    delivery: DeliveryMode,
    assignors: &[Arc<dyn Assignor>],
) -> GroupConfig {
    let mut config = GroupConfig::new(bootstrap, group);
    config.consumer.auto_offset_reset = Offset::Beginning;
    config.consumer.fetch_max_wait = Duration::from_millis(100);
    config.session_timeout = Duration::from_millis(2_000);
    config.heartbeat_interval = Duration::from_millis(200);
    config.rebalance_timeout = Duration::from_millis(8_000);
    config.auto_commit_interval = Duration::from_millis(200);
    config.retry_backoff = Duration::from_millis(50);
    config.delivery = delivery;
    config.assignors = assignors.to_vec();
    config
}

fn start_member(run: &Run, name: &str, config: GroupConfig, deadline: Instant) -> Member {
    let mut consumer = GroupConsumer::new(config).unwrap();
    consumer.set_listener(Recorder {
        name: name.to_owned(),
        log: run.log.clone(),
    });
    consumer.subscribe([TOPIC]).unwrap();
    let (control, mut commands) = watch::channel(Command::Run);
    let delivered = run.delivered.clone();
    let name = name.to_owned();
    let task = tokio::spawn(async move {
        let mut stalled = false;
        for _ in 0..POLLS_MAX {
            let command = *commands.borrow_and_update();
            match command {
                Command::Stall(ms) if !stalled => {
                    stalled = true;
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                Command::Stall(_) => {}
                Command::Close => return consumer.close().await,
                Command::Drop => {
                    drop(consumer);
                    return Ok(());
                }
                Command::Run if Instant::now() > deadline => return consumer.close().await,
                Command::Run => {}
            }
            let records = consumer.poll(500, Duration::from_millis(200)).await?;
            delivered.lock().extend(
                records
                    .iter()
                    .map(|r| (r.partition, r.offset, name.clone())),
            );
        }
        consumer.close().await
    });
    Member { control, task }
}

async fn stop(member: Member, command: Command) {
    member.control.send(command).unwrap();
    tokio::time::timeout(Duration::from_secs(20), member.task)
        .await
        .expect("the member stops in time")
        .unwrap()
        .unwrap();
}

/// Writes keyed records in bursts; returns where each acknowledged one went.
fn start_producer(bootstrap: &str) -> JoinHandle<BTreeSet<(i32, i64)>> {
    let bootstrap = bootstrap.to_owned();
    tokio::spawn(async move {
        let producer = Producer::new(ProducerConfig::new(&bootstrap))
            .await
            .unwrap();
        let mut pending = Vec::new();
        for burst in 0..BURSTS {
            for i in 0..PER_BURST {
                let n = burst * PER_BURST + i;
                let record =
                    ProducerRecord::new(TOPIC, format!("value-{n}")).key(format!("key-{}", n % 97));
                pending.push(producer.send(record).await.unwrap());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        producer.flush(Duration::from_secs(30)).await.unwrap();
        let mut acked = BTreeSet::new();
        for f in pending {
            let m = f.await.unwrap();
            acked.insert((m.partition, m.offset));
        }
        acked
    })
}

/// No partition is in two assignments of one generation (members in `dead`
/// are left out: processes that died and were replaced).
fn assert_disjoint_generations(run: &Run, dead: &[&str]) {
    for (generation, by_member) in run.generations() {
        let mut seen: HashMap<&TopicPartition, &str> = HashMap::new();
        for (member, assignment) in by_member
            .iter()
            .filter(|(m, _)| !dead.contains(&m.as_str()))
        {
            for tp in assignment {
                if let Some(other) = seen.insert(tp, member) {
                    panic!("generation {generation}: {tp:?} assigned to {other} and {member}");
                }
            }
        }
    }
}

/// Three members, one closes, one is dropped, one joins, while records flow;
/// then everything acknowledged must have been consumed.
async fn scenario(
    delivery: DeliveryMode,
    assignors: Vec<Arc<dyn Assignor>>,
) -> (
    Run,
    BTreeSet<(i32, i64)>,
    Vec<BTreeMap<String, BTreeSet<TopicPartition>>>,
) {
    let (broker, _config_dir) = broker();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap).await;
    let deadline = Instant::now() + SCENARIO_TIMEOUT;
    let run = Run {
        log: Arc::new(Mutex::new(Vec::new())),
        delivered: Arc::new(Mutex::new(Vec::new())),
        marks: Mutex::new(Vec::new()),
        floor: Mutex::new(-1),
    };
    let group = "workers";
    let config = || group_config(&bootstrap, group, delivery, &assignors);
    let producer = start_producer(&bootstrap);
    let m1 = start_member(&run, "m1", config(), deadline);
    let m2 = start_member(&run, "m2", config(), deadline);
    let m3 = start_member(&run, "m3", config(), deadline);
    let mut stages = Vec::new();

    let (_, three) = run.wait_settled(&["m1", "m2", "m3"], deadline).await;
    assert!(three.values().all(|a| a.len() == 2), "{three:?}");
    stages.push(three);
    run.marks.lock().push(run.log.lock().len());

    stop(m1, Command::Close).await;
    let (_, two) = run.wait_settled(&["m2", "m3"], deadline).await;
    stages.push(two);
    run.marks.lock().push(run.log.lock().len());

    // No LeaveGroup: m3 gets everything only once m2's session timed out.
    let dropped_at = Instant::now();
    stop(m2, Command::Drop).await;
    let (_, one) = run.wait_settled(&["m3"], deadline).await;
    assert!(
        dropped_at.elapsed() >= Duration::from_millis(1_500),
        "m2 was removed before its session could expire ({:?})",
        dropped_at.elapsed()
    );
    stages.push(one);
    run.marks.lock().push(run.log.lock().len());

    let m4 = start_member(&run, "m4", config(), deadline);
    let (_, last) = run.wait_settled(&["m3", "m4"], deadline).await;
    assert!(last.values().all(|a| a.len() == 3), "{last:?}");
    stages.push(last);
    run.marks.lock().push(run.log.lock().len());

    let acked = tokio::time::timeout(Duration::from_secs(30), producer)
        .await
        .expect("the producer finishes")
        .unwrap();
    assert_eq!(acked.len(), BURSTS * PER_BURST);
    while Instant::now() < deadline && !acked.is_subset(&run.delivered_set()) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop(m3, Command::Close).await;
    stop(m4, Command::Close).await;
    assert_disjoint_generations(&run, &[]);
    (run, acked, stages)
}

fn missing(run: &Run, acked: &BTreeSet<(i32, i64)>) -> Vec<(i32, i64)> {
    let delivered = run.delivered_set();
    acked.difference(&delivered).copied().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_least_once_delivers_every_acknowledged_record_through_membership_changes() {
    let assignors: Vec<Arc<dyn Assignor>> = vec![Arc::new(RangeAssignor)];
    let (run, acked, _) = scenario(DeliveryMode::AtLeastOnce, assignors).await;
    let missing = missing(&run, &acked);
    assert!(
        missing.is_empty(),
        "{} acknowledged records never delivered: {:?}",
        missing.len(),
        &missing[..missing.len().min(20)]
    );
    // Eager: m3 revoked all six before rejoining with m4.
    let log = run.log.lock().clone();
    assert!(log.iter().any(|e| matches!(e, Event::Revoked { member, partitions } if member == "m3" && partitions.len() == 6)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_once_never_delivers_a_record_twice() {
    let assignors: Vec<Arc<dyn Assignor>> = vec![Arc::new(RangeAssignor)];
    let (run, acked, _) = scenario(DeliveryMode::AtMostOnce, assignors).await;
    let delivered = run.delivered.lock().clone();
    let mut seen: HashMap<(i32, i64), &str> = HashMap::new();
    for (p, o, member) in &delivered {
        if let Some(first) = seen.insert((*p, *o), member) {
            panic!("partition {p} offset {o} delivered to {first} and again to {member}");
        }
    }
    // Commits happen before delivery, and nothing crashed mid-processing: a
    // healthy run loses nothing either.
    let missing = missing(&run, &acked);
    assert!(
        missing.is_empty(),
        "{} acknowledged records never delivered: {:?}",
        missing.len(),
        &missing[..missing.len().min(20)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_sticky_members_keep_what_they_own() {
    let assignors: Vec<Arc<dyn Assignor>> = vec![Arc::new(CooperativeStickyAssignor)];
    let config = GroupConfig {
        assignors: assignors.clone(),
        ..GroupConfig::new("127.0.0.1:1", "g")
    };
    assert_eq!(
        GroupConsumer::new(config).unwrap().rebalance_protocol(),
        RebalanceProtocol::Cooperative
    );
    let (run, acked, stages) = scenario(DeliveryMode::AtLeastOnce, assignors).await;
    let missing = missing(&run, &acked);
    assert!(
        missing.is_empty(),
        "{} acknowledged records never delivered",
        missing.len()
    );
    let [three, two, one, last] = &stages[..] else {
        panic!("four stages expected");
    };
    // A member leaves (m1) or dies (m2): the others keep all they had.
    for m in ["m2", "m3"] {
        assert!(
            three[m].is_subset(&two[m]),
            "{m}: {:?} -> {:?}",
            three[m],
            two[m]
        );
    }
    assert!(two["m3"].is_subset(&one["m3"]));
    // A member joins: m3 gives up only what m4 gets.
    assert!(last["m3"].is_subset(&one["m3"]));
    // Only what moved was revoked, between the settled three-member group and
    // the settled m3+m4 one: m1 gave up its 2 on close and m3 handed 3 to m4
    // (eager members revoke everything at every rebalance: 15 here).
    let log = run.log.lock().clone();
    let marks = run.marks.lock().clone();
    let revoked: usize = log[marks[0]..marks[3]]
        .iter()
        .map(|e| match e {
            Event::Revoked { partitions, .. } => partitions.len(),
            Event::Lost { member } => panic!("{member} lost partitions"),
            Event::Generation { .. } => 0,
        })
        .sum();
    assert_eq!(revoked, 2 + 3, "{log:#?}");
}

/// Produces `count` keyed records and waits for every acknowledgement.
async fn produce(bootstrap: &str, from: usize, count: usize) -> BTreeSet<(i32, i64)> {
    let producer = Producer::new(ProducerConfig::new(bootstrap)).await.unwrap();
    let mut pending = Vec::new();
    for n in from..from + count {
        let record = ProducerRecord::new(TOPIC, format!("value-{n}")).key(format!("key-{n}"));
        pending.push(producer.send(record).await.unwrap());
    }
    producer.flush(Duration::from_secs(30)).await.unwrap();
    let mut acked = BTreeSet::new();
    for f in pending {
        let m = f.await.unwrap();
        acked.insert((m.partition, m.offset));
    }
    acked
}

fn new_run() -> Run {
    Run {
        log: Arc::new(Mutex::new(Vec::new())),
        delivered: Arc::new(Mutex::new(Vec::new())),
        marks: Mutex::new(Vec::new()),
        floor: Mutex::new(-1),
    }
}

async fn wait_delivered(run: &Run, acked: &BTreeSet<(i32, i64)>, deadline: Instant) {
    while Instant::now() < deadline && !acked.is_subset(&run.delivered_set()) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let missing = missing(run, acked);
    assert!(
        missing.is_empty(),
        "{} acknowledged records never delivered: {:?}",
        missing.len(),
        &missing[..missing.len().min(20)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_static_member_takes_its_place_back_without_a_rebalance() {
    let (broker, _config_dir) = broker();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap).await;
    let deadline = Instant::now() + SCENARIO_TIMEOUT;
    let run = new_run();
    let assignors: Vec<Arc<dyn Assignor>> = vec![Arc::new(RangeAssignor)];
    let config = |instance: &str| GroupConfig {
        group_instance_id: Some(instance.to_owned()),
        ..group_config(&bootstrap, "static", DeliveryMode::AtLeastOnce, &assignors)
    };
    let s1 = start_member(&run, "s1", config("i-1"), deadline);
    let s2 = start_member(&run, "s2", config("i-2"), deadline);
    let (generation, before) = run.wait_settled(&["s1", "s2"], deadline).await;
    let acked = produce(&bootstrap, 0, 600).await;
    wait_delivered(&run, &acked, deadline).await;

    // A restart: the old process dies, a new one with the same instance id
    // joins before the session expires. It gets the same partitions in the
    // same generation; s2 is not disturbed.
    stop(s1, Command::Drop).await;
    let s1_again = start_member(&run, "s1-again", config("i-1"), deadline);
    let mut back = None;
    while back.is_none() && Instant::now() < deadline {
        back = run
            .generations()
            .into_iter()
            .find_map(|(g, by_member)| by_member.get("s1-again").map(|a| (g, a.clone())));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (again_generation, again) = back.expect("the new incarnation joined");
    assert_eq!(again_generation, generation);
    assert_eq!(again, before["s1"]);
    let more = produce(&bootstrap, 600, 600).await;
    wait_delivered(&run, &more, deadline).await;
    assert_eq!(
        run.generations().keys().copied().max(),
        Some(generation),
        "nobody rebalanced: {:#?}",
        run.generations()
    );

    // A static member does not leave on close: s2 gets everything only when
    // the session times out.
    let closed_at = Instant::now();
    stop(s1_again, Command::Close).await;
    run.wait_settled(&["s2"], deadline).await;
    assert!(
        closed_at.elapsed() >= Duration::from_millis(1_500),
        "{:?}",
        closed_at.elapsed()
    );
    stop(s2, Command::Close).await;
    assert_disjoint_generations(&run, &["s1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_ride_out_a_broker_restart_without_losing_records() {
    let (mut broker, _config_dir) = broker();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap).await;
    let deadline = Instant::now() + SCENARIO_TIMEOUT;
    let run = new_run();
    let assignors: Vec<Arc<dyn Assignor>> = vec![Arc::new(RangeAssignor)];
    let config = || group_config(&bootstrap, "restart", DeliveryMode::AtLeastOnce, &assignors);
    let a = start_member(&run, "a", config(), deadline);
    let b = start_member(&run, "b", config(), deadline);
    run.wait_settled(&["a", "b"], deadline).await;
    let mut acked = produce(&bootstrap, 0, 600).await;
    wait_delivered(&run, &acked, deadline).await;

    // The coordinator (and leader of every partition) goes away and comes
    // back: members find it again, and nothing acknowledged goes missing.
    broker.kill_and_restart();
    acked.extend(produce(&bootstrap, 600, 600).await);
    wait_delivered(&run, &acked, deadline).await;
    // The broker restores the generation, or the members rejoin: either way
    // the latest one splits the topic between a and b.
    let (_, latest) = run.generations().into_iter().next_back().unwrap();
    assert_eq!(latest.keys().collect::<Vec<_>>(), ["a", "b"]);
    assert!(latest.values().all(|p| p.len() == 3), "{latest:?}");
    stop(a, Command::Close).await;
    stop(b, Command::Close).await;
    assert_disjoint_generations(&run, &[]);

    // What they consumed was committed to the restarted coordinator: a new
    // member starts where they stopped and sees only newer records.
    let later = new_run();
    let c = start_member(&later, "c", config(), deadline);
    later.wait_settled(&["c"], deadline).await;
    let newer = produce(&bootstrap, 1_200, 100).await;
    wait_delivered(&later, &newer, deadline).await;
    stop(c, Command::Close).await;
    assert_eq!(
        later.delivered_set(),
        newer,
        "c got records consumed before"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_stops_polling_is_taken_out_and_loses_its_partitions() {
    let (broker, _config_dir) = broker();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap).await;
    let deadline = Instant::now() + SCENARIO_TIMEOUT;
    let run = new_run();
    let assignors: Vec<Arc<dyn Assignor>> = vec![Arc::new(RangeAssignor)];
    let config = || group_config(&bootstrap, "slow", DeliveryMode::AtLeastOnce, &assignors);
    // `slow` allows 1.5 s between polls (max.poll.interval.ms).
    let slow_config = GroupConfig {
        rebalance_timeout: Duration::from_millis(1_500),
        ..config()
    };
    let slow = start_member(&run, "slow", slow_config, deadline);
    let busy = start_member(&run, "busy", config(), deadline);
    run.wait_settled(&["slow", "busy"], deadline).await;
    let acked = produce(&bootstrap, 0, 300).await;
    wait_delivered(&run, &acked, deadline).await;

    // It keeps heartbeating while it does not poll, but leaves the group once
    // the poll interval is exceeded: `busy` takes over everything.
    slow.control.send(Command::Stall(3_000)).unwrap();
    run.wait_settled(&["busy"], deadline).await;
    let more = produce(&bootstrap, 300, 300).await;
    wait_delivered(&run, &more, deadline).await;
    // Polling again, it finds its partitions lost and joins anew.
    run.wait_settled(&["slow", "busy"], deadline).await;
    let lost = run
        .log
        .lock()
        .iter()
        .any(|e| matches!(e, Event::Lost { member } if member == "slow"));
    assert!(lost, "{:#?}", run.log.lock());
    stop(slow, Command::Close).await;
    stop(busy, Command::Close).await;
    assert_disjoint_generations(&run, &[]);
}
