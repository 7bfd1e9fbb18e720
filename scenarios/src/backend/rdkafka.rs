//! The stories' clients on librdkafka: each producer, member and reader is a
//! `scenarios/shim/rdkafka_shim.py` process (confluent-kafka) that takes commands as
//! JSON lines on stdin and reports events as JSON lines on stdout. A killed member
//! is a SIGKILLed process, as real as a crash gets.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};
use tokio::sync::watch;
use weir_client::admin::Admin;
use weir_client::cluster::ClientConfig;

use super::{
    DELIVERY_TIMEOUT, MEMBER_LIFETIME_MAX, MemberCommand, MemberSpec, Pacer, PipelineSpec,
    ProducerSpec, READ_TIMEOUT, REQUEST_TIMEOUT, acked_send, headers_of, id_of, key_of, payload,
    value_id,
};
use crate::history::{
    OpKind, PartitionOffset, SendOutcome, TxnOutcome, TxnOutput, classify_send_error,
};
use crate::recorder::Recorder;
use crate::scenario::{Acks, Delivery};

/// How long a closing member may take before it is killed.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest line a shim may print (a record value plus a little JSON).
const LINE_BYTES_MAX: usize = 2 << 20;

/// The shim script: `WEIR_RDKAFKA_SHIM`, else the one in this crate.
fn shim_script() -> PathBuf {
    std::env::var_os("WEIR_RDKAFKA_SHIM").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("shim/rdkafka_shim.py"),
        PathBuf::from,
    )
}

/// Where shim processes connect and log.
#[derive(Debug, Clone)]
pub(super) struct Shim {
    pub(super) bootstrap: String,
    /// The file shims append their stderr (and librdkafka's logs) to.
    pub(super) log: PathBuf,
}

impl Shim {
    /// Starts the shim in `mode` with `args`, stdin and stdout piped.
    fn spawn(&self, mode: &str, topic: &str, args: &[String]) -> anyhow::Result<Child> {
        let python = std::env::var("WEIR_PYTHON").unwrap_or_else(|_| "python3".into());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        Command::new(python)
            .arg(shim_script())
            .arg(mode)
            .arg("--bootstrap")
            .arg(&self.bootstrap)
            .arg("--topic")
            .arg(topic)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting the librdkafka shim ({mode})"))
    }
}

/// Reads the next event line; `None` at end of output.
async fn next_event(
    lines: &mut tokio::io::Lines<BufReader<ChildStdout>>,
) -> anyhow::Result<Option<Event>> {
    let Some(line) = lines
        .next_line()
        .await
        .context("reading the shim's output")?
    else {
        return Ok(None);
    };
    anyhow::ensure!(
        line.len() <= LINE_BYTES_MAX,
        "a shim line of {} bytes",
        line.len()
    );
    let event = serde_json::from_str(&line).with_context(|| format!("a shim line: {line}"))?;
    Ok(Some(event))
}

/// Every event shape the shim prints.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Event {
    Ok {
        ok: String,
        partition: i32,
        offset: i64,
    },
    Err {
        err: String,
        code: i16,
        name: String,
        retriable: bool,
        persisted: Option<String>,
    },
    Delivered {
        delivered: String,
        partition: i32,
        offset: i64,
        generation: i32,
    },
    Assigned {
        assigned: Vec<i32>,
        generation: i32,
    },
    Drained {
        drained: String,
        partition: i32,
        offset: i64,
    },
    Done {
        done: bool,
        #[serde(default)]
        high_watermarks: BTreeMap<String, i64>,
        #[serde(default)]
        stable: Option<bool>,
    },
    Committed {
        committed: BTreeMap<String, i64>,
    },
    Txn {
        txn: String,
        outcome: TxnOutcome,
        outputs: Vec<TxnOutput>,
        offsets: Vec<PartitionOffset>,
        error: Option<String>,
    },
    Fatal {
        fatal: String,
    },
    Other(serde::de::IgnoredAny),
}

