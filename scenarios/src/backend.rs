//! The Kafka clients a story's producers, group members and final reader run on.
//! Client and broker share Weir's `protocol` module, so a bug on both sides could
//! cancel out: the same stories therefore also run on librdkafka (through the
//! confluent-kafka shim in `scenarios/shim/`), which no one here wrote.
//!
//! What is common to both lives here: the specs a step hands a backend, the unique
//! record values, pacing, and the rule that turns a failed send into `fail` or
//! `unknown`.

mod rdkafka;
mod weir;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use weir_client::error::ClientError;

use crate::history::{OpKind, SendOutcome, classify_send_error};
use crate::recorder::Recorder;
use crate::scenario::{Acks, Delivery};

/// How long a producer keeps retrying a record unless the step says otherwise (the
/// brokers may be down a while); also how long a producer may take to start.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one request may wait for its answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a final drain or offsets read may take.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest a group member runs before it closes on its own.
pub const MEMBER_LIFETIME_MAX: Duration = Duration::from_secs(30 * 60);

/// Which client library runs the story's clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendKind {
    /// `weir-client`.
    Weir,
    /// librdkafka, through confluent-kafka and `scenarios/shim/rdkafka_shim.py`.
    Librdkafka,
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Weir => "weir",
            Self::Librdkafka => "librdkafka",
        })
    }
}

/// One producer of a produce step.
#[derive(Debug, Clone)]
pub struct ProducerSpec {
    /// The step's name (its id, or `step-N`), which prefixes every value.
    pub step: String,
    /// The producer's process number in the history.
    pub process: u32,
    pub topic: String,
    /// Stop after this many records …
    pub count: Option<u64>,
    /// … or after this long.
    pub duration: Option<Duration>,
    /// Records per second; 0 for as fast as the client takes them.
    pub rate: u32,
    pub record_bytes: usize,
    pub keys: u32,
    pub headers: Vec<(String, String)>,
    pub header_every: u32,
    pub acks: Acks,
    pub idempotent: bool,
    pub linger: Duration,
    pub batch_bytes: usize,
    /// `delivery.timeout.ms`: a record not acknowledged by then fails.
    pub delivery_timeout: Duration,
}

/// One group member of a consume step.
#[derive(Debug, Clone)]
pub struct MemberSpec {
    /// The consume step's id.
    pub step: String,
    pub process: u32,
    pub topic: String,
    pub group: String,
    pub delivery: Delivery,
    /// `(key, value)` a record's headers must hold to reach the application.
    pub header_filter: Option<(String, String)>,
    pub processing_delay: Duration,
    pub assignor: String,
    pub session_timeout: Duration,
}

/// One member of a pipeline step: a read_committed group member with its own
/// transactional producer.
#[derive(Debug, Clone)]
pub struct PipelineSpec {
    /// The pipeline step's id.
    pub step: String,
    pub process: u32,
    pub input: String,
    pub output: String,
    pub group: String,
    /// This member's `transactional.id` (the step's prefix, `-`, its index).
    pub transactional_id: String,
    /// Input records per transaction at most.
    pub batch: u32,
    /// Abort every n-th transaction (0: never).
    pub abort_every: u32,
    pub transaction_timeout: Duration,
    pub session_timeout: Duration,
}

/// What the driver tells a running member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberCommand {
    /// Keep polling.
    Run,
    /// Commit (at-least-once), leave the group, stop.
    Close,
    /// Vanish without a word.
    Kill,
}

/// A running member.
pub struct MemberHandle {
    pub process: u32,
    pub control: watch::Sender<MemberCommand>,
    pub task: JoinHandle<anyhow::Result<()>>,
}

/// The chosen backend, with what it needs to start clients.
#[derive(Debug, Clone)]
pub struct Backend {
    pub kind: BackendKind,
    pub bootstrap: String,
    /// Where client processes (the librdkafka shim) write their logs.
    pub client_log: PathBuf,
}

impl Backend {
    fn shim(&self) -> rdkafka::Shim {
        rdkafka::Shim {
            bootstrap: self.bootstrap.clone(),
            log: self.client_log.clone(),
        }
    }

    /// Starts one producer; the task ends when every send has an outcome.
    pub fn spawn_producer(
        &self,
        spec: ProducerSpec,
        recorder: Recorder,
    ) -> JoinHandle<anyhow::Result<()>> {
        let bootstrap = self.bootstrap.clone();
        match self.kind {
            BackendKind::Weir => tokio::spawn(weir::produce(bootstrap, spec, recorder)),
            BackendKind::Librdkafka => tokio::spawn(rdkafka::produce(self.shim(), spec, recorder)),
        }
    }

