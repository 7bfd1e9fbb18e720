//! Fetch request (v4–12).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// Fetch request (consumers use replica_id -1; followers their broker id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// -1 for consumers; the follower's broker id for replication.
    pub replica_id: i32,
    /// Longest time to park the request waiting for `min_bytes`.
    pub max_wait_ms: i32,
    /// Bytes to accumulate before answering.
    pub min_bytes: i32,
    /// Response size limit (the first batch is returned even when larger, KIP-74).
    pub max_bytes: i32,
    /// 0 read_uncommitted, 1 read_committed.
    pub isolation_level: i8,
    /// Fetch session id (v7+); Weir answers with session id 0 (sessionless).
    pub session_id: i32,
    /// Fetch session epoch (v7+).
    pub session_epoch: i32,
    /// What to fetch.
    pub topics: Vec<FetchTopic>,
    /// Partitions to drop from an incremental session (v7+).
    pub forgotten_topics_data: Vec<ForgottenTopic>,
    /// The consumer's rack (v11+).
    pub rack_id: String,
}

/// One topic to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchTopic {
    /// Topic name.
    pub topic: String,
    /// Partitions to fetch.
    pub partitions: Vec<FetchPartition>,
}

/// One partition to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPartition {
    /// Partition index.
    pub partition: i32,
    /// The leader epoch the client knows (v9+; -1 unknown).
    pub current_leader_epoch: i32,
    /// First offset wanted.
    pub fetch_offset: i64,
    /// Epoch of the last fetched record (v12+, followers; -1 unknown).
    pub last_fetched_epoch: i32,
    /// The follower's log start offset (v5+; -1 for consumers).
    pub log_start_offset: i64,
    /// Bytes limit for this partition.
    pub partition_max_bytes: i32,
}

/// Partitions removed from an incremental fetch session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgottenTopic {
    /// Topic name.
    pub topic: String,
    /// Partition indexes.
    pub partitions: Vec<i32>,
}

impl FetchRequest {
    pub fn decode(r: &mut Reader, v: i16) -> Result<Self, DecodeError> {
        let flex = v >= 12;
        let replica_id = r.i32()?;
        let max_wait_ms = r.i32()?;
        let min_bytes = r.i32()?;
        let max_bytes = r.i32()?;
        let isolation_level = r.i8()?;
        let (session_id, session_epoch) = if v >= 7 {
            (r.i32()?, r.i32()?)
        } else {
            (0, -1)
        };
        let topics = r.array(flex, 2, "topics", |r| {
            let topic = r.string(flex, "topic")?;
            let partitions = r.array(flex, 16, "partitions", |r| decode_partition(r, v))?;
            r.tagged_fields(flex)?;
            Ok(FetchTopic { topic, partitions })
        })?;
        let forgotten_topics_data = if v >= 7 {
            r.array(flex, 2, "forgotten_topics_data", |r| {
                let topic = r.string(flex, "topic")?;
                let partitions = r.array(flex, 4, "partitions", |r| r.i32())?;
                r.tagged_fields(flex)?;
                Ok(ForgottenTopic { topic, partitions })
            })?
        } else {
            Vec::new()
        };
        let rack_id = if v >= 11 {
            r.string(flex, "rack_id")?
        } else {
            String::new()
        };
        r.tagged_fields(flex)?;
        Ok(Self {
            replica_id,
            max_wait_ms,
            min_bytes,
            max_bytes,
            isolation_level,
            session_id,
            session_epoch,
            topics,
            forgotten_topics_data,
            rack_id,
        })
    }
}

fn decode_partition(r: &mut Reader, v: i16) -> Result<FetchPartition, DecodeError> {
    let flex = v >= 12;
    let partition = r.i32()?;
    let current_leader_epoch = if v >= 9 { r.i32()? } else { -1 };
    let fetch_offset = r.i64()?;
    let last_fetched_epoch = if v >= 12 { r.i32()? } else { -1 };
    let log_start_offset = if v >= 5 { r.i64()? } else { -1 };
    let partition_max_bytes = r.i32()?;
    r.tagged_fields(flex)?;
    Ok(FetchPartition {
        partition,
        current_leader_epoch,
        fetch_offset,
        last_fetched_epoch,
        log_start_offset,
        partition_max_bytes,
    })
}
