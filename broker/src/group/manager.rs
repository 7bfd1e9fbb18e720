//! The GroupManager actor: creates the internal offsets topic, and finds or
//! starts the GroupCoordinator of a group on demand. A coordinator that stops or
//! fails is forgotten; the next request for its group starts a fresh one, which
//! reloads the group's offsets from `__consumer_offsets`.

use std::collections::HashMap;
use std::sync::Arc;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use ractor_cluster_derive::RactorMessage;

use super::coordinator::{GroupCoordinator, GroupCoordinatorArgs, GroupMsg, errors};
use super::offsets::OFFSETS_TOPIC;
use super::state::GroupLimits;
use crate::controller::{TopicError, TopicSpec};
use crate::wire::BrokerCtx;

/// Groups one broker coordinates at most (each is an actor).
pub const GROUPS_MAX: usize = 100_000;

/// Messages of the [`GroupManager`].
#[derive(RactorMessage)]
pub enum GroupManagerMsg {
    /// The coordinator of a group, started if needed; or the Kafka error code
    /// (COORDINATOR_LOAD_IN_PROGRESS while the offsets topic comes up).
    Coordinator {
        group_id: String,
        reply: RpcReplyPort<Result<ActorRef<GroupMsg>, i16>>,
    },
}

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
}

impl Actor for GroupManager {
    type Msg = GroupManagerMsg;
    type State = GroupManagerState;
    type Arguments = GroupManagerArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: GroupManagerArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        tokio::spawn(ensure_offsets_topic(args.ctx.clone()));
        Ok(GroupManagerState {
            args,
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
            GroupManagerMsg::Coordinator { group_id, reply } => {
                let result = state.coordinator(&myself, group_id).await;
                let _ = reply.send(result);
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
        let cell = match evt {
            SupervisionEvent::ActorTerminated(cell, ..) => cell,
            SupervisionEvent::ActorFailed(cell, error) => {
                tracing::warn!(actor = %cell.get_id(), %error, "group coordinator failed");
                cell
            }
            _ => return Ok(()),
        };
        if let Some(group_id) = state.by_actor.remove(&cell.get_id()) {
            state.coordinators.remove(&group_id);
        }
        Ok(())
    }
}

impl GroupManagerState {
    async fn coordinator(
        &mut self,
        myself: &ActorRef<GroupManagerMsg>,
        group_id: String,
    ) -> Result<ActorRef<GroupMsg>, i16> {
        if let Some(coordinator) = self.coordinators.get(&group_id) {
            return Ok(coordinator.clone());
        }
        if self.coordinators.len() >= GROUPS_MAX {
            return Err(super::state::codes::COORDINATOR_NOT_AVAILABLE);
        }
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
        };
        match Actor::spawn_linked(None, GroupCoordinator, args, myself.get_cell()).await {
            Ok((coordinator, _)) => {
                self.by_actor.insert(coordinator.get_id(), group_id.clone());
                self.coordinators.insert(group_id, coordinator.clone());
                Ok(coordinator)
            }
            Err(e) => {
                tracing::debug!(group_id, error = %e, "group coordinator not ready");
                Err(errors::COORDINATOR_LOAD_IN_PROGRESS)
            }
        }
    }
}

/// Creates `__consumer_offsets` (compacted) unless it exists.
async fn ensure_offsets_topic(ctx: Arc<BrokerCtx>) {
    ctx.await_reconciled().await;
    if ctx.image().topic(OFFSETS_TOPIC).is_some() {
        return;
    }
    let spec = TopicSpec {
        name: OFFSETS_TOPIC.into(),
        num_partitions: Some(ctx.config.offsets_topic_num_partitions),
        replication_factor: None,
        configs: vec![("cleanup.policy".into(), Some("compact".into()))],
    };
    for result in ctx.create_topics(vec![spec], false).await {
        match result {
            Ok(()) | Err(TopicError::AlreadyExists(_)) => {}
            Err(e) => tracing::error!(error = %e, "cannot create {OFFSETS_TOPIC}"),
        }
    }
}
