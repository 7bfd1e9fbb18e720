//! The scenario file format: a TOML story of a cluster and ordered steps, some of
//! which run in the background until awaited. `scenarios/README.md` documents every
//! field; the types here are the format's single definition, and unknown keys are
//! refused so a typo never passes silently.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use rand::Rng;
use serde::Deserialize;
use thiserror::Error;

use crate::checker::DeliveryMode;

/// Steps a file may hold (a bound on what one story can start).
pub const STEPS_MAX: usize = 1_000;
/// Producers or consumers one step may start.
pub const CLIENTS_PER_STEP_MAX: u32 = 64;
/// The longest record value a produce step may ask for.
pub const RECORD_BYTES_MAX: usize = 1 << 20;
/// The most input records one pipeline transaction may carry.
pub const PIPELINE_BATCH_MAX: u32 = 10_000;

/// Why a scenario file cannot be run.
#[derive(Debug, Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// Not TOML, or not the format.
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    /// Well-formed, but a step contradicts the story so far.
    #[error("{path}: step {step} ({kind}): {message}")]
    Invalid {
        path: String,
        step: usize,
        kind: &'static str,
        message: String,
    },
}

/// A whole story.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A short title for reports.
    pub name: String,
    /// What the story shows, for a reader of the file.
    #[serde(default)]
    pub description: String,
    /// The cluster the story runs on.
    #[serde(default)]
    pub cluster: ClusterSpec,
    /// The steps, in order.
    #[serde(rename = "step", default)]
    pub steps: Vec<Step>,
}

/// The cluster section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    /// How many brokers (numbered from 1).
    #[serde(default = "one")]
    pub brokers: u32,
    /// Broker settings by Kafka property name, written to every broker's config file.
    #[serde(default)]
    pub config: BTreeMap<String, toml::Value>,
    /// The targets the story may run on; empty means every target that supports
    /// its steps.
    #[serde(default)]
    pub targets: Vec<TargetKind>,
}

impl Default for ClusterSpec {
    fn default() -> Self {
        Self {
            brokers: 1,
            config: BTreeMap::new(),
            targets: Vec::new(),
        }
    }
}

/// Where the brokers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum TargetKind {
    /// One broker inside the driver's process (graceful stop and restart only).
    InProcess,
    /// Release `weir-broker` processes on 127.0.0.1, signalled by the driver.
    Processes,
    /// The three containers of `docker/compose.yml` (image `weir-broker:dev`),
    /// one compose project per run; the only target that can cut the network
    /// between brokers.
    Docker,
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InProcess => "in-process",
            Self::Processes => "processes",
            Self::Docker => "docker",
        })
    }
}

/// A duration in milliseconds, fixed (`500`) or drawn from the run's seed
/// (`[200, 800]`, both ends included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Millis {
    /// Exactly this long.
    Fixed(u64),
    /// Somewhere in this range.
    Range([u64; 2]),
}

impl Millis {
    /// The duration for this run.
    pub fn pick(self, rng: &mut impl Rng) -> std::time::Duration {
        let ms = match self {
            Self::Fixed(ms) => ms,
            Self::Range([lo, hi]) => rng.random_range(lo.min(hi)..=hi.max(lo)),
        };
        std::time::Duration::from_millis(ms)
    }
}

/// One step. `do` names the kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "do", rename_all = "kebab-case")]
pub enum Step {
    /// Create a topic.
    CreateTopic(CreateTopic),
    /// Send records.
    Produce(Produce),
    /// Start a consumer group (always in the background).
    Consume(Consume),
    /// Start an exactly-once consume-transform-produce pipeline (in the background).
    Pipeline(Pipeline),
    /// Add members to a running consume step.
    AddConsumer(AddConsumer),
    /// Remove members from a running consume step.
    RemoveConsumer(RemoveConsumer),
    /// SIGKILL a broker.
    KillBroker(BrokerRef),
    /// SIGTERM a broker and wait for it to exit.
    StopBroker(BrokerRef),
    /// Start a broker that was killed or stopped (a running one is stopped first).
    RestartBroker(Restart),
    /// SIGSTOP a broker.
    PauseBroker(BrokerRef),
    /// SIGCONT a paused broker.
    ResumeBroker(BrokerRef),
    /// Cut a broker from the other brokers (replication, broker link, Raft)
    /// while its clients still reach it.
    IsolateBroker(BrokerRef),
    /// Join an isolated broker to the other brokers again.
    HealBroker(BrokerRef),
    /// Sleep.
    Wait(Wait),
    /// Wait for a background step to finish.
    Await(Await),
    /// Check something about the cluster now.
    Assert(Assert),
}

