//! The typed sample bodies, one function per API. Version-gated fields are set only
//! on versions that have them: kafka-protocol refuses to encode a non-ignorable
//! field on a version without it, as Kafka does.

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::{SAMPLE_TOPIC, SampleBody, Shape, is_flexible, sample_batch, txn_bodies};
use crate::protocol::api::ApiKey;
use crate::protocol::records::testing::{TestRecord, build_batch_of};

/// The topic id rich samples ask for by id.
pub const SAMPLE_TOPIC_ID: [u8; 16] = *b"weir-topic-id-01";

/// Tag number of the unknown tagged field rich flexible samples carry (above every
/// tag Kafka has assigned in these messages).
const UNKNOWN_TAG: i32 = 100;

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_owned()))
}

fn text(s: &'static str) -> StrBytes {
    StrBytes::from_static_str(s)
}

/// One unknown tagged field when `flexible`, none otherwise.
pub fn unknown_tags(flexible: bool) -> BTreeMap<i32, Bytes> {
    let mut tags = BTreeMap::new();
    if flexible {
        tags.insert(UNKNOWN_TAG, Bytes::from_static(b"\x01\x02\x03"));
    }
    tags
}

/// The body of (`key`, `v`) in `shape`.
pub fn body(key: ApiKey, v: i16, shape: Shape) -> SampleBody {
    let rich = shape == Shape::Rich;
    let tags = || unknown_tags(rich && is_flexible(key, v));
    match key {
        ApiKey::ApiVersions => SampleBody::ApiVersions(api_versions(v, rich, tags())),
        ApiKey::Metadata => SampleBody::Metadata(metadata(v, rich, &tags)),
        ApiKey::Produce if rich => SampleBody::Produce(rich_produce(v, &tags)),
        ApiKey::Produce => SampleBody::Produce(produce_with(Some(sample_batch()))),
        ApiKey::Fetch if rich => SampleBody::Fetch(rich_fetch(v, &tags)),
        ApiKey::Fetch => SampleBody::Fetch(minimal_fetch()),
        ApiKey::ListOffsets => SampleBody::ListOffsets(list_offsets(v, rich, &tags)),
        ApiKey::CreateTopics => SampleBody::CreateTopics(create_topics(v, rich, &tags)),
        ApiKey::DeleteTopics => SampleBody::DeleteTopics(delete_topics(v, rich, &tags)),
        ApiKey::DescribeConfigs => SampleBody::DescribeConfigs(describe_configs(v, rich, &tags)),
        ApiKey::OffsetForLeaderEpoch => {
            SampleBody::OffsetForLeaderEpoch(offset_for_leader_epoch(v, rich, &tags))
        }
        ApiKey::FindCoordinator
        | ApiKey::JoinGroup
        | ApiKey::SyncGroup
        | ApiKey::Heartbeat
        | ApiKey::LeaveGroup
        | ApiKey::OffsetCommit
        | ApiKey::OffsetFetch
        | ApiKey::DescribeGroups
        | ApiKey::ListGroups
        | ApiKey::DeleteGroups
        | ApiKey::OffsetDelete => SampleBody::Encoded(group_body(key, v)),
        ApiKey::DescribeCluster => {
            SampleBody::Encoded(encoded(&DescribeClusterRequest::default(), v))
        }
        ApiKey::InitProducerId => SampleBody::Encoded(encoded(
            // Null transactional id (kafka-protocol's default is empty, which
            // Kafka answers INVALID_REQUEST): an idempotent producer.
            &InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60_000)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
            v,
        )),
        ApiKey::DeleteRecords
        | ApiKey::AlterConfigs
        | ApiKey::CreatePartitions
        | ApiKey::IncrementalAlterConfigs => SampleBody::Encoded(admin_body(key, v)),
        ApiKey::ElectLeaders
        | ApiKey::AlterPartitionReassignments
        | ApiKey::ListPartitionReassignments => {
            SampleBody::Encoded(placement_body(key, v, rich, &tags))
        }
        ApiKey::AddPartitionsToTxn => SampleBody::Encoded(txn_bodies::add_partitions_to_txn(v)),
        ApiKey::AddOffsetsToTxn => SampleBody::Encoded(txn_bodies::add_offsets_to_txn(v)),
        ApiKey::EndTxn => SampleBody::Encoded(txn_bodies::end_txn(v)),
        ApiKey::WriteTxnMarkers => SampleBody::Encoded(txn_bodies::write_txn_markers(v)),
        ApiKey::TxnOffsetCommit => SampleBody::Encoded(txn_bodies::txn_offset_commit(v)),
        ApiKey::DescribeProducers => SampleBody::Encoded(txn_bodies::describe_producers(v)),
        ApiKey::DescribeTransactions => SampleBody::Encoded(txn_bodies::describe_transactions(v)),
        ApiKey::ListTransactions => SampleBody::Encoded(txn_bodies::list_transactions(v)),
    }
}

