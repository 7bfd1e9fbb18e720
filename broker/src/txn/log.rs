//! Transaction metadata as records of the internal topic `__transaction_state`
//! (compacted, replicated like any partition): the key names the
//! transactional id, the value is its [`TxnMetadata`], a null value forgets
//! it. Written with acks=all before the coordinator answers or writes a
//! marker, and replayed when this broker takes the lead of a partition.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use ractor::RpcReplyPort;
use ractor::concurrency::oneshot;
use serde::{Deserialize, Serialize};
use weir_client::protocol::batch_encoder::{NewRecord, encode_batch};
use weir_client::protocol::records::batches;

use super::state::{TxnMetadata, codes};
use crate::log::{LogReader, ReadError};
use crate::partition::{PartitionEntry, PartitionMsg, PartitionRegistry, TxnCheck};

pub use crate::controller::TXN_STATE_TOPIC;

/// Bytes read per step of a replay.
const REPLAY_READ_BYTES: usize = 4 * 1024 * 1024;
/// Steps a replay takes at most (bounds a corrupt or endless log).
const REPLAY_STEPS_MAX: usize = 1_000_000;
/// Longest a metadata write waits to become durable.
const APPEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Version of the record keys.
const KEY_VERSION: u16 = 1;

/// Key of a transaction metadata record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct TxnKey {
    version: u16,
    transactional_id: String,
}

/// The `__transaction_state` partition of `transactional_id` (Kafka: hash mod N).
pub fn partition_for(transactional_id: &str, partitions: i32) -> i32 {
    (crc32c::crc32c(transactional_id.as_bytes()) % partitions.max(1) as u32) as i32
}

/// A batch holding `transactional_id`'s metadata (`None`: its tombstone).
pub fn metadata_batch(
    transactional_id: &str,
    metadata: Option<&TxnMetadata>,
    now_ms: i64,
) -> Option<Bytes> {
    let key = TxnKey {
        version: KEY_VERSION,
        transactional_id: transactional_id.to_owned(),
    };
    encode_batch(&[NewRecord {
        key: postcard::to_stdvec(&key).ok().map(Bytes::from),
        value: metadata
            .and_then(|m| postcard::to_stdvec(m).ok())
            .map(Bytes::from),
        timestamp_ms: now_ms,
    }])
}

/// Writes `transactional_id`'s metadata to `partition` with acks=all; returns
/// once durable, or the Kafka error code to answer.
pub async fn store(
    registry: &PartitionRegistry,
    partition: i32,
    transactional_id: &str,
    metadata: Option<&TxnMetadata>,
    now_ms: i64,
) -> Result<(), i16> {
    let Some(batch) = metadata_batch(transactional_id, metadata, now_ms) else {
        return Err(codes::COORDINATOR_NOT_AVAILABLE);
    };
    let Some(PartitionEntry::Online(handle)) = registry.lookup(TXN_STATE_TOPIC, partition) else {
        return Err(codes::NOT_COORDINATOR);
    };
    let (tx, rx) = oneshot();
    let append = PartitionMsg::Append {
        records: batch,
        acks: -1,
        check: TxnCheck::Off,
        reply: RpcReplyPort::from(tx),
    };
    if handle.actor.cast(append).is_err() {
        return Err(codes::COORDINATOR_NOT_AVAILABLE);
    }
    match tokio::time::timeout(APPEND_TIMEOUT, rx).await {
        Ok(Ok(Ok(_))) => Ok(()),
        Ok(Ok(Err(e))) => {
            tracing::warn!(transactional_id, error = %e, "transaction metadata not stored");
            Err(codes::NOT_COORDINATOR)
        }
        _ => Err(codes::COORDINATOR_NOT_AVAILABLE),
    }
}

/// What a replay found: the latest metadata of every transactional id.
pub type PartitionTxns = HashMap<String, TxnMetadata>;

/// Replays a `__transaction_state` partition.
pub fn load_partition(reader: &LogReader) -> Result<PartitionTxns, ReadError> {
    let mut txns = PartitionTxns::new();
    let mut position = reader.log_start_offset();
    for _ in 0..REPLAY_STEPS_MAX {
        let end = reader.log_end_offset();
        if position >= end {
            break;
        }
        let read = reader.read(position, REPLAY_READ_BYTES, end, true)?;
        if read.records.is_empty() {
            break;
        }
        for (view, _) in batches(&read.records).flatten() {
            position = view.base_offset() + i64::from(view.last_offset_delta()) + 1;
            for record in view.records().into_iter().flatten().flatten() {
                let Some(key) = record
                    .key
                    .as_deref()
                    .and_then(|k| postcard::from_bytes::<TxnKey>(k).ok())
                else {
                    continue;
                };
                match record
                    .value
                    .as_deref()
                    .and_then(|v| postcard::from_bytes::<TxnMetadata>(v).ok())
                {
                    Some(metadata) => {
                        txns.insert(key.transactional_id, metadata);
                    }
                    None => {
                        txns.remove(&key.transactional_id);
                    }
                }
            }
        }
    }
    Ok(txns)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::txn::state::TxnStatus;

    #[test]
    fn records_round_trip_and_tombstones_forget() {
        let metadata = TxnMetadata {
            producer_id: 5,
            producer_epoch: 2,
            timeout_ms: 60_000,
            status: TxnStatus::Ongoing,
            partitions: BTreeSet::from([("t".to_owned(), 1)]),
            txn_start_ms: 9,
            last_update_ms: 10,
        };
        let batch = metadata_batch("app-1", Some(&metadata), 10).unwrap();
        let (view, _) = weir_client::protocol::records::RecordBatchView::parse(&batch).unwrap();
        let record = view.records().unwrap().next().unwrap().unwrap();
        let key: TxnKey = postcard::from_bytes(&record.key.unwrap()).unwrap();
        assert_eq!(key.transactional_id, "app-1");
        let value: TxnMetadata = postcard::from_bytes(&record.value.unwrap()).unwrap();
        assert_eq!(value, metadata);
        let tombstone = metadata_batch("app-1", None, 11).unwrap();
        let (view, _) = weir_client::protocol::records::RecordBatchView::parse(&tombstone).unwrap();
        assert_eq!(view.records().unwrap().next().unwrap().unwrap().value, None);
    }

    #[test]
    fn ids_spread_over_the_partitions() {
        let used: BTreeSet<i32> = (0..200)
            .map(|i| partition_for(&format!("id-{i}"), 10))
            .collect();
        assert_eq!(used.len(), 10);
        assert_eq!(partition_for("x", 0), 0);
    }
}
