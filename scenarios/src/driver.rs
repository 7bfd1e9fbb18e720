//! The driver: replays a scenario's steps against a cluster on one target with one
//! client backend, records every operation, and at the end drains each topic with a
//! fresh reader, reads each group's committed offsets and runs the checker.

mod checks;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::task::JoinHandle;
use weir_client::admin::{Admin, NewTopic};
use weir_client::cluster::ClientConfig;

use crate::backend::{
    Backend, BackendKind, MemberCommand, MemberHandle, MemberSpec, PipelineSpec, ProducerSpec,
    RetryOn, parse_filter, retry_client,
};
use crate::checker::Report;
use crate::history::OpKind;
use crate::recorder::Recorder;
use crate::scenario::{
    Assert, BrokerPick, Check, Consume, Pipeline, Produce, Removal, Scenario, Step, TargetKind,
};
use crate::target::Cluster;

pub use checks::CheckOutcome;

/// How long an admin call (create topic, describe group) keeps retrying.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a removed or closing member may take to leave.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(45);
/// How often `assert` and `await` look again.
const RECHECK_INTERVAL: Duration = Duration::from_millis(100);
/// How long one look at the cluster's metadata may take.
const RECHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a step waits for some broker that is up to hold the role it names.
const ROLE_TIMEOUT: Duration = Duration::from_secs(20);
/// The topic of the transaction coordinators' state.
const TXN_STATE_TOPIC: &str = "__transaction_state";
/// The broker setting that sizes it.
const TXN_STATE_PARTITIONS: &str = "transaction.state.log.num.partitions";

/// How to run a story.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub target: TargetKind,
    pub backend: BackendKind,
    /// Every random choice (wait ranges) comes from it.
    pub seed: u64,
    /// Multiplies produce counts and durations (soak runs).
    pub scale: f64,
    /// Where the run keeps its history, broker logs and data.
    pub dir: PathBuf,
}

/// What a run found.
#[derive(Debug)]
pub struct RunOutcome {
    /// The story's name.
    pub name: String,
    /// A step that could not be carried out (the story stopped there).
    pub error: Option<String>,
    /// The checker's verdicts.
    pub checks: Vec<CheckOutcome>,
    pub elapsed: Duration,
}

impl RunOutcome {
    /// Every step ran and no invariant was violated.
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.checks.iter().all(CheckOutcome::passed)
    }

    /// The reports, by what they checked.
    pub fn reports(&self) -> impl Iterator<Item = (&str, &Report)> {
        self.checks.iter().map(|c| (c.label.as_str(), &c.report))
    }
}

/// Who a history process is.
#[derive(Debug, Clone)]
enum Role {
    /// A producer of this topic, with what it sent.
    Producer(ProducerSpec),
    /// A member of this consume step.
    Member(String),
    /// The final drain of this topic.
    Drain(String),
    /// The reader of this consume or pipeline step's committed offsets.
    Offsets(String),
    /// A member of this pipeline step.
    PipelineMember(String),
    /// The read_committed read of this pipeline step's output.
    OutputRead(String),
}

/// A consume step while it runs.
struct Group {
    spec: Consume,
    members: Vec<MemberHandle>,
    closed: bool,
}

/// The tasks of a step's clients, each ending with the client's outcome.
type ClientTasks = Vec<JoinHandle<anyhow::Result<()>>>;

/// A pipeline step while it runs.
struct PipelineRun {
    spec: Pipeline,
    /// Input records to move, scaled.
    count: u64,
    members: Vec<MemberHandle>,
    closed: bool,
}

struct Driver {
    rng: StdRng,
    scale: f64,
    cluster: Cluster,
    backend: Backend,
    admin: Admin,
    recorder: Recorder,
    roles: BTreeMap<u32, Role>,
    /// Background produce steps by id, with the topic they write.
    producing: HashMap<String, (String, ClientTasks)>,
    groups: BTreeMap<String, Group>,
    pipelines: BTreeMap<String, PipelineRun>,
    /// Partitions of `__transaction_state` (the story's setting or the broker's
    /// default), to find a transactional id's coordinator.
    txn_state_partitions: i32,
    /// The broker the latest broker step acted on (`broker = "last"`).
    last_broker: Option<u32>,
    /// `steps.log` in the run's directory: what [`Driver::say`] prints, kept with
    /// the history (which broker each role resolved to, for one).
    steps_log: Option<std::fs::File>,
    started: Instant,
}