/// Leadership and placement samples. Minimal ones are answered with error 0
/// by a live single broker: a preferred election of every partition (none
/// needs one, and those are left out), an empty reassignment, a list of every
/// reassignment. Rich ones name several topics and partitions, with nulls.
fn placement_body(
    key: ApiKey,
    v: i16,
    rich: bool,
    tags: &dyn Fn() -> BTreeMap<i32, Bytes>,
) -> Bytes {
    match key {
        ApiKey::ElectLeaders => {
            let topic = |n: &str, partitions: &[i32]| {
                elect_leaders_request::TopicPartitions::default()
                    .with_topic(name(n))
                    .with_partitions(partitions.to_vec())
                    .with_unknown_tagged_fields(tags())
            };
            let mut r = ElectLeadersRequest::default()
                .with_timeout_ms(5000)
                .with_unknown_tagged_fields(tags());
            r = if rich {
                r.with_topic_partitions(Some(vec![
                    topic(SAMPLE_TOPIC, &[0, 1]),
                    topic("other-topic", &[7]),
                ]))
            } else {
                r.with_topic_partitions(None)
            };
            if v >= 1 {
                r = r.with_election_type(i8::from(rich));
            }
            encoded(&r, v)
        }
        ApiKey::AlterPartitionReassignments => {
            let partition = |index: i32, replicas: Option<Vec<i32>>| {
                alter_partition_reassignments_request::ReassignablePartition::default()
                    .with_partition_index(index)
                    .with_replicas(replicas.map(|r| r.into_iter().map(BrokerId).collect()))
                    .with_unknown_tagged_fields(tags())
            };
            let topics = if rich {
                vec![
                    alter_partition_reassignments_request::ReassignableTopic::default()
                        .with_name(name(SAMPLE_TOPIC))
                        .with_partitions(vec![
                            partition(0, Some(vec![1, 2, 3])),
                            partition(1, None),
                        ])
                        .with_unknown_tagged_fields(tags()),
                ]
            } else {
                Vec::new()
            };
            encoded(
                &AlterPartitionReassignmentsRequest::default()
                    .with_timeout_ms(5000)
                    .with_topics(topics)
                    .with_unknown_tagged_fields(tags()),
                v,
            )
        }
        _ => {
            let topics = rich.then(|| {
                vec![
                    list_partition_reassignments_request::ListPartitionReassignmentsTopics::default()
                        .with_name(name(SAMPLE_TOPIC))
                        .with_partition_indexes(vec![0, 1])
                        .with_unknown_tagged_fields(tags()),
                ]
            });
            encoded(
                &ListPartitionReassignmentsRequest::default()
                    .with_timeout_ms(5000)
                    .with_topics(topics)
                    .with_unknown_tagged_fields(tags()),
                v,
            )
        }
    }
}

