//! Writing a transaction's COMMIT or ABORT markers to every partition it
//! touched (Kafka's `TransactionMarkerChannelManager`): partitions this broker
//! leads get them straight from their partition actor; the others through a
//! WriteTxnMarkers request to their leader's inter-broker listener. Rounds
//! repeat until every partition has its marker, following leaders as they
//! move; a partition whose topic is gone needs none.
//!
//! A marker on a `__consumer_offsets` partition also settles the offsets the
//! transaction committed there (TxnOffsetCommit).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::{ProducerId, TopicName, WriteTxnMarkersRequest};
use kafka_protocol::protocol::StrBytes;
use ractor::rpc::CallResult;
use weir_client::conn::Connection;
use weir_client::protocol::ApiKey;
use weir_client::protocol::responses::WriteTxnMarkersResponse;

use crate::context::BrokerCtx;
use crate::errors;
use crate::group::offsets::OFFSETS_TOPIC;
use crate::limits::ACTOR_CALL_TIMEOUT_MS;
use crate::partition::txns::Marker;
use crate::partition::{PartitionEntry, PartitionMsg};

/// The WriteTxnMarkers version coordinators send (flexible, Kafka 3.9's newest).
pub const WRITE_TXN_MARKERS_VERSION: i16 = 1;
/// First pause between rounds; doubles up to [`ROUND_BACKOFF_MAX_MS`].
const ROUND_BACKOFF_MS: u64 = 50;
/// Longest pause between rounds.
const ROUND_BACKOFF_MAX_MS: u64 = 1_000;
/// A remote leader's answer is given up on after this (the round repeats).
const REMOTE_TIMEOUT_MS: u64 = 10_000;

/// The markers of one ending transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkerJob {
    /// The transaction's producer.
    pub producer_id: i64,
    /// The epoch the markers carry (bumped when the coordinator aborts a
    /// fenced or expired transaction).
    pub producer_epoch: i16,
    /// Commit or abort.
    pub marker: Marker,
    /// The coordinator's epoch (its `__transaction_state` leader epoch).
    pub coordinator_epoch: i32,
    /// Every partition of the transaction.
    pub partitions: BTreeSet<(String, i32)>,
}

/// Writes every marker of `job`, round after round, until all are written.
/// Never gives up by itself: the coordinator stops the task when it loses
/// its partition.
pub async fn write_all(ctx: &Arc<BrokerCtx>, job: &MarkerJob) {
    let mut remaining = job.partitions.clone();
    let mut backoff = ROUND_BACKOFF_MS;
    let mut conns: BTreeMap<i32, Arc<Connection>> = BTreeMap::new();
    loop {
        let image = ctx.image();
        let mut by_leader: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
        remaining.retain(
            |(topic, partition)| match image.partition(topic, *partition) {
                Some(p) => {
                    by_leader
                        .entry(p.leader)
                        .or_default()
                        .push((topic.clone(), *partition));
                    true
                }
                // Deleted with its topic: nothing left to mark.
                None => false,
            },
        );
        if remaining.is_empty() {
            return;
        }
        for (leader, partitions) in by_leader {
            let written = if leader == ctx.config.node_id {
                let mut written = Vec::new();
                for (topic, partition) in partitions {
                    let code = write_local(ctx, &topic, partition, job).await;
                    if code == errors::NONE {
                        written.push((topic, partition));
                    } else {
                        tracing::debug!(
                            topic,
                            partition,
                            code,
                            "transaction marker not written yet"
                        );
                    }
                }
                written
            } else if leader >= 0 {
                write_remote(ctx, &mut conns, leader, &partitions, job).await
            } else {
                Vec::new()
            };
            for tp in written {
                remaining.remove(&tp);
            }
        }
        if remaining.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(backoff)).await;
        backoff = (backoff * 2).min(ROUND_BACKOFF_MAX_MS);
    }
}

