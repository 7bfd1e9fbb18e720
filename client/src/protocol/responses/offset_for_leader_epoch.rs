//! OffsetForLeaderEpoch response (v4).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// OffsetForLeaderEpoch response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetForLeaderEpochResponse {
    /// Quota throttle in milliseconds.
    pub throttle_time_ms: i32,
    /// Each topic asked for.
    pub topics: Vec<OffsetForLeaderTopicResult>,
}

/// One topic's results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetForLeaderTopicResult {
    /// Topic name.
    pub topic: String,
    /// Each partition asked for.
    pub partitions: Vec<EpochEndOffset>,
}

/// One partition's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochEndOffset {
    /// Error, 0 if none.
    pub error_code: i16,
    /// Partition index.
    pub partition: i32,
    /// The largest epoch not above the one asked for (-1 if the leader knows none).
    pub leader_epoch: i32,
    /// Where that epoch ends: the start offset of the next epoch, or the log end
    /// offset for the leader's latest epoch (-1 if unknown).
    pub end_offset: i64,
}

impl OffsetForLeaderEpochResponse {
    /// Decodes a v4 body.
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let throttle_time_ms = r.i32()?;
        let topics = r.array(true, 3, "topics", |r| {
            let topic = r.string(true, "topic name")?;
            let partitions = r.array(true, 19, "partitions", |r| {
                let error_code = r.i16()?;
                let partition = r.i32()?;
                let leader_epoch = r.i32()?;
                let end_offset = r.i64()?;
                r.tagged_fields(true)?;
                Ok(EpochEndOffset {
                    error_code,
                    partition,
                    leader_epoch,
                    end_offset,
                })
            })?;
            r.tagged_fields(true)?;
            Ok(OffsetForLeaderTopicResult { topic, partitions })
        })?;
        r.tagged_fields(true)?;
        r.finish()?;
        Ok(Self {
            throttle_time_ms,
            topics,
        })
    }
}
