//! Admin calls on consumer groups: list, describe, delete, committed offsets,
//! offset resets and lag. Group calls go to the group's coordinator (found with
//! FindCoordinator), retried (bounded) while it moves or loads.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    BrokerId, DeleteGroupsRequest, DescribeGroupsRequest, FindCoordinatorRequest, GroupId,
    ListGroupsRequest, ListOffsetsRequest, OffsetCommitRequest, OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::Admin;
use crate::cluster::BrokerInfo;
use crate::conn::Connection;
use crate::error::{ClientError, codes};
use crate::protocol::ApiKey;
use crate::protocol::consumer_protocol::Assignment;
use crate::protocol::responses::{
    DELETE_GROUPS_VERSION, DESCRIBE_GROUPS_VERSION, DeleteGroupsResponse, DescribeGroupsResponse,
    FIND_COORDINATOR_VERSION, FindCoordinatorResponse, LIST_GROUPS_VERSION, LIST_OFFSETS_VERSION,
    ListGroupsResponse, ListOffsetsResponse, OFFSET_COMMIT_VERSION, OFFSET_FETCH_VERSION,
    OffsetCommitResponse, OffsetFetchResponse,
};

const LIST_OFFSETS_KEY: i16 = ApiKey::ListOffsets as i16;
const OFFSET_COMMIT_KEY: i16 = ApiKey::OffsetCommit as i16;
const OFFSET_FETCH_KEY: i16 = ApiKey::OffsetFetch as i16;
const FIND_COORDINATOR_KEY: i16 = ApiKey::FindCoordinator as i16;
const DESCRIBE_GROUPS_KEY: i16 = ApiKey::DescribeGroups as i16;
const LIST_GROUPS_KEY: i16 = ApiKey::ListGroups as i16;
const DELETE_GROUPS_KEY: i16 = ApiKey::DeleteGroups as i16;

/// Attempts of a group call while the coordinator is not ready.
const GROUP_CALL_ATTEMPTS: u64 = 20;

/// A group as ListGroups names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    /// Group id.
    pub group_id: String,
    /// Protocol type ("consumer" for Kafka consumers, empty for offsets only).
    pub protocol_type: String,
    /// State (Empty, Stable, ...).
    pub state: String,
}

/// A described group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// Group id.
    pub group_id: String,
    /// State (Empty, PreparingRebalance, CompletingRebalance, Stable, Dead).
    pub state: String,
    /// Protocol type.
    pub protocol_type: String,
    /// The chosen protocol (the assignor, for consumers).
    pub protocol: String,
    /// Its members.
    pub members: Vec<MemberDescription>,
}

/// A group member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// Member id.
    pub member_id: String,
    /// Static membership id.
    pub group_instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Assigned partitions per topic (consumer groups; empty otherwise).
    pub assignment: Vec<(String, Vec<i32>)>,
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// Metadata committed with it.
    pub metadata: Option<String>,
}

/// Where an offset reset moves a group (kafka-consumer-groups' `--to-*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetTo {
    /// Each partition's log start offset.
    Earliest,
    /// Each partition's high watermark.
    Latest,
    /// The first offset at or after this timestamp (ms), else the high watermark.
    Timestamp(i64),
    /// This offset, clamped to the partition's [earliest, latest].
    Offset(i64),
}

/// One partition of a reset plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetReset {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The committed offset before the reset, if any.
    pub current: Option<i64>,
    /// The offset the reset commits.
    pub target: i64,
}

/// One partition's lag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The group's committed offset, if any.
    pub committed: Option<i64>,
    /// The partition's high watermark.
    pub log_end_offset: i64,
    /// High watermark minus committed offset (none without a commit).
    pub lag: Option<i64>,
    /// The member it is assigned to, if any: (member id, client id, host).
    pub member: Option<(String, String, String)>,
}

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

/// Lag of a partition: what was produced beyond the commit (never negative:
/// records may be deleted below a commit).
pub fn lag_of(committed: Option<i64>, log_end_offset: i64) -> Option<i64> {
    committed
        .filter(|&c| c >= 0)
        .map(|c| (log_end_offset - c).max(0))
}

/// The offset a reset commits, from the partition's earliest and latest offsets
/// and (for [`ResetTo::Timestamp`]) the offset ListOffsets found (-1: none).
pub fn reset_target(to: ResetTo, earliest: i64, latest: i64, by_time: Option<i64>) -> i64 {
    match to {
        ResetTo::Earliest => earliest,
        ResetTo::Latest => latest,
        ResetTo::Timestamp(_) => match by_time {
            Some(at) if at >= 0 => at.clamp(earliest, latest),
            _ => latest,
        },
        ResetTo::Offset(at) => at.clamp(earliest, latest),
    }
}

