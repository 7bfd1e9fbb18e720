//! The producer's sender task: seals lingering batches, groups ready batches
//! by leader into Produce requests, writes them in order, and settles each
//! batch from its partition's answer: done, retried (back to the front of its
//! queue, after a backoff), or failed.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    InitProducerIdRequest, ProduceRequest, ProducerId, TopicName, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::mpsc;

use super::{Inner, ProducerIdentity, ReadyBatch};
use crate::cluster::Cluster;
use crate::error::{ClientError, codes};
use crate::protocol::ApiKey;
use crate::protocol::responses::{
    INIT_PRODUCER_ID_VERSION, InitProducerIdResponse, PRODUCE_VERSION, ProduceResponse,
};

const PRODUCE_KEY: i16 = ApiKey::Produce as i16;
const INIT_PRODUCER_ID_KEY: i16 = ApiKey::InitProducerId as i16;

/// Batches of one request, by (topic, partition).
type RequestBatches = Vec<(String, i32, ReadyBatch)>;

/// A request's outcome, back to the sender loop.
struct Completion {
    node: i32,
    batches: RequestBatches,
    result: Result<Option<ProduceResponse>, ClientError>,
}

/// Takes a producer id (retrying while the cluster is not ready, bounded).
pub(super) async fn init_producer_id(cluster: &Cluster) -> Result<ProducerIdentity, ClientError> {
    let mut last = ClientError::Closed;
    for attempt in 0..20u64 {
        let result = async {
            let conn = cluster.any().await?;
            conn.check_version(
                INIT_PRODUCER_ID_KEY,
                "InitProducerId",
                INIT_PRODUCER_ID_VERSION,
            )?;
            let request = InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60_000)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1);
            let body = conn
                .call(INIT_PRODUCER_ID_KEY, INIT_PRODUCER_ID_VERSION, &request)
                .await?;
            let response = conn.decode(body, InitProducerIdResponse::decode)?;
            match ClientError::from_code(response.error_code, None) {
                Some(e) => Err(e),
                None => Ok(ProducerIdentity {
                    id: response.producer_id,
                    epoch: response.producer_epoch,
                }),
            }
        }
        .await;
        match result {
            Ok(identity) => return Ok(identity),
            Err(e) if e.is_retriable() => last = e,
            Err(e) => return Err(e),
        }
        tokio::time::sleep(Duration::from_millis(100 * (attempt + 1).min(10))).await;
    }
    Err(last)
}

/// The sender loop; ends when the producer is closed and everything is done.
pub(super) async fn run(inner: Arc<Inner>) {
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Completion>();
    let mut node_in_flight: HashMap<i32, usize> = HashMap::new();
    loop {
        super::txn::tick(&inner);
        if inner.needs_reset.load(Ordering::Acquire) && node_in_flight.values().all(|&n| n == 0) {
            reset_identity(&inner).await;
        }
        let now = Instant::now();
        let (requests, next_wake) = if inner.needs_reset.load(Ordering::Acquire) {
            (Vec::new(), Some(now + Duration::from_millis(50)))
        } else {
            drain(&inner, now, &node_in_flight)
        };
        for (node, batches) in requests {
            *node_in_flight.entry(node).or_default() += 1;
            start_request(&inner, node, batches, &done_tx).await;
        }
        while let Ok(done) = done_rx.try_recv() {
            complete(&inner, done, &mut node_in_flight);
        }
        if inner.closed.load(Ordering::Acquire) && inner.outstanding.load(Ordering::Acquire) == 0 {
            break;
        }
        let sleep = next_wake.map(|t| t.saturating_duration_since(Instant::now()));
        let sleep = sleep.unwrap_or(Duration::from_millis(500));
        tokio::select! {
            _ = inner.wake.notified() => {}
            done = done_rx.recv() => {
                if let Some(done) = done {
                    complete(&inner, done, &mut node_in_flight);
                }
            }
            _ = tokio::time::sleep(sleep) => {}
        }
    }
}

/// Takes a new producer id and renumbers every waiting batch from sequence 0
/// in queue order (nothing is in flight). On failure the next loop retries.
async fn reset_identity(inner: &Inner) {
    let identity = match init_producer_id(&inner.cluster).await {
        Ok(identity) => identity,
        Err(e) => {
            tracing::warn!(error = %e, "no new producer id yet");
            tokio::time::sleep(Duration::from_millis(200)).await;
            return;
        }
    };
    inner.renumber(identity);
    *inner.identity.lock() = Some(identity);
    inner.needs_reset.store(false, Ordering::Release);
    tracing::info!(
        producer_id = identity.id,
        "sequence gap: continuing as a new producer id"
    );
}

