//! The Controller actor: the only writer of metadata. It validates a change, makes
//! its records durable in the store, applies them to the image and publishes the
//! new image. Store I/O runs on the blocking pool, never on an actor's task.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster_derive::RactorMessage;
use thiserror::Error;
use tokio::sync::watch;

use super::image::{BrokerInfo, MetadataImage};
use super::records::MetadataRecord;
use super::store::MetadataStore;
use super::topic_config::TopicConfig;
use crate::config::BrokerConfig;
use crate::limits::PARTITIONS_PER_TOPIC_MAX;
use weir_client::protocol::limits::TOPIC_NAME_BYTES_MAX;

/// Why a topic change was refused.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum TopicError {
    /// A topic with this name exists.
    #[error("topic '{0}' already exists")]
    AlreadyExists(String),
    /// The name is not a legal topic name.
    #[error("{0}")]
    InvalidName(String),
    /// Bad partition count.
    #[error("{0}")]
    InvalidPartitions(String),
    /// Bad replication factor.
    #[error("{0}")]
    InvalidReplicationFactor(String),
    /// Bad config override.
    #[error("{0}")]
    InvalidConfig(String),
    /// No such topic.
    #[error("unknown topic '{0}'")]
    UnknownTopic(String),
    /// The metadata store failed.
    #[error("metadata store failure: {0}")]
    Storage(String),
}

/// A topic to create, with request defaults already separated out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// Topic name.
    pub name: String,
    /// Partition count; `None` for the broker default.
    pub num_partitions: Option<i32>,
    /// Replication factor; `None` for the broker default.
    pub replication_factor: Option<i16>,
    /// Config overrides.
    pub configs: Vec<(String, Option<String>)>,
}

/// Messages of the [`Controller`].
#[derive(RactorMessage)]
pub enum ControllerMsg {
    /// Create topics; one result per topic, in order. With `validate_only` nothing
    /// is written.
    CreateTopics {
        topics: Vec<TopicSpec>,
        validate_only: bool,
        reply: RpcReplyPort<Vec<Result<(), TopicError>>>,
    },
    /// Delete topics by name; one result per name, in order.
    DeleteTopics {
        names: Vec<String>,
        reply: RpcReplyPort<Vec<Result<(), TopicError>>>,
    },
    /// Hand out `count` producer ids, durably: the first of the block.
    AllocateProducerIds {
        count: i64,
        reply: RpcReplyPort<i64>,
    },
}

/// What the controller starts with.
pub struct ControllerArgs {
    /// Broker configuration (defaults for topics).
    pub config: Arc<BrokerConfig>,
    /// The record store, shared by successive incarnations (a restart reloads it).
    pub store: Arc<Mutex<Box<dyn MetadataStore>>>,
    /// This broker as clients reach it.
    pub broker: BrokerInfo,
    /// Where new images are published.
    pub images: watch::Sender<Arc<MetadataImage>>,
}

/// The controller actor (config only; state lives in [`ControllerState`]).
pub struct Controller;

/// The controller's state.
pub struct ControllerState {
    /// Start arguments (store, publisher).
    args: ControllerArgs,
    /// The latest image.
    image: Arc<MetadataImage>,
}

impl Actor for Controller {
    type Msg = ControllerMsg;
    type State = ControllerState;
    type Arguments = ControllerArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: ControllerArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let store = args.store.clone();
        let records = tokio::task::spawn_blocking(move || store.lock().load()).await??;
        let mut image = records
            .iter()
            .fold(MetadataImage::default(), |i, r| i.apply(r));
        image.controller_id = args.broker.node_id;
        image.brokers = BTreeMap::from([(args.broker.node_id, args.broker.clone())]);
        let mut state = ControllerState {
            args,
            image: Arc::new(image),
        };
        if state.image.cluster_id.is_empty() {
            let cluster_id = new_cluster_id();
            state
                .commit(vec![MetadataRecord::ClusterCreated { cluster_id }])
                .await?;
        }
        state.args.images.send_replace(state.image.clone());
        tracing::info!(
            topics = state.image.topics.len(),
            version = state.image.version,
            "metadata loaded"
        );
        Ok(state)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ControllerMsg::CreateTopics {
                topics,
                validate_only,
                reply,
            } => {
                let results = state.on_create_topics(topics, validate_only).await?;
                let _ = reply.send(results);
            }
            ControllerMsg::DeleteTopics { names, reply } => {
                let results = state.on_delete_topics(names).await?;
                let _ = reply.send(results);
            }
            ControllerMsg::AllocateProducerIds { count, reply } => {
                let first = state.image.next_producer_id;
                let next = first.saturating_add(count.max(1));
                state
                    .commit(vec![MetadataRecord::ProducerIdsAllocated { next }])
                    .await?;
                let _ = reply.send(first);
            }
        }
        Ok(())
    }
}

impl ControllerState {
    /// Makes `records` durable, then applies and publishes them. A store failure is
    /// returned as `Err`: the actor's state can no longer be trusted.
    async fn commit(&mut self, records: Vec<MetadataRecord>) -> Result<(), ActorProcessingErr> {
        if records.is_empty() {
            return Ok(());
        }
        let store = self.args.store.clone();
        let to_write = records.clone();
        tokio::task::spawn_blocking(move || store.lock().append(&to_write)).await??;
        let image = records
            .iter()
            .fold((*self.image).clone(), |i, r| i.apply(r));
        self.image = Arc::new(image);
        self.args.images.send_replace(self.image.clone());
        Ok(())
    }

