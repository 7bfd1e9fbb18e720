//! Admin calls on topics beyond create/delete: partitions, configs, records.

use std::collections::BTreeMap;

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{
    CreatePartitionsRequest, DeleteRecordsRequest, DescribeConfigsRequest,
    IncrementalAlterConfigsRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::Admin;
use crate::error::ClientError;
use crate::protocol::ApiKey;
use crate::protocol::responses::{
    CREATE_PARTITIONS_VERSION, CreatePartitionsResponse, DELETE_RECORDS_VERSION,
    DESCRIBE_CONFIGS_VERSION, DeleteRecordsResponse, DescribeConfigsResponse,
    INCREMENTAL_ALTER_CONFIGS_VERSION, IncrementalAlterConfigsResponse,
};

const DELETE_RECORDS_KEY: i16 = ApiKey::DeleteRecords as i16;
const DESCRIBE_CONFIGS_KEY: i16 = ApiKey::DescribeConfigs as i16;
const CREATE_PARTITIONS_KEY: i16 = ApiKey::CreatePartitions as i16;
const INCREMENTAL_ALTER_CONFIGS_KEY: i16 = ApiKey::IncrementalAlterConfigs as i16;

/// DeleteRecords' offset meaning "everything up to the high watermark".
pub const DELETE_ALL_RECORDS: i64 = -1;

/// What a config belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConfigResource {
    /// A topic's configs.
    Topic(String),
    /// A broker's configs.
    Broker(i32),
}

impl ConfigResource {
    /// Kafka's resource type code.
    pub fn resource_type(&self) -> i8 {
        match self {
            Self::Topic(_) => 2,
            Self::Broker(_) => 4,
        }
    }

    /// The resource name on the wire.
    pub fn resource_name(&self) -> String {
        match self {
            Self::Topic(name) => name.clone(),
            Self::Broker(id) => id.to_string(),
        }
    }
}

/// Where a config value comes from (Kafka's `ConfigSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// Set on the topic.
    DynamicTopic,
    /// Set on this broker at runtime.
    DynamicBroker,
    /// Set for all brokers at runtime.
    DynamicDefaultBroker,
    /// The broker's config file or flags.
    StaticBroker,
    /// Built in.
    Default,
    /// A broker logger level.
    DynamicBrokerLogger,
    /// A code this client does not know.
    Unknown(i8),
}

impl ConfigSource {
    /// From Kafka's code.
    pub fn from_code(code: i8) -> Self {
        match code {
            1 => Self::DynamicTopic,
            2 => Self::DynamicBroker,
            3 => Self::DynamicDefaultBroker,
            4 => Self::StaticBroker,
            5 => Self::Default,
            6 => Self::DynamicBrokerLogger,
            other => Self::Unknown(other),
        }
    }

    /// Kafka's name, as its tools print it.
    pub fn name(self) -> String {
        match self {
            Self::DynamicTopic => "DYNAMIC_TOPIC_CONFIG".into(),
            Self::DynamicBroker => "DYNAMIC_BROKER_CONFIG".into(),
            Self::DynamicDefaultBroker => "DYNAMIC_DEFAULT_BROKER_CONFIG".into(),
            Self::StaticBroker => "STATIC_BROKER_CONFIG".into(),
            Self::Default => "DEFAULT_CONFIG".into(),
            Self::DynamicBrokerLogger => "DYNAMIC_BROKER_LOGGER_CONFIG".into(),
            Self::Unknown(code) => format!("UNKNOWN({code})"),
        }
    }
}

/// One described config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// Name.
    pub name: String,
    /// Value (null when sensitive).
    pub value: Option<String>,
    /// Where the value comes from.
    pub source: ConfigSource,
    /// Whether it cannot be altered.
    pub read_only: bool,
    /// Whether the value is hidden.
    pub is_sensitive: bool,
}

/// One IncrementalAlterConfigs operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterConfigOp {
    /// Give `name` this value.
    Set(String, String),
    /// Remove the override of `name` (back to its default).
    Delete(String),
    /// Add these comma-separated values to list config `name`.
    Append(String, String),
    /// Remove these comma-separated values from list config `name`.
    Subtract(String, String),
}

impl AlterConfigOp {
    fn encode(&self) -> AlterableConfig {
        let (name, op, value) = match self {
            Self::Set(n, v) => (n, 0, Some(v)),
            Self::Delete(n) => (n, 1, None),
            Self::Append(n, v) => (n, 2, Some(v)),
            Self::Subtract(n, v) => (n, 3, Some(v)),
        };
        AlterableConfig::default()
            .with_name(StrBytes::from_string(name.clone()))
            .with_config_operation(op)
            .with_value(value.map(|v| StrBytes::from_string(v.clone())))
    }
}

/// One leader's share of a DeleteRecords: topic → [(request index,
/// partition, offset)].
type ByTopic<'a> = BTreeMap<&'a str, Vec<(usize, i32, i64)>>;

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

