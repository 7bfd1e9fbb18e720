//! The Partition actor: the only writer of one partition's log.
//!
//! Appends are validated (magic 2, CRC, sizes), written, and acknowledged according
//! to the fsync policy: under the default policy an acks=all append is answered
//! once the flusher has fsynced it, everything else at once (and flushed within
//! 50 ms); `always` makes every ack wait; `never` leaves flushing to the OS. fsync
//! runs on the flusher thread, never on this actor's task.
//!
//! The actor is also its partition's replica: as leader it takes appends, tracks
//! its followers' fetch offsets to advance the high watermark and proposes ISR
//! changes; as follower it appends what its broker's fetcher brings from the
//! leader, with the leader's offsets and epochs (`replication.rs`).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use parking_lot::Mutex;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster_derive::RactorMessage;
use tokio::sync::watch;
use weir_client::protocol::records::{
    BatchError, CONTROL_MASK, RecordBatchView, TRANSACTIONAL_MASK, batches,
};

use super::PartitionError;
use super::producers::{ProducerBatch, ProducerStates, SequenceCheck};
use super::registry::{
    PartitionEntry, PartitionHandle, PartitionRegistry, PartitionStats, TopicPartition,
};
use super::replication::{IsrChanges, Role};
use super::txns::{AbortedIndex, Admission, Marker, TxnCheck, TxnState, marker_batch, marker_of};
use crate::controller::topic_config::TimestampType;
use crate::controller::{PartitionImage, TopicConfig};
use crate::limits::{FLUSH_INTERVAL_MS_DEFAULT, PENDING_ACKS_MAX, PRODUCER_ID_EXPIRATION_MS};
use crate::log::{
    CompactionDone, CompactionTxns, FileSystem, FlushRequest, FlusherHandle, FsyncPolicy, Log,
    LogConfig, LogError,
};

/// The result of an append, as a Produce response needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Offset given to the first record.
    pub base_offset: i64,
    /// The broker's timestamp for LogAppendTime topics, else -1.
    pub log_append_time_ms: i64,
    /// The log start offset after the append.
    pub log_start_offset: i64,
}

/// Reply port of an append.
pub type AppendReply = RpcReplyPort<Result<AppendOutcome, PartitionError>>;

/// Messages of a [`Partition`].
#[derive(RactorMessage)]
pub enum PartitionMsg {
    /// Append a record set (one or more v2 batches) from a Produce request.
    Append {
        records: Bytes,
        acks: i16,
        /// How a batch opening a transaction here is verified (KIP-890).
        check: TxnCheck,
        reply: AppendReply,
    },
    /// The flusher finished an fsync covering offsets below `up_to`.
    Flushed { result: Result<i64, String> },
    /// Time to flush what the default policy left unflushed.
    FlushTick,
    /// Time to apply retention (and, for compacted topics, start compaction).
    RetentionTick,
    /// A compaction job finished on its blocking thread.
    Compacted(Result<CompactionDone, LogError>),
    /// The topic's config changed.
    ConfigChanged(TopicConfig),
    /// DeleteRecords: move the log start offset up to `offset` (`None`: the
    /// high watermark); answers the new log start offset (the low watermark).
    DeleteRecords {
        offset: Option<i64>,
        reply: RpcReplyPort<Result<i64, PartitionError>>,
    },
    /// The partition's leader, epoch, replicas or ISR changed in the image
    /// (the new assignment is in the args' shared cell).
    AssignmentChanged,
    /// Leader: a follower fetched from `fetch_offset` (everything below it is
    /// on that replica).
    FollowerFetched { replica: i32, fetch_offset: i64 },
    /// Leader: time to look for ISR members to drop or replicas to add.
    IsrTick,
    /// Leader: the controller answered an ISR change proposal.
    IsrChangeDone(Result<(), String>),
    /// Follower: append batches fetched from the leader of `leader_epoch`, as
    /// the leader wrote them; answers the new log end offset.
    AppendReplica {
        leader_epoch: i32,
        records: Bytes,
        leader_high_watermark: i64,
        leader_log_start_offset: i64,
        reply: RpcReplyPort<Result<i64, PartitionError>>,
    },
    /// Follower: the leader says this log diverges from its own, or lies
    /// outside it; answers the log end offset to fetch from next.
    ResetReplica {
        leader_epoch: i32,
        reset: ReplicaReset,
        reply: RpcReplyPort<Result<i64, PartitionError>>,
    },
    /// DescribeProducers: the producers this replica remembers.
    DescribeProducers {
        reply: RpcReplyPort<Vec<ProducerDescription>>,
    },
    /// Leader: end `producer_id`'s transaction here with a COMMIT or ABORT
    /// marker (WriteTxnMarkers); answered once it is replicated and durable,
    /// as an acks=all append is.
    WriteMarker {
        producer_id: i64,
        producer_epoch: i16,
        marker: Marker,
        coordinator_epoch: i32,
        reply: AppendReply,
    },
}

