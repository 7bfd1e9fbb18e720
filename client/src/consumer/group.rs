//! Consumer group membership (Kafka's classic group protocol) on top of the
//! assign-mode [`Consumer`]: a [`GroupConsumer`] subscribes to topics, joins a
//! group through its coordinator, and consumes the partitions the group's
//! leader assigned to it, committing offsets to the group.
//!
//! It speaks the protocol as the Java client does, so it can share a group with
//! Java and librdkafka consumers: protocol type `"consumer"`, the standard
//! Subscription/Assignment encodings, and assignors named as in
//! `partition.assignment.strategy` (`range`, `roundrobin`, `cooperative-sticky`).
//!
//! How it runs, as in the Java client:
//! - Rebalances happen inside [`GroupConsumer::poll`]: the join/sync round
//!   trips, the rebalance callbacks and the commits around them run on the
//!   application's task. A background task only heartbeats, and flags what it
//!   learns (a rebalance started, the member was fenced, the coordinator moved)
//!   for the next `poll`, which it wakes. `poll` may therefore take longer than
//!   its timeout while a rebalance completes (bounded by the rebalance timeout).
//! - The rebalance timeout is also Kafka's `max.poll.interval.ms`: an
//!   application that does not call `poll` for longer is taken out of the
//!   group (the heartbeat task leaves it; its partitions are lost).
//! - Eager protocol (every assignor that is not `cooperative-sticky`): before
//!   rejoining, the member revokes everything it owns. Incremental cooperative
//!   protocol (only when *every* configured assignor is cooperative, as in the
//!   Java client): the member keeps its partitions across the rebalance, sends
//!   them in its subscription, revokes only those missing from its new
//!   assignment, and then rejoins so the leader can hand them on.
//! - Where a partition starts: its committed offset (OffsetFetch), else the
//!   consumer's `auto_offset_reset`.
//!
//! Delivery modes decide when offsets are committed ([`DeliveryMode`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    FindCoordinatorRequest, GroupId, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest,
    OffsetCommitRequest, OffsetFetchRequest, SyncGroupRequest, TopicName,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::assignor::{
    Assignor, CooperativeStickyAssignor, MemberSubscription, RangeAssignor, RoundRobinAssignor,
};
use super::{
    Consumer, ConsumerConfig, ConsumerRecord, HeaderFilter, IsolationLevel, Offset,
    list_offset_with,
};
use crate::cluster::{ClientConfig, Cluster};
use crate::conn::Connection;
use crate::error::{ClientError, codes, is_retriable_code};
use crate::protocol::ApiKey;
use crate::protocol::DecodeError;
use crate::protocol::Reader;
use crate::protocol::consumer_protocol::{Assignment, PROTOCOL_TYPE, Subscription};
use crate::protocol::responses::{
    FIND_COORDINATOR_VERSION, FindCoordinatorResponse, HEARTBEAT_VERSION, HeartbeatResponse,
    JOIN_GROUP_VERSION, JoinGroupResponse, LEAVE_GROUP_VERSION, LeaveGroupResponse,
    OFFSET_COMMIT_VERSION, OFFSET_FETCH_VERSION, OffsetCommitResponse, OffsetFetchResponse,
    SYNC_GROUP_VERSION, SyncGroupResponse, join_group::JoinGroupResponseMember,
};

const OFFSET_COMMIT_KEY: i16 = ApiKey::OffsetCommit as i16;
const OFFSET_FETCH_KEY: i16 = ApiKey::OffsetFetch as i16;
const FIND_COORDINATOR_KEY: i16 = ApiKey::FindCoordinator as i16;
const JOIN_GROUP_KEY: i16 = ApiKey::JoinGroup as i16;
const HEARTBEAT_KEY: i16 = ApiKey::Heartbeat as i16;
const LEAVE_GROUP_KEY: i16 = ApiKey::LeaveGroup as i16;
const SYNC_GROUP_KEY: i16 = ApiKey::SyncGroup as i16;

/// The Subscription version sent (v3: owned partitions, generation, rack), and
/// the Assignment version the leader writes, as the Java client does.
const SUBSCRIPTION_VERSION: i16 = 3;
const ASSIGNMENT_VERSION: i16 = 3;

/// FindCoordinator tries before a call gives up.
const FIND_ATTEMPTS_MAX: u64 = 10;
/// JoinGroup/SyncGroup round trips per rebalance.
const JOIN_ATTEMPTS_MAX: u32 = 20;
/// Rebalances one `poll` runs back to back (a cooperative one takes two).
const REBALANCE_ROUNDS_MAX: u32 = 4;
/// Wake-ups (rebalance signals) one `poll` follows before it returns.
const POLL_ROUNDS_MAX: u32 = 16;
/// Tries of an OffsetCommit or OffsetFetch.
const OFFSET_ATTEMPTS_MAX: u64 = 6;
/// Metadata refreshes for the leader's assignment.
const METADATA_ATTEMPTS_MAX: u64 = 5;
/// Added to the rebalance timeout for a JoinGroup's answer (Java adds 5 s).
const JOIN_MARGIN: Duration = Duration::from_secs(5);

/// A topic partition.
pub type TopicPartition = (String, i32);

/// What a transactional producer sends with the offsets it commits for a
/// group ([`Producer::send_offsets_to_transaction`]): the group, and the
/// member's generation and ids, so the group coordinator refuses offsets from
/// a member that is no longer in the generation (a zombie, KIP-447). Java's
/// `ConsumerGroupMetadata`.
///
/// [`Producer::send_offsets_to_transaction`]: crate::producer::Producer::send_offsets_to_transaction
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupMetadata {
    /// `group.id`.
    pub group_id: String,
    /// The generation joined (-1: none, which the coordinator does not check).
    pub generation_id: i32,
    /// The coordinator-given member id (empty: none).
    pub member_id: String,
    /// `group.instance.id`, for static members.
    pub group_instance_id: Option<String>,
}

impl ConsumerGroupMetadata {
    /// A group's metadata with no member (generation -1): offsets committed
    /// with it are not checked against a generation.
    pub fn new(group_id: impl Into<String>) -> Self {
        Self {
            group_id: group_id.into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
        }
    }
}

/// When the offsets of records handed out by [`GroupConsumer::poll`] are
/// committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeliveryMode {
    /// Offsets are committed only after the application is done with the
    /// records: at the next `poll` (every `auto_commit_interval`, when
    /// `auto_commit` is on), before partitions are revoked, on `close`, or when
    /// the application calls [`GroupConsumer::commit`]. A crash or a fenced
    /// member redelivers what was not committed: every record at least once.
    #[default]
    AtLeastOnce,
    /// `poll` commits the offsets past its records *before* returning them (a
    /// synchronous commit; if it fails the records are not returned and their
    /// partitions are rewound). A crash loses what was handed out and not yet
    /// processed, but nothing is delivered twice. `auto_commit` plays no part.
    AtMostOnce,
}

/// How a group rebalances (decided by the configured assignors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebalanceProtocol {
    /// Every member revokes everything before rejoining.
    Eager,
    /// Members keep their partitions and revoke only those that move.
    Cooperative,
}

/// Whether an assignor follows the incremental cooperative protocol.
pub fn is_cooperative(assignor: &dyn Assignor) -> bool {
    assignor.name() == "cooperative-sticky"
}

/// The protocol for a list of assignors: cooperative only if every one is (a
/// member must be able to follow whichever the group picks), as in Java.
pub fn rebalance_protocol(assignors: &[Arc<dyn Assignor>]) -> RebalanceProtocol {
    if !assignors.is_empty() && assignors.iter().all(|a| is_cooperative(a.as_ref())) {
        RebalanceProtocol::Cooperative
    } else {
        RebalanceProtocol::Eager
    }
}

/// Callbacks around rebalances, run on the task that calls `poll` (or `close`).
pub trait RebalanceListener: Send {
    /// Partitions newly assigned (eager: the whole assignment; cooperative: the
    /// added ones, possibly none). Called after every completed rebalance.
    fn on_assigned(&mut self, partitions: &[TopicPartition]);

    /// Partitions taken away in an orderly way: the member still owned them
    /// and, with auto-commit (at-least-once) or at-most-once, their offsets
    /// were committed just before.
    fn on_revoked(&mut self, partitions: &[TopicPartition]);

    /// Partitions lost: the member was fenced or its session expired, and
    /// others may already own them (nothing could be committed). By default
    /// the same as a revocation, as in Java.
    fn on_lost(&mut self, partitions: &[TopicPartition]) {
        self.on_revoked(partitions);
    }

    /// After every completed rebalance: the generation joined, the member id,
    /// and the member's whole assignment in it.
    fn on_generation(&mut self, generation: i32, member_id: &str, assignment: &[TopicPartition]) {
        let _ = (generation, member_id, assignment);
    }
}

