//! The GroupCoordinator actor: one per consumer group. It owns the group's pure
//! state machine and its committed offsets, parks JoinGroup/SyncGroup replies
//! until the state machine answers them, ticks session and rebalance timers, and
//! writes commits durably to the group's `__consumer_offsets` partition.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ractor::concurrency::oneshot;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster_derive::RactorMessage;

use super::offsets::{self, GroupOffsets, OFFSETS_TOPIC, OffsetValue};
use super::state::{
    Effect, Group, GroupLimits, GroupState, JoinRequest, JoinResponse, Reply, SyncResponse, codes,
};
use crate::partition::{PartitionEntry, PartitionMsg, PartitionRegistry};

/// How often session and rebalance timers are checked.
const TICK: Duration = Duration::from_millis(100);
/// An empty group's coordinator stops after this long without requests (its
/// offsets are reloaded from the log when the group comes back).
const IDLE_STOP_MS: i64 = 60_000;
/// Longest a commit waits for its durable append.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Kafka error codes used here beyond the state machine's.
pub mod errors {
    pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
    pub const REQUEST_TIMED_OUT: i16 = 7;
    pub const OFFSET_METADATA_TOO_LARGE: i16 = 12;
}

/// Longest commit metadata string accepted (Kafka's `offset.metadata.max.bytes`).
pub const OFFSET_METADATA_BYTES_MAX: usize = 4096;

/// A partition's offset as OffsetFetch returns it (`None` when nothing is committed).
pub type FetchedOffset = ((String, i32), Option<OffsetValue>);

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
        generation_id: i32,
        assignments: Vec<(String, Bytes)>,
        reply: RpcReplyPort<SyncResponse>,
    },
    /// Heartbeat; replies with an error code.
    Heartbeat {
        member_id: String,
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
        offsets: Vec<((String, i32), OffsetValue)>,
        reply: RpcReplyPort<i16>,
    },
    /// OffsetFetch; `None` for every committed partition.
    FetchOffsets {
        partitions: Option<Vec<(String, i32)>>,
        reply: RpcReplyPort<Vec<FetchedOffset>>,
    },
    /// Timer tick.
    Tick,
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
    /// Parked JoinGroup replies by member id.
    joins: HashMap<String, RpcReplyPort<JoinResponse>>,
    /// Parked SyncGroup replies by member id.
    syncs: HashMap<String, RpcReplyPort<SyncResponse>>,
    /// When the last request arrived (ms).
    last_request_ms: i64,
}

fn now_ms() -> i64 {
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
        args: GroupCoordinatorArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let partition = offsets::partition_for(&args.group_id, args.offsets_partitions);
        let Some(PartitionEntry::Online(handle)) = args.registry.lookup(OFFSETS_TOPIC, partition)
        else {
            return Err(format!("{OFFSETS_TOPIC}-{partition} is not online").into());
        };
        let (reader, group_id) = (handle.reader.clone(), args.group_id.clone());
        let offsets =
            tokio::task::spawn_blocking(move || offsets::load_group(&reader, &group_id)).await??;
        myself.send_interval(TICK, || GroupMsg::Tick);
        Ok(GroupCoordinatorState {
            group: Group::new(args.group_id.clone(), args.limits),
            args,
            offsets,
            joins: HashMap::new(),
            syncs: HashMap::new(),
            last_request_ms: now_ms(),
        })
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
                generation_id,
                assignments,
                reply,
            } => {
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
                generation_id,
                reply,
            } => {
                let _ = reply.send(state.group.heartbeat(&member_id, generation_id, now));
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
                offsets,
                reply,
            } => {
                let code = state
                    .on_commit(generation_id, &member_id, offsets, now)
                    .await;
                let _ = reply.send(code);
            }
            GroupMsg::FetchOffsets { partitions, reply } => {
                let _ = reply.send(state.fetch_offsets(partitions));
            }
            GroupMsg::Tick => {
                let effects = state.group.tick(now);
                state.deliver(effects);
                let idle = now - state.last_request_ms > IDLE_STOP_MS;
                if idle && state.group.state == GroupState::Empty && state.joins.is_empty() {
                    myself.stop(Some("idle".into()));
                }
            }
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
    async fn on_commit(
        &mut self,
        generation_id: i32,
        member_id: &str,
        commits: Vec<((String, i32), OffsetValue)>,
        now: i64,
    ) -> i16 {
        if let Some(code) = self.commit_check(generation_id, member_id) {
            return code;
        }
        if commits.iter().any(|(_, v)| {
            v.metadata
                .as_ref()
                .is_some_and(|m| m.len() > OFFSET_METADATA_BYTES_MAX)
        }) {
            return errors::OFFSET_METADATA_TOO_LARGE;
        }
        let records: Vec<_> = commits
            .iter()
            .map(|(k, v)| (k.clone(), Some(v.clone())))
            .collect();
        let Some(batch) = offsets::commit_batch(&self.args.group_id, &records, now) else {
            return codes::NONE;
        };
        let partition = offsets::partition_for(&self.args.group_id, self.args.offsets_partitions);
        let Some(PartitionEntry::Online(handle)) =
            self.args.registry.lookup(OFFSETS_TOPIC, partition)
        else {
            return codes::COORDINATOR_NOT_AVAILABLE;
        };
        let (tx, rx) = oneshot();
        let append = PartitionMsg::Append {
            records: batch,
            acks: -1,
            reply: RpcReplyPort::from(tx),
        };
        if handle.actor.cast(append).is_err() {
            return codes::COORDINATOR_NOT_AVAILABLE;
        }
        match tokio::time::timeout(COMMIT_TIMEOUT, rx).await {
            Ok(Ok(Ok(_))) => {
                self.offsets.extend(commits);
                codes::NONE
            }
            Ok(_) => codes::COORDINATOR_NOT_AVAILABLE,
            Err(_) => errors::REQUEST_TIMED_OUT,
        }
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
