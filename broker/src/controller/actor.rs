//! The Controller actor: every broker runs one. On the active controller (the
//! metadata quorum's leader) it validates a change against the image and
//! commits its records through the quorum; the state machine applies them and
//! publishes the new image on every broker. Elsewhere it forwards requests to
//! the active controller over the broker link and relays the answer.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster_derive::RactorMessage;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::sync::watch;

use super::alter::{self, ConfigAlteration};
use super::decisions::{self, ElectionError, ElectionType, ReassignmentError};
use super::image::MetadataImage;
use super::quorum::{ProposeError, Quorum};
use super::records::{Endpoint, MetadataRecord};
use super::store::{FileStore, MetadataStore};
use super::topic_config::TopicConfig;
use super::{OFFSETS_TOPIC, TXN_STATE_TOPIC};
use crate::cluster::{ClusterLinkMsg, ControllerGatewayMsg, ControllerService, controller_gateway};
use crate::config::BrokerConfig;
use crate::limits::{
    CONTROLLER_FORWARD_WAIT_MS, HEARTBEAT_FORWARD_WAIT_MS, PARTITIONS_PER_TOPIC_MAX,
};
use futures_util::future::BoxFuture;
use weir_client::protocol::limits::TOPIC_NAME_BYTES_MAX;

/// Pause before asking again for an active controller.
const FORWARD_RETRY_MS: u64 = 100;
/// How often the active controller looks for linked brokers to add as
/// metadata learners.
const ADD_LEARNERS_EVERY_MS: u64 = 1_000;

/// Why a topic change was refused.
#[derive(Debug, Clone, Error, PartialEq, Eq, Serialize, Deserialize)]
pub enum TopicError {
    /// A topic with this name exists.
    #[error("topic '{0}' already exists")]
    AlreadyExists(String),
    /// The name is not a legal topic name.
    #[error("{0}")]
    InvalidName(String),
    /// Bad partition count.
    #[error("{0}")]
    InvalidPartitions(String),
    /// Bad replication factor.
    #[error("{0}")]
    InvalidReplicationFactor(String),
    /// Bad config override.
    #[error("{0}")]
    InvalidConfig(String),
    /// No such topic.
    #[error("unknown topic '{0}'")]
    UnknownTopic(String),
    /// A manual replica assignment that cannot be used.
    #[error("{0}")]
    InvalidReplicaAssignment(String),
    /// A malformed request (duplicates, null values, unknown operations).
    #[error("{0}")]
    InvalidRequest(String),
    /// The metadata store failed.
    #[error("metadata store failure: {0}")]
    Storage(String),
    /// No active controller answered in time.
    #[error("{0}")]
    Unavailable(String),
}

/// A topic to create, with request defaults already separated out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicSpec {
    /// Topic name.
    pub name: String,
    /// Partition count; `None` for the broker default.
    pub num_partitions: Option<i32>,
    /// Replication factor; `None` for the broker default.
    pub replication_factor: Option<i16>,
    /// Config overrides.
    pub configs: Vec<(String, Option<String>)>,
}

/// A topic to grow (CreatePartitions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionsSpec {
    /// Topic name.
    pub name: String,
    /// The new total partition count.
    pub count: i32,
    /// Replica broker ids of each new partition; `None` places them as topic
    /// creation does.
    pub assignments: Option<Vec<Vec<i32>>>,
}

/// A request to the active controller; serializable, since a broker that is
/// not the active controller forwards it over the broker link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControllerRequest {
    /// Create topics; with `validate_only` nothing is written.
    CreateTopics {
        topics: Vec<TopicSpec>,
        validate_only: bool,
    },
    /// Delete topics by name.
    DeleteTopics { names: Vec<String> },
    /// Grow topics (CreatePartitions); with `validate_only` nothing is written.
    CreatePartitions {
        topics: Vec<PartitionsSpec>,
        validate_only: bool,
    },
    /// Change topics' config overrides; with `validate_only` nothing is written.
    AlterConfigs {
        topics: Vec<(String, ConfigAlteration)>,
        validate_only: bool,
    },
    /// Hand out `count` producer ids, durably.
    AllocateProducerIds { count: i64 },
    /// A broker (re)registers the endpoints it serves.
    RegisterBroker {
        node_id: i32,
        endpoints: Vec<Endpoint>,
        rack: Option<String>,
    },
    /// A broker renews its lease (unfenced again if its lease had expired).
    BrokerHeartbeat { node_id: i32 },
    /// A broker about to stop asks for its leaderships to move to other
    /// in-sync replicas first (Kafka's ControlledShutdown): it is fenced, so
    /// nothing elects it, until it registers or heartbeats again.
    ControlledShutdown { node_id: i32 },
    /// A partition leader changes its ISR (Kafka's AlterPartition).
    AlterPartition {
        topic: String,
        partition: i32,
        leader: i32,
        leader_epoch: i32,
        expected_isr: Vec<i32>,
        new_isr: Vec<i32>,
    },
    /// Elect leaders (ElectLeaders) of these (topic, partition)s, or of every
    /// partition with `None`.
    ElectLeaders {
        kind: ElectionType,
        partitions: Option<Vec<(String, i32)>>,
    },
    /// Start, change or (with no target) cancel partition reassignments
    /// (AlterPartitionReassignments): (topic, partition, target replicas).
    AlterPartitionReassignments {
        partitions: Vec<(String, i32, Option<Vec<i32>>)>,
    },
}

impl ControllerRequest {
    /// How long a broker that is not the active controller tries to bring
    /// this request to one: a heartbeat is worth nothing late.
    fn forward_wait_ms(&self) -> u64 {
        match self {
            Self::BrokerHeartbeat { .. } => HEARTBEAT_FORWARD_WAIT_MS,
            _ => CONTROLLER_FORWARD_WAIT_MS,
        }
    }
}

/// The active controller's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControllerReply {
    /// One result per topic, in request order.
    Topics(Vec<Result<(), TopicError>>),
    /// The first id of an allocated producer-id block.
    ProducerIds(i64),
    /// The registration is committed.
    Registered,
    /// The change is committed (or was already in the image).
    Altered,
    /// The change was refused, and why.
    Refused(String),
    /// The registration is committed; images from `version` on hold it (and
    /// every leadership change made while the broker was away).
    RegisteredAt { version: u64 },
    /// The broker asked is not (or no longer) the active controller.
    NotController,
    /// No active controller could commit it in time.
    Unavailable(String),
    /// Per-partition election results: the partitions asked for, in order;
    /// for every partition, those where an election was needed.
    Elections(Vec<(String, i32, Result<(), ElectionError>)>),
    /// One result per partition of a reassignment request, in order.
    Reassignments(Vec<Result<(), ReassignmentError>>),
}