/// Group consumer settings (Kafka's names in the docs).
#[derive(Clone)]
pub struct GroupConfig {
    /// Fetch and connection settings. `auto_offset_reset` applies to
    /// partitions with no committed offset (`new` sets `Offset::End`, Java's
    /// `latest`).
    pub consumer: ConsumerConfig,
    /// `group.id`.
    pub group_id: String,
    /// `group.instance.id`: static membership. A static member keeps its place
    /// (and assignment) across restarts within the session timeout, and does
    /// not leave the group on `close`.
    pub group_instance_id: Option<String>,
    /// `session.timeout.ms`: without a heartbeat for this long, the coordinator
    /// removes the member.
    pub session_timeout: Duration,
    /// `max.poll.interval.ms`, sent as the rebalance timeout: how long the
    /// coordinator waits for members to rejoin, and the longest allowed gap
    /// between two `poll` calls.
    pub rebalance_timeout: Duration,
    /// `heartbeat.interval.ms`.
    pub heartbeat_interval: Duration,
    /// `partition.assignment.strategy`, in preference order. The default is
    /// Java's, `[range, cooperative-sticky]`: the group uses `range`, the
    /// protocol is eager, and members can later move to cooperative-sticky
    /// with two rolling restarts (drop `range` in the second).
    pub assignors: Vec<Arc<dyn Assignor>>,
    /// `enable.auto.commit` (at-least-once only).
    pub auto_commit: bool,
    /// `auto.commit.interval.ms`.
    pub auto_commit_interval: Duration,
    /// When handed-out records are committed.
    pub delivery: DeliveryMode,
    /// `retry.backoff.ms`: first wait between retries (grows, bounded).
    pub retry_backoff: Duration,
    /// `metadata.max.age.ms`: how often the leader looks for partition count
    /// changes in the subscribed topics (a change triggers a rebalance).
    pub metadata_max_age: Duration,
}

impl GroupConfig {
    /// Java's defaults for `bootstrap` and `group_id`.
    pub fn new(bootstrap: &str, group_id: impl Into<String>) -> Self {
        let mut consumer = ConsumerConfig::new(bootstrap);
        // Java's `auto.offset.reset` default for groups.
        consumer.auto_offset_reset = Offset::End;
        Self {
            consumer,
            group_id: group_id.into(),
            group_instance_id: None,
            session_timeout: Duration::from_secs(45),
            rebalance_timeout: Duration::from_secs(300),
            heartbeat_interval: Duration::from_secs(3),
            assignors: vec![Arc::new(RangeAssignor), Arc::new(CooperativeStickyAssignor)],
            auto_commit: true,
            auto_commit_interval: Duration::from_secs(5),
            delivery: DeliveryMode::AtLeastOnce,
            retry_backoff: Duration::from_millis(100),
            metadata_max_age: Duration::from_secs(300),
        }
    }

    /// The assignor named as in `partition.assignment.strategy` (`range`,
    /// `roundrobin`, `cooperative-sticky`).
    pub fn assignor(name: &str) -> Option<Arc<dyn Assignor>> {
        match name {
            "range" => Some(Arc::new(RangeAssignor)),
            "roundrobin" => Some(Arc::new(RoundRobinAssignor)),
            "cooperative-sticky" => Some(Arc::new(CooperativeStickyAssignor)),
            _ => None,
        }
    }

    /// Checks what cannot work.
    pub fn validate(&self) -> Result<(), ClientError> {
        let bad = |m: &str| Err(ClientError::Config(m.to_owned()));
        if self.group_id.is_empty() {
            return bad("group.id must not be empty");
        }
        if self.group_instance_id.as_deref() == Some("") {
            return bad("group.instance.id must not be empty");
        }
        if self.assignors.is_empty() {
            return bad("at least one assignor is needed");
        }
        let names: BTreeSet<&str> = self.assignors.iter().map(|a| a.name()).collect();
        if names.len() != self.assignors.len() {
            return bad("assignor names must be unique");
        }
        let ms = |d: Duration| d.as_millis();
        if ms(self.session_timeout) == 0 || ms(self.session_timeout) > i32::MAX as u128 {
            return bad("session.timeout.ms out of range");
        }
        if ms(self.rebalance_timeout) == 0 || ms(self.rebalance_timeout) > i32::MAX as u128 {
            return bad("max.poll.interval.ms out of range");
        }
        if self.heartbeat_interval.is_zero() || self.heartbeat_interval >= self.session_timeout {
            return bad("heartbeat.interval.ms must be positive and below session.timeout.ms");
        }
        if self.auto_commit_interval.is_zero() || self.retry_backoff.is_zero() {
            return bad("auto.commit.interval.ms and retry.backoff.ms must be positive");
        }
        Ok(())
    }

    fn session_timeout_ms(&self) -> i32 {
        self.session_timeout.as_millis().min(i32::MAX as u128) as i32
    }

    fn rebalance_timeout_ms(&self) -> i32 {
        self.rebalance_timeout.as_millis().min(i32::MAX as u128) as i32
    }
}

impl fmt::Debug for GroupConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupConfig")
            .field("consumer", &self.consumer)
            .field("group_id", &self.group_id)
            .field("group_instance_id", &self.group_instance_id)
            .field("session_timeout", &self.session_timeout)
            .field("rebalance_timeout", &self.rebalance_timeout)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field(
                "assignors",
                &self.assignors.iter().map(|a| a.name()).collect::<Vec<_>>(),
            )
            .field("auto_commit", &self.auto_commit)
            .field("auto_commit_interval", &self.auto_commit_interval)
            .field("delivery", &self.delivery)
            .field("retry_backoff", &self.retry_backoff)
            .field("metadata_max_age", &self.metadata_max_age)
            .finish()
    }
}

/// What to do after a group call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recovery {
    /// Join (again) right away, keeping the member id.
    Rejoin,
    /// Forget the member id and generation (the partitions are lost), rejoin.
    Reset,
    /// Find the coordinator again, then retry.
    Rediscover,
    /// Wait, then retry.
    Backoff,
    /// Give up: the error goes to the application.
    Fatal,
}

/// How the group code recovers from `error`.
fn recovery(error: &ClientError) -> Recovery {
    match error {
        ClientError::Io { .. } | ClientError::Disconnected(_) | ClientError::Timeout(_) => {
            Recovery::Rediscover
        }
        ClientError::Kafka { code, .. } => match *code {
            codes::REBALANCE_IN_PROGRESS | codes::MEMBER_ID_REQUIRED => Recovery::Rejoin,
            codes::UNKNOWN_MEMBER_ID | codes::ILLEGAL_GENERATION => Recovery::Reset,
            codes::COORDINATOR_NOT_AVAILABLE | codes::NOT_COORDINATOR => Recovery::Rediscover,
            codes::COORDINATOR_LOAD_IN_PROGRESS
            | codes::REQUEST_TIMED_OUT
            | codes::UNSTABLE_OFFSET_COMMIT => Recovery::Backoff,
            c if is_retriable_code(c) => Recovery::Backoff,
            _ => Recovery::Fatal,
        },
        _ => Recovery::Fatal,
    }
}

fn kafka(code: i16) -> ClientError {
    ClientError::Kafka {
        code,
        message: None,
    }
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

/// `attempt`'s wait: `base` times the attempt, at most ten times `base`.
fn backoff(base: Duration, attempt: u64) -> Duration {
    base * (attempt + 1).min(10) as u32
}

/// Revoked (owned, not assigned) and added (assigned, not owned) partitions.
pub fn assignment_diff(
    owned: &BTreeSet<TopicPartition>,
    assigned: &BTreeSet<TopicPartition>,
) -> (Vec<TopicPartition>, Vec<TopicPartition>) {
    (
        owned.difference(assigned).cloned().collect(),
        assigned.difference(owned).cloned().collect(),
    )
}

/// Partitions grouped per topic, as the consumer protocol carries them.
fn per_topic<'a>(
    partitions: impl IntoIterator<Item = &'a TopicPartition>,
) -> Vec<(String, Vec<i32>)> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in partitions {
        by_topic.entry(t.as_str()).or_default().push(*p);
    }
    by_topic
        .into_iter()
        .map(|(t, mut ps)| {
            ps.sort_unstable();
            ps.dedup();
            (t.to_owned(), ps)
        })
        .collect()
}

/// Each member's subscription from the leader's JoinGroup answer. Metadata that
/// does not decode counts as subscribing to nothing (that member gets nothing).
pub fn member_subscriptions(members: &[JoinGroupResponseMember]) -> Vec<MemberSubscription> {
    members
        .iter()
        .map(|m| {
            let subscription = Subscription::decode(m.metadata.clone()).unwrap_or_else(|e| {
                tracing::warn!(member = %m.member_id, error = %e, "undecodable subscription");
                Subscription::default()
            });
            MemberSubscription {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                topics: subscription.topics,
                owned_partitions: subscription
                    .owned_partitions
                    .into_iter()
                    .flat_map(|(t, ps)| ps.into_iter().map(move |p| (t.clone(), p)))
                    .collect(),
                generation_id: subscription.generation_id,
            }
        })
        .collect()
}

/// The leader's SyncGroup assignments: `assignor` over `members`, encoded.
pub fn leader_assignments(
    assignor: &dyn Assignor,
    members: &[MemberSubscription],
    partitions_per_topic: &BTreeMap<String, i32>,
) -> Result<Vec<(String, Bytes)>, ClientError> {
    let plan = assignor.assign(members, partitions_per_topic);
    members
        .iter()
        .map(|m| {
            let partitions = plan.get(&m.member_id).map(Vec::as_slice).unwrap_or(&[]);
            let assignment = Assignment {
                partitions: per_topic(partitions),
                user_data: None,
            };
            let bytes = assignment
                .encode(ASSIGNMENT_VERSION)
                .map_err(|e| ClientError::Config(format!("cannot encode an assignment: {e}")))?;
            Ok((m.member_id.clone(), bytes))
        })
        .collect()
}

/// The first offset of `records` per partition (where to rewind to).
fn first_offsets(records: &[ConsumerRecord]) -> BTreeMap<TopicPartition, i64> {
    let mut out: BTreeMap<TopicPartition, i64> = BTreeMap::new();
    for r in records {
        let first = out
            .entry((r.topic.to_string(), r.partition))
            .or_insert(r.offset);
        *first = (*first).min(r.offset);
    }
    out
}

