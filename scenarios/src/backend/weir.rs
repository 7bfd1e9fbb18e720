//! The stories' clients on `weir-client`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::{mpsc, watch};
use weir_client::admin::Admin;
use weir_client::cluster::ClientConfig;
use weir_client::consumer::group::{GroupConfig, GroupConsumer, RebalanceListener, TopicPartition};
use weir_client::consumer::{
    Consumer, ConsumerConfig, HeaderFilter, IsolationLevel, Offset, list_offset_with,
};
use weir_client::error::ClientError;
use weir_client::producer::{DeliveryFuture, Producer, ProducerConfig, ProducerRecord};

use super::{
    DELIVERY_TIMEOUT, MEMBER_LIFETIME_MAX, MemberCommand, MemberSpec, Pacer, PipelineSpec,
    ProducerSpec, READ_TIMEOUT, REQUEST_TIMEOUT, RetryOn, acked_send, failed_send, headers_of,
    id_of, key_of, payload, retry_client, value_id,
};
use crate::checker::output_id;
use crate::history::{OpKind, PartitionOffset, TxnOutcome, TxnOutput};
use crate::recorder::Recorder;
use crate::scenario::Delivery;

/// Sends waiting for their outcome, per producer (the send loop waits beyond it).
const PENDING_MAX: usize = 100_000;

fn client_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new(bootstrap);
    config.client_id = "weir-scenarios".into();
    config.request_timeout = REQUEST_TIMEOUT;
    config
}

/// One producer: sends at the spec's pace and logs every outcome.
pub(super) async fn produce(
    bootstrap: String,
    spec: ProducerSpec,
    recorder: Recorder,
) -> anyhow::Result<()> {
    let mut config = ProducerConfig::new(&bootstrap);
    config.client = client_config(&bootstrap);
    config.acks = spec.acks.code();
    config.idempotence = spec.idempotent;
    config.linger = spec.linger;
    config.batch_size = spec.batch_bytes;
    config.delivery_timeout = spec.delivery_timeout;
    let producer = retry_client(
        "starting a producer",
        DELIVERY_TIMEOUT,
        RetryOn::Any,
        || Producer::new(config.clone()),
    )
    .await?;
    let (pending_tx, pending_rx) = mpsc::channel(PENDING_MAX);
    let collector = tokio::spawn(collect(spec.clone(), recorder.clone(), pending_rx));
    let pacer = Pacer::new(&spec);
    let mut seq = 0;
    while pacer.next(seq).await {
        let id = value_id(&spec, seq);
        let mut record = ProducerRecord::new(
            spec.topic.clone(),
            Bytes::from(payload(&id, spec.record_bytes)),
        );
        if let Some(key) = key_of(&spec, seq) {
            record = record.key(key);
        }
        for (k, v) in headers_of(&spec, seq) {
            record = record.header(k.clone(), Bytes::from(v.clone()));
        }
        recorder.record(
            spec.process,
            &spec.step,
            OpKind::SendInvoke { value: id.clone() },
        );
        match producer.send(record).await {
            Ok(delivery) => {
                if pending_tx.send((id, delivery)).await.is_err() {
                    anyhow::bail!("the outcome collector stopped");
                }
            }
            // Refused before it was queued: no request can carry it.
            Err(e) => recorder.record(
                spec.process,
                &spec.step,
                failed_send(id, e.to_string(), e.code(), true, false),
            ),
        }
        seq += 1;
    }
    drop(pending_tx);
    collector.await.context("the outcome collector panicked")?;
    if let Err(e) = producer.close(Duration::from_secs(5)).await {
        tracing::debug!(error = %e, "producer close");
    }
    Ok(())
}

