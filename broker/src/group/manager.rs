//! The GroupManager actor: creates the internal offsets topic, replays each
//! offsets partition this broker leads into the [`GroupDirectory`], and finds or
//! starts the GroupCoordinator of a group on demand, handing it the group's
//! offsets. A coordinator that stops idle parks its offsets in the directory; one
//! that fails is forgotten, and the next coordinator of its group replays them
//! from the log. Offsets of dormant groups (no coordinator) expire here.
//!
//! Leadership of the offsets partitions moves (failover, reassignment,
//! preferred-leader election): when this broker stops leading one, its
//! coordinators stop and its groups are forgotten; when it takes the lead
//! (again), the partition is replayed, as Kafka's coordinator unloads and loads
//! a partition's groups on leadership changes.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use ractor_cluster_derive::RactorMessage;

use super::coordinator::{GroupCoordinator, GroupCoordinatorArgs, GroupMsg, now_ms};
use super::directory::{GroupDirectory, Leadership, StartingGroup};
use super::offsets::{self, OFFSETS_TOPIC, PartitionGroups};
use super::state::{GroupLimits, codes};
use crate::context::BrokerCtx;
use crate::controller::{TopicError, TopicSpec};
use crate::limits::TOPIC_READY_WAIT_MS;
use crate::partition::PartitionEntry;

/// Groups one broker coordinates at most (each is an actor).
pub const GROUPS_MAX: usize = 100_000;
/// How long a clustered broker waits for every voter to register before it
/// creates the offsets topic on the brokers that did.
const OFFSETS_TOPIC_BROKERS_WAIT_MS: u64 = 30_000;
/// Group requests held while the offsets load at most; beyond, they are answered
/// COORDINATOR_LOAD_IN_PROGRESS at once.
const ROUTES_WAITING_MAX: usize = 10_000;

/// Messages of the [`GroupManager`].
#[derive(RactorMessage)]
pub enum GroupManagerMsg {
    /// Forward `msg` to the group's coordinator, started if needed, in arrival
    /// order; `routed` says whether it was, or the Kafka error code
    /// (COORDINATOR_LOAD_IN_PROGRESS while the offsets topic comes up).
    Route {
        group_id: String,
        /// Start a coordinator for a group that is not known here (JoinGroup,
        /// OffsetCommit); without it an unknown group is GROUP_ID_NOT_FOUND.
        create: bool,
        /// Boxed: a JoinGroup message is large, the manager's others are small.
        msg: Box<GroupMsg>,
        routed: RpcReplyPort<Result<(), i16>>,
    },
    /// The start-up replay is done: the offsets partitions led then, and what
    /// each replayed.
    Loaded {
        led: LedPartitions,
        loads: Vec<(Leadership, PartitionGroups)>,
    },
    /// The offsets partitions this broker leads now.
    LeadershipChanged(LedPartitions),
    /// An offsets partition led since start-up has been replayed.
    PartitionLoaded(Leadership, PartitionGroups),
    /// Time to expire dormant groups' offsets.
    ExpireDormant,
    /// A transaction's marker was written to offsets partition `partition`:
    /// its groups settle the offsets the transaction committed.
    TxnCompleted {
        partition: i32,
        producer_id: i64,
        commit: bool,
    },
}

/// Offsets partitions led by this broker, with their leader epochs.
pub type LedPartitions = BTreeMap<i32, i32>;

/// What the manager starts with.
#[derive(Clone)]
pub struct GroupManagerArgs {
    /// Broker context (config, registry, topic creation).
    pub ctx: Arc<BrokerCtx>,
}

/// The manager actor.
pub struct GroupManager;

/// The manager's state.
pub struct GroupManagerState {
    /// Start arguments.
    args: GroupManagerArgs,
    /// Running coordinators by group id.
    coordinators: HashMap<String, ActorRef<GroupMsg>>,
    /// Group ids by coordinator actor id.
    by_actor: HashMap<ActorId, String>,
    /// Whether the start-up replay of the offsets partitions is done.
    loaded: bool,
    /// The offsets partitions led, as last seen.
    led: LedPartitions,
    /// Requests that arrived during the replay, forwarded in order once it is
    /// done (clients see a slower answer instead of a retriable error).
    waiting: VecDeque<Waiting>,
}

