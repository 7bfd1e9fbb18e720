//! The producer: records are partitioned, appended to a per-partition open
//! batch, sealed when full or after `linger`, and sent by one background task
//! that groups the ready batches of each leader into one Produce request.
//!
//! Idempotence (on by default, as in the Java client): the producer takes a
//! producer id from the cluster, numbers each partition's records, and resends
//! a failed batch with the same numbers, so a retry of something the broker
//! already appended is answered with its original offsets instead of being
//! written twice. Up to `max_in_flight` requests per broker are in flight; a
//! batch that must be retried goes back to the front of its partition's queue
//! and the partition waits `retry_backoff` before sending again.
//!
//! Transactions (with a `transactional_id`): see [`txn`]'s notes and
//! [`Producer::init_transactions`].

pub mod batch;
pub mod partitioner;
mod sender;
mod txn;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;

use self::batch::{BatchBuilder, Header};
use self::partitioner::{DefaultPartitioner, Partitioner};
use crate::cluster::{ClientConfig, Cluster};
use crate::error::ClientError;
use crate::protocol::compression::Compression;

/// Producer settings (Kafka's names in the docs).
#[derive(Clone)]
pub struct ProducerConfig {
    /// Connection settings.
    pub client: ClientConfig,
    /// `acks`: 0, 1 or -1 (all).
    pub acks: i16,
    /// `linger.ms`: how long a batch waits for more records.
    pub linger: Duration,
    /// `batch.size`: bytes at which a batch is sealed.
    pub batch_size: usize,
    /// `compression.type`.
    pub compression: Compression,
    /// `enable.idempotence`.
    pub idempotence: bool,
    /// `retries`: attempts after the first.
    pub retries: u32,
    /// `retry.backoff.ms`.
    pub retry_backoff: Duration,
    /// `delivery.timeout.ms`: from send to the final answer.
    pub delivery_timeout: Duration,
    /// `buffer.memory`: bytes of records waiting or in flight before `send` waits.
    pub buffer_memory: usize,
    /// `max.request.size`.
    pub max_request_size: usize,
    /// Picks partitions.
    pub partitioner: Arc<dyn Partitioner>,
    /// `transactional.id`: makes the producer transactional (it then sends
    /// only inside transactions, after [`Producer::init_transactions`]).
    /// Needs idempotence.
    pub transactional_id: Option<String>,
    /// `transaction.timeout.ms`: how long the coordinator lets a transaction
    /// stay open before it aborts it (and fences the producer).
    pub transaction_timeout: Duration,
    /// `max.block.ms`: the bound of `init_transactions`,
    /// `send_offsets_to_transaction`, `commit_transaction` and
    /// `abort_transaction`.
    pub max_block: Duration,
}

impl ProducerConfig {
    /// Defaults for `bootstrap`: acks=all, idempotent, 5 ms linger, 1 MiB batches.
    pub fn new(bootstrap: &str) -> Self {
        Self {
            client: ClientConfig::new(bootstrap),
            acks: -1,
            linger: Duration::from_millis(5),
            batch_size: 1 << 20,
            compression: Compression::None,
            idempotence: true,
            retries: u32::MAX,
            retry_backoff: Duration::from_millis(100),
            delivery_timeout: Duration::from_secs(120),
            buffer_memory: 64 << 20,
            max_request_size: 8 << 20,
            partitioner: Arc::new(DefaultPartitioner::new()),
            transactional_id: None,
            transaction_timeout: Duration::from_secs(60),
            max_block: Duration::from_secs(60),
        }
    }

    fn validate(&self) -> Result<(), ClientError> {
        if ![0, 1, -1].contains(&self.acks) {
            return Err(ClientError::Config(format!(
                "acks must be 0, 1 or -1, not {}",
                self.acks
            )));
        }
        if self.idempotence && self.acks != -1 {
            return Err(ClientError::Config("idempotence needs acks=all".into()));
        }
        if self.idempotence && self.client.max_in_flight > 5 {
            return Err(ClientError::Config(
                "idempotence allows at most 5 requests in flight".into(),
            ));
        }
        if let Some(id) = &self.transactional_id {
            if id.is_empty() {
                return Err(ClientError::Config(
                    "transactional.id must not be empty".into(),
                ));
            }
            if !self.idempotence {
                return Err(ClientError::Config(
                    "a transactional producer needs idempotence".into(),
                ));
            }
            let ms = self.transaction_timeout.as_millis();
            if ms == 0 || ms > i32::MAX as u128 {
                return Err(ClientError::Config(
                    "transaction.timeout.ms out of range".into(),
                ));
            }
        }
        if self.max_block.is_zero() {
            return Err(ClientError::Config("max.block.ms must be positive".into()));
        }
        if self.batch_size == 0 || self.max_request_size < self.batch_size {
            return Err(ClientError::Config(
                "batch.size must be positive and at most max.request.size".into(),
            ));
        }
        Ok(())
    }
}

