//! TxnOffsetCommit request (v0–4).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// TxnOffsetCommit request: offsets committed as part of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOffsetCommitRequest {
    /// The transactional id.
    pub transactional_id: String,
    /// The group.
    pub group_id: String,
    /// The producer id in use by the transactional id.
    pub producer_id: i64,
    /// Its current epoch.
    pub producer_epoch: i16,
    /// The group generation (v3+, KIP-447; -1 otherwise).
    pub generation_id: i32,
    /// The member id (v3+; empty otherwise).
    pub member_id: String,
    /// Static membership id (v3+; nullable).
    pub group_instance_id: Option<String>,
    /// What to commit.
    pub topics: Vec<TxnOffsetCommitRequestTopic>,
}

/// One topic's commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOffsetCommitRequestTopic {
    /// Topic name.
    pub name: String,
    /// Partition commits.
    pub partitions: Vec<TxnOffsetCommitRequestPartition>,
}

/// One partition's commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOffsetCommitRequestPartition {
    /// Partition index.
    pub partition_index: i32,
    /// Next offset to consume.
    pub committed_offset: i64,
    /// Leader epoch of the last consumed record (v2+; -1 unknown).
    pub committed_leader_epoch: i32,
    /// Client metadata (nullable).
    pub committed_metadata: Option<String>,
}

impl TxnOffsetCommitRequest {
    pub fn decode(r: &mut Reader, v: i16) -> Result<Self, DecodeError> {
        let flex = v >= 3;
        let transactional_id = r.string(flex, "transactional_id")?;
        let group_id = r.group_id(flex)?;
        let producer_id = r.i64()?;
        let producer_epoch = r.i16()?;
        let (generation_id, member_id, group_instance_id) = if v >= 3 {
            (
                r.i32()?,
                r.string(flex, "member_id")?,
                r.nullable_string(flex, "group_instance_id")?,
            )
        } else {
            (-1, String::new(), None)
        };
        let topics = r.array(flex, 3, "topics", |r| {
            let name = r.string(flex, "topic name")?;
            let partitions = r.array(flex, 14, "partitions", |r| {
                let partition_index = r.i32()?;
                let committed_offset = r.i64()?;
                let committed_leader_epoch = if v >= 2 { r.i32()? } else { -1 };
                let committed_metadata = r.nullable_string(flex, "committed_metadata")?;
                r.tagged_fields(flex)?;
                Ok(TxnOffsetCommitRequestPartition {
                    partition_index,
                    committed_offset,
                    committed_leader_epoch,
                    committed_metadata,
                })
            })?;
            r.tagged_fields(flex)?;
            Ok(TxnOffsetCommitRequestTopic { name, partitions })
        })?;
        r.tagged_fields(flex)?;
        Ok(Self {
            transactional_id,
            group_id,
            producer_id,
            producer_epoch,
            generation_id,
            member_id,
            group_instance_id,
            topics,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bytes::{Bytes, BytesMut};
    use kafka_protocol::messages::txn_offset_commit_request as kp;
    use kafka_protocol::messages::{GroupId, ProducerId, TopicName, TransactionalId};
    use kafka_protocol::protocol::{Encodable, StrBytes};

    use super::*;

    fn tags(flex: bool) -> BTreeMap<i32, Bytes> {
        let mut tags = BTreeMap::new();
        if flex {
            tags.insert(100, Bytes::from_static(b"\x01\x02\x03"));
        }
        tags
    }

    fn s(v: &'static str) -> StrBytes {
        StrBytes::from_static_str(v)
    }

    /// `instance`: whether v3+ samples carry a group instance id (else null).
    fn sample(v: i16, instance: bool) -> kp::TxnOffsetCommitRequest {
        let flex = v >= 3;
        let partition = |index: i32, offset: i64, metadata: Option<&'static str>| {
            let mut p = kp::TxnOffsetCommitRequestPartition::default()
                .with_partition_index(index)
                .with_committed_offset(offset)
                .with_committed_metadata(metadata.map(s))
                .with_unknown_tagged_fields(tags(flex));
            if v >= 2 {
                p = p.with_committed_leader_epoch(index + 5);
            }
            p
        };
        let mut r = kp::TxnOffsetCommitRequest::default()
            .with_transactional_id(TransactionalId(s("txn-commit")))
            .with_group_id(GroupId(s("group-\u{1f600}")))
            .with_producer_id(ProducerId(1 << 35))
            .with_producer_epoch(6)
            .with_topics(vec![
                kp::TxnOffsetCommitRequestTopic::default()
                    .with_name(TopicName(s("orders")))
                    .with_partitions(vec![
                        partition(0, 100, Some("meta")),
                        partition(3, 1 << 40, None),
                    ])
                    .with_unknown_tagged_fields(tags(flex)),
                kp::TxnOffsetCommitRequestTopic::default()
                    .with_name(TopicName(s("payments")))
                    .with_partitions(vec![partition(1, 0, Some(""))])
                    .with_unknown_tagged_fields(tags(flex)),
            ])
            .with_unknown_tagged_fields(tags(flex));
        if v >= 3 {
            r = r
                .with_generation_id(17)
                .with_member_id(s("member-1"))
                .with_group_instance_id(instance.then(|| s("instance-1")));
        }
        r
    }

    fn encode(v: i16, instance: bool) -> Bytes {
        let mut buf = BytesMut::new();
        sample(v, instance).encode(&mut buf, v).unwrap();
        buf.freeze()
    }

    #[test]
    fn every_served_version_round_trips() {
        for v in 0..=4 {
            for instance in [false, true] {
                let k = sample(v, instance);
                let mut r = Reader::new(encode(v, instance));
                let got = TxnOffsetCommitRequest::decode(&mut r, v).unwrap();
                assert_eq!(r.remaining(), 0, "v{v}");
                let want = TxnOffsetCommitRequest {
                    transactional_id: k.transactional_id.to_string(),
                    group_id: k.group_id.to_string(),
                    producer_id: k.producer_id.0,
                    producer_epoch: k.producer_epoch,
                    generation_id: k.generation_id,
                    member_id: k.member_id.to_string(),
                    group_instance_id: k.group_instance_id.as_ref().map(|i| i.to_string()),
                    topics: k
                        .topics
                        .iter()
                        .map(|t| TxnOffsetCommitRequestTopic {
                            name: t.name.to_string(),
                            partitions: t
                                .partitions
                                .iter()
                                .map(|p| TxnOffsetCommitRequestPartition {
                                    partition_index: p.partition_index,
                                    committed_offset: p.committed_offset,
                                    committed_leader_epoch: p.committed_leader_epoch,
                                    committed_metadata: p
                                        .committed_metadata
                                        .as_ref()
                                        .map(|m| m.to_string()),
                                })
                                .collect(),
                        })
                        .collect(),
                };
                assert_eq!(got, want, "v{v}");
                if v < 2 {
                    assert_eq!(got.topics[0].partitions[0].committed_leader_epoch, -1);
                }
                if v < 3 {
                    assert_eq!((got.generation_id, got.member_id.as_str()), (-1, ""));
                }
            }
        }
    }

    #[test]
    fn truncated_input_is_an_error() {
        for v in 0..=4 {
            let body = encode(v, true);
            for len in 0..body.len() {
                let mut r = Reader::new(body.slice(..len));
                assert!(
                    TxnOffsetCommitRequest::decode(&mut r, v).is_err(),
                    "v{v} len {len}"
                );
            }
        }
    }
}
