//! The consumer: partitions assigned explicitly (group membership comes on top
//! of this), fetched by a background task that keeps one Fetch in flight per
//! leader and queues what came back (bounded), so the next fetch runs while the
//! application works through the last one.
//!
//! `seek`, `pause` and `resume` change the shared positions; a seek bumps the
//! partition's epoch so data fetched for the old position is dropped.
//!
//! Transactions: control batches (commit and abort markers) are never handed
//! to the application; with [`IsolationLevel::ReadCommitted`] the consumer
//! reads only below the last stable offset and drops the records of aborted
//! transactions (from the Fetch answer's aborted transactions, as Kafka's
//! consumers do). Positions move past skipped batches once the application
//! has taken everything before them.

pub mod assignor;
mod fetcher;
pub mod group;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::{Notify, mpsc};

use crate::cluster::{ClientConfig, Cluster};
use crate::error::ClientError;

pub use fetcher::{list_offset, list_offset_with};

/// `isolation.level`: which records of transactions a consumer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IsolationLevel {
    /// Every record up to the high watermark, aborted transactions included
    /// (Kafka's default).
    #[default]
    ReadUncommitted,
    /// Records of committed transactions (and non-transactional ones) only,
    /// up to the last stable offset: nothing of an open or aborted transaction.
    ReadCommitted,
}

impl IsolationLevel {
    /// The wire value (Fetch, ListOffsets): 0 or 1.
    pub fn as_i8(self) -> i8 {
        match self {
            Self::ReadUncommitted => 0,
            Self::ReadCommitted => 1,
        }
    }
}

/// Consumer settings (Kafka's names in the docs).
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// Connection settings.
    pub client: ClientConfig,
    /// `fetch.min.bytes`.
    pub fetch_min_bytes: i32,
    /// `fetch.max.wait.ms`.
    pub fetch_max_wait: Duration,
    /// `fetch.max.bytes`.
    pub fetch_max_bytes: i32,
    /// `max.partition.fetch.bytes`.
    pub max_partition_fetch_bytes: i32,
    /// `isolation.level`.
    pub isolation_level: IsolationLevel,
    /// Where to start when a position is out of range (`auto.offset.reset`).
    pub auto_offset_reset: Offset,
    /// Fetch answers buffered ahead of `poll`.
    pub prefetch: usize,
}

impl ConsumerConfig {
    /// Defaults for `bootstrap`.
    pub fn new(bootstrap: &str) -> Self {
        Self {
            client: ClientConfig::new(bootstrap),
            fetch_min_bytes: 1,
            fetch_max_wait: Duration::from_millis(500),
            fetch_max_bytes: 50 << 20,
            max_partition_fetch_bytes: 8 << 20,
            isolation_level: IsolationLevel::ReadUncommitted,
            auto_offset_reset: Offset::Beginning,
            prefetch: 4,
        }
    }
}

/// Where to start reading a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offset {
    /// The log start.
    Beginning,
    /// The log end (only new records).
    End,
    /// This offset.
    At(i64),
    /// The first offset with a timestamp at or after this one (ms).
    Timestamp(i64),
}

/// A record handed to the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    /// Topic.
    pub topic: Arc<str>,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Timestamp (ms).
    pub timestamp_ms: i64,
    /// Key.
    pub key: Option<Bytes>,
    /// Value.
    pub value: Option<Bytes>,
    /// Headers.
    pub headers: Vec<(Bytes, Option<Bytes>)>,
}

impl ConsumerRecord {
    /// The value of the first header named `key`.
    pub fn header(&self, key: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(k, _)| k.as_ref() == key.as_bytes())
            .and_then(|(_, v)| v.as_deref())
    }
}

/// Skips records whose header `key` is missing or differs from `value`, before
/// the application sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderFilter {
    /// Header name.
    pub key: String,
    /// Required value (`None`: the header must be present with any value).
    pub value: Option<Bytes>,
}

impl HeaderFilter {
    /// Whether `record` passes.
    pub fn matches(&self, record: &ConsumerRecord) -> bool {
        record
            .headers
            .iter()
            .filter(|(k, _)| k.as_ref() == self.key.as_bytes())
            .any(|(_, v)| match &self.value {
                None => true,
                Some(want) => v.as_deref() == Some(want.as_ref()),
            })
    }
}