/// A record to send.
#[derive(Debug, Clone, Default)]
pub struct ProducerRecord {
    /// Topic.
    pub topic: String,
    /// Partition, or `None` to let the partitioner choose.
    pub partition: Option<i32>,
    /// Key.
    pub key: Option<Bytes>,
    /// Value (`None` is a tombstone).
    pub value: Option<Bytes>,
    /// Headers.
    pub headers: Vec<Header>,
    /// Timestamp in ms, or `None` for now.
    pub timestamp_ms: Option<i64>,
}

impl ProducerRecord {
    /// A record with a value and no key.
    pub fn new(topic: impl Into<String>, value: impl Into<Bytes>) -> Self {
        Self {
            topic: topic.into(),
            value: Some(value.into()),
            ..Default::default()
        }
    }

    /// With a key.
    pub fn key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// With a header.
    pub fn header(mut self, key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.headers.push((key.into(), Some(value.into())));
        self
    }

    /// To a given partition.
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }
}

/// Where a record was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordMetadata {
    /// Partition.
    pub partition: i32,
    /// Offset (-1 with acks=0).
    pub offset: i64,
    /// The broker's timestamp for LogAppendTime topics, else -1.
    pub log_append_time_ms: i64,
}

/// The outcome of a whole batch, shared by its records' futures.
struct BatchState {
    result: Option<Result<(i64, i64), ClientError>>,
    /// Produce requests that carried the batch before it completed.
    sends: u32,
    wakers: Vec<Waker>,
}

/// One batch's completion, shared by the futures of its records.
pub(crate) struct BatchShared {
    partition: i32,
    state: Mutex<BatchState>,
}

impl BatchShared {
    fn new(partition: i32) -> Arc<Self> {
        Arc::new(Self {
            partition,
            state: Mutex::new(BatchState {
                result: None,
                sends: 0,
                wakers: Vec::new(),
            }),
        })
    }

    /// Resolves every record of the batch, which `sends` produce requests carried.
    fn complete(&self, result: Result<(i64, i64), ClientError>, sends: u32) {
        let wakers = {
            let mut state = self.state.lock();
            if state.result.is_some() {
                return;
            }
            state.result = Some(result);
            state.sends = sends;
            std::mem::take(&mut state.wakers)
        };
        for w in wakers {
            w.wake();
        }
    }
}

/// Resolves when the record is acknowledged (or finally failed). Dropping it
/// does not cancel the send.
pub struct DeliveryFuture {
    batch: Arc<BatchShared>,
    index: i32,
    registered: Option<usize>,
}

impl DeliveryFuture {
    /// The outcome, with how many produce requests carried the record's batch.
    /// Zero means the batch never left the client (it expired in the queue), so a
    /// failure then guarantees the record was not appended; after one or more
    /// sends a failure may follow an attempt whose outcome is unknown.
    pub async fn with_sends(self) -> (Result<RecordMetadata, ClientError>, u32) {
        let batch = self.batch.clone();
        let result = self.await;
        let sends = batch.state.lock().sends;
        (result, sends)
    }
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata, ClientError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.batch.state.lock();
        if let Some(result) = &state.result {
            let index = self.index;
            let partition = self.batch.partition;
            return Poll::Ready(result.clone().map(|(base, append_time)| RecordMetadata {
                partition,
                offset: if base < 0 {
                    -1
                } else {
                    base + i64::from(index)
                },
                log_append_time_ms: append_time,
            }));
        }
        match self.registered {
            Some(slot) if slot < state.wakers.len() => state.wakers[slot] = cx.waker().clone(),
            _ => {
                state.wakers.push(cx.waker().clone());
                let slot = state.wakers.len() - 1;
                drop(state);
                self.registered = Some(slot);
            }
        }
        Poll::Pending
    }
}

/// A sealed batch waiting to be sent (or resent).
pub(crate) struct ReadyBatch {
    bytes: Bytes,
    shared: Arc<BatchShared>,
    /// Order within its partition (sequence order for idempotent batches).
    number: u64,
    records: i32,
    base_sequence: i32,
    attempts: u32,
    created: Instant,
    /// Bytes counted against `buffer_memory`.
    reserved: usize,
}

