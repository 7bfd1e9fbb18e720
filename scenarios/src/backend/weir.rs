//! The stories' clients on `weir-client`.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::{mpsc, watch};
use weir_client::admin::Admin;
use weir_client::cluster::ClientConfig;
use weir_client::consumer::group::{GroupConfig, GroupConsumer, RebalanceListener, TopicPartition};
use weir_client::consumer::{Consumer, ConsumerConfig, HeaderFilter, Offset};
use weir_client::error::ClientError;
use weir_client::producer::{DeliveryFuture, Producer, ProducerConfig, ProducerRecord};

use super::{
    DELIVERY_TIMEOUT, MEMBER_LIFETIME_MAX, MemberCommand, MemberSpec, Pacer, ProducerSpec,
    READ_TIMEOUT, REQUEST_TIMEOUT, RetryOn, acked_send, failed_send, headers_of, id_of, key_of,
    payload, retry_client, value_id,
};
use crate::history::OpKind;
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
    let ends = retry_client(
        "reading high watermarks",
        READ_TIMEOUT,
        RetryOn::Any,
        || admin.list_offsets(&partitions, -1),
    )
    .await?;
    let mut config = ConsumerConfig::new(bootstrap);
    config.client = client_config(bootstrap);
    config.fetch_max_wait = Duration::from_millis(100);
    let mut consumer = Consumer::new(config)?;
    let assignment = partitions
        .iter()
        .map(|(t, p)| (t.clone(), *p, Offset::Beginning))
        .collect::<Vec<_>>();
    let deadline = tokio::time::Instant::now() + READ_TIMEOUT;
    while let Err(e) = consumer.assign(assignment.clone()).await {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "assigning the drain: {e}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let deadline = tokio::time::Instant::now() + READ_TIMEOUT;
    let done = |consumer: &Consumer| {
        ends.iter()
            .all(|((t, p), end)| consumer.position(t, *p).is_some_and(|at| at >= *end))
    };
    while !done(&consumer) {
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("the drain of {topic} did not reach {ends:?} within {READ_TIMEOUT:?}");
        }
        let records = match consumer.poll(10_000, Duration::from_millis(500)).await {
            Ok(records) => records,
            Err(e) => {
                tracing::warn!(error = %e, "drain poll failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        for record in records {
            recorder.record(
                process,
                "drain",
                OpKind::Drained {
                    value: id_of(record.value.as_deref().unwrap_or_default()),
                    partition: record.partition,
                    offset: record.offset,
                },
            );
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