fn api_versions(v: i16, rich: bool, tags: BTreeMap<i32, Bytes>) -> ApiVersionsRequest {
    let r = ApiVersionsRequest::default();
    match rich {
        false => r
            .with_client_software_name(text("sample"))
            .with_client_software_version(text("1.0")),
        // The software fields exist from v3 (ignorable before).
        true if v >= 3 => r
            .with_client_software_name(text("weir-client"))
            .with_client_software_version(text("0.1.0-rich"))
            .with_unknown_tagged_fields(tags),
        true => r,
    }
}

fn metadata(v: i16, rich: bool, tags: &dyn Fn() -> BTreeMap<i32, Bytes>) -> MetadataRequest {
    let topic = |n: &str| {
        metadata_request::MetadataRequestTopic::default()
            .with_name(Some(name(n)))
            .with_unknown_tagged_fields(tags())
    };
    if !rich {
        let topic =
            metadata_request::MetadataRequestTopic::default().with_name(Some(name(SAMPLE_TOPIC)));
        return MetadataRequest::default().with_topics(Some(vec![topic]));
    }
    let mut topics = vec![topic(SAMPLE_TOPIC), topic("other-topic")];
    if v >= 10 {
        topics.push(
            metadata_request::MetadataRequestTopic::default()
                .with_topic_id(uuid::Uuid::from_bytes(SAMPLE_TOPIC_ID))
                .with_name(None)
                .with_unknown_tagged_fields(tags()),
        );
    }
    let mut r = MetadataRequest::default()
        .with_topics(Some(topics))
        .with_unknown_tagged_fields(tags());
    if v >= 4 {
        r = r.with_allow_auto_topic_creation(false);
    }
    if (8..=10).contains(&v) {
        r = r.with_include_cluster_authorized_operations(true);
    }
    if v >= 8 {
        r = r.with_include_topic_authorized_operations(true);
    }
    r
}

/// acks=1 Produce of `records` to partition 0 of the sample topic.
pub fn produce_with(records: Option<Bytes>) -> ProduceRequest {
    let p = produce_request::PartitionProduceData::default()
        .with_index(0)
        .with_records(records);
    let t = produce_request::TopicProduceData::default()
        .with_name(name(SAMPLE_TOPIC))
        .with_partition_data(vec![p]);
    ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![t])
}

/// Two records with headers and distinct timestamps at `base_offset`.
fn rich_batch(base_offset: i64) -> Bytes {
    let headers = [(&b"trace"[..], Some(&b"abc"[..])), (&b"flag"[..], None)];
    let records = [
        TestRecord {
            key: Some(b"k0"),
            value: Some(b"first value"),
            headers: &headers,
            timestamp: 1_700_000_000_000,
        },
        TestRecord {
            key: None,
            value: None,
            headers: &[],
            timestamp: 1_700_000_000_250,
        },
    ];
    build_batch_of(&records, base_offset)
}

fn rich_produce(v: i16, tags: &dyn Fn() -> BTreeMap<i32, Bytes>) -> ProduceRequest {
    let partition = |index: i32, records: Option<Bytes>| {
        produce_request::PartitionProduceData::default()
            .with_index(index)
            .with_records(records)
            .with_unknown_tagged_fields(tags())
    };
    let two_batches = Bytes::from([rich_batch(0), sample_batch()].concat());
    let topics = vec![
        produce_request::TopicProduceData::default()
            .with_name(name(SAMPLE_TOPIC))
            .with_partition_data(vec![partition(0, Some(rich_batch(0))), partition(1, None)])
            .with_unknown_tagged_fields(tags()),
        produce_request::TopicProduceData::default()
            .with_name(name("other-topic"))
            .with_partition_data(vec![partition(5, Some(two_batches))])
            .with_unknown_tagged_fields(tags()),
    ];
    let r = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(topics)
        .with_unknown_tagged_fields(tags());
    if v >= 3 {
        r.with_transactional_id(Some(TransactionalId(text("txn-rich"))))
    } else {
        r
    }
}

