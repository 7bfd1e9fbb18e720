//! A partition actor's replica side, as in Kafka's `Partition`: the leader
//! tracks how far each follower has fetched, advances the high watermark to
//! what every member of the (maximal) ISR holds, answers acks=all appends once
//! it passes them, and proposes ISR shrinks and expansions to the controller
//! under its leader epoch (AlterPartition); a follower appends what the
//! fetcher brings, with the leader's offsets and epochs, keeps producer state
//! as it goes, and truncates where its log diverges from the leader's.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use ractor::{ActorProcessingErr, ActorRef, RpcReplyPort};
use weir_client::protocol::records::batches;

use super::PartitionError;
use super::actor::{PartitionMsg, PartitionState, ReplicaReset, now_ms, rebuild_states};
use super::producers::ProducerBatch;
use super::registry::TopicPartition;
use super::txns::marker_of;
use crate::controller::PartitionImage;
use crate::log::LogError;

#[cfg(test)]
mod tests;

/// An ISR change a leader proposes (Kafka's AlterPartition): applied only if
/// `leader` still leads under `leader_epoch` and the ISR is still `expected_isr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsrChange {
    /// The partition.
    pub tp: TopicPartition,
    /// The proposing leader.
    pub leader: i32,
    /// Its leader epoch.
    pub leader_epoch: i32,
    /// The ISR the leader's change is based on.
    pub expected_isr: Vec<i32>,
    /// The ISR it asks for.
    pub new_isr: Vec<i32>,
}

/// Sends an ISR change to the controller; `Err` with the reason it was not
/// committed.
pub type IsrChanges =
    Arc<dyn Fn(IsrChange) -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// What this replica is for its partition.
pub enum Role {
    /// Neither: no leader in the image, or not a replica of it.
    None,
    /// The leader.
    Leader(LeaderState),
    /// A follower of `leader`.
    Follower {
        /// The leader's broker id.
        leader: i32,
    },
}

/// The leader's view of its followers.
pub struct LeaderState {
    /// Per follower (every replica but the leader).
    followers: HashMap<i32, FollowerProgress>,
    /// An ISR change sent to the controller and not yet in the image.
    pending_isr: Option<Vec<i32>>,
    /// The log end offset when this epoch began: a follower joins the ISR
    /// only once it holds everything of earlier epochs.
    epoch_start_offset: i64,
    /// No proposal before this: one was refused (say, a fenced broker asked
    /// to join), and asking again at every fetch would flood the controller.
    next_proposal: Instant,
}

impl LeaderState {
    /// Keeps one progress entry per replica but `me`: new replicas start
    /// as not yet fetched.
    fn sync_followers(&mut self, me: i32, replicas: &[i32]) {
        self.followers.retain(|r, _| replicas.contains(r));
        let now = Instant::now();
        for &r in replicas.iter().filter(|&&r| r != me) {
            self.followers.entry(r).or_insert(FollowerProgress {
                log_end: -1,
                last_caught_up: now,
                last_fetch: now,
                leader_end_at_last_fetch: -1,
            });
        }
    }
}

/// Pause after a refused ISR change before the next proposal.
const ISR_RETRY_MS: u64 = 500;
/// How often a changed high watermark is checkpointed (Kafka's
/// `replica.high.watermark.checkpoint.interval.ms` default).
const HW_CHECKPOINT_INTERVAL_MS: u64 = 5_000;

/// How far one follower has fetched (Kafka's `Replica` state).
#[derive(Debug, Clone, Copy)]
struct FollowerProgress {
    /// Its log end offset: its last fetch offset (-1 until it fetched).
    log_end: i64,
    /// Last time it had everything the leader had.
    last_caught_up: Instant,
    /// When it fetched last.
    last_fetch: Instant,
    /// The leader's log end offset at that fetch.
    leader_end_at_last_fetch: i64,
}