fn topic_name(s: &str) -> TopicName {
    TopicName(text(s))
}

impl Admin {
    /// Grows topics to new total partition counts (`kafka-topics --alter
    /// --partitions`); one result per topic, in order. Answered once the new
    /// partitions are online.
    pub async fn create_partitions(
        &self,
        topics: &[(String, i32)],
        validate_only: bool,
    ) -> Result<Vec<Result<(), ClientError>>, ClientError> {
        let request = CreatePartitionsRequest::default()
            .with_topics(
                topics
                    .iter()
                    .map(|(name, count)| {
                        CreatePartitionsTopic::default()
                            .with_name(topic_name(name))
                            .with_count(*count)
                            .with_assignments(None)
                    })
                    .collect(),
            )
            .with_timeout_ms(30_000)
            .with_validate_only(validate_only);
        let conn = self.controller().await?;
        conn.check_version(
            CREATE_PARTITIONS_KEY,
            "CreatePartitions",
            CREATE_PARTITIONS_VERSION,
        )?;
        let body = conn
            .call(CREATE_PARTITIONS_KEY, CREATE_PARTITIONS_VERSION, &request)
            .await?;
        let response = conn.decode(body, CreatePartitionsResponse::decode)?;
        conn.throttle(response.throttle_time_ms);
        for (name, _) in topics {
            self.cluster().invalidate(name);
        }
        Ok(topics
            .iter()
            .map(
                |(name, _)| match response.results.iter().find(|r| &r.name == name) {
                    Some(r) => ClientError::from_code(r.error_code, r.error_message.clone())
                        .map_or(Ok(()), Err),
                    None => Err(ClientError::UnknownTopic(name.clone())),
                },
            )
            .collect())
    }

    /// Every config of each resource; one result per resource, in order. Topic
    /// configs are asked of the controller, a broker's of that broker.
    pub async fn describe_configs(
        &self,
        resources: &[ConfigResource],
    ) -> Result<Vec<Result<Vec<ConfigEntry>, ClientError>>, ClientError> {
        let mut results = Vec::with_capacity(resources.len());
        for resource in resources {
            let conn = match resource {
                ConfigResource::Topic(_) => self.controller().await?,
                ConfigResource::Broker(id) => self.broker(*id).await?,
            };
            conn.check_version(
                DESCRIBE_CONFIGS_KEY,
                "DescribeConfigs",
                DESCRIBE_CONFIGS_VERSION,
            )?;
            let request = DescribeConfigsRequest::default().with_resources(vec![
                DescribeConfigsResource::default()
                    .with_resource_type(resource.resource_type())
                    .with_resource_name(text(&resource.resource_name()))
                    .with_configuration_keys(None),
            ]);
            let body = conn
                .call(DESCRIBE_CONFIGS_KEY, DESCRIBE_CONFIGS_VERSION, &request)
                .await?;
            let response = conn.decode(body, DescribeConfigsResponse::decode)?;
            conn.throttle(response.throttle_time_ms);
            let result = match response.results.into_iter().next() {
                None => Err(ClientError::Config(format!(
                    "no answer for {resource:?} in DescribeConfigs"
                ))),
                Some(r) => match ClientError::from_code(r.error_code, r.error_message) {
                    Some(e) => Err(e),
                    None => Ok(r
                        .configs
                        .into_iter()
                        .map(|c| ConfigEntry {
                            name: c.name,
                            value: c.value,
                            source: ConfigSource::from_code(c.config_source),
                            read_only: c.read_only,
                            is_sensitive: c.is_sensitive,
                        })
                        .collect()),
                },
            };
            results.push(result);
        }
        Ok(results)
    }

    /// Every config of `topic`.
    pub async fn describe_topic_configs(
        &self,
        topic: &str,
    ) -> Result<Vec<ConfigEntry>, ClientError> {
        let resource = ConfigResource::Topic(topic.to_owned());
        self.describe_configs(&[resource])
            .await?
            .into_iter()
            .next()
            .unwrap_or_else(|| Err(ClientError::UnknownTopic(topic.to_owned())))
    }

    /// Alters one resource's configs incrementally (IncrementalAlterConfigs):
    /// the operations apply together, or none does.
    pub async fn alter_configs(
        &self,
        resource: &ConfigResource,
        ops: &[AlterConfigOp],
        validate_only: bool,
    ) -> Result<(), ClientError> {
        let conn = match resource {
            ConfigResource::Topic(_) => self.controller().await?,
            ConfigResource::Broker(id) => self.broker(*id).await?,
        };
        conn.check_version(
            INCREMENTAL_ALTER_CONFIGS_KEY,
            "IncrementalAlterConfigs",
            INCREMENTAL_ALTER_CONFIGS_VERSION,
        )?;
        let request = IncrementalAlterConfigsRequest::default()
            .with_resources(vec![
                AlterConfigsResource::default()
                    .with_resource_type(resource.resource_type())
                    .with_resource_name(text(&resource.resource_name()))
                    .with_configs(ops.iter().map(AlterConfigOp::encode).collect()),
            ])
            .with_validate_only(validate_only);
        let body = conn
            .call(
                INCREMENTAL_ALTER_CONFIGS_KEY,
                INCREMENTAL_ALTER_CONFIGS_VERSION,
                &request,
            )
            .await?;
        let response = conn.decode(body, IncrementalAlterConfigsResponse::decode)?;
        conn.throttle(response.throttle_time_ms);
        match response.responses.into_iter().next() {
            Some(r) => ClientError::from_code(r.error_code, r.error_message).map_or(Ok(()), Err),
            None => Err(ClientError::Config(format!(
                "no answer for {resource:?} in IncrementalAlterConfigs"
            ))),
        }
    }

