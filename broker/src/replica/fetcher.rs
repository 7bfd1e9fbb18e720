//! The ReplicaFetcher actor: one per leader broker this broker follows
//! partitions of (Kafka's fetcher thread). It keeps one Fetch outstanding to
//! the leader's inter-broker listener for every partition it follows there,
//! with `replica_id` = this broker and each partition's last fetched epoch,
//! and hands what comes back to the partition actors (the only writers of
//! their logs): batches to append, or the point to truncate to when the
//! leader says the logs diverge. Bulk data rides this Kafka connection, never
//! the ractor_cluster link.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use ractor_cluster_derive::RactorMessage;
use tokio::sync::watch;
use weir_client::conn::Connection;
use weir_client::error::{ClientError, codes};
use weir_client::protocol::ApiKey;
use weir_client::protocol::responses::fetch::PartitionData;
use weir_client::protocol::responses::{FETCH_VERSION, FetchResponse};

use crate::controller::MetadataImage;
use crate::limits::ACTOR_CALL_TIMEOUT_MS;
use crate::partition::{
    PartitionEntry, PartitionError, PartitionMsg, PartitionRegistry, ReplicaReset, TopicPartition,
};

/// How long a follower's fetch parks at the leader (`replica.fetch.wait.max.ms`).
pub const REPLICA_FETCH_WAIT_MS: i32 = 500;
/// Bytes per partition per fetch (`replica.fetch.max.bytes`).
pub const REPLICA_FETCH_PARTITION_BYTES: i32 = 1 << 20;
/// Bytes per fetch response (`replica.fetch.response.max.bytes`).
pub const REPLICA_FETCH_RESPONSE_BYTES: i32 = 10 << 20;
/// Pause after a failed round (`replica.fetch.backoff.ms`).
const FETCH_BACKOFF_MS: u64 = 500;
/// A fetch round's request timeout: a leader that stops answering is given
/// up on after this (the controller moves its leaderships meanwhile).
const FETCH_REQUEST_TIMEOUT_MS: u64 = 10_000;

/// Messages of a [`ReplicaFetcher`].
#[derive(RactorMessage)]
pub enum FetcherMsg {
    /// Follow `tp` under `leader_epoch` (replaces an earlier epoch).
    Follow {
        tp: TopicPartition,
        leader_epoch: i32,
    },
    /// Stop following `tp`.
    Unfollow(TopicPartition),
    /// A round ended; `ok` is false when it failed and the next waits.
    RoundDone {
        conn: Option<Arc<Connection>>,
        ok: bool,
    },
    /// Start the next round (after a backoff).
    Next,
}

/// What a fetcher starts with.
#[derive(Clone)]
pub struct FetcherArgs {
    /// This broker's id (the fetches' replica id).
    pub node_id: i32,
    /// The leader broker fetched from.
    pub leader: i32,
    /// The listener whose endpoint replica fetches go to (`inter.broker.listener.name`).
    pub listener: String,
    /// Published metadata images (the leader's endpoint).
    pub images: watch::Receiver<Arc<MetadataImage>>,
    /// This broker's partitions.
    pub registry: Arc<PartitionRegistry>,
}

/// The fetcher actor.
pub struct ReplicaFetcher;

/// A fetcher's state.
pub struct FetcherState {
    /// Start arguments.
    args: FetcherArgs,
    /// Followed partitions and the leader epoch each is followed under.
    partitions: BTreeMap<TopicPartition, i32>,
    /// The connection to the leader, while it works.
    conn: Option<Arc<Connection>>,
    /// A round (or its backoff) is under way.
    busy: bool,
}

