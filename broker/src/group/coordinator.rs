//! The GroupCoordinator actor: one per consumer group. It owns the group's pure
//! state machine and its committed offsets, parks JoinGroup/SyncGroup replies
//! until the state machine answers them, ticks session and rebalance timers, and
//! writes commits durably to the group's `__consumer_offsets` partition. It
//! publishes its state to the [`GroupDirectory`], expires offsets past retention
//! while the group is empty, and parks its offsets there when it stops idle.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster_derive::RactorMessage;

use super::directory::{GroupDirectory, GroupListing, Leadership, StartingGroup};
use super::offsets::{
    self, GroupOffsets, LoadedGroup, OFFSETS_TOPIC, OffsetValue, PendingTxnOffsets,
};
use super::state::{
    Effect, Group, GroupLimits, GroupState, JoinRequest, JoinResponse, Reply, SyncResponse, codes,
};
use super::subscription::subscribed_topics;
use crate::partition::{PartitionEntry, PartitionRegistry};

/// How often session and rebalance timers are checked.
const TICK: Duration = Duration::from_millis(100);
/// An empty group's coordinator stops after this long without requests by
/// default (its offsets are parked in the directory for the next one).
pub const IDLE_STOP_MS_DEFAULT: i64 = 60_000;

/// Longest commit metadata string accepted (Kafka's `offset.metadata.max.bytes`).
pub const OFFSET_METADATA_BYTES_MAX: usize = 4096;

/// A partition's offset as OffsetFetch returns it (`None` when nothing is committed).
pub type FetchedOffset = ((String, i32), Option<OffsetValue>);

/// What OffsetFetch gets from a coordinator.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchedOffsets {
    /// The committed offsets asked for.
    pub offsets: Vec<FetchedOffset>,
    /// Of those, the partitions an open transaction has offsets for (only
    /// when stable offsets were required: UNSTABLE_OFFSET_COMMIT).
    pub unstable: Vec<(String, i32)>,
}

/// Messages of a [`GroupCoordinator`].
#[derive(RactorMessage)]
pub enum GroupMsg {
    /// JoinGroup; the reply may be parked until the rebalance completes.
    Join {
        req: JoinRequest,
        reply: RpcReplyPort<JoinResponse>,
    },
    /// SyncGroup; followers' replies are parked until the leader's sync.
    Sync {
        member_id: String,
        /// The static instance id the member names (v3+).
        group_instance_id: Option<String>,
        generation_id: i32,
        assignments: Vec<(String, Bytes)>,
        reply: RpcReplyPort<SyncResponse>,
    },
    /// Heartbeat; replies with an error code.
    Heartbeat {
        member_id: String,
        /// The static instance id the member names (v3+).
        group_instance_id: Option<String>,
        generation_id: i32,
        reply: RpcReplyPort<i16>,
    },
    /// LeaveGroup for (member id, static id) pairs; one error code each.
    Leave {
        members: Vec<(String, Option<String>)>,
        reply: RpcReplyPort<Vec<i16>>,
    },
    /// OffsetCommit; one error code for the whole request.
    Commit {
        generation_id: i32,
        member_id: String,
        /// The static instance id the member names (v7+).
        group_instance_id: Option<String>,
        offsets: Vec<((String, i32), OffsetValue)>,
        reply: RpcReplyPort<i16>,
    },
    /// A commit's append became durable (or failed): apply it and answer.
    CommitDone {
        /// Order of the commit within this coordinator (later ones win).
        seq: u64,
        offsets: Vec<((String, i32), OffsetValue)>,
        result: Result<(), i16>,
        reply: RpcReplyPort<i16>,
    },
    /// OffsetFetch; `None` for every committed partition. With
    /// `require_stable` (KIP-447), partitions with offsets of an open
    /// transaction are listed as unstable.
    FetchOffsets {
        partitions: Option<Vec<(String, i32)>>,
        require_stable: bool,
        reply: RpcReplyPort<FetchedOffsets>,
    },
    /// TxnOffsetCommit: offsets that count once `producer`'s transaction
    /// commits; one error code for the whole request.
    TxnCommit {
        producer: (i64, i16),
        generation_id: i32,
        member_id: String,
        group_instance_id: Option<String>,
        offsets: Vec<((String, i32), OffsetValue)>,
        reply: RpcReplyPort<i16>,
    },
    /// A transaction's marker was written to this group's offsets partition.
    TxnCompleted { producer_id: i64, commit: bool },
    /// DescribeGroups.
    Describe {
        reply: RpcReplyPort<GroupDescription>,
    },
    /// DeleteGroups: deletes an empty group's offsets and stops the coordinator.
    Delete { reply: RpcReplyPort<i16> },
    /// OffsetDelete: a group-level error code, or one code per partition.
    DeleteOffsets {
        partitions: Vec<(String, i32)>,
        reply: RpcReplyPort<Result<Vec<i16>, i16>>,
    },
    /// Timer tick.
    Tick,
}