fn minimal_fetch() -> FetchRequest {
    let p = fetch_request::FetchPartition::default()
        .with_partition(0)
        .with_fetch_offset(0)
        .with_partition_max_bytes(1 << 20);
    let t = fetch_request::FetchTopic::default()
        .with_topic(name(SAMPLE_TOPIC))
        .with_partitions(vec![p]);
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![t])
}

fn rich_fetch_partition(
    v: i16,
    partition: i32,
    tags: BTreeMap<i32, Bytes>,
) -> fetch_request::FetchPartition {
    let mut p = fetch_request::FetchPartition::default()
        .with_partition(partition)
        .with_fetch_offset(1000 + i64::from(partition))
        .with_partition_max_bytes(65_536 + partition)
        .with_unknown_tagged_fields(tags);
    if v >= 5 {
        p = p.with_log_start_offset(10 + i64::from(partition));
    }
    if v >= 9 {
        p = p.with_current_leader_epoch(5);
    }
    if v >= 12 {
        p = p.with_last_fetched_epoch(4);
    }
    p
}

fn rich_fetch(v: i16, tags: &dyn Fn() -> BTreeMap<i32, Bytes>) -> FetchRequest {
    let topic = |n: &str, partitions: &[i32]| {
        fetch_request::FetchTopic::default()
            .with_topic(name(n))
            .with_partitions(
                partitions
                    .iter()
                    .map(|&p| rich_fetch_partition(v, p, tags()))
                    .collect(),
            )
            .with_unknown_tagged_fields(tags())
    };
    let mut r = FetchRequest::default()
        .with_replica_id(BrokerId(3))
        .with_max_wait_ms(500)
        .with_min_bytes(1)
        .with_max_bytes(52_428_800)
        .with_isolation_level(1)
        .with_topics(vec![
            topic(SAMPLE_TOPIC, &[0, 1]),
            topic("other-topic", &[2]),
        ])
        .with_unknown_tagged_fields(tags());
    if v >= 7 {
        let forgotten = fetch_request::ForgottenTopic::default()
            .with_topic(name("gone-topic"))
            .with_partitions(vec![3, 4])
            .with_unknown_tagged_fields(tags());
        r = r
            .with_session_id(11)
            .with_session_epoch(2)
            .with_forgotten_topics_data(vec![forgotten]);
    }
    if v >= 11 {
        r = r.with_rack_id(text("rack-a"));
    }
    if v >= 12 {
        // A known tagged field (tag 0) our decoder skips.
        r = r.with_cluster_id(Some(text("cluster-x")));
    }
    r
}

fn list_offsets(v: i16, rich: bool, tags: &dyn Fn() -> BTreeMap<i32, Bytes>) -> ListOffsetsRequest {
    let partition = |index: i32, timestamp: i64| {
        let p = list_offsets_request::ListOffsetsPartition::default()
            .with_partition_index(index)
            .with_timestamp(timestamp)
            .with_unknown_tagged_fields(tags());
        if rich && v >= 4 {
            p.with_current_leader_epoch(7)
        } else {
            p
        }
    };
    let topic = |n: &str, partitions| {
        list_offsets_request::ListOffsetsTopic::default()
            .with_name(name(n))
            .with_partitions(partitions)
            .with_unknown_tagged_fields(tags())
    };
    let r = ListOffsetsRequest::default().with_replica_id(BrokerId(-1));
    if !rich {
        return r.with_topics(vec![topic(SAMPLE_TOPIC, vec![partition(0, -2)])]);
    }
    let topics = vec![
        topic(
            SAMPLE_TOPIC,
            vec![partition(0, -1), partition(1, 1_700_000_000_000)],
        ),
        topic("other-topic", vec![partition(3, -2)]),
    ];
    let r = r.with_topics(topics).with_unknown_tagged_fields(tags());
    if v >= 2 { r.with_isolation_level(1) } else { r }
}