    /// Starts one group member.
    pub fn spawn_member(&self, spec: MemberSpec, recorder: Recorder) -> MemberHandle {
        let (control, commands) = watch::channel(MemberCommand::Run);
        let process = spec.process;
        let bootstrap = self.bootstrap.clone();
        let task = match self.kind {
            BackendKind::Weir => tokio::spawn(weir::member(bootstrap, spec, recorder, commands)),
            BackendKind::Librdkafka => {
                tokio::spawn(rdkafka::member(self.shim(), spec, recorder, commands))
            }
        };
        MemberHandle {
            process,
            control,
            task,
        }
    }

    /// Starts one pipeline member.
    pub fn spawn_pipeline(&self, spec: PipelineSpec, recorder: Recorder) -> MemberHandle {
        let (control, commands) = watch::channel(MemberCommand::Run);
        let process = spec.process;
        let task = match self.kind {
            BackendKind::Weir => tokio::spawn(weir::pipeline(
                self.bootstrap.clone(),
                spec,
                recorder,
                commands,
            )),
            BackendKind::Librdkafka => {
                tokio::spawn(rdkafka::pipeline(self.shim(), spec, recorder, commands))
            }
        };
        MemberHandle {
            process,
            control,
            task,
        }
    }

    /// Reads every partition of `topic` from the beginning to its last stable
    /// offset with isolation.level=read_committed, once no transaction is open
    /// (bounded), as a fresh reader in assign mode, logging each record as
    /// `ReadCommitted` by `process`.
    pub async fn read_committed(
        &self,
        topic: &str,
        process: u32,
        recorder: &Recorder,
    ) -> anyhow::Result<()> {
        match self.kind {
            BackendKind::Weir => {
                weir::read_committed(&self.bootstrap, topic, process, recorder).await
            }
            BackendKind::Librdkafka => {
                rdkafka::read_committed(&self.shim(), topic, process, recorder).await
            }
        }
    }

    /// Reads every partition of `topic` from the beginning to its high watermark as
    /// a fresh reader in assign mode, logging each record as `Drained` by `process`,
    /// then each partition's high watermark as `EndOffset`.
    pub async fn drain(
        &self,
        topic: &str,
        process: u32,
        recorder: &Recorder,
    ) -> anyhow::Result<()> {
        match self.kind {
            BackendKind::Weir => weir::drain(&self.bootstrap, topic, process, recorder).await,
            BackendKind::Librdkafka => rdkafka::drain(&self.shim(), topic, process, recorder).await,
        }
    }

    /// The group's committed offset per partition of `topic` (absent: none).
    pub async fn committed(&self, group: &str, topic: &str) -> anyhow::Result<BTreeMap<i32, i64>> {
        match self.kind {
            BackendKind::Weir => weir::committed(&self.bootstrap, group, topic).await,
            BackendKind::Librdkafka => rdkafka::committed(&self.shim(), group, topic).await,
        }
    }
}

/// Which errors a [`retry_client`] loop waits out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryOn {
    /// Only those the client calls retriable (a refusal such as
    /// TOPIC_ALREADY_EXISTS ends the loop at once).
    Retriable,
    /// Every error: reads at the end of a story, when a restarted broker may still
    /// answer with errors that pass once it has loaded.
    Any,
}

/// Calls `call` until it works, a non-retried error comes, or `timeout` passes
/// (a broker may be down or restarting).
pub async fn retry_client<T, F, Fut>(
    what: &str,
    timeout: Duration,
    on: RetryOn,
    mut call: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match call().await {
            Ok(value) => return Ok(value),
            Err(e)
                if (on == RetryOn::Any || e.is_retriable())
                    && tokio::time::Instant::now() < deadline =>
            {
                tracing::debug!(error = %e, "{what} failed; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => {
                return Err(e).with_context(|| format!("{what} (tried for up to {timeout:?})"));
            }
        }
    }
}

/// The unique id of a producer's `seq`-th record; values on the wire are the id,
/// `|`, then padding up to the record size.
pub fn value_id(spec: &ProducerSpec, seq: u64) -> String {
    format!("{}-{}-{seq}", spec.step, spec.process)
}