impl Step {
    /// The `do` name.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::CreateTopic(_) => "create-topic",
            Self::Produce(_) => "produce",
            Self::Consume(_) => "consume",
            Self::Pipeline(_) => "pipeline",
            Self::AddConsumer(_) => "add-consumer",
            Self::RemoveConsumer(_) => "remove-consumer",
            Self::KillBroker(_) => "kill-broker",
            Self::StopBroker(_) => "stop-broker",
            Self::RestartBroker(_) => "restart-broker",
            Self::PauseBroker(_) => "pause-broker",
            Self::ResumeBroker(_) => "resume-broker",
            Self::IsolateBroker(_) => "isolate-broker",
            Self::HealBroker(_) => "heal-broker",
            Self::Wait(_) => "wait",
            Self::Await(_) => "await",
            Self::Assert(_) => "assert",
        }
    }

    /// Whether the step needs a broker process to signal.
    pub fn needs_signals(&self) -> bool {
        matches!(
            self,
            Self::KillBroker(_) | Self::PauseBroker(_) | Self::ResumeBroker(_)
        ) || matches!(self, Self::RestartBroker(r) if r.wipe_data)
            || self.needs_network()
    }

    /// Whether the step cuts or heals the network between brokers (docker only).
    pub fn needs_network(&self) -> bool {
        matches!(self, Self::IsolateBroker(_) | Self::HealBroker(_))
    }
}

/// `do = "create-topic"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTopic {
    pub topic: String,
    #[serde(default = "one_i32")]
    pub partitions: i32,
    #[serde(default = "one_i16")]
    pub replication_factor: i16,
    /// Topic configs by Kafka name (`retention.ms = "60000"`).
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
}

/// Acknowledgements a producer asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Acks {
    /// `acks = "0"`: nothing is acknowledged, so every send is logged `unknown`.
    #[serde(rename = "0")]
    None,
    /// `acks = "1"`: the leader appended it.
    #[serde(rename = "1")]
    Leader,
    /// `acks = "all"`: every in-sync replica has it.
    #[serde(rename = "all")]
    All,
}

impl Acks {
    /// The wire value.
    pub fn code(self) -> i16 {
        match self {
            Self::None => 0,
            Self::Leader => 1,
            Self::All => -1,
        }
    }
}

/// `do = "produce"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Produce {
    /// Names the step for `await`; needed when `background = true`.
    pub id: Option<String>,
    pub topic: String,
    /// Records per producer (scaled by `--scale`). One of `count`, `duration_ms`.
    pub count: Option<u64>,
    /// Or send for this long (scaled by `--scale`).
    pub duration_ms: Option<u64>,
    /// Records per second per producer; 0 sends as fast as the client accepts.
    #[serde(default)]
    pub rate: u32,
    /// Bytes per record value (at least the value's unique id).
    #[serde(default = "record_bytes")]
    pub record_bytes: usize,
    /// Keys cycle through this many distinct keys; 0 sends no keys.
    #[serde(default)]
    pub keys: u32,
    /// Headers put on records (every `header_every`-th one).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Put `headers` on every n-th record only (1: on all).
    #[serde(default = "one")]
    pub header_every: u32,
    #[serde(default = "acks_all")]
    pub acks: Acks,
    #[serde(default = "yes")]
    pub idempotent: bool,
    /// Producers sending in parallel, each `count` records.
    #[serde(default = "one")]
    pub producers: u32,
    /// `linger.ms`; with `batch_bytes` this turns batching up or down.
    #[serde(default = "linger_ms")]
    pub linger_ms: u64,
    /// `batch.size`.
    #[serde(default = "batch_bytes")]
    pub batch_bytes: usize,
    /// `delivery.timeout.ms`: how long a record may wait for its acknowledgement,
    /// retries included, before it fails (30 s).
    #[serde(default = "delivery_timeout_ms")]
    pub delivery_timeout_ms: u64,
    /// Run while later steps go on; `await` it by `id`.
    #[serde(default)]
    pub background: bool,
}