    /// Deletes the records of each (topic, partition) below its offset
    /// ([`DELETE_ALL_RECORDS`]: all of them); one result per partition, in
    /// order: the partition's new low watermark. Sent to each partition's leader.
    pub async fn delete_records(
        &self,
        partitions: &[(String, i32, i64)],
    ) -> Result<Vec<Result<i64, ClientError>>, ClientError> {
        let mut results: Vec<Option<Result<i64, ClientError>>> = vec![None; partitions.len()];
        let mut by_leader: BTreeMap<i32, ByTopic> = BTreeMap::new();
        for (i, (topic, partition, offset)) in partitions.iter().enumerate() {
            let leader = match self.cluster().topic(topic).await {
                Ok(meta) => meta
                    .partitions
                    .iter()
                    .find(|p| p.partition == *partition)
                    .map(|p| p.leader),
                Err(e) => {
                    results[i] = Some(Err(e));
                    continue;
                }
            };
            match leader {
                Some(leader) => by_leader
                    .entry(leader)
                    .or_default()
                    .entry(topic)
                    .or_default()
                    .push((i, *partition, *offset)),
                None => {
                    results[i] = Some(Err(ClientError::UnknownTopic(format!(
                        "{topic}-{partition}"
                    ))))
                }
            }
        }
        for (leader, topics) in by_leader {
            let conn = self.cluster().broker(leader).await?;
            conn.check_version(DELETE_RECORDS_KEY, "DeleteRecords", DELETE_RECORDS_VERSION)?;
            let request = DeleteRecordsRequest::default()
                .with_topics(
                    topics
                        .iter()
                        .map(|(topic, parts)| {
                            DeleteRecordsTopic::default()
                                .with_name(topic_name(topic))
                                .with_partitions(
                                    parts
                                        .iter()
                                        .map(|(_, p, o)| {
                                            DeleteRecordsPartition::default()
                                                .with_partition_index(*p)
                                                .with_offset(*o)
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                )
                .with_timeout_ms(30_000);
            let body = conn
                .call(DELETE_RECORDS_KEY, DELETE_RECORDS_VERSION, &request)
                .await?;
            let response = conn.decode(body, DeleteRecordsResponse::decode)?;
            conn.throttle(response.throttle_time_ms);
            for (topic, parts) in &topics {
                let answered = response.topics.iter().find(|t| t.name == *topic);
                for (i, partition, _) in parts {
                    let p = answered.and_then(|t| {
                        t.partitions
                            .iter()
                            .find(|p| p.partition_index == *partition)
                    });
                    results[*i] = Some(match p {
                        Some(p) => match ClientError::from_code(p.error_code, None) {
                            Some(e) => Err(e),
                            None => Ok(p.low_watermark),
                        },
                        None => Err(ClientError::UnknownTopic(format!("{topic}-{partition}"))),
                    });
                }
            }
        }
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or(Err(ClientError::Closed)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_encode_kafkas_codes() {
        let cases = [
            (AlterConfigOp::Set("a".into(), "1".into()), 0, Some("1")),
            (AlterConfigOp::Delete("a".into()), 1, None),
            (AlterConfigOp::Append("a".into(), "x".into()), 2, Some("x")),
            (
                AlterConfigOp::Subtract("a".into(), "y".into()),
                3,
                Some("y"),
            ),
        ];
        for (op, code, value) in cases {
            let c = op.encode();
            assert_eq!(c.name.as_str(), "a");
            assert_eq!(c.config_operation, code, "{op:?}");
            assert_eq!(c.value.as_ref().map(|v| v.as_str()), value);
        }
    }

    #[test]
    fn sources_round_trip_kafkas_names() {
        assert_eq!(ConfigSource::from_code(1).name(), "DYNAMIC_TOPIC_CONFIG");
        assert_eq!(ConfigSource::from_code(5), ConfigSource::Default);
        assert_eq!(ConfigSource::from_code(42).name(), "UNKNOWN(42)");
        assert_eq!(ConfigResource::Broker(3).resource_name(), "3");
        assert_eq!(ConfigResource::Topic("t".into()).resource_type(), 2);
    }
}