/// Logs each send's outcome as it completes.
async fn collect(
    spec: ProducerSpec,
    recorder: Recorder,
    mut sends: mpsc::Receiver<(String, DeliveryFuture)>,
) {
    let mut pending = FuturesUnordered::new();
    let mut open = true;
    loop {
        tokio::select! {
            next = sends.recv(), if open => match next {
                Some((id, delivery)) => pending.push(async move { (id, delivery.with_sends().await) }),
                None => open = false,
            },
            Some((id, (result, sends))) = pending.next(), if !pending.is_empty() => {
                let event = match result {
                    Ok(meta) => acked_send(id, meta.partition, meta.offset, spec.acks),
                    Err(e) => failed_send(id, e.to_string(), e.code(), sends == 0, sends > 1),
                };
                recorder.record(spec.process, &spec.step, event);
            }
            else => break,
        }
    }
}

/// Logs each completed rebalance as a new assignment.
struct AssignmentLog {
    process: u32,
    step: String,
    topic: String,
    recorder: Recorder,
}

impl RebalanceListener for AssignmentLog {
    fn on_assigned(&mut self, _partitions: &[TopicPartition]) {}

    fn on_revoked(&mut self, _partitions: &[TopicPartition]) {}

    fn on_generation(&mut self, generation: i32, _member_id: &str, assignment: &[TopicPartition]) {
        let partitions = assignment
            .iter()
            .filter(|(topic, _)| *topic == self.topic)
            .map(|(_, p)| *p)
            .collect();
        self.recorder.record(
            self.process,
            &self.step,
            OpKind::Assigned {
                partitions,
                generation,
            },
        );
    }
}

