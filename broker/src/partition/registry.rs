//! The broker's directory of partitions: who to cast appends to, which log view to
//! read, and which watch to wait on for new data. Written by partition actors as
//! they start and stop, read by every connection.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use parking_lot::RwLock;
use ractor::ActorRef;
use tokio::sync::watch;

use super::actor::PartitionMsg;
use super::txns::AbortedIndex;
use crate::log::LogReader;

/// A topic-partition key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: Arc<str>,
    /// Partition index.
    pub partition: i32,
}

impl TopicPartition {
    /// A key for `topic`/`partition`.
    pub fn new(topic: &str, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// A serving partition as connections see it.
#[derive(Clone)]
pub struct PartitionHandle {
    /// The actor that alone writes the log.
    pub actor: ActorRef<PartitionMsg>,
    /// Read-only view of the log.
    pub reader: LogReader,
    /// The high watermark; changes wake parked consumer fetches.
    pub high_watermark: watch::Receiver<i64>,
    /// The log end offset; changes wake parked follower fetches.
    pub log_end: watch::Receiver<i64>,
    /// While this replica leads: the log end offset when its epoch began
    /// (-1 otherwise). Until the high watermark reaches it, the leader does
    /// not know where the committed log ends (ListOffsets answers
    /// OFFSET_NOT_AVAILABLE, as Kafka's does).
    pub epoch_start_offset: Arc<AtomicI64>,
    /// The last stable offset (read_committed fetches read below it; its
    /// changes wake them).
    pub last_stable: watch::Receiver<i64>,
    /// The aborted transactions read_committed fetches are told of.
    pub aborted: AbortedIndex,
    /// Figures the actor publishes for `/metrics`.
    pub stats: Arc<PartitionStats>,
}

/// Figures a partition actor publishes for `/metrics` (read when scraped).
#[derive(Debug)]
pub struct PartitionStats {
    /// Producer ids whose state (sequences, epoch) the partition keeps.
    pub producer_ids: std::sync::atomic::AtomicUsize,
    /// While leading: how many offsets the furthest-behind follower lacks of
    /// the log end; -1 otherwise.
    pub max_follower_lag: AtomicI64,
}

impl Default for PartitionStats {
    fn default() -> Self {
        Self {
            producer_ids: Default::default(),
            max_follower_lag: AtomicI64::new(-1),
        }
    }
}

/// A partition's state in the registry.
#[derive(Clone)]
pub enum PartitionEntry {
    /// Serving.
    Online(PartitionHandle),
    /// Its actor kept failing; its storage is considered broken (KAFKA_STORAGE_ERROR).
    Offline,
}

/// All partitions of this broker.
#[derive(Default)]
pub struct PartitionRegistry {
    /// Entries by topic-partition.
    entries: RwLock<HashMap<TopicPartition, PartitionEntry>>,
    /// Metadata image version the partition set last matched; waiters watch it.
    reconciled: watch::Sender<u64>,
}

impl PartitionRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The entry for `tp`, if any.
    pub fn get(&self, tp: &TopicPartition) -> Option<PartitionEntry> {
        self.entries.read().get(tp).cloned()
    }

    /// Looks up by name without building a key.
    pub fn lookup(&self, topic: &str, partition: i32) -> Option<PartitionEntry> {
        self.get(&TopicPartition::new(topic, partition))
    }

    /// Sets the entry for `tp`.
    pub fn set(&self, tp: TopicPartition, entry: PartitionEntry) {
        self.entries.write().insert(tp, entry);
    }

    /// Removes `tp` (topic deleted).
    pub fn remove(&self, tp: &TopicPartition) {
        self.entries.write().remove(tp);
    }

    /// Every partition key currently registered.
    pub fn keys(&self) -> Vec<TopicPartition> {
        self.entries.read().keys().cloned().collect()
    }

    /// Records that partitions now match metadata `version`.
    pub fn mark_reconciled(&self, version: u64) {
        self.reconciled.send_replace(version);
    }

    /// A receiver to wait for reconciliation of a given metadata version.
    pub fn reconciled(&self) -> watch::Receiver<u64> {
        self.reconciled.subscribe()
    }
}