impl Admin {
    /// The broker coordinating `group`, as FindCoordinator names it (one attempt:
    /// a moving or loading coordinator is a retriable error for the caller).
    pub async fn find_coordinator(&self, group: &str) -> Result<BrokerInfo, ClientError> {
        let conn = self.cluster().any().await?;
        conn.check_version(
            FIND_COORDINATOR_KEY,
            "FindCoordinator",
            FIND_COORDINATOR_VERSION,
        )?;
        let request = FindCoordinatorRequest::default()
            .with_key(text(group))
            .with_key_type(0);
        let body = conn
            .call(FIND_COORDINATOR_KEY, FIND_COORDINATOR_VERSION, &request)
            .await?;
        let response = conn.decode(body, FindCoordinatorResponse::decode)?;
        conn.throttle(response.throttle_time_ms);
        if let Some(e) = ClientError::from_code(response.error_code, response.error_message) {
            return Err(e);
        }
        let addr = if response.host.contains(':') {
            format!("[{}]:{}", response.host, response.port)
        } else {
            format!("{}:{}", response.host, response.port)
        };
        Ok(BrokerInfo {
            node_id: response.node_id,
            addr,
            rack: None,
        })
    }

    /// The connection to `group`'s coordinator.
    async fn coordinator(&self, group: &str) -> Result<Arc<Connection>, ClientError> {
        let coordinator = self.find_coordinator(group).await?;
        self.cluster().connection(&coordinator.addr).await
    }

