//! The producer: partitioning, batching, idempotent sends.
pub mod partitioner;
