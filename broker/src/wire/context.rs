//! What every request handler can reach.

use std::sync::Arc;
use std::time::Duration;

use ractor::ActorRef;
use tokio::sync::watch;

use crate::config::BrokerConfig;
use crate::controller::{
    ConfigAlteration, ControllerMsg, MetadataImage, PartitionsSpec, TopicError, TopicSpec,
};
use crate::group::GroupDirectory;
use crate::limits::{ACTOR_CALL_TIMEOUT_MS, PRODUCER_ID_BLOCK, TOPIC_READY_WAIT_MS};
use crate::partition::PartitionRegistry;

/// Shared broker context handed to handlers.
pub struct BrokerCtx {
    /// Resolved configuration.
    pub config: Arc<BrokerConfig>,
    /// The latest metadata image.
    pub images: watch::Receiver<Arc<MetadataImage>>,
    /// Registered name of the controller actor (looked up per call, so a restarted
    /// controller is found).
    pub controller_name: String,
    /// This broker's partitions.
    pub partitions: Arc<PartitionRegistry>,
    /// Registered name of the group manager actor.
    pub group_manager_name: String,
    /// Every consumer group known on this broker (ListGroups reads it directly).
    pub groups: Arc<GroupDirectory>,
    /// The block of producer ids this broker hands out: the ids left in it.
    pub producer_ids: tokio::sync::Mutex<std::ops::Range<i64>>,
}

impl BrokerCtx {
    /// The current metadata image.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.images.borrow().clone()
    }

    fn controller(&self) -> Option<ActorRef<ControllerMsg>> {
        ractor::registry::where_is(self.controller_name.clone()).map(ActorRef::from)
    }

    /// Asks the controller to create topics and waits (bounded) until this broker's
    /// partitions for them are online.
    pub async fn create_topics(
        &self,
        topics: Vec<TopicSpec>,
        validate_only: bool,
    ) -> Vec<Result<(), TopicError>> {
        let count = topics.len();
        let unavailable = || vec![Err(TopicError::Storage("controller unavailable".into())); count];
        let Some(controller) = self.controller() else {
            return unavailable();
        };
        let call = controller.call(
            |reply| ControllerMsg::CreateTopics {
                topics,
                validate_only,
                reply,
            },
            Some(Duration::from_millis(ACTOR_CALL_TIMEOUT_MS)),
        );
        let results = match call.await {
            Ok(ractor::rpc::CallResult::Success(results)) => results,
            _ => return unavailable(),
        };
        self.await_reconciled().await;
        results
    }

    /// Asks the controller to delete topics.
    pub async fn delete_topics(&self, names: Vec<String>) -> Vec<Result<(), TopicError>> {
        let count = names.len();
        let unavailable = || vec![Err(TopicError::Storage("controller unavailable".into())); count];
        let Some(controller) = self.controller() else {
            return unavailable();
        };
        let call = controller.call(
            |reply| ControllerMsg::DeleteTopics { names, reply },
            Some(Duration::from_millis(ACTOR_CALL_TIMEOUT_MS)),
        );
        let results = match call.await {
            Ok(ractor::rpc::CallResult::Success(results)) => results,
            _ => return unavailable(),
        };
        self.await_reconciled().await;
        results
    }

    /// Asks the controller to grow topics and waits (bounded) until this broker's
    /// new partitions are online.
    pub async fn create_partitions(
        &self,
        topics: Vec<PartitionsSpec>,
        validate_only: bool,
    ) -> Vec<Result<(), TopicError>> {
        let count = topics.len();
        let results = self
            .controller_call(count, |reply| ControllerMsg::CreatePartitions {
                topics,
                validate_only,
                reply,
            })
            .await;
        self.await_reconciled().await;
        results
    }

    /// Asks the controller to change topic config overrides and waits (bounded)
    /// until the partition manager has handed the new configs to the
    /// partitions (appends after the answer see them).
    pub async fn alter_topic_configs(
        &self,
        topics: Vec<(String, ConfigAlteration)>,
        validate_only: bool,
    ) -> Vec<Result<(), TopicError>> {
        let count = topics.len();
        let results = self
            .controller_call(count, |reply| ControllerMsg::AlterConfigs {
                topics,
                validate_only,
                reply,
            })
            .await;
        self.await_reconciled().await;
        results
    }

    /// One controller call answering a result per topic; every topic fails
    /// with a storage error when the controller does not answer.
    async fn controller_call(
        &self,
        count: usize,
        msg: impl FnOnce(ractor::RpcReplyPort<Vec<Result<(), TopicError>>>) -> ControllerMsg,
    ) -> Vec<Result<(), TopicError>> {
        let unavailable = || vec![Err(TopicError::Storage("controller unavailable".into())); count];
        let Some(controller) = self.controller() else {
            return unavailable();
        };
        let call = controller.call(msg, Some(Duration::from_millis(ACTOR_CALL_TIMEOUT_MS)));
        match call.await {
            Ok(ractor::rpc::CallResult::Success(results)) if results.len() == count => results,
            _ => unavailable(),
        }
    }

    /// A producer id never handed out before (InitProducerId). Ids come from
    /// blocks the controller allocates durably, so a restart skips the rest of a
    /// block instead of reusing ids; `None` when the controller is unreachable.
    pub async fn next_producer_id(&self) -> Option<i64> {
        let mut block = self.producer_ids.lock().await;
        if block.is_empty() {
            let controller = self.controller()?;
            let call = controller.call(
                |reply| ControllerMsg::AllocateProducerIds {
                    count: PRODUCER_ID_BLOCK,
                    reply,
                },
                Some(Duration::from_millis(ACTOR_CALL_TIMEOUT_MS)),
            );
            let Ok(ractor::rpc::CallResult::Success(first)) = call.await else {
                return None;
            };
            *block = first..first + PRODUCER_ID_BLOCK;
        }
        let id = block.start;
        block.start += 1;
        Some(id)
    }

    /// Waits (bounded) until the partition set matches the current image.
    pub async fn await_reconciled(&self) {
        let target = self.image().version;
        let mut reconciled = self.partitions.reconciled();
        let wait = reconciled.wait_for(|&v| v >= target);
        let _ = tokio::time::timeout(Duration::from_millis(TOPIC_READY_WAIT_MS), wait).await;
    }

    /// Creates `names` with broker defaults (auto-creation), ignoring races with
    /// other creators.
    pub async fn auto_create(&self, names: Vec<String>) {
        let specs = names
            .into_iter()
            .map(|name| TopicSpec {
                name,
                num_partitions: None,
                replication_factor: None,
                configs: Vec::new(),
            })
            .collect();
        for result in self.create_topics(specs, false).await {
            if let Err(e) = result
                && !matches!(e, TopicError::AlreadyExists(_))
            {
                tracing::debug!(error = %e, "auto-create failed");
            }
        }
    }
}