/// A group as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// Kafka's state name.
    pub state: &'static str,
    /// Protocol type ("consumer"), empty when there are no members.
    pub protocol_type: String,
    /// Chosen protocol (assignor), empty outside a generation.
    pub protocol_name: String,
    /// Members; metadata and assignment are filled only while Stable, as in Kafka.
    pub members: Vec<MemberDescription>,
}

/// One member in a [`GroupDescription`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// Member id.
    pub member_id: String,
    /// Static membership id.
    pub group_instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Metadata of the chosen protocol.
    pub metadata: Bytes,
    /// Current assignment.
    pub assignment: Bytes,
}

/// What a coordinator starts with.
#[derive(Clone)]
pub struct GroupCoordinatorArgs {
    /// Group id.
    pub group_id: String,
    /// Partition count of `__consumer_offsets`.
    pub offsets_partitions: i32,
    /// Where to find the offsets partition.
    pub registry: Arc<PartitionRegistry>,
    /// Session and size limits.
    pub limits: GroupLimits,
    /// The broker's group directory.
    pub directory: Arc<GroupDirectory>,
    /// The leadership of the group's offsets partition this coordinator serves:
    /// once it ends, what the coordinator holds is stale and kept nowhere.
    pub leadership: Leadership,
    /// Offsets and stored metadata to start from, or `Unknown` to replay the
    /// offsets partition.
    pub start: StartingGroup,
    /// Offsets of an empty group expire after this long (`offsets.retention.minutes`).
    pub retention_ms: i64,
    /// How often expiry is checked (`offsets.retention.check.interval.ms`).
    pub retention_check_ms: i64,
    /// An empty group's coordinator stops after this long without requests.
    pub idle_stop_ms: i64,
}

/// The coordinator actor.
pub struct GroupCoordinator;

/// A coordinator's state.
pub struct GroupCoordinatorState {
    /// Start arguments.
    args: GroupCoordinatorArgs,
    /// The group's state machine.
    group: Group,
    /// Committed offsets.
    offsets: GroupOffsets,
    /// Offsets of open transactions, by producer id.
    pending: PendingTxnOffsets,
    /// Parked JoinGroup replies by member id.
    joins: HashMap<String, RpcReplyPort<JoinResponse>>,
    /// Parked SyncGroup replies by member id.
    syncs: HashMap<String, RpcReplyPort<SyncResponse>>,
    /// When the last request arrived (ms).
    last_request_ms: i64,
    /// Since when the group has been empty (ms), for offset retention.
    empty_since_ms: Option<i64>,
    /// When offset expiry was last checked (ms).
    retention_checked_ms: i64,
    /// The state and protocol type last published to the directory.
    published: Option<(GroupState, Option<String>)>,
    /// What the last stored metadata record described (see [`snapshot_signature`]).
    stored: Option<SnapshotSignature>,
    /// Sequence number of the last commit submitted.
    commit_seq: u64,
    /// Sequence number of the commit each partition's offset came from.
    applied_seq: HashMap<(String, i32), u64>,
    /// Set once the coordinator is stopping (group deleted, or offsets parked in
    /// the directory): it publishes nothing more.
    stopping: bool,
}

/// What decides whether a group's metadata record must be written again: its
/// state, generation, leader and member ids (a static member replaced by a new
/// instance changes only the ids).
type SnapshotSignature = (GroupState, i32, Option<String>, u32);

