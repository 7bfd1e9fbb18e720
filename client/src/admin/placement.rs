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

/// Why a broker's replicas cannot all move away.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecommissionError {
    /// Some partitions have more replicas than there are other live brokers
    /// not already holding them.
    #[error(
        "too few brokers left: {} partition(s) cannot move off broker {broker} (e.g. {example}: replicas {replicas:?}, other live brokers {others:?})",
        count
    )]
    TooFewBrokers {
        /// The broker being decommissioned.
        broker: i32,
        /// How many partitions have nowhere to go.
        count: usize,
        /// One of them, as `topic-partition`.
        example: String,
        /// Its replicas.
        replicas: Vec<i32>,
        /// The live brokers other than `broker`.
        others: Vec<i32>,
    },
}

/// The reassignments that move every replica on `broker` elsewhere: in each
/// `(topic, partition, replicas)` of `placements` (every partition of the
/// cluster, so the counts are right) that holds `broker`, it is replaced
/// in place by the live broker not already a replica that holds the fewest
/// replicas so far (ties: the fewest preferred leaderships when `broker`
/// was first, then the lowest id). Order is kept, so the preferred leader
/// changes only where `broker` was it. Partitions are planned in
/// `(topic, partition)` order so the plan is deterministic. Nothing is
/// planned unless every partition can move.
pub fn decommission_plan(
    placements: &[(String, i32, Vec<i32>)],
    broker: i32,
    live: &[i32],
) -> Result<Vec<(String, i32, Vec<i32>)>, DecommissionError> {
    let others: Vec<i32> = {
        let mut o: Vec<i32> = live.iter().copied().filter(|&b| b != broker).collect();
        o.sort_unstable();
        o.dedup();
        o
    };
    let mut replicas_of: std::collections::BTreeMap<i32, usize> =
        others.iter().map(|&b| (b, 0)).collect();
    let mut preferred_of = replicas_of.clone();
    for (_, _, replicas) in placements {
        for (i, r) in replicas.iter().enumerate() {
            if let Some(n) = replicas_of.get_mut(r) {
                *n += 1;
            }
            if i == 0
                && let Some(n) = preferred_of.get_mut(r)
            {
                *n += 1;
            }
        }
    }
    let mut moving: Vec<&(String, i32, Vec<i32>)> = placements
        .iter()
        .filter(|(_, _, r)| r.contains(&broker))
        .collect();
    moving.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let mut plan = Vec::with_capacity(moving.len());
    let mut stuck: Vec<&(String, i32, Vec<i32>)> = Vec::new();
    for entry in moving {
        let (topic, partition, replicas) = entry;
        let first = replicas.first() == Some(&broker);
        let choice = others
            .iter()
            .copied()
            .filter(|b| !replicas.contains(b))
            .min_by_key(|b| {
                let leads = if first { preferred_of[b] } else { 0 };
                (replicas_of[b], leads, *b)
            });
        let Some(choice) = choice else {
            stuck.push(entry);
            continue;
        };
        *replicas_of.entry(choice).or_default() += 1;
        if first {
            *preferred_of.entry(choice).or_default() += 1;
        }
        let target = replicas
            .iter()
            .map(|&r| if r == broker { choice } else { r })
            .collect();
        plan.push((topic.clone(), *partition, target));
    }
    if let Some((topic, partition, replicas)) = stuck.first() {
        return Err(DecommissionError::TooFewBrokers {
            broker,
            count: stuck.len(),
            example: format!("{topic}-{partition}"),
            replicas: replicas.clone(),
            others,
        });
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(topic: &str, partition: i32, replicas: &[i32]) -> (String, i32, Vec<i32>) {
        (topic.into(), partition, replicas.to_vec())
    }

    #[test]
    fn replicas_move_in_place_to_the_least_loaded_live_broker() {
        let placements = vec![
            p("a", 0, &[3, 1]),
            p("a", 1, &[1, 3]),
            p("a", 2, &[2, 1]),
            p("b", 0, &[3]),
            p("b", 1, &[1, 2]),
        ];
        let plan = decommission_plan(&placements, 3, &[1, 2, 3, 4]).unwrap();
        // Loads before: 1 -> 4, 2 -> 2, 4 -> 0. a-0 gets 4 (then 1), a-1
        // gets 4 (1 < 2, then 2); b-0 ties 2 and 4 on replicas and on
        // preferred leaderships (one each): the lower id.
        assert_eq!(
            plan,
            vec![p("a", 0, &[4, 1]), p("a", 1, &[1, 4]), p("b", 0, &[2])]
        );
        // Untouched partitions are not in the plan; order is kept and the
        // preferred leader changes only where the broker was first.
        assert!(plan.iter().all(|(_, _, r)| !r.contains(&3)));
    }

    #[test]
    fn counts_balance_over_many_partitions() {
        let placements: Vec<_> = (0..30)
            .map(|i| p("t", i, &[3, [1, 2][i as usize % 2]]))
            .collect();
        let plan = decommission_plan(&placements, 3, &[1, 2, 3, 4, 5]).unwrap();
        assert_eq!(plan.len(), 30);
        let mut load = std::collections::BTreeMap::<i32, usize>::new();
        for (_, _, r) in &placements {
            for b in r.iter().filter(|&&b| b != 3) {
                *load.entry(*b).or_default() += 1;
            }
        }
        for (_, _, r) in &plan {
            assert_ne!(r[0], r[1], "{r:?}");
            *load.entry(r[0]).or_default() += 1;
        }
        // 60 replicas over 4 brokers: 15 each.
        assert!(load.values().all(|&n| n == 15), "{load:?}");
    }

    #[test]
    fn too_few_brokers_refuses_everything() {
        let placements = vec![
            p("a", 0, &[1, 2]),
            p("a", 1, &[3, 1, 2]),
            p("b", 0, &[2, 3]),
        ];
        let err = decommission_plan(&placements, 3, &[1, 2, 3]).unwrap_err();
        assert_eq!(
            err,
            DecommissionError::TooFewBrokers {
                broker: 3,
                count: 1,
                example: "a-1".into(),
                replicas: vec![3, 1, 2],
                others: vec![1, 2],
            }
        );
        assert!(err.to_string().contains("too few brokers"));
        // A broker holding nothing needs no plan; an unknown one neither.
        assert_eq!(decommission_plan(&placements, 7, &[1, 2, 3]), Ok(vec![]));
        // Not live brokers are never chosen (broker 4 is down).
        let plan = decommission_plan(&[p("c", 0, &[3, 1])], 3, &[1, 2, 3]).unwrap();
        assert_eq!(plan, vec![p("c", 0, &[2, 1])]);
    }
}