/// Where one assigned partition stands.
#[derive(Debug, Clone)]
pub(crate) struct PartitionPosition {
    /// Next offset to fetch.
    fetch_at: i64,
    /// Next offset to hand to the application.
    position: i64,
    /// Bumped by every seek: fetched data of an older epoch is dropped.
    epoch: u64,
    paused: bool,
    /// A fetch for it is in flight.
    in_flight: bool,
    /// The broker's high watermark from the last fetch (for lag).
    high_watermark: i64,
    /// The broker's last stable offset from the last fetch (read_committed's end).
    last_stable_offset: i64,
    /// Leader epoch of the last batch fetched (-1: none since the last
    /// seek): what a new leader is asked to confirm (KIP-320).
    last_fetched_epoch: i32,
    /// The partition's leader epoch this position was fetched or validated
    /// under (-1: none yet); a newer one in the metadata means validate first.
    leader_epoch: i32,
}

/// Positions by (topic, partition).
pub(crate) type Positions = HashMap<(Arc<str>, i32), PartitionPosition>;

/// What the fetch task hands over.
pub(crate) struct Fetched {
    topic: Arc<str>,
    partition: i32,
    epoch: u64,
    records: Result<Vec<ConsumerRecord>, ClientError>,
    /// The offset after everything fetched (skipped batches included).
    next: i64,
}

/// What `poll` takes from: records, and where a partition's position goes
/// once the records before are taken (past control batches and aborted
/// transactions, which hand out nothing).
#[derive(Debug)]
enum Buffered {
    Record(ConsumerRecord),
    Advance {
        topic: Arc<str>,
        partition: i32,
        next: i64,
    },
}

impl Buffered {
    fn is_of(&self, topic: &str, partition: i32) -> bool {
        let (t, p) = match self {
            Self::Record(r) => (r.topic.as_ref(), r.partition),
            Self::Advance {
                topic, partition, ..
            } => (topic.as_ref(), *partition),
        };
        t == topic && p == partition
    }
}

/// State shared with the fetch task.
pub(crate) struct Shared {
    config: ConsumerConfig,
    cluster: Arc<Cluster>,
    positions: Mutex<Positions>,
    /// Wakes the fetch task (assignment or position changed).
    wake: Notify,
    closed: std::sync::atomic::AtomicBool,
}

/// An async Kafka consumer over explicitly assigned partitions.
pub struct Consumer {
    shared: Arc<Shared>,
    fetched: mpsc::Receiver<Fetched>,
    filter: Option<HeaderFilter>,
    /// Records fetched but not yet returned by `poll`.
    buffered: std::collections::VecDeque<Buffered>,
}

impl Consumer {
    /// A consumer (nothing assigned yet).
    pub fn new(config: ConsumerConfig) -> Result<Self, ClientError> {
        let cluster = Cluster::new(config.client.clone())?;
        let (tx, rx) = mpsc::channel(config.prefetch.max(1));
        let shared = Arc::new(Shared {
            config,
            cluster,
            positions: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            closed: std::sync::atomic::AtomicBool::new(false),
        });
        tokio::spawn(fetcher::run(shared.clone(), tx));
        Ok(Self {
            shared,
            fetched: rx,
            filter: None,
            buffered: Default::default(),
        })
    }