/// The member's identity in group requests.
#[derive(Debug, Clone)]
struct Member {
    group_id: String,
    member_id: String,
    group_instance_id: Option<String>,
    generation: i32,
}

fn join_request(
    config: &GroupConfig,
    member_id: &str,
    metadata: &[(&'static str, Bytes)],
) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(str_bytes(&config.group_id)))
        .with_session_timeout_ms(config.session_timeout_ms())
        .with_rebalance_timeout_ms(config.rebalance_timeout_ms())
        .with_member_id(str_bytes(member_id))
        .with_group_instance_id(config.group_instance_id.as_deref().map(str_bytes))
        .with_protocol_type(StrBytes::from_static_str(PROTOCOL_TYPE))
        .with_protocols(
            metadata
                .iter()
                .map(|(name, meta)| {
                    JoinGroupRequestProtocol::default()
                        .with_name(StrBytes::from_static_str(name))
                        .with_metadata(meta.clone())
                })
                .collect(),
        )
}

fn sync_request(
    member: &Member,
    protocol: &str,
    assignments: Vec<(String, Bytes)>,
) -> SyncGroupRequest {
    SyncGroupRequest::default()
        .with_group_id(GroupId(str_bytes(&member.group_id)))
        .with_generation_id(member.generation)
        .with_member_id(str_bytes(&member.member_id))
        .with_group_instance_id(member.group_instance_id.as_deref().map(str_bytes))
        .with_protocol_type(Some(StrBytes::from_static_str(PROTOCOL_TYPE)))
        .with_protocol_name(Some(str_bytes(protocol)))
        .with_assignments(
            assignments
                .into_iter()
                .map(|(id, bytes)| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id(StrBytes::from_string(id))
                        .with_assignment(bytes)
                })
                .collect(),
        )
}

fn heartbeat_request(member: &Member) -> HeartbeatRequest {
    HeartbeatRequest::default()
        .with_group_id(GroupId(str_bytes(&member.group_id)))
        .with_generation_id(member.generation)
        .with_member_id(str_bytes(&member.member_id))
        .with_group_instance_id(member.group_instance_id.as_deref().map(str_bytes))
}

fn leave_request(member: &Member) -> LeaveGroupRequest {
    LeaveGroupRequest::default()
        .with_group_id(GroupId(str_bytes(&member.group_id)))
        .with_members(vec![
            MemberIdentity::default()
                .with_member_id(str_bytes(&member.member_id))
                .with_group_instance_id(member.group_instance_id.as_deref().map(str_bytes)),
        ])
}

fn commit_request(member: &Member, offsets: &BTreeMap<TopicPartition, i64>) -> OffsetCommitRequest {
    let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
    for ((topic, partition), offset) in offsets {
        let p = OffsetCommitRequestPartition::default()
            .with_partition_index(*partition)
            .with_committed_offset(*offset)
            .with_committed_leader_epoch(-1)
            .with_committed_metadata(Some(StrBytes::from_static_str("")));
        match topics.last_mut() {
            Some(t) if t.name.0.as_str() == topic => t.partitions.push(p),
            _ => topics.push(
                OffsetCommitRequestTopic::default()
                    .with_name(TopicName(str_bytes(topic)))
                    .with_partitions(vec![p]),
            ),
        }
    }
    OffsetCommitRequest::default()
        .with_group_id(GroupId(str_bytes(&member.group_id)))
        .with_generation_id_or_member_epoch(member.generation)
        .with_member_id(str_bytes(&member.member_id))
        .with_group_instance_id(member.group_instance_id.as_deref().map(str_bytes))
        .with_topics(topics)
}

/// OffsetFetch for `partitions`; `require_stable` (read_committed, KIP-447)
/// has the coordinator answer UNSTABLE_OFFSET_COMMIT, retried, while a
/// transaction with offsets for a partition is open.
fn offset_fetch_request(
    group_id: &str,
    partitions: &[TopicPartition],
    require_stable: bool,
) -> OffsetFetchRequest {
    let topics = per_topic(partitions)
        .into_iter()
        .map(|(t, ps)| {
            OffsetFetchRequestTopic::default()
                .with_name(TopicName(StrBytes::from_string(t)))
                .with_partition_indexes(ps)
        })
        .collect();
    OffsetFetchRequest::default()
        .with_group_id(GroupId(str_bytes(group_id)))
        .with_topics(Some(topics))
        .with_require_stable(require_stable)
}

/// The group's coordinator: found with FindCoordinator, remembered until a
/// call says it moved or its connection died.
struct Coordinator {
    cluster: Arc<Cluster>,
    group_id: String,
    backoff: Duration,
    conn: Mutex<Option<Arc<Connection>>>,
}

impl Coordinator {
    /// The coordinator's connection, found again if needed (bounded retries).
    async fn connection(&self) -> Result<Arc<Connection>, ClientError> {
        if let Some(c) = self.conn.lock().clone()
            && !c.is_closed()
        {
            return Ok(c);
        }
        let mut last = ClientError::Kafka {
            code: codes::COORDINATOR_NOT_AVAILABLE,
            message: None,
        };
        for attempt in 0..FIND_ATTEMPTS_MAX {
            match self.find().await {
                Ok(c) => {
                    *self.conn.lock() = Some(c.clone());
                    return Ok(c);
                }
                Err(e) if e.is_retriable() => last = e,
                Err(e) => return Err(e),
            }
            tokio::time::sleep(backoff(self.backoff, attempt)).await;
        }
        Err(last)
    }

    async fn find(&self) -> Result<Arc<Connection>, ClientError> {
        let any = self.cluster.any().await?;
        let request = FindCoordinatorRequest::default()
            .with_key(str_bytes(&self.group_id))
            .with_key_type(0);
        let body = any
            .call(FIND_COORDINATOR_KEY, FIND_COORDINATOR_VERSION, &request)
            .await?;
        let response = any.decode(body, FindCoordinatorResponse::decode)?;
        if let Some(e) = ClientError::from_code(response.error_code, response.error_message) {
            return Err(e);
        }
        let conn = self
            .cluster
            .connection(&format!("{}:{}", response.host, response.port))
            .await?;
        for (key, name, version) in [
            (JOIN_GROUP_KEY, "JoinGroup", JOIN_GROUP_VERSION),
            (SYNC_GROUP_KEY, "SyncGroup", SYNC_GROUP_VERSION),
            (HEARTBEAT_KEY, "Heartbeat", HEARTBEAT_VERSION),
            (LEAVE_GROUP_KEY, "LeaveGroup", LEAVE_GROUP_VERSION),
            (OFFSET_COMMIT_KEY, "OffsetCommit", OFFSET_COMMIT_VERSION),
            (OFFSET_FETCH_KEY, "OffsetFetch", OFFSET_FETCH_VERSION),
        ] {
            conn.check_version(key, name, version)?;
        }
        tracing::debug!(group = %self.group_id, node = response.node_id, addr = %conn.addr(), "found the coordinator");
        Ok(conn)
    }

    /// Forgets the coordinator.
    fn invalidate(&self) {
        *self.conn.lock() = None;
    }

    /// One request to the coordinator, decoded; a connection failure forgets
    /// the coordinator.
    async fn request<R: Encodable, T>(
        &self,
        key: i16,
        version: i16,
        request: &R,
        decode: impl FnOnce(&mut Reader) -> Result<T, DecodeError>,
    ) -> Result<T, ClientError> {
        let conn = self.connection().await?;
        let answer = async {
            let body = conn.call(key, version, request).await?;
            conn.decode(body, decode)
        }
        .await;
        if let Err(e) = &answer
            && recovery(e) == Recovery::Rediscover
        {
            self.invalidate();
        }
        answer
    }