/// One producer as DescribeProducers shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerDescription {
    /// Producer id.
    pub producer_id: i64,
    /// Its epoch.
    pub epoch: i16,
    /// The sequence of its last record (-1: none remembered).
    pub last_sequence: i32,
    /// Its last batch's timestamp (ms).
    pub last_timestamp_ms: i64,
    /// The first offset of its transaction open here, if any.
    pub txn_start_offset: Option<i64>,
}

/// How a follower's log must move before it fetches again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaReset {
    /// The leader's log ends `epoch` at `end_offset` (Fetch's diverging epoch):
    /// truncate to where both logs agree.
    Diverged { epoch: i32, end_offset: i64 },
    /// The fetch offset is below the leader's log start: start over there.
    StartAt(i64),
    /// The fetch offset is past the leader's log: truncate to its high watermark.
    TruncateTo(i64),
}

impl std::fmt::Debug for PartitionMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Append { records, acks, .. } => write!(
                f,
                "Append {{ records_len: {}, acks: {acks} }}",
                records.len()
            ),
            Self::Flushed { result } => write!(f, "Flushed {{ result: {result:?} }}"),
            Self::FlushTick => f.write_str("FlushTick"),
            Self::RetentionTick => f.write_str("RetentionTick"),
            Self::Compacted(r) => write!(f, "Compacted {{ ok: {} }}", r.is_ok()),
            Self::ConfigChanged(_) => f.write_str("ConfigChanged"),
            Self::DeleteRecords { offset, .. } => {
                write!(f, "DeleteRecords {{ offset: {offset:?} }}")
            }
            Self::AssignmentChanged => f.write_str("AssignmentChanged"),
            Self::FollowerFetched {
                replica,
                fetch_offset,
            } => write!(
                f,
                "FollowerFetched {{ replica: {replica}, fetch_offset: {fetch_offset} }}"
            ),
            Self::IsrTick => f.write_str("IsrTick"),
            Self::IsrChangeDone(r) => write!(f, "IsrChangeDone({r:?})"),
            Self::AppendReplica {
                leader_epoch,
                records,
                ..
            } => write!(
                f,
                "AppendReplica {{ leader_epoch: {leader_epoch}, records_len: {} }}",
                records.len()
            ),
            Self::ResetReplica {
                leader_epoch,
                reset,
                ..
            } => write!(
                f,
                "ResetReplica {{ leader_epoch: {leader_epoch}, reset: {reset:?} }}"
            ),
            Self::DescribeProducers { .. } => f.write_str("DescribeProducers"),
            Self::WriteMarker {
                producer_id,
                producer_epoch,
                marker,
                ..
            } => write!(
                f,
                "WriteMarker {{ producer_id: {producer_id}, producer_epoch: {producer_epoch}, marker: {marker:?} }}"
            ),
        }
    }
}

/// What a partition actor starts with (cloned for each incarnation).
#[derive(Clone)]
pub struct PartitionArgs {
    /// Which partition.
    pub tp: TopicPartition,
    /// Its log directory.
    pub dir: PathBuf,
    /// Effective topic config.
    pub config: TopicConfig,
    /// When appends are fsynced.
    pub fsync: FsyncPolicy,
    /// The broker's flusher thread.
    pub flusher: FlusherHandle,
    /// The file-system seam.
    pub fs: Arc<dyn FileSystem>,
    /// Where to register this partition for connections.
    pub registry: Arc<PartitionRegistry>,
    /// How often retention runs.
    pub retention_check_interval_ms: u64,
    /// This broker's id.
    pub node_id: i32,
    /// The partition's latest assignment (leader, epoch, replicas, ISR), kept
    /// current by the partition manager, so a restarted actor starts from it.
    pub assignment: Arc<Mutex<PartitionImage>>,
    /// A follower out of sync this long leaves the ISR (`replica.lag.time.max.ms`).
    pub replica_lag_time_max_ms: u64,
    /// Where ISR changes are proposed (the controller).
    pub isr_changes: IsrChanges,
}

/// The partition actor.
pub struct Partition;

/// An acknowledgement waiting for an fsync, or for the high watermark.
pub(super) struct PendingAck {
    /// The fsync must cover offsets up to and including this one.
    pub(super) last_offset: i64,
    /// It waits for an fsync covering `last_offset`.
    pub(super) needs_flush: bool,
    /// It waits for the high watermark to pass `last_offset` (acks=all).
    pub(super) needs_replicas: bool,
    /// The answer, sent once covered.
    pub(super) outcome: AppendOutcome,
    /// Where to send it.
    pub(super) reply: AppendReply,
}