/// One group member: polls until told to close or vanish, logging what it hands
/// to the application.
pub(super) async fn member(
    bootstrap: String,
    spec: MemberSpec,
    recorder: Recorder,
    mut commands: watch::Receiver<MemberCommand>,
) -> anyhow::Result<()> {
    let mut config = GroupConfig::new(&bootstrap, spec.group.clone());
    config.consumer.client = client_config(&bootstrap);
    config.consumer.auto_offset_reset = Offset::Beginning;
    config.consumer.fetch_max_wait = Duration::from_millis(100);
    config.session_timeout = spec.session_timeout;
    config.heartbeat_interval = spec.session_timeout / 6;
    config.rebalance_timeout = Duration::from_secs(30);
    config.auto_commit_interval = Duration::from_millis(200);
    config.retry_backoff = Duration::from_millis(50);
    config.delivery = match spec.delivery {
        Delivery::AtLeastOnce => weir_client::consumer::group::DeliveryMode::AtLeastOnce,
        Delivery::AtMostOnce => weir_client::consumer::group::DeliveryMode::AtMostOnce,
    };
    config.assignors = vec![
        GroupConfig::assignor(&spec.assignor)
            .with_context(|| format!("assignor {}", spec.assignor))?,
    ];
    let mut consumer = GroupConsumer::new(config)?;
    consumer.set_listener(AssignmentLog {
        process: spec.process,
        step: spec.step.clone(),
        topic: spec.topic.clone(),
        recorder: recorder.clone(),
    });
    consumer.set_header_filter(
        spec.header_filter
            .as_ref()
            .map(|(key, value)| HeaderFilter {
                key: key.clone(),
                value: Some(Bytes::from(value.clone())),
            }),
    );
    consumer.subscribe([spec.topic.clone()])?;
    let deadline = tokio::time::Instant::now() + MEMBER_LIFETIME_MAX;
    loop {
        let command = *commands.borrow_and_update();
        match command {
            MemberCommand::Kill => {
                drop(consumer);
                return Ok(());
            }
            MemberCommand::Close => break,
            MemberCommand::Run if tokio::time::Instant::now() > deadline => break,
            MemberCommand::Run => {}
        }
        let records = match consumer.poll(500, Duration::from_millis(200)).await {
            Ok(records) => records,
            Err(e @ (ClientError::Closed | ClientError::Config(_))) => return Err(e.into()),
            Err(e) => {
                tracing::warn!(process = spec.process, error = %e, "poll failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let generation = consumer.generation();
        for record in records {
            recorder.record(
                spec.process,
                &spec.step,
                OpKind::Delivered {
                    value: id_of(record.value.as_deref().unwrap_or_default()),
                    partition: record.partition,
                    offset: record.offset,
                    generation,
                },
            );
            if !spec.processing_delay.is_zero() {
                tokio::time::sleep(spec.processing_delay).await;
            }
        }
    }
    if let Err(e) = consumer.close().await {
        tracing::warn!(process = spec.process, error = %e, "close failed to commit");
    }
    Ok(())
}

/// The final drain: a fresh assign-mode reader from the log start to the high
/// watermarks taken when it starts.
pub(super) async fn drain(
    bootstrap: &str,
    topic: &str,
    process: u32,
    recorder: &Recorder,
) -> anyhow::Result<()> {
    read_all(
        bootstrap,
        topic,
        IsolationLevel::ReadUncommitted,
        process,
        recorder,
    )
    .await
}

/// The read_committed read of a pipeline's output: once no transaction is open
/// (bounded), a fresh read_committed reader from the log start to the last
/// stable offsets.
pub(super) async fn read_committed(
    bootstrap: &str,
    topic: &str,
    process: u32,
    recorder: &Recorder,
) -> anyhow::Result<()> {
    read_all(
        bootstrap,
        topic,
        IsolationLevel::ReadCommitted,
        process,
        recorder,
    )
    .await
}

/// Every partition of `topic` from its start to its end for `isolation`: the
/// high watermarks (logged as `EndOffset`, each record as `Drained`), or the
/// last stable offsets once they reach the high watermarks or the wait is up
/// (each record logged as `ReadCommitted`).
async fn read_all(
    bootstrap: &str,
    topic: &str,
    isolation: IsolationLevel,
    process: u32,
    recorder: &Recorder,
) -> anyhow::Result<()> {
    let committed_only = isolation == IsolationLevel::ReadCommitted;
    let step = if committed_only {
        "read_committed"
    } else {
        "drain"
    };
    let admin = Admin::new(client_config(bootstrap))?;
    let meta = retry_client("reading topic metadata", READ_TIMEOUT, RetryOn::Any, || {
        admin.describe_topic(topic)
    })
    .await?;
    let partitions: Vec<(String, i32)> = meta
        .partitions
        .iter()
        .map(|p| (topic.to_owned(), p.partition))
        .collect();
    let high_watermarks = || {
        retry_client(
            "reading high watermarks",
            READ_TIMEOUT,
            RetryOn::Any,
            || admin.list_offsets(&partitions, -1),
        )
    };
    let mut ends = high_watermarks().await?;
    if committed_only {
        // Wait until no transaction is open: the last stable offsets reach the
        // high watermarks (an open transaction commits, aborts or times out).
        let deadline = tokio::time::Instant::now() + READ_TIMEOUT;
        loop {
            let mut stable = BTreeMap::new();
            for (t, p) in &partitions {
                let lso = retry_client(
                    "reading last stable offsets",
                    READ_TIMEOUT,
                    RetryOn::Any,
                    || list_offset_with(admin.cluster(), t, *p, -1, isolation),
                )
                .await?;
                stable.insert((t.clone(), *p), lso);
            }
            let settled = stable == ends;
            ends = stable;
            if settled {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(
                    topic,
                    "a transaction of {topic} stayed open: read_committed reads up to its first offset"
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            let high = high_watermarks().await?;
            if high != ends {
                ends = high;
                continue;
            }
        }
    }
    let mut config = ConsumerConfig::new(bootstrap);
    config.client = client_config(bootstrap);
    config.fetch_max_wait = Duration::from_millis(100);
    config.isolation_level = isolation;
    let mut consumer = Consumer::new(config)?;
    let assignment = partitions
        .iter()
        .map(|(t, p)| (t.clone(), *p, Offset::Beginning))
        .collect::<Vec<_>>();
    let deadline = tokio::time::Instant::now() + READ_TIMEOUT;
    while let Err(e) = consumer.assign(assignment.clone()).await {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "assigning the {step} of {topic}: {e}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if !committed_only {
        for ((_, partition), offset) in &ends {
            recorder.record(
                process,
                step,
                OpKind::EndOffset {
                    partition: *partition,
                    offset: *offset,
                },
            );
        }
    }
    let deadline = tokio::time::Instant::now() + READ_TIMEOUT;
    let done = |consumer: &Consumer| {
        ends.iter()
            .all(|((t, p), end)| consumer.position(t, *p).is_some_and(|at| at >= *end))
    };
    while !done(&consumer) {
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("the {step} of {topic} did not reach {ends:?} within {READ_TIMEOUT:?}");
        }
        let records = match consumer.poll(10_000, Duration::from_millis(500)).await {
            Ok(records) => records,
            Err(e) => {
                tracing::warn!(error = %e, "{step} poll failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        for record in records {
            let value = id_of(record.value.as_deref().unwrap_or_default());
            let (partition, offset) = (record.partition, record.offset);
            let kind = if committed_only {
                OpKind::ReadCommitted {
                    value,
                    partition,
                    offset,
                }
            } else {
                OpKind::Drained {
                    value,
                    partition,
                    offset,
                }
            };
            recorder.record(process, step, kind);
        }
    }
    Ok(())
}

/// The group's committed offsets for `topic`.
pub(super) async fn committed(
    bootstrap: &str,
    group: &str,
    topic: &str,
) -> anyhow::Result<BTreeMap<i32, i64>> {
    let admin = Admin::new(client_config(bootstrap))?;
    let offsets = retry_client(
        "reading committed offsets",
        READ_TIMEOUT,
        RetryOn::Any,
        || admin.group_offsets(group),
    )
    .await?;
    Ok(offsets
        .into_iter()
        .filter(|o| o.topic == topic && o.offset >= 0)
        .map(|o| (o.partition, o.offset))
        .collect())
}

/// How long one transactional call may take (`max.block.ms`), and how long a
/// transaction (or a producer's start) keeps retrying what the client calls
/// retriable.
const TXN_CALL_TIMEOUT: Duration = Duration::from_secs(10);
const TXN_DEADLINE: Duration = Duration::from_secs(60);
/// Beyond its own bound, how long a transactional call may take before the
/// member gives up on the producer as hung.
const TXN_HANG_SLACK: Duration = Duration::from_secs(5);
/// Producers one member may replace (each fences the one before).
const PRODUCERS_MAX: u32 = 50;

/// Why a transaction did not commit.
enum TxnFailure {
    /// `abort_every`: it was to be aborted.
    Abort,
    /// A call failed (after retrying what is retriable) or hung.
    Failed(String),
}

impl From<ClientError> for TxnFailure {
    fn from(e: ClientError) -> Self {
        Self::Failed(e.to_string())
    }
}

/// A pipeline member on weir-client: a read_committed group member with
/// manual commits and a transactional producer, as the librdkafka shim's
/// `pipeline` mode runs one (see `shim/rdkafka_shim.py`): one transaction per
/// poll, its output values naming their input records, the batch's next
/// offsets committed in it, every `abort_every`-th one flushed and aborted,
/// and after any transaction that did not commit a rewind to the group's
/// committed offsets; a producer whose transaction failed without an abort
/// that recovers it is replaced (the new one fences it).
pub(super) async fn pipeline(
    bootstrap: String,
    spec: PipelineSpec,
    recorder: Recorder,
    mut commands: watch::Receiver<MemberCommand>,
) -> anyhow::Result<()> {
    let mut config = GroupConfig::new(&bootstrap, spec.group.clone());
    config.consumer.client = client_config(&bootstrap);
    config.consumer.auto_offset_reset = Offset::Beginning;
    config.consumer.isolation_level = IsolationLevel::ReadCommitted;
    config.consumer.fetch_max_wait = Duration::from_millis(100);
    config.session_timeout = spec.session_timeout;
    config.heartbeat_interval = spec.session_timeout / 6;
    config.rebalance_timeout = Duration::from_secs(60);
    config.auto_commit = false;
    config.retry_backoff = Duration::from_millis(50);
    config.assignors = vec![GroupConfig::assignor("range").context("the range assignor")?];
    let mut consumer = GroupConsumer::new(config)?;
    consumer.set_listener(AssignmentLog {
        process: spec.process,
        step: spec.step.clone(),
        topic: spec.input.clone(),
        recorder: recorder.clone(),
    });
    // Before joining, so no rebalance waits on the producer's start.
    let mut producers = 0;
    let mut producer = start_transactional(&bootstrap, &spec, &mut producers).await?;
    consumer.subscribe([spec.input.clone()])?;
    let deadline = tokio::time::Instant::now() + MEMBER_LIFETIME_MAX;
    let mut seq = 0u64;
    loop {
        let command = *commands.borrow_and_update();
        match command {
            MemberCommand::Kill => return Ok(()),
            MemberCommand::Close => break,
            MemberCommand::Run if tokio::time::Instant::now() > deadline => break,
            MemberCommand::Run => {}
        }
        let records = match consumer
            .poll(spec.batch as usize, Duration::from_millis(200))
            .await
        {
            Ok(records) => records,
            Err(e @ (ClientError::Closed | ClientError::Config(_))) => return Err(e.into()),
            Err(e) => {
                tracing::warn!(process = spec.process, error = %e, "pipeline poll failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        if records.is_empty() {
            continue;
        }
        seq += 1;
        let txn = format!("{}:{seq}", spec.transactional_id);
        let abort = spec.abort_every > 0 && seq.is_multiple_of(u64::from(spec.abort_every));
        let mut offsets: HashMap<TopicPartition, i64> = HashMap::new();
        for r in &records {
            let next = offsets
                .entry((r.topic.to_string(), r.partition))
                .or_default();
            *next = (*next).max(r.offset + 1);
        }
        let mut outputs: Vec<(String, Option<DeliveryFuture>)> = Vec::new();
        let mut commit_asked = false;
        let result: Result<(), TxnFailure> = async {
            producer.begin_transaction()?;
            for r in &records {
                let input = id_of(r.value.as_deref().unwrap_or_default());
                let value = output_id(&txn, r.partition, r.offset, &input);
                let mut record =
                    ProducerRecord::new(spec.output.clone(), Bytes::from(format!("{value}|")));
                if let Some(key) = &r.key {
                    record = record.key(key.clone());
                }
                let delivery = producer.send(record).await?;
                outputs.push((value, Some(delivery)));
            }
            let group = consumer.group_metadata();
            bounded_retry("send_offsets_to_transaction", || {
                producer.send_offsets_to_transaction(&offsets, &group)
            })
            .await?;
            if abort {
                // Flushed first, so the aborted records are in the log for
                // read_committed readers to skip.
                producer.flush(TXN_CALL_TIMEOUT).await?;
                return Err(TxnFailure::Abort);
            }
            commit_asked = true;
            bounded_retry("commit_transaction", || producer.commit_transaction()).await
        }
        .await;
        let (outcome, error) = match result {
            Ok(()) => (TxnOutcome::Committed, None),
            Err(failure) => {
                let error = match failure {
                    TxnFailure::Abort => {
                        format!("every {}th transaction is aborted", spec.abort_every)
                    }
                    TxnFailure::Failed(why) => {
                        tracing::info!(process = spec.process, %txn, error = %why, "transaction failed");
                        why
                    }
                };
                // An abort recovers an abortable transaction; if it fails (fatal,
                // fenced, hung), a new producer fences this one and settles it.
                if let Err(e) =
                    bounded_retry("abort_transaction", || producer.abort_transaction()).await
                {
                    let why = match e {
                        TxnFailure::Failed(why) => why,
                        TxnFailure::Abort => String::new(),
                    };
                    tracing::info!(process = spec.process, %txn, error = %why, "abort failed; replacing the producer");
                    producer = start_transactional(&bootstrap, &spec, &mut producers).await?;
                }
                // Without a commit request it can never commit; with one it may have.
                let outcome = if commit_asked {
                    TxnOutcome::Unknown
                } else {
                    TxnOutcome::Aborted
                };
                (outcome, Some(error))
            }
        };
        let outputs = outputs
            .into_iter()
            .map(|(value, delivery)| {
                let acked = delivery
                    .and_then(FutureExt::now_or_never)
                    .and_then(Result::ok);
                TxnOutput {
                    value,
                    partition: acked.as_ref().map_or(-1, |m| m.partition),
                    offset: acked.as_ref().map_or(-1, |m| m.offset),
                }
            })
            .collect();
        let mut offsets: Vec<PartitionOffset> = offsets
            .into_iter()
            .map(|((_, partition), offset)| PartitionOffset { partition, offset })
            .collect();
        offsets.sort_by_key(|o| o.partition);
        let failed = outcome != TxnOutcome::Committed;
        recorder.record(
            spec.process,
            &spec.step,
            OpKind::Txn {
                txn,
                outcome,
                outputs,
                offsets,
                error,
            },
        );
        if failed {
            // The next poll starts again from the group's (stable) committed offsets.
            consumer.rewind_to_committed();
        }
    }
    // No transaction is open between polls; nothing is committed on close.
    if let Err(e) = consumer.close().await {
        tracing::warn!(process = spec.process, error = %e, "pipeline member close");
    }
    if let Err(e) = producer.close(Duration::from_secs(5)).await {
        tracing::debug!(error = %e, "transactional producer close");
    }
    Ok(())
}

/// A transactional producer with the member's transactional id, initialized:
/// its InitProducerId fences every earlier producer of the id and completes or
/// aborts that one's transaction.
async fn start_transactional(
    bootstrap: &str,
    spec: &PipelineSpec,
    started: &mut u32,
) -> anyhow::Result<Producer> {
    *started += 1;
    anyhow::ensure!(
        *started <= PRODUCERS_MAX,
        "{} producers of {} started",
        *started - 1,
        spec.transactional_id
    );
    let mut config = ProducerConfig::new(bootstrap);
    config.client = client_config(bootstrap);
    config.transactional_id = Some(spec.transactional_id.clone());
    config.transaction_timeout = spec.transaction_timeout;
    config.max_block = TXN_CALL_TIMEOUT;
    config.delivery_timeout = spec.transaction_timeout;
    let deadline = tokio::time::Instant::now() + TXN_DEADLINE;
    loop {
        let attempt = async {
            let producer = Producer::new(config.clone()).await?;
            producer.init_transactions().await?;
            Ok::<_, ClientError>(producer)
        };
        let why = match tokio::time::timeout(TXN_CALL_TIMEOUT * 2 + TXN_HANG_SLACK, attempt).await {
            Ok(Ok(producer)) => return Ok(producer),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "init_transactions hung".to_owned(),
        };
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "starting a transactional producer of {}: {why}",
            spec.transactional_id
        );
        tracing::info!(transactional_id = %spec.transactional_id, error = %why, "init_transactions failed; retrying");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A transactional call, called again while it fails with an error the client
/// calls retriable (a timeout resumes it), until [`TXN_DEADLINE`]; an attempt
/// that overruns its own bound by [`TXN_HANG_SLACK`] counts as failed.
async fn bounded_retry<F, Fut>(what: &str, mut call: F) -> Result<(), TxnFailure>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), ClientError>>,
{
    let deadline = tokio::time::Instant::now() + TXN_DEADLINE;
    loop {
        match tokio::time::timeout(TXN_CALL_TIMEOUT + TXN_HANG_SLACK, call()).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) if e.is_retriable() && tokio::time::Instant::now() < deadline => {
                tracing::debug!(error = %e, "{what} failed; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Ok(Err(e)) => return Err(TxnFailure::Failed(format!("{what}: {e}"))),
            Err(_) => {
                return Err(TxnFailure::Failed(format!(
                    "{what} did not return within {:?}",
                    TXN_CALL_TIMEOUT + TXN_HANG_SLACK
                )));
            }
        }
    }
}