/// Runs `scenario` and checks what happened.
pub async fn run(scenario: &Scenario, config: &RunConfig) -> anyhow::Result<RunOutcome> {
    scenario.supports(config.target).map_err(|why| {
        anyhow::anyhow!("{} cannot run on {}: {why}", scenario.name, config.target)
    })?;
    if config.dir.exists() {
        // A replay with the same seed starts from empty brokers, as the first did.
        std::fs::remove_dir_all(&config.dir)
            .with_context(|| format!("emptying {}", config.dir.display()))?;
    }
    std::fs::create_dir_all(&config.dir)
        .with_context(|| format!("creating {}", config.dir.display()))?;
    let started = Instant::now();
    let cluster = Cluster::start(config.target, &scenario.cluster, &config.dir).await?;
    let bootstrap = cluster.bootstrap();
    let mut client = ClientConfig::new(&bootstrap);
    client.client_id = "weir-scenarios-admin".into();
    client.request_timeout = Duration::from_secs(5);
    let mut driver = Driver {
        rng: StdRng::seed_from_u64(config.seed),
        scale: config.scale,
        cluster,
        backend: Backend {
            kind: config.backend,
            bootstrap,
            client_log: config.dir.join("clients.log"),
        },
        admin: Admin::new(client)?,
        recorder: Recorder::new(),
        roles: BTreeMap::new(),
        producing: HashMap::new(),
        groups: BTreeMap::new(),
        pipelines: BTreeMap::new(),
        txn_state_partitions: txn_state_partitions(scenario),
        last_broker: None,
        steps_log: std::fs::File::create(config.dir.join("steps.log")).ok(),
        started,
    };
    let mut error = None;
    for (index, step) in scenario.steps.iter().enumerate() {
        driver.say(&format!("step {}: {}", index + 1, step.kind()));
        if let Err(e) = driver.step(index, step).await {
            let message = format!("step {} ({}): {e:#}", index + 1, step.kind());
            driver.say(&format!("FAILED {message}"));
            error = Some(message);
            break;
        }
    }
    if let Err(e) = driver.finish().await {
        let message = format!("end of story: {e:#}");
        driver.say(&format!("FAILED {message}"));
        error.get_or_insert(message);
    }
    let history = driver.recorder.history();
    let history_path = config.dir.join("history.jsonl");
    let file = std::fs::File::create(&history_path)
        .with_context(|| format!("creating {}", history_path.display()))?;
    history.write_jsonl(std::io::BufWriter::new(file))?;
    let checks = checks::run(
        &history,
        &driver.roles,
        &driver.groups,
        &driver.pipelines,
        &config.dir,
    )?;
    driver.cluster.shutdown().await;
    Ok(RunOutcome {
        name: scenario.name.clone(),
        error,
        checks,
        elapsed: started.elapsed(),
    })
}

impl Driver {
    fn say(&self, line: &str) {
        let line = format!("[{:>8.3}s] {line}", self.started.elapsed().as_secs_f64());
        println!("{line}");
        if let Some(mut file) = self.steps_log.as_ref() {
            // The log is a convenience beside the history; stdout has every line.
            let _ = writeln!(file, "{line}");
        }
    }

    fn next_process(&mut self, role: Role) -> u32 {
        let process = u32::try_from(self.roles.len()).unwrap_or(u32::MAX);
        self.roles.insert(process, role);
        process
    }