/// A partition's state.
pub struct PartitionState {
    /// Start arguments.
    pub(super) args: PartitionArgs,
    /// The log this actor alone writes.
    pub(super) log: Log,
    /// Publishes the high watermark (wakes parked consumer fetches).
    pub(super) high_watermark: watch::Sender<i64>,
    /// Publishes the log end offset (wakes parked follower fetches).
    pub(super) log_end: watch::Sender<i64>,
    /// Publishes where this leader's epoch began (-1 when not leading).
    pub(super) epoch_start_offset: Arc<AtomicI64>,
    /// The high watermark last checkpointed, and when.
    pub(super) hw_checkpoint: (i64, Instant),
    /// The assignment this actor acts on (leader, epoch, replicas, ISR).
    pub(super) assignment: PartitionImage,
    /// Leader, follower, or neither.
    pub(super) role: Role,
    /// Acks waiting for an fsync or the high watermark, in offset order.
    pub(super) pending_acks: VecDeque<PendingAck>,
    /// An fsync request is with the flusher.
    flush_in_flight: bool,
    /// More appends arrived after the in-flight flush was taken.
    flush_again: bool,
    /// A FlushTick is scheduled.
    tick_armed: bool,
    /// A compaction job is running.
    compacting: bool,
    /// End of the sealed, flushed segments when the last compaction started, and
    /// when (ms).
    last_compaction: (i64, i64),
    /// Idempotent producers' sequences (rebuilt from the log at start).
    pub(super) producers: ProducerStates,
    /// Open and aborted transactions (rebuilt from the log at start).
    pub(super) txns: TxnState,
    /// Publishes the last stable offset (wakes parked read_committed fetches).
    pub(super) last_stable: watch::Sender<i64>,
    /// Figures for `/metrics`, shared with the handle.
    pub(super) stats: Arc<PartitionStats>,
}

impl Actor for Partition {
    type Msg = PartitionMsg;
    type State = PartitionState;
    type Arguments = PartitionArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: PartitionArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let (dir, fs, log_config) = (args.dir.clone(), args.fs.clone(), log_config(&args.config));
        // Recovery scans files: keep it off the async workers.
        let (log, producers, mut txns) = tokio::task::spawn_blocking(move || {
            let log = Log::open(&dir, log_config, fs)?;
            let mut txns = TxnState::new(AbortedIndex::default());
            let producers = rebuild_states(&log, &mut txns)?;
            Ok::<_, LogError>((log, producers, txns))
        })
        .await??;
        let reader = log.reader();
        let assignment = args.assignment.lock().clone();
        // A replica alone in its partition has everything replicated; one
        // with peers learns its high watermark from them (followers' fetches,
        // or the leader's answers).
        let alone = assignment.replicas == [args.node_id];
        let initial_hw = if alone {
            reader.log_end_offset()
        } else {
            log.checkpointed_high_watermark()
                .unwrap_or_else(|| reader.log_start_offset())
        };
        let (high_watermark, hw_rx) = watch::channel(initial_hw);
        let (log_end, log_end_rx) = watch::channel(reader.log_end_offset());
        let epoch_start_offset = Arc::new(AtomicI64::new(-1));
        txns.on_high_watermark(initial_hw);
        let (last_stable, last_stable_rx) = watch::channel(txns.last_stable_offset(initial_hw));
        let stats = Arc::new(PartitionStats::default());
        let handle = PartitionHandle {
            actor: myself.clone(),
            reader,
            high_watermark: hw_rx,
            log_end: log_end_rx,
            epoch_start_offset: epoch_start_offset.clone(),
            last_stable: last_stable_rx,
            aborted: txns.aborted().clone(),
            stats: stats.clone(),
        };
        args.registry
            .set(args.tp.clone(), PartitionEntry::Online(handle));
        let interval = Duration::from_millis(args.retention_check_interval_ms.max(1));
        myself.send_interval(interval, || PartitionMsg::RetentionTick);
        let isr_interval =
            Duration::from_millis((args.replica_lag_time_max_ms / 2).clamp(1, 1_000));
        myself.send_interval(isr_interval, || PartitionMsg::IsrTick);
        tracing::debug!(partition = %args.tp, log_end_offset = log.reader().log_end_offset(), "partition online");
        let mut state = PartitionState {
            args,
            log,
            high_watermark,
            log_end,
            epoch_start_offset,
            hw_checkpoint: (initial_hw, Instant::now()),
            assignment: PartitionImage::default(),
            role: Role::None,
            pending_acks: VecDeque::new(),
            flush_in_flight: false,
            flush_again: false,
            tick_armed: false,
            compacting: false,
            last_compaction: (-1, 0),
            producers,
            txns,
            last_stable,
            stats,
        };
        state.on_assignment(&myself, assignment);
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            PartitionMsg::Append {
                records,
                acks,
                check,
                reply,
            } => state.on_append(&myself, records, (acks, check), reply)?,
            PartitionMsg::Flushed { result } => state.on_flushed(&myself, result)?,
            PartitionMsg::FlushTick => {
                state.tick_armed = false;
                state.request_flush(&myself);
            }
            PartitionMsg::RetentionTick => {
                state.producers.expire(now_ms(), PRODUCER_ID_EXPIRATION_MS);
                state.on_retention()?;
                state.maybe_compact(&myself);
            }
            PartitionMsg::Compacted(result) => state.on_compacted(result)?,
            PartitionMsg::ConfigChanged(config) => {
                state.log.set_config(log_config(&config));
                state.args.config = config;
            }
            PartitionMsg::DeleteRecords { offset, reply } => {
                state.on_delete_records(offset, reply)?;
            }
            PartitionMsg::AssignmentChanged => {
                let assignment = state.args.assignment.lock().clone();
                state.on_assignment(&myself, assignment);
            }
            PartitionMsg::FollowerFetched {
                replica,
                fetch_offset,
            } => state.on_follower_fetched(&myself, replica, fetch_offset),
            PartitionMsg::IsrTick => {
                state.on_isr_tick(&myself);
                state.checkpoint_high_watermark(false);
            }
            PartitionMsg::IsrChangeDone(result) => state.on_isr_change_done(&myself, result),
            PartitionMsg::AppendReplica {
                leader_epoch,
                records,
                leader_high_watermark,
                leader_log_start_offset,
                reply,
            } => {
                let result = state.on_append_replica(
                    &myself,
                    leader_epoch,
                    records,
                    leader_high_watermark,
                    leader_log_start_offset,
                );
                state.answer_replica(result, reply)?;
            }
            PartitionMsg::ResetReplica {
                leader_epoch,
                reset,
                reply,
            } => {
                let result = state.on_reset_replica(leader_epoch, reset);
                state.answer_replica(result, reply)?;
            }
            PartitionMsg::DescribeProducers { reply } => {
                let open = state.txns.open();
                let all = state
                    .producers
                    .describe()
                    .into_iter()
                    .map(|(producer_id, epoch, last_sequence, last_timestamp_ms)| {
                        ProducerDescription {
                            producer_id,
                            epoch,
                            last_sequence,
                            last_timestamp_ms,
                            txn_start_offset: open.get(&producer_id).map(|t| t.first_offset),
                        }
                    })
                    .collect();
                let _ = reply.send(all);
            }
            PartitionMsg::WriteMarker {
                producer_id,
                producer_epoch,
                marker,
                coordinator_epoch,
                reply,
            } => state.on_write_marker(
                &myself,
                (producer_id, producer_epoch),
                marker,
                coordinator_epoch,
                reply,
            )?,
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        for pending in state.pending_acks.drain(..) {
            let _ = pending.reply.send(Err(PartitionError::NotAvailable));
        }
        state.checkpoint_high_watermark(true);
        Ok(())
    }
}

