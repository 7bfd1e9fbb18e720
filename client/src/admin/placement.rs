//! Admin calls on leadership and placement: leader elections (preferred or
//! unclean) and partition reassignments (start, cancel, list). They go to the
//! active controller when it is reachable (any broker forwards them).

use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, BrokerId, ElectLeadersRequest,
    ListPartitionReassignmentsRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::Admin;
use crate::error::ClientError;
use crate::protocol::ApiKey;
use crate::protocol::responses::{
    ALTER_PARTITION_REASSIGNMENTS_VERSION, AlterPartitionReassignmentsResponse,
    ELECT_LEADERS_VERSION, ElectLeadersResponse, LIST_PARTITION_REASSIGNMENTS_VERSION,
    ListPartitionReassignmentsResponse,
};

const ELECT_LEADERS_KEY: i16 = ApiKey::ElectLeaders as i16;
const ALTER_REASSIGNMENTS_KEY: i16 = ApiKey::AlterPartitionReassignments as i16;
const LIST_REASSIGNMENTS_KEY: i16 = ApiKey::ListPartitionReassignments as i16;

/// How long the broker may take over one of these requests.
const PLACEMENT_TIMEOUT_MS: i32 = 30_000;

/// Kafka's error code ELECTION_NOT_NEEDED (the partition already has the
/// leader asked for).
pub const ELECTION_NOT_NEEDED: i16 = 84;

/// Kafka's election types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionType {
    /// Leadership back to the first replica, if it is live and in sync.
    Preferred,
    /// A leader for partitions that have none, out-of-sync replicas included.
    Unclean,
}

/// One partition's election result.
#[derive(Debug, Clone)]
pub struct ElectionResult {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Why it was not elected (`None`: elected).
    pub error: Option<ClientError>,
}

/// A reassignment in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionReassignment {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The current replica set (target and old together).
    pub replicas: Vec<i32>,
    /// Replicas being added.
    pub adding: Vec<i32>,
    /// Replicas being removed.
    pub removing: Vec<i32>,
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

/// `(topic, partition)`s grouped by topic, in first-appearance order.
fn by_topic<T: Clone>(items: &[(String, i32, T)]) -> Vec<(String, Vec<(i32, T)>)> {
    let mut topics: Vec<(String, Vec<(i32, T)>)> = Vec::new();
    for (topic, partition, value) in items {
        match topics.iter_mut().find(|(t, _)| t == topic) {
            Some((_, ps)) => ps.push((*partition, value.clone())),
            None => topics.push((topic.clone(), vec![(*partition, value.clone())])),
        }
    }
    topics
}

impl Admin {
    /// Elects leaders of `partitions` (`None`: every partition, and only
    /// those where an election was needed come back).
    pub async fn elect_leaders(
        &self,
        kind: ElectionType,
        partitions: Option<&[(String, i32)]>,
    ) -> Result<Vec<ElectionResult>, ClientError> {
        let topic_partitions = partitions.map(|ps| {
            let tagged: Vec<(String, i32, ())> =
                ps.iter().map(|(t, p)| (t.clone(), *p, ())).collect();
            by_topic(&tagged)
                .into_iter()
                .map(|(t, ps)| {
                    TopicPartitions::default()
                        .with_topic(topic_name(&t))
                        .with_partitions(ps.into_iter().map(|(p, ())| p).collect())
                })
                .collect()
        });
        let election_type = match kind {
            ElectionType::Preferred => 0,
            ElectionType::Unclean => 1,
        };
        let request = ElectLeadersRequest::default()
            .with_election_type(election_type)
            .with_topic_partitions(topic_partitions)
            .with_timeout_ms(PLACEMENT_TIMEOUT_MS);
        let conn = self.controller().await?;
        let body = conn
            .call(ELECT_LEADERS_KEY, ELECT_LEADERS_VERSION, &request)
            .await?;
        let response = conn.decode(body, ElectLeadersResponse::decode)?;
        if let Some(e) = ClientError::from_code(response.error_code, None) {
            return Err(e);
        }
        let results = response
            .replica_election_results
            .into_iter()
            .flat_map(|t| {
                let topic = t.topic;
                t.partition_result.into_iter().map(move |p| ElectionResult {
                    topic: topic.clone(),
                    partition: p.partition_id,
                    error: ClientError::from_code(p.error_code, p.error_message),
                })
            })
            .collect();
        self.forget_placements();
        Ok(results)
    }