    async fn step(&mut self, index: usize, step: &Step) -> anyhow::Result<()> {
        match step {
            Step::CreateTopic(t) => {
                let mut topic = NewTopic::new(t.topic.clone(), t.partitions);
                topic.replication_factor = t.replication_factor;
                topic.configs = t.configs.clone().into_iter().collect();
                let results =
                    retry_client("create topic", ADMIN_TIMEOUT, RetryOn::Retriable, || {
                        self.admin
                            .create_topics(std::slice::from_ref(&topic), false)
                    })
                    .await?;
                for result in results {
                    result.with_context(|| format!("creating {}", t.topic))?;
                }
                Ok(())
            }
            Step::Produce(p) => {
                let name = p.id.clone().unwrap_or_else(|| format!("step{}", index + 1));
                let tasks = self.start_producers(&name, p);
                if p.background {
                    self.producing.insert(name, (p.topic.clone(), tasks));
                    Ok(())
                } else {
                    join_all(tasks).await
                }
            }
            Step::Consume(c) => {
                let mut group = Group {
                    spec: c.clone(),
                    members: Vec::new(),
                    closed: false,
                };
                for _ in 0..c.consumers {
                    let member = self.start_member(c);
                    group.members.push(member);
                }
                self.groups.insert(c.id.clone(), group);
                Ok(())
            }
            Step::Pipeline(p) => {
                let count = ((p.count as f64 * self.scale).round() as u64).max(1);
                let mut run = PipelineRun {
                    spec: p.clone(),
                    count,
                    members: Vec::new(),
                    closed: false,
                };
                for index in 0..p.consumers {
                    let process = self.next_process(Role::PipelineMember(p.id.clone()));
                    let spec = PipelineSpec {
                        step: p.id.clone(),
                        process,
                        input: p.input.clone(),
                        output: p.output.clone(),
                        group: p.group.clone(),
                        transactional_id: format!("{}-{index}", p.transactional_id),
                        batch: p.batch,
                        abort_every: p.abort_every,
                        transaction_timeout: Duration::from_millis(p.transaction_timeout_ms),
                        session_timeout: Duration::from_millis(p.session_timeout_ms),
                    };
                    run.members
                        .push(self.backend.spawn_pipeline(spec, self.recorder.clone()));
                }
                self.pipelines.insert(p.id.clone(), run);
                Ok(())
            }
            Step::AddConsumer(a) => {
                let spec = self.open_group(&a.to)?.spec.clone();
                for _ in 0..a.count {
                    let member = self.start_member(&spec);
                    self.open_group(&a.to)?.members.push(member);
                }
                Ok(())
            }
            Step::RemoveConsumer(r) => {
                let group = self.open_group(&r.from)?;
                anyhow::ensure!(
                    group.members.len() >= r.count as usize,
                    "{} has {} members, cannot remove {}",
                    r.from,
                    group.members.len(),
                    r.count
                );
                let split = group.members.len() - r.count as usize;
                let removed = group.members.split_off(split);
                let command = match r.how {
                    Removal::Graceful => MemberCommand::Close,
                    Removal::Killed => MemberCommand::Kill,
                };
                stop_members(removed, command).await
            }
            Step::KillBroker(b) => {
                let broker = self.pick(&b.broker).await?;
                self.cluster.kill(broker).await
            }
            Step::StopBroker(b) => {
                let broker = self.pick(&b.broker).await?;
                self.cluster.stop(broker).await
            }
            Step::RestartBroker(r) => {
                let broker = self.pick(&r.broker).await?;
                self.cluster.restart(broker, r.wipe_data).await
            }
            Step::PauseBroker(b) => {
                let broker = self.pick(&b.broker).await?;
                self.cluster.pause(broker).await
            }
            Step::ResumeBroker(b) => {
                let broker = self.pick(&b.broker).await?;
                self.cluster.resume(broker).await
            }
            Step::IsolateBroker(b) => {
                let broker = self.pick(&b.broker).await?;
                self.cluster.isolate(broker, true).await
            }
            Step::HealBroker(b) => {
                let broker = self.pick(&b.broker).await?;
                self.cluster.isolate(broker, false).await
            }
            Step::Wait(w) => {
                let pause = w.ms.pick(&mut self.rng);
                self.say(&format!("  waiting {} ms", pause.as_millis()));
                tokio::time::sleep(pause).await;
                Ok(())
            }
            Step::Await(a) => {
                self.await_step(&a.id, Duration::from_millis(a.timeout_ms))
                    .await
            }
            Step::Assert(a) => self.assert(a).await,
        }
    }