/// Writes one marker to a partition this broker leads; the Kafka error code
/// (NONE once it is replicated and durable).
pub async fn write_local(
    ctx: &Arc<BrokerCtx>,
    topic: &str,
    partition: i32,
    job: &MarkerJob,
) -> i16 {
    let handle = match ctx.partitions.lookup(topic, partition) {
        Some(PartitionEntry::Online(handle)) => handle,
        Some(PartitionEntry::Offline) => return errors::storage_error(),
        None => {
            return errors::missing_partition(&ctx.image(), ctx.config.node_id, topic, partition);
        }
    };
    let call = handle.actor.call(
        |reply| PartitionMsg::WriteMarker {
            producer_id: job.producer_id,
            producer_epoch: job.producer_epoch,
            marker: job.marker,
            coordinator_epoch: job.coordinator_epoch,
            reply,
        },
        Some(Duration::from_millis(ACTOR_CALL_TIMEOUT_MS)),
    );
    let code = match call.await {
        Ok(CallResult::Success(Ok(_))) => errors::NONE,
        Ok(CallResult::Success(Err(e))) => errors::partition_error_code(&e),
        _ => errors::REQUEST_TIMED_OUT,
    };
    if code == errors::NONE && topic == OFFSETS_TOPIC {
        let commit = job.marker == Marker::Commit;
        crate::group::txn_offsets_completed(ctx, partition, job.producer_id, commit);
    }
    code
}

/// Sends one WriteTxnMarkers to `leader`; the partitions it wrote.
async fn write_remote(
    ctx: &Arc<BrokerCtx>,
    conns: &mut BTreeMap<i32, Arc<Connection>>,
    leader: i32,
    partitions: &[(String, i32)],
    job: &MarkerJob,
) -> Vec<(String, i32)> {
    let conn = match conns.get(&leader).filter(|c| !c.is_closed()) {
        Some(conn) => conn.clone(),
        None => match connect(ctx, leader).await {
            Some(conn) => {
                let conn = Arc::new(conn);
                conns.insert(leader, conn.clone());
                conn
            }
            None => return Vec::new(),
        },
    };
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, partition) in partitions {
        topics.entry(topic).or_default().push(*partition);
    }
    let marker = WritableTxnMarker::default()
        .with_producer_id(ProducerId(job.producer_id))
        .with_producer_epoch(job.producer_epoch)
        .with_transaction_result(job.marker == Marker::Commit)
        .with_coordinator_epoch(job.coordinator_epoch)
        .with_topics(
            topics
                .into_iter()
                .map(|(name, indexes)| {
                    WritableTxnMarkerTopic::default()
                        .with_name(TopicName(StrBytes::from_string(name.to_owned())))
                        .with_partition_indexes(indexes)
                })
                .collect(),
        );
    let request = WriteTxnMarkersRequest::default().with_markers(vec![marker]);
    let key = ApiKey::WriteTxnMarkers as i16;
    let answer = match conn.call(key, WRITE_TXN_MARKERS_VERSION, &request).await {
        Ok(body) => conn.decode(body, WriteTxnMarkersResponse::decode),
        Err(e) => Err(e),
    };
    let response = match answer {
        Ok(response) => response,
        Err(e) => {
            tracing::debug!(leader, error = %e, "WriteTxnMarkers failed");
            conns.remove(&leader);
            return Vec::new();
        }
    };
    let mut written = Vec::new();
    for result in response.markers {
        for topic in result.topics {
            for p in topic.partitions {
                if p.error_code == errors::NONE {
                    written.push((topic.name.clone(), p.partition_index));
                } else {
                    tracing::debug!(
                        leader,
                        topic = topic.name,
                        partition = p.partition_index,
                        code = p.error_code,
                        "remote transaction marker not written yet"
                    );
                }
            }
        }
    }
    written
}

async fn connect(ctx: &Arc<BrokerCtx>, leader: i32) -> Option<Connection> {
    let listener = ctx.config.inter_broker_listener();
    let addr = ctx
        .image()
        .brokers
        .get(&leader)
        .and_then(|b| b.endpoint(&listener))
        .map(|e| format!("{}:{}", e.host, e.port))?;
    let client_id = format!("weir-txn-markers-{}", ctx.config.node_id);
    let timeout = Duration::from_millis(REMOTE_TIMEOUT_MS);
    match Connection::connect(&addr, &client_id, 1, timeout).await {
        Ok(conn) => Some(conn),
        Err(e) => {
            tracing::debug!(leader, error = %e, "cannot reach a partition leader for markers");
            None
        }
    }
}
