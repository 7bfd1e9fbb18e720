//! Partitions: one actor per partition, the only writer of its log; a manager that
//! keeps the set of partition actors in line with the metadata image; and the
//! registry connections use to find them.

pub mod actor;
pub mod manager;
pub mod producers;
pub mod registry;
pub mod replication;
pub mod txns;

#[cfg(test)]
mod tests;

pub use actor::{
    AppendOutcome, Partition, PartitionArgs, PartitionMsg, ProducerDescription, ReplicaReset,
};
pub use manager::{PartitionManager, PartitionManagerArgs};
pub use registry::{
    PartitionEntry, PartitionHandle, PartitionRegistry, PartitionStats, TopicPartition,
};
pub use replication::{IsrChange, IsrChanges};
pub use txns::TxnCheck;

use thiserror::Error;

/// Why an append or read failed; mapped to Kafka codes in `errors`.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum PartitionError {
    /// Bad CRC, bad lengths, or a record set that is not whole batches.
    #[error("corrupt record batch: {0}")]
    CorruptMessage(String),
    /// A batch larger than the topic's `max.message.bytes`.
    #[error("record batch of {size} bytes exceeds max.message.bytes {max}")]
    MessageTooLarge { size: usize, max: usize },
    /// Magic 0/1 message sets (only RecordBatch v2 is accepted).
    #[error("only record batch format v2 (magic 2) is supported")]
    UnsupportedMessageFormat,
    /// A well-formed batch Weir refuses (a control batch from a client, a
    /// transactional batch without a producer id).
    #[error("invalid record: {0}")]
    InvalidRecord(String),
    /// The log failed (I/O, fsync); the partition restarts and recovers.
    #[error("storage error: {0}")]
    Storage(String),
    /// The partition is restarting or gone.
    #[error("partition not available")]
    NotAvailable,
    /// The append was not acknowledged in time.
    #[error("timed out")]
    Timeout,
    /// A read outside the log.
    #[error("offset out of range")]
    OffsetOutOfRange,
    /// An idempotent batch whose sequence does not follow the producer's last.
    #[error("out of order sequence: {0}")]
    OutOfOrderSequence(String),
    /// A batch from an older epoch of a producer id (a fenced instance).
    #[error("invalid producer epoch: {0}")]
    InvalidProducerEpoch(String),
    /// This replica does not lead the partition (or not under that epoch).
    #[error("not the leader of this partition")]
    NotLeader,
    /// An acks=all append refused: fewer in-sync replicas than `min.insync.replicas`.
    #[error("{isr} in-sync replicas, below min.insync.replicas {min}")]
    NotEnoughReplicas { isr: usize, min: i32 },
    /// An acks=all append written, but the ISR shrank below
    /// `min.insync.replicas` before it was replicated.
    #[error("appended, but the in-sync replicas fell below min.insync.replicas {min}")]
    NotEnoughReplicasAfterAppend { min: i32 },
    /// A replica request under an older leader epoch than this replica's.
    #[error("leader epoch {request} is older than the current {current}")]
    FencedLeaderEpoch { request: i32, current: i32 },
    /// A batch that would open a transaction here, to be verified with the
    /// transaction's coordinator and appended again under `guard` (KIP-890).
    #[error(
        "producer {producer_id} epoch {epoch}: the partition must be verified with the transaction coordinator"
    )]
    NeedsVerification {
        producer_id: i64,
        epoch: i16,
        guard: u64,
    },
    /// A replica request under a newer leader epoch than this replica knows.
    #[error("leader epoch {request} is newer than the current {current}")]
    UnknownLeaderEpoch { request: i32, current: i32 },
}