impl PartitionState {
    fn on_append(
        &mut self,
        myself: &ActorRef<PartitionMsg>,
        records: Bytes,
        (acks, check): (i16, TxnCheck),
        reply: AppendReply,
    ) -> Result<(), ActorProcessingErr> {
        if self.pending_acks.len() >= PENDING_ACKS_MAX {
            let _ = reply.send(Err(PartitionError::Timeout));
            return Ok(());
        }
        if let Err(e) = self.check_can_append(acks) {
            let _ = reply.send(Err(e));
            return Ok(());
        }
        let views = match validate(&records, self.args.config.max_message_bytes as usize) {
            Ok(views) => views,
            Err(e) => {
                tracing::debug!(partition = %self.args.tp, error = %e, "append refused");
                let _ = reply.send(Err(e));
                return Ok(());
            }
        };
        let idempotent = match self.check_sequences(&views) {
            Verdict::Append(idempotent) => idempotent,
            Verdict::Duplicate(offsets) => {
                self.answer_duplicate(myself, acks, offsets, reply);
                return Ok(());
            }
            Verdict::Refuse(e) => {
                tracing::debug!(partition = %self.args.tp, error = %e, "append refused");
                let _ = reply.send(Err(e));
                return Ok(());
            }
        };
        if let Some((_, facts)) = views.iter().find(|(_, f)| f.transactional) {
            let p = facts.producer;
            if let Admission::Verify(guard) = self.txns.admit(p.producer_id, check) {
                let _ = reply.send(Err(PartitionError::NeedsVerification {
                    producer_id: p.producer_id,
                    epoch: p.epoch,
                    guard,
                }));
                return Ok(());
            }
        }
        let append_time =
            (self.args.config.timestamp_type == TimestampType::LogAppendTime).then(now_ms);
        let mut first = None;
        let mut last_offset = -1;
        let leader_epoch = self.assignment.leader_epoch;
        for (range, facts) in views {
            match self
                .log
                .append(records.slice(range), append_time, leader_epoch)
            {
                Ok(info) => {
                    first.get_or_insert(info.base_offset);
                    last_offset = info.last_offset;
                    if let Some((batch, max_timestamp)) = idempotent {
                        let stamp = append_time.unwrap_or(max_timestamp);
                        self.producers.record(&batch, info.base_offset, stamp);
                    }
                    if facts.transactional {
                        let p = facts.producer;
                        self.txns
                            .on_data(p.producer_id, p.epoch, info.base_offset, now_ms());
                    }
                }
                Err(e) => return self.fail_append(e, reply),
            }
        }
        let reader = self.log.reader();
        self.log_end.send_replace(reader.log_end_offset());
        self.maybe_advance_high_watermark();
        self.publish_stable();
        let outcome = AppendOutcome {
            base_offset: first.unwrap_or(-1),
            log_append_time_ms: append_time.unwrap_or(-1),
            log_start_offset: reader.log_start_offset(),
        };
        self.acknowledge(myself, acks, last_offset, outcome, reply);
        Ok(())
    }