    async fn heartbeat(&self, request: &HeartbeatRequest) -> Result<(), ClientError> {
        let response = self
            .request(
                HEARTBEAT_KEY,
                HEARTBEAT_VERSION,
                request,
                HeartbeatResponse::decode,
            )
            .await?;
        match ClientError::from_code(response.error_code, None) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// LeaveGroup for `member`, one try.
    async fn leave(&self, member: &Member, timeout: Duration) -> Result<(), ClientError> {
        let request = leave_request(member);
        let response = tokio::time::timeout(
            timeout,
            self.request(
                LEAVE_GROUP_KEY,
                LEAVE_GROUP_VERSION,
                &request,
                LeaveGroupResponse::decode,
            ),
        )
        .await
        .map_err(|_| ClientError::Timeout(timeout))??;
        let code = match response.error_code {
            0 => response
                .members
                .iter()
                .map(|m| m.error_code)
                .find(|&c| c != 0),
            c => Some(c),
        };
        match code {
            // Already gone is as good as left.
            None | Some(codes::UNKNOWN_MEMBER_ID) => Ok(()),
            Some(c) => Err(kafka(c)),
        }
    }
}

/// What the heartbeat task tells `poll`.
struct Signals {
    /// A rebalance started: rejoin.
    rejoin: AtomicBool,
    /// The member is no longer in the group: its partitions are lost.
    reset: AtomicBool,
    /// The member cannot go on (fenced static member, authorization).
    fatal: Mutex<Option<ClientError>>,
    /// Wakes a `poll` waiting for records.
    wake: Notify,
    /// When `poll` was last called.
    last_poll: Mutex<Instant>,
}

impl Signals {
    fn raise(&self, flag: &AtomicBool) {
        flag.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    fn pending(&self) -> bool {
        self.rejoin.load(Ordering::Acquire)
            || self.reset.load(Ordering::Acquire)
            || self.fatal.lock().is_some()
    }

    /// Flags what `error` means for the membership; returns its recovery.
    fn note(&self, error: &ClientError, coordinator: &Coordinator) -> Recovery {
        let recovery = recovery(error);
        match recovery {
            Recovery::Rejoin => self.raise(&self.rejoin),
            Recovery::Reset => self.raise(&self.reset),
            Recovery::Rediscover => coordinator.invalidate(),
            Recovery::Backoff => {}
            Recovery::Fatal => {
                if error.code() == Some(codes::FENCED_INSTANCE_ID) {
                    *self.fatal.lock() = Some(error.clone());
                    self.wake.notify_one();
                }
            }
        }
        recovery
    }
}

/// Everything the heartbeat task needs.
struct Heartbeat {
    coordinator: Arc<Coordinator>,
    signals: Arc<Signals>,
    member: Member,
    interval: Duration,
    session_timeout: Duration,
    max_poll_interval: Duration,
    backoff: Duration,
}

/// Heartbeats one generation until the coordinator asks for something else
/// (then flags it and ends) or the task is aborted (a rebalance, close, drop).
async fn heartbeat_loop(hb: Heartbeat) {
    let request = heartbeat_request(&hb.member);
    let mut delay = hb.interval;
    let mut retries = 0u64;
    loop {
        tokio::time::sleep(delay).await;
        if hb.signals.last_poll.lock().elapsed() > hb.max_poll_interval {
            tracing::warn!(
                group = %hb.member.group_id,
                member = %hb.member.member_id,
                "poll was not called within max.poll.interval.ms; leaving the group"
            );
            if hb.member.group_instance_id.is_none()
                && let Err(e) = hb.coordinator.leave(&hb.member, hb.session_timeout).await
            {
                tracing::debug!(error = %e, "LeaveGroup failed");
            }
            hb.signals.raise(&hb.signals.reset);
            return;
        }
        let answer = tokio::time::timeout(hb.session_timeout, hb.coordinator.heartbeat(&request))
            .await
            .unwrap_or(Err(ClientError::Timeout(hb.session_timeout)));
        let Err(e) = answer else {
            delay = hb.interval;
            retries = 0;
            continue;
        };
        match hb.signals.note(&e, &hb.coordinator) {
            Recovery::Rediscover | Recovery::Backoff => {
                tracing::debug!(group = %hb.member.group_id, error = %e, "heartbeat failed; retrying");
                delay = backoff(hb.backoff, retries).min(hb.interval);
                retries += 1;
            }
            Recovery::Rejoin | Recovery::Reset => return,
            Recovery::Fatal => {
                tracing::warn!(group = %hb.member.group_id, error = %e, "heartbeat failed");
                let mut fatal = hb.signals.fatal.lock();
                if fatal.is_none() {
                    *fatal = Some(e);
                }
                drop(fatal);
                hb.signals.wake.notify_one();
                return;
            }
        }
    }
}

/// A consumer in a consumer group: subscribes, gets partitions from the group,
/// commits offsets to it.
pub struct GroupConsumer {
    config: GroupConfig,
    protocol: RebalanceProtocol,
    consumer: Consumer,
    coordinator: Arc<Coordinator>,
    signals: Arc<Signals>,
    /// In a mutex only to keep the consumer `Sync` (always reached by `&mut`).
    listener: Option<Mutex<Box<dyn RebalanceListener>>>,
    /// Subscribed topics, sorted.
    subscription: Vec<String>,
    member_id: String,
    /// Generation joined last (-1: none).
    generation: i32,
    /// Generation in which `owned` was assigned.
    owned_generation: i32,
    is_leader: bool,
    /// The current assignment.
    owned: BTreeSet<TopicPartition>,
    /// Assigned partitions whose starting offset is not known yet.
    unpositioned: BTreeSet<TopicPartition>,
    /// Last committed offsets we know of.
    committed: HashMap<TopicPartition, i64>,
    need_join: bool,
    heartbeat: Option<JoinHandle<()>>,
    last_commit: Instant,
    /// Leader: the topics of every member and the partition counts assigned.
    leader_topics: BTreeSet<String>,
    assigned_counts: BTreeMap<String, i32>,
    next_metadata_check: Instant,
    closed: bool,
}

impl GroupConsumer {
    /// A group consumer (nothing is contacted until the first `poll`).
    pub fn new(config: GroupConfig) -> Result<Self, ClientError> {
        config.validate()?;
        let consumer = Consumer::new(config.consumer.clone())?;
        // Its own connections: a JoinGroup waits at the coordinator for the
        // whole rebalance, and answers come back in request order, so fetches
        // must not queue behind it; and its request timeout must cover the
        // rebalance timeout.
        let client = ClientConfig {
            request_timeout: config
                .consumer
                .client
                .request_timeout
                .max(config.rebalance_timeout + JOIN_MARGIN),
            ..config.consumer.client.clone()
        };
        let coordinator = Arc::new(Coordinator {
            cluster: Cluster::new(client)?,
            group_id: config.group_id.clone(),
            backoff: config.retry_backoff,
            conn: Mutex::new(None),
        });
        let signals = Arc::new(Signals {
            rejoin: AtomicBool::new(false),
            reset: AtomicBool::new(false),
            fatal: Mutex::new(None),
            wake: Notify::new(),
            last_poll: Mutex::new(Instant::now()),
        });
        Ok(Self {
            protocol: rebalance_protocol(&config.assignors),
            config,
            consumer,
            coordinator,
            signals,
            listener: None,
            subscription: Vec::new(),
            member_id: String::new(),
            generation: -1,
            owned_generation: -1,
            is_leader: false,
            owned: BTreeSet::new(),
            unpositioned: BTreeSet::new(),
            committed: HashMap::new(),
            need_join: true,
            heartbeat: None,
            last_commit: Instant::now(),
            leader_topics: BTreeSet::new(),
            assigned_counts: BTreeMap::new(),
            next_metadata_check: Instant::now(),
            closed: false,
        })
    }

    /// Sets the rebalance callbacks.
    pub fn set_listener(&mut self, listener: impl RebalanceListener + 'static) {
        self.listener = Some(Mutex::new(Box::new(listener)));
    }

    /// Subscribes to `topics` (replacing the previous subscription); the group
    /// is (re)joined on the next `poll`.
    pub fn subscribe<S: Into<String>>(
        &mut self,
        topics: impl IntoIterator<Item = S>,
    ) -> Result<(), ClientError> {
        let mut topics: Vec<String> = topics.into_iter().map(Into::into).collect();
        topics.sort();
        topics.dedup();
        if topics.is_empty() || topics.iter().any(String::is_empty) {
            return Err(ClientError::Config(
                "subscribe to at least one topic, with non-empty names".into(),
            ));
        }
        if topics != self.subscription {
            self.subscription = topics;
            self.need_join = true;
        }
        Ok(())
    }

    /// The subscribed topics.
    pub fn subscription(&self) -> &[String] {
        &self.subscription
    }

    /// The current assignment, sorted.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.owned.iter().cloned().collect()
    }

    /// The generation last joined (-1 before the first).
    pub fn generation(&self) -> i32 {
        self.generation
    }

    /// The coordinator-given member id (empty before the first join).
    pub fn member_id(&self) -> &str {
        &self.member_id
    }

    /// The group, generation and member ids, for a transactional producer's
    /// [`send_offsets_to_transaction`](crate::producer::Producer::send_offsets_to_transaction).
    pub fn group_metadata(&self) -> ConsumerGroupMetadata {
        ConsumerGroupMetadata {
            group_id: self.config.group_id.clone(),
            generation_id: self.generation,
            member_id: self.member_id.clone(),
            group_instance_id: self.config.group_instance_id.clone(),
        }
    }

    /// Whether this member computed the last assignment.
    pub fn is_leader(&self) -> bool {
        self.is_leader
    }

    /// Eager or cooperative (from the assignors).
    pub fn rebalance_protocol(&self) -> RebalanceProtocol {
        self.protocol
    }

    /// The next offset `poll` hands out for an assigned partition.
    pub fn position(&self, topic: &str, partition: i32) -> Option<i64> {
        self.consumer.position(topic, partition)
    }

    /// The high watermark seen in the last fetch of a partition.
    pub fn high_watermark(&self, topic: &str, partition: i32) -> Option<i64> {
        self.consumer.high_watermark(topic, partition)
    }

    /// The last stable offset seen in the last fetch of a partition.
    pub fn last_stable_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        self.consumer.last_stable_offset(topic, partition)
    }