/// How librdkafka's final error for a record is logged. Its own persistence status
/// decides when it has one; otherwise only a non-retriable definite rejection is a
/// `fail` (a retriable error may have been retried after an attempt whose outcome is
/// unknown), and local errors (negative codes: timeouts, transport) are `unknown`.
fn rdkafka_failure(
    value: String,
    code: i16,
    name: String,
    retriable: bool,
    persisted: Option<&str>,
) -> OpKind {
    let outcome = match persisted {
        Some("not_persisted") => SendOutcome::Fail,
        Some("possibly_persisted" | "persisted") => SendOutcome::Unknown,
        _ if code > 0 => classify_send_error(code, retriable),
        _ => SendOutcome::Unknown,
    };
    let error = format!("{name} ({code})");
    match outcome {
        SendOutcome::Fail => OpKind::SendFail { value, error },
        SendOutcome::Unknown => OpKind::SendUnknown { value, error },
    }
}

/// One producer process.
pub(super) async fn produce(
    shim: Shim,
    spec: ProducerSpec,
    recorder: Recorder,
) -> anyhow::Result<()> {
    let acks = match spec.acks {
        Acks::None => "0",
        Acks::Leader => "1",
        Acks::All => "all",
    };
    let args = vec![
        "--acks".into(),
        acks.into(),
        "--idempotent".into(),
        spec.idempotent.to_string(),
        "--linger-ms".into(),
        spec.linger.as_millis().to_string(),
        "--batch-size".into(),
        spec.batch_bytes.to_string(),
        "--delivery-timeout-ms".into(),
        spec.delivery_timeout.as_millis().to_string(),
        "--request-timeout-ms".into(),
        REQUEST_TIMEOUT.as_millis().to_string(),
    ];
    let mut child = shim.spawn("produce", &spec.topic, &args)?;
    let mut stdin = child.stdin.take().context("shim stdin")?;
    let stdout = child.stdout.take().context("shim stdout")?;
    let reader = tokio::spawn(read_outcomes(spec.clone(), recorder.clone(), stdout));
    let pacer = Pacer::new(&spec);
    let mut seq = 0;
    let mut invoked = HashSet::new();
    while pacer.next(seq).await {
        let id = value_id(&spec, seq);
        let value = String::from_utf8(payload(&id, spec.record_bytes)).context("payload")?;
        let headers: Vec<[&str; 2]> = headers_of(&spec, seq)
            .iter()
            .map(|(k, v)| [k.as_str(), v.as_str()])
            .collect();
        let line = json!({"send": value, "key": key_of(&spec, seq), "headers": headers, "partition": null});
        recorder.record(
            spec.process,
            &spec.step,
            OpKind::SendInvoke { value: id.clone() },
        );
        invoked.insert(id);
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .context("writing to the producer shim")?;
        seq += 1;
    }
    // End of input: the shim flushes and exits.
    drop(stdin);
    let answered = reader.await.context("the shim reader panicked")??;
    let status = tokio::time::timeout(spec.delivery_timeout + DELIVERY_TIMEOUT, child.wait()).await;
    if !matches!(status, Ok(Ok(s)) if s.success()) {
        tracing::warn!(
            process = spec.process,
            ?status,
            "the producer shim did not exit cleanly"
        );
    }
    for id in invoked.difference(&answered) {
        recorder.record(
            spec.process,
            &spec.step,
            OpKind::SendUnknown {
                value: id.clone(),
                error: "the shim ended without an outcome".into(),
            },
        );
    }
    Ok(())
}