/// The open batch of a partition.
struct OpenBatch {
    builder: BatchBuilder,
    shared: Arc<BatchShared>,
    created: Instant,
    reserved: usize,
}

/// One partition's queue.
#[derive(Default)]
pub(crate) struct PartitionQueue {
    open: Option<OpenBatch>,
    ready: VecDeque<ReadyBatch>,
    next_sequence: i32,
    next_number: u64,
    in_flight: usize,
    backoff_until: Option<Instant>,
}

/// Everything waiting to be sent, by topic then partition.
#[derive(Default)]
pub(crate) struct Accumulator {
    topics: HashMap<String, Vec<PartitionQueue>>,
}

/// The producer id and epoch of an idempotent producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProducerIdentity {
    id: i64,
    epoch: i16,
}

pub(crate) struct Inner {
    config: ProducerConfig,
    cluster: Arc<Cluster>,
    /// The producer id and epoch batches are sealed with (idempotent only).
    identity: Mutex<Option<ProducerIdentity>>,
    /// A batch of this identity failed for good: its sequence numbers left a
    /// gap, so the sender takes a new producer id (KIP-360's reset) once
    /// nothing is in flight, and renumbers every waiting batch (not for a
    /// transactional producer, which bumps its epoch when it aborts).
    needs_reset: AtomicBool,
    /// Transactions (with a `transactional_id`).
    txn: Option<txn::Txn>,
    acc: Mutex<Accumulator>,
    /// Wakes the sender: a batch was sealed or opened, a flush was asked.
    wake: Notify,
    /// Bytes reserved by records not yet finished.
    memory: AtomicUsize,
    /// Wakes senders waiting for memory, and flushers.
    progress: Notify,
    /// Batches created and not yet finished.
    outstanding: AtomicUsize,
    /// Flushes waiting (the sender seals open batches at once while > 0).
    flushing: AtomicUsize,
    /// Batches sent again after a failed attempt.
    retries: AtomicU64,
    closed: AtomicBool,
}

/// An async Kafka producer. Cheap to clone; all clones share one sender task.
#[derive(Clone)]
pub struct Producer {
    inner: Arc<Inner>,
}

impl Producer {
    /// Connects (and, when idempotent, takes a producer id; a transactional
    /// producer takes its own in [`Producer::init_transactions`]).
    pub async fn new(config: ProducerConfig) -> Result<Self, ClientError> {
        config.validate()?;
        let cluster = Cluster::new(config.client.clone())?;
        let txn = config.transactional_id.clone().map(txn::Txn::new);
        let identity = if config.idempotence && txn.is_none() {
            Some(sender::init_producer_id(&cluster).await?)
        } else {
            None
        };
        let inner = Arc::new(Inner {
            config,
            cluster,
            identity: Mutex::new(identity),
            needs_reset: AtomicBool::new(false),
            txn,
            acc: Mutex::new(Accumulator::default()),
            wake: Notify::new(),
            memory: AtomicUsize::new(0),
            progress: Notify::new(),
            outstanding: AtomicUsize::new(0),
            flushing: AtomicUsize::new(0),
            retries: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        });
        tokio::spawn(sender::run(inner.clone()));
        Ok(Self { inner })
    }

