//! What every request handler and the actors behind them can reach: the
//! broker context (config, metadata image, partitions, groups, the
//! controller), kept below the layers that use it.

use std::sync::Arc;
use std::time::Duration;

use ractor::ActorRef;
use tokio::sync::watch;

use crate::config::BrokerConfig;
use crate::controller::{
    ConfigAlteration, ControllerMsg, ControllerReply, ControllerRequest, MetadataImage,
    PartitionsSpec, TopicError, TopicSpec,
};
use crate::group::GroupDirectory;
use crate::limits::{ACTOR_CALL_TIMEOUT_MS, PRODUCER_ID_BLOCK, TOPIC_READY_WAIT_MS};
use crate::metrics::Metrics;
use crate::partition::PartitionRegistry;
use crate::peers::PeerConnections;
use crate::readiness::Readiness;

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
    /// Registered name of the transaction manager actor.
    pub txn_manager_name: String,
    /// Every consumer group known on this broker (ListGroups reads it directly).
    pub groups: Arc<GroupDirectory>,
    /// The block of producer ids this broker hands out: the ids left in it.
    pub producer_ids: tokio::sync::Mutex<std::ops::Range<i64>>,
    /// What readiness is judged from (listeners open, heartbeats taken).
    pub readiness: Readiness,
    /// This broker's metrics (`/metrics`).
    pub metrics: Arc<Metrics>,
    /// Connections to the other brokers.
    pub peers: PeerConnections,
}

impl BrokerCtx {
    /// The current metadata image.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.images.borrow().clone()
    }

    fn controller(&self) -> Option<ActorRef<ControllerMsg>> {
        ractor::registry::where_is(self.controller_name.clone()).map(ActorRef::from)
    }

    /// Sends `request` to the controller (this broker's, which forwards it to
    /// the active controller if that is another broker); `Unavailable` when
    /// no answer comes in time.
    pub async fn controller_request(&self, request: ControllerRequest) -> ControllerReply {
        let Some(controller) = self.controller() else {
            return ControllerReply::Unavailable("the controller is restarting".into());
        };
        let call = controller.call(
            |reply| ControllerMsg::Request { request, reply },
            Some(Duration::from_millis(ACTOR_CALL_TIMEOUT_MS)),
        );
        match call.await {
            Ok(ractor::rpc::CallResult::Success(answer)) => answer,
            _ => ControllerReply::Unavailable("the controller did not answer".into()),
        }
    }

    /// A topic request's per-topic results; every topic fails alike when no
    /// active controller answered.
    async fn topic_request(
        &self,
        count: usize,
        request: ControllerRequest,
    ) -> Vec<Result<(), TopicError>> {
        match self.controller_request(request).await {
            ControllerReply::Topics(results) if results.len() == count => results,
            ControllerReply::Unavailable(why) => vec![Err(TopicError::Unavailable(why)); count],
            other => {
                let why = format!("unexpected controller answer {other:?}");
                vec![Err(TopicError::Unavailable(why)); count]
            }
        }
    }

    /// Asks the controller to create topics and waits (bounded) until this broker's
    /// partitions for them are online.
    pub async fn create_topics(
        &self,
        topics: Vec<TopicSpec>,
        validate_only: bool,
    ) -> Vec<Result<(), TopicError>> {
        let count = topics.len();
        let request = ControllerRequest::CreateTopics {
            topics,
            validate_only,
        };
        let results = self.topic_request(count, request).await;
        self.await_reconciled().await;
        results
    }

    /// Asks the controller to delete topics.
    pub async fn delete_topics(&self, names: Vec<String>) -> Vec<Result<(), TopicError>> {
        let count = names.len();
        let results = self
            .topic_request(count, ControllerRequest::DeleteTopics { names })
            .await;
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
        let request = ControllerRequest::CreatePartitions {
            topics,
            validate_only,
        };
        let results = self.topic_request(count, request).await;
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
        let request = ControllerRequest::AlterConfigs {
            topics,
            validate_only,
        };
        let results = self.topic_request(count, request).await;
        self.await_reconciled().await;
        results
    }

    /// A producer id never handed out before (InitProducerId). Ids come from
    /// blocks the controller allocates durably, so a restart skips the rest of a
    /// block instead of reusing ids; `None` when the controller is unreachable.
    pub async fn next_producer_id(&self) -> Option<i64> {
        let mut block = self.producer_ids.lock().await;
        if block.is_empty() {
            let request = ControllerRequest::AllocateProducerIds {
                count: PRODUCER_ID_BLOCK,
            };
            let ControllerReply::ProducerIds(first) = self.controller_request(request).await else {
                return None;
            };
            *block = first..first + PRODUCER_ID_BLOCK;
        }
        let id = block.start;
        block.start += 1;
        Some(id)
    }

    /// Calls `changed` with the partitions of `topic` this broker leads (and
    /// their epochs) now and on every change, until it returns false or the
    /// broker stops.
    pub fn watch_led_partitions(
        self: &Arc<Self>,
        topic: &'static str,
        changed: impl Fn(std::collections::BTreeMap<i32, i32>) -> bool + Send + 'static,
    ) {
        let ctx = self.clone();
        tokio::spawn(async move {
            let mut images = ctx.images.clone();
            let mut last = None;
            loop {
                let led = images
                    .borrow_and_update()
                    .led_partitions(topic, ctx.config.node_id);
                if last.as_ref() != Some(&led) {
                    if !changed(led.clone()) {
                        break;
                    }
                    last = Some(led);
                }
                if images.changed().await.is_err() {
                    break;
                }
            }
        });
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