/// Logs the producer shim's outcomes; returns the ids that got one.
async fn read_outcomes(
    spec: ProducerSpec,
    recorder: Recorder,
    stdout: ChildStdout,
) -> anyhow::Result<HashSet<String>> {
    let mut lines = BufReader::new(stdout).lines();
    let mut answered = HashSet::new();
    while let Some(event) = next_event(&mut lines).await? {
        let kind = match event {
            Event::Ok {
                ok,
                partition,
                offset,
            } => acked_send(id_of(ok.as_bytes()), partition, offset, spec.acks),
            Event::Err {
                err,
                code,
                name,
                retriable,
                persisted,
            } => rdkafka_failure(
                id_of(err.as_bytes()),
                code,
                name,
                retriable,
                persisted.as_deref(),
            ),
            _ => continue,
        };
        let value = match &kind {
            OpKind::SendOk { value, .. }
            | OpKind::SendFail { value, .. }
            | OpKind::SendUnknown { value, .. } => value.clone(),
            _ => continue,
        };
        if answered.insert(value) {
            recorder.record(spec.process, &spec.step, kind);
        }
    }
    Ok(answered)
}

/// One group member process.
pub(super) async fn member(
    shim: Shim,
    spec: MemberSpec,
    recorder: Recorder,
    mut commands: watch::Receiver<MemberCommand>,
) -> anyhow::Result<()> {
    let delivery = match spec.delivery {
        Delivery::AtLeastOnce => "at-least-once",
        Delivery::AtMostOnce => "at-most-once",
    };
    let mut args = vec![
        "--group".into(),
        spec.group.clone(),
        "--delivery".into(),
        delivery.into(),
        "--session-timeout-ms".into(),
        spec.session_timeout.as_millis().to_string(),
        "--heartbeat-interval-ms".into(),
        (spec.session_timeout / 6).as_millis().to_string(),
        "--assignor".into(),
        spec.assignor.clone(),
        "--processing-delay-ms".into(),
        spec.processing_delay.as_millis().to_string(),
    ];
    if let Some((key, value)) = &spec.header_filter {
        args.push("--header-filter".into());
        args.push(format!("{key}={value}"));
    }
    let mut child = shim.spawn("consume", &spec.topic, &args)?;
    let mut stdin = child.stdin.take().context("shim stdin")?;
    let mut lines = BufReader::new(child.stdout.take().context("shim stdout")?).lines();
    let deadline = tokio::time::Instant::now() + MEMBER_LIFETIME_MAX;
    let mut closing = false;
    loop {
        tokio::select! {
            event = next_event(&mut lines) => match event? {
                Some(Event::Delivered { delivered, partition, offset, generation }) => recorder.record(
                    spec.process,
                    &spec.step,
                    OpKind::Delivered { value: id_of(delivered.as_bytes()), partition, offset, generation },
                ),
                Some(Event::Assigned { assigned, generation }) => recorder.record(
                    spec.process,
                    &spec.step,
                    OpKind::Assigned { partitions: assigned, generation },
                ),
                Some(_) => {}
                None => break,
            },
            changed = commands.changed(), if !closing => {
                let command = if changed.is_ok() { *commands.borrow_and_update() } else { MemberCommand::Close };
                match command {
                    MemberCommand::Run => {}
                    MemberCommand::Close => {
                        closing = true;
                        let _ = stdin.write_all(b"{\"close\": true}\n").await;
                    }
                    MemberCommand::Kill => {
                        child.kill().await.context("SIGKILL to a member")?;
                        return Ok(());
                    }
                }
            }
            () = tokio::time::sleep_until(deadline), if !closing => {
                closing = true;
                let _ = stdin.write_all(b"{\"close\": true}\n").await;
            }
        }
    }
    match tokio::time::timeout(CLOSE_TIMEOUT, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(status) => anyhow::bail!("member {} exited with {status:?}", spec.process),
        Err(_) => {
            child.kill().await.ok();
            anyhow::bail!(
                "member {} did not close within {CLOSE_TIMEOUT:?}",
                spec.process
            )
        }
    }
}