fn snapshot_signature(group: &Group) -> Option<SnapshotSignature> {
    if !matches!(group.state, GroupState::Stable | GroupState::Empty) {
        return None;
    }
    let ids = group
        .members
        .keys()
        .fold(0u32, |crc, id| crc32c::crc32c_append(crc, id.as_bytes()));
    Some((
        group.state,
        group.generation_id,
        group.leader_id.clone(),
        ids,
    ))
}

/// Wall-clock milliseconds (commit timestamps, retention).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Actor for GroupCoordinator {
    type Msg = GroupMsg;
    type State = GroupCoordinatorState;
    type Arguments = GroupCoordinatorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        mut args: GroupCoordinatorArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let partition = offsets::partition_for(&args.group_id, args.offsets_partitions);
        let Some(PartitionEntry::Online(handle)) = args.registry.lookup(OFFSETS_TOPIC, partition)
        else {
            return Err(format!("{OFFSETS_TOPIC}-{partition} is not online").into());
        };
        let loaded = match std::mem::replace(&mut args.start, StartingGroup::Unknown) {
            StartingGroup::Known(loaded) => loaded,
            StartingGroup::Unknown => {
                let (reader, group_id) = (handle.reader.clone(), args.group_id.clone());
                tokio::task::spawn_blocking(move || offsets::load_group(&reader, &group_id))
                    .await??
            }
        };
        myself.send_interval(TICK, || GroupMsg::Tick);
        let now = now_ms();
        // A stored generation comes back as it was: its members keep heartbeating
        // instead of rejoining after a restart.
        let group = match &loaded.snapshot {
            Some(snapshot) => Group::restore(args.group_id.clone(), args.limits, snapshot, now),
            None => Group::new(args.group_id.clone(), args.limits),
        };
        let stored = snapshot_signature(&group);
        let mut state = GroupCoordinatorState {
            group,
            args,
            offsets: loaded.offsets,
            pending: loaded.pending,
            stored,
            joins: HashMap::new(),
            syncs: HashMap::new(),
            last_request_ms: now,
            empty_since_ms: Some(now),
            retention_checked_ms: now,
            stopping: false,
            published: None,
            commit_seq: 0,
            applied_seq: HashMap::new(),
        };
        state.publish();
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let now = now_ms();
        if !matches!(msg, GroupMsg::Tick) {
            state.last_request_ms = now;
        }
        match msg {
            GroupMsg::Join { req, reply } => {
                let (answer, effects) = state.group.join(req, now);
                match answer {
                    Reply::Now(response) => drop(reply.send(response)),
                    Reply::Parked(member_id) => {
                        state.joins.insert(member_id, reply);
                    }
                }
                state.deliver(effects);
            }
            GroupMsg::Sync {
                member_id,
                group_instance_id,
                generation_id,
                assignments,
                reply,
            } => {
                if state
                    .group
                    .is_fenced(&member_id, group_instance_id.as_deref())
                {
                    let _ = reply.send(SyncResponse::error(codes::FENCED_INSTANCE_ID));
                    return Ok(());
                }
                let (answer, effects) =
                    state
                        .group
                        .sync(&member_id, generation_id, assignments, now);
                match answer {
                    Reply::Now(response) => drop(reply.send(response)),
                    Reply::Parked(member_id) => {
                        state.syncs.insert(member_id, reply);
                    }
                }
                state.deliver(effects);
            }
            GroupMsg::Heartbeat {
                member_id,
                group_instance_id,
                generation_id,
                reply,
            } => {
                let code = if state
                    .group
                    .is_fenced(&member_id, group_instance_id.as_deref())
                {
                    codes::FENCED_INSTANCE_ID
                } else {
                    state.group.heartbeat(&member_id, generation_id, now)
                };
                let _ = reply.send(code);
            }
            GroupMsg::Leave { members, reply } => {
                let mut codes = Vec::with_capacity(members.len());
                for (member_id, instance) in members {
                    let (code, effects) = state.group.leave(&member_id, instance.as_deref(), now);
                    codes.push(code);
                    state.deliver(effects);
                }
                let _ = reply.send(codes);
            }
            GroupMsg::Commit {
                generation_id,
                member_id,
                group_instance_id,
                offsets,
                reply,
            } if state
                .group
                .is_fenced(&member_id, group_instance_id.as_deref()) =>
            {
                let _ = (generation_id, offsets);
                let _ = reply.send(codes::FENCED_INSTANCE_ID);
            }
            GroupMsg::Commit {
                generation_id,
                member_id,
                offsets,
                reply,
                ..
            } => state.on_commit(&myself, generation_id, &member_id, offsets, now, reply),
            GroupMsg::CommitDone {
                seq,
                offsets,
                result,
                reply,
            } => {
                let _ = reply.send(state.on_commit_done(seq, offsets, result));
            }
            GroupMsg::FetchOffsets {
                partitions,
                require_stable,
                reply,
            } => {
                let offsets = state.fetch_offsets(partitions);
                let unstable = if require_stable {
                    offsets
                        .iter()
                        .map(|(key, _)| key)
                        .filter(|key| state.pending.values().any(|p| p.contains_key(*key)))
                        .cloned()
                        .collect()
                } else {
                    Vec::new()
                };
                let _ = reply.send(FetchedOffsets { offsets, unstable });
            }
            GroupMsg::TxnCommit {
                producer,
                generation_id,
                member_id,
                group_instance_id,
                offsets,
                reply,
            } => {
                let code = if state
                    .group
                    .is_fenced(&member_id, group_instance_id.as_deref())
                {
                    codes::FENCED_INSTANCE_ID
                } else {
                    state
                        .on_txn_commit(producer, generation_id, &member_id, offsets, now)
                        .await
                };
                let _ = reply.send(code);
            }
            GroupMsg::TxnCompleted {
                producer_id,
                commit,
            } => state.on_txn_completed(producer_id, commit),
            GroupMsg::Describe { reply } => {
                let _ = reply.send(state.describe());
            }
            GroupMsg::Delete { reply } => {
                let code = state.on_delete(now).await;
                let _ = reply.send(code);
                if state.stopping {
                    myself.stop(Some("deleted".into()));
                }
            }
            GroupMsg::DeleteOffsets { partitions, reply } => {
                let _ = reply.send(state.on_delete_offsets(partitions, now).await);
            }
            GroupMsg::Tick => {
                let effects = state.group.tick(now);
                state.deliver(effects);
                state.track_empty(now);
                state.expire_offsets(now).await;
                let idle = now - state.last_request_ms > state.args.idle_stop_ms;
                // Offsets of open transactions stay with a running coordinator,
                // which their markers reach.
                if idle
                    && state.group.state == GroupState::Empty
                    && state.joins.is_empty()
                    && state.pending.is_empty()
                {
                    // Hand the offsets to the directory first: the manager forgets
                    // this actor only after it has stopped, so the next coordinator
                    // of the group always finds them there.
                    let parked = LoadedGroup {
                        offsets: std::mem::take(&mut state.offsets),
                        // A group that never had a generation has nothing to keep.
                        snapshot: state.group.snapshot().filter(|s| s.generation_id > 0),
                        pending: PendingTxnOffsets::new(),
                    };
                    state.args.directory.park(
                        &state.args.group_id,
                        state.args.leadership,
                        parked,
                        now,
                    );
                    state.stopping = true;
                    myself.stop(Some("idle".into()));
                    return Ok(());
                }
            }
        }
        state.track_empty(now);
        if !state.stopping {
            state.publish();
            state.store_snapshot(now);
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let effects = state.group.delete();
        state.deliver(effects);
        Ok(())
    }
}