    /// The broker a step acts on: its number, or the broker holding the role now
    /// (among the brokers that are up), read from metadata until one does (at most
    /// [`ROLE_TIMEOUT`]). The choice is printed and remembered for `"last"`.
    async fn pick(&mut self, pick: &BrokerPick) -> anyhow::Result<u32> {
        let broker = match pick {
            BrokerPick::Id(id) => *id,
            BrokerPick::Last => self
                .last_broker
                .context("broker = \"last\", but no earlier step acted on a broker")?,
            role => {
                let deadline = Instant::now() + ROLE_TIMEOUT;
                loop {
                    let holder =
                        match tokio::time::timeout(RECHECK_TIMEOUT, self.role_holder(role)).await {
                            Ok(Ok(holder)) => holder,
                            Ok(Err(e)) => Err(format!("{e:#}")),
                            Err(_) => Err("metadata timed out".into()),
                        };
                    match holder {
                        Ok(id) => break id,
                        Err(why) => {
                            anyhow::ensure!(
                                Instant::now() < deadline,
                                "no broker that is up is the {role} within {ROLE_TIMEOUT:?} (last: {why})"
                            );
                            tokio::time::sleep(RECHECK_INTERVAL).await;
                        }
                    }
                }
            }
        };
        if !matches!(pick, BrokerPick::Id(_)) {
            self.say(&format!("  broker = {pick} -> broker {broker}"));
        }
        self.last_broker = Some(broker);
        Ok(broker)
    }

    /// The up broker holding `role` now, or why there is none (yet).
    async fn role_holder(&self, role: &BrokerPick) -> anyhow::Result<Result<u32, String>> {
        let admin = self.cluster.up_admin()?;
        let up = |id: i32| u32::try_from(id).ok().filter(|&id| self.cluster.is_up(id));
        let found = match role {
            BrokerPick::Id(id) => Some(*id),
            BrokerPick::Last => self.last_broker,
            BrokerPick::Controller => up(admin.cluster_info().await?.controller_id),
            BrokerPick::CoordinatorOf { group } => up(admin.find_coordinator(group).await?.node_id),
            BrokerPick::TxnCoordinatorOf { transactional_id } => {
                // As the broker places it: crc32c(id) mod the partition count.
                let partition = weir_broker::txn::log::partition_for(
                    transactional_id,
                    self.txn_state_partitions,
                );
                let info = admin.describe_topic(TXN_STATE_TOPIC).await?;
                let p = info
                    .partitions
                    .iter()
                    .find(|p| p.partition == partition)
                    .with_context(|| format!("{TXN_STATE_TOPIC} has no partition {partition}"))?;
                up(p.leader)
            }
            BrokerPick::LeaderOf { topic, partition }
            | BrokerPick::FollowerOf { topic, partition } => {
                let info = admin.describe_topic(topic).await?;
                let p = info
                    .partitions
                    .iter()
                    .find(|p| p.partition == *partition)
                    .with_context(|| format!("{topic} has no partition {partition}"))?;
                if matches!(role, BrokerPick::LeaderOf { .. }) {
                    up(p.leader)
                } else {
                    // The lowest id, so a seed replays the same choice.
                    p.isr
                        .iter()
                        .filter(|&&id| id != p.leader)
                        .filter_map(|&id| up(id))
                        .min()
                }
            }
        };
        Ok(found.ok_or_else(|| "held by no broker that is up".to_owned()))
    }

    fn start_producers(&mut self, name: &str, p: &Produce) -> Vec<JoinHandle<anyhow::Result<()>>> {
        let mut tasks = Vec::new();
        for _ in 0..p.producers {
            let mut spec = ProducerSpec {
                step: name.to_owned(),
                process: 0,
                topic: p.topic.clone(),
                count: p
                    .count
                    .map(|c| ((c as f64 * self.scale).round() as u64).max(1)),
                duration: p
                    .duration_ms
                    .map(|ms| Duration::from_millis((ms as f64 * self.scale).round() as u64)),
                rate: p.rate,
                record_bytes: p.record_bytes,
                keys: p.keys,
                headers: p.headers.clone().into_iter().collect(),
                header_every: p.header_every,
                acks: p.acks,
                idempotent: p.idempotent,
                linger: Duration::from_millis(p.linger_ms),
                batch_bytes: p.batch_bytes,
                delivery_timeout: Duration::from_millis(p.delivery_timeout_ms),
            };
            spec.process = self.next_process(Role::Producer(spec.clone()));
            tasks.push(self.backend.spawn_producer(spec, self.recorder.clone()));
        }
        tasks
    }