fn create_topics(
    v: i16,
    rich: bool,
    tags: &dyn Fn() -> BTreeMap<i32, Bytes>,
) -> CreateTopicsRequest {
    let config = |n: &'static str, value: Option<&'static str>| {
        create_topics_request::CreatableTopicConfig::default()
            .with_name(text(n))
            .with_value(value.map(text))
            .with_unknown_tagged_fields(tags())
    };
    let created = create_topics_request::CreatableTopic::default()
        .with_name(name(&format!("created-{v}")))
        .with_num_partitions(if rich { 3 } else { 1 })
        .with_replication_factor(1)
        .with_unknown_tagged_fields(tags());
    if !rich {
        let created = created.with_configs(vec![config("retention.ms", Some("60000"))]);
        return CreateTopicsRequest::default()
            .with_topics(vec![created])
            .with_timeout_ms(1000);
    }
    let created = created.with_configs(vec![
        config("retention.ms", Some("60000")),
        config("cleanup.policy", None),
    ]);
    let assignment = |partition: i32, brokers: &[i32]| {
        create_topics_request::CreatableReplicaAssignment::default()
            .with_partition_index(partition)
            .with_broker_ids(brokers.iter().map(|&b| BrokerId(b)).collect())
            .with_unknown_tagged_fields(tags())
    };
    let manual = create_topics_request::CreatableTopic::default()
        .with_name(name(&format!("manual-{v}")))
        .with_num_partitions(-1)
        .with_replication_factor(-1)
        .with_assignments(vec![assignment(0, &[1, 2]), assignment(1, &[2, 3])])
        .with_unknown_tagged_fields(tags());
    CreateTopicsRequest::default()
        .with_topics(vec![created, manual])
        .with_timeout_ms(5000)
        .with_validate_only(true)
        .with_unknown_tagged_fields(tags())
}

fn delete_topics(
    v: i16,
    rich: bool,
    tags: &dyn Fn() -> BTreeMap<i32, Bytes>,
) -> DeleteTopicsRequest {
    let r = DeleteTopicsRequest::default().with_timeout_ms(if rich { 5000 } else { 1000 });
    let by_name = |n: &str| {
        delete_topics_request::DeleteTopicState::default()
            .with_name(Some(name(n)))
            .with_unknown_tagged_fields(tags())
    };
    match (v >= 6, rich) {
        (true, false) => r.with_topics(vec![by_name("created-2")]),
        (false, false) => r.with_topic_names(vec![name("created-2")]),
        (true, true) => {
            let by_id = delete_topics_request::DeleteTopicState::default()
                .with_name(None)
                .with_topic_id(uuid::Uuid::from_bytes(SAMPLE_TOPIC_ID))
                .with_unknown_tagged_fields(tags());
            r.with_topics(vec![by_name("doomed-a"), by_id])
                .with_unknown_tagged_fields(tags())
        }
        (false, true) => r
            .with_topic_names(vec![name("doomed-a"), name("doomed-b")])
            .with_unknown_tagged_fields(tags()),
    }
}

fn describe_configs(
    v: i16,
    rich: bool,
    tags: &dyn Fn() -> BTreeMap<i32, Bytes>,
) -> DescribeConfigsRequest {
    let resource = |kind: i8, n: &'static str, keys: Option<Vec<StrBytes>>| {
        describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(kind)
            .with_resource_name(text(n))
            .with_configuration_keys(keys)
            .with_unknown_tagged_fields(tags())
    };
    if !rich {
        return DescribeConfigsRequest::default().with_resources(vec![resource(
            2,
            SAMPLE_TOPIC,
            None,
        )]);
    }
    let keys = vec![text("retention.ms"), text("segment.bytes")];
    let r = DescribeConfigsRequest::default()
        .with_resources(vec![
            resource(2, SAMPLE_TOPIC, Some(keys)),
            resource(4, "1", None),
        ])
        .with_include_synonyms(true)
        .with_unknown_tagged_fields(tags());
    if v >= 3 {
        r.with_include_documentation(true)
    } else {
        r
    }
}