    /// The cluster this producer talks to.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.inner.cluster
    }

    /// Batches sent again after a failed attempt, so far.
    pub fn retries(&self) -> u64 {
        self.inner.retries.load(Ordering::Relaxed)
    }

    /// The producer id (idempotent producers only; a transactional one has
    /// it after `init_transactions`).
    pub fn producer_id(&self) -> Option<i64> {
        self.inner.identity.lock().map(|i| i.id)
    }

    /// Queues a record; waits only while `buffer.memory` is used up. The
    /// returned future resolves when the record is acknowledged.
    pub async fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture, ClientError> {
        let inner = &self.inner;
        if inner.closed.load(Ordering::Acquire) {
            return Err(ClientError::Closed);
        }
        if let Some(txn) = &inner.txn {
            txn.check_send(&txn.state.lock())?;
        }
        let size = BatchBuilder::record_size_bound(
            record.key.as_deref(),
            record.value.as_deref(),
            &record.headers,
        );
        if size + batch::HEADER_BYTES > inner.config.max_request_size {
            return Err(ClientError::Kafka {
                code: 10,
                message: Some(format!(
                    "a record of {size} bytes exceeds max.request.size {}",
                    inner.config.max_request_size
                )),
            });
        }
        inner.reserve(size).await?;
        let topic = match inner.cluster.cached(&record.topic) {
            Some(t) => t,
            None => match inner.cluster.topic(&record.topic).await {
                Ok(t) => t,
                Err(e) => {
                    inner.release(size);
                    return Err(e);
                }
            },
        };
        let count = topic.partitions.len() as i32;
        let partition = match record.partition {
            Some(p) if (0..count).contains(&p) => p,
            Some(p) => {
                inner.release(size);
                return Err(ClientError::UnknownTopic(format!("{}-{p}", record.topic)));
            }
            None => inner
                .config
                .partitioner
                .partition(&record.topic, record.key.as_deref(), count),
        };
        let timestamp = record.timestamp_ms.unwrap_or_else(now_ms);
        // A transactional record joins the open transaction under its lock, so
        // a commit either refuses it or waits for it.
        let mut txn_state = inner.txn.as_ref().map(|t| t.state.lock());
        if let (Some(txn), Some(state)) = (&inner.txn, &txn_state)
            && let Err(e) = txn.check_send(state)
        {
            drop(txn_state);
            inner.release(size);
            return Err(e);
        }
        let (future, wake) = {
            let mut acc = inner.acc.lock();
            let queues = match acc.topics.get_mut(&record.topic) {
                Some(q) => q,
                None => acc.topics.entry(record.topic.clone()).or_default(),
            };
            if queues.len() < count as usize {
                queues.resize_with(count as usize, PartitionQueue::default);
            }
            let q = &mut queues[partition as usize];
            let mut wake = false;
            if let Some(open) = &q.open
                && open.builder.count() > 0
                && open.builder.size() + size > inner.config.batch_size
            {
                inner.seal(q)?;
                wake = true;
                if record.partition.is_none() && record.key.is_none() {
                    inner
                        .config
                        .partitioner
                        .on_new_batch(&record.topic, count, partition);
                }
            }
            let open = q.open.get_or_insert_with(|| {
                wake = true;
                inner.outstanding.fetch_add(1, Ordering::AcqRel);
                let mut builder =
                    BatchBuilder::new(inner.config.batch_size.min(size * 64).max(4096));
                builder.set_transactional(inner.txn.is_some());
                OpenBatch {
                    builder,
                    shared: BatchShared::new(partition),
                    created: Instant::now(),
                    reserved: 0,
                }
            });
            let index = open.builder.append(
                timestamp,
                record.key.as_deref(),
                record.value.as_deref(),
                &record.headers,
            );
            open.reserved += size;
            let future = DeliveryFuture {
                batch: open.shared.clone(),
                index,
                registered: None,
            };
            if let Some(state) = txn_state.as_deref_mut() {
                txn::Txn::note_partition(state, &record.topic, partition);
            }
            (future, wake)
        };
        drop(txn_state);
        if wake {
            inner.wake.notify_one();
        }
        Ok(future)
    }

    /// Queues records in order; one future per record.
    pub async fn send_batch(
        &self,
        records: impl IntoIterator<Item = ProducerRecord>,
    ) -> Result<Vec<DeliveryFuture>, ClientError> {
        let records = records.into_iter();
        let mut futures = Vec::with_capacity(records.size_hint().0);
        for record in records {
            futures.push(self.send(record).await?);
        }
        Ok(futures)
    }

    /// Sends every queued record now and waits until all are finished.
    pub async fn flush(&self, timeout: Duration) -> Result<(), ClientError> {
        let inner = &self.inner;
        inner.flushing.fetch_add(1, Ordering::AcqRel);
        inner.wake.notify_one();
        let deadline = tokio::time::Instant::now() + timeout;
        let result = loop {
            let progressed = inner.progress.notified();
            if inner.outstanding.load(Ordering::Acquire) == 0 {
                break Ok(());
            }
            if tokio::time::timeout_at(deadline, progressed).await.is_err() {
                break Err(ClientError::Timeout(timeout));
            }
        };
        inner.flushing.fetch_sub(1, Ordering::AcqRel);
        result
    }

    /// Flushes, then stops the sender task.
    pub async fn close(&self, timeout: Duration) -> Result<(), ClientError> {
        let flushed = self.flush(timeout).await;
        self.inner.closed.store(true, Ordering::Release);
        self.inner.wake.notify_one();
        flushed
    }
}