    /// Leader: ends a transaction here with a marker, acknowledged as an
    /// acks=all append is (the coordinator counts the transaction complete
    /// only when every marker is replicated).
    fn on_write_marker(
        &mut self,
        myself: &ActorRef<PartitionMsg>,
        (producer_id, producer_epoch): (i64, i16),
        marker: Marker,
        coordinator_epoch: i32,
        reply: AppendReply,
    ) -> Result<(), ActorProcessingErr> {
        if self.pending_acks.len() >= PENDING_ACKS_MAX {
            let _ = reply.send(Err(PartitionError::Timeout));
            return Ok(());
        }
        if let Err(e) = self.check_can_append(-1) {
            let _ = reply.send(Err(e));
            return Ok(());
        }
        if let Some(current) = self.producers.epoch_of(producer_id)
            && producer_epoch < current
        {
            let why = format!(
                "marker of producer {producer_id} epoch {producer_epoch} is older than the current epoch {current}"
            );
            let _ = reply.send(Err(PartitionError::InvalidProducerEpoch(why)));
            return Ok(());
        }
        let now = now_ms();
        let batch = marker_batch(producer_id, producer_epoch, marker, coordinator_epoch, now);
        let info = match self.log.append(batch, None, self.assignment.leader_epoch) {
            Ok(info) => info,
            Err(e) => return self.fail_append(e, reply),
        };
        self.producers.on_marker(producer_id, producer_epoch, now);
        self.txns.on_marker(producer_id, marker, info.base_offset);
        tracing::debug!(partition = %self.args.tp, producer_id, producer_epoch, ?marker, offset = info.base_offset, "transaction marker written");
        let reader = self.log.reader();
        self.log_end.send_replace(reader.log_end_offset());
        self.maybe_advance_high_watermark();
        self.publish_stable();
        let outcome = AppendOutcome {
            base_offset: info.base_offset,
            log_append_time_ms: -1,
            log_start_offset: reader.log_start_offset(),
        };
        self.acknowledge(myself, -1, info.last_offset, outcome, reply);
        Ok(())
    }

    /// Publishes the last stable offset after the high watermark or the
    /// open transactions changed.
    pub(super) fn publish_stable(&mut self) {
        let hw = *self.high_watermark.borrow();
        self.txns.on_high_watermark(hw);
        let lso = self.txns.last_stable_offset(hw);
        self.last_stable.send_if_modified(|current| {
            let changed = *current != lso;
            *current = lso;
            changed
        });
        self.stats
            .producer_ids
            .store(self.producers.len(), Ordering::Relaxed);
    }

    /// The idempotence verdict on a record set.
    fn check_sequences(&self, views: &[(std::ops::Range<usize>, BatchFacts)]) -> Verdict {
        // Transactional batches without sequences (a coordinator's offset
        // commits) are still fenced by their producer's epoch.
        for (_, facts) in views.iter().filter(|(_, f)| f.transactional) {
            let p = facts.producer;
            if let Some(current) = self.producers.epoch_of(p.producer_id)
                && p.epoch < current
            {
                return Verdict::Refuse(PartitionError::InvalidProducerEpoch(format!(
                    "producer {} epoch {} is older than the current epoch {current}",
                    p.producer_id, p.epoch
                )));
            }
        }
        if !views.iter().any(|(_, f)| f.producer.is_idempotent()) {
            return Verdict::Append(None);
        }
        // Kafka's rule too: sequences are checked per batch, and a producer
        // sends one batch per partition per request.
        if views.len() > 1 {
            return Verdict::Refuse(PartitionError::InvalidRecord(
                "an idempotent produce holds exactly one batch per partition".into(),
            ));
        }
        let facts = views[0].1;
        match self.producers.check(&facts.producer) {
            SequenceCheck::Append => Verdict::Append(Some((facts.producer, facts.max_timestamp))),
            SequenceCheck::Duplicate {
                base_offset,
                last_offset,
            } => Verdict::Duplicate((base_offset, last_offset)),
            SequenceCheck::Fenced(why) => {
                Verdict::Refuse(PartitionError::InvalidProducerEpoch(why))
            }
            SequenceCheck::OutOfOrder(why) => {
                Verdict::Refuse(PartitionError::OutOfOrderSequence(why))
            }
        }
    }