    fn start_member(&mut self, c: &Consume) -> MemberHandle {
        let process = self.next_process(Role::Member(c.id.clone()));
        let spec = MemberSpec {
            step: c.id.clone(),
            process,
            topic: c.topic.clone(),
            group: c.group.clone(),
            delivery: c.delivery,
            header_filter: c.header_filter.as_deref().and_then(parse_filter),
            processing_delay: Duration::from_millis(c.processing_delay_ms),
            assignor: c.assignor.clone(),
            session_timeout: Duration::from_millis(c.session_timeout_ms),
        };
        self.backend.spawn_member(spec, self.recorder.clone())
    }

    fn open_group(&mut self, id: &str) -> anyhow::Result<&mut Group> {
        let group = self
            .groups
            .get_mut(id)
            .with_context(|| format!("no consume step {id}"))?;
        anyhow::ensure!(!group.closed, "consume step {id} was already awaited");
        Ok(group)
    }

    /// Waits for a background produce step, for a group to catch up, or for a
    /// pipeline to move its records (then closes its members).
    async fn await_step(&mut self, id: &str, timeout: Duration) -> anyhow::Result<()> {
        if let Some((_, tasks)) = self.producing.remove(id) {
            return tokio::time::timeout(timeout, join_all(tasks))
                .await
                .with_context(|| format!("{id} did not finish within {timeout:?}"))?;
        }
        if self.pipelines.contains_key(id) {
            return self.await_pipeline(id, timeout).await;
        }
        let group = self.open_group(id)?.spec.group.clone();
        let deadline = Instant::now() + timeout;
        loop {
            match self.lag_zero(&group).await {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => tracing::debug!(error = %e, "reading the group's lag"),
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "group {group} did not catch up within {timeout:?}"
            );
            tokio::time::sleep(RECHECK_INTERVAL).await;
        }
        self.close_group(id).await
    }

    async fn close_group(&mut self, id: &str) -> anyhow::Result<()> {
        let group = self.open_group(id)?;
        group.closed = true;
        let members = std::mem::take(&mut group.members);
        stop_members(members, MemberCommand::Close).await
    }

    /// Waits until the pipeline's group has committed offsets covering its
    /// count and reaching the end of every input partition, then closes its
    /// members. A member that ends before is an error.
    async fn await_pipeline(&mut self, id: &str, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let result = loop {
            let run = self.open_pipeline(id)?;
            if let Some(index) = run.members.iter().position(|m| m.task.is_finished()) {
                let member = run.members.remove(index);
                let outcome = member.task.await.context("a pipeline member panicked")?;
                break Err(outcome.err().unwrap_or_else(|| {
                    anyhow::anyhow!("pipeline member {} ended on its own", member.process)
                }));
            }
            let (group, input, count) = (run.spec.group.clone(), run.spec.input.clone(), run.count);
            // Once nothing writes the input any more, its end is all there is to move
            // (a send whose outcome stayed unknown may never have been appended).
            let input_done = self
                .producing
                .values()
                .filter(|(topic, _)| *topic == input)
                .all(|(_, tasks)| tasks.iter().all(JoinHandle::is_finished));
            let last = match self.pipeline_progress(&group, &input).await {
                Ok((committed, ends)) => {
                    let moved: i64 = committed.values().sum();
                    let at_end = ends
                        .iter()
                        .all(|(p, end)| committed.get(p).copied().unwrap_or(0) >= *end);
                    if at_end && (input_done || u64::try_from(moved).unwrap_or(0) >= count) {
                        break Ok(());
                    }
                    format!("committed {committed:?}, input ends {ends:?}")
                }
                Err(e) => format!("{e:#}"),
            };
            if Instant::now() >= deadline {
                break Err(anyhow::anyhow!(
                    "pipeline {id} did not move {count} records to the input's end within \
                     {timeout:?} (last: {last})"
                ));
            }
            tokio::time::sleep(RECHECK_INTERVAL).await;
        };
        let closed = self.close_pipeline(id).await;
        result.and(closed)
    }