    /// Where a partition ends for this consumer as of the last fetch: the last
    /// stable offset for read_committed, else the high watermark.
    pub fn end_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        self.consumer.end_offset(topic, partition)
    }

    /// The last offset committed for a partition, as far as this member knows.
    pub fn committed(&self, topic: &str, partition: i32) -> Option<i64> {
        self.committed.get(&(topic.to_owned(), partition)).copied()
    }

    /// Hands only records passing `filter` to the application.
    pub fn set_header_filter(&mut self, filter: Option<HeaderFilter>) {
        self.consumer.set_header_filter(filter);
    }

    /// Up to `max` records of the assigned partitions, waiting at most
    /// `timeout` for the first. Joins the group first if needed, and runs any
    /// rebalance the group started (which may take up to the rebalance
    /// timeout, whatever `timeout` says). Errors that retrying may fix (the
    /// coordinator is unavailable, a rebalance did not complete) are retried
    /// within `timeout` and by later calls, which return no records meanwhile;
    /// only the others (a fenced static member, authorization, bad
    /// configuration) are returned.
    pub async fn poll(
        &mut self,
        max: usize,
        timeout: Duration,
    ) -> Result<Vec<ConsumerRecord>, ClientError> {
        if self.closed {
            return Err(ClientError::Closed);
        }
        if self.subscription.is_empty() {
            return Err(ClientError::Config("poll before subscribe".into()));
        }
        *self.signals.last_poll.lock() = Instant::now();
        let result = self.poll_inner(max, timeout).await;
        // The poll interval is what the application spends between polls.
        *self.signals.last_poll.lock() = Instant::now();
        result
    }

    async fn poll_inner(
        &mut self,
        max: usize,
        timeout: Duration,
    ) -> Result<Vec<ConsumerRecord>, ClientError> {
        let deadline = tokio::time::Instant::now() + timeout;
        if self.config.delivery == DeliveryMode::AtLeastOnce
            && self.config.auto_commit
            && self.last_commit.elapsed() >= self.config.auto_commit_interval
        {
            // What the last poll handed out has been processed by now.
            self.commit_quietly(None).await?;
        }
        for round in 0..POLL_ROUNDS_MAX {
            // As in Java, only errors retrying cannot fix reach the
            // application; the others are retried here and in later polls.
            if let Err(e) = self.ensure_active().await {
                if recovery(&e) == Recovery::Fatal {
                    return Err(e);
                }
                tracing::debug!(group = %self.config.group_id, error = %e, "group not ready; retrying");
                let pause = backoff(self.config.retry_backoff, u64::from(round));
                if tokio::time::Instant::now() + pause >= deadline {
                    return Ok(Vec::new());
                }
                tokio::time::sleep(pause).await;
                continue;
            }
            self.check_metadata().await;
            let signals = self.signals.clone();
            let woken = signals.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if self.signals.pending() {
                continue;
            }
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let records = tokio::select! {
                biased;
                r = self.consumer.poll(max, remaining) => r?,
                _ = &mut woken => continue,
            };
            if self.config.delivery == DeliveryMode::AtMostOnce {
                // Everything taken from the fetch buffer, including records a
                // header filter skipped (else the group's lag never reaches 0).
                let offsets = self.uncommitted(None);
                if records.is_empty() {
                    if let Err(e) = self.send_commit(&offsets).await {
                        tracing::debug!(error = %e, "commit of skipped records failed");
                    }
                    return Ok(records);
                }
                if let Err(e) = self.send_commit(&offsets).await {
                    // Not handed out: fetch them again while the partitions stay.
                    for ((topic, partition), first) in first_offsets(&records) {
                        let _ = self
                            .consumer
                            .seek(&topic, partition, Offset::At(first))
                            .await;
                    }
                    if recovery(&e) == Recovery::Fatal {
                        return Err(e);
                    }
                    tracing::debug!(error = %e, "commit before delivery failed; records withheld");
                    continue;
                }
            }
            return Ok(records);
        }
        Ok(Vec::new())
    }

    /// Moves every assigned partition back to its committed offset (else
    /// `auto_offset_reset`) as of the next `poll`, which hands out again what
    /// was handed out since the last commit. What a consume-transform-produce
    /// loop does after aborting a transaction, whose offsets were not
    /// committed either.
    pub fn rewind_to_committed(&mut self) {
        let owned: Vec<TopicPartition> = self.owned.iter().cloned().collect();
        let keys: Vec<(Arc<str>, i32)> = owned
            .iter()
            .map(|(t, p)| (Arc::<str>::from(t.as_str()), *p))
            .collect();
        self.consumer.update_assignment(&keys, Vec::new());
        self.unpositioned.extend(owned);
    }

    /// Commits the positions of every assigned partition (everything `poll`
    /// handed out), synchronously.
    pub async fn commit(&mut self) -> Result<(), ClientError> {
        let offsets = self.uncommitted(None);
        self.send_commit(&offsets).await
    }

    /// Commits these offsets (the next offset to read, per partition).
    pub async fn commit_offsets(
        &mut self,
        offsets: &HashMap<TopicPartition, i64>,
    ) -> Result<(), ClientError> {
        let offsets: BTreeMap<TopicPartition, i64> =
            offsets.iter().map(|(k, v)| (k.clone(), *v)).collect();
        self.send_commit(&offsets).await
    }

    /// Leaves the group: commits (auto-commit, at-least-once), revokes the
    /// assignment through the listener and sends LeaveGroup (not for a static
    /// member, which keeps its place until its session times out). Returns the
    /// commit's error, if any; the member leaves regardless.
    pub async fn close(mut self) -> Result<(), ClientError> {
        self.closed = true;
        self.stop_heartbeat();
        let reset = self.signals.reset.swap(false, Ordering::AcqRel);
        let member = self.generation >= 0
            && !self.member_id.is_empty()
            && self.signals.fatal.lock().is_none();
        let mut result = Ok(());
        if member && reset {
            self.lose_all();
        } else if member && !self.owned.is_empty() {
            let owned = self.owned.clone();
            result = self.revoke(&owned).await;
        }
        if member && !reset && self.config.group_instance_id.is_none() {
            let timeout = self.config.consumer.client.request_timeout;
            if let Err(e) = self.coordinator.leave(&self.member(), timeout).await {
                tracing::debug!(group = %self.config.group_id, error = %e, "LeaveGroup failed");
            }
        }
        self.generation = -1;
        result
    }

    fn member(&self) -> Member {
        Member {
            group_id: self.config.group_id.clone(),
            member_id: self.member_id.clone(),
            group_instance_id: self.config.group_instance_id.clone(),
            generation: self.generation,
        }
    }

    /// Positions of owned, positioned partitions (of `only`, if given) that
    /// differ from what was committed last.
    fn uncommitted(
        &self,
        only: Option<&BTreeSet<TopicPartition>>,
    ) -> BTreeMap<TopicPartition, i64> {
        self.consumer
            .positions()
            .into_iter()
            .map(|(t, p, at)| ((t.to_string(), p), at))
            .filter(|(tp, at)| {
                self.owned.contains(tp)
                    && !self.unpositioned.contains(tp)
                    && only.is_none_or(|o| o.contains(tp))
                    && self.committed.get(tp) != Some(at)
            })
            .collect()
    }

    /// OffsetCommit with this member's generation (bounded retries). A
    /// rebalance or fencing error is flagged for the next `poll` and returned.
    async fn send_commit(
        &mut self,
        offsets: &BTreeMap<TopicPartition, i64>,
    ) -> Result<(), ClientError> {
        if offsets.is_empty() {
            return Ok(());
        }
        if self.generation < 0 || self.member_id.is_empty() {
            return Err(kafka(codes::UNKNOWN_MEMBER_ID));
        }
        let request = commit_request(&self.member(), offsets);
        let timeout = self.config.consumer.client.request_timeout;
        let mut last = ClientError::Timeout(timeout);
        for attempt in 0..OFFSET_ATTEMPTS_MAX {
            let answer = tokio::time::timeout(
                timeout,
                self.coordinator.request(
                    OFFSET_COMMIT_KEY,
                    OFFSET_COMMIT_VERSION,
                    &request,
                    OffsetCommitResponse::decode,
                ),
            )
            .await
            .unwrap_or(Err(ClientError::Timeout(timeout)));
            let error = match answer {
                Ok(response) => {
                    let mut first_error = None;
                    for t in &response.topics {
                        for p in &t.partitions {
                            let tp = (t.name.clone(), p.partition_index);
                            match (p.error_code, offsets.get(&tp)) {
                                (0, Some(&at)) => {
                                    self.committed.insert(tp, at);
                                }
                                (0, None) => {}
                                (code, _) => {
                                    first_error.get_or_insert(code);
                                }
                            }
                        }
                    }
                    match first_error {
                        None => {
                            self.last_commit = Instant::now();
                            return Ok(());
                        }
                        Some(code) => kafka(code),
                    }
                }
                Err(e) => e,
            };
            match self.signals.note(&error, &self.coordinator) {
                Recovery::Rediscover | Recovery::Backoff => last = error,
                _ => return Err(error),
            }
            tokio::time::sleep(backoff(self.config.retry_backoff, attempt)).await;
        }
        Err(last)
    }

    /// An automatic commit: failures other than fatal ones are logged (what
    /// they mean for the membership is flagged for the rebalance code).
    async fn commit_quietly(
        &mut self,
        only: Option<&BTreeSet<TopicPartition>>,
    ) -> Result<(), ClientError> {
        self.last_commit = Instant::now();
        if self.generation < 0 {
            return Ok(());
        }
        let offsets = self.uncommitted(only);
        match self.send_commit(&offsets).await {
            Ok(()) => Ok(()),
            Err(e) if recovery(&e) == Recovery::Fatal => Err(e),
            Err(e) => {
                tracing::info!(group = %self.config.group_id, error = %e, "auto-commit failed");
                Ok(())
            }
        }
    }

    /// Joins or rejoins as the heartbeat task asked, and positions newly
    /// assigned partitions.
    async fn ensure_active(&mut self) -> Result<(), ClientError> {
        for _ in 0..REBALANCE_ROUNDS_MAX {
            if let Some(e) = self.signals.fatal.lock().clone() {
                return Err(e);
            }
            if self.signals.reset.swap(false, Ordering::AcqRel) {
                self.reset_generation();
            }
            if self.signals.rejoin.swap(false, Ordering::AcqRel) {
                self.need_join = true;
            }
            if !self.need_join {
                break;
            }
            self.rebalance().await?;
        }
        if !self.unpositioned.is_empty() {
            self.position_new().await?;
        }
        Ok(())
    }

    /// The member is out of the group: its partitions are lost, it joins anew.
    fn reset_generation(&mut self) {
        self.stop_heartbeat();
        self.lose_all();
        self.member_id.clear();
        self.generation = -1;
        self.owned_generation = -1;
        self.is_leader = false;
        self.need_join = true;
    }

    fn lose_all(&mut self) {
        if self.owned.is_empty() {
            return;
        }
        let lost: Vec<TopicPartition> = self.owned.iter().cloned().collect();
        tracing::info!(group = %self.config.group_id, partitions = lost.len(), "partitions lost");
        if let Some(l) = self.listener.as_mut().map(Mutex::get_mut) {
            l.on_lost(&lost);
        }
        self.drop_partitions(&lost);
        self.committed.clear();
    }

    /// Takes partitions away from the fetcher and the assignment.
    fn drop_partitions(&mut self, partitions: &[TopicPartition]) {
        let keys: Vec<(Arc<str>, i32)> = partitions
            .iter()
            .map(|(t, p)| (Arc::<str>::from(t.as_str()), *p))
            .collect();
        self.consumer.update_assignment(&keys, Vec::new());
        for tp in partitions {
            self.owned.remove(tp);
            self.unpositioned.remove(tp);
        }
    }

    /// An orderly revocation: commit (when auto-committing), tell the listener,
    /// stop fetching. Returns the commit's error.
    async fn revoke(&mut self, partitions: &BTreeSet<TopicPartition>) -> Result<(), ClientError> {
        if partitions.is_empty() {
            return Ok(());
        }
        let mut result = Ok(());
        if self.config.delivery == DeliveryMode::AtLeastOnce && self.config.auto_commit {
            let offsets = self.uncommitted(Some(partitions));
            if let Err(e) = self.send_commit(&offsets).await {
                tracing::info!(group = %self.config.group_id, error = %e, "commit before revocation failed");
                result = Err(e);
            }
        }
        let list: Vec<TopicPartition> = partitions.iter().cloned().collect();
        if let Some(l) = self.listener.as_mut().map(Mutex::get_mut) {
            l.on_revoked(&list);
        }
        self.drop_partitions(&list);
        result
    }

    /// One rebalance: revoke what the protocol says, then JoinGroup and
    /// SyncGroup until a generation is joined (bounded tries and time).
    async fn rebalance(&mut self) -> Result<(), ClientError> {
        self.stop_heartbeat();
        let revoke: BTreeSet<TopicPartition> = match self.protocol {
            RebalanceProtocol::Eager => self.owned.clone(),
            RebalanceProtocol::Cooperative => self
                .owned
                .iter()
                .filter(|(t, _)| !self.subscription.contains(t))
                .cloned()
                .collect(),
        };
        // A failed commit is flagged (and fencing caught below); the
        // revocation goes on.
        let _ = self.revoke(&revoke).await;
        let deadline = Instant::now()
            + self.config.rebalance_timeout
            + self.config.session_timeout
            + JOIN_MARGIN;
        let mut last = ClientError::Timeout(self.config.rebalance_timeout);
        let mut attempt = 0u64;
        for _ in 0..JOIN_ATTEMPTS_MAX {
            if Instant::now() >= deadline {
                break;
            }
            if let Some(e) = self.signals.fatal.lock().clone() {
                return Err(e);
            }
            if self.signals.reset.swap(false, Ordering::AcqRel) {
                self.reset_generation();
            }
            self.signals.rejoin.store(false, Ordering::Release);
            let error = match self.join_and_sync().await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            tracing::debug!(group = %self.config.group_id, error = %error, "join/sync failed");
            match recovery(&error) {
                Recovery::Rejoin => {}
                Recovery::Reset => self.reset_generation(),
                Recovery::Rediscover => {
                    self.coordinator.invalidate();
                    tokio::time::sleep(backoff(self.config.retry_backoff, attempt)).await;
                    attempt += 1;
                }
                Recovery::Backoff => {
                    tokio::time::sleep(backoff(self.config.retry_backoff, attempt)).await;
                    attempt += 1;
                }
                Recovery::Fatal => {
                    if error.code() == Some(codes::FENCED_INSTANCE_ID) {
                        *self.signals.fatal.lock() = Some(error.clone());
                    }
                    return Err(error);
                }
            }
            last = error;
        }
        Err(last)
    }

    /// The JoinGroup metadata for each assignor.
    fn join_metadata(&self) -> Result<Vec<(&'static str, Bytes)>, ClientError> {
        let cooperative = self.protocol == RebalanceProtocol::Cooperative;
        let subscription = Subscription {
            topics: self.subscription.clone(),
            user_data: None,
            owned_partitions: if cooperative {
                per_topic(&self.owned)
            } else {
                Vec::new()
            },
            generation_id: if cooperative {
                self.owned_generation
            } else {
                -1
            },
            rack_id: None,
        };
        let bytes = subscription
            .encode(SUBSCRIPTION_VERSION)
            .map_err(|e| ClientError::Config(format!("cannot encode the subscription: {e}")))?;
        Ok(self
            .config
            .assignors
            .iter()
            .map(|a| (a.name(), bytes.clone()))
            .collect())
    }

    async fn join_and_sync(&mut self) -> Result<(), ClientError> {
        let request = join_request(&self.config, &self.member_id, &self.join_metadata()?);
        let join = self
            .coordinator
            .request(
                JOIN_GROUP_KEY,
                JOIN_GROUP_VERSION,
                &request,
                JoinGroupResponse::decode,
            )
            .await?;
        if join.error_code == codes::MEMBER_ID_REQUIRED {
            self.member_id = join.member_id;
            return Err(kafka(codes::MEMBER_ID_REQUIRED));
        }
        if let Some(e) = ClientError::from_code(join.error_code, None) {
            return Err(e);
        }
        self.member_id = join.member_id.clone();
        self.generation = join.generation_id;
        self.is_leader = join.leader == join.member_id;
        let protocol = join
            .protocol_name
            .clone()
            .ok_or_else(|| ClientError::Config("JoinGroup chose no protocol".into()))?;
        let assignments = if self.is_leader {
            self.assign_as_leader(&protocol, &join.members).await?
        } else {
            Vec::new()
        };
        let request = sync_request(&self.member(), &protocol, assignments);
        let sync = self
            .coordinator
            .request(
                SYNC_GROUP_KEY,
                SYNC_GROUP_VERSION,
                &request,
                SyncGroupResponse::decode,
            )
            .await?;
        if let Some(e) = ClientError::from_code(sync.error_code, None) {
            return Err(e);
        }
        let assignment =
            Assignment::decode(sync.assignment).map_err(|error| ClientError::Decode {
                addr: format!("the assignment of group {}", self.config.group_id),
                error,
            })?;
        self.install(assignment).await;
        Ok(())
    }

    /// The leader's part: every member's subscription through the chosen
    /// assignor, over fresh metadata of all subscribed topics.
    async fn assign_as_leader(
        &mut self,
        protocol: &str,
        members: &[JoinGroupResponseMember],
    ) -> Result<Vec<(String, Bytes)>, ClientError> {
        let assignor = self
            .config
            .assignors
            .iter()
            .find(|a| a.name() == protocol)
            .cloned()
            .ok_or_else(|| {
                ClientError::Config(format!("the group chose assignor {protocol:?}, not ours"))
            })?;
        let subscriptions = member_subscriptions(members);
        let topics: BTreeSet<String> = subscriptions
            .iter()
            .flat_map(|m| m.topics.iter().cloned())
            .collect();
        let counts = self.partition_counts(&topics).await?;
        let assignments = leader_assignments(assignor.as_ref(), &subscriptions, &counts)?;
        tracing::debug!(group = %self.config.group_id, generation = self.generation, assignor = protocol, members = members.len(), "assigned as leader");
        self.leader_topics = topics;
        self.assigned_counts = counts;
        self.next_metadata_check = Instant::now() + self.config.metadata_max_age;
        Ok(assignments)
    }

    /// Partition counts of `topics` (those the cluster knows), freshly fetched.
    async fn partition_counts(
        &self,
        topics: &BTreeSet<String>,
    ) -> Result<BTreeMap<String, i32>, ClientError> {
        let cluster = &self.coordinator.cluster;
        let list: Vec<String> = topics.iter().cloned().collect();
        let mut last = None;
        for attempt in 0..METADATA_ATTEMPTS_MAX {
            match cluster.refresh(Some(&list)).await {
                Ok(()) => {
                    last = None;
                    break;
                }
                Err(e) if e.is_retriable() => last = Some(e),
                Err(e) => return Err(e),
            }
            tokio::time::sleep(backoff(self.config.retry_backoff, attempt)).await;
        }
        if let Some(e) = last {
            return Err(e);
        }
        Ok(topics
            .iter()
            .filter_map(|t| {
                cluster
                    .cached(t)
                    .map(|m| (t.clone(), m.partitions.len() as i32))
            })
            .filter(|(_, n)| *n > 0)
            .collect())
    }

    /// Leader: a partition count change in a subscribed topic calls for a
    /// rebalance.
    async fn check_metadata(&mut self) {
        if !self.is_leader || self.need_join || Instant::now() < self.next_metadata_check {
            return;
        }
        self.next_metadata_check = Instant::now() + self.config.metadata_max_age;
        let topics = self.leader_topics.clone();
        match self.partition_counts(&topics).await {
            Ok(counts) if counts != self.assigned_counts => {
                tracing::info!(group = %self.config.group_id, "subscribed topics changed; rebalancing");
                self.need_join = true;
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "metadata check failed"),
        }
    }

    /// Takes the generation's assignment: revokes what went away (cooperative;
    /// then rejoins), adds what is new, starts heartbeating.
    async fn install(&mut self, assignment: Assignment) {
        let assigned: BTreeSet<TopicPartition> = assignment
            .partitions
            .into_iter()
            .flat_map(|(t, ps)| ps.into_iter().map(move |p| (t.clone(), p)))
            .collect();
        self.need_join = false;
        self.start_heartbeat();
        let (revoked, added) = assignment_diff(&self.owned, &assigned);
        if !revoked.is_empty() {
            // Cooperative: hand them on, through another rebalance.
            let _ = self.revoke(&revoked.into_iter().collect()).await;
            self.need_join = true;
        }
        self.owned = assigned;
        self.owned_generation = self.generation;
        self.unpositioned.extend(added.iter().cloned());
        tracing::debug!(
            group = %self.config.group_id,
            member = %self.member_id,
            generation = self.generation,
            assigned = self.owned.len(),
            added = added.len(),
            "joined"
        );
        let owned: Vec<TopicPartition> = self.owned.iter().cloned().collect();
        if let Some(l) = self.listener.as_mut().map(Mutex::get_mut) {
            l.on_assigned(&added);
            l.on_generation(self.generation, &self.member_id, &owned);
        }
    }

    /// Starting offsets of newly assigned partitions: committed, else reset.
    async fn position_new(&mut self) -> Result<(), ClientError> {
        let pending: Vec<TopicPartition> = self.unpositioned.iter().cloned().collect();
        let committed = self.fetch_committed(&pending).await?;
        let mut add = Vec::with_capacity(pending.len());
        for tp in &pending {
            let at = match committed.get(tp) {
                Some(&at) if at >= 0 => at,
                _ => self.reset_offset(&tp.0, tp.1).await?,
            };
            add.push((Arc::<str>::from(tp.0.as_str()), tp.1, at));
        }
        for (tp, at) in committed {
            if at >= 0 {
                self.committed.insert(tp, at);
            }
        }
        self.consumer.update_assignment(&[], add);
        self.unpositioned.clear();
        Ok(())
    }

    /// `auto_offset_reset` for a partition with no committed offset.
    async fn reset_offset(&self, topic: &str, partition: i32) -> Result<i64, ClientError> {
        let cluster = &self.coordinator.cluster;
        let isolation = self.config.consumer.isolation_level;
        let list = |timestamp| list_offset_with(cluster, topic, partition, timestamp, isolation);
        match self.config.consumer.auto_offset_reset {
            Offset::At(at) if at >= 0 => Ok(at),
            Offset::At(_) | Offset::Beginning => list(-2).await,
            Offset::End => list(-1).await,
            Offset::Timestamp(ts) => match list(ts).await? {
                at if at >= 0 => Ok(at),
                _ => list(-1).await,
            },
        }
    }

    /// OffsetFetch (bounded retries): committed offsets, -1 where none.
    async fn fetch_committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<HashMap<TopicPartition, i64>, ClientError> {
        let require_stable = self.config.consumer.isolation_level == IsolationLevel::ReadCommitted;
        let request = offset_fetch_request(&self.config.group_id, partitions, require_stable);
        let timeout = self.config.consumer.client.request_timeout;
        let mut last = ClientError::Timeout(timeout);
        for attempt in 0..OFFSET_ATTEMPTS_MAX {
            let answer = tokio::time::timeout(
                timeout,
                self.coordinator.request(
                    OFFSET_FETCH_KEY,
                    OFFSET_FETCH_VERSION,
                    &request,
                    OffsetFetchResponse::decode,
                ),
            )
            .await
            .unwrap_or(Err(ClientError::Timeout(timeout)));
            let error = match answer {
                Ok(response) => {
                    let code = match response.error_code {
                        0 => response
                            .topics
                            .iter()
                            .flat_map(|t| t.partitions.iter())
                            .map(|p| p.error_code)
                            .find(|&c| c != 0),
                        c => Some(c),
                    };
                    match code {
                        None => {
                            return Ok(response
                                .topics
                                .iter()
                                .flat_map(|t| {
                                    t.partitions.iter().map(|p| {
                                        ((t.name.clone(), p.partition_index), p.committed_offset)
                                    })
                                })
                                .collect());
                        }
                        Some(c) => kafka(c),
                    }
                }
                Err(e) => e,
            };
            match recovery(&error) {
                Recovery::Rediscover => self.coordinator.invalidate(),
                Recovery::Backoff => {}
                _ => return Err(error),
            }
            last = error;
            tokio::time::sleep(backoff(self.config.retry_backoff, attempt)).await;
        }
        Err(last)
    }

    fn start_heartbeat(&mut self) {
        self.stop_heartbeat();
        let hb = Heartbeat {
            coordinator: self.coordinator.clone(),
            signals: self.signals.clone(),
            member: self.member(),
            interval: self.config.heartbeat_interval,
            session_timeout: self.config.session_timeout,
            max_poll_interval: self.config.rebalance_timeout,
            backoff: self.config.retry_backoff,
        };
        self.heartbeat = Some(tokio::spawn(heartbeat_loop(hb)));
    }

    fn stop_heartbeat(&mut self) {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
    }
}