/// `do = "consume"`: a group of members that run until awaited (or the story ends).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consume {
    /// Names the group's step for `await`, `add-consumer`, `remove-consumer`.
    pub id: String,
    pub topic: String,
    pub group: String,
    #[serde(default = "one")]
    pub consumers: u32,
    #[serde(default = "at_least_once")]
    pub delivery: Delivery,
    /// `key=value`: only records with this header reach the application.
    pub header_filter: Option<String>,
    /// Time the application spends on each record.
    #[serde(default)]
    pub processing_delay_ms: u64,
    /// `range`, `roundrobin` or `cooperative-sticky`.
    #[serde(default = "range")]
    pub assignor: String,
    #[serde(default = "session_timeout_ms")]
    pub session_timeout_ms: u64,
}

/// `do = "pipeline"`: group members that read `input` with read_committed and, one
/// transaction per batch, write each record to `output` (its value naming the
/// input record) and commit the batch's input offsets with it
/// (`send_offsets_to_transaction`). Runs until awaited (or the story ends).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// Names the step for `await`.
    pub id: String,
    /// The topic read (written by a produce step of the story).
    pub input: String,
    /// The topic written, by this pipeline alone.
    pub output: String,
    pub group: String,
    /// Member `n` (from 0) runs as `transactional.id` `"<transactional_id>-<n>"`.
    pub transactional_id: String,
    /// Members of the group, each with its own transactional producer.
    #[serde(default = "one")]
    pub consumers: u32,
    /// Input records per transaction at most.
    #[serde(default = "pipeline_batch")]
    pub batch: u32,
    /// Abort every n-th transaction of each member (after its records were
    /// written) and rewind to the group's committed offsets; 0 never aborts.
    #[serde(default)]
    pub abort_every: u32,
    /// Input records the pipeline must move (scaled by `--scale`): `await`
    /// returns once the group's committed offsets reach the end of every input
    /// partition and cover this many (or, once no produce step still writes
    /// the input, just reach its end).
    pub count: u64,
    /// `transaction.timeout.ms`: an open transaction older than this is
    /// aborted by its coordinator.
    #[serde(default = "transaction_timeout_ms")]
    pub transaction_timeout_ms: u64,
    #[serde(default = "session_timeout_ms")]
    pub session_timeout_ms: u64,
}

/// The delivery mode as written in files (and on the command line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Delivery {
    AtLeastOnce,
    AtMostOnce,
}

impl Delivery {
    /// The name files use.
    pub fn name(self) -> &'static str {
        match self {
            Self::AtLeastOnce => "at-least-once",
            Self::AtMostOnce => "at-most-once",
        }
    }
}

impl From<Delivery> for DeliveryMode {
    fn from(d: Delivery) -> Self {
        match d {
            Delivery::AtLeastOnce => Self::AtLeastOnce,
            Delivery::AtMostOnce => Self::AtMostOnce,
        }
    }
}

/// `do = "add-consumer"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddConsumer {
    /// The consume step's `id`.
    pub to: String,
    #[serde(default = "one")]
    pub count: u32,
}

/// How a member goes away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Removal {
    /// Commit (at-least-once), revoke and leave the group.
    Graceful,
    /// Vanish: no commit, no LeaveGroup; the session times out.
    Killed,
}

/// `do = "remove-consumer"`: the most recently added members go first.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveConsumer {
    /// The consume step's `id`.
    pub from: String,
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default = "graceful")]
    pub how: Removal,
}

/// A broker by number (from 1), or by its role when the step runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerRef {
    #[serde(default)]
    pub broker: BrokerPick,
}

/// `do = "restart-broker"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Restart {
    #[serde(default)]
    pub broker: BrokerPick,
    /// Start on an emptied data directory: loses everything. Only for showing that
    /// the checker catches real loss; no story in `files/` does it.
    #[serde(default)]
    pub wipe_data: bool,
}