    async fn on_create_topics(
        &mut self,
        topics: Vec<TopicSpec>,
        validate_only: bool,
    ) -> Result<Vec<Result<(), TopicError>>, ActorProcessingErr> {
        let mut records = Vec::new();
        let mut results = Vec::with_capacity(topics.len());
        let mut names_in_request = std::collections::HashSet::new();
        let mut pending_partitions = 0;
        for spec in topics {
            let result = self
                .validate_topic(&spec, pending_partitions)
                .and_then(|record| {
                    if !names_in_request.insert(spec.name.clone()) {
                        return Err(TopicError::AlreadyExists(spec.name.clone()));
                    }
                    Ok(record)
                });
            results.push(result.as_ref().map(|_| ()).map_err(Clone::clone));
            if let Ok(record) = result {
                if let MetadataRecord::TopicCreated { partitions, .. } = &record {
                    pending_partitions += partitions.len();
                }
                records.push(record);
            }
        }
        if !validate_only {
            self.commit(records).await?;
        }
        Ok(results)
    }

    /// Checks a topic to create; `pending_partitions` are those of earlier topics
    /// in the same request.
    fn validate_topic(
        &self,
        spec: &TopicSpec,
        pending_partitions: usize,
    ) -> Result<MetadataRecord, TopicError> {
        validate_topic_name(&spec.name)?;
        if self.image.topics.contains_key(&spec.name) {
            return Err(TopicError::AlreadyExists(spec.name.clone()));
        }
        let partitions = spec
            .num_partitions
            .unwrap_or(self.args.config.num_partitions);
        if !(1..=PARTITIONS_PER_TOPIC_MAX).contains(&partitions) {
            return Err(TopicError::InvalidPartitions(format!(
                "number of partitions must be between 1 and {PARTITIONS_PER_TOPIC_MAX}, got {partitions}"
            )));
        }
        let hosted: usize = self.image.topics.values().map(|t| t.partitions.len()).sum();
        if hosted + pending_partitions + partitions as usize > self.args.config.max_partitions {
            return Err(TopicError::InvalidPartitions(format!(
                "the broker's partition limit (max.partitions = {}) would be exceeded",
                self.args.config.max_partitions
            )));
        }
        let replication_factor = spec.replication_factor.unwrap_or(1);
        let live = self.image.brokers.len() as i16;
        if replication_factor < 1 || replication_factor > live {
            return Err(TopicError::InvalidReplicationFactor(format!(
                "replication factor {replication_factor} is not between 1 and the {live} live broker(s)"
            )));
        }
        TopicConfig::validate(&self.args.config, &spec.configs)
            .map_err(TopicError::InvalidConfig)?;
        let brokers: Vec<i32> = self.image.brokers.keys().copied().collect();
        let assignment = (0..partitions as usize)
            .map(|p| {
                (0..replication_factor as usize)
                    .map(|r| brokers[(p + r) % brokers.len()])
                    .collect()
            })
            .collect();
        Ok(MetadataRecord::TopicCreated {
            topic_id: new_topic_id(),
            name: spec.name.clone(),
            partitions: assignment,
            configs: spec
                .configs
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
                .collect(),
        })
    }

    async fn on_delete_topics(
        &mut self,
        names: Vec<String>,
    ) -> Result<Vec<Result<(), TopicError>>, ActorProcessingErr> {
        let mut records = Vec::new();
        let mut results = Vec::with_capacity(names.len());
        let mut seen = std::collections::HashSet::new();
        for name in names {
            match self.image.topic(&name) {
                Some(topic) if seen.insert(topic.topic_id) => {
                    records.push(MetadataRecord::TopicDeleted {
                        topic_id: topic.topic_id,
                    });
                    results.push(Ok(()));
                }
                _ => results.push(Err(TopicError::UnknownTopic(name))),
            }
        }
        self.commit(records).await?;
        Ok(results)
    }
}

/// Kafka's topic name rules: 1–249 chars of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), TopicError> {
    let invalid = |why: &str| {
        Err(TopicError::InvalidName(format!(
            "topic name '{name}' is illegal: {why}"
        )))
    };
    if name.is_empty() {
        return invalid("it is empty");
    }
    if name == "." || name == ".." {
        return invalid("it cannot be '.' or '..'");
    }
    if name.len() > TOPIC_NAME_BYTES_MAX {
        return invalid("it is longer than 249 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return invalid("it contains characters other than ASCII alphanumerics, '.', '_' and '-'");
    }
    Ok(())
}

fn new_topic_id() -> [u8; 16] {
    // A random (v4-shaped) id; all-zero is reserved for "no id" on the wire.
    let mut id: [u8; 16] = rand::random();
    id[6] = (id[6] & 0x0f) | 0x40;
    id[8] = (id[8] & 0x3f) | 0x80;
    id
}

fn new_cluster_id() -> String {
    // Kafka cluster ids are 22-char URL-safe base64 of a UUID.
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..22)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(validate_topic_name("orders.v1_a-b").is_ok());
        for bad in ["", ".", "..", "a b", "é", &"x".repeat(250)] {
            assert!(validate_topic_name(bad).is_err(), "{bad:?}");
        }
    }
}