    /// Answers a retried batch with the offsets it got the first time, once
    /// they are as durable as `acks` asks.
    fn answer_duplicate(
        &mut self,
        myself: &ActorRef<PartitionMsg>,
        acks: i16,
        (base_offset, last_offset): (i64, i64),
        reply: AppendReply,
    ) {
        tracing::debug!(partition = %self.args.tp, base_offset, "duplicate batch answered with its original offsets");
        let outcome = AppendOutcome {
            base_offset,
            log_append_time_ms: -1,
            log_start_offset: self.log.reader().log_start_offset(),
        };
        if last_offset < self.log.flushed_offset() && last_offset < *self.high_watermark.borrow() {
            let _ = reply.send(Ok(outcome));
        } else {
            self.acknowledge(myself, acks, last_offset, outcome, reply);
        }
    }

    /// An append the log refused: a validation error is the client's; anything
    /// else means the log can't be trusted and the actor restarts to recover.
    fn fail_append(&mut self, e: LogError, reply: AppendReply) -> Result<(), ActorProcessingErr> {
        match e {
            LogError::Corrupt { .. } => {
                let _ = reply.send(Err(PartitionError::CorruptMessage(e.to_string())));
                Ok(())
            }
            LogError::MessageTooLarge { size, max } => {
                let _ = reply.send(Err(PartitionError::MessageTooLarge { size, max }));
                Ok(())
            }
            other => {
                let _ = reply.send(Err(PartitionError::Storage(other.to_string())));
                Err(format!("append failed on {}: {other}", self.args.tp).into())
            }
        }
    }

    /// Answers an append now, or queues the answer until the fsync and (for
    /// acks=all) the high watermark cover it.
    fn acknowledge(
        &mut self,
        myself: &ActorRef<PartitionMsg>,
        acks: i16,
        last_offset: i64,
        outcome: AppendOutcome,
        reply: AppendReply,
    ) {
        let needs_flush = match self.args.fsync {
            FsyncPolicy::Always => true,
            FsyncPolicy::Default => acks == -1,
            FsyncPolicy::Never | FsyncPolicy::IntervalMs(_) => false,
        };
        let needs_replicas = acks == -1;
        if needs_flush || needs_replicas {
            self.pending_acks.push_back(PendingAck {
                last_offset,
                needs_flush,
                needs_replicas,
                outcome,
                reply,
            });
            if needs_flush {
                self.request_flush(myself);
            } else {
                self.arm_flush_tick(myself);
            }
            self.release_acks();
            return;
        }
        let _ = reply.send(Ok(outcome));
        self.arm_flush_tick(myself);
    }

    /// Schedules the flush the policy promises for unflushed appends.
    pub(super) fn arm_flush_tick(&mut self, myself: &ActorRef<PartitionMsg>) {
        match self.args.fsync {
            FsyncPolicy::Default => self.arm_tick(myself, FLUSH_INTERVAL_MS_DEFAULT),
            FsyncPolicy::IntervalMs(ms) => self.arm_tick(myself, ms),
            FsyncPolicy::Always | FsyncPolicy::Never => {}
        }
    }

    fn arm_tick(&mut self, myself: &ActorRef<PartitionMsg>, ms: u64) {
        if !self.tick_armed {
            self.tick_armed = true;
            myself.send_after(Duration::from_millis(ms), || PartitionMsg::FlushTick);
        }
    }

    /// Hands an fsync to the flusher unless one is already running (then one more
    /// follows it: group commit covers everything appended meanwhile).
    pub(super) fn request_flush(&mut self, myself: &ActorRef<PartitionMsg>) {
        if self.flush_in_flight {
            self.flush_again = true;
            return;
        }
        let Some(target) = self.log.flush_handle() else {
            return; // nothing unflushed
        };
        let actor = myself.clone();
        let request = FlushRequest {
            target,
            done: Box::new(move |result| {
                let result = result.map_err(|e| e.to_string());
                let _ = actor.cast(PartitionMsg::Flushed { result });
            }),
        };
        self.flush_in_flight = true;
        self.flush_again = false;
        if self.args.flusher.submit(request).is_err() {
            self.flush_in_flight = false;
            tracing::error!(partition = %self.args.tp, "flusher is gone");
        }
    }

    fn on_flushed(
        &mut self,
        myself: &ActorRef<PartitionMsg>,
        result: Result<i64, String>,
    ) -> Result<(), ActorProcessingErr> {
        self.flush_in_flight = false;
        let up_to = match result {
            Ok(up_to) => up_to,
            Err(e) => {
                // fsync failure is fatal for this log: never pretend it succeeded.
                for pending in self.pending_acks.drain(..) {
                    let _ = pending.reply.send(Err(PartitionError::Storage(e.clone())));
                }
                return Err(format!("fsync failed on {}: {e}", self.args.tp).into());
            }
        };
        self.log.mark_flushed(up_to)?;
        self.release_acks();
        let waiting_flush = self
            .pending_acks
            .iter()
            .any(|p| p.needs_flush && p.last_offset >= self.log.flushed_offset());
        if self.flush_again || waiting_flush {
            self.request_flush(myself);
        }
        Ok(())
    }