/// The producer process and sequence number an id from [`value_id`] names.
pub fn parse_value_id(id: &str) -> Option<(u32, u64)> {
    let mut parts = id.rsplitn(3, '-');
    let seq = parts.next()?.parse().ok()?;
    let process = parts.next()?.parse().ok()?;
    Some((process, seq))
}

/// The value bytes for `id`.
pub fn payload(id: &str, record_bytes: usize) -> Vec<u8> {
    let mut value = Vec::with_capacity(record_bytes.max(id.len() + 1));
    value.extend_from_slice(id.as_bytes());
    value.push(b'|');
    value.resize(record_bytes.max(value.len()), b'.');
    value
}

/// The id a read value carries (what [`payload`] wrote before `|`).
pub fn id_of(value: &[u8]) -> String {
    let end = value.iter().position(|b| *b == b'|').unwrap_or(value.len());
    String::from_utf8_lossy(&value[..end]).into_owned()
}

/// The key of record `seq`, if the step sends keys.
pub fn key_of(spec: &ProducerSpec, seq: u64) -> Option<String> {
    (spec.keys > 0).then(|| format!("k{}", seq % u64::from(spec.keys)))
}

/// The headers of record `seq`.
pub fn headers_of(spec: &ProducerSpec, seq: u64) -> &[(String, String)] {
    if seq.is_multiple_of(u64::from(spec.header_every)) {
        &spec.headers
    } else {
        &[]
    }
}

/// Holds a producer to its rate and its count or duration.
pub struct Pacer {
    started: tokio::time::Instant,
    rate: u32,
    count: Option<u64>,
    duration: Option<Duration>,
}

impl Pacer {
    pub fn new(spec: &ProducerSpec) -> Self {
        Self {
            started: tokio::time::Instant::now(),
            rate: spec.rate,
            count: spec.count,
            duration: spec.duration,
        }
    }

    /// Waits until record `seq` is due; `false` once the producer is done.
    pub async fn next(&self, seq: u64) -> bool {
        if self.count.is_some_and(|count| seq >= count) {
            return false;
        }
        if self.rate > 0 {
            let due = self.started + Duration::from_secs_f64(seq as f64 / f64::from(self.rate));
            tokio::time::sleep_until(due).await;
        }
        self.duration
            .is_none_or(|duration| self.started.elapsed() < duration)
    }
}

/// The history event for a send that ended in an error. `code` is the Kafka error
/// code, if the error had one; `unsent` says that no request ever carried it.
pub fn failed_send(
    value: String,
    error: String,
    code: Option<i16>,
    unsent: bool,
    retried: bool,
) -> OpKind {
    let outcome = if unsent {
        SendOutcome::Fail
    } else {
        match code {
            Some(code) if code != 0 => classify_send_error(code, retried),
            _ => SendOutcome::Unknown,
        }
    };
    match outcome {
        SendOutcome::Fail => OpKind::SendFail { value, error },
        SendOutcome::Unknown => OpKind::SendUnknown { value, error },
    }
}

/// The history event for an acknowledgement: with acks=0 the "offset" is not one,
/// so the send's outcome stays unknown.
pub fn acked_send(value: String, partition: i32, offset: i64, acks: Acks) -> OpKind {
    if acks == Acks::None || offset < 0 {
        OpKind::SendUnknown {
            value,
            error: "acks=0: no acknowledgement".into(),
        }
    } else {
        OpKind::SendOk {
            value,
            partition,
            offset,
        }
    }
}

/// Parses a `key=value` header filter.
pub fn parse_filter(filter: &str) -> Option<(String, String)> {
    filter
        .split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_ids_name_their_producer_and_sequence() {
        let spec = ProducerSpec {
            step: "keyed-load".into(),
            process: 7,
            topic: "t".into(),
            count: Some(1),
            duration: None,
            rate: 0,
            record_bytes: 64,
            keys: 0,
            headers: Vec::new(),
            header_every: 1,
            acks: Acks::All,
            idempotent: true,
            linger: Duration::ZERO,
            batch_bytes: 1,
            delivery_timeout: DELIVERY_TIMEOUT,
        };
        let id = value_id(&spec, 123);
        assert_eq!(parse_value_id(&id), Some((7, 123)));
        assert_eq!(id_of(&payload(&id, 64)), id);
        assert_eq!(payload(&id, 64).len(), 64);
        assert_eq!(parse_value_id("no-id"), None);
    }
}