/// Seals batches whose linger is over (all of them while flushing or short of
/// memory) and takes, per leader with room for another request, at most one
/// ready batch per partition. Returns the requests and when to look again.
fn drain(
    inner: &Inner,
    now: Instant,
    node_in_flight: &HashMap<i32, usize>,
) -> (Vec<(i32, RequestBatches)>, Option<Instant>) {
    let config = &inner.config;
    let urgent = inner.flushing.load(Ordering::Acquire) > 0
        || inner.memory.load(Ordering::Acquire) * 10 >= config.buffer_memory * 9
        || inner.closed.load(Ordering::Acquire);
    let max_in_flight = config.client.max_in_flight.max(1);
    let mut next_wake: Option<Instant> = None;
    let mut wake_at = |t: Instant| next_wake = Some(next_wake.map_or(t, |w| w.min(t)));
    let mut requests: HashMap<i32, (usize, RequestBatches)> = HashMap::new();
    let mut missing_leaders = Vec::new();
    // A transactional producer sends a partition's batches only once the
    // partition is in the transaction.
    let sendable = super::txn::sendable(inner);
    let mut acc = inner.acc.lock();
    for (topic, queues) in acc.topics.iter_mut() {
        let meta = inner.cluster.cached(topic);
        for (partition, q) in queues.iter_mut().enumerate() {
            if let Some(open) = &q.open {
                let due = open.created + config.linger;
                if urgent || due <= now || open.builder.size() >= config.batch_size {
                    let _ = inner.seal(q);
                } else {
                    wake_at(due);
                }
            }
            expire(inner, q, now);
            if q.ready.is_empty() {
                continue;
            }
            if let Some(added) = &sendable
                && !added
                    .get(topic.as_str())
                    .is_some_and(|ps| ps.contains(&(partition as i32)))
            {
                continue;
            }
            if let Some(until) = q.backoff_until {
                if until > now {
                    wake_at(until);
                    continue;
                }
                q.backoff_until = None;
            }
            if q.in_flight >= max_in_flight {
                continue;
            }
            let leader = meta
                .as_ref()
                .and_then(|m| m.partitions.get(partition))
                .map_or(-1, |p| p.leader);
            if leader < 0 {
                missing_leaders.push(topic.clone());
                q.backoff_until = Some(now + config.retry_backoff);
                wake_at(now + config.retry_backoff);
                continue;
            }
            let busy = node_in_flight.get(&leader).copied().unwrap_or(0);
            if busy >= max_in_flight {
                continue;
            }
            let (bytes, batches) = requests.entry(leader).or_default();
            let size = q.ready.front().map_or(0, |b| b.bytes.len());
            if !batches.is_empty() && *bytes + size > config.max_request_size {
                continue;
            }
            if let Some(batch) = q.ready.pop_front() {
                *bytes += size;
                q.in_flight += 1;
                batches.push((topic.clone(), partition as i32, batch));
            }
        }
    }
    drop(acc);
    if !missing_leaders.is_empty() {
        missing_leaders.sort();
        missing_leaders.dedup();
        let cluster = inner.cluster.clone();
        tokio::spawn(async move {
            for t in &missing_leaders {
                cluster.invalidate(t);
            }
            let _ = cluster.refresh(Some(&missing_leaders)).await;
        });
    }
    let requests = requests
        .into_iter()
        .filter(|(_, (_, b))| !b.is_empty())
        .map(|(node, (_, b))| (node, b))
        .collect();
    (requests, next_wake)
}

/// Fails the ready batches of `q` that are past the delivery timeout.
fn expire(inner: &Inner, q: &mut super::PartitionQueue, now: Instant) {
    let timeout = inner.config.delivery_timeout;
    while q
        .ready
        .front()
        .is_some_and(|b| now.duration_since(b.created) > timeout)
    {
        if let Some(b) = q.ready.pop_front() {
            let error = ClientError::Timeout(timeout);
            b.shared.complete(Err(error.clone()), b.attempts);
            inner.finish(b.reserved);
            inner.batch_failed(&error);
        }
    }
}

