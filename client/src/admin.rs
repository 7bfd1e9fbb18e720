//! Admin calls: topics (create, delete, list, describe, grow), configs
//! (describe, alter), records (delete), and consumer groups (list, describe,
//! delete, offsets, resets, lag). Every call is pinned to the one response
//! version our bounded decoders read.

mod configs;
mod groups;
mod placement;

use std::sync::Arc;

use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::{CreateTopicsRequest, DeleteTopicsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::cluster::{ClientConfig, Cluster, ClusterInfo, TopicInfo};
use crate::error::ClientError;
use crate::protocol::ApiKey;
use crate::protocol::responses::{
    CREATE_TOPICS_VERSION, CreateTopicsResponse, DELETE_TOPICS_VERSION, DeleteTopicsResponse,
};

pub use configs::{AlterConfigOp, ConfigEntry, ConfigResource, ConfigSource, DELETE_ALL_RECORDS};
pub use groups::{
    CommittedOffset, GroupDescription, GroupListing, MemberDescription, OffsetReset, PartitionLag,
    ResetTo, lag_of, reset_target,
};
pub use placement::{
    DecommissionError, ELECTION_NOT_NEEDED, ElectionResult, ElectionType, PartitionReassignment,
    decommission_plan,
};

const CREATE_TOPICS_KEY: i16 = ApiKey::CreateTopics as i16;
const DELETE_TOPICS_KEY: i16 = ApiKey::DeleteTopics as i16;

/// A topic to create.
#[derive(Debug, Clone)]
pub struct NewTopic {
    /// Name.
    pub name: String,
    /// Partitions (-1: the broker's default).
    pub partitions: i32,
    /// Replication factor (-1: the broker's default).
    pub replication_factor: i16,
    /// Config overrides.
    pub configs: Vec<(String, String)>,
}

impl NewTopic {
    /// A topic with `partitions` and the broker's default replication.
    pub fn new(name: impl Into<String>, partitions: i32) -> Self {
        Self {
            name: name.into(),
            partitions,
            replication_factor: -1,
            configs: Vec::new(),
        }
    }
}

/// Administers a cluster.
pub struct Admin {
    cluster: Arc<Cluster>,
}

impl Admin {
    /// An admin client (connects on first use).
    pub fn new(config: ClientConfig) -> Result<Self, ClientError> {
        Ok(Self {
            cluster: Cluster::new(config)?,
        })
    }

    /// The cluster.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// Creates topics; one result per topic, in order.
    pub async fn create_topics(
        &self,
        topics: &[NewTopic],
        validate_only: bool,
    ) -> Result<Vec<Result<(), ClientError>>, ClientError> {
        let request = CreateTopicsRequest::default()
            .with_topics(
                topics
                    .iter()
                    .map(|t| {
                        CreatableTopic::default()
                            .with_name(TopicName(StrBytes::from_string(t.name.clone())))
                            .with_num_partitions(t.partitions)
                            .with_replication_factor(t.replication_factor)
                            .with_configs(
                                t.configs
                                    .iter()
                                    .map(|(k, v)| {
                                        CreatableTopicConfig::default()
                                            .with_name(StrBytes::from_string(k.clone()))
                                            .with_value(Some(StrBytes::from_string(v.clone())))
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            )
            .with_timeout_ms(30_000)
            .with_validate_only(validate_only);
        let conn = self.controller().await?;
        let body = conn
            .call(CREATE_TOPICS_KEY, CREATE_TOPICS_VERSION, &request)
            .await?;
        let response = conn.decode(body, CreateTopicsResponse::decode)?;
        let results = topics
            .iter()
            .map(
                |t| match response.topics.iter().find(|r| r.name == t.name) {
                    Some(r) => ClientError::from_code(r.error_code, r.error_message.clone())
                        .map_or(Ok(()), Err),
                    None => Err(ClientError::UnknownTopic(t.name.clone())),
                },
            )
            .collect();
        for t in topics {
            self.cluster.invalidate(&t.name);
        }
        Ok(results)
    }

    /// Deletes topics by name; one result per topic, in order.
    pub async fn delete_topics(
        &self,
        names: &[String],
    ) -> Result<Vec<Result<(), ClientError>>, ClientError> {
        let request = DeleteTopicsRequest::default()
            .with_topics(
                names
                    .iter()
                    .map(|n| {
                        DeleteTopicState::default()
                            .with_name(Some(TopicName(StrBytes::from_string(n.clone()))))
                    })
                    .collect(),
            )
            .with_timeout_ms(30_000);
        let conn = self.controller().await?;
        let body = conn
            .call(DELETE_TOPICS_KEY, DELETE_TOPICS_VERSION, &request)
            .await?;
        let response = conn.decode(body, DeleteTopicsResponse::decode)?;
        let results = names
            .iter()
            .map(|n| {
                match response
                    .responses
                    .iter()
                    .find(|r| r.name.as_deref() == Some(n))
                {
                    Some(r) => ClientError::from_code(r.error_code, r.error_message.clone())
                        .map_or(Ok(()), Err),
                    None => Err(ClientError::UnknownTopic(n.clone())),
                }
            })
            .collect();
        for n in names {
            self.cluster.invalidate(n);
        }
        Ok(results)
    }

    /// Every topic (internal ones too), sorted by name.
    pub async fn list_topics(&self) -> Result<Vec<Arc<TopicInfo>>, ClientError> {
        self.cluster.refresh(None).await?;
        let mut topics = self.cluster.all_topics();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(topics)
    }

    /// One topic's metadata.
    pub async fn describe_topic(&self, name: &str) -> Result<Arc<TopicInfo>, ClientError> {
        self.cluster.invalidate(name);
        self.cluster.refresh(Some(&[name.to_owned()])).await?;
        self.cluster
            .cached(name)
            .ok_or_else(|| ClientError::UnknownTopic(name.to_owned()))
    }

    /// Cluster id, controller and brokers.
    pub async fn cluster_info(&self) -> Result<ClusterInfo, ClientError> {
        self.cluster.refresh(Some(&[])).await?;
        Ok(self.cluster.info())
    }

    /// The connection to broker `node_id` (metadata refreshed first).
    async fn broker(&self, node_id: i32) -> Result<Arc<crate::conn::Connection>, ClientError> {
        self.cluster.refresh(Some(&[])).await?;
        self.cluster.broker(node_id).await
    }

    /// A connection to the controller (where topic changes go).
    async fn controller(&self) -> Result<Arc<crate::conn::Connection>, ClientError> {
        self.cluster.refresh(Some(&[])).await?;
        let id = self.cluster.info().controller_id;
        match self.cluster.broker(id).await {
            Ok(c) => Ok(c),
            Err(_) => self.cluster.any().await,
        }
    }
}