    /// Starts, changes or (with `None`) cancels the reassignment of each
    /// `(topic, partition, target replicas)`; one result per entry, in order.
    /// The call returns once the change is recorded; the data moves after
    /// ([`Admin::list_partition_reassignments`] shows what is in progress).
    pub async fn alter_partition_reassignments(
        &self,
        changes: &[(String, i32, Option<Vec<i32>>)],
    ) -> Result<Vec<Result<(), ClientError>>, ClientError> {
        let topics = by_topic(changes)
            .into_iter()
            .map(|(t, ps)| {
                let partitions = ps
                    .into_iter()
                    .map(|(p, replicas)| {
                        ReassignablePartition::default()
                            .with_partition_index(p)
                            .with_replicas(replicas.map(|r| r.into_iter().map(BrokerId).collect()))
                    })
                    .collect();
                ReassignableTopic::default()
                    .with_name(topic_name(&t))
                    .with_partitions(partitions)
            })
            .collect();
        let request = AlterPartitionReassignmentsRequest::default()
            .with_timeout_ms(PLACEMENT_TIMEOUT_MS)
            .with_topics(topics);
        let conn = self.controller().await?;
        let body = conn
            .call(
                ALTER_REASSIGNMENTS_KEY,
                ALTER_PARTITION_REASSIGNMENTS_VERSION,
                &request,
            )
            .await?;
        let response = conn.decode(body, AlterPartitionReassignmentsResponse::decode)?;
        if let Some(e) = ClientError::from_code(response.error_code, response.error_message) {
            return Err(e);
        }
        let results = changes
            .iter()
            .map(|(topic, partition, _)| {
                let found = response
                    .responses
                    .iter()
                    .filter(|t| &t.name == topic)
                    .flat_map(|t| &t.partitions)
                    .find(|p| p.partition_index == *partition);
                match found {
                    Some(p) => ClientError::from_code(p.error_code, p.error_message.clone())
                        .map_or(Ok(()), Err),
                    None => Err(ClientError::UnknownTopic(format!("{topic}-{partition}"))),
                }
            })
            .collect();
        self.forget_placements();
        Ok(results)
    }

    /// Drops every cached topic: leaders and replicas may have moved.
    fn forget_placements(&self) {
        for topic in self.cluster.all_topics() {
            self.cluster.invalidate(&topic.name);
        }
    }

    /// The reassignments in progress (of `partitions`, or all with `None`).
    pub async fn list_partition_reassignments(
        &self,
        partitions: Option<&[(String, i32)]>,
    ) -> Result<Vec<PartitionReassignment>, ClientError> {
        let topics = partitions.map(|ps| {
            let tagged: Vec<(String, i32, ())> =
                ps.iter().map(|(t, p)| (t.clone(), *p, ())).collect();
            by_topic(&tagged)
                .into_iter()
                .map(|(t, ps)| {
                    ListPartitionReassignmentsTopics::default()
                        .with_name(topic_name(&t))
                        .with_partition_indexes(ps.into_iter().map(|(p, ())| p).collect())
                })
                .collect()
        });
        let request = ListPartitionReassignmentsRequest::default()
            .with_timeout_ms(PLACEMENT_TIMEOUT_MS)
            .with_topics(topics);
        let conn = self.controller().await?;
        let body = conn
            .call(
                LIST_REASSIGNMENTS_KEY,
                LIST_PARTITION_REASSIGNMENTS_VERSION,
                &request,
            )
            .await?;
        let response = conn.decode(body, ListPartitionReassignmentsResponse::decode)?;
        if let Some(e) = ClientError::from_code(response.error_code, response.error_message) {
            return Err(e);
        }
        Ok(response
            .topics
            .into_iter()
            .flat_map(|t| {
                let topic = t.name;
                t.partitions
                    .into_iter()
                    .map(move |p| PartitionReassignment {
                        topic: topic.clone(),
                        partition: p.partition_index,
                        replicas: p.replicas,
                        adding: p.adding_replicas,
                        removing: p.removing_replicas,
                    })
            })
            .collect())
    }
}
