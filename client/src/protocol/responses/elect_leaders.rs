//! ElectLeaders response (v2).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// ElectLeaders response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElectLeadersResponse {
    /// Quota throttle in milliseconds.
    pub throttle_time_ms: i32,
    /// Top-level error, 0 if none.
    pub error_code: i16,
    /// Per topic, the partitions' results.
    pub replica_election_results: Vec<ReplicaElectionResult>,
}

/// One topic's results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaElectionResult {
    /// Topic name.
    pub topic: String,
    /// Its partitions' results.
    pub partition_result: Vec<ElectionPartitionResult>,
}

/// One partition's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElectionPartitionResult {
    /// Partition index.
    pub partition_id: i32,
    /// Error, 0 if none.
    pub error_code: i16,
    /// Error message, null if none.
    pub error_message: Option<String>,
}

impl ElectLeadersResponse {
    /// Decodes a v2 body.
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let throttle_time_ms = r.i32()?;
        let error_code = r.i16()?;
        let replica_election_results = r.array(true, 3, "replica_election_results", |r| {
            let topic = r.string(true, "topic")?;
            let partition_result = r.array(true, 8, "partition_result", |r| {
                let partition_id = r.i32()?;
                let error_code = r.i16()?;
                let error_message = r.nullable_string(true, "error_message")?;
                r.tagged_fields(true)?;
                Ok(ElectionPartitionResult {
                    partition_id,
                    error_code,
                    error_message,
                })
            })?;
            r.tagged_fields(true)?;
            Ok(ReplicaElectionResult {
                topic,
                partition_result,
            })
        })?;
        r.tagged_fields(true)?;
        r.finish()?;
        Ok(Self {
            throttle_time_ms,
            error_code,
            replica_election_results,
        })
    }
}