    /// Starts a compaction job on a blocking thread when the topic is compacted
    /// and a segment was sealed (and flushed) since the last job, or when the
    /// last job is older than the tombstone retention (tombstones it kept may
    /// have expired since). Every job reads the whole log, so it never runs
    /// merely because appends arrived.
    fn maybe_compact(&mut self, myself: &ActorRef<PartitionMsg>) {
        if self.compacting || !self.args.config.cleanup_compact {
            return;
        }
        let now = now_ms();
        let txns = CompactionTxns {
            stable_offset: *self.last_stable.borrow(),
            aborted: self
                .txns
                .aborted()
                .all()
                .into_iter()
                .map(|t| (t.producer_id, t.first_offset, t.last_offset))
                .collect(),
        };
        let Some(job) = self.log.compaction_job(now, txns) else {
            return;
        };
        let end = job.cleanable_end();
        let (last_end, last_ms) = self.last_compaction;
        let rerun_ms = self
            .args
            .config
            .delete_retention_ms
            .max(COMPACTION_RERUN_MS_MIN);
        if end <= last_end && now - last_ms < rerun_ms {
            return;
        }
        self.compacting = true;
        self.last_compaction = (end, now);
        let myself = myself.clone();
        tokio::task::spawn_blocking(move || {
            let _ = myself.cast(PartitionMsg::Compacted(job.run()));
        });
    }

    fn on_compacted(
        &mut self,
        result: Result<CompactionDone, LogError>,
    ) -> Result<(), ActorProcessingErr> {
        self.compacting = false;
        let stats = self.log.finish_compaction(result?)?;
        if stats.segments_before > 0 {
            tracing::info!(partition = %self.args.tp, segments_before = stats.segments_before, segments_after = stats.segments_after, bytes_before = stats.bytes_before, bytes_after = stats.bytes_after, records_removed = stats.records_removed, "compacted");
        }
        Ok(())
    }

    /// Deletes the records below `offset` (`None`: all of them, up to the high
    /// watermark); an offset beyond the high watermark, or negative, is
    /// OFFSET_OUT_OF_RANGE, as in Kafka. A failed segment deletion means the log
    /// can't be trusted: the actor restarts and recovers.
    fn on_delete_records(
        &mut self,
        offset: Option<i64>,
        reply: RpcReplyPort<Result<i64, PartitionError>>,
    ) -> Result<(), ActorProcessingErr> {
        let high_watermark = *self.high_watermark.borrow();
        let offset = offset.unwrap_or(high_watermark);
        if !(0..=high_watermark).contains(&offset) {
            let _ = reply.send(Err(PartitionError::OffsetOutOfRange));
            return Ok(());
        }
        match self.log.delete_records_before(offset) {
            Ok(log_start_offset) => {
                self.txns.on_log_start(log_start_offset);
                tracing::info!(partition = %self.args.tp, log_start_offset, "records deleted");
                let _ = reply.send(Ok(log_start_offset));
                Ok(())
            }
            Err(LogError::OffsetOutOfRange { .. }) => {
                let _ = reply.send(Err(PartitionError::OffsetOutOfRange));
                Ok(())
            }
            Err(e) => {
                let _ = reply.send(Err(PartitionError::Storage(e.to_string())));
                Err(format!("deleting records of {} failed: {e}", self.args.tp).into())
            }
        }
    }

    fn on_retention(&mut self) -> Result<(), ActorProcessingErr> {
        if !self.args.config.cleanup_delete {
            return Ok(());
        }
        let deleted = self.log.apply_retention(now_ms())?;
        self.txns.on_log_start(self.log.reader().log_start_offset());
        if deleted > 0 {
            tracing::info!(partition = %self.args.tp, deleted, "retention deleted segments");
        }
        Ok(())
    }
}

/// Least time between two compactions of a partition with nothing newly sealed.
const COMPACTION_RERUN_MS_MIN: i64 = 600_000;

/// What to do with a record set, as far as idempotence goes.
enum Verdict {
    /// Append it; for an idempotent batch, record it with its max timestamp.
    Append(Option<(ProducerBatch, i64)>),
    /// A retry of a batch appended at these (first, last) offsets.
    Duplicate((i64, i64)),
    /// Refuse it.
    Refuse(PartitionError),
}

/// What an append needs to know of a batch besides its bytes.
#[derive(Debug, Clone, Copy)]
struct BatchFacts {
    /// Its producer fields.
    producer: ProducerBatch,
    /// Its max timestamp.
    max_timestamp: i64,
    /// Part of a transaction.
    transactional: bool,
}