impl PartitionState {
    /// Acts on a new assignment: becomes leader, follower or neither, or
    /// takes a new ISR under the same leader and epoch.
    pub(super) fn on_assignment(
        &mut self,
        myself: &ActorRef<PartitionMsg>,
        assignment: PartitionImage,
    ) {
        let me = self.args.node_id;
        let same_term = assignment.leader == self.assignment.leader
            && assignment.leader_epoch == self.assignment.leader_epoch
            && !matches!(self.role, Role::None);
        self.assignment = assignment;
        if same_term {
            if let Role::Leader(leader) = &mut self.role {
                if leader.pending_isr.as_ref() == Some(&self.assignment.isr) {
                    leader.pending_isr = None;
                }
                // A reassignment changes the replica set under the same
                // leader and epoch: track the added followers, forget the
                // dropped ones.
                leader.sync_followers(me, &self.assignment.replicas);
            }
            self.maybe_advance_high_watermark();
            return;
        }
        self.fail_pending(PartitionError::NotLeader);
        let end = self.log.reader().log_end_offset();
        let epoch = self.assignment.leader_epoch;
        self.role = if self.assignment.leader == me {
            let now = Instant::now();
            let followers = self
                .assignment
                .replicas
                .iter()
                .filter(|&&r| r != me)
                .map(|&r| {
                    let progress = FollowerProgress {
                        log_end: -1,
                        last_caught_up: now,
                        last_fetch: now,
                        leader_end_at_last_fetch: -1,
                    };
                    (r, progress)
                })
                .collect();
            tracing::info!(partition = %self.args.tp, epoch, log_end_offset = end, "leading");
            self.epoch_start_offset.store(end, Ordering::Release);
            Role::Leader(LeaderState {
                followers,
                pending_isr: None,
                epoch_start_offset: end,
                next_proposal: now,
            })
        } else if self.assignment.leader >= 0 && self.assignment.replicas.contains(&me) {
            self.epoch_start_offset.store(-1, Ordering::Release);
            tracing::info!(partition = %self.args.tp, epoch, leader = self.assignment.leader, log_end_offset = end, "following");
            Role::Follower {
                leader: self.assignment.leader,
            }
        } else {
            self.epoch_start_offset.store(-1, Ordering::Release);
            Role::None
        };
        self.maybe_advance_high_watermark();
        let _ = myself;
    }

    /// Answers every queued append with `error` (leadership moved away).
    fn fail_pending(&mut self, error: PartitionError) {
        for pending in self.pending_acks.drain(..) {
            let _ = pending.reply.send(Err(error.clone()));
        }
    }

    /// Refuses an append this replica must not take: it does not lead, or
    /// acks=all finds fewer in-sync replicas than `min.insync.replicas`.
    ///
    /// In sync here means in the ISR and not yet past `replica.lag.time.max.ms`
    /// behind: a member that fell behind is dropped by the next ISR change,
    /// but that change needs the controller, and with the metadata quorum
    /// lost (two of three brokers down) it never commits. Kafka then lets
    /// acks=all writes wait out their timeout; counting only live members
    /// refuses them at once with NOT_ENOUGH_REPLICAS, which tells the
    /// producer why and writes nothing it will not acknowledge.
    pub(super) fn check_can_append(&self, acks: i16) -> Result<(), PartitionError> {
        let Role::Leader(leader) = &self.role else {
            return Err(PartitionError::NotLeader);
        };
        if acks != -1 {
            return Ok(());
        }
        let min = self.args.config.min_insync_replicas;
        let me = self.args.node_id;
        let lag = Duration::from_millis(self.args.replica_lag_time_max_ms);
        let now = Instant::now();
        let isr = self
            .assignment
            .isr
            .iter()
            .filter(|&&r| {
                r == me
                    || leader
                        .followers
                        .get(&r)
                        .is_some_and(|f| now.duration_since(f.last_caught_up) <= lag)
            })
            .count();
        if (isr as i64) < i64::from(min) {
            return Err(PartitionError::NotEnoughReplicas { isr, min });
        }
        Ok(())
    }

    /// Writes the high watermark's checkpoint if it moved: at most every
    /// [`HW_CHECKPOINT_INTERVAL_MS`], or now with `force` (the actor stops).
    /// A replica alone in its partition needs none (it starts at its log end).
    pub(super) fn checkpoint_high_watermark(&mut self, force: bool) {
        let hw = *self.high_watermark.borrow();
        let (written, at) = self.hw_checkpoint;
        let due = force || at.elapsed() >= Duration::from_millis(HW_CHECKPOINT_INTERVAL_MS);
        if hw == written || !due || self.assignment.replicas.len() <= 1 {
            return;
        }
        match self.log.checkpoint_high_watermark(hw) {
            Ok(()) => self.hw_checkpoint = (hw, Instant::now()),
            Err(e) => {
                tracing::warn!(partition = %self.args.tp, error = %e, "high watermark checkpoint failed")
            }
        }
    }

    /// The ISR the high watermark waits for: the image's, plus any replica a
    /// pending change adds (a removal counts only once committed).
    fn maximal_isr(&self) -> Vec<i32> {
        let mut isr = self.assignment.isr.clone();
        if let Role::Leader(LeaderState {
            pending_isr: Some(pending),
            ..
        }) = &self.role
        {
            let added: Vec<i32> = pending
                .iter()
                .copied()
                .filter(|r| !isr.contains(r))
                .collect();
            isr.extend(added);
        }
        isr
    }