/// Messages of the [`Controller`].
#[derive(RactorMessage)]
pub enum ControllerMsg {
    /// A request of this broker's handlers: served here on the active
    /// controller, forwarded to it elsewhere.
    Request {
        request: ControllerRequest,
        reply: RpcReplyPort<ControllerReply>,
    },
    /// A request another broker forwarded: served here, or answered
    /// `NotController` (never forwarded again, so requests cannot loop).
    Forwarded {
        request: ControllerRequest,
        reply: RpcReplyPort<ControllerReply>,
    },
    /// The quorum's leader changed.
    LeaderChanged(Option<i32>),
    /// Time to fence the brokers whose lease expired (on the active controller).
    CheckLeases,
    /// Time to move leadership back to preferred replicas if brokers lead
    /// too few of theirs (on the active controller).
    CheckLeaderImbalance,
    /// Time to make linked brokers that are not in the quorum learners (on
    /// the active controller), so broker-only nodes get the metadata.
    AddLearners,
}

/// What the controller starts with.
#[derive(Clone)]
pub struct ControllerArgs {
    /// Broker configuration (defaults for topics).
    pub config: Arc<BrokerConfig>,
    /// This broker's member of the metadata quorum.
    pub quorum: Quorum,
    /// Published images (the state machine publishes them).
    pub images: watch::Receiver<Arc<MetadataImage>>,
    /// Metadata records of a single broker from before the quorum, imported by
    /// the first active controller of a new quorum, then renamed.
    pub legacy_store: Option<PathBuf>,
    /// Registered name of this broker's cluster link (clustered only): a new
    /// active controller asks it which brokers are linked.
    pub link_name: Option<String>,
}

/// The controller actor (config only; state lives in [`ControllerState`]).
pub struct Controller;

/// The controller's state.
pub struct ControllerState {
    /// Start arguments (quorum, images).
    args: ControllerArgs,
    /// The image decisions are made on (refreshed before each request).
    image: Arc<MetadataImage>,
    /// Forwards leadership changes into the mailbox.
    watcher: tokio::task::JoinHandle<()>,
    /// When each broker last heartbeat, as this controller saw it (reset when
    /// it becomes the active controller).
    leases: HashMap<i32, Instant>,
    /// The leases of brokers not heard from since this controller took over
    /// are set (`seed_leases`).
    leases_seeded: bool,
}

impl Actor for Controller {
    type Msg = ControllerMsg;
    type State = ControllerState;
    type Arguments = ControllerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: ControllerArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        // A quarter of a heartbeat interval: a lease is found expired at
        // most that late (the check touches no disk unless one expired).
        let check =
            Duration::from_millis((args.config.cluster.broker_heartbeat_interval_ms / 4).max(1));
        myself.send_interval(check, || ControllerMsg::CheckLeases);
        if args.config.cluster.auto_leader_rebalance_enable {
            let every =
                Duration::from_millis(args.config.cluster.leader_imbalance_check_interval_ms);
            myself.send_interval(every, || ControllerMsg::CheckLeaderImbalance);
        }
        if args.link_name.is_some() {
            myself.send_interval(Duration::from_millis(ADD_LEARNERS_EVERY_MS), || {
                ControllerMsg::AddLearners
            });
        }
        let watcher = tokio::spawn(forward_leader_changes(args.quorum.leader_changes(), myself));
        let image = args.images.borrow().clone();
        Ok(ControllerState {
            args,
            image,
            watcher,
            leases: HashMap::new(),
            leases_seeded: false,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ControllerMsg::Request { request, reply } => {
                let answer = if state.args.quorum.is_leader() {
                    state.serve(request.clone()).await?
                } else {
                    ControllerReply::NotController
                };
                match answer {
                    ControllerReply::NotController => {
                        let quorum = state.args.quorum.clone();
                        let node_id = state.args.config.node_id;
                        tokio::spawn(async move {
                            let answer = forward(request, quorum, node_id, myself).await;
                            let _ = reply.send(answer);
                        });
                    }
                    answer => {
                        let _ = reply.send(answer);
                    }
                }
            }
            ControllerMsg::Forwarded { request, reply } => {
                let answer = if state.args.quorum.is_leader() {
                    state.serve(request).await?
                } else {
                    ControllerReply::NotController
                };
                let _ = reply.send(answer);
            }
            ControllerMsg::LeaderChanged(leader) => {
                state.leases.clear();
                state.leases_seeded = false;
                if leader == Some(state.args.config.node_id) {
                    tracing::info!("this broker is the active controller");
                    // Only once everything committed before is applied here
                    // can an empty cluster id mean a new cluster.
                    match state.args.quorum.confirm_leadership().await {
                        Ok(()) => state.ensure_cluster_created().await?,
                        Err(ProposeError::NotLeader(_)) => {}
                        Err(ProposeError::Fatal(e)) => return Err(e.into()),
                    }
                    // Seed the leases now, not at the next check: failover
                    // after a controller's death waits on them.
                    state.check_leases().await?;
                }
            }
            ControllerMsg::CheckLeases => {
                state.check_leases().await?;
                state.progress_reassignments().await?;
            }
            ControllerMsg::CheckLeaderImbalance => state.check_leader_imbalance().await?,
            ControllerMsg::AddLearners => state.add_learners().await?,
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.watcher.abort();
        Ok(())
    }
}

async fn forward_leader_changes(
    mut leader: watch::Receiver<Option<i32>>,
    controller: ActorRef<ControllerMsg>,
) {
    loop {
        let current = *leader.borrow_and_update();
        if controller
            .cast(ControllerMsg::LeaderChanged(current))
            .is_err()
        {
            return;
        }
        if leader.changed().await.is_err() {
            return;
        }
    }
}

/// Takes `request` to the active controller (bounded): this broker's own
/// controller if it leads by now, another's gateway otherwise; retried while
/// no leader is known or the one asked has lost the leadership.
async fn forward(
    request: ControllerRequest,
    quorum: Quorum,
    node_id: i32,
    myself: ActorRef<ControllerMsg>,
) -> ControllerReply {
    let deadline = Instant::now() + Duration::from_millis(request.forward_wait_ms());
    let mut last_error = "no active controller".to_string();
    while Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        let answer = match quorum.leader() {
            Some(leader) if leader == node_id => myself
                .call(
                    |reply| ControllerMsg::Forwarded {
                        request: request.clone(),
                        reply,
                    },
                    Some(left),
                )
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| match r {
                    ractor::rpc::CallResult::Success(answer) => Ok(answer),
                    other => Err(format!("{other:?}")),
                }),
            Some(leader) => call_gateway(leader, &request, left).await,
            None => Err("no active controller".into()),
        };
        match answer {
            Ok(ControllerReply::NotController) => last_error = "the controller moved".into(),
            Ok(answer) => return answer,
            Err(e) => last_error = e,
        }
        tokio::time::sleep(Duration::from_millis(FORWARD_RETRY_MS)).await;
    }
    ControllerReply::Unavailable(last_error)
}

