//! The TxnCoordinator actor: one per transactional id this broker
//! coordinates, under the [`TxnManager`](super::TxnManager). Its mailbox
//! orders the id's requests; each transition of [`state`](super::state) is
//! stored in `__transaction_state` (acks=all) before it is answered, and a
//! transaction that ends has its markers written by a task the actor owns,
//! after which the completion is stored too.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster_derive::RactorMessage;
use tokio::task::JoinHandle;

use super::log;
use super::markers::{self, MarkerJob};
use super::state::{self, EndOutcome, InitOutcome, Producer, TxnMetadata, TxnStatus, codes};
use crate::context::BrokerCtx;
use crate::group::coordinator::now_ms;
use crate::partition::txns::Marker;

/// Messages of a [`TxnCoordinator`].
#[derive(RactorMessage)]
pub enum TxnMsg {
    /// InitProducerId: answers the producer id and epoch, or an error code.
    InitProducerId {
        timeout_ms: i32,
        asker: Option<Producer>,
        reply: RpcReplyPort<Result<(i64, i16), i16>>,
    },
    /// AddPartitionsToTxn / AddOffsetsToTxn: answers an error code.
    AddPartitions {
        producer: Producer,
        partitions: Vec<(String, i32)>,
        kip588: bool,
        reply: RpcReplyPort<i16>,
    },
    /// EndTxn: answers an error code.
    EndTxn {
        producer: Producer,
        commit: bool,
        kip588: bool,
        reply: RpcReplyPort<i16>,
    },
    /// Every marker of the ending transaction is written.
    MarkersWritten,
    /// Time to look for an expired transaction (or an expired id).
    Tick,
    /// DescribeTransactions.
    Describe {
        reply: RpcReplyPort<Option<TxnMetadata>>,
    },
}

/// What a coordinator starts with.
#[derive(Clone)]
pub struct TxnCoordinatorArgs {
    /// Broker context.
    pub ctx: Arc<BrokerCtx>,
    /// The transactional id.
    pub transactional_id: String,
    /// Its `__transaction_state` partition.
    pub partition: i32,
    /// That partition's leader epoch: the coordinator epoch markers carry.
    pub coordinator_epoch: i32,
    /// Its stored metadata, if any.
    pub metadata: Option<TxnMetadata>,
    /// The manager, which parks an idle coordinator's metadata.
    pub manager: ActorRef<super::TxnManagerMsg>,
}

/// A coordinator with no transaction under way and no request for this
/// long hands its metadata back to the manager and stops.
pub const TXN_COORDINATOR_IDLE_MS: i64 = 60_000;

/// The coordinator actor.
pub struct TxnCoordinator;

/// A coordinator's state.
pub struct TxnCoordinatorState {
    args: TxnCoordinatorArgs,
    /// The last stored metadata.
    metadata: Option<TxnMetadata>,
    /// The task writing the ending transaction's markers.
    markers: Option<JoinHandle<()>>,
    /// When the last request came (ms).
    last_request_ms: i64,
}