    /// Leader: moves the high watermark up to the least log end offset of
    /// the maximal ISR (never down), and answers the acks it releases.
    pub(super) fn maybe_advance_high_watermark(&mut self) {
        let Role::Leader(leader) = &self.role else {
            return;
        };
        let me = self.args.node_id;
        let mut hw = self.log.reader().log_end_offset();
        for replica in self.maximal_isr().into_iter().filter(|&r| r != me) {
            let end = leader.followers.get(&replica).map_or(-1, |f| f.log_end);
            hw = hw.min(end);
        }
        if hw > *self.high_watermark.borrow() {
            self.high_watermark.send_replace(hw);
            self.publish_stable();
        }
        self.release_acks();
    }

    /// Answers the queued acks, in offset order, whose fsync and high
    /// watermark have come.
    pub(super) fn release_acks(&mut self) {
        let flushed = self.log.flushed_offset();
        let hw = *self.high_watermark.borrow();
        let min = self.args.config.min_insync_replicas;
        let isr = self.assignment.isr.len() as i64;
        while let Some(front) = self.pending_acks.front() {
            let flush_ok = !front.needs_flush || front.last_offset < flushed;
            let replicas_ok = !front.needs_replicas || front.last_offset < hw;
            if !(flush_ok && replicas_ok) {
                break;
            }
            let Some(p) = self.pending_acks.pop_front() else {
                break;
            };
            let answer = if p.needs_replicas && isr < i64::from(min) {
                Err(PartitionError::NotEnoughReplicasAfterAppend { min })
            } else {
                Ok(p.outcome)
            };
            let _ = p.reply.send(answer);
        }
    }

    /// Leader: a follower fetched from `fetch_offset`. Kafka's rule for
    /// "caught up": it fetched from the log end, or from where the log ended
    /// at its previous fetch (then it was caught up at that fetch).
    pub(super) fn on_follower_fetched(
        &mut self,
        myself: &ActorRef<PartitionMsg>,
        replica: i32,
        fetch_offset: i64,
    ) {
        let end = self.log.reader().log_end_offset();
        let Role::Leader(leader) = &mut self.role else {
            return;
        };
        let Some(progress) = leader.followers.get_mut(&replica) else {
            return;
        };
        let now = Instant::now();
        if fetch_offset >= end {
            progress.last_caught_up = now;
        } else if fetch_offset >= progress.leader_end_at_last_fetch
            && progress.leader_end_at_last_fetch >= 0
        {
            progress.last_caught_up = progress.last_caught_up.max(progress.last_fetch);
        }
        progress.log_end = fetch_offset.min(end);
        progress.last_fetch = now;
        progress.leader_end_at_last_fetch = end;
        self.maybe_advance_high_watermark();
        if !self.assignment.isr.contains(&replica) {
            self.maybe_change_isr(myself);
        }
    }

    pub(super) fn on_isr_tick(&mut self, myself: &ActorRef<PartitionMsg>) {
        self.maybe_change_isr(myself);
        let end = self.log.reader().log_end_offset();
        let lag = match &self.role {
            Role::Leader(leader) => leader
                .followers
                .values()
                .map(|f| (end - f.log_end).max(0))
                .max()
                .unwrap_or(0),
            _ => -1,
        };
        self.stats.max_follower_lag.store(lag, Ordering::Relaxed);
    }

    /// Leader: proposes dropping ISR members that fell behind for
    /// `replica.lag.time.max.ms` and adding replicas that caught up, one
    /// proposal at a time.
    fn maybe_change_isr(&mut self, myself: &ActorRef<PartitionMsg>) {
        let hw = *self.high_watermark.borrow();
        let me = self.args.node_id;
        let lag = Duration::from_millis(self.args.replica_lag_time_max_ms);
        let Role::Leader(leader) = &mut self.role else {
            return;
        };
        let now = Instant::now();
        if leader.pending_isr.is_some() || now < leader.next_proposal {
            return;
        }
        let current = &self.assignment.isr;
        let new_isr: Vec<i32> = self
            .assignment
            .replicas
            .iter()
            .copied()
            .filter(|&r| {
                if r == me {
                    return true;
                }
                let Some(f) = leader.followers.get(&r) else {
                    return false;
                };
                if current.contains(&r) {
                    now.duration_since(f.last_caught_up) <= lag
                } else {
                    f.log_end >= hw
                        && f.log_end >= leader.epoch_start_offset
                        && now.duration_since(f.last_caught_up) <= lag
                }
            })
            .collect();
        let same = new_isr.len() == current.len() && new_isr.iter().all(|r| current.contains(r));
        if same {
            return;
        }
        tracing::info!(partition = %self.args.tp, isr = ?current, proposed = ?new_isr, "proposing an ISR change");
        leader.pending_isr = Some(new_isr.clone());
        let change = IsrChange {
            tp: self.args.tp.clone(),
            leader: me,
            leader_epoch: self.assignment.leader_epoch,
            expected_isr: current.clone(),
            new_isr,
        };
        let propose = (self.args.isr_changes)(change);
        let myself = myself.clone();
        tokio::spawn(async move {
            let result = propose.await;
            let _ = myself.cast(PartitionMsg::IsrChangeDone(result));
        });
    }