#[cfg(test)]
mod tests;

impl GroupCoordinatorState {
    /// Sends the state machine's answers to the parked callers.
    fn deliver(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Join(member_id, response) => {
                    if let Some(reply) = self.joins.remove(&member_id) {
                        let _ = reply.send(response);
                    }
                }
                Effect::Sync(member_id, response) => {
                    if let Some(reply) = self.syncs.remove(&member_id) {
                        let _ = reply.send(response);
                    }
                }
            }
        }
    }

    /// Checks membership and generation, then appends the commits (acks=all) and
    /// applies them once durable.
    fn on_commit(
        &mut self,
        myself: &ActorRef<GroupMsg>,
        generation_id: i32,
        member_id: &str,
        commits: Vec<((String, i32), OffsetValue)>,
        now: i64,
        reply: RpcReplyPort<i16>,
    ) {
        if let Some(code) = self.commit_check(generation_id, member_id) {
            let _ = reply.send(code);
            return;
        }
        if commits.iter().any(|(_, v)| {
            v.metadata
                .as_ref()
                .is_some_and(|m| m.len() > OFFSET_METADATA_BYTES_MAX)
        }) {
            let _ = reply.send(codes::OFFSET_METADATA_TOO_LARGE);
            return;
        }
        let records: Vec<_> = commits
            .iter()
            .map(|(k, v)| (k.clone(), Some(v.clone())))
            .collect();
        let args = &self.args;
        let submitted = offsets::submit(
            &args.registry,
            args.offsets_partitions,
            &args.group_id,
            &records,
            now,
        );
        let pending = match submitted {
            Ok(pending) => pending,
            Err(code) => {
                let _ = reply.send(code);
                return;
            }
        };
        // The append is in the partition's mailbox, ordered after earlier ones;
        // waiting for its fsync happens off this actor, so commits of one group
        // share fsyncs (group commit) and heartbeats are not held behind them.
        self.commit_seq += 1;
        let seq = self.commit_seq;
        let myself = myself.clone();
        tokio::spawn(async move {
            let result = pending.durable().await;
            let done = GroupMsg::CommitDone {
                seq,
                offsets: commits,
                result,
                reply,
            };
            // A stopped coordinator drops the reply: the client sees an error and
            // retries against the next one, which replays the log.
            let _ = myself.cast(done);
        });
    }

    /// Applies a durable commit unless a later commit of the same partition was
    /// applied first (completions may arrive out of order).
    fn on_commit_done(
        &mut self,
        seq: u64,
        commits: Vec<((String, i32), OffsetValue)>,
        result: Result<(), i16>,
    ) -> i16 {
        if let Err(code) = result {
            return code;
        }
        for (key, value) in commits {
            let newer = self.applied_seq.get(&key).is_some_and(|&s| s > seq);
            if !newer {
                self.applied_seq.insert(key.clone(), seq);
                self.offsets.insert(key, value);
            }
        }
        codes::NONE
    }

    /// TxnOffsetCommit: checks the member (when the request names one, v3+),
    /// writes the offsets as part of the producer's transaction (acks=all),
    /// and holds them until its marker.
    async fn on_txn_commit(
        &mut self,
        producer: (i64, i16),
        generation_id: i32,
        member_id: &str,
        commits: Vec<((String, i32), OffsetValue)>,
        now: i64,
    ) -> i16 {
        let named = generation_id >= 0 || !member_id.is_empty();
        if named && let Some(code) = self.commit_check(generation_id, member_id) {
            return code;
        }
        if commits.iter().any(|(_, v)| {
            v.metadata
                .as_ref()
                .is_some_and(|m| m.len() > OFFSET_METADATA_BYTES_MAX)
        }) {
            return codes::OFFSET_METADATA_TOO_LARGE;
        }
        let args = &self.args;
        let batch = offsets::txn_commit_batch(&args.group_id, &commits, producer, now);
        let submitted = offsets::submit_batch(
            &args.registry,
            args.offsets_partitions,
            &args.group_id,
            batch,
        );
        let result = match submitted {
            Ok(pending) => pending.durable().await,
            Err(code) => Err(code),
        };
        match result {
            Ok(()) => {
                self.pending.entry(producer.0).or_default().extend(commits);
                codes::NONE
            }
            Err(code) => code,
        }
    }

    /// A transaction's marker reached the offsets partition: its offsets
    /// count (commit) or are dropped (abort).
    fn on_txn_completed(&mut self, producer_id: i64, commit: bool) {
        let Some(offsets) = self.pending.remove(&producer_id) else {
            return;
        };
        if commit {
            self.commit_seq += 1;
            for (key, value) in offsets {
                self.applied_seq.insert(key.clone(), self.commit_seq);
                self.offsets.insert(key, value);
            }
        }
    }

    /// Writes offset records durably to the group's offsets partition.
    async fn append(
        &self,
        records: &[((String, i32), Option<OffsetValue>)],
        now: i64,
    ) -> Result<(), i16> {
        let args = &self.args;
        offsets::append(
            &args.registry,
            args.offsets_partitions,
            &args.group_id,
            records,
            now,
        )
        .await
    }

    /// Writes the group's metadata record when a generation settled (Stable) or
    /// the group emptied, and it differs from the one stored. Not awaited: a lost
    /// record only makes members rejoin after a restart.
    fn store_snapshot(&mut self, now: i64) {
        let signature = snapshot_signature(&self.group);
        if signature.is_none() || signature == self.stored {
            return;
        }
        let Some(snapshot) = self.group.snapshot() else {
            return;
        };
        self.stored = signature;
        let args = &self.args;
        let batch = offsets::snapshot_batch(&args.group_id, Some(&snapshot), now);
        let submitted = offsets::submit_batch(
            &args.registry,
            args.offsets_partitions,
            &args.group_id,
            batch,
        );
        let group_id = args.group_id.clone();
        tokio::spawn(async move {
            if let Err(code) = async { submitted?.durable().await }.await {
                tracing::warn!(group_id, code, "group metadata not stored");
            }
        });
    }

    /// Publishes the group's state to the directory.
    /// Only a change takes the directory's lock: this runs after every message,
    /// timer ticks included, of every coordinator.
    fn publish(&mut self) {
        let (state, protocol_type) = (self.group.state, self.group.protocol_type.as_deref());
        let published = self.published.as_ref();
        if published.is_some_and(|(s, p)| *s == state && p.as_deref() == protocol_type) {
            return;
        }
        self.published = Some((state, protocol_type.map(str::to_owned)));
        let listing = GroupListing {
            state: state.name(),
            protocol_type: protocol_type.unwrap_or_default().to_owned(),
        };
        self.args
            .directory
            .publish(&self.args.group_id, self.args.leadership, listing);
    }

    /// Notes when the group became empty (the retention clock).
    fn track_empty(&mut self, now: i64) {
        if self.group.state != GroupState::Empty {
            self.empty_since_ms = None;
        } else if self.empty_since_ms.is_none() {
            self.empty_since_ms = Some(now);
        }
    }

    /// Deletes (tombstones) the offsets past retention while the group is empty.
    async fn expire_offsets(&mut self, now: i64) {
        let Some(empty_since_ms) = self.empty_since_ms else {
            return;
        };
        if now - self.retention_checked_ms < self.args.retention_check_ms {
            return;
        }
        self.retention_checked_ms = now;
        let expired = offsets::expired(&self.offsets, empty_since_ms, self.args.retention_ms, now);
        if expired.is_empty() {
            return;
        }
        let tombstones: Vec<_> = expired.iter().map(|k| (k.clone(), None)).collect();
        match self.append(&tombstones, now).await {
            Ok(()) => {
                for key in &expired {
                    self.offsets.remove(key);
                }
                tracing::info!(group_id = %self.args.group_id, expired = expired.len(), "offsets expired");
            }
            Err(code) => {
                tracing::warn!(group_id = %self.args.group_id, code, "offset expiry not written")
            }
        }
    }

    /// DescribeGroups, as Kafka answers it.
    fn describe(&self) -> GroupDescription {
        let g = &self.group;
        let stable = g.state == GroupState::Stable;
        let protocol = g.protocol_name.clone().unwrap_or_default();
        let members = g
            .members
            .values()
            .map(|m| MemberDescription {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: if stable {
                    m.protocols
                        .iter()
                        .find(|(name, _)| *name == protocol)
                        .map(|(_, md)| md.clone())
                        .unwrap_or_default()
                } else {
                    Bytes::new()
                },
                assignment: if stable {
                    m.assignment.clone()
                } else {
                    Bytes::new()
                },
            })
            .collect();
        GroupDescription {
            state: g.state.name(),
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol_name: if g.state == GroupState::Empty {
                String::new()
            } else {
                protocol
            },
            members,
        }
    }

    /// DeleteGroups: only an empty group; its offsets are tombstoned first.
    async fn on_delete(&mut self, now: i64) -> i16 {
        if !self.group.members.is_empty() {
            return codes::NON_EMPTY_GROUP;
        }
        let tombstones: Vec<_> = self.offsets.keys().map(|k| (k.clone(), None)).collect();
        if let Err(code) = self.append(&tombstones, now).await {
            return code;
        }
        let args = &self.args;
        let metadata_tombstone = offsets::snapshot_batch(&args.group_id, None, now);
        let written = offsets::submit_batch(
            &args.registry,
            args.offsets_partitions,
            &args.group_id,
            metadata_tombstone,
        );
        if let Err(code) = async { written?.durable().await }.await {
            return code;
        }
        self.offsets.clear();
        let effects = self.group.delete();
        self.deliver(effects);
        self.args.directory.remove(&self.args.group_id);
        self.stopping = true;
        codes::NONE
    }

    /// OffsetDelete: drops the named offsets unless the group consumes the topic.
    async fn on_delete_offsets(
        &mut self,
        partitions: Vec<(String, i32)>,
        now: i64,
    ) -> Result<Vec<i16>, i16> {
        if self.group.state == GroupState::Dead {
            return Err(codes::GROUP_ID_NOT_FOUND);
        }
        let subscribed = |topic: &str| self.is_subscribed(topic);
        let codes: Vec<i16> = partitions
            .iter()
            .map(|(topic, _)| {
                if subscribed(topic) {
                    codes::GROUP_SUBSCRIBED_TO_TOPIC
                } else {
                    codes::NONE
                }
            })
            .collect();
        let deletions: Vec<_> = partitions
            .iter()
            .zip(&codes)
            .filter(|(key, code)| **code == codes::NONE && self.offsets.contains_key(*key))
            .map(|(key, _)| (key.clone(), None))
            .collect();
        self.append(&deletions, now).await?;
        for (key, _) in &deletions {
            self.offsets.remove(key);
        }
        Ok(codes)
    }

    /// Whether a member of a consumer-protocol group subscribes to `topic` (an
    /// unreadable subscription counts as every topic).
    fn is_subscribed(&self, topic: &str) -> bool {
        let g = &self.group;
        if g.members.is_empty() || g.protocol_type.as_deref() != Some("consumer") {
            return false;
        }
        let protocol = g.protocol_name.as_deref();
        g.members.values().any(|m| {
            let metadata = m
                .protocols
                .iter()
                .find(|(name, _)| Some(name.as_str()) == protocol)
                .or(m.protocols.first())
                .map(|(_, md)| md);
            match metadata.and_then(subscribed_topics) {
                Some(topics) => topics.iter().any(|t| t == topic),
                None => true,
            }
        })
    }

    /// Kafka's rules for who may commit: anyone while the group has no members
    /// (generation -1 / no member id: a consumer using `assign`), otherwise a
    /// current member of the current generation outside CompletingRebalance.
    fn commit_check(&self, generation_id: i32, member_id: &str) -> Option<i16> {
        let g = &self.group;
        if generation_id < 0 && member_id.is_empty() {
            return (!g.members.is_empty()).then_some(codes::UNKNOWN_MEMBER_ID);
        }
        if !g.members.contains_key(member_id) {
            return Some(codes::UNKNOWN_MEMBER_ID);
        }
        if generation_id != g.generation_id {
            return Some(codes::ILLEGAL_GENERATION);
        }
        (g.state == GroupState::CompletingRebalance).then_some(codes::REBALANCE_IN_PROGRESS)
    }

    fn fetch_offsets(&self, partitions: Option<Vec<(String, i32)>>) -> Vec<FetchedOffset> {
        match partitions {
            Some(wanted) => wanted
                .into_iter()
                .map(|key| {
                    let value = self.offsets.get(&key).cloned();
                    (key, value)
                })
                .collect(),
            None => {
                let mut all: Vec<FetchedOffset> = self
                    .offsets
                    .iter()
                    .map(|(k, v)| (k.clone(), Some(v.clone())))
                    .collect();
                all.sort_by(|a, b| a.0.cmp(&b.0));
                all
            }
        }
    }
}