    /// Runs `call` against `group`'s coordinator, finding it again and retrying
    /// (bounded) while the answer is retriable (coordinator moving or loading).
    async fn group_call<T, F, Fut>(&self, group: &str, call: F) -> Result<T, ClientError>
    where
        F: Fn(Arc<Connection>) -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        let mut last = ClientError::Kafka {
            code: codes::COORDINATOR_NOT_AVAILABLE,
            message: None,
        };
        for attempt in 0..GROUP_CALL_ATTEMPTS {
            let result = match self.coordinator(group).await {
                Ok(conn) => call(conn).await,
                Err(e) => Err(e),
            };
            match result {
                Err(e) if e.is_retriable() => last = e,
                other => return other,
            }
            tokio::time::sleep(Duration::from_millis(50 * (attempt + 1).min(10))).await;
        }
        Err(last)
    }

    /// Every group of every broker, sorted by id.
    pub async fn list_groups(&self) -> Result<Vec<GroupListing>, ClientError> {
        self.cluster().refresh(Some(&[])).await?;
        let mut groups = BTreeMap::new();
        for broker in self.cluster().info().brokers {
            let conn = self.cluster().broker(broker.node_id).await?;
            conn.check_version(LIST_GROUPS_KEY, "ListGroups", LIST_GROUPS_VERSION)?;
            let body = conn
                .call(
                    LIST_GROUPS_KEY,
                    LIST_GROUPS_VERSION,
                    &ListGroupsRequest::default(),
                )
                .await?;
            let response = conn.decode(body, ListGroupsResponse::decode)?;
            conn.throttle(response.throttle_time_ms);
            if let Some(e) = ClientError::from_code(response.error_code, None) {
                return Err(e);
            }
            for g in response.groups {
                groups.insert(
                    g.group_id.clone(),
                    GroupListing {
                        group_id: g.group_id,
                        protocol_type: g.protocol_type,
                        state: g.group_state,
                    },
                );
            }
        }
        Ok(groups.into_values().collect())
    }

    /// Describes groups; one result per group, in order.
    pub async fn describe_groups(
        &self,
        groups: &[String],
    ) -> Result<Vec<Result<GroupDescription, ClientError>>, ClientError> {
        let mut results = Vec::with_capacity(groups.len());
        for group in groups {
            let described = self
                .group_call(
                    group,
                    |conn| async move { describe_group(&conn, group).await },
                )
                .await;
            results.push(described);
        }
        Ok(results)
    }

    /// Deletes groups (only empty ones can be); one result per group, in order.
    pub async fn delete_groups(
        &self,
        groups: &[String],
    ) -> Result<Vec<Result<(), ClientError>>, ClientError> {
        let mut results = Vec::with_capacity(groups.len());
        for group in groups {
            let deleted = self
                .group_call(group, |conn| async move {
                    conn.check_version(DELETE_GROUPS_KEY, "DeleteGroups", DELETE_GROUPS_VERSION)?;
                    let request = DeleteGroupsRequest::default()
                        .with_groups_names(vec![GroupId(text(group))]);
                    let body = conn
                        .call(DELETE_GROUPS_KEY, DELETE_GROUPS_VERSION, &request)
                        .await?;
                    let response = conn.decode(body, DeleteGroupsResponse::decode)?;
                    conn.throttle(response.throttle_time_ms);
                    let code = response
                        .results
                        .iter()
                        .find(|r| &r.group_id == group)
                        .map_or(codes::COORDINATOR_NOT_AVAILABLE, |r| r.error_code);
                    ClientError::from_code(code, None).map_or(Ok(()), Err)
                })
                .await;
            results.push(deleted);
        }
        Ok(results)
    }

    /// The group's committed offsets, sorted by topic and partition.
    pub async fn group_offsets(&self, group: &str) -> Result<Vec<CommittedOffset>, ClientError> {
        self.group_call(group, |conn| async move {
            conn.check_version(OFFSET_FETCH_KEY, "OffsetFetch", OFFSET_FETCH_VERSION)?;
            let request = OffsetFetchRequest::default()
                .with_group_id(GroupId(text(group)))
                .with_topics(None);
            let body = conn
                .call(OFFSET_FETCH_KEY, OFFSET_FETCH_VERSION, &request)
                .await?;
            let response = conn.decode(body, OffsetFetchResponse::decode)?;
            conn.throttle(response.throttle_time_ms);
            if let Some(e) = ClientError::from_code(response.error_code, None) {
                return Err(e);
            }
            let mut offsets = Vec::new();
            for t in response.topics {
                for p in t.partitions {
                    if let Some(e) = ClientError::from_code(p.error_code, None) {
                        return Err(e);
                    }
                    if p.committed_offset >= 0 {
                        offsets.push(CommittedOffset {
                            topic: t.name.clone(),
                            partition: p.partition_index,
                            offset: p.committed_offset,
                            metadata: p.metadata,
                        });
                    }
                }
            }
            offsets.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
            Ok(offsets)
        })
        .await
    }

    /// Commits offsets for `group` from outside it (generation -1, no member
    /// id), as kafka-consumer-groups does: the coordinator accepts that only
    /// while the group has no members, and its error is returned otherwise.
    pub async fn commit_group_offsets(
        &self,
        group: &str,
        offsets: &[(String, i32, i64)],
    ) -> Result<(), ClientError> {
        let mut by_topic: BTreeMap<&str, Vec<(i32, i64)>> = BTreeMap::new();
        for (topic, partition, offset) in offsets {
            by_topic
                .entry(topic)
                .or_default()
                .push((*partition, *offset));
        }
        let by_topic = &by_topic;
        self.group_call(group, |conn| async move {
            conn.check_version(OFFSET_COMMIT_KEY, "OffsetCommit", OFFSET_COMMIT_VERSION)?;
            let topics = by_topic
                .iter()
                .map(|(topic, parts)| {
                    OffsetCommitRequestTopic::default()
                        .with_name(TopicName(text(topic)))
                        .with_partitions(
                            parts
                                .iter()
                                .map(|(p, o)| {
                                    OffsetCommitRequestPartition::default()
                                        .with_partition_index(*p)
                                        .with_committed_offset(*o)
                                        .with_committed_metadata(Some(StrBytes::default()))
                                })
                                .collect(),
                        )
                })
                .collect();
            let request = OffsetCommitRequest::default()
                .with_group_id(GroupId(text(group)))
                .with_generation_id_or_member_epoch(-1)
                .with_member_id(StrBytes::default())
                .with_group_instance_id(None)
                .with_topics(topics);
            let body = conn
                .call(OFFSET_COMMIT_KEY, OFFSET_COMMIT_VERSION, &request)
                .await?;
            let response = conn.decode(body, OffsetCommitResponse::decode)?;
            conn.throttle(response.throttle_time_ms);
            let failed = response
                .topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(move |p| (&t.name, p)))
                .find(|(_, p)| p.error_code != 0);
            match failed {
                None => Ok(()),
                Some((topic, p)) if p.error_code == codes::UNKNOWN_MEMBER_ID => {
                    Err(ClientError::Kafka {
                        code: p.error_code,
                        message: Some(format!(
                            "group {group} has active members: its offsets can only be set while it is empty ({topic}-{})",
                            p.partition_index
                        )),
                    })
                }
                Some((topic, p)) => Err(ClientError::Kafka {
                    code: p.error_code,
                    message: Some(format!("committing {topic}-{}", p.partition_index)),
                }),
            }
        })
        .await
    }

    /// The offsets a reset of `group` on `topics` would commit, one per
    /// partition; committed when `execute` (only an empty group accepts that:
    /// the coordinator's error is returned otherwise).
    pub async fn reset_group_offsets(
        &self,
        group: &str,
        topics: &[String],
        to: ResetTo,
        execute: bool,
    ) -> Result<Vec<OffsetReset>, ClientError> {
        let mut partitions = Vec::new();
        for topic in topics {
            self.cluster().invalidate(topic);
            let meta = self.cluster().topic(topic).await?;
            partitions.extend(meta.partitions.iter().map(|p| (topic.clone(), p.partition)));
        }
        let committed: BTreeMap<(String, i32), i64> = self
            .group_offsets(group)
            .await?
            .into_iter()
            .map(|c| ((c.topic, c.partition), c.offset))
            .collect();
        let earliest = self.list_offsets(&partitions, -2).await?;
        let latest = self.list_offsets(&partitions, -1).await?;
        let by_time = match to {
            ResetTo::Timestamp(ts) => Some(self.list_offsets(&partitions, ts).await?),
            _ => None,
        };
        let plan: Vec<OffsetReset> = partitions
            .iter()
            .map(|key| {
                let found = by_time.as_ref().and_then(|m| m.get(key).copied());
                OffsetReset {
                    topic: key.0.clone(),
                    partition: key.1,
                    current: committed.get(key).copied(),
                    target: reset_target(to, earliest[key], latest[key], found),
                }
            })
            .collect();
        if execute {
            let offsets: Vec<(String, i32, i64)> = plan
                .iter()
                .map(|r| (r.topic.clone(), r.partition, r.target))
                .collect();
            self.commit_group_offsets(group, &offsets).await?;
        }
        Ok(plan)
    }

    /// The group's lag on every partition it has committed or is assigned,
    /// sorted by topic and partition.
    pub async fn group_lag(&self, group: &str) -> Result<Vec<PartitionLag>, ClientError> {
        let description = self
            .describe_groups(&[group.to_owned()])
            .await?
            .into_iter()
            .next()
            .unwrap_or(Err(ClientError::Closed))?;
        let mut owner = BTreeMap::new();
        for m in &description.members {
            for (topic, parts) in &m.assignment {
                for p in parts {
                    let who = (
                        m.member_id.clone(),
                        m.client_id.clone(),
                        m.client_host.clone(),
                    );
                    owner.insert((topic.clone(), *p), who);
                }
            }
        }
        let committed: BTreeMap<(String, i32), i64> = self
            .group_offsets(group)
            .await?
            .into_iter()
            .map(|c| ((c.topic, c.partition), c.offset))
            .collect();
        let keys: BTreeSet<(String, i32)> = committed.keys().chain(owner.keys()).cloned().collect();
        let keys: Vec<(String, i32)> = keys.into_iter().collect();
        let ends = self.list_offsets(&keys, -1).await?;
        Ok(keys
            .into_iter()
            .map(|key| {
                let committed = committed.get(&key).copied();
                let log_end_offset = ends[&key];
                PartitionLag {
                    lag: lag_of(committed, log_end_offset),
                    member: owner.get(&key).cloned(),
                    topic: key.0,
                    partition: key.1,
                    committed,
                    log_end_offset,
                }
            })
            .collect())
    }

    /// ListOffsets at `timestamp` (-2 earliest, -1 latest) for every partition,
    /// one request per leader. For a timestamp with no record at or after it the
    /// offset is -1.
    pub async fn list_offsets(
        &self,
        partitions: &[(String, i32)],
        timestamp: i64,
    ) -> Result<BTreeMap<(String, i32), i64>, ClientError> {
        let mut by_leader: BTreeMap<i32, BTreeMap<&str, Vec<i32>>> = BTreeMap::new();
        for (topic, partition) in partitions {
            let meta = self.cluster().topic(topic).await?;
            let leader = meta
                .partitions
                .iter()
                .find(|p| p.partition == *partition)
                .map(|p| p.leader)
                .ok_or_else(|| ClientError::UnknownTopic(format!("{topic}-{partition}")))?;
            by_leader
                .entry(leader)
                .or_default()
                .entry(topic)
                .or_default()
                .push(*partition);
        }
        let mut offsets = BTreeMap::new();
        for (leader, topics) in by_leader {
            let conn = self.cluster().broker(leader).await?;
            conn.check_version(LIST_OFFSETS_KEY, "ListOffsets", LIST_OFFSETS_VERSION)?;
            let request = ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_topics(
                    topics
                        .iter()
                        .map(|(topic, parts)| {
                            ListOffsetsTopic::default()
                                .with_name(TopicName(text(topic)))
                                .with_partitions(
                                    parts
                                        .iter()
                                        .map(|p| {
                                            ListOffsetsPartition::default()
                                                .with_partition_index(*p)
                                                .with_current_leader_epoch(-1)
                                                .with_timestamp(timestamp)
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                );
            let body = conn
                .call(LIST_OFFSETS_KEY, LIST_OFFSETS_VERSION, &request)
                .await?;
            let response = conn.decode(body, ListOffsetsResponse::decode)?;
            conn.throttle(response.throttle_time_ms);
            for t in response.topics {
                for p in t.partitions {
                    if let Some(e) = ClientError::from_code(p.error_code, None) {
                        return Err(e);
                    }
                    offsets.insert((t.name.clone(), p.partition_index), p.offset);
                }
            }
        }
        match partitions.iter().find(|key| !offsets.contains_key(*key)) {
            Some((topic, partition)) => {
                Err(ClientError::UnknownTopic(format!("{topic}-{partition}")))
            }
            None => Ok(offsets),
        }
    }
}

async fn describe_group(conn: &Connection, group: &str) -> Result<GroupDescription, ClientError> {
    conn.check_version(
        DESCRIBE_GROUPS_KEY,
        "DescribeGroups",
        DESCRIBE_GROUPS_VERSION,
    )?;
    let request = DescribeGroupsRequest::default().with_groups(vec![GroupId(text(group))]);
    let body = conn
        .call(DESCRIBE_GROUPS_KEY, DESCRIBE_GROUPS_VERSION, &request)
        .await?;
    let response = conn.decode(body, DescribeGroupsResponse::decode)?;
    conn.throttle(response.throttle_time_ms);
    let g = response
        .groups
        .into_iter()
        .find(|g| g.group_id == group)
        .ok_or(ClientError::Kafka {
            code: codes::COORDINATOR_NOT_AVAILABLE,
            message: Some(format!("no answer for group {group}")),
        })?;
    if let Some(e) = ClientError::from_code(g.error_code, None) {
        return Err(e);
    }
    let consumer = g.protocol_type == "consumer";
    let members = g
        .members
        .into_iter()
        .map(|m| MemberDescription {
            assignment: if consumer {
                Assignment::decode(m.member_assignment)
                    .map(|a| a.partitions)
                    .unwrap_or_default()
            } else {
                Vec::new()
            },
            member_id: m.member_id,
            group_instance_id: m.group_instance_id,
            client_id: m.client_id,
            client_host: m.client_host,
        })
        .collect();
    Ok(GroupDescription {
        group_id: g.group_id,
        state: g.group_state,
        protocol_type: g.protocol_type,
        protocol: g.protocol_data,
        members,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_needs_a_commit_and_is_never_negative() {
        assert_eq!(lag_of(Some(3), 10), Some(7));
        assert_eq!(lag_of(None, 10), None);
        assert_eq!(lag_of(Some(-1), 10), None);
        // Records deleted below the commit: nothing to catch up on.
        assert_eq!(lag_of(Some(12), 10), Some(0));
    }

    #[test]
    fn reset_targets_follow_kafka_consumer_groups() {
        assert_eq!(reset_target(ResetTo::Earliest, 5, 20, None), 5);
        assert_eq!(reset_target(ResetTo::Latest, 5, 20, None), 20);
        assert_eq!(reset_target(ResetTo::Offset(2), 5, 20, None), 5);
        assert_eq!(reset_target(ResetTo::Offset(30), 5, 20, None), 20);
        assert_eq!(reset_target(ResetTo::Offset(7), 5, 20, None), 7);
        assert_eq!(reset_target(ResetTo::Timestamp(1), 5, 20, Some(9)), 9);
        // No record at or after the time: the end.
        assert_eq!(reset_target(ResetTo::Timestamp(1), 5, 20, Some(-1)), 20);
        assert_eq!(reset_target(ResetTo::Timestamp(1), 5, 20, None), 20);
    }
}