/// Which broker a step acts on: `broker = 2`, or a role resolved from the cluster's
/// metadata at the moment the step runs (`"leader of orders-0"`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawPick")]
pub enum BrokerPick {
    /// This broker id.
    Id(u32),
    /// The partition's leader.
    LeaderOf { topic: String, partition: i32 },
    /// An in-sync replica of the partition that is not its leader.
    FollowerOf { topic: String, partition: i32 },
    /// The active controller.
    Controller,
    /// The group's coordinator (FindCoordinator).
    CoordinatorOf { group: String },
    /// The transaction coordinator of a transactional id: the leader of its
    /// `__transaction_state` partition.
    TxnCoordinatorOf { transactional_id: String },
    /// The broker the latest broker step acted on (to restart or resume it).
    Last,
}

impl Default for BrokerPick {
    fn default() -> Self {
        Self::Id(1)
    }
}

/// What a file may write for `broker`: a number or a role.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawPick {
    Id(u32),
    Role(String),
}

impl TryFrom<RawPick> for BrokerPick {
    type Error = String;

    fn try_from(raw: RawPick) -> Result<Self, String> {
        let role = match raw {
            RawPick::Id(id) => return Ok(Self::Id(id)),
            RawPick::Role(role) => role,
        };
        let role = role.trim();
        let partition_of = |text: &str| -> Result<(String, i32), String> {
            let (topic, partition) = text
                .rsplit_once('-')
                .ok_or_else(|| format!("{text:?} is not topic-partition"))?;
            let partition = partition
                .parse()
                .map_err(|_| format!("{text:?} is not topic-partition"))?;
            if topic.is_empty() {
                return Err(format!("{text:?} has no topic"));
            }
            Ok((topic.to_owned(), partition))
        };
        if role == "controller" {
            Ok(Self::Controller)
        } else if role == "last" {
            Ok(Self::Last)
        } else if let Some(rest) = role.strip_prefix("leader of ") {
            let (topic, partition) = partition_of(rest.trim())?;
            Ok(Self::LeaderOf { topic, partition })
        } else if let Some(rest) = role.strip_prefix("follower of ") {
            let (topic, partition) = partition_of(rest.trim())?;
            Ok(Self::FollowerOf { topic, partition })
        } else if let Some(group) = role.strip_prefix("coordinator of group ") {
            Ok(Self::CoordinatorOf {
                group: group.trim().to_owned(),
            })
        } else if let Some(id) = role.strip_prefix("coordinator of transaction ") {
            Ok(Self::TxnCoordinatorOf {
                transactional_id: id.trim().to_owned(),
            })
        } else {
            Err(format!(
                "broker {role:?}: give a number, \"leader of T-P\", \"follower of T-P\", \
                 \"controller\", \"coordinator of group G\", \
                 \"coordinator of transaction ID\" or \"last\""
            ))
        }
    }
}

impl fmt::Display for BrokerPick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => write!(f, "{id}"),
            Self::LeaderOf { topic, partition } => write!(f, "leader of {topic}-{partition}"),
            Self::FollowerOf { topic, partition } => write!(f, "follower of {topic}-{partition}"),
            Self::Controller => f.write_str("controller"),
            Self::CoordinatorOf { group } => write!(f, "coordinator of group {group}"),
            Self::TxnCoordinatorOf { transactional_id } => {
                write!(f, "coordinator of transaction {transactional_id}")
            }
            Self::Last => f.write_str("last"),
        }
    }
}

/// `do = "wait"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wait {
    pub ms: Millis,
}

/// `do = "await"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Await {
    /// A background produce step, a consume step (which then reads until the
    /// group's lag is 0 and closes its members), or a pipeline step (which then
    /// runs until its group has committed its `count` and the input's end).
    pub id: String,
    #[serde(default = "await_timeout_ms")]
    pub timeout_ms: u64,
}

