//! The TxnManager actor: routes each transactional id's requests to its
//! [`TxnCoordinator`], started on demand, for the `__transaction_state`
//! partitions this broker leads. Taking the lead of a partition replays it
//! (the ids' stored metadata); losing it stops its coordinators, as Kafka's
//! transaction coordinator loads and unloads partitions on leadership changes.
//! Transactions found open or ending after a replay get a coordinator at
//! once, so their timeouts run and their markers are written.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use ractor_cluster_derive::RactorMessage;

use super::coordinator::{TxnCoordinator, TxnCoordinatorArgs, TxnMsg};
use super::log::{self, PartitionTxns, TXN_STATE_TOPIC};
use super::state::{self, TxnMetadata, TxnStatus, codes};
use crate::context::BrokerCtx;
use crate::limits::TOPIC_READY_WAIT_MS;
use crate::partition::PartitionEntry;

/// Transactional ids with a running coordinator on one broker at most.
pub const TXN_COORDINATORS_MAX: usize = 100_000;

/// Messages of the [`TxnManager`].
#[derive(RactorMessage)]
pub enum TxnManagerMsg {
    /// Forward `msg` to the id's coordinator; `routed` says whether it was,
    /// or the Kafka error code to answer.
    Route {
        transactional_id: String,
        /// Start a coordinator for an id with no metadata (InitProducerId).
        create: bool,
        msg: TxnMsg,
        routed: RpcReplyPort<Result<(), i16>>,
    },
    /// The `__transaction_state` partitions this broker leads now.
    LeadershipChanged(BTreeMap<i32, i32>),
    /// A led partition has been replayed under `epoch`.
    PartitionLoaded {
        partition: i32,
        epoch: i32,
        txns: PartitionTxns,
    },
    /// Time to expire transactions.
    Tick,
    /// An idle coordinator hands back its id's metadata: it is stopped and
    /// the metadata parked until the id's next request.
    Park { transactional_id: String },
    /// ListTransactions: every id known here, with its metadata.
    List {
        reply: RpcReplyPort<Vec<(String, TxnMetadata)>>,
    },
}

/// What the manager starts with.
#[derive(Clone)]
pub struct TxnManagerArgs {
    /// Broker context.
    pub ctx: Arc<BrokerCtx>,
}

/// The manager actor.
pub struct TxnManager;

/// A replayed partition: the ids without a coordinator.
struct LoadedPartition {
    parked: HashMap<String, TxnMetadata>,
}

/// The manager's state.
pub struct TxnManagerState {
    ctx: Arc<BrokerCtx>,
    /// Partitions led, with their leader epochs.
    led: BTreeMap<i32, i32>,
    /// Partitions replayed under their current epoch.
    loaded: BTreeMap<i32, LoadedPartition>,
    /// Running coordinators by transactional id.
    coordinators: HashMap<String, ActorRef<TxnMsg>>,
    /// Transactional ids by coordinator actor id.
    by_actor: HashMap<ActorId, String>,
}