    /// The cluster this consumer talks to.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.shared.cluster
    }

    /// Hands only records passing `filter` to the application.
    pub fn set_header_filter(&mut self, filter: Option<HeaderFilter>) {
        self.filter = filter;
    }

    /// Replaces the assignment; each partition starts at its [`Offset`].
    pub async fn assign(
        &mut self,
        partitions: Vec<(String, i32, Offset)>,
    ) -> Result<(), ClientError> {
        let mut resolved = Vec::with_capacity(partitions.len());
        for (topic, partition, offset) in partitions {
            let at = self.resolve(&topic, partition, offset).await?;
            resolved.push((Arc::<str>::from(topic), partition, at));
        }
        {
            let mut positions = self.shared.positions.lock();
            positions.clear();
            for (topic, partition, at) in resolved {
                positions.insert((topic, partition), PartitionPosition::at(at, fresh_epoch()));
            }
        }
        self.buffered.clear();
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Every partition of `topic`, from `offset`.
    pub async fn assign_topic(&mut self, topic: &str, offset: Offset) -> Result<(), ClientError> {
        let meta = self.shared.cluster.topic(topic).await?;
        let partitions = meta
            .partitions
            .iter()
            .map(|p| (topic.to_owned(), p.partition, offset))
            .collect();
        self.assign(partitions).await
    }

    /// The assigned partitions.
    pub fn assignment(&self) -> Vec<(Arc<str>, i32)> {
        let mut v: Vec<_> = self.shared.positions.lock().keys().cloned().collect();
        v.sort();
        v
    }

    /// Moves a partition's position.
    pub async fn seek(
        &mut self,
        topic: &str,
        partition: i32,
        offset: Offset,
    ) -> Result<(), ClientError> {
        let at = self.resolve(topic, partition, offset).await?;
        {
            let mut positions = self.shared.positions.lock();
            let Some(p) = positions.get_mut(&(Arc::from(topic), partition)) else {
                return Err(ClientError::UnknownTopic(format!(
                    "{topic}-{partition} is not assigned"
                )));
            };
            *p = PartitionPosition::at(at, p.epoch + 1);
        }
        self.buffered.retain(|b| !b.is_of(topic, partition));
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Stops fetching these partitions until resumed.
    pub fn pause(&mut self, partitions: &[(String, i32)]) {
        self.set_paused(partitions, true);
    }

    /// Fetches these partitions again.
    pub fn resume(&mut self, partitions: &[(String, i32)]) {
        self.set_paused(partitions, false);
        self.shared.wake.notify_one();
    }

    fn set_paused(&mut self, partitions: &[(String, i32)], paused: bool) {
        let mut positions = self.shared.positions.lock();
        for (t, p) in partitions {
            if let Some(pos) = positions.get_mut(&(Arc::from(t.as_str()), *p)) {
                pos.paused = paused;
            }
        }
        if paused {
            self.buffered
                .retain(|b| !partitions.iter().any(|(t, p)| b.is_of(t, *p)));
            for ((t, p), pos) in positions.iter_mut() {
                if partitions
                    .iter()
                    .any(|(pt, pp)| pt == t.as_ref() && pp == p)
                {
                    // Refetch from what the application has not seen.
                    pos.fetch_at = pos.position;
                    pos.epoch += 1;
                }
            }
        }
    }

    /// For group membership: drops `remove` (and their buffered records) and
    /// adds `add` at their starting offsets, keeping every other position.
    pub(crate) fn update_assignment(
        &mut self,
        remove: &[(Arc<str>, i32)],
        add: Vec<(Arc<str>, i32, i64)>,
    ) {
        {
            let mut positions = self.shared.positions.lock();
            for key in remove {
                positions.remove(key);
            }
            for (topic, partition, at) in add {
                positions.insert((topic, partition), PartitionPosition::at(at, fresh_epoch()));
            }
        }
        self.buffered
            .retain(|b| !remove.iter().any(|(t, p)| b.is_of(t, *p)));
        self.shared.wake.notify_one();
    }

    /// Every assigned partition with its position (next offset for the
    /// application), from one look at the shared state.
    pub(crate) fn positions(&self) -> Vec<(Arc<str>, i32, i64)> {
        self.shared
            .positions
            .lock()
            .iter()
            .map(|((t, p), pos)| (t.clone(), *p, pos.position))
            .collect()
    }

    /// Next offset to be handed to the application for a partition.
    pub fn position(&self, topic: &str, partition: i32) -> Option<i64> {
        self.shared
            .positions
            .lock()
            .get(&(Arc::from(topic), partition))
            .map(|p| p.position)
    }

    /// The high watermark seen in the last fetch of a partition.
    pub fn high_watermark(&self, topic: &str, partition: i32) -> Option<i64> {
        self.shared
            .positions
            .lock()
            .get(&(Arc::from(topic), partition))
            .map(|p| p.high_watermark)
    }

    /// The last stable offset seen in the last fetch of a partition (where a
    /// read_committed consumer's partition ends for now).
    pub fn last_stable_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        self.shared
            .positions
            .lock()
            .get(&(Arc::from(topic), partition))
            .map(|p| p.last_stable_offset)
    }

    /// Where a partition ends for this consumer as of the last fetch: the last
    /// stable offset for read_committed, else the high watermark.
    pub fn end_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        match self.shared.config.isolation_level {
            IsolationLevel::ReadCommitted => self.last_stable_offset(topic, partition),
            IsolationLevel::ReadUncommitted => self.high_watermark(topic, partition),
        }
    }

    /// Up to `max` records, waiting at most `timeout` for the first.
    pub async fn poll(
        &mut self,
        max: usize,
        timeout: Duration,
    ) -> Result<Vec<ConsumerRecord>, ClientError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if !self.buffered.is_empty() {
                let out = self.take_buffered(max.max(1));
                if !out.is_empty() {
                    return Ok(out);
                }
                continue;
            }
            let next = match tokio::time::timeout_at(deadline, self.fetched.recv()).await {
                Ok(Some(f)) => f,
                Ok(None) => return Err(ClientError::Closed),
                Err(_) => return Ok(Vec::new()),
            };
            self.accept(next)?;
        }
    }

    /// Takes a fetched chunk if it is still current.
    fn accept(&mut self, fetched: Fetched) -> Result<(), ClientError> {
        let current = {
            let positions = self.shared.positions.lock();
            positions
                .get(&(fetched.topic.clone(), fetched.partition))
                .is_some_and(|p| p.epoch == fetched.epoch)
        };
        if !current {
            return Ok(());
        }
        // Filtered records stay buffered until the application gets that far:
        // moving the position past them any sooner would let a commit skip the
        // passing records still buffered in front of them.
        let records = fetched.records?;
        let after_last = records.last().map(|r| r.offset + 1);
        self.buffered
            .extend(records.into_iter().map(Buffered::Record));
        if after_last.is_none_or(|at| at < fetched.next) {
            self.buffered.push_back(Buffered::Advance {
                topic: fetched.topic,
                partition: fetched.partition,
                next: fetched.next,
            });
        }
        Ok(())
    }

    /// Takes up to `max` records that pass the filter from the buffer, and moves
    /// positions past everything taken, the skipped records included.
    fn take_buffered(&mut self, max: usize) -> Vec<ConsumerRecord> {
        let mut out = Vec::new();
        let mut next: HashMap<(Arc<str>, i32), i64> = HashMap::new();
        loop {
            // Advances right behind the last record taken are taken too.
            let full = out.len() >= max;
            if full && !matches!(self.buffered.front(), Some(Buffered::Advance { .. })) {
                break;
            }
            match self.buffered.pop_front() {
                None => break,
                Some(Buffered::Advance {
                    topic,
                    partition,
                    next: at,
                }) => {
                    let n = next.entry((topic, partition)).or_insert(at);
                    *n = (*n).max(at);
                }
                Some(Buffered::Record(record)) => {
                    next.insert((record.topic.clone(), record.partition), record.offset + 1);
                    if self.filter.as_ref().is_none_or(|f| f.matches(&record)) {
                        out.push(record);
                    }
                }
            }
        }
        let mut positions = self.shared.positions.lock();
        for (key, at) in next {
            if let Some(p) = positions.get_mut(&key) {
                p.position = p.position.max(at);
            }
        }
        out
    }

    async fn resolve(
        &self,
        topic: &str,
        partition: i32,
        offset: Offset,
    ) -> Result<i64, ClientError> {
        let cluster = &self.shared.cluster;
        let isolation = self.shared.config.isolation_level;
        let list = |timestamp| list_offset_with(cluster, topic, partition, timestamp, isolation);
        match offset {
            Offset::At(at) if at >= 0 => Ok(at),
            Offset::At(_) | Offset::Beginning => list(-2).await,
            Offset::End => list(-1).await,
            Offset::Timestamp(ts) => {
                let at = list(ts).await?;
                if at < 0 { list(-1).await } else { Ok(at) }
            }
        }
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.shared
            .closed
            .store(true, std::sync::atomic::Ordering::Release);
        self.shared.wake.notify_one();
    }
}