/// `do = "assert"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assert {
    pub check: Check,
    /// The group, for `members` and `lag`.
    pub group: Option<String>,
    /// The consume or produce step, for `delivered` and `acked`.
    pub step: Option<String>,
    /// The topic, for `in-sync`.
    pub topic: Option<String>,
    /// The broker, for `reachable` and `fenced`.
    pub broker: Option<BrokerPick>,
    /// The number the check compares with.
    #[serde(default)]
    pub equals: Option<u64>,
    /// Or a lower bound.
    #[serde(default)]
    pub at_least: Option<u64>,
    /// Keep checking until it holds or this passes.
    #[serde(default = "within_ms")]
    pub within_ms: u64,
}

/// What an `assert` step checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// The group has `equals` members, as the coordinator describes it.
    Members,
    /// The group's committed offsets reach the log end of every partition.
    LagZero,
    /// Records acknowledged so far by a produce step (`equals` or `at_least`).
    Acked,
    /// Records handed to the application so far by a consume step's members.
    Delivered,
    /// Every partition of the topic has a leader and all its replicas in sync,
    /// as every broker that is up tells it (asked one by one, so a broker that
    /// was cut off and still shows its old view holds the check back).
    InSync,
    /// The broker answers a client on its own (Metadata asked of it alone): a
    /// broker cut from the others still serves its clients.
    Reachable,
    /// Every other broker that is up, asked alone, names a controller and no
    /// longer lists the broker (its lease ran out; its leaderships moved).
    Fenced,
}

fn one() -> u32 {
    1
}
fn one_i32() -> i32 {
    1
}
fn one_i16() -> i16 {
    1
}
fn yes() -> bool {
    true
}
fn record_bytes() -> usize {
    64
}
fn acks_all() -> Acks {
    Acks::All
}
fn linger_ms() -> u64 {
    5
}
fn batch_bytes() -> usize {
    1 << 20
}
fn delivery_timeout_ms() -> u64 {
    30_000
}
fn at_least_once() -> Delivery {
    Delivery::AtLeastOnce
}
fn range() -> String {
    "range".into()
}
fn session_timeout_ms() -> u64 {
    6_000
}
fn pipeline_batch() -> u32 {
    50
}
fn transaction_timeout_ms() -> u64 {
    10_000
}
fn graceful() -> Removal {
    Removal::Graceful
}
fn await_timeout_ms() -> u64 {
    60_000
}
fn within_ms() -> u64 {
    10_000
}

impl Scenario {
    /// Reads and validates a file.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::parse(&text, &shown)
    }

    /// Parses and validates a file's text; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Self, ScenarioError> {
        let scenario: Self = toml::from_str(text).map_err(|e| ScenarioError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        scenario.validate(path)?;
        Ok(scenario)
    }

    /// Whether some step kills, stops, restarts or pauses a broker.
    pub fn has_broker_faults(&self) -> bool {
        self.steps.iter().any(|step| {
            matches!(
                step,
                Step::KillBroker(_)
                    | Step::StopBroker(_)
                    | Step::RestartBroker(_)
                    | Step::PauseBroker(_)
                    | Step::IsolateBroker(_)
            )
        })
    }

    /// Whether some step needs a broker process to signal.
    pub fn needs_signals(&self) -> bool {
        self.steps.iter().any(Step::needs_signals)
    }

    /// Whether the file may run on `target`.
    pub fn supports(&self, target: TargetKind) -> Result<(), String> {
        if !self.cluster.targets.is_empty() && !self.cluster.targets.contains(&target) {
            return Err(format!("the file lists targets {:?}", self.cluster.targets));
        }
        if target != TargetKind::Docker
            && let Some(step) = self.steps.iter().find(|s| s.needs_network())
        {
            return Err(format!("{} needs the docker target", step.kind()));
        }
        if target == TargetKind::Docker && self.cluster.brokers != crate::target::DOCKER_BROKERS {
            return Err(format!(
                "the docker target runs docker/compose.yml's {} brokers",
                crate::target::DOCKER_BROKERS
            ));
        }
        if target == TargetKind::InProcess {
            if self.cluster.brokers != 1 {
                return Err("in-process runs one broker".into());
            }
            if let Some(step) = self.steps.iter().find(|s| s.needs_signals()) {
                return Err(format!("{} needs a broker process to signal", step.kind()));
            }
        }
        Ok(())
    }

    /// Checks what serde cannot: names refer to earlier steps, counts are bounded.
    fn validate(&self, path: &str) -> Result<(), ScenarioError> {
        if self.steps.len() > STEPS_MAX {
            return Err(ScenarioError::Parse {
                path: path.to_owned(),
                message: format!("{} steps, at most {STEPS_MAX}", self.steps.len()),
            });
        }
        if self.cluster.brokers == 0 {
            return Err(ScenarioError::Parse {
                path: path.to_owned(),
                message: "cluster.brokers must be at least 1".into(),
            });
        }
        let mut names = Names::default();
        for (index, step) in self.steps.iter().enumerate() {
            let fail = |message: String| ScenarioError::Invalid {
                path: path.to_owned(),
                step: index + 1,
                kind: step.kind(),
                message,
            };
            validate_step(step, self.cluster.brokers, &mut names).map_err(fail)?;
        }
        // A pipeline reads a topic the story's producers write (the checker needs
        // its drain), and its output is written by nothing else.
        for (index, step) in self.steps.iter().enumerate() {
            let Step::Pipeline(p) = step else { continue };
            let fail = |message: String| ScenarioError::Invalid {
                path: path.to_owned(),
                step: index + 1,
                kind: step.kind(),
                message,
            };
            let writes = |topic: &str| {
                self.steps.iter().any(|s| match s {
                    Step::Produce(w) => w.topic == topic,
                    Step::Pipeline(w) => !std::ptr::eq(w, p) && w.output == topic,
                    _ => false,
                })
            };
            if !self
                .steps
                .iter()
                .any(|s| matches!(s, Step::Produce(w) if w.topic == p.input))
            {
                return Err(fail(format!(
                    "no produce step writes the input {:?}",
                    p.input
                )));
            }
            if p.output == p.input || writes(&p.output) {
                return Err(fail(format!(
                    "the output {:?} must be written by this pipeline alone",
                    p.output
                )));
            }
        }
        Ok(())
    }
}

