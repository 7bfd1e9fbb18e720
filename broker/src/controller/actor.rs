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

use super::alter::{self, ConfigAlteration};
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
    /// A manual replica assignment that cannot be used.
    #[error("{0}")]
    InvalidReplicaAssignment(String),
    /// A malformed request (duplicates, null values, unknown operations).
    #[error("{0}")]
    InvalidRequest(String),
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

/// A topic to grow (CreatePartitions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionsSpec {
    /// Topic name.
    pub name: String,
    /// The new total partition count.
    pub count: i32,
    /// Replica broker ids of each new partition; `None` places them as topic
    /// creation does.
    pub assignments: Option<Vec<Vec<i32>>>,
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
    /// Grow topics (CreatePartitions); one result per topic, in order. With
    /// `validate_only` nothing is written.
    CreatePartitions {
        topics: Vec<PartitionsSpec>,
        validate_only: bool,
        reply: RpcReplyPort<Vec<Result<(), TopicError>>>,
    },
    /// Change topics' config overrides (AlterConfigs, IncrementalAlterConfigs);
    /// one result per topic, in order. With `validate_only` nothing is written.
    AlterConfigs {
        topics: Vec<(String, ConfigAlteration)>,
        validate_only: bool,
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
            ControllerMsg::CreatePartitions {
                topics,
                validate_only,
                reply,
            } => {
                let results = state.on_create_partitions(topics, validate_only).await?;
                let _ = reply.send(results);
            }
            ControllerMsg::AlterConfigs {
                topics,
                validate_only,
                reply,
            } => {
                let results = state.on_alter_configs(topics, validate_only).await?;
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

    async fn on_create_partitions(
        &mut self,
        topics: Vec<PartitionsSpec>,
        validate_only: bool,
    ) -> Result<Vec<Result<(), TopicError>>, ActorProcessingErr> {
        let mut counts = std::collections::HashMap::new();
        for spec in &topics {
            *counts.entry(spec.name.clone()).or_insert(0) += 1;
        }
        let mut records = Vec::new();
        let mut results = Vec::with_capacity(topics.len());
        let mut pending_partitions = 0;
        for spec in topics {
            let result = if counts[&spec.name] > 1 {
                Err(TopicError::InvalidRequest(format!(
                    "topic '{}' is named more than once in the request",
                    spec.name
                )))
            } else {
                self.validate_partitions(&spec, pending_partitions)
            };
            results.push(result.as_ref().map(|_| ()).map_err(Clone::clone));
            if let Ok(record) = result {
                if let MetadataRecord::PartitionsCreated { partitions, .. } = &record {
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

    /// Checks a topic to grow (Kafka's rules: the count only grows, within the
    /// limits; a manual assignment names live brokers, one list per new
    /// partition, as many replicas as the topic has); `pending_partitions` are
    /// those added to earlier topics in the same request.
    fn validate_partitions(
        &self,
        spec: &PartitionsSpec,
        pending_partitions: usize,
    ) -> Result<MetadataRecord, TopicError> {
        let topic = self
            .image
            .topic(&spec.name)
            .ok_or_else(|| TopicError::UnknownTopic(spec.name.clone()))?;
        if spec.name == crate::group::offsets::OFFSETS_TOPIC {
            return Err(TopicError::InvalidRequest(format!(
                "the partition count of {} is fixed (offsets.topic.num.partitions)",
                spec.name
            )));
        }
        let current = topic.partitions.len() as i32;
        if spec.count < current {
            return Err(TopicError::InvalidPartitions(format!(
                "topic currently has {current} partitions, which is higher than the requested {}",
                spec.count
            )));
        }
        if spec.count == current {
            return Err(TopicError::InvalidPartitions(format!(
                "topic already has {current} partitions"
            )));
        }
        if spec.count > PARTITIONS_PER_TOPIC_MAX {
            return Err(TopicError::InvalidPartitions(format!(
                "number of partitions must be between 1 and {PARTITIONS_PER_TOPIC_MAX}, got {}",
                spec.count
            )));
        }
        let added = (spec.count - current) as usize;
        let hosted: usize = self.image.topics.values().map(|t| t.partitions.len()).sum();
        if hosted + pending_partitions + added > self.args.config.max_partitions {
            return Err(TopicError::InvalidPartitions(format!(
                "the broker's partition limit (max.partitions = {}) would be exceeded",
                self.args.config.max_partitions
            )));
        }
        let replication_factor = topic
            .partitions
            .first()
            .map_or(1, |p| p.replicas.len().max(1));
        let brokers: Vec<i32> = self.image.brokers.keys().copied().collect();
        let partitions = match &spec.assignments {
            Some(assignments) => {
                check_assignments(assignments, added, replication_factor, &brokers)?;
                assignments.clone()
            }
            None => (current as usize..spec.count as usize)
                .map(|p| {
                    (0..replication_factor)
                        .map(|r| brokers[(p + r) % brokers.len()])
                        .collect()
                })
                .collect(),
        };
        Ok(MetadataRecord::PartitionsCreated {
            topic_id: topic.topic_id,
            partitions,
        })
    }

    async fn on_alter_configs(
        &mut self,
        topics: Vec<(String, ConfigAlteration)>,
        validate_only: bool,
    ) -> Result<Vec<Result<(), TopicError>>, ActorProcessingErr> {
        let mut records = Vec::new();
        let mut results = Vec::with_capacity(topics.len());
        let mut seen = std::collections::HashSet::new();
        for (name, alteration) in topics {
            let result = match self.image.topic(&name) {
                None => Err(TopicError::UnknownTopic(name.clone())),
                // Each topic is planned against the image: a second change to
                // it in the same batch would not see the first.
                Some(_) if !seen.insert(name.clone()) => Err(TopicError::InvalidRequest(format!(
                    "topic '{name}' is named more than once in the request"
                ))),
                Some(topic) => {
                    alter::plan(&self.args.config, &topic.configs, &alteration).map(|changes| {
                        if !changes.is_empty() {
                            records.push(MetadataRecord::TopicConfigsAltered {
                                topic_id: topic.topic_id,
                                changes,
                            });
                        }
                    })
                }
            };
            results.push(result);
        }
        if !validate_only {
            self.commit(records).await?;
        }
        Ok(results)
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

/// Kafka's checks of a manual assignment of `added` new partitions.
fn check_assignments(
    assignments: &[Vec<i32>],
    added: usize,
    replication_factor: usize,
    brokers: &[i32],
) -> Result<(), TopicError> {
    let invalid = |why: String| Err(TopicError::InvalidReplicaAssignment(why));
    if assignments.len() != added {
        return invalid(format!(
            "increasing the number of partitions by {added} but {} assignments provided",
            assignments.len()
        ));
    }
    for replicas in assignments {
        if replicas.len() != replication_factor {
            return invalid(format!(
                "inconsistent replication factor: the topic has {replication_factor}, an assignment has {}",
                replicas.len()
            ));
        }
        if let Some(unknown) = replicas.iter().find(|b| !brokers.contains(b)) {
            return invalid(format!("unknown broker {unknown} in replica assignment"));
        }
        let distinct: std::collections::HashSet<_> = replicas.iter().collect();
        if distinct.len() != replicas.len() {
            return invalid(format!(
                "duplicate brokers not allowed in replica assignment: {replicas:?}"
            ));
        }
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
    use super::super::store::FileStore;
    use super::*;

    type Results = Vec<Result<(), TopicError>>;

    async fn start(
        dir: &std::path::Path,
        max_partitions: usize,
    ) -> (ActorRef<ControllerMsg>, watch::Receiver<Arc<MetadataImage>>) {
        let config = BrokerConfig {
            max_partitions,
            ..BrokerConfig::default()
        };
        let (images, rx) = watch::channel(Arc::new(MetadataImage::default()));
        let args = ControllerArgs {
            config: Arc::new(config),
            store: Arc::new(Mutex::new(Box::new(FileStore::new(dir)))),
            broker: BrokerInfo {
                node_id: 0,
                host: "127.0.0.1".into(),
                port: 9092,
                rack: None,
            },
            images,
        };
        let (controller, _) = Actor::spawn(None, Controller, args).await.unwrap();
        (controller, rx)
    }

    async fn grow(
        c: &ActorRef<ControllerMsg>,
        topics: &[(&str, i32)],
        validate_only: bool,
    ) -> Results {
        let topics = topics
            .iter()
            .map(|(name, count)| PartitionsSpec {
                name: (*name).into(),
                count: *count,
                assignments: None,
            })
            .collect();
        c.call(
            |reply| ControllerMsg::CreatePartitions {
                topics,
                validate_only,
                reply,
            },
            None,
        )
        .await
        .unwrap()
        .unwrap()
    }

    async fn alter(
        c: &ActorRef<ControllerMsg>,
        topics: Vec<(String, ConfigAlteration)>,
        validate_only: bool,
    ) -> Results {
        c.call(
            |reply| ControllerMsg::AlterConfigs {
                topics,
                validate_only,
                reply,
            },
            None,
        )
        .await
        .unwrap()
        .unwrap()
    }

    fn set(name: &str, value: &str) -> ConfigAlteration {
        ConfigAlteration::Incremental(vec![(name.into(), alter::OP_SET, Some(value.into()))])
    }

    /// CreatePartitions and config changes are validated, written durably and
    /// applied to the image; validate_only writes nothing.
    #[tokio::test]
    async fn partitions_and_configs_change_durably() {
        let dir = tempfile::tempdir().unwrap();
        let (c, images) = start(dir.path(), 6).await;
        let topic = TopicSpec {
            name: "t".into(),
            num_partitions: Some(2),
            replication_factor: None,
            configs: vec![("segment.bytes".into(), Some("4096".into()))],
        };
        let created = c
            .call(
                |reply| ControllerMsg::CreateTopics {
                    topics: vec![topic],
                    validate_only: false,
                    reply,
                },
                None,
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(created, vec![Ok(())]);
        let partitions = |images: &watch::Receiver<Arc<MetadataImage>>| {
            images.borrow().topic("t").map(|t| t.partitions.len())
        };

        assert_eq!(grow(&c, &[("t", 4)], true).await, vec![Ok(())]);
        assert_eq!(partitions(&images), Some(2), "validate_only writes nothing");
        let refused = grow(&c, &[("t", 2), ("t", 1)], false).await;
        assert!(
            refused
                .iter()
                .all(|r| matches!(r, Err(TopicError::InvalidRequest(_)))),
            "{refused:?}"
        );
        let refused = grow(&c, &[("t", 2), ("nope", 3)], false).await;
        assert!(
            matches!(refused[0], Err(TopicError::InvalidPartitions(_))),
            "{refused:?}"
        );
        assert!(
            matches!(refused[1], Err(TopicError::UnknownTopic(_))),
            "{refused:?}"
        );
        assert!(matches!(
            grow(&c, &[("t", 1)], false).await[0],
            Err(TopicError::InvalidPartitions(_))
        ));
        // max.partitions = 6: the topic may grow by 4, not 5.
        assert!(matches!(
            grow(&c, &[("t", 7)], false).await[0],
            Err(TopicError::InvalidPartitions(_))
        ));
        assert_eq!(grow(&c, &[("t", 6)], false).await, vec![Ok(())]);
        let image = images.borrow().clone();
        let t = image.topic("t").unwrap();
        assert_eq!(t.partitions.len(), 6);
        assert_eq!(t.partitions[5].partition, 5);
        assert_eq!(t.partitions[5].replicas, vec![0]);

        let changes = vec![("t".to_string(), set("retention.ms", "1000"))];
        assert_eq!(alter(&c, changes.clone(), true).await, vec![Ok(())]);
        assert!(
            !images
                .borrow()
                .topic("t")
                .unwrap()
                .configs
                .contains_key("retention.ms")
        );
        assert_eq!(alter(&c, changes, false).await, vec![Ok(())]);
        let bad = alter(
            &c,
            vec![
                ("t".to_string(), set("retention.ms", "soon")),
                ("nope".to_string(), set("retention.ms", "1")),
            ],
            false,
        )
        .await;
        assert!(
            matches!(bad[0], Err(TopicError::InvalidConfig(_))),
            "{bad:?}"
        );
        assert!(
            matches!(bad[1], Err(TopicError::UnknownTopic(_))),
            "{bad:?}"
        );
        let expected = BTreeMap::from([
            ("retention.ms".to_string(), "1000".to_string()),
            ("segment.bytes".to_string(), "4096".to_string()),
        ]);
        assert_eq!(images.borrow().topic("t").unwrap().configs, expected);
        // Legacy AlterConfigs replaces the whole set.
        let replace = ConfigAlteration::Replace(vec![("retention.ms".into(), Some("2000".into()))]);
        assert_eq!(
            alter(&c, vec![("t".into(), replace)], false).await,
            vec![Ok(())]
        );
        let expected = BTreeMap::from([("retention.ms".to_string(), "2000".to_string())]);
        assert_eq!(images.borrow().topic("t").unwrap().configs, expected);

        // A new controller on the same store finds both changes.
        c.stop_and_wait(None, None).await.unwrap();
        let (c, images) = start(dir.path(), 6).await;
        let image = images.borrow().clone();
        let t = image.topic("t").unwrap();
        assert_eq!((t.partitions.len(), &t.configs), (6, &expected));
        c.stop(None);
    }

    #[test]
    fn manual_assignments_follow_kafka_rules() {
        let brokers = [1, 2];
        assert!(check_assignments(&[vec![1], vec![2]], 2, 1, &brokers).is_ok());
        for (assignments, added, rf) in [
            (vec![vec![1]], 2, 1),
            (vec![vec![1, 2]], 1, 1),
            (vec![vec![3]], 1, 1),
            (vec![vec![1, 1]], 1, 2),
        ] {
            assert!(
                matches!(
                    check_assignments(&assignments, added, rf, &brokers),
                    Err(TopicError::InvalidReplicaAssignment(_))
                ),
                "{assignments:?}"
            );
        }
    }

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(validate_topic_name("orders.v1_a-b").is_ok());
        for bad in ["", ".", "..", "a b", "é", &"x".repeat(250)] {
            assert!(validate_topic_name(bad).is_err(), "{bad:?}");
        }
    }
}