/// An epoch no assignment used before, so an answer fetched for an earlier
/// ownership of a partition is never taken for a later one (seeks add 1 to
/// an epoch; assignments step by 2^20).
fn fresh_epoch() -> u64 {
    static NEXT_EPOCH: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1 << 32);
    NEXT_EPOCH.fetch_add(1 << 20, std::sync::atomic::Ordering::Relaxed)
}

impl PartitionPosition {
    fn at(offset: i64, epoch: u64) -> Self {
        Self {
            fetch_at: offset,
            position: offset,
            epoch,
            paused: false,
            in_flight: false,
            high_watermark: -1,
            last_stable_offset: -1,
            last_fetched_epoch: -1,
            leader_epoch: -1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(headers: &[(&str, Option<&str>)]) -> ConsumerRecord {
        ConsumerRecord {
            topic: Arc::from("t"),
            partition: 0,
            offset: 0,
            timestamp_ms: 0,
            key: None,
            value: None,
            headers: headers
                .iter()
                .map(|(k, v)| {
                    (
                        Bytes::copy_from_slice(k.as_bytes()),
                        v.map(|v| Bytes::copy_from_slice(v.as_bytes())),
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn header_filter_matches_key_and_value() {
        let by_value = HeaderFilter {
            key: "kind".into(),
            value: Some(Bytes::from_static(b"order")),
        };
        let any_value = HeaderFilter {
            key: "kind".into(),
            value: None,
        };
        assert!(by_value.matches(&record(&[("kind", Some("order"))])));
        assert!(by_value.matches(&record(&[("kind", Some("x")), ("kind", Some("order"))])));
        assert!(!by_value.matches(&record(&[("kind", Some("refund"))])));
        assert!(!by_value.matches(&record(&[("kind", None)])));
        assert!(!by_value.matches(&record(&[("other", Some("order"))])));
        assert!(!by_value.matches(&record(&[])));
        assert!(any_value.matches(&record(&[("kind", None)])));
        assert!(!any_value.matches(&record(&[("Kind", Some("order"))])));
        assert_eq!(
            record(&[("kind", Some("order"))]).header("kind"),
            Some(&b"order"[..])
        );
    }
}
