//! Partitions: one actor per partition, the only writer of its log; a manager that
//! keeps the set of partition actors in line with the metadata image; and the
//! registry connections use to find them.

pub mod actor;
pub mod manager;
pub mod producers;
pub mod registry;

#[cfg(test)]
mod tests;

pub use actor::{AppendOutcome, Partition, PartitionArgs, PartitionMsg};
pub use manager::{PartitionManager, PartitionManagerArgs};
pub use registry::{PartitionEntry, PartitionHandle, PartitionRegistry, TopicPartition};

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
    /// A well-formed batch Weir refuses (transactional, control).
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
}