impl Actor for ReplicaFetcher {
    type Msg = FetcherMsg;
    type State = FetcherState;
    type Arguments = FetcherArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: FetcherArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(FetcherState {
            args,
            partitions: BTreeMap::new(),
            conn: None,
            busy: false,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            FetcherMsg::Follow { tp, leader_epoch } => {
                state.partitions.insert(tp, leader_epoch);
            }
            FetcherMsg::Unfollow(tp) => {
                state.partitions.remove(&tp);
            }
            FetcherMsg::RoundDone { conn, ok } => {
                state.conn = conn;
                if !ok {
                    myself.send_after(Duration::from_millis(FETCH_BACKOFF_MS), || FetcherMsg::Next);
                    return Ok(());
                }
                state.busy = false;
            }
            FetcherMsg::Next => state.busy = false,
        }
        if !state.busy && !state.partitions.is_empty() {
            state.busy = true;
            let round = Round {
                args: state.args.clone(),
                partitions: state.partitions.clone(),
                conn: state.conn.take(),
            };
            let myself = myself.clone();
            tokio::spawn(async move {
                let (conn, ok) = round.run().await;
                let _ = myself.cast(FetcherMsg::RoundDone { conn, ok });
            });
        }
        Ok(())
    }
}

/// One fetch round: a Fetch for every followed partition, and its answers
/// handed to the partition actors one by one.
struct Round {
    args: FetcherArgs,
    partitions: BTreeMap<TopicPartition, i32>,
    conn: Option<Arc<Connection>>,
}

/// A partition in a round's request.
struct Target {
    tp: TopicPartition,
    leader_epoch: i32,
    fetch_offset: i64,
    actor: ActorRef<PartitionMsg>,
}

impl Round {
    /// Runs the round; returns the connection to keep (none after a failure)
    /// and whether the round worked.
    async fn run(mut self) -> (Option<Arc<Connection>>, bool) {
        let conn = match self.conn.take().filter(|c| !c.is_closed()) {
            Some(conn) => conn,
            None => match self.connect().await {
                Ok(conn) => Arc::new(conn),
                Err(e) => {
                    tracing::debug!(leader = self.args.leader, error = %e, "cannot reach the leader for replica fetches");
                    return (None, false);
                }
            },
        };
        let (request, targets) = self.request();
        if targets.is_empty() {
            return (Some(conn), false);
        }
        let key = ApiKey::Fetch as i16;
        let answer = match conn.call(key, FETCH_VERSION, &request).await {
            Ok(body) => conn.decode(body, FetchResponse::decode),
            Err(e) => Err(e),
        };
        let response = match answer {
            Ok(r) if r.error_code == 0 => r,
            Ok(r) => {
                tracing::debug!(
                    leader = self.args.leader,
                    error_code = r.error_code,
                    "replica fetch refused"
                );
                return (Some(conn), false);
            }
            Err(e) => {
                tracing::debug!(leader = self.args.leader, error = %e, "replica fetch failed");
                return (None, false);
            }
        };
        let mut ok = true;
        for topic in response.responses {
            for p in topic.partitions {
                let Some(target) = targets
                    .iter()
                    .find(|t| *t.tp.topic == *topic.topic && t.tp.partition == p.partition_index)
                else {
                    continue;
                };
                ok &= handle_partition(target, p).await;
            }
        }
        (Some(conn), ok)
    }

    async fn connect(&self) -> Result<Connection, ClientError> {
        let addr = {
            let image = self.args.images.borrow();
            image.brokers.get(&self.args.leader).and_then(|b| {
                b.endpoints
                    .iter()
                    .find(|e| e.listener == self.args.listener)
                    .map(|e| format!("{}:{}", e.host, e.port))
            })
        };
        let Some(addr) = addr else {
            return Err(ClientError::Config(format!(
                "broker {} has no {} endpoint",
                self.args.leader, self.args.listener
            )));
        };
        let client_id = format!("weir-replica-{}", self.args.node_id);
        let timeout = Duration::from_millis(FETCH_REQUEST_TIMEOUT_MS);
        Connection::connect(&addr, &client_id, 1, timeout).await
    }