impl Inner {
    /// Waits until `size` more bytes fit in `buffer.memory`.
    async fn reserve(&self, size: usize) -> Result<(), ClientError> {
        let limit = self.config.buffer_memory;
        loop {
            let progressed = self.progress.notified();
            let used = self.memory.load(Ordering::Acquire);
            if used == 0 || used + size <= limit {
                if self
                    .memory
                    .compare_exchange(used, used + size, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    return Ok(());
                }
                continue;
            }
            if self.closed.load(Ordering::Acquire) {
                return Err(ClientError::Closed);
            }
            // Let the sender seal what is waiting rather than linger on a full buffer.
            self.wake.notify_one();
            let _ = tokio::time::timeout(Duration::from_millis(100), progressed).await;
        }
    }

    fn release(&self, size: usize) {
        self.memory.fetch_sub(size, Ordering::AcqRel);
        self.progress.notify_waiters();
    }

    /// Seals the open batch of `q` into its ready queue.
    fn seal(&self, q: &mut PartitionQueue) -> Result<(), ClientError> {
        let Some(open) = q.open.take() else {
            return Ok(());
        };
        let records = open.builder.count();
        let identity = *self.identity.lock();
        let (id, epoch, base_sequence) = match identity {
            Some(i) => (i.id, i.epoch, q.next_sequence),
            None => (-1, -1, -1),
        };
        let sealed = open
            .builder
            .seal(self.config.compression, id, epoch, base_sequence);
        let bytes = match sealed {
            Ok(bytes) => bytes,
            Err(e) => {
                let error = ClientError::Config(format!("compression failed: {e}"));
                open.shared.complete(Err(error.clone()), 0);
                self.finish(open.reserved);
                return Err(error);
            }
        };
        if identity.is_some() {
            q.next_sequence = ((i64::from(q.next_sequence) + i64::from(records))
                % (i64::from(i32::MAX) + 1)) as i32;
        }
        q.ready.push_back(ReadyBatch {
            bytes,
            shared: open.shared,
            number: q.next_number,
            records,
            base_sequence,
            attempts: 0,
            created: open.created,
            reserved: open.reserved,
        });
        q.next_number += 1;
        Ok(())
    }

    /// A batch failed for good with `error`: an idempotent producer's sequence
    /// numbers must not be waited for (see `needs_reset`); a transactional
    /// producer's transaction can only be aborted.
    fn batch_failed(&self, error: &ClientError) {
        match &self.txn {
            Some(txn) => txn.batch_failed(error),
            None if self.config.idempotence => self.needs_reset.store(true, Ordering::Release),
            None => {}
        }
    }

    /// Renumbers every waiting batch from sequence 0, in queue order, for
    /// `identity` (nothing is in flight).
    fn renumber(&self, identity: ProducerIdentity) {
        let mut acc = self.acc.lock();
        for queues in acc.topics.values_mut() {
            for q in queues.iter_mut() {
                let mut sequence = 0i32;
                for batch in q.ready.iter_mut() {
                    batch.bytes =
                        batch::restamp(&batch.bytes, identity.id, identity.epoch, sequence);
                    batch.base_sequence = sequence;
                    sequence = sequence.wrapping_add(batch.records);
                }
                q.next_sequence = sequence;
            }
        }
    }

    /// Fails every batch not sent yet with `error`: the open ones, and the
    /// ready ones never sent (the tail of each queue; the partition's next
    /// sequence goes back to the first of them, so no gap is left). Batches
    /// sent before and waiting for a retry stay.
    fn abort_undrained(&self, error: &ClientError) {
        let mut failed = Vec::new();
        {
            let mut acc = self.acc.lock();
            for queues in acc.topics.values_mut() {
                for q in queues.iter_mut() {
                    if let Some(open) = q.open.take() {
                        failed.push((open.shared, open.reserved));
                    }
                    while q.ready.back().is_some_and(|b| b.attempts == 0) {
                        if let Some(b) = q.ready.pop_back() {
                            q.next_sequence = b.base_sequence.max(0);
                            failed.push((b.shared, b.reserved));
                        }
                    }
                }
            }
        }
        for (shared, reserved) in failed {
            shared.complete(Err(error.clone()), 0);
            self.finish(reserved);
        }
    }

    /// A batch is done (acknowledged or failed for good).
    fn finish(&self, reserved: usize) {
        self.outstanding.fetch_sub(1, Ordering::AcqRel);
        self.release(reserved);
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