impl Actor for TxnCoordinator {
    type Msg = TxnMsg;
    type State = TxnCoordinatorState;
    type Arguments = TxnCoordinatorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: TxnCoordinatorArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut state = TxnCoordinatorState {
            metadata: args.metadata.clone(),
            args,
            markers: None,
            last_request_ms: now_ms(),
        };
        // A transaction found preparing (stored before a failover or restart)
        // gets its markers written again: they are idempotent in effect.
        state.resume_markers(&myself);
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if !matches!(msg, TxnMsg::Tick | TxnMsg::MarkersWritten) {
            state.last_request_ms = now_ms();
        }
        match msg {
            TxnMsg::InitProducerId {
                timeout_ms,
                asker,
                reply,
            } => {
                let answer = state.on_init(&myself, timeout_ms, asker).await;
                let _ = reply.send(answer);
            }
            TxnMsg::AddPartitions {
                producer,
                partitions,
                kip588,
                reply,
            } => {
                let now = now_ms();
                let code = match state::add_partitions(
                    state.metadata.as_ref(),
                    producer,
                    &partitions,
                    kip588,
                    now,
                ) {
                    Ok(None) => codes::NONE,
                    Ok(Some(next)) => state.store(next, now).await.err().unwrap_or(codes::NONE),
                    Err(code) => code,
                };
                let _ = reply.send(code);
            }
            TxnMsg::EndTxn {
                producer,
                commit,
                kip588,
                reply,
            } => {
                let now = now_ms();
                let code =
                    match state::end_txn(state.metadata.as_ref(), producer, commit, kip588, now) {
                        Ok(EndOutcome::AlreadyDone) => codes::NONE,
                        Ok(EndOutcome::Prepare(next)) => match state.store(next, now).await {
                            Ok(()) => {
                                state.resume_markers(&myself);
                                codes::NONE
                            }
                            Err(code) => code,
                        },
                        Err(code) => code,
                    };
                let _ = reply.send(code);
            }
            TxnMsg::MarkersWritten => {
                state.markers = None;
                let now = now_ms();
                if let Some(done) = state
                    .metadata
                    .as_ref()
                    .and_then(|m| state::complete(m, now))
                    && let Err(code) = state.store(done, now).await
                {
                    // Stored nothing: write the markers again, then retry.
                    tracing::warn!(
                        transactional_id = state.args.transactional_id,
                        code,
                        "transaction completion not stored; retrying"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    state.resume_markers(&myself);
                }
            }
            TxnMsg::Tick => state.on_tick(&myself).await,
            TxnMsg::Describe { reply } => {
                let _ = reply.send(state.metadata.clone());
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(task) = state.markers.take() {
            task.abort();
        }
        Ok(())
    }
}

impl TxnCoordinatorState {
    async fn on_init(
        &mut self,
        myself: &ActorRef<TxnMsg>,
        timeout_ms: i32,
        asker: Option<Producer>,
    ) -> Result<(i64, i16), i16> {
        let ctx = &self.args.ctx;
        let fresh = if state::needs_new_producer_id(self.metadata.as_ref()) {
            ctx.next_producer_id().await
        } else {
            None
        };
        let now = now_ms();
        let max_timeout = ctx.config.transaction_max_timeout_ms;
        match state::init_producer_id(
            self.metadata.as_ref(),
            timeout_ms,
            max_timeout,
            asker,
            now,
            || fresh,
        ) {
            InitOutcome::Ready(next) => {
                let answer = (next.producer_id, next.producer_epoch);
                self.store(next, now).await?;
                Ok(answer)
            }
            InitOutcome::AbortFirst(next) => {
                tracing::info!(
                    transactional_id = self.args.transactional_id,
                    producer_id = next.producer_id,
                    "a new producer instance aborts the open transaction of the old one"
                );
                self.store(next, now).await?;
                self.resume_markers(myself);
                Err(codes::CONCURRENT_TRANSACTIONS)
            }
            InitOutcome::Error(code) => Err(code),
        }
    }

    async fn on_tick(&mut self, myself: &ActorRef<TxnMsg>) {
        let now = now_ms();
        let Some(current) = self.metadata.clone() else {
            return;
        };
        if let Some(aborting) = state::expire(&current, now) {
            tracing::info!(
                transactional_id = self.args.transactional_id,
                producer_id = current.producer_id,
                timeout_ms = current.timeout_ms,
                "transaction timed out; aborting it"
            );
            if self.store(aborting, now).await.is_ok() {
                self.resume_markers(myself);
            }
            return;
        }
        let settled = matches!(
            current.status,
            TxnStatus::Empty | TxnStatus::CompleteCommit | TxnStatus::CompleteAbort
        );
        if settled && self.markers.is_none() && now - self.last_request_ms > TXN_COORDINATOR_IDLE_MS
        {
            let park = super::TxnManagerMsg::Park {
                transactional_id: self.args.transactional_id.clone(),
            };
            let _ = self.args.manager.cast(park);
            return;
        }
        let expiration = self.args.ctx.config.transactional_id_expiration_ms;
        if state::is_expired_id(&current, now, expiration) {
            let ctx = &self.args.ctx;
            let id = &self.args.transactional_id;
            if log::store(&ctx.partitions, self.args.partition, id, None, now)
                .await
                .is_ok()
            {
                tracing::debug!(transactional_id = id, "transactional id expired");
                self.metadata = None;
                myself.stop(Some("transactional id expired".into()));
            }
        }
    }

    /// Stores `next` durably, then makes it current.
    async fn store(&mut self, next: TxnMetadata, now: i64) -> Result<(), i16> {
        let ctx = &self.args.ctx;
        log::store(
            &ctx.partitions,
            self.args.partition,
            &self.args.transactional_id,
            Some(&next),
            now,
        )
        .await?;
        self.metadata = Some(next);
        Ok(())
    }

    /// Starts writing the markers of a preparing transaction, unless that is
    /// already under way.
    fn resume_markers(&mut self, myself: &ActorRef<TxnMsg>) {
        let Some(m) = &self.metadata else { return };
        let marker = match m.status {
            TxnStatus::PrepareCommit => Marker::Commit,
            TxnStatus::PrepareAbort => Marker::Abort,
            _ => return,
        };
        if self.markers.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        let job = MarkerJob {
            producer_id: m.producer_id,
            producer_epoch: m.producer_epoch,
            marker,
            coordinator_epoch: self.args.coordinator_epoch,
            partitions: m.partitions.clone(),
        };
        let (ctx, myself) = (self.args.ctx.clone(), myself.clone());
        self.markers = Some(tokio::spawn(async move {
            markers::write_all(&ctx, &job).await;
            let _ = myself.cast(TxnMsg::MarkersWritten);
        }));
    }
}