/// A routed request held while offsets load.
struct Waiting {
    group_id: String,
    create: bool,
    msg: GroupMsg,
    routed: RpcReplyPort<Result<(), i16>>,
}

impl Actor for GroupManager {
    type Msg = GroupManagerMsg;
    type State = GroupManagerState;
    type Arguments = GroupManagerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: GroupManagerArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        args.ctx.groups.reset();
        let ctx = args.ctx.clone();
        let manager = myself.clone();
        tokio::spawn(async move {
            ensure_offsets_topic(&ctx).await;
            let led = ctx
                .image()
                .led_partitions(OFFSETS_TOPIC, ctx.config.node_id);
            let mut loads = Vec::new();
            for (&partition, &epoch) in &led {
                let lead = Leadership { partition, epoch };
                if let Some(groups) = load_partition(&ctx, partition).await {
                    loads.push((lead, groups));
                }
            }
            let _ = manager.cast(GroupManagerMsg::Loaded { led, loads });
        });
        let check_ms = args.ctx.config.offsets_retention_check_interval_ms.max(1);
        myself.send_interval(Duration::from_millis(check_ms), || {
            GroupManagerMsg::ExpireDormant
        });
        Ok(GroupManagerState {
            args,
            coordinators: HashMap::new(),
            by_actor: HashMap::new(),
            loaded: false,
            led: LedPartitions::new(),
            waiting: VecDeque::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            GroupManagerMsg::Route {
                group_id,
                create,
                msg,
                routed,
            } => {
                if !state.loaded && state.waiting.len() < ROUTES_WAITING_MAX {
                    state.waiting.push_back(Waiting {
                        group_id,
                        create,
                        msg: *msg,
                        routed,
                    });
                    return Ok(());
                }
                let result = state.route(&myself, group_id, create, *msg).await;
                let _ = routed.send(result);
            }
            GroupManagerMsg::Loaded { led, loads } => {
                for (&partition, &epoch) in &led {
                    state.directory().lead(Leadership { partition, epoch });
                }
                for (lead, groups) in loads {
                    state.directory().load(lead, groups, now_ms());
                }
                state.led = led;
                state.loaded = true;
                let (groups, waiting) = (state.directory().list().len(), state.waiting.len());
                tracing::info!(groups, waiting, "group offsets loaded");
                state.start_stored_generations(&myself).await;
                while let Some(w) = state.waiting.pop_front() {
                    let result = state.route(&myself, w.group_id, w.create, w.msg).await;
                    let _ = w.routed.send(result);
                }
                let manager = myself.clone();
                state
                    .args
                    .ctx
                    .watch_led_partitions(OFFSETS_TOPIC, move |led| {
                        manager
                            .cast(GroupManagerMsg::LeadershipChanged(led))
                            .is_ok()
                    });
            }
            GroupManagerMsg::LeadershipChanged(led) => state.on_leadership(&myself, led),
            GroupManagerMsg::PartitionLoaded(lead, mut groups) => {
                if state.led.get(&lead.partition) == Some(&lead.epoch) {
                    // A group whose coordinator started meanwhile replayed its
                    // own offsets, newer than these.
                    groups.retain(|group_id, _| !state.coordinators.contains_key(group_id));
                    tracing::info!(
                        partition = lead.partition,
                        epoch = lead.epoch,
                        groups = groups.len(),
                        "offsets partition loaded on taking the lead"
                    );
                    state.directory().load(lead, groups, now_ms());
                    state.start_stored_generations(&myself).await;
                }
            }
            GroupManagerMsg::ExpireDormant => state.expire_dormant(),
            GroupManagerMsg::TxnCompleted {
                partition,
                producer_id,
                commit,
            } => {
                for (group_id, coordinator) in &state.coordinators {
                    if state.partition_of(group_id) == partition {
                        let _ = coordinator.cast(GroupMsg::TxnCompleted {
                            producer_id,
                            commit,
                        });
                    }
                }
                state
                    .directory()
                    .complete_txn(producer_id, commit, |group_id| {
                        state.partition_of(group_id) == partition
                    });
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<Self::Msg>,
        evt: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Coordinators are restarted on demand, never here.
        let (cell, failed) = match evt {
            SupervisionEvent::ActorTerminated(cell, ..) => (cell, false),
            SupervisionEvent::ActorFailed(cell, error) => {
                tracing::warn!(actor = %cell.get_id(), %error, "group coordinator failed");
                state.args.ctx.metrics.actor_restarted("group-coordinators");
                (cell, true)
            }
            _ => return Ok(()),
        };
        if failed && let Some(group_id) = state.by_actor.get(&cell.get_id()) {
            state.args.ctx.groups.mark_for_replay(group_id);
        }
        if let Some(group_id) = state.by_actor.remove(&cell.get_id())
            && state.coordinators.get(&group_id).map(|c| c.get_id()) == Some(cell.get_id())
        {
            state.coordinators.remove(&group_id);
        }
        Ok(())
    }
}

impl GroupManagerState {
    fn directory(&self) -> &Arc<GroupDirectory> {
        &self.args.ctx.groups
    }

    fn partition_of(&self, group_id: &str) -> i32 {
        offsets::partition_for(group_id, self.args.ctx.config.offsets_topic_num_partitions)
    }

    /// The leadership under which this broker coordinates `group_id`: it leads
    /// the group's offsets partition and has taken up that leadership here.
    /// NOT_COORDINATOR when another broker leads it; COORDINATOR_LOAD_IN_PROGRESS
    /// while the offsets topic is being created or a new leadership is taken up.
    fn serving(&self, group_id: &str) -> Result<Leadership, i16> {
        let ctx = &self.args.ctx;
        let partition = self.partition_of(group_id);
        let image = ctx.image();
        let Some(topic) = image.topic(OFFSETS_TOPIC) else {
            return Err(codes::COORDINATOR_LOAD_IN_PROGRESS);
        };
        match topic.partitions.get(partition as usize) {
            Some(p) if p.leader == ctx.config.node_id => {
                match self.directory().leadership(partition) {
                    Some(lead) if lead.epoch == p.leader_epoch => Ok(lead),
                    _ => Err(codes::COORDINATOR_LOAD_IN_PROGRESS),
                }
            }
            _ => Err(codes::NOT_COORDINATOR),
        }
    }

    /// Groups stored mid-generation get their coordinator now, so the sessions
    /// of members that never come back expire.
    async fn start_stored_generations(&mut self, myself: &ActorRef<GroupManagerMsg>) {
        for group_id in self.directory().dormant_with_members() {
            let _ = self.coordinator(myself, group_id, false).await;
        }
    }

    /// Follows the leadership of the offsets partitions: gives up the groups of
    /// partitions no longer led (or led under a new epoch) and replays the
    /// partitions newly led.
    fn on_leadership(&mut self, myself: &ActorRef<GroupManagerMsg>, led: LedPartitions) {
        let old = std::mem::replace(&mut self.led, led);
        for (&partition, &epoch) in &old {
            if self.led.get(&partition) != Some(&epoch) {
                self.resign(partition, epoch);
            }
        }
        for (&partition, &epoch) in &self.led {
            if old.get(&partition) == Some(&epoch) {
                continue;
            }
            let lead = Leadership { partition, epoch };
            self.directory().lead(lead);
            let (ctx, manager) = (self.args.ctx.clone(), myself.clone());
            tokio::spawn(async move {
                if let Some(groups) = load_partition(&ctx, partition).await {
                    let _ = manager.cast(GroupManagerMsg::PartitionLoaded(lead, groups));
                }
            });
        }
    }

    /// Stops the coordinators of an offsets partition no longer led here and
    /// forgets its groups: their members are told COORDINATOR_NOT_AVAILABLE and
    /// find the new leader.
    fn resign(&mut self, partition: i32, epoch: i32) {
        let stopping: Vec<String> = self
            .coordinators
            .keys()
            .filter(|g| self.partition_of(g) == partition)
            .cloned()
            .collect();
        for group_id in &stopping {
            if let Some(coordinator) = self.coordinators.remove(group_id) {
                self.by_actor.remove(&coordinator.get_id());
                coordinator.stop(Some("offsets partition leadership moved".into()));
            }
        }
        let partitions = self.args.ctx.config.offsets_topic_num_partitions;
        self.directory()
            .resign(partition, |g| offsets::partition_for(g, partitions));
        tracing::info!(
            partition,
            epoch,
            coordinators = stopping.len(),
            "offsets partition no longer led here; its groups unloaded"
        );
    }

    /// Casts `msg` to the group's coordinator. One that stopped but was not yet
    /// forgotten (idle stop racing this message) is replaced once.
    async fn route(
        &mut self,
        myself: &ActorRef<GroupManagerMsg>,
        group_id: String,
        create: bool,
        msg: GroupMsg,
    ) -> Result<(), i16> {
        if self.loaded {
            self.serving(&group_id)?;
        }
        let coordinator = self.coordinator(myself, group_id.clone(), create).await?;
        let msg = match coordinator.cast(msg) {
            Ok(()) => return Ok(()),
            Err(ractor::MessagingErr::SendErr(msg)) => msg,
            Err(_) => return Err(codes::COORDINATOR_NOT_AVAILABLE),
        };
        if self.coordinators.get(&group_id).map(|c| c.get_id()) == Some(coordinator.get_id()) {
            self.coordinators.remove(&group_id);
        }
        let coordinator = self.coordinator(myself, group_id, create).await?;
        coordinator
            .cast(msg)
            .map_err(|_| codes::COORDINATOR_NOT_AVAILABLE)
    }

    async fn coordinator(
        &mut self,
        myself: &ActorRef<GroupManagerMsg>,
        group_id: String,
        create: bool,
    ) -> Result<ActorRef<GroupMsg>, i16> {
        if let Some(coordinator) = self.coordinators.get(&group_id) {
            return Ok(coordinator.clone());
        }
        if !self.loaded {
            return Err(codes::COORDINATOR_LOAD_IN_PROGRESS);
        }
        if !create && !self.directory().contains(&group_id) {
            return Err(codes::GROUP_ID_NOT_FOUND);
        }
        if self.coordinators.len() >= GROUPS_MAX {
            return Err(codes::COORDINATOR_NOT_AVAILABLE);
        }
        let leadership = self.serving(&group_id)?;
        let config = &self.args.ctx.config;
        let args = GroupCoordinatorArgs {
            group_id: group_id.clone(),
            offsets_partitions: config.offsets_topic_num_partitions,
            registry: self.args.ctx.partitions.clone(),
            limits: GroupLimits {
                min_session_timeout_ms: config.group_min_session_timeout_ms,
                max_session_timeout_ms: config.group_max_session_timeout_ms,
                initial_rebalance_delay_ms: config.group_initial_rebalance_delay_ms,
                ..GroupLimits::default()
            },
            directory: self.directory().clone(),
            leadership,
            start: self.directory().take(&group_id, leadership.partition),
            retention_ms: config.offsets_retention_minutes.saturating_mul(60_000),
            retention_check_ms: config.offsets_retention_check_interval_ms as i64,
            idle_stop_ms: super::coordinator::IDLE_STOP_MS_DEFAULT,
        };
        let kept = match &args.start {
            StartingGroup::Known(offsets) if !offsets.is_empty() => Some(offsets.clone()),
            _ => None,
        };
        match Actor::spawn_linked(None, GroupCoordinator, args, myself.get_cell()).await {
            Ok((coordinator, _)) => {
                self.by_actor.insert(coordinator.get_id(), group_id.clone());
                self.coordinators.insert(group_id, coordinator.clone());
                Ok(coordinator)
            }
            Err(e) => {
                if let Some(offsets) = kept {
                    self.directory()
                        .park(&group_id, leadership, offsets, now_ms());
                }
                tracing::debug!(group_id, error = %e, "group coordinator not ready");
                Err(codes::COORDINATOR_LOAD_IN_PROGRESS)
            }
        }
    }

    /// Expires offsets of groups without a coordinator, tombstoning them in the
    /// background (a lost tombstone only brings the offsets back until the next
    /// check after a restart).
    fn expire_dormant(&self) {
        let config = &self.args.ctx.config;
        let retention_ms = config.offsets_retention_minutes.saturating_mul(60_000);
        let now = now_ms();
        let expired = self
            .directory()
            .expire(|o, since| offsets::expired(o, since, retention_ms, now));
        if expired.is_empty() {
            return;
        }
        let registry = self.args.ctx.partitions.clone();
        let partitions = config.offsets_topic_num_partitions;
        tokio::spawn(async move {
            for (group_id, keys) in expired {
                let tombstones: Vec<_> = keys.into_iter().map(|k| (k, None)).collect();
                let result =
                    offsets::append(&registry, partitions, &group_id, &tombstones, now).await;
                match result {
                    Ok(()) => tracing::info!(group_id, count = tombstones.len(), "offsets expired"),
                    Err(code) => tracing::warn!(group_id, code, "offset expiry not written"),
                }
            }
        });
    }
}

/// Replays offsets partition `partition` (waiting, bounded, for it to come
/// online), or `None` when it cannot: its groups then replay one by one as
/// their coordinators start.
async fn load_partition(ctx: &Arc<BrokerCtx>, partition: i32) -> Option<PartitionGroups> {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(TOPIC_READY_WAIT_MS);
    // A partition just created or just led may still be recovering.
    while !matches!(
        ctx.partitions.lookup(OFFSETS_TOPIC, partition),
        Some(PartitionEntry::Online(_))
    ) && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let Some(PartitionEntry::Online(handle)) = ctx.partitions.lookup(OFFSETS_TOPIC, partition)
    else {
        tracing::warn!(
            partition,
            "{OFFSETS_TOPIC} partition not online; its groups load on demand"
        );
        return None;
    };
    let reader = handle.reader.clone();
    let started = std::time::Instant::now();
    let loaded = tokio::task::spawn_blocking(move || offsets::load_partition(&reader, None)).await;
    match loaded {
        Ok(Ok(groups)) => {
            tracing::debug!(
                partition,
                groups = groups.len(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "offsets partition loaded"
            );
            Some(groups)
        }
        Ok(Err(e)) => {
            tracing::warn!(partition, error = %e, "offsets partition not loaded");
            None
        }
        Err(e) => {
            tracing::warn!(partition, error = %e, "offsets load task failed");
            None
        }
    }
}

/// Creates `__consumer_offsets` (compacted) unless it exists. A clustered
/// broker first waits (bounded) for every voter to register, so the topic's
/// partitions and replicas spread over the whole cluster, as Kafka waits for
/// enough live brokers.
async fn ensure_offsets_topic(ctx: &Arc<BrokerCtx>) {
    let voters: Vec<i32> = ctx
        .config
        .cluster
        .voters
        .iter()
        .map(|v| v.node_id)
        .collect();
    let mut images = ctx.images.clone();
    let me = ctx.config.node_id;
    if images
        .wait_for(|image| image.brokers.contains_key(&me))
        .await
        .is_err()
    {
        return;
    }
    let all_registered = images.wait_for(|image| {
        image.topic(OFFSETS_TOPIC).is_some()
            || voters.iter().all(|id| image.brokers.contains_key(id))
    });
    let wait = Duration::from_millis(OFFSETS_TOPIC_BROKERS_WAIT_MS);
    if tokio::time::timeout(wait, all_registered).await.is_err() {
        tracing::warn!(
            "not every voter registered in time; creating {OFFSETS_TOPIC} on those that did"
        );
    }
    ctx.await_reconciled().await;
    if ctx.image().topic(OFFSETS_TOPIC).is_some() {
        return;
    }
    let spec = TopicSpec {
        name: OFFSETS_TOPIC.into(),
        num_partitions: Some(ctx.config.offsets_topic_num_partitions),
        replication_factor: None,
        configs: vec![
            ("cleanup.policy".into(), Some("compact".into())),
            (
                "segment.bytes".into(),
                Some(ctx.config.offsets_topic_segment_bytes.to_string()),
            ),
        ],
    };
    for result in ctx.create_topics(vec![spec], false).await {
        match result {
            Ok(()) | Err(TopicError::AlreadyExists(_)) => {}
            Err(e) => tracing::error!(error = %e, "cannot create {OFFSETS_TOPIC}"),
        }
    }
}