/// One forwarded request to broker `leader`'s controller gateway.
async fn call_gateway(
    leader: i32,
    request: &ControllerRequest,
    timeout: Duration,
) -> Result<ControllerReply, String> {
    let gateway =
        controller_gateway(leader).ok_or_else(|| format!("no link to broker {leader}"))?;
    let bytes = postcard::to_stdvec(request).map_err(|e| e.to_string())?;
    let answer = gateway
        .call(
            |reply| ControllerGatewayMsg::Request(bytes, reply),
            Some(timeout),
        )
        .await
        .map_err(|e| e.to_string())?;
    match answer {
        ractor::rpc::CallResult::Success(bytes) => {
            postcard::from_bytes(&bytes).map_err(|e| format!("undecodable answer: {e}"))
        }
        other => Err(format!("broker {leader}'s controller: {other:?}")),
    }
}

/// Serves a request another broker forwarded (encoded) with this broker's
/// controller; the answer is encoded. Bytes that do not decode are answered
/// `Unavailable`, never with a panic.
pub async fn serve_forwarded(controller: &ActorRef<ControllerMsg>, bytes: &[u8]) -> Vec<u8> {
    let answer = match postcard::from_bytes::<ControllerRequest>(bytes) {
        Ok(request) => {
            let call = controller.call(
                |reply| ControllerMsg::Forwarded { request, reply },
                Some(Duration::from_millis(CONTROLLER_FORWARD_WAIT_MS)),
            );
            match call.await {
                Ok(ractor::rpc::CallResult::Success(answer)) => answer,
                _ => ControllerReply::NotController,
            }
        }
        Err(e) => ControllerReply::Unavailable(format!("undecodable request: {e}")),
    };
    postcard::to_stdvec(&answer).unwrap_or_default()
}

/// What this broker's controller gateway answers with: Raft RPCs by the
/// quorum member, forwarded requests by the controller actor (looked up by
/// name per request, so a restarted controller is found).
pub struct GatewayService {
    /// This broker's quorum member.
    pub quorum: Quorum,
    /// Registered name of the controller actor.
    pub controller_name: String,
}

impl ControllerService for GatewayService {
    fn raft(&self, bytes: Vec<u8>) -> BoxFuture<'static, Vec<u8>> {
        let quorum = self.quorum.clone();
        Box::pin(async move { quorum.serve_rpc(&bytes).await })
    }

    fn request(&self, bytes: Vec<u8>) -> BoxFuture<'static, Vec<u8>> {
        let name = self.controller_name.clone();
        Box::pin(async move {
            match ractor::registry::where_is(name) {
                Some(cell) => serve_forwarded(&cell.into(), &bytes).await,
                None => postcard::to_stdvec(&ControllerReply::NotController).unwrap_or_default(),
            }
        })
    }
}

impl ControllerState {
    /// Serves a request as the active controller: `NotController` when the
    /// quorum says otherwise. A failed quorum is `Err`: nothing can be
    /// committed any more.
    async fn serve(
        &mut self,
        request: ControllerRequest,
    ) -> Result<ControllerReply, ActorProcessingErr> {
        if let ControllerRequest::BrokerHeartbeat { node_id } = request {
            return self.on_heartbeat(node_id).await;
        }
        match self.args.quorum.confirm_leadership().await {
            Ok(()) => {}
            Err(ProposeError::NotLeader(_)) => return Ok(ControllerReply::NotController),
            Err(ProposeError::Fatal(e)) => return Err(e.into()),
        }
        self.ensure_cluster_created().await?;
        self.image = self.args.images.borrow().clone();
        let answer = match request {
            ControllerRequest::CreateTopics {
                topics,
                validate_only,
            } => self.on_create_topics(topics, validate_only).await,
            ControllerRequest::DeleteTopics { names } => self.on_delete_topics(names).await,
            ControllerRequest::CreatePartitions {
                topics,
                validate_only,
            } => self.on_create_partitions(topics, validate_only).await,
            ControllerRequest::AlterConfigs {
                topics,
                validate_only,
            } => self.on_alter_configs(topics, validate_only).await,
            ControllerRequest::AllocateProducerIds { count } => {
                let first = self.image.next_producer_id;
                let next = first.saturating_add(count.max(1));
                self.commit(vec![MetadataRecord::ProducerIdsAllocated { next }])
                    .await
                    .map(|()| ControllerReply::ProducerIds(first))
            }
            ControllerRequest::BrokerHeartbeat { .. } => Ok(ControllerReply::Registered),
            ControllerRequest::ControlledShutdown { node_id } => {
                self.leases.remove(&node_id);
                let unclean = self.args.config.cluster.unclean_leader_election;
                let records = decisions::fence(&self.image, node_id, unclean);
                let moved = records.len() - 1;
                let committed = self.commit(records).await;
                if committed.is_ok() {
                    tracing::info!(
                        broker = node_id,
                        partitions = moved,
                        "controlled shutdown: leaderships moved"
                    );
                }
                committed.map(|()| ControllerReply::Altered)
            }
            ControllerRequest::AlterPartition {
                topic,
                partition,
                leader,
                leader_epoch,
                expected_isr,
                new_isr,
            } => {
                let decision = decisions::alter_isr(
                    &self.image,
                    &topic,
                    partition,
                    leader,
                    leader_epoch,
                    &expected_isr,
                    &new_isr,
                );
                match decision {
                    Ok(record) => {
                        let committed = self.commit(record.into_iter().collect()).await;
                        // A replica being added may just have caught up.
                        match committed {
                            Ok(()) => self.complete_reassignments().await,
                            Err(e) => Err(e),
                        }
                        .map(|()| ControllerReply::Altered)
                    }
                    Err(why) => Ok(ControllerReply::Refused(why)),
                }
            }
            ControllerRequest::ElectLeaders { kind, partitions } => {
                self.on_elect_leaders(kind, partitions).await
            }
            ControllerRequest::AlterPartitionReassignments { partitions } => {
                self.on_alter_reassignments(partitions).await
            }
            ControllerRequest::RegisterBroker {
                node_id,
                endpoints,
                rack,
            } => {
                self.leases.insert(node_id, Instant::now());
                // A registration makes the broker live: it takes back the
                // partitions left leaderless while it was away.
                let unclean = self.args.config.cluster.unclean_leader_election;
                let mut records = decisions::unfence(&self.image, node_id, unclean);
                records[0] = MetadataRecord::BrokerRegistered {
                    node_id,
                    endpoints,
                    rack,
                };
                self.commit(records)
                    .await
                    .map(|()| ControllerReply::RegisteredAt {
                        version: self.image.version,
                    })
            }
        };
        match answer {
            Ok(answer) => Ok(answer),
            Err(ProposeError::NotLeader(_)) => Ok(ControllerReply::NotController),
            Err(ProposeError::Fatal(e)) => Err(e.into()),
        }
    }