impl Drop for GroupConsumer {
    /// Without `close`: heartbeats stop, nothing is committed and the group is
    /// not told; the coordinator removes the member when its session expires.
    fn drop(&mut self) {
        self.stop_heartbeat();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::requests;

    fn encoded<R: Encodable>(r: &R, version: i16) -> Reader {
        let mut buf = bytes::BytesMut::new();
        r.encode(&mut buf, version).unwrap();
        Reader::new(buf.freeze())
    }

    fn member() -> Member {
        Member {
            group_id: "g".into(),
            member_id: "m-1".into(),
            group_instance_id: Some("i-1".into()),
            generation: 7,
        }
    }

    fn tp(t: &str, p: i32) -> TopicPartition {
        (t.to_owned(), p)
    }

    fn record(partition: i32, offset: i64) -> ConsumerRecord {
        ConsumerRecord {
            topic: Arc::from("t"),
            partition,
            offset,
            timestamp_ms: 0,
            key: None,
            value: None,
            headers: Vec::new(),
        }
    }

    #[test]
    fn protocol_is_cooperative_only_when_every_assignor_is() {
        let range: Arc<dyn Assignor> = Arc::new(RangeAssignor);
        let sticky: Arc<dyn Assignor> = Arc::new(CooperativeStickyAssignor);
        assert_eq!(
            rebalance_protocol(&[range.clone(), sticky.clone()]),
            RebalanceProtocol::Eager
        );
        assert_eq!(rebalance_protocol(&[range]), RebalanceProtocol::Eager);
        assert_eq!(
            rebalance_protocol(&[sticky]),
            RebalanceProtocol::Cooperative
        );
        assert_eq!(rebalance_protocol(&[]), RebalanceProtocol::Eager);
        let default = GroupConfig::new("127.0.0.1:9092", "g");
        assert_eq!(
            rebalance_protocol(&default.assignors),
            RebalanceProtocol::Eager
        );
        let names: Vec<_> = default.assignors.iter().map(|a| a.name()).collect();
        assert_eq!(names, ["range", "cooperative-sticky"]);
    }

    #[test]
    fn config_validation_refuses_what_cannot_work() {
        let ok = GroupConfig::new("127.0.0.1:9092", "g");
        assert!(ok.validate().is_ok());
        let mut c = ok.clone();
        c.group_id.clear();
        assert!(c.validate().is_err());
        let mut c = ok.clone();
        c.heartbeat_interval = c.session_timeout;
        assert!(c.validate().is_err());
        let mut c = ok.clone();
        c.assignors = vec![Arc::new(RangeAssignor), Arc::new(RangeAssignor)];
        assert!(c.validate().is_err());
        let mut c = ok.clone();
        c.assignors.clear();
        assert!(c.validate().is_err());
        let mut c = ok;
        c.group_instance_id = Some(String::new());
        assert!(c.validate().is_err());
        assert!(GroupConfig::assignor("roundrobin").is_some());
        assert!(GroupConfig::assignor("sticky").is_none());
    }

    #[test]
    fn errors_map_to_the_recovery_kafka_clients_use() {
        assert_eq!(
            recovery(&kafka(codes::REBALANCE_IN_PROGRESS)),
            Recovery::Rejoin
        );
        assert_eq!(
            recovery(&kafka(codes::MEMBER_ID_REQUIRED)),
            Recovery::Rejoin
        );
        assert_eq!(recovery(&kafka(codes::UNKNOWN_MEMBER_ID)), Recovery::Reset);
        assert_eq!(recovery(&kafka(codes::ILLEGAL_GENERATION)), Recovery::Reset);
        assert_eq!(
            recovery(&kafka(codes::NOT_COORDINATOR)),
            Recovery::Rediscover
        );
        assert_eq!(
            recovery(&kafka(codes::COORDINATOR_NOT_AVAILABLE)),
            Recovery::Rediscover
        );
        assert_eq!(
            recovery(&ClientError::Disconnected("x".into())),
            Recovery::Rediscover
        );
        assert_eq!(
            recovery(&kafka(codes::COORDINATOR_LOAD_IN_PROGRESS)),
            Recovery::Backoff
        );
        assert_eq!(
            recovery(&kafka(codes::UNSTABLE_OFFSET_COMMIT)),
            Recovery::Backoff
        );
        assert_eq!(recovery(&kafka(codes::FENCED_INSTANCE_ID)), Recovery::Fatal);
        // GROUP_AUTHORIZATION_FAILED, INVALID_SESSION_TIMEOUT.
        assert_eq!(recovery(&kafka(30)), Recovery::Fatal);
        assert_eq!(recovery(&kafka(26)), Recovery::Fatal);
    }

    #[test]
    fn cooperative_diff_revokes_only_what_moved() {
        let owned: BTreeSet<_> = [tp("a", 0), tp("a", 1), tp("b", 0)].into();
        let assigned: BTreeSet<_> = [tp("a", 1), tp("b", 0), tp("b", 1)].into();
        let (revoked, added) = assignment_diff(&owned, &assigned);
        assert_eq!(revoked, vec![tp("a", 0)]);
        assert_eq!(added, vec![tp("b", 1)]);
        let (revoked, added) = assignment_diff(&owned, &owned);
        assert!(revoked.is_empty() && added.is_empty());
    }

    #[test]
    fn a_withheld_batch_rewinds_to_each_partitions_first_offset() {
        let records = [record(0, 5), record(1, 9), record(0, 6), record(0, 7)];
        let first = first_offsets(&records);
        assert_eq!(first, [(tp("t", 0), 5), (tp("t", 1), 9)].into());
        assert!(first_offsets(&[]).is_empty());
    }

    #[test]
    fn leader_decodes_subscriptions_and_encodes_assignments() {
        let sub = |topics: &[&str], owned: Vec<(String, Vec<i32>)>, generation| {
            Subscription {
                topics: topics.iter().map(|t| t.to_string()).collect(),
                user_data: None,
                owned_partitions: owned,
                generation_id: generation,
                rack_id: None,
            }
            .encode(SUBSCRIPTION_VERSION)
            .unwrap()
        };
        let members = vec![
            JoinGroupResponseMember {
                member_id: "b".into(),
                group_instance_id: None,
                metadata: sub(&["t"], vec![("t".into(), vec![0, 1, 2])], 4),
            },
            JoinGroupResponseMember {
                member_id: "a".into(),
                group_instance_id: None,
                metadata: sub(&["t", "u"], vec![], -1),
            },
            JoinGroupResponseMember {
                member_id: "z".into(),
                group_instance_id: Some("i".into()),
                metadata: Bytes::from_static(b"\x00"),
            },
        ];
        let subs = member_subscriptions(&members);
        assert_eq!(
            subs[0].owned_partitions,
            vec![tp("t", 0), tp("t", 1), tp("t", 2)]
        );
        assert_eq!(subs[0].generation_id, 4);
        assert_eq!(subs[1].topics, vec!["t".to_string(), "u".to_string()]);
        // Undecodable metadata subscribes to nothing.
        assert!(subs[2].topics.is_empty());
        assert_eq!(subs[2].group_instance_id.as_deref(), Some("i"));

        let counts: BTreeMap<String, i32> = [("t".to_string(), 4), ("u".to_string(), 1)].into();
        let out = leader_assignments(&RangeAssignor, &subs, &counts).unwrap();
        let decoded: BTreeMap<String, Vec<(String, Vec<i32>)>> = out
            .into_iter()
            .map(|(m, bytes)| (m, Assignment::decode(bytes).unwrap().partitions))
            .collect();
        // Range over t: members a, b in order get [0, 1] and [2, 3]; u only a.
        assert_eq!(
            decoded["a"],
            vec![("t".to_string(), vec![0, 1]), ("u".to_string(), vec![0])]
        );
        assert_eq!(decoded["b"], vec![("t".to_string(), vec![2, 3])]);
        assert_eq!(decoded["z"], vec![]);

        // Cooperative: b keeps what it owns as far as balance allows, and what
        // moves is withheld this round (nobody gets it).
        let out = leader_assignments(&CooperativeStickyAssignor, &subs, &counts).unwrap();
        let all: Vec<TopicPartition> = out
            .iter()
            .flat_map(|(_, bytes)| {
                Assignment::decode(bytes.clone())
                    .unwrap()
                    .partitions
                    .into_iter()
                    .flat_map(|(t, ps)| ps.into_iter().map(move |p| (t.clone(), p)))
            })
            .collect();
        let unique: BTreeSet<_> = all.iter().cloned().collect();
        assert_eq!(unique.len(), all.len(), "disjoint: {all:?}");
        let b: BTreeSet<TopicPartition> = Assignment::decode(out[0].1.clone())
            .unwrap()
            .partitions
            .into_iter()
            .flat_map(|(t, ps)| ps.into_iter().map(move |p| (t.clone(), p)))
            .collect();
        assert!(
            b.is_subset(&[tp("t", 0), tp("t", 1), tp("t", 2)].into()),
            "{b:?}"
        );
        assert!(!b.is_empty());
    }

    #[test]
    fn requests_encode_at_the_pinned_versions_with_every_field() {
        let config = {
            let mut c = GroupConfig::new("127.0.0.1:9092", "g");
            c.group_instance_id = Some("i-1".into());
            c.session_timeout = Duration::from_millis(6_000);
            c.rebalance_timeout = Duration::from_millis(20_000);
            c
        };
        let join = join_request(
            &config,
            "m-1",
            &[
                ("range", Bytes::from_static(b"r")),
                ("cooperative-sticky", Bytes::from_static(b"c")),
            ],
        );
        let got = requests::join_group::JoinGroupRequest::decode(
            &mut encoded(&join, JOIN_GROUP_VERSION),
            JOIN_GROUP_VERSION,
        )
        .unwrap();
        assert_eq!(got.group_id, "g");
        assert_eq!(
            (got.session_timeout_ms, got.rebalance_timeout_ms),
            (6_000, 20_000)
        );
        assert_eq!(got.member_id, "m-1");
        assert_eq!(got.group_instance_id.as_deref(), Some("i-1"));
        assert_eq!(got.protocol_type, "consumer");
        assert_eq!(
            got.protocols,
            vec![
                ("range".to_string(), Bytes::from_static(b"r")),
                ("cooperative-sticky".to_string(), Bytes::from_static(b"c"))
            ]
        );

        let sync = sync_request(
            &member(),
            "range",
            vec![("m-2".into(), Bytes::from_static(b"x"))],
        );
        let got = requests::sync_group::SyncGroupRequest::decode(
            &mut encoded(&sync, SYNC_GROUP_VERSION),
            SYNC_GROUP_VERSION,
        )
        .unwrap();
        assert_eq!((got.generation_id, got.member_id.as_str()), (7, "m-1"));
        assert_eq!(got.protocol_name.as_deref(), Some("range"));
        assert_eq!(
            got.assignments,
            vec![("m-2".to_string(), Bytes::from_static(b"x"))]
        );

        let hb = heartbeat_request(&member());
        let got = requests::heartbeat::HeartbeatRequest::decode(
            &mut encoded(&hb, HEARTBEAT_VERSION),
            HEARTBEAT_VERSION,
        )
        .unwrap();
        assert_eq!(
            (got.generation_id, got.group_instance_id.as_deref()),
            (7, Some("i-1"))
        );

        let leave = leave_request(&member());
        let got = requests::leave_group::LeaveGroupRequest::decode(
            &mut encoded(&leave, LEAVE_GROUP_VERSION),
            LEAVE_GROUP_VERSION,
        )
        .unwrap();
        assert_eq!(
            got.members,
            vec![("m-1".to_string(), Some("i-1".to_string()))]
        );

        let offsets: BTreeMap<TopicPartition, i64> =
            [(tp("a", 1), 10), (tp("a", 0), 5), (tp("b", 3), 7)].into();
        let commit = commit_request(&member(), &offsets);
        let got = requests::offset_commit::OffsetCommitRequest::decode(
            &mut encoded(&commit, OFFSET_COMMIT_VERSION),
            OFFSET_COMMIT_VERSION,
        )
        .unwrap();
        assert_eq!((got.generation_id, got.member_id.as_str()), (7, "m-1"));
        let flat: Vec<(String, i32, i64)> = got
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|p| (t.name.clone(), p.partition_index, p.committed_offset))
            })
            .collect();
        assert_eq!(
            flat,
            vec![("a".into(), 0, 5), ("a".into(), 1, 10), ("b".into(), 3, 7)]
        );

        let fetch = offset_fetch_request("g", &[tp("b", 1), tp("a", 2), tp("a", 0)], true);
        let got = requests::offset_fetch::OffsetFetchRequest::decode(
            &mut encoded(&fetch, OFFSET_FETCH_VERSION),
            OFFSET_FETCH_VERSION,
        )
        .unwrap();
        assert_eq!(
            got.topics,
            Some(vec![
                ("a".to_string(), vec![0, 2]),
                ("b".to_string(), vec![1])
            ])
        );
        assert!(got.require_stable);
        let fetch = offset_fetch_request("g", &[tp("a", 0)], false);
        let got = requests::offset_fetch::OffsetFetchRequest::decode(
            &mut encoded(&fetch, OFFSET_FETCH_VERSION),
            OFFSET_FETCH_VERSION,
        )
        .unwrap();
        assert!(!got.require_stable);
    }
}