impl Actor for TxnManager {
    type Msg = TxnManagerMsg;
    type State = TxnManagerState;
    type Arguments = TxnManagerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: TxnManagerArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let manager = myself.clone();
        args.ctx.watch_led_partitions(TXN_STATE_TOPIC, move |led| {
            manager.cast(TxnManagerMsg::LeadershipChanged(led)).is_ok()
        });
        let interval = Duration::from_millis(
            args.ctx
                .config
                .transaction_abort_timed_out_transaction_cleanup_interval_ms
                .max(10),
        );
        myself.send_interval(interval, || TxnManagerMsg::Tick);
        Ok(TxnManagerState {
            ctx: args.ctx,
            led: BTreeMap::new(),
            loaded: BTreeMap::new(),
            coordinators: HashMap::new(),
            by_actor: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            TxnManagerMsg::Route {
                transactional_id,
                create,
                msg,
                routed,
            } => {
                let result = state.route(&myself, transactional_id, create, msg).await;
                let _ = routed.send(result);
            }
            TxnManagerMsg::LeadershipChanged(led) => state.on_leadership(&myself, led),
            TxnManagerMsg::PartitionLoaded {
                partition,
                epoch,
                txns,
            } => state.on_loaded(&myself, partition, epoch, txns).await,
            TxnManagerMsg::Tick => {
                for coordinator in state.coordinators.values() {
                    let _ = coordinator.cast(TxnMsg::Tick);
                }
                state.expire_parked();
            }
            TxnManagerMsg::Park { transactional_id } => state.park(transactional_id).await,
            TxnManagerMsg::List { reply } => {
                let _ = reply.send(state.list().await);
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorTerminated(cell, _, _) => {
                if let Some(id) = state.by_actor.remove(&cell.get_id()) {
                    state.coordinators.remove(&id);
                }
            }
            SupervisionEvent::ActorFailed(cell, error) => {
                state.ctx.metrics.actor_restarted("txn-coordinators");
                // Its metadata in memory is lost: replay its partition.
                if let Some(id) = state.by_actor.remove(&cell.get_id()) {
                    tracing::warn!(transactional_id = id, %error, "transaction coordinator failed; replaying its partition");
                    state.coordinators.remove(&id);
                    let partition = state.partition_of(&id);
                    if let Some(&epoch) = state.led.get(&partition) {
                        state.unload(partition);
                        load(state.ctx.clone(), myself.clone(), partition, epoch);
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

impl TxnManagerState {
    fn partition_of(&self, transactional_id: &str) -> i32 {
        log::partition_for(
            transactional_id,
            self.ctx.config.transaction_state_log_num_partitions,
        )
    }

    async fn route(
        &mut self,
        myself: &ActorRef<TxnManagerMsg>,
        transactional_id: String,
        create: bool,
        msg: TxnMsg,
    ) -> Result<(), i16> {
        if let Some(coordinator) = self.coordinators.get(&transactional_id) {
            return coordinator
                .cast(msg)
                .map_err(|_| codes::COORDINATOR_NOT_AVAILABLE);
        }
        let partition = self.partition_of(&transactional_id);
        let Some(&epoch) = self.led.get(&partition) else {
            return Err(codes::NOT_COORDINATOR);
        };
        let Some(loaded) = self.loaded.get_mut(&partition) else {
            return Err(codes::COORDINATOR_LOAD_IN_PROGRESS);
        };
        let metadata = loaded.parked.remove(&transactional_id);
        if metadata.is_none() && !create {
            return Err(codes::INVALID_PRODUCER_ID_MAPPING);
        }
        let coordinator = self
            .start(myself, transactional_id, partition, epoch, metadata)
            .await?;
        coordinator
            .cast(msg)
            .map_err(|_| codes::COORDINATOR_NOT_AVAILABLE)
    }

    async fn start(
        &mut self,
        myself: &ActorRef<TxnManagerMsg>,
        transactional_id: String,
        partition: i32,
        coordinator_epoch: i32,
        metadata: Option<TxnMetadata>,
    ) -> Result<ActorRef<TxnMsg>, i16> {
        if self.coordinators.len() >= TXN_COORDINATORS_MAX {
            return Err(codes::COORDINATOR_NOT_AVAILABLE);
        }
        let args = TxnCoordinatorArgs {
            ctx: self.ctx.clone(),
            transactional_id: transactional_id.clone(),
            partition,
            coordinator_epoch,
            metadata,
            manager: myself.clone(),
        };
        let (actor, _) = Actor::spawn_linked(None, TxnCoordinator, args, myself.get_cell())
            .await
            .map_err(|e| {
                tracing::error!(transactional_id, error = %e, "cannot start a transaction coordinator");
                codes::COORDINATOR_NOT_AVAILABLE
            })?;
        self.by_actor
            .insert(actor.get_id(), transactional_id.clone());
        self.coordinators.insert(transactional_id, actor.clone());
        Ok(actor)
    }

    fn on_leadership(&mut self, myself: &ActorRef<TxnManagerMsg>, led: BTreeMap<i32, i32>) {
        let lost: Vec<i32> = self
            .led
            .iter()
            .filter(|(p, e)| led.get(p) != Some(e))
            .map(|(p, _)| *p)
            .collect();
        for partition in lost {
            self.unload(partition);
        }
        for (&partition, &epoch) in &led {
            if self.led.get(&partition) != Some(&epoch) {
                load(self.ctx.clone(), myself.clone(), partition, epoch);
            }
        }
        self.led = led;
    }

    /// Forgets a partition: its coordinators stop, its parked ids go.
    fn unload(&mut self, partition: i32) {
        self.loaded.remove(&partition);
        let ids: Vec<String> = self
            .coordinators
            .keys()
            .filter(|id| self.partition_of(id) == partition)
            .cloned()
            .collect();
        for id in ids {
            if let Some(actor) = self.coordinators.remove(&id) {
                self.by_actor.remove(&actor.get_id());
                actor.stop(Some("transaction state partition moved".into()));
            }
        }
    }

    async fn on_loaded(
        &mut self,
        myself: &ActorRef<TxnManagerMsg>,
        partition: i32,
        epoch: i32,
        txns: PartitionTxns,
    ) {
        if self.led.get(&partition) != Some(&epoch) {
            return; // led no more, or under another epoch since
        }
        let mut parked = HashMap::new();
        let mut active = Vec::new();
        for (id, metadata) in txns {
            match metadata.status {
                TxnStatus::Ongoing | TxnStatus::PrepareCommit | TxnStatus::PrepareAbort => {
                    active.push((id, metadata));
                }
                _ => {
                    parked.insert(id, metadata);
                }
            }
        }
        tracing::debug!(
            partition,
            epoch,
            ids = parked.len() + active.len(),
            active = active.len(),
            "transaction state partition loaded"
        );
        self.loaded.insert(partition, LoadedPartition { parked });
        for (id, metadata) in active {
            let _ = self
                .start(myself, id, partition, epoch, Some(metadata))
                .await;
        }
    }

    /// Parks an idle coordinator: routed no more, it is asked for its
    /// metadata (answered after every request already routed to it), which is
    /// parked if no transaction began meanwhile; then it stops.
    async fn park(&mut self, transactional_id: String) {
        let partition = self.partition_of(&transactional_id);
        if !self.loaded.contains_key(&partition) {
            return;
        }
        let Some(actor) = self.coordinators.remove(&transactional_id) else {
            return;
        };
        let wait = Some(Duration::from_millis(crate::limits::ACTOR_CALL_TIMEOUT_MS));
        let described = actor.call(|reply| TxnMsg::Describe { reply }, wait).await;
        let metadata = match described {
            Ok(ractor::rpc::CallResult::Success(Some(m))) => m,
            _ => {
                // Unknown: keep the coordinator serving.
                self.coordinators.insert(transactional_id, actor);
                return;
            }
        };
        let settled = matches!(
            metadata.status,
            TxnStatus::Empty | TxnStatus::CompleteCommit | TxnStatus::CompleteAbort
        );
        if !settled {
            self.coordinators.insert(transactional_id, actor);
            return;
        }
        self.by_actor.remove(&actor.get_id());
        actor.stop(Some("idle".into()));
        if let Some(loaded) = self.loaded.get_mut(&partition) {
            loaded.parked.insert(transactional_id, metadata);
        }
    }

    /// Forgets parked ids idle past `transactional.id.expiration.ms` (their
    /// tombstones are written in the background; a failed write only means
    /// the id is replayed again after the next leadership change).
    fn expire_parked(&mut self) {
        let now = crate::group::coordinator::now_ms();
        let expiration = self.ctx.config.transactional_id_expiration_ms;
        for (&partition, loaded) in &mut self.loaded {
            let expired: Vec<String> = loaded
                .parked
                .iter()
                .filter(|(_, m)| state::is_expired_id(m, now, expiration))
                .map(|(id, _)| id.clone())
                .collect();
            for id in expired {
                loaded.parked.remove(&id);
                let ctx = self.ctx.clone();
                tokio::spawn(async move {
                    if log::store(&ctx.partitions, partition, &id, None, now)
                        .await
                        .is_ok()
                    {
                        tracing::debug!(transactional_id = id, "transactional id expired");
                    }
                });
            }
        }
    }

    /// Every id known here: running coordinators are asked, parked ids read.
    async fn list(&self) -> Vec<(String, TxnMetadata)> {
        let mut all: Vec<(String, TxnMetadata)> = self
            .loaded
            .values()
            .flat_map(|l| l.parked.iter().map(|(id, m)| (id.clone(), m.clone())))
            .collect();
        for (id, actor) in &self.coordinators {
            let call = actor.call(
                |reply| TxnMsg::Describe { reply },
                Some(Duration::from_millis(crate::limits::ACTOR_CALL_TIMEOUT_MS)),
            );
            if let Ok(ractor::rpc::CallResult::Success(Some(m))) = call.await {
                all.push((id.clone(), m));
            }
        }
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

/// Replays a led partition (waiting, bounded, for it to come online) and
/// hands the manager what it holds.
fn load(ctx: Arc<BrokerCtx>, manager: ActorRef<TxnManagerMsg>, partition: i32, epoch: i32) {
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(TOPIC_READY_WAIT_MS);
        let handle = loop {
            match ctx.partitions.lookup(TXN_STATE_TOPIC, partition) {
                Some(PartitionEntry::Online(handle)) => break handle,
                _ if tokio::time::Instant::now() >= deadline => {
                    tracing::warn!(
                        partition,
                        "{TXN_STATE_TOPIC} partition not online; not loaded"
                    );
                    return;
                }
                _ => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        };
        let reader = handle.reader.clone();
        match tokio::task::spawn_blocking(move || log::load_partition(&reader)).await {
            Ok(Ok(txns)) => {
                let _ = manager.cast(TxnManagerMsg::PartitionLoaded {
                    partition,
                    epoch,
                    txns,
                });
            }
            Ok(Err(e)) => tracing::warn!(partition, error = %e, "transaction state not loaded"),
            Err(e) => tracing::warn!(partition, error = %e, "transaction state load failed"),
        }
    });
}