    /// Renews `node_id`'s lease, unfencing it if it was fenced. Only the
    /// unfencing needs the quorum: a lease lives in the active controller's
    /// memory, so heartbeats cost no Raft traffic.
    async fn on_heartbeat(&mut self, node_id: i32) -> Result<ControllerReply, ActorProcessingErr> {
        if !self.args.quorum.is_leader() {
            return Ok(ControllerReply::NotController);
        }
        // This broker's own heartbeats never cross the network: a controller
        // cut off from the quorum would take them for ever, so they are taken
        // only while a majority confirms the leadership (this broker's
        // readiness rests on them).
        if node_id == self.args.config.node_id {
            match self.args.quorum.confirm_leadership().await {
                Ok(()) => {}
                Err(ProposeError::NotLeader(_)) => return Ok(ControllerReply::NotController),
                Err(ProposeError::Fatal(e)) => return Err(e.into()),
            }
        }
        self.leases.insert(node_id, Instant::now());
        let fenced = self
            .args
            .images
            .borrow()
            .brokers
            .get(&node_id)
            .map(|b| b.fenced);
        match fenced {
            None => Ok(ControllerReply::Unavailable(format!(
                "broker {node_id} is not registered"
            ))),
            Some(false) => Ok(ControllerReply::Registered),
            Some(true) => {
                match self.args.quorum.confirm_leadership().await {
                    Ok(()) => {}
                    Err(ProposeError::NotLeader(_)) => return Ok(ControllerReply::NotController),
                    Err(ProposeError::Fatal(e)) => return Err(e.into()),
                }
                let image = self.args.images.borrow().clone();
                let unclean = self.args.config.cluster.unclean_leader_election;
                let records = decisions::unfence(&image, node_id, unclean);
                match self.commit(records).await {
                    Ok(()) => {
                        tracing::info!(broker = node_id, "broker unfenced");
                        Ok(ControllerReply::Registered)
                    }
                    Err(ProposeError::NotLeader(_)) => Ok(ControllerReply::NotController),
                    Err(ProposeError::Fatal(e)) => Err(e.into()),
                }
            }
        }
    }