async fn partition_count(bootstrap: &str, topic: &str) -> anyhow::Result<usize> {
    let mut config = ClientConfig::new(bootstrap);
    config.request_timeout = REQUEST_TIMEOUT;
    let admin = Admin::new(config)?;
    Ok(admin.describe_topic(topic).await?.partitions.len())
}

/// Runs a reading mode of the shim to its end, handing each event to `on_event`.
async fn run_reader(
    shim: &Shim,
    mode: &str,
    topic: &str,
    args: &[String],
    mut on_event: impl FnMut(Event),
) -> anyhow::Result<()> {
    let mut child = shim.spawn(mode, topic, args)?;
    drop(child.stdin.take());
    let mut lines = BufReader::new(child.stdout.take().context("shim stdout")?).lines();
    let read = async {
        while let Some(event) = next_event(&mut lines).await? {
            on_event(event);
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(READ_TIMEOUT + Duration::from_secs(10), read)
        .await
        .with_context(|| format!("the shim's {mode} did not end"))??;
    let status = child.wait().await?;
    anyhow::ensure!(status.success(), "the shim's {mode} exited with {status}");
    Ok(())
}

/// The final drain through librdkafka.
pub(super) async fn drain(
    shim: &Shim,
    topic: &str,
    process: u32,
    recorder: &Recorder,
) -> anyhow::Result<()> {
    let partitions = partition_count(&shim.bootstrap, topic).await?;
    let args = vec![
        "--partitions".into(),
        partitions.to_string(),
        "--timeout-ms".into(),
        READ_TIMEOUT.as_millis().to_string(),
    ];
    let mut finished = false;
    run_reader(shim, "drain", topic, &args, |event| match event {
        Event::Drained {
            drained,
            partition,
            offset,
        } => recorder.record(
            process,
            "drain",
            OpKind::Drained {
                value: id_of(drained.as_bytes()),
                partition,
                offset,
            },
        ),
        Event::Done {
            done,
            high_watermarks,
            ..
        } => {
            finished = done;
            for (partition, offset) in high_watermarks {
                if let Ok(partition) = partition.parse()
                    && offset >= 0
                {
                    recorder.record(process, "drain", OpKind::EndOffset { partition, offset });
                }
            }
        }
        _ => {}
    })
    .await?;
    anyhow::ensure!(
        finished,
        "the librdkafka drain of {topic} did not reach the high watermarks"
    );
    Ok(())
}

/// The read_committed read of a pipeline's output through librdkafka: once no
/// transaction is open (bounded), up to the last stable offsets.
pub(super) async fn read_committed(
    shim: &Shim,
    topic: &str,
    process: u32,
    recorder: &Recorder,
) -> anyhow::Result<()> {
    let partitions = partition_count(&shim.bootstrap, topic).await?;
    let args = vec![
        "--partitions".into(),
        partitions.to_string(),
        "--timeout-ms".into(),
        READ_TIMEOUT.as_millis().to_string(),
        "--isolation".into(),
        "read_committed".into(),
    ];
    let mut finished = false;
    let mut settled = None;
    run_reader(shim, "drain", topic, &args, |event| match event {
        Event::Drained {
            drained,
            partition,
            offset,
        } => recorder.record(
            process,
            "read_committed",
            OpKind::ReadCommitted {
                value: id_of(drained.as_bytes()),
                partition,
                offset,
            },
        ),
        Event::Done { done, stable, .. } => {
            finished = done;
            settled = stable;
        }
        _ => {}
    })
    .await?;
    if settled == Some(false) {
        tracing::warn!(
            topic,
            "a transaction of {topic} stayed open: read_committed read up to its first offset"
        );
    }
    anyhow::ensure!(
        finished,
        "the read_committed read of {topic} did not reach the last stable offsets"
    );
    Ok(())
}

/// One pipeline member process: a read_committed group member and a
/// transactional producer (`shim/rdkafka_shim.py pipeline`). Each transaction
/// is logged once the shim knows how it ended.
pub(super) async fn pipeline(
    shim: Shim,
    spec: PipelineSpec,
    recorder: Recorder,
    mut commands: watch::Receiver<MemberCommand>,
) -> anyhow::Result<()> {
    let args = vec![
        "--group".into(),
        spec.group.clone(),
        "--output".into(),
        spec.output.clone(),
        "--transactional-id".into(),
        spec.transactional_id.clone(),
        "--batch".into(),
        spec.batch.to_string(),
        "--abort-every".into(),
        spec.abort_every.to_string(),
        "--transaction-timeout-ms".into(),
        spec.transaction_timeout.as_millis().to_string(),
        "--session-timeout-ms".into(),
        spec.session_timeout.as_millis().to_string(),
        "--heartbeat-interval-ms".into(),
        (spec.session_timeout / 6).as_millis().to_string(),
    ];
    let mut child = shim.spawn("pipeline", &spec.input, &args)?;
    let mut stdin = child.stdin.take().context("shim stdin")?;
    let mut lines = BufReader::new(child.stdout.take().context("shim stdout")?).lines();
    let deadline = tokio::time::Instant::now() + MEMBER_LIFETIME_MAX;
    let mut closing = false;
    let mut fatal = None;
    loop {
        tokio::select! {
            event = next_event(&mut lines) => match event? {
                Some(Event::Txn { txn, outcome, outputs, offsets, error }) => recorder.record(
                    spec.process,
                    &spec.step,
                    OpKind::Txn { txn, outcome, outputs, offsets, error },
                ),
                Some(Event::Assigned { assigned, generation }) => recorder.record(
                    spec.process,
                    &spec.step,
                    OpKind::Assigned { partitions: assigned, generation },
                ),
                Some(Event::Fatal { fatal: why }) => fatal = Some(why),
                Some(_) => {}
                None => break,
            },
            changed = commands.changed(), if !closing => {
                let command = if changed.is_ok() { *commands.borrow_and_update() } else { MemberCommand::Close };
                match command {
                    MemberCommand::Run => {}
                    MemberCommand::Close => {
                        closing = true;
                        let _ = stdin.write_all(b"{\"close\": true}\n").await;
                    }
                    MemberCommand::Kill => {
                        child.kill().await.context("SIGKILL to a pipeline member")?;
                        return Ok(());
                    }
                }
            }
            () = tokio::time::sleep_until(deadline), if !closing => {
                closing = true;
                let _ = stdin.write_all(b"{\"close\": true}\n").await;
            }
        }
    }
    // A transaction in progress when the close came may take its own time.
    let close_timeout = CLOSE_TIMEOUT + 2 * spec.transaction_timeout;
    match tokio::time::timeout(close_timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(status) => anyhow::bail!(
            "pipeline member {} ({}) exited with {status:?}{}; see clients.log",
            spec.process,
            spec.transactional_id,
            fatal
                .map(|why| format!(" after a fatal error: {why}"))
                .unwrap_or_default()
        ),
        Err(_) => {
            child.kill().await.ok();
            anyhow::bail!(
                "pipeline member {} did not close within {close_timeout:?}",
                spec.process
            )
        }
    }
}

/// The group's committed offsets through librdkafka.
pub(super) async fn committed(
    shim: &Shim,
    group: &str,
    topic: &str,
) -> anyhow::Result<BTreeMap<i32, i64>> {
    let partitions = partition_count(&shim.bootstrap, topic).await?;
    let args = vec![
        "--group".into(),
        group.to_owned(),
        "--partitions".into(),
        partitions.to_string(),
    ];
    let mut offsets = BTreeMap::new();
    run_reader(shim, "committed", topic, &args, |event| {
        if let Event::Committed { committed } = event {
            for (partition, offset) in committed {
                if let Ok(partition) = partition.parse::<i32>()
                    && offset >= 0
                {
                    offsets.insert(partition, offset);
                }
            }
        }
    })
    .await?;
    Ok(offsets)
}
