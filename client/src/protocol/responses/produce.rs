//! Produce response (v9).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// Produce response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceResponse {
    /// One entry per topic produced to.
    pub responses: Vec<TopicProduceResponse>,
    /// Quota throttle in milliseconds.
    pub throttle_time_ms: i32,
}

/// One topic's results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicProduceResponse {
    /// Topic name.
    pub name: String,
    /// One entry per partition produced to.
    pub partition_responses: Vec<PartitionProduceResponse>,
}

/// One partition's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionProduceResponse {
    /// Partition index.
    pub index: i32,
    /// Error, 0 if none.
    pub error_code: i16,
    /// Offset of the first appended record.
    pub base_offset: i64,
    /// Broker append time under LogAppendTime, else -1.
    pub log_append_time_ms: i64,
    /// The partition's log start offset.
    pub log_start_offset: i64,
    /// Records that made the batch be dropped.
    pub record_errors: Vec<BatchIndexAndErrorMessage>,
    /// Summary of why the batch was dropped.
    pub error_message: Option<String>,
}

/// A record that caused its batch to be dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchIndexAndErrorMessage {
    /// Index of the record within its batch.
    pub batch_index: i32,
    /// Why it was rejected.
    pub batch_index_error_message: Option<String>,
}

impl ProduceResponse {
    /// Decodes a v9 body.
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let responses = r.array(true, 3, "responses", |r| {
            let name = r.string(true, "topic name")?;
            let partition_responses = r.array(true, 33, "partition_responses", decode_partition)?;
            r.tagged_fields(true)?;
            Ok(TopicProduceResponse {
                name,
                partition_responses,
            })
        })?;
        let throttle_time_ms = r.i32()?;
        r.tagged_fields(true)?;
        r.finish()?;
        Ok(Self {
            responses,
            throttle_time_ms,
        })
    }
}

fn decode_partition(r: &mut Reader) -> Result<PartitionProduceResponse, DecodeError> {
    let index = r.i32()?;
    let error_code = r.i16()?;
    let base_offset = r.i64()?;
    let log_append_time_ms = r.i64()?;
    let log_start_offset = r.i64()?;
    let record_errors = r.array(true, 6, "record_errors", |r| {
        let batch_index = r.i32()?;
        let batch_index_error_message = r.nullable_string(true, "batch_index_error_message")?;
        r.tagged_fields(true)?;
        Ok(BatchIndexAndErrorMessage {
            batch_index,
            batch_index_error_message,
        })
    })?;
    let error_message = r.nullable_string(true, "error_message")?;
    r.tagged_fields(true)?;
    Ok(PartitionProduceResponse {
        index,
        error_code,
        base_offset,
        log_append_time_ms,
        log_start_offset,
        record_errors,
        error_message,
    })
}