/// The ids and topics defined by the steps validated so far.
#[derive(Default)]
struct Names<'a> {
    topics: Vec<&'a str>,
    producers: Vec<&'a str>,
    groups: Vec<&'a str>,
    pipelines: Vec<&'a str>,
}

impl Names<'_> {
    /// Whether `id` names no step yet.
    fn fresh(&self, id: &str) -> Result<(), String> {
        if self.producers.contains(&id) || self.groups.contains(&id) || self.pipelines.contains(&id)
        {
            Err(format!("id {id:?} is used twice"))
        } else {
            Ok(())
        }
    }
}

/// One step's checks against the names defined so far (which it may extend).
fn validate_step<'a>(step: &'a Step, brokers: u32, names: &mut Names<'a>) -> Result<(), String> {
    let known = |names: &[&str], id: &str, what: &str| {
        if names.contains(&id) {
            Ok(())
        } else {
            Err(format!("no earlier {what} step has id {id:?}"))
        }
    };
    let topics = &names.topics;
    match step {
        Step::CreateTopic(t) => {
            if t.partitions < 1 || t.replication_factor < 1 {
                return Err("partitions and replication_factor must be at least 1".into());
            }
            names.topics.push(&t.topic);
        }
        Step::Produce(p) => {
            known(topics, &p.topic, "create-topic")?;
            if p.count.is_some() == p.duration_ms.is_some() {
                return Err("give exactly one of count and duration_ms".into());
            }
            if p.producers == 0 || p.producers > CLIENTS_PER_STEP_MAX {
                return Err(format!("producers must be 1..={CLIENTS_PER_STEP_MAX}"));
            }
            if p.record_bytes > RECORD_BYTES_MAX || p.header_every == 0 {
                return Err(format!(
                    "record_bytes must be at most {RECORD_BYTES_MAX} and header_every at least 1"
                ));
            }
            if p.duration_ms.is_some() && p.rate == 0 {
                return Err("a duration_ms produce needs a rate".into());
            }
            match (&p.id, p.background) {
                (Some(id), _) => {
                    names.fresh(id)?;
                    names.producers.push(id);
                }
                (None, true) => return Err("a background produce needs an id".into()),
                (None, false) => {}
            }
        }
        Step::Consume(c) => {
            known(topics, &c.topic, "create-topic")?;
            names.fresh(&c.id)?;
            if c.consumers > CLIENTS_PER_STEP_MAX {
                return Err(format!("consumers must be at most {CLIENTS_PER_STEP_MAX}"));
            }
            if let Some(filter) = &c.header_filter
                && !filter.contains('=')
            {
                return Err(format!("header_filter {filter:?} is not key=value"));
            }
            if !["range", "roundrobin", "cooperative-sticky"].contains(&c.assignor.as_str()) {
                return Err(format!("unknown assignor {:?}", c.assignor));
            }
            names.groups.push(&c.id);
        }
        Step::Pipeline(p) => {
            known(topics, &p.input, "create-topic")?;
            known(topics, &p.output, "create-topic")?;
            names.fresh(&p.id)?;
            if p.consumers == 0 || p.consumers > CLIENTS_PER_STEP_MAX {
                return Err(format!("consumers must be 1..={CLIENTS_PER_STEP_MAX}"));
            }
            if p.batch == 0 || p.batch > PIPELINE_BATCH_MAX {
                return Err(format!("batch must be 1..={PIPELINE_BATCH_MAX}"));
            }
            if p.count == 0 {
                return Err("count must be at least 1".into());
            }
            // Output values are `<transactional id>:<n>/<input place>/<input id>|`.
            if p.transactional_id.is_empty()
                || p.transactional_id.contains(['/', '|', ':'])
                || p.transactional_id.trim() != p.transactional_id
            {
                return Err(format!(
                    "transactional_id {:?} must be non-empty, without spaces around it \
                     and without '/', '|' or ':'",
                    p.transactional_id
                ));
            }
            names.pipelines.push(&p.id);
        }
        Step::AddConsumer(a) => known(&names.groups, &a.to, "consume")?,
        Step::RemoveConsumer(r) => known(&names.groups, &r.from, "consume")?,
        Step::KillBroker(b)
        | Step::StopBroker(b)
        | Step::PauseBroker(b)
        | Step::ResumeBroker(b)
        | Step::IsolateBroker(b)
        | Step::HealBroker(b) => check_broker(&b.broker, brokers, topics)?,
        Step::RestartBroker(r) => check_broker(&r.broker, brokers, topics)?,
        Step::Wait(_) => {}
        Step::Await(a) => {
            let id = a.id.as_str();
            if !names.producers.contains(&id)
                && !names.groups.contains(&id)
                && !names.pipelines.contains(&id)
            {
                return Err(format!(
                    "no earlier produce, consume or pipeline step has id {:?}",
                    a.id
                ));
            }
        }
        Step::Assert(a) => match a.check {
            Check::Members | Check::LagZero => {
                if a.group.is_none() {
                    return Err("this check needs a group".into());
                }
                if a.check == Check::Members && a.equals.is_none() {
                    return Err("members needs equals".into());
                }
            }
            Check::InSync => {
                let topic = a.topic.as_deref().ok_or("in-sync needs a topic")?;
                known(topics, topic, "create-topic")?;
            }
            Check::Reachable | Check::Fenced => {
                let broker = a.broker.as_ref().ok_or("this check needs a broker")?;
                check_broker(broker, brokers, topics)?;
            }
            Check::Acked | Check::Delivered => {
                let step_id = a.step.as_deref().ok_or("this check needs a step")?;
                let ids: &[&str] = if a.check == Check::Acked {
                    &names.producers
                } else {
                    &names.groups
                };
                known(ids, step_id, "matching")?;
                if a.equals.is_none() && a.at_least.is_none() {
                    return Err("give equals or at_least".into());
                }
            }
        },
    }
    Ok(())
}

fn check_broker(pick: &BrokerPick, brokers: u32, topics: &[&str]) -> Result<(), String> {
    match pick {
        BrokerPick::Id(broker) if *broker == 0 || *broker > brokers => {
            Err(format!("broker {broker} is not in 1..={brokers}"))
        }
        BrokerPick::LeaderOf { topic, .. } | BrokerPick::FollowerOf { topic, .. }
            if !topics.contains(&topic.as_str()) =>
        {
            Err(format!("no earlier create-topic step has topic {topic:?}"))
        }
        _ => Ok(()),
    }
}