    /// The pipeline group's committed offsets on `input` and the input's ends.
    async fn pipeline_progress(
        &self,
        group: &str,
        input: &str,
    ) -> anyhow::Result<(BTreeMap<i32, i64>, BTreeMap<i32, i64>)> {
        let info = self.admin.describe_topic(input).await?;
        let partitions: Vec<(String, i32)> = info
            .partitions
            .iter()
            .map(|p| (input.to_owned(), p.partition))
            .collect();
        let ends = self
            .admin
            .list_offsets(&partitions, -1)
            .await?
            .into_iter()
            .map(|((_, p), end)| (p, end))
            .collect();
        let committed = self
            .admin
            .group_offsets(group)
            .await?
            .into_iter()
            .filter(|o| o.topic == input && o.offset >= 0)
            .map(|o| (o.partition, o.offset))
            .collect();
        Ok((committed, ends))
    }

    fn open_pipeline(&mut self, id: &str) -> anyhow::Result<&mut PipelineRun> {
        let run = self
            .pipelines
            .get_mut(id)
            .with_context(|| format!("no pipeline step {id}"))?;
        anyhow::ensure!(!run.closed, "pipeline step {id} was already awaited");
        Ok(run)
    }

    async fn close_pipeline(&mut self, id: &str) -> anyhow::Result<()> {
        let run = self.open_pipeline(id)?;
        run.closed = true;
        let members = std::mem::take(&mut run.members);
        stop_members(members, MemberCommand::Close).await
    }

    /// Whether `group`'s committed offsets reach every partition's log end.
    async fn lag_zero(&self, group: &str) -> anyhow::Result<bool> {
        let lags = self.admin.group_lag(group).await?;
        Ok(!lags.is_empty()
            && lags
                .iter()
                .all(|l| l.committed.unwrap_or(0) >= l.log_end_offset))
    }