    /// The controller answered: the image brings a committed change; a
    /// refused one is forgotten and looked at again from the next image.
    pub(super) fn on_isr_change_done(
        &mut self,
        myself: &ActorRef<PartitionMsg>,
        result: Result<(), String>,
    ) {
        if let Err(e) = &result {
            tracing::info!(partition = %self.args.tp, error = %e, "ISR change not committed");
        }
        if let Role::Leader(leader) = &mut self.role {
            leader.pending_isr = None;
            if result.is_err() {
                leader.next_proposal = Instant::now() + Duration::from_millis(ISR_RETRY_MS);
            }
        }
        let latest = self.args.assignment.lock().clone();
        self.on_assignment(myself, latest);
    }

    /// Checks that this replica follows under `leader_epoch`.
    fn check_follower(&self, leader_epoch: i32) -> Result<(), PartitionError> {
        let current = self.assignment.leader_epoch;
        if leader_epoch < current {
            return Err(PartitionError::FencedLeaderEpoch {
                request: leader_epoch,
                current,
            });
        }
        if leader_epoch > current {
            return Err(PartitionError::UnknownLeaderEpoch {
                request: leader_epoch,
                current,
            });
        }
        match self.role {
            Role::Follower { .. } => Ok(()),
            _ => Err(PartitionError::NotLeader),
        }
    }

    /// Follower: appends fetched batches as the leader wrote them, keeping
    /// producer state, then takes the leader's high watermark and log start.
    pub(super) fn on_append_replica(
        &mut self,
        myself: &ActorRef<PartitionMsg>,
        leader_epoch: i32,
        records: Bytes,
        leader_high_watermark: i64,
        leader_log_start_offset: i64,
    ) -> Result<i64, ReplicaError> {
        if let Err(e) = self.check_follower(leader_epoch) {
            return Err(ReplicaError::Refused(e));
        }
        let mut position = 0;
        for batch in batches(&records) {
            let (view, len) = match batch {
                Ok(ok) => ok,
                // A fetch may end with a partial batch (KIP-74 limits): the
                // rest comes with the next fetch.
                Err(_) => break,
            };
            let bytes = records.slice(position..position + len);
            position += len;
            let info = match self.log.append_replica(bytes.clone()) {
                // The leader's log starts inside this batch and this log
                // starts empty where the leader's starts: start at the batch.
                Err(LogError::NonContiguous { expected, found })
                    if found < expected && reader_is_empty(&self.log) =>
                {
                    self.log.truncate_fully_and_start_at(found)?;
                    self.log.append_replica(bytes)?
                }
                other => other?,
            };
            let producer = ProducerBatch {
                producer_id: view.producer_id(),
                epoch: view.producer_epoch(),
                first_seq: view.base_sequence(),
                last_offset_delta: view.last_offset_delta(),
            };
            if producer.is_idempotent() {
                self.producers
                    .record(&producer, info.base_offset, info.max_timestamp);
            }
            if view.is_transactional() && producer.producer_id >= 0 {
                let (pid, epoch) = (producer.producer_id, producer.epoch);
                if !view.is_control() {
                    self.txns
                        .on_data(pid, epoch, info.base_offset, info.max_timestamp);
                } else if let Some(marker) = marker_of(&view) {
                    self.txns.on_marker(pid, marker, info.base_offset);
                    self.producers.on_marker(pid, epoch, info.max_timestamp);
                }
            }
        }
        let reader = self.log.reader();
        let end = reader.log_end_offset();
        self.log_end.send_replace(end);
        let hw = leader_high_watermark.min(end);
        if hw != *self.high_watermark.borrow() {
            self.high_watermark.send_replace(hw);
        }
        self.publish_stable();
        if leader_log_start_offset > reader.log_start_offset() && leader_log_start_offset <= hw {
            self.log.delete_records_before(leader_log_start_offset)?;
        }
        if position > 0 {
            self.arm_flush_tick(myself);
            self.producers
                .expire(now_ms(), crate::limits::PRODUCER_ID_EXPIRATION_MS);
        }
        Ok(end)
    }