/// Writes one Produce request (in order, here) and spawns the wait for its answer.
async fn start_request(
    inner: &Arc<Inner>,
    node: i32,
    batches: RequestBatches,
    done: &mpsc::UnboundedSender<Completion>,
) {
    let config = &inner.config;
    let mut topics: Vec<TopicProduceData> = Vec::new();
    for (topic, partition, batch) in &batches {
        let data = PartitionProduceData::default()
            .with_index(*partition)
            .with_records(Some(batch.bytes.clone()));
        match topics.iter_mut().find(|t| t.name.0.as_str() == topic) {
            Some(t) => t.partition_data.push(data),
            None => topics.push(
                TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_string(topic.clone())))
                    .with_partition_data(vec![data]),
            ),
        }
    }
    // A transactional producer names its id (Kafka refuses transactional
    // records without it, and the leader verifies with its coordinator).
    let transactional_id = config
        .transactional_id
        .as_ref()
        .map(|id| TransactionalId(StrBytes::from_string(id.clone())));
    let request = ProduceRequest::default()
        .with_transactional_id(transactional_id)
        .with_acks(config.acks)
        .with_timeout_ms(
            config
                .client
                .request_timeout
                .as_millis()
                .min(i32::MAX as u128) as i32,
        )
        .with_topic_data(topics);
    let conn = match inner.cluster.broker(node).await {
        Ok(conn) => conn,
        Err(e) => {
            let _ = done.send(Completion {
                node,
                batches,
                result: Err(e),
            });
            return;
        }
    };
    if config.acks == 0 {
        let result = conn
            .send_only(PRODUCE_KEY, PRODUCE_VERSION, &request)
            .await
            .map(|()| None);
        let _ = done.send(Completion {
            node,
            batches,
            result,
        });
        return;
    }
    let pending = conn
        .start_call(PRODUCE_KEY, PRODUCE_VERSION, &request)
        .await;
    let done = done.clone();
    tokio::spawn(async move {
        let result = match pending {
            Ok(pending) => match pending.wait().await {
                Ok(body) => conn.decode(body, ProduceResponse::decode).map(|r| {
                    conn.throttle(r.throttle_time_ms);
                    Some(r)
                }),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        let _ = done.send(Completion {
            node,
            batches,
            result,
        });
    });
}

/// Settles the batches of a finished request.
fn complete(inner: &Inner, done: Completion, node_in_flight: &mut HashMap<i32, usize>) {
    if let Some(n) = node_in_flight.get_mut(&done.node) {
        *n = n.saturating_sub(1);
    }
    let now = Instant::now();
    let mut invalidate = Vec::new();
    let mut acc = inner.acc.lock();
    for (topic, partition, batch) in done.batches {
        let answer = match &done.result {
            Ok(None) => Ok((-1, -1)),
            Ok(Some(response)) => partition_answer(response, &topic, partition),
            Err(e) => Err(e.clone()),
        };
        let Some(q) = acc
            .topics
            .get_mut(&topic)
            .and_then(|qs| qs.get_mut(partition as usize))
        else {
            continue;
        };
        q.in_flight = q.in_flight.saturating_sub(1);
        match answer {
            Ok(offsets) => {
                batch.shared.complete(Ok(offsets), batch.attempts + 1);
                inner.finish(batch.reserved);
            }
            Err(e) => {
                let code = e.code();
                if matches!(
                    code,
                    Some(codes::NOT_LEADER_OR_FOLLOWER | codes::UNKNOWN_TOPIC_OR_PARTITION)
                ) || !matches!(e, ClientError::Kafka { .. })
                {
                    invalidate.push(topic.clone());
                }
                // A sequence error right behind a batch that is being retried
                // is that batch's fault: retry this one after it.
                let behind_retry = code == Some(codes::OUT_OF_ORDER_SEQUENCE_NUMBER)
                    && q.ready.iter().any(|r| r.number < batch.number);
                let retriable = e.is_retriable() || behind_retry;
                let in_time = now.duration_since(batch.created) < inner.config.delivery_timeout;
                if retriable && batch.attempts < inner.config.retries && in_time {
                    inner.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(topic = %topic, partition, error = %e, attempts = batch.attempts, "retrying a batch");
                    let mut batch = batch;
                    batch.attempts += 1;
                    let at = q.ready.iter().position(|r| r.number > batch.number);
                    q.ready.insert(at.unwrap_or(q.ready.len()), batch);
                    q.backoff_until = Some(now + inner.config.retry_backoff);
                } else {
                    tracing::debug!(topic = %topic, partition, error = %e, records = batch.records, base_sequence = batch.base_sequence, "batch failed");
                    inner.batch_failed(&e);
                    batch.shared.complete(Err(e), batch.attempts + 1);
                    inner.finish(batch.reserved);
                }
            }
        }
    }
    drop(acc);
    if !invalidate.is_empty() {
        for t in &invalidate {
            inner.cluster.invalidate(t);
        }
        invalidate.sort();
        invalidate.dedup();
        let cluster = inner.cluster.clone();
        tokio::spawn(async move {
            let _ = cluster.refresh(Some(&invalidate)).await;
        });
    }
    inner.wake.notify_one();
}

/// The (base offset, log append time) for one partition of a Produce answer.
fn partition_answer(
    response: &ProduceResponse,
    topic: &str,
    partition: i32,
) -> Result<(i64, i64), ClientError> {
    let p = response
        .responses
        .iter()
        .filter(|t| t.name == topic)
        .flat_map(|t| t.partition_responses.iter())
        .find(|p| p.index == partition);
    match p {
        None => Err(ClientError::Kafka {
            code: -1,
            message: Some(format!("no answer for {topic}-{partition}")),
        }),
        // A duplicate the broker recognised: the data is there.
        Some(p) if p.error_code == codes::DUPLICATE_SEQUENCE_NUMBER => Ok((-1, -1)),
        Some(p) if p.error_code != 0 => Err(ClientError::Kafka {
            code: p.error_code,
            message: p.error_message.clone(),
        }),
        Some(p) => Ok((p.base_offset, p.log_append_time_ms)),
    }
}