    async fn assert(&mut self, a: &Assert) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_millis(a.within_ms);
        // The broker a check names is chosen once, as for a broker step.
        let broker = match &a.broker {
            Some(pick) => Some(self.pick(pick).await?),
            None => None,
        };
        loop {
            let (holds, last) = match a.check {
                Check::Members => {
                    let group = a.group.as_deref().unwrap_or_default();
                    match self.admin.describe_groups(&[group.to_owned()]).await {
                        Ok(described) => {
                            let members = match described.first() {
                                Some(Ok(g)) => g.members.len(),
                                _ => 0,
                            };
                            (compare(members as u64, a), format!("{members} members"))
                        }
                        Err(e) => (false, e.to_string()),
                    }
                }
                Check::LagZero => {
                    let group = a.group.as_deref().unwrap_or_default();
                    match self.lag_zero(group).await {
                        Ok(zero) => (zero, format!("lag zero: {zero}")),
                        Err(e) => (false, e.to_string()),
                    }
                }
                Check::Acked => {
                    let acked = self.recorder.acked(a.step.as_deref().unwrap_or_default());
                    (compare(acked, a), format!("{acked} acknowledged"))
                }
                Check::InSync => {
                    let topic = a.topic.as_deref().unwrap_or_default();
                    match self.in_sync(topic).await {
                        Ok(behind) => (
                            behind.is_empty(),
                            format!("partitions with replicas out of sync: {behind:?}"),
                        ),
                        Err(e) => (false, format!("{e:#}")),
                    }
                }
                Check::Delivered => {
                    let delivered = self
                        .recorder
                        .delivered(a.step.as_deref().unwrap_or_default());
                    (compare(delivered, a), format!("{delivered} delivered"))
                }
                Check::Reachable => {
                    let broker = broker.context("reachable needs a broker")?;
                    match self.reachable(broker).await {
                        Ok(line) => (true, line),
                        Err(e) => (false, format!("{e:#}")),
                    }
                }
                Check::Fenced => {
                    let broker = broker.context("fenced needs a broker")?;
                    match self.fenced(broker).await {
                        Ok(fenced) => fenced,
                        Err(e) => (false, format!("{e:#}")),
                    }
                }
            };
            if holds {
                self.say(&format!("  holds: {last}"));
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{:?} did not hold within {} ms (last: {last})",
                a.check,
                a.within_ms
            );
            tokio::time::sleep(RECHECK_INTERVAL).await;
        }
    }

    /// What `broker`, asked alone, answers to Metadata.
    async fn reachable(&self, broker: u32) -> anyhow::Result<String> {
        let admin = self.cluster.admin_of(broker)?;
        let info = tokio::time::timeout(RECHECK_TIMEOUT, admin.cluster_info())
            .await
            .context("metadata timed out")??;
        let listed: Vec<i32> = info.brokers.iter().map(|b| b.node_id).collect();
        Ok(format!(
            "broker {broker} answers: brokers {listed:?}, controller {}",
            info.controller_id
        ))
    }

    /// Whether every other broker that is up, asked alone, names a controller
    /// and leaves `broker` out of its brokers; and what they said.
    async fn fenced(&self, broker: u32) -> anyhow::Result<(bool, String)> {
        let mut holds = true;
        let mut views = Vec::new();
        for other in self.cluster.up().into_iter().filter(|&id| id != broker) {
            let admin = self.cluster.admin_of(other)?;
            let info = tokio::time::timeout(RECHECK_TIMEOUT, admin.cluster_info())
                .await
                .with_context(|| format!("broker {other}: metadata timed out"))??;
            let listed: Vec<i32> = info.brokers.iter().map(|b| b.node_id).collect();
            holds &= info.controller_id >= 0 && !listed.contains(&(broker as i32));
            views.push(format!(
                "broker {other}: brokers {listed:?}, controller {}",
                info.controller_id
            ));
        }
        anyhow::ensure!(!views.is_empty(), "no other broker is up");
        Ok((holds, views.join("; ")))
    }

    /// The partitions of `topic` that lack a leader or have replicas outside
    /// their ISR in the view of some broker that is up (each asked alone).
    async fn in_sync(&self, topic: &str) -> anyhow::Result<Vec<i32>> {
        let mut behind = BTreeSet::new();
        for broker in self.cluster.up() {
            let admin = self.cluster.admin_of(broker)?;
            let info = tokio::time::timeout(RECHECK_TIMEOUT, admin.describe_topic(topic))
                .await
                .with_context(|| format!("broker {broker}: metadata timed out"))??;
            behind.extend(
                info.partitions
                    .iter()
                    .filter(|p| p.leader < 0 || p.replicas.iter().any(|r| !p.isr.contains(r)))
                    .map(|p| p.partition),
            );
        }
        Ok(behind.into_iter().collect())
    }

    /// The end of the story: let background steps finish, drain every produced
    /// topic and read every group's committed offsets.
    async fn finish(&mut self) -> anyhow::Result<()> {
        let mut result = Ok(());
        let producing: Vec<String> = self.producing.keys().cloned().collect();
        for id in producing {
            self.say(&format!("awaiting {id}"));
            if let Err(e) = self.await_step(&id, Duration::from_secs(120)).await {
                result = Err(e);
            }
        }
        let open: Vec<String> = self
            .groups
            .iter()
            .filter(|(_, g)| !g.closed)
            .map(|(id, _)| id.clone())
            .collect();
        for id in open {
            self.say(&format!("awaiting {id}"));
            if let Err(e) = self.await_step(&id, Duration::from_secs(60)).await {
                // Close what is left, so the offsets read below are final.
                let _ = self.close_group(&id).await;
                result = result.and(Err(e));
            }
        }
        let running: Vec<String> = self
            .pipelines
            .iter()
            .filter(|(_, p)| !p.closed)
            .map(|(id, _)| id.clone())
            .collect();
        for id in running {
            self.say(&format!("awaiting {id}"));
            if let Err(e) = self.await_step(&id, Duration::from_secs(120)).await {
                if self.open_pipeline(&id).is_ok() {
                    let _ = self.close_pipeline(&id).await;
                }
                result = result.and(Err(e));
            }
        }
        let topics: BTreeSet<String> = self
            .roles
            .values()
            .filter_map(|r| match r {
                Role::Producer(spec) => Some(spec.topic.clone()),
                _ => None,
            })
            .collect();
        for topic in topics {
            self.say(&format!("draining {topic}"));
            let process = self.next_process(Role::Drain(topic.clone()));
            self.backend
                .drain(&topic, process, &self.recorder)
                .await
                .with_context(|| format!("draining {topic}"))?;
        }
        let groups: Vec<(String, String, String)> = self
            .groups
            .values()
            .map(|g| {
                (
                    g.spec.id.clone(),
                    g.spec.group.clone(),
                    g.spec.topic.clone(),
                )
            })
            .collect();
        let pipelines: Vec<(String, String, String, String)> = self
            .pipelines
            .values()
            .map(|p| {
                (
                    p.spec.id.clone(),
                    p.spec.group.clone(),
                    p.spec.input.clone(),
                    p.spec.output.clone(),
                )
            })
            .collect();
        for (id, _, _, output) in &pipelines {
            self.say(&format!("reading {output} with read_committed"));
            let process = self.next_process(Role::OutputRead(id.clone()));
            self.backend
                .read_committed(output, process, &self.recorder)
                .await
                .with_context(|| format!("reading {output} with read_committed"))?;
        }
        let groups = groups.into_iter().chain(
            pipelines
                .into_iter()
                .map(|(id, group, input, _)| (id, group, input)),
        );
        for (id, group, topic) in groups {
            let process = self.next_process(Role::Offsets(id));
            let committed = self
                .backend
                .committed(&group, &topic)
                .await
                .with_context(|| format!("reading {group}'s offsets"))?;
            for (partition, offset) in committed {
                self.recorder.record(
                    process,
                    "offsets",
                    OpKind::Committed {
                        partition,
                        offset,
                        generation: -1,
                    },
                );
            }
        }
        result
    }
}