    /// On the active controller: fences every live broker whose lease
    /// expired, moving its leaderships (never itself: it is running).
    async fn check_leases(&mut self) -> Result<(), ActorProcessingErr> {
        if !self.args.quorum.is_leader() {
            self.leases.clear();
            self.leases_seeded = false;
            return Ok(());
        }
        let now = Instant::now();
        let session = Duration::from_millis(self.args.config.cluster.broker_session_timeout_ms);
        let me = self.args.config.node_id;
        let live = self.args.images.borrow().live_brokers();
        if !self.leases_seeded {
            self.leases_seeded = true;
            self.seed_leases(&live, now, session).await;
        }
        let expired: Vec<i32> = live
            .into_iter()
            .filter(|&id| id != me)
            .filter(|id| now.duration_since(*self.leases.entry(*id).or_insert(now)) > session)
            .collect();
        for node_id in expired {
            match self.args.quorum.confirm_leadership().await {
                Ok(()) => {}
                Err(ProposeError::NotLeader(_)) => return Ok(()),
                Err(ProposeError::Fatal(e)) => return Err(e.into()),
            }
            let image = self.args.images.borrow().clone();
            let unclean = self.args.config.cluster.unclean_leader_election;
            let records = decisions::fence(&image, node_id, unclean);
            let moved = records.len() - 1;
            match self.commit(records).await {
                Ok(()) => tracing::warn!(
                    broker = node_id,
                    partitions = moved,
                    "broker lease expired; fenced"
                ),
                Err(ProposeError::NotLeader(_)) => return Ok(()),
                Err(ProposeError::Fatal(e)) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// The brokers linked to this one now (`None`: not clustered, or the
    /// link did not answer).
    async fn linked_peers(&self) -> Option<Vec<i32>> {
        let name = self.args.link_name.as_ref()?;
        let link: ActorRef<ClusterLinkMsg> = ractor::registry::where_is(name.clone())?.into();
        let peers = link.call(ClusterLinkMsg::Peers, Some(Duration::from_millis(500)));
        match peers.await {
            Ok(ractor::rpc::CallResult::Success(peers)) => Some(peers),
            _ => None,
        }
    }

    /// On the active controller: every linked broker that is not a member of
    /// the quorum (a broker-only node: voters are members from the start)
    /// becomes a learner, so the metadata log reaches it before it registers.
    async fn add_learners(&mut self) -> Result<(), ActorProcessingErr> {
        if !self.args.quorum.is_leader() {
            return Ok(());
        }
        let Some(peers) = self.linked_peers().await else {
            return Ok(());
        };
        let members = self.args.quorum.members();
        for id in peers.into_iter().filter(|id| !members.contains(id)) {
            match self.args.quorum.add_learner(id).await {
                Ok(()) => {
                    tracing::info!(broker = id, "broker-only node added as a metadata learner")
                }
                Err(ProposeError::NotLeader(_)) => return Ok(()),
                Err(ProposeError::Fatal(e)) => {
                    // (openraft refuses while another membership change is in
                    // flight: the next round tries again.)
                    tracing::warn!(broker = id, error = %e, "adding a metadata learner failed")
                }
            }
        }
        Ok(())
    }

    /// A controller that just took over never saw the brokers' last
    /// heartbeats: a broker linked to this one gets half a session to
    /// heartbeat, one that is not (it died, likely with the old controller)
    /// one heartbeat interval, so failover does not wait a whole session
    /// after the election.
    async fn seed_leases(&mut self, live: &[i32], now: Instant, session: Duration) {
        let heartbeat =
            Duration::from_millis(self.args.config.cluster.broker_heartbeat_interval_ms);
        let linked = self.linked_peers().await;
        for &id in live {
            let grace = match &linked {
                Some(peers) if !peers.contains(&id) => heartbeat,
                _ => session / 2,
            };
            let assumed = now
                .checked_sub(session.saturating_sub(grace))
                .unwrap_or(now);
            // A heartbeat that came since the takeover counts.
            self.leases.entry(id).or_insert(assumed);
        }
    }

    /// On the active controller: Kafka's leader imbalance check
    /// (`leader.imbalance.per.broker.percentage`), moving leadership back to
    /// preferred replicas that are live and in sync.
    async fn check_leader_imbalance(&mut self) -> Result<(), ActorProcessingErr> {
        if !self.args.quorum.is_leader() {
            return Ok(());
        }
        let percentage = self
            .args
            .config
            .cluster
            .leader_imbalance_per_broker_percentage;
        let records = decisions::rebalance_leaders(&self.args.images.borrow(), percentage);
        if records.is_empty() {
            return Ok(());
        }
        match self.args.quorum.confirm_leadership().await {
            Ok(()) => {}
            Err(ProposeError::NotLeader(_)) => return Ok(()),
            Err(ProposeError::Fatal(e)) => return Err(e.into()),
        }
        // Decided again on the image the leadership was confirmed on.
        let records = decisions::rebalance_leaders(&self.args.images.borrow(), percentage);
        let moved = records.len();
        match self.commit(records).await {
            Ok(()) => {
                if moved > 0 {
                    tracing::info!(
                        partitions = moved,
                        "leadership moved back to preferred replicas"
                    );
                }
                Ok(())
            }
            Err(ProposeError::NotLeader(_)) => Ok(()),
            Err(ProposeError::Fatal(e)) => Err(e.into()),
        }
    }

    /// On the active controller: finishes the reassignments whose target
    /// replicas are all in sync (a periodic check besides the one after each
    /// ISR change, so a change lost with an old controller still finishes).
    async fn progress_reassignments(&mut self) -> Result<(), ActorProcessingErr> {
        if !self.args.quorum.is_leader() || self.args.images.borrow().reassignments.is_empty() {
            return Ok(());
        }
        match self.args.quorum.confirm_leadership().await {
            Ok(()) => {}
            Err(ProposeError::NotLeader(_)) => return Ok(()),
            Err(ProposeError::Fatal(e)) => return Err(e.into()),
        }
        match self.complete_reassignments().await {
            Ok(()) | Err(ProposeError::NotLeader(_)) => Ok(()),
            Err(ProposeError::Fatal(e)) => Err(e.into()),
        }
    }

    /// Commits the completion of every reassignment that can finish now.
    async fn complete_reassignments(&mut self) -> Result<(), ProposeError> {
        let image = self.args.images.borrow().clone();
        let records = decisions::complete_reassignments(&image);
        for record in &records {
            if let MetadataRecord::PartitionReplicasChanged {
                topic_id,
                partition,
                replicas,
                leader,
                ..
            } = record
            {
                let topic = image.topic_names.get(topic_id).cloned().unwrap_or_default();
                tracing::info!(%topic, partition, ?replicas, leader, "partition reassignment completed");
            }
        }
        self.commit(records).await
    }

    async fn on_elect_leaders(
        &mut self,
        kind: ElectionType,
        partitions: Option<Vec<(String, i32)>>,
    ) -> Result<ControllerReply, ProposeError> {
        let all = partitions.is_none();
        let partitions = partitions.unwrap_or_else(|| {
            self.image
                .topics
                .values()
                .flat_map(|t| t.partitions.iter().map(|p| (t.name.clone(), p.partition)))
                .collect()
        });
        let mut records = Vec::new();
        let mut results = Vec::with_capacity(partitions.len());
        let mut elected = std::collections::HashSet::new();
        for (topic, partition) in partitions {
            let result = match (
                self.image.topic(&topic),
                self.image.partition(&topic, partition),
            ) {
                (Some(t), Some(p)) => decisions::elect(&self.image, t.topic_id, p, kind),
                _ => Err(ElectionError::UnknownTopicOrPartition),
            };
            let result = match result {
                Ok(record) if elected.insert((topic.clone(), partition)) => {
                    records.push(record);
                    Ok(())
                }
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            };
            // Kafka leaves out what needed no election when asked for all.
            if all && result == Err(ElectionError::NotNeeded) {
                continue;
            }
            results.push((topic, partition, result));
        }
        let moved = records.len();
        self.commit(records).await?;
        if moved > 0 {
            tracing::info!(?kind, partitions = moved, "leaders elected on request");
        }
        Ok(ControllerReply::Elections(results))
    }

    async fn on_alter_reassignments(
        &mut self,
        partitions: Vec<(String, i32, Option<Vec<i32>>)>,
    ) -> Result<ControllerReply, ProposeError> {
        // Each change is decided on the image with the earlier ones applied.
        let mut working = (*self.image).clone();
        let mut records = Vec::new();
        let mut results = Vec::with_capacity(partitions.len());
        for (topic, partition, target) in partitions {
            let decision = decisions::reassign(&working, &topic, partition, target.as_deref());
            results.push(decision.as_ref().map(|_| ()).map_err(Clone::clone));
            if let Ok(Some(record)) = decision {
                tracing::info!(%topic, partition, ?target, "partition reassignment changed");
                working = working.apply(&record);
                records.push(record);
            }
        }
        self.commit(records).await?;
        // Shrinks and reorderings may be complete at once.
        self.complete_reassignments().await?;
        Ok(ControllerReply::Reassignments(results))
    }

    /// The first active controller of a new quorum gives the cluster its id,
    /// importing a single broker's records from before the quorum if there are
    /// any (they hold its id).
    async fn ensure_cluster_created(&mut self) -> Result<(), ActorProcessingErr> {
        if !self.args.images.borrow().cluster_id.is_empty() {
            return Ok(());
        }
        let legacy = match &self.args.legacy_store {
            Some(path) if path.exists() => {
                let dir = path
                    .parent()
                    .and_then(|p| p.parent())
                    .map(PathBuf::from)
                    .unwrap_or_default();
                tokio::task::spawn_blocking(move || FileStore::new(&dir).load()).await??
            }
            _ => Vec::new(),
        };
        let imported = !legacy.is_empty();
        let records = if imported {
            legacy
        } else {
            vec![MetadataRecord::ClusterCreated {
                cluster_id: new_cluster_id(),
            }]
        };
        match self.args.quorum.propose(records).await {
            Ok(()) => {}
            Err(ProposeError::NotLeader(_)) => return Ok(()),
            Err(ProposeError::Fatal(e)) => return Err(e.into()),
        }
        if imported && let Some(path) = &self.args.legacy_store {
            let done = path.with_extension("log.imported");
            std::fs::rename(path, &done)?;
            tracing::info!(from = %path.display(), "single-broker metadata imported into the quorum");
        }
        Ok(())
    }

    /// Commits `records` through the quorum; the published image then holds
    /// them, and so does this state's.
    async fn commit(&mut self, records: Vec<MetadataRecord>) -> Result<(), ProposeError> {
        if records.is_empty() {
            return Ok(());
        }
        self.args.quorum.propose(records).await?;
        self.image = self.args.images.borrow().clone();
        Ok(())
    }

    async fn on_create_topics(
        &mut self,
        topics: Vec<TopicSpec>,
        validate_only: bool,
    ) -> Result<ControllerReply, ProposeError> {
        let mut records = Vec::new();
        let mut results = Vec::with_capacity(topics.len());
        let mut names_in_request = std::collections::HashSet::new();
        let mut pending_partitions = 0;
        for spec in topics {
            let result = self
                .validate_topic(&spec, pending_partitions)
                .and_then(|record| {
                    if !names_in_request.insert(spec.name.clone()) {
                        return Err(TopicError::AlreadyExists(spec.name.clone()));
                    }
                    Ok(record)
                });
            results.push(result.as_ref().map(|_| ()).map_err(Clone::clone));
            if let Ok(record) = result {
                if let MetadataRecord::TopicCreated { partitions, .. } = &record {
                    pending_partitions += partitions.len();
                }
                records.push(record);
            }
        }
        if !validate_only {
            self.commit(records).await?;
        }
        Ok(ControllerReply::Topics(results))
    }

    /// Checks a topic to create; `pending_partitions` are those of earlier topics
    /// in the same request.
    fn validate_topic(
        &self,
        spec: &TopicSpec,
        pending_partitions: usize,
    ) -> Result<MetadataRecord, TopicError> {
        validate_topic_name(&spec.name)?;
        if self.image.topics.contains_key(&spec.name) {
            return Err(TopicError::AlreadyExists(spec.name.clone()));
        }
        let partitions = spec
            .num_partitions
            .unwrap_or(self.args.config.num_partitions);
        if !(1..=PARTITIONS_PER_TOPIC_MAX).contains(&partitions) {
            return Err(TopicError::InvalidPartitions(format!(
                "number of partitions must be between 1 and {PARTITIONS_PER_TOPIC_MAX}, got {partitions}"
            )));
        }
        let hosted: usize = self.image.topics.values().map(|t| t.partitions.len()).sum();
        if hosted + pending_partitions + partitions as usize > self.args.config.max_partitions {
            return Err(TopicError::InvalidPartitions(format!(
                "the broker's partition limit (max.partitions = {}) would be exceeded",
                self.args.config.max_partitions
            )));
        }
        let live = self.image.live_brokers().len() as i16;
        let replication_factor = match spec.replication_factor {
            Some(factor) => factor,
            // The offsets topic takes what the cluster has, up to its setting.
            None if spec.name == OFFSETS_TOPIC => self
                .args
                .config
                .cluster
                .offsets_topic_replication_factor
                .min(live),
            None if spec.name == TXN_STATE_TOPIC => self
                .args
                .config
                .cluster
                .transaction_state_log_replication_factor
                .min(live),
            None => self.args.config.cluster.default_replication_factor,
        };
        if replication_factor < 1 || replication_factor > live {
            return Err(TopicError::InvalidReplicationFactor(format!(
                "replication factor {replication_factor} is not between 1 and the {live} live broker(s)"
            )));
        }
        TopicConfig::validate(&self.args.config, &spec.configs)
            .map_err(TopicError::InvalidConfig)?;
        let brokers = self.image.live_brokers();
        let assignment = assign_replicas(
            &brokers,
            0,
            partitions as usize,
            replication_factor as usize,
        );
        Ok(MetadataRecord::TopicCreated {
            topic_id: new_topic_id(),
            name: spec.name.clone(),
            partitions: assignment,
            configs: spec
                .configs
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
                .collect(),
        })
    }

    async fn on_create_partitions(
        &mut self,
        topics: Vec<PartitionsSpec>,
        validate_only: bool,
    ) -> Result<ControllerReply, ProposeError> {
        let mut counts = std::collections::HashMap::new();
        for spec in &topics {
            *counts.entry(spec.name.clone()).or_insert(0) += 1;
        }
        let mut records = Vec::new();
        let mut results = Vec::with_capacity(topics.len());
        let mut pending_partitions = 0;
        for spec in topics {
            let result = if counts[&spec.name] > 1 {
                Err(TopicError::InvalidRequest(format!(
                    "topic '{}' is named more than once in the request",
                    spec.name
                )))
            } else {
                self.validate_partitions(&spec, pending_partitions)
            };
            results.push(result.as_ref().map(|_| ()).map_err(Clone::clone));
            if let Ok(record) = result {
                if let MetadataRecord::PartitionsCreated { partitions, .. } = &record {
                    pending_partitions += partitions.len();
                }
                records.push(record);
            }
        }
        if !validate_only {
            self.commit(records).await?;
        }
        Ok(ControllerReply::Topics(results))
    }

    /// Checks a topic to grow (Kafka's rules: the count only grows, within the
    /// limits; a manual assignment names live brokers, one list per new
    /// partition, as many replicas as the topic has); `pending_partitions` are
    /// those added to earlier topics in the same request.
    fn validate_partitions(
        &self,
        spec: &PartitionsSpec,
        pending_partitions: usize,
    ) -> Result<MetadataRecord, TopicError> {
        let topic = self
            .image
            .topic(&spec.name)
            .ok_or_else(|| TopicError::UnknownTopic(spec.name.clone()))?;
        if spec.name == OFFSETS_TOPIC || spec.name == TXN_STATE_TOPIC {
            return Err(TopicError::InvalidRequest(format!(
                "the partition count of {} is fixed",
                spec.name
            )));
        }
        let current = topic.partitions.len() as i32;
        if spec.count < current {
            return Err(TopicError::InvalidPartitions(format!(
                "topic currently has {current} partitions, which is higher than the requested {}",
                spec.count
            )));
        }
        if spec.count == current {
            return Err(TopicError::InvalidPartitions(format!(
                "topic already has {current} partitions"
            )));
        }
        if spec.count > PARTITIONS_PER_TOPIC_MAX {
            return Err(TopicError::InvalidPartitions(format!(
                "number of partitions must be between 1 and {PARTITIONS_PER_TOPIC_MAX}, got {}",
                spec.count
            )));
        }
        let added = (spec.count - current) as usize;
        let hosted: usize = self.image.topics.values().map(|t| t.partitions.len()).sum();
        if hosted + pending_partitions + added > self.args.config.max_partitions {
            return Err(TopicError::InvalidPartitions(format!(
                "the broker's partition limit (max.partitions = {}) would be exceeded",
                self.args.config.max_partitions
            )));
        }
        let replication_factor = topic
            .partitions
            .first()
            .map_or(1, |p| p.replicas.len().max(1));
        let partitions = match &spec.assignments {
            Some(assignments) => {
                let registered: Vec<i32> = self.image.brokers.keys().copied().collect();
                check_assignments(assignments, added, replication_factor, &registered)?;
                assignments.clone()
            }
            None => {
                let live = self.image.live_brokers();
                assign_replicas(&live, current as usize, added, replication_factor)
            }
        };
        Ok(MetadataRecord::PartitionsCreated {
            topic_id: topic.topic_id,
            partitions,
        })
    }

    async fn on_alter_configs(
        &mut self,
        topics: Vec<(String, ConfigAlteration)>,
        validate_only: bool,
    ) -> Result<ControllerReply, ProposeError> {
        let mut records = Vec::new();
        let mut results = Vec::with_capacity(topics.len());
        let mut seen = std::collections::HashSet::new();
        for (name, alteration) in topics {
            let result = match self.image.topic(&name) {
                None => Err(TopicError::UnknownTopic(name.clone())),
                // Each topic is planned against the image: a second change to
                // it in the same batch would not see the first.
                Some(_) if !seen.insert(name.clone()) => Err(TopicError::InvalidRequest(format!(
                    "topic '{name}' is named more than once in the request"
                ))),
                Some(topic) => {
                    alter::plan(&self.args.config, &topic.configs, &alteration).map(|changes| {
                        if !changes.is_empty() {
                            records.push(MetadataRecord::TopicConfigsAltered {
                                topic_id: topic.topic_id,
                                changes,
                            });
                        }
                    })
                }
            };
            results.push(result);
        }
        if !validate_only {
            self.commit(records).await?;
        }
        Ok(ControllerReply::Topics(results))
    }

    async fn on_delete_topics(
        &mut self,
        names: Vec<String>,
    ) -> Result<ControllerReply, ProposeError> {
        let mut records = Vec::new();
        let mut results = Vec::with_capacity(names.len());
        let mut seen = std::collections::HashSet::new();
        for name in names {
            match self.image.topic(&name) {
                Some(topic) if seen.insert(topic.topic_id) => {
                    records.push(MetadataRecord::TopicDeleted {
                        topic_id: topic.topic_id,
                    });
                    results.push(Ok(()));
                }
                _ => results.push(Err(TopicError::UnknownTopic(name))),
            }
        }
        self.commit(records).await?;
        Ok(ControllerReply::Topics(results))
    }
}

/// Kafka's topic name rules: 1–249 chars of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), TopicError> {
    let invalid = |why: &str| {
        Err(TopicError::InvalidName(format!(
            "topic name '{name}' is illegal: {why}"
        )))
    };
    if name.is_empty() {
        return invalid("it is empty");
    }
    if name == "." || name == ".." {
        return invalid("it cannot be '.' or '..'");
    }
    if name.len() > TOPIC_NAME_BYTES_MAX {
        return invalid("it is longer than 249 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return invalid("it contains characters other than ASCII alphanumerics, '.', '_' and '-'");
    }
    Ok(())
}

/// Replica lists for `count` partitions from index `first` on, round-robin
/// over `brokers` from a random start (Kafka's placement without racks): the
/// first replica, the preferred leader, moves on by one broker per partition.
fn assign_replicas(brokers: &[i32], first: usize, count: usize, factor: usize) -> Vec<Vec<i32>> {
    if brokers.is_empty() {
        return Vec::new();
    }
    let start = rand::random_range(0..brokers.len());
    (first..first + count)
        .map(|p| {
            (0..factor)
                .map(|r| brokers[(start + p + r) % brokers.len()])
                .collect()
        })
        .collect()
}

/// Kafka's checks of a manual assignment of `added` new partitions.
fn check_assignments(
    assignments: &[Vec<i32>],
    added: usize,
    replication_factor: usize,
    brokers: &[i32],
) -> Result<(), TopicError> {
    let invalid = |why: String| Err(TopicError::InvalidReplicaAssignment(why));
    if assignments.len() != added {
        return invalid(format!(
            "increasing the number of partitions by {added} but {} assignments provided",
            assignments.len()
        ));
    }
    for replicas in assignments {
        if replicas.len() != replication_factor {
            return invalid(format!(
                "inconsistent replication factor: the topic has {replication_factor}, an assignment has {}",
                replicas.len()
            ));
        }
        if let Some(unknown) = replicas.iter().find(|b| !brokers.contains(b)) {
            return invalid(format!("unknown broker {unknown} in replica assignment"));
        }
        let distinct: std::collections::HashSet<_> = replicas.iter().collect();
        if distinct.len() != replicas.len() {
            return invalid(format!(
                "duplicate brokers not allowed in replica assignment: {replicas:?}"
            ));
        }
    }
    Ok(())
}

fn new_topic_id() -> [u8; 16] {
    // A random (v4-shaped) id; all-zero is reserved for "no id" on the wire.
    let mut id: [u8; 16] = rand::random();
    id[6] = (id[6] & 0x0f) | 0x40;
    id[8] = (id[8] & 0x3f) | 0x80;
    id
}

fn new_cluster_id() -> String {
    // Kafka cluster ids are 22-char URL-safe base64 of a UUID.
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..22)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::quorum::QuorumArgs;
    use super::*;

    type Results = Vec<Result<(), TopicError>>;

    /// A controller on a quorum of one in `dir`, with broker 0 registered.
    async fn start(
        dir: &std::path::Path,
        max_partitions: usize,
    ) -> (
        ActorRef<ControllerMsg>,
        watch::Receiver<Arc<MetadataImage>>,
        Quorum,
    ) {
        let config = BrokerConfig {
            max_partitions,
            ..BrokerConfig::default()
        };
        let (images, rx) = watch::channel(Arc::new(MetadataImage::default()));
        let quorum = Quorum::start(QuorumArgs {
            node_id: 0,
            voters: Vec::new(),
            dir: dir.join("__cluster_metadata"),
            heartbeat_interval_ms: 50,
            election_timeout_ms: 150,
            snapshot_every_entries: 1_000,
            images,
        })
        .await
        .unwrap();
        let args = ControllerArgs {
            config: Arc::new(config),
            quorum: quorum.clone(),
            images: rx.clone(),
            legacy_store: Some(dir.join("__cluster_metadata/records.log")),
            link_name: None,
        };
        let (controller, _) = Actor::spawn(None, Controller, args).await.unwrap();
        let registration = ControllerRequest::RegisterBroker {
            node_id: 0,
            endpoints: vec![Endpoint {
                listener: "PLAINTEXT".into(),
                host: "127.0.0.1".into(),
                port: 9092,
            }],
            rack: None,
        };
        assert!(matches!(
            request(&controller, registration).await,
            ControllerReply::RegisteredAt { version } if version > 0
        ));
        (controller, rx, quorum)
    }

    async fn request(c: &ActorRef<ControllerMsg>, request: ControllerRequest) -> ControllerReply {
        c.call(|reply| ControllerMsg::Request { request, reply }, None)
            .await
            .unwrap()
            .unwrap()
    }

    async fn topics(c: &ActorRef<ControllerMsg>, r: ControllerRequest) -> Results {
        match request(c, r).await {
            ControllerReply::Topics(results) => results,
            other => panic!("{other:?}"),
        }
    }

    async fn grow(
        c: &ActorRef<ControllerMsg>,
        specs: &[(&str, i32)],
        validate_only: bool,
    ) -> Results {
        let specs = specs
            .iter()
            .map(|(name, count)| PartitionsSpec {
                name: (*name).into(),
                count: *count,
                assignments: None,
            })
            .collect();
        let r = ControllerRequest::CreatePartitions {
            topics: specs,
            validate_only,
        };
        topics(c, r).await
    }

    async fn alter(
        c: &ActorRef<ControllerMsg>,
        changes: Vec<(String, ConfigAlteration)>,
        validate_only: bool,
    ) -> Results {
        let r = ControllerRequest::AlterConfigs {
            topics: changes,
            validate_only,
        };
        topics(c, r).await
    }

    fn set(name: &str, value: &str) -> ConfigAlteration {
        ConfigAlteration::Incremental(vec![(name.into(), alter::OP_SET, Some(value.into()))])
    }

    /// CreatePartitions and config changes are validated, written durably and
    /// applied to the image; validate_only writes nothing.
    #[tokio::test]
    async fn partitions_and_configs_change_durably() {
        let dir = tempfile::tempdir().unwrap();
        let (c, images, quorum) = start(dir.path(), 6).await;
        let topic = TopicSpec {
            name: "t".into(),
            num_partitions: Some(2),
            replication_factor: None,
            configs: vec![("segment.bytes".into(), Some("4096".into()))],
        };
        let create = ControllerRequest::CreateTopics {
            topics: vec![topic],
            validate_only: false,
        };
        let created = topics(&c, create).await;
        assert_eq!(created, vec![Ok(())]);
        let partitions = |images: &watch::Receiver<Arc<MetadataImage>>| {
            images.borrow().topic("t").map(|t| t.partitions.len())
        };

        assert_eq!(grow(&c, &[("t", 4)], true).await, vec![Ok(())]);
        assert_eq!(partitions(&images), Some(2), "validate_only writes nothing");
        let refused = grow(&c, &[("t", 2), ("t", 1)], false).await;
        assert!(
            refused
                .iter()
                .all(|r| matches!(r, Err(TopicError::InvalidRequest(_)))),
            "{refused:?}"
        );
        let refused = grow(&c, &[("t", 2), ("nope", 3)], false).await;
        assert!(
            matches!(refused[0], Err(TopicError::InvalidPartitions(_))),
            "{refused:?}"
        );
        assert!(
            matches!(refused[1], Err(TopicError::UnknownTopic(_))),
            "{refused:?}"
        );
        assert!(matches!(
            grow(&c, &[("t", 1)], false).await[0],
            Err(TopicError::InvalidPartitions(_))
        ));
        // max.partitions = 6: the topic may grow by 4, not 5.
        assert!(matches!(
            grow(&c, &[("t", 7)], false).await[0],
            Err(TopicError::InvalidPartitions(_))
        ));
        assert_eq!(grow(&c, &[("t", 6)], false).await, vec![Ok(())]);
        let image = images.borrow().clone();
        let t = image.topic("t").unwrap();
        assert_eq!(t.partitions.len(), 6);
        assert_eq!(t.partitions[5].partition, 5);
        assert_eq!(t.partitions[5].replicas, vec![0]);

        let changes = vec![("t".to_string(), set("retention.ms", "1000"))];
        assert_eq!(alter(&c, changes.clone(), true).await, vec![Ok(())]);
        assert!(
            !images
                .borrow()
                .topic("t")
                .unwrap()
                .configs
                .contains_key("retention.ms")
        );
        assert_eq!(alter(&c, changes, false).await, vec![Ok(())]);
        let bad = alter(
            &c,
            vec![
                ("t".to_string(), set("retention.ms", "soon")),
                ("nope".to_string(), set("retention.ms", "1")),
            ],
            false,
        )
        .await;
        assert!(
            matches!(bad[0], Err(TopicError::InvalidConfig(_))),
            "{bad:?}"
        );
        assert!(
            matches!(bad[1], Err(TopicError::UnknownTopic(_))),
            "{bad:?}"
        );
        let expected = BTreeMap::from([
            ("retention.ms".to_string(), "1000".to_string()),
            ("segment.bytes".to_string(), "4096".to_string()),
        ]);
        assert_eq!(images.borrow().topic("t").unwrap().configs, expected);
        // Legacy AlterConfigs replaces the whole set.
        let replace = ConfigAlteration::Replace(vec![("retention.ms".into(), Some("2000".into()))]);
        assert_eq!(
            alter(&c, vec![("t".into(), replace)], false).await,
            vec![Ok(())]
        );
        let expected = BTreeMap::from([("retention.ms".to_string(), "2000".to_string())]);
        assert_eq!(images.borrow().topic("t").unwrap().configs, expected);

        // A new controller on the same store finds both changes.
        c.stop_and_wait(None, None).await.unwrap();
        quorum.shutdown().await;
        let (c, images, quorum) = start(dir.path(), 6).await;
        let image = images.borrow().clone();
        let t = image.topic("t").unwrap();
        assert_eq!((t.partitions.len(), &t.configs), (6, &expected));
        c.stop(None);
        quorum.shutdown().await;
    }

    /// A single broker's data dir from before the quorum is imported on the
    /// first start: same cluster id, same topics; the old file is set aside.
    #[tokio::test]
    async fn a_pre_quorum_data_dir_is_imported() {
        let dir = tempfile::tempdir().unwrap();
        let mut legacy = FileStore::new(dir.path());
        legacy.load().unwrap();
        legacy
            .append(&[
                MetadataRecord::ClusterCreated {
                    cluster_id: "legacy-cluster-id-0000".into(),
                },
                MetadataRecord::TopicCreated {
                    topic_id: [9; 16],
                    name: "old".into(),
                    partitions: vec![vec![0], vec![0]],
                    configs: Vec::new(),
                },
            ])
            .unwrap();
        let (c, images, quorum) = start(dir.path(), 100).await;
        let image = images.borrow().clone();
        assert_eq!(image.cluster_id, "legacy-cluster-id-0000");
        assert_eq!(image.topic("old").unwrap().partitions.len(), 2);
        let metadata = dir.path().join("__cluster_metadata");
        assert!(!metadata.join("records.log").exists());
        assert!(metadata.join("records.log.imported").exists());
        c.stop_and_wait(None, None).await.unwrap();
        quorum.shutdown().await;
        // Started again, the quorum has it all without the old file.
        let (c, images, quorum) = start(dir.path(), 100).await;
        assert_eq!(images.borrow().cluster_id, "legacy-cluster-id-0000");
        assert!(images.borrow().topic("old").is_some());
        c.stop(None);
        quorum.shutdown().await;
    }

    #[test]
    fn manual_assignments_follow_kafka_rules() {
        let brokers = [1, 2];
        assert!(check_assignments(&[vec![1], vec![2]], 2, 1, &brokers).is_ok());
        for (assignments, added, rf) in [
            (vec![vec![1]], 2, 1),
            (vec![vec![1, 2]], 1, 1),
            (vec![vec![3]], 1, 1),
            (vec![vec![1, 1]], 1, 2),
        ] {
            assert!(
                matches!(
                    check_assignments(&assignments, added, rf, &brokers),
                    Err(TopicError::InvalidReplicaAssignment(_))
                ),
                "{assignments:?}"
            );
        }
    }

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(validate_topic_name("orders.v1_a-b").is_ok());
        for bad in ["", ".", "..", "a b", "é", &"x".repeat(250)] {
            assert!(validate_topic_name(bad).is_err(), "{bad:?}");
        }
    }
}