/// A consumer asking for the end of epoch 0 of partition 0 of the sample topic
/// without fencing: on a fresh broker, epoch 0 is the latest, so the answer is
/// (0, log end offset). Rich samples ask as a follower (v3+) with a current
/// leader epoch (v2+) for several partitions.
fn offset_for_leader_epoch(
    v: i16,
    rich: bool,
    tags: &dyn Fn() -> BTreeMap<i32, Bytes>,
) -> OffsetForLeaderEpochRequest {
    use offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};
    let partition = |index: i32, current_leader_epoch: i32, leader_epoch: i32| {
        let p = OffsetForLeaderPartition::default()
            .with_partition(index)
            .with_leader_epoch(leader_epoch)
            .with_unknown_tagged_fields(tags());
        if v >= 2 {
            p.with_current_leader_epoch(current_leader_epoch)
        } else {
            p
        }
    };
    let topic = |n: &str, partitions| {
        OffsetForLeaderTopic::default()
            .with_topic(name(n))
            .with_partitions(partitions)
            .with_unknown_tagged_fields(tags())
    };
    let (replica_id, topics) = if rich {
        let topics = vec![
            topic(SAMPLE_TOPIC, vec![partition(0, 5, 4), partition(1, -1, 0)]),
            topic("other-topic", vec![partition(7, 2, 1)]),
        ];
        (3, topics)
    } else {
        (-1, vec![topic(SAMPLE_TOPIC, vec![partition(0, -1, 0)])])
    };
    let r = OffsetForLeaderEpochRequest::default()
        .with_topics(topics)
        .with_unknown_tagged_fields(tags());
    if v >= 3 {
        r.with_replica_id(BrokerId(replica_id))
    } else {
        r
    }
}

fn encoded<R: kafka_protocol::protocol::Encodable>(body: &R, v: i16) -> Bytes {
    let mut buf = bytes::BytesMut::new();
    body.encode(&mut buf, v).expect("valid sample body");
    buf.freeze()
}

/// Topic admin samples, all on the sample topic and each answered with error 0
/// by a live broker in registry order: CreatePartitions grows the topic by one
/// partition per version (1 → 2 at v0, ..., → 5 at v3), the config changes set
/// `retention.ms` to its default, and DeleteRecords deletes nothing (offset 0),
/// so the later samples still read the topic from offset 0.
fn admin_body(key: ApiKey, v: i16) -> Bytes {
    match key {
        ApiKey::CreatePartitions => {
            let t = create_partitions_request::CreatePartitionsTopic::default()
                .with_name(name(SAMPLE_TOPIC))
                .with_count(2 + i32::from(v))
                .with_assignments(None);
            encoded(
                &CreatePartitionsRequest::default()
                    .with_topics(vec![t])
                    .with_timeout_ms(5000),
                v,
            )
        }
        ApiKey::AlterConfigs => {
            let c = alter_configs_request::AlterableConfig::default()
                .with_name(text("retention.ms"))
                .with_value(Some(text("604800000")));
            let r = alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(text(SAMPLE_TOPIC))
                .with_configs(vec![c]);
            encoded(&AlterConfigsRequest::default().with_resources(vec![r]), v)
        }
        ApiKey::IncrementalAlterConfigs => {
            let c = incremental_alter_configs_request::AlterableConfig::default()
                .with_name(text("retention.ms"))
                .with_config_operation(0)
                .with_value(Some(text("604800000")));
            let r = incremental_alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(text(SAMPLE_TOPIC))
                .with_configs(vec![c]);
            encoded(
                &IncrementalAlterConfigsRequest::default().with_resources(vec![r]),
                v,
            )
        }
        _ => {
            let p = delete_records_request::DeleteRecordsPartition::default()
                .with_partition_index(0)
                .with_offset(0);
            let t = delete_records_request::DeleteRecordsTopic::default()
                .with_name(name(SAMPLE_TOPIC))
                .with_partitions(vec![p]);
            encoded(
                &DeleteRecordsRequest::default()
                    .with_topics(vec![t])
                    .with_timeout_ms(5000),
                v,
            )
        }
    }
}