fn compare(value: u64, a: &Assert) -> bool {
    a.equals.is_none_or(|want| value == want) && a.at_least.is_none_or(|min| value >= min)
}

/// Waits for every task; the first error wins.
async fn join_all(tasks: Vec<JoinHandle<anyhow::Result<()>>>) -> anyhow::Result<()> {
    let mut result = Ok(());
    for task in tasks {
        let outcome = task.await.context("a client task panicked").and_then(|r| r);
        if let Err(e) = outcome {
            result = result.and(Err(e));
        }
    }
    result
}

/// Tells members to close or vanish and waits until they have.
async fn stop_members(members: Vec<MemberHandle>, command: MemberCommand) -> anyhow::Result<()> {
    for member in &members {
        let _ = member.control.send(command);
    }
    let mut result = Ok(());
    for member in members {
        let process = member.process;
        match tokio::time::timeout(LEAVE_TIMEOUT, member.task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => result = result.and(Err(e.context(format!("member {process}")))),
            Ok(Err(e)) => {
                result = result.and(Err(anyhow::anyhow!("member {process} panicked: {e}")))
            }
            Err(_) => {
                result = result.and(Err(anyhow::anyhow!(
                    "member {process} did not stop within {LEAVE_TIMEOUT:?}"
                )))
            }
        }
    }
    result
}

/// Removes the brokers' data directories of a run (its history and logs stay).
pub fn remove_data(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.path().is_dir() && entry.file_name().to_string_lossy().starts_with("broker-") {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The partitions of `__transaction_state` the story's brokers run with.
fn txn_state_partitions(scenario: &Scenario) -> i32 {
    scenario
        .cluster
        .config
        .get(TXN_STATE_PARTITIONS)
        .and_then(|value| match value {
            toml::Value::Integer(n) => i32::try_from(*n).ok(),
            toml::Value::String(s) => s.parse().ok(),
            _ => None,
        })
        .unwrap_or_else(|| {
            weir_broker::config::BrokerConfig::default().transaction_state_log_num_partitions
        })
}