    /// Follower: moves the log where the leader says it must be (Kafka's
    /// truncation on a diverging epoch), rebuilding producer state.
    pub(super) fn on_reset_replica(
        &mut self,
        leader_epoch: i32,
        reset: ReplicaReset,
    ) -> Result<i64, ReplicaError> {
        if let Err(e) = self.check_follower(leader_epoch) {
            return Err(ReplicaError::Refused(e));
        }
        let reader = self.log.reader();
        let end = reader.log_end_offset();
        match reset {
            ReplicaReset::Diverged { epoch, end_offset } => {
                let target = truncation_offset(
                    (epoch, end_offset),
                    reader.end_offset_for_epoch(epoch),
                    end,
                    *self.high_watermark.borrow(),
                );
                tracing::info!(partition = %self.args.tp, leader_epoch = epoch, leader_end_offset = end_offset, log_end_offset = end, truncate_to = target, "log diverges from the leader's; truncating");
                self.log.truncate_to(target)?;
            }
            ReplicaReset::TruncateTo(offset) => {
                tracing::info!(partition = %self.args.tp, log_end_offset = end, truncate_to = offset, "log ahead of the leader's; truncating");
                self.log.truncate_to(offset)?;
            }
            ReplicaReset::StartAt(offset) => {
                tracing::info!(partition = %self.args.tp, log_end_offset = end, start = offset, "log behind the leader's start; starting over");
                self.log.truncate_fully_and_start_at(offset)?;
            }
        }
        self.producers = rebuild_states(&self.log, &mut self.txns)?;
        let end = self.log.reader().log_end_offset();
        self.log_end.send_replace(end);
        if *self.high_watermark.borrow() > end {
            self.high_watermark.send_replace(end);
        }
        self.publish_stable();
        Ok(end)
    }

    /// Sends a follower operation's answer; a log that failed mid-write makes
    /// the actor restart and recover.
    pub(super) fn answer_replica(
        &mut self,
        result: Result<i64, ReplicaError>,
        reply: RpcReplyPort<Result<i64, PartitionError>>,
    ) -> Result<(), ActorProcessingErr> {
        match result {
            Ok(end) => {
                let _ = reply.send(Ok(end));
                Ok(())
            }
            Err(ReplicaError::Refused(e)) => {
                tracing::debug!(partition = %self.args.tp, error = %e, "replica operation refused");
                let _ = reply.send(Err(e));
                Ok(())
            }
            Err(ReplicaError::Log(
                e @ (LogError::NonContiguous { .. } | LogError::Corrupt { .. }),
            )) => {
                tracing::warn!(partition = %self.args.tp, error = %e, "fetched batches refused");
                let _ = reply.send(Err(PartitionError::CorruptMessage(e.to_string())));
                Ok(())
            }
            Err(ReplicaError::Log(e)) => {
                let _ = reply.send(Err(PartitionError::Storage(e.to_string())));
                Err(format!("replica write failed on {}: {e}", self.args.tp).into())
            }
        }
    }
}

/// Why a follower operation failed: refused (not a follower under that
/// epoch), or the log's error.
pub(super) enum ReplicaError {
    Refused(PartitionError),
    Log(LogError),
}

impl From<LogError> for ReplicaError {
    fn from(e: LogError) -> Self {
        Self::Log(e)
    }
}

fn reader_is_empty(log: &crate::log::Log) -> bool {
    let reader = log.reader();
    reader.log_start_offset() == reader.log_end_offset()
}

/// Where a follower truncates when the leader answers its fetch with a
/// diverging epoch (Kafka's `getOffsetTruncationState`): `leader` is the
/// leader's (epoch, end offset), `follower` this log's end offset for that
/// epoch. Unknown to the leader: back to the high watermark; unknown here, or
/// the same epoch: the lesser end; another epoch here: the end of this log's
/// epoch (the next fetch narrows it further).
pub fn truncation_offset(
    leader: (i32, i64),
    follower: (i32, i64),
    log_end: i64,
    high_watermark: i64,
) -> i64 {
    let (leader_epoch, leader_end) = leader;
    let (follower_epoch, follower_end) = follower;
    if leader_end < 0 {
        return high_watermark.min(log_end);
    }
    if leader_epoch < 0 || follower_epoch < 0 {
        return leader_end.min(log_end);
    }
    if follower_epoch != leader_epoch {
        return follower_end.min(log_end);
    }
    leader_end.min(follower_end).min(log_end)
}