/// Consumer-group samples: group `sample-group`, a made-up member (so a live
/// broker answers Sync/Heartbeat/Leave with UNKNOWN_MEMBER_ID) and commits from
/// outside the group (generation -1), which an empty group accepts.
fn group_body(key: ApiKey, v: i16) -> Bytes {
    let group = || GroupId(text("sample-group"));
    match key {
        ApiKey::FindCoordinator => encoded(
            &FindCoordinatorRequest::default().with_key(text("sample-group")),
            v,
        ),
        ApiKey::JoinGroup => {
            let p = join_group_request::JoinGroupRequestProtocol::default()
                .with_name(text("range"))
                .with_metadata(Bytes::from_static(&[0; 8]));
            // One group per version, so each sample join completes on its own.
            let mut r = JoinGroupRequest::default()
                .with_group_id(GroupId(StrBytes::from_string(format!("sample-join-{v}"))))
                .with_session_timeout_ms(10_000)
                .with_protocol_type(text("consumer"))
                .with_protocols(vec![p]);
            if v >= 1 {
                r = r.with_rebalance_timeout_ms(10_000);
            }
            encoded(&r, v)
        }
        ApiKey::SyncGroup => {
            let r = SyncGroupRequest::default()
                .with_group_id(group())
                .with_generation_id(1)
                .with_member_id(text("nobody"));
            encoded(&r, v)
        }
        ApiKey::Heartbeat => {
            let r = HeartbeatRequest::default()
                .with_group_id(group())
                .with_generation_id(1)
                .with_member_id(text("nobody"));
            encoded(&r, v)
        }
        ApiKey::LeaveGroup if v >= 3 => {
            let m = leave_group_request::MemberIdentity::default().with_member_id(text("nobody"));
            encoded(
                &LeaveGroupRequest::default()
                    .with_group_id(group())
                    .with_members(vec![m]),
                v,
            )
        }
        ApiKey::LeaveGroup => encoded(
            &LeaveGroupRequest::default()
                .with_group_id(group())
                .with_member_id(text("nobody")),
            v,
        ),
        ApiKey::OffsetCommit => {
            let p = offset_commit_request::OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(1);
            let t = offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(name(SAMPLE_TOPIC))
                .with_partitions(vec![p]);
            let r = OffsetCommitRequest::default()
                .with_group_id(group())
                .with_generation_id_or_member_epoch(-1)
                .with_topics(vec![t]);
            encoded(&r, v)
        }
        ApiKey::DescribeGroups => encoded(
            &DescribeGroupsRequest::default().with_groups(vec![group()]),
            v,
        ),
        ApiKey::ListGroups => encoded(&ListGroupsRequest::default(), v),
        // A group that never existed: GROUP_ID_NOT_FOUND.
        ApiKey::DeleteGroups => encoded(
            &DeleteGroupsRequest::default()
                .with_groups_names(vec![GroupId(text("sample-no-such-group"))]),
            v,
        ),
        ApiKey::OffsetDelete => {
            let p = offset_delete_request::OffsetDeleteRequestPartition::default()
                .with_partition_index(0);
            let t = offset_delete_request::OffsetDeleteRequestTopic::default()
                .with_name(name(SAMPLE_TOPIC))
                .with_partitions(vec![p]);
            encoded(
                &OffsetDeleteRequest::default()
                    .with_group_id(GroupId(text("sample-no-such-group")))
                    .with_topics(vec![t]),
                v,
            )
        }
        _ => {
            let t = offset_fetch_request::OffsetFetchRequestTopic::default()
                .with_name(name(SAMPLE_TOPIC))
                .with_partition_indexes(vec![0]);
            encoded(
                &OffsetFetchRequest::default()
                    .with_group_id(group())
                    .with_topics(Some(vec![t])),
                v,
            )
        }
    }
}