/// Splits a record set into whole v2 batches, checking each (magic, CRC, size).
/// The log checks again when it writes (assertions in pairs).
fn validate(
    records: &Bytes,
    max_batch_bytes: usize,
) -> Result<Vec<(std::ops::Range<usize>, BatchFacts)>, PartitionError> {
    let mut ranges = Vec::new();
    let mut position = 0;
    for batch in batches(records) {
        let (view, len): (RecordBatchView, usize) = batch.map_err(|e| match e {
            BatchError::UnsupportedMagic { .. } => PartitionError::UnsupportedMessageFormat,
            other => PartitionError::CorruptMessage(other.to_string()),
        })?;
        if len > max_batch_bytes {
            return Err(PartitionError::MessageTooLarge {
                size: len,
                max: max_batch_bytes,
            });
        }
        // Producer rules (Kafka's LogValidator): at least one record, and one
        // offset per record.
        view.check_produced()
            .map_err(|e| PartitionError::InvalidRecord(e.to_string()))?;
        // Markers are the transaction coordinator's to write (WriteTxnMarkers),
        // never a producer's; a transaction needs a producer id.
        if view.is_control() {
            return Err(PartitionError::InvalidRecord(
                "clients may not write control batches".into(),
            ));
        }
        if view.is_transactional() && view.producer_id() < 0 {
            return Err(PartitionError::InvalidRecord(
                "a transactional batch needs a producer id".into(),
            ));
        }
        let facts = BatchFacts {
            producer: ProducerBatch {
                producer_id: view.producer_id(),
                epoch: view.producer_epoch(),
                first_seq: view.base_sequence(),
                last_offset_delta: view.last_offset_delta(),
            },
            max_timestamp: view.max_timestamp(),
            transactional: view.is_transactional(),
        };
        ranges.push((position..position + len, facts));
        position += len;
    }
    if ranges.is_empty() {
        return Err(PartitionError::CorruptMessage("empty record set".into()));
    }
    Ok(ranges)
}

/// A transactional batch met while scanning headers.
struct TxnBatch {
    producer_id: i64,
    epoch: i16,
    base_offset: i64,
    max_timestamp: i64,
    control: bool,
}

/// Producer and transaction state from the batch headers of a freshly opened
/// (or truncated) log. A marker's type is in its record, so each control
/// batch (one per transaction and partition) is read back whole.
pub(super) fn rebuild_states(log: &Log, txns: &mut TxnState) -> Result<ProducerStates, LogError> {
    let mut producers = ProducerStates::default();
    let mut transactional = Vec::new();
    log.scan_headers(|h| {
        let batch = ProducerBatch {
            producer_id: h.producer_id,
            epoch: h.producer_epoch,
            first_seq: h.base_sequence,
            last_offset_delta: h.last_offset_delta,
        };
        if batch.is_idempotent() {
            producers.record(&batch, h.base_offset, h.max_timestamp);
        }
        if h.attributes & TRANSACTIONAL_MASK != 0 && h.producer_id >= 0 {
            transactional.push(TxnBatch {
                producer_id: h.producer_id,
                epoch: h.producer_epoch,
                base_offset: h.base_offset,
                max_timestamp: h.max_timestamp,
                control: h.attributes & CONTROL_MASK != 0,
            });
        }
    })?;
    let reader = log.reader();
    // Ended transactions whose marker is below the checkpointed high
    // watermark are replicated: they never hold the LSO back again.
    let replicated = log
        .checkpointed_high_watermark()
        .unwrap_or_else(|| reader.log_start_offset())
        .min(reader.log_end_offset());
    let mut replay = txns.reset(replicated);
    for b in transactional {
        if !b.control {
            replay.data(b.producer_id, b.epoch, b.base_offset, b.max_timestamp);
            continue;
        }
        let read = reader
            .read(b.base_offset, CONTROL_READ_BYTES, i64::MAX, true)
            .map_err(|e| LogError::Corrupt {
                base_offset: b.base_offset,
                position: 0,
                reason: format!("reading the marker back: {e}"),
            })?;
        let marker = batches(&read.records)
            .next()
            .and_then(Result::ok)
            .and_then(|(view, _)| marker_of(&view));
        if let Some(marker) = marker {
            replay.marker(b.producer_id, marker, b.base_offset);
            producers.on_marker(b.producer_id, b.epoch, b.max_timestamp);
        }
    }
    replay.finish();
    Ok(producers)
}

/// Bytes read to get one marker back (a control batch is about 80).
const CONTROL_READ_BYTES: usize = 4096;

fn log_config(config: &TopicConfig) -> LogConfig {
    LogConfig {
        segment_bytes: config.segment_bytes,
        segment_ms: Some(config.segment_ms),
        retention_ms: (config.retention_ms >= 0).then_some(config.retention_ms),
        retention_bytes: (config.retention_bytes >= 0).then_some(config.retention_bytes),
        max_message_bytes: config.max_message_bytes,
        compact: config.cleanup_compact,
        delete_retention_ms: config.delete_retention_ms,
        ..LogConfig::default()
    }
}

pub(super) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