    /// The Fetch request, from each followed partition's log end and last epoch.
    fn request(&self) -> (FetchRequest, Vec<Target>) {
        let mut topics: Vec<FetchTopic> = Vec::new();
        let mut targets = Vec::new();
        for (tp, &leader_epoch) in &self.partitions {
            let Some(PartitionEntry::Online(handle)) = self.args.registry.get(tp) else {
                continue;
            };
            let reader = &handle.reader;
            let fetch_offset = reader.log_end_offset();
            let p = FetchPartition::default()
                .with_partition(tp.partition)
                .with_current_leader_epoch(leader_epoch)
                .with_fetch_offset(fetch_offset)
                .with_last_fetched_epoch(reader.latest_epoch())
                .with_log_start_offset(reader.log_start_offset())
                .with_partition_max_bytes(REPLICA_FETCH_PARTITION_BYTES);
            match topics.iter_mut().find(|t| *t.topic.0 == *tp.topic) {
                Some(t) => t.partitions.push(p),
                None => topics.push(
                    FetchTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(tp.topic.to_string())))
                        .with_partitions(vec![p]),
                ),
            }
            targets.push(Target {
                tp: tp.clone(),
                leader_epoch,
                fetch_offset,
                actor: handle.actor.clone(),
            });
        }
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(self.args.node_id))
            .with_max_wait_ms(REPLICA_FETCH_WAIT_MS)
            .with_min_bytes(1)
            .with_max_bytes(REPLICA_FETCH_RESPONSE_BYTES)
            .with_isolation_level(0)
            .with_session_id(0)
            .with_session_epoch(-1)
            .with_topics(topics);
        (request, targets)
    }
}

/// Hands one partition's answer to its actor; false when it needs a pause
/// (an error the image has not caught up with yet).
async fn handle_partition(target: &Target, p: PartitionData) -> bool {
    let leader_epoch = target.leader_epoch;
    let reset = match p.error_code {
        0 if p.diverging_epoch.end_offset >= 0 || p.diverging_epoch.epoch >= 0 => {
            Some(ReplicaReset::Diverged {
                epoch: p.diverging_epoch.epoch,
                end_offset: p.diverging_epoch.end_offset,
            })
        }
        0 => None,
        codes::OFFSET_OUT_OF_RANGE if p.log_start_offset >= 0 => {
            if target.fetch_offset < p.log_start_offset {
                Some(ReplicaReset::StartAt(p.log_start_offset))
            } else {
                Some(ReplicaReset::TruncateTo(
                    p.high_watermark.max(p.log_start_offset),
                ))
            }
        }
        code => {
            tracing::debug!(partition = %target.tp, error_code = code, "replica fetch of a partition refused");
            return false;
        }
    };
    let timeout = Some(Duration::from_millis(ACTOR_CALL_TIMEOUT_MS));
    let result = match reset {
        Some(reset) => {
            target
                .actor
                .call(
                    |reply| PartitionMsg::ResetReplica {
                        leader_epoch,
                        reset,
                        reply,
                    },
                    timeout,
                )
                .await
        }
        None => {
            let records = p.records.unwrap_or_default();
            target
                .actor
                .call(
                    |reply| PartitionMsg::AppendReplica {
                        leader_epoch,
                        records,
                        leader_high_watermark: p.high_watermark,
                        leader_log_start_offset: p.log_start_offset,
                        reply,
                    },
                    timeout,
                )
                .await
        }
    };
    match result {
        Ok(ractor::rpc::CallResult::Success(Ok(_))) => true,
        Ok(ractor::rpc::CallResult::Success(Err(
            PartitionError::NotLeader
            | PartitionError::FencedLeaderEpoch { .. }
            | PartitionError::UnknownLeaderEpoch { .. },
        ))) => false,
        Ok(ractor::rpc::CallResult::Success(Err(e))) => {
            tracing::warn!(partition = %target.tp, error = %e, "fetched data not taken");
            false
        }
        _ => false,
    }
}
