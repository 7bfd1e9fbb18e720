//! The leadership and placement decoders (ElectLeaders, AlterPartition-
//! Reassignments and ListPartitionReassignments requests, and the responses
//! the client reads) against kafka-protocol's encoders, every served
//! version, with unknown tagged fields in flexible ones; every truncation is
//! an error, and hostile counts never allocate.

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};
use weir_client::protocol::requests::{
    alter_partition_reassignments, elect_leaders, list_partition_reassignments,
};
use weir_client::protocol::responses;
use weir_client::protocol::{DecodeError, Reader};

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

fn encode<R: Encodable>(r: &R, v: i16) -> Bytes {
    let mut buf = BytesMut::new();
    r.encode(&mut buf, v).unwrap();
    buf.freeze()
}

/// Unknown tagged fields (above every known tag) when `on`.
fn tags(on: bool) -> BTreeMap<i32, Bytes> {
    if on {
        BTreeMap::from([(90, Bytes::from_static(b"x")), (91, Bytes::new())])
    } else {
        BTreeMap::new()
    }
}

/// Decodes `body` exactly; every strict prefix must be an error.
fn decode_all<T: std::fmt::Debug>(
    body: &Bytes,
    decode: impl Fn(&mut Reader) -> Result<T, DecodeError>,
) -> T {
    let mut r = Reader::new(body.clone());
    let got = decode(&mut r).unwrap();
    assert_eq!(r.remaining(), 0, "the body is read to its end");
    for len in 0..body.len() {
        let mut r = Reader::new(body.slice(..len));
        assert!(decode(&mut r).is_err(), "a {len}-byte prefix decoded");
    }
    got
}

#[test]
fn elect_leaders_all_versions() {
    for v in 0..=2 {
        let flexible = v >= 2;
        let topic = |name: &str, partitions: Vec<i32>| {
            elect_leaders_request::TopicPartitions::default()
                .with_topic(TopicName(s(name)))
                .with_partitions(partitions)
                .with_unknown_tagged_fields(tags(flexible))
        };
        let mut r = ElectLeadersRequest::default()
            .with_topic_partitions(Some(vec![topic("orders", vec![0, 3]), topic("e", vec![])]))
            .with_timeout_ms(1234)
            .with_unknown_tagged_fields(tags(flexible));
        if v >= 1 {
            r = r.with_election_type(1);
        }
        let got = decode_all(&encode(&r, v), |r| {
            elect_leaders::ElectLeadersRequest::decode(r, v)
        });
        let topic = |name: &str, partitions: Vec<i32>| elect_leaders::ElectLeadersTopic {
            topic: name.into(),
            partitions,
        };
        assert_eq!(
            got,
            elect_leaders::ElectLeadersRequest {
                election_type: if v >= 1 { 1 } else { 0 },
                topic_partitions: Some(vec![topic("orders", vec![0, 3]), topic("e", vec![])]),
                timeout_ms: 1234,
            },
            "v{v}"
        );
        // Null means every partition.
        let all = ElectLeadersRequest::default().with_topic_partitions(None);
        let got = decode_all(&encode(&all, v), |r| {
            elect_leaders::ElectLeadersRequest::decode(r, v)
        });
        assert_eq!(got.topic_partitions, None, "v{v}");
    }
}

#[test]
fn reassignment_requests() {
    let partition = |index: i32, replicas: Option<Vec<i32>>| {
        alter_partition_reassignments_request::ReassignablePartition::default()
            .with_partition_index(index)
            .with_replicas(replicas.map(|r| r.into_iter().map(BrokerId).collect()))
            .with_unknown_tagged_fields(tags(true))
    };
    let r = AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(777)
        .with_topics(vec![
            alter_partition_reassignments_request::ReassignableTopic::default()
                .with_name(TopicName(s("orders")))
                .with_partitions(vec![partition(0, Some(vec![2, 3])), partition(4, None)])
                .with_unknown_tagged_fields(tags(true)),
        ])
        .with_unknown_tagged_fields(tags(true));
    let got = decode_all(&encode(&r, 0), |r| {
        alter_partition_reassignments::AlterPartitionReassignmentsRequest::decode(r, 0)
    });
    let p = |partition_index, replicas| alter_partition_reassignments::ReassignablePartition {
        partition_index,
        replicas,
    };
    assert_eq!(
        got,
        alter_partition_reassignments::AlterPartitionReassignmentsRequest {
            timeout_ms: 777,
            topics: vec![alter_partition_reassignments::ReassignableTopic {
                name: "orders".into(),
                partitions: vec![p(0, Some(vec![2, 3])), p(4, None)],
            }],
        }
    );

    for topics in [
        None,
        Some(vec![
            list_partition_reassignments_request::ListPartitionReassignmentsTopics::default()
                .with_name(TopicName(s("orders")))
                .with_partition_indexes(vec![1, 2])
                .with_unknown_tagged_fields(tags(true)),
        ]),
    ] {
        let r = ListPartitionReassignmentsRequest::default()
            .with_timeout_ms(5)
            .with_topics(topics.clone())
            .with_unknown_tagged_fields(tags(true));
        let got = decode_all(&encode(&r, 0), |r| {
            list_partition_reassignments::ListPartitionReassignmentsRequest::decode(r, 0)
        });
        let expected = topics.map(|_| {
            vec![
                list_partition_reassignments::ListPartitionReassignmentsTopic {
                    name: "orders".into(),
                    partition_indexes: vec![1, 2],
                },
            ]
        });
        assert_eq!(got.topics, expected);
        assert_eq!(got.timeout_ms, 5);
    }
}

#[test]
fn hostile_counts_are_errors_not_allocations() {
    // ElectLeaders v2 claiming 2^31 topics, AlterPartitionReassignments with
    // a replica list of 2^31, in a few bytes.
    let mut elect = BytesMut::new();
    elect.put_i8(0);
    elect.put_slice(&[0xff, 0xff, 0xff, 0xff, 0x07]);
    let mut r = Reader::new(elect.freeze());
    assert!(elect_leaders::ElectLeadersRequest::decode(&mut r, 2).is_err());
    let mut alter = BytesMut::new();
    alter.put_i32(0);
    alter.put_slice(&[2, 2, b'a', 2]);
    alter.put_i32(0);
    alter.put_slice(&[0xff, 0xff, 0xff, 0xff, 0x07]);
    let mut r = Reader::new(alter.freeze());
    assert!(
        alter_partition_reassignments::AlterPartitionReassignmentsRequest::decode(&mut r, 0)
            .is_err()
    );
}

#[test]
fn responses_the_client_reads() {
    let result = |id: i32, code: i16| {
        elect_leaders_response::PartitionResult::default()
            .with_partition_id(id)
            .with_error_code(code)
            .with_error_message((code != 0).then(|| s("why")))
            .with_unknown_tagged_fields(tags(true))
    };
    let r = ElectLeadersResponse::default()
        .with_throttle_time_ms(3)
        .with_replica_election_results(vec![
            elect_leaders_response::ReplicaElectionResult::default()
                .with_topic(TopicName(s("orders")))
                .with_partition_result(vec![result(0, 0), result(1, 84)])
                .with_unknown_tagged_fields(tags(true)),
        ])
        .with_unknown_tagged_fields(tags(true));
    let got = decode_all(&encode(&r, responses::ELECT_LEADERS_VERSION), |r| {
        responses::ElectLeadersResponse::decode(r)
    });
    let results = &got.replica_election_results[0];
    assert_eq!(results.topic, "orders");
    assert_eq!(results.partition_result[1].error_code, 84);
    assert_eq!(
        results.partition_result[1].error_message.as_deref(),
        Some("why")
    );

    let r = AlterPartitionReassignmentsResponse::default().with_responses(vec![
        alter_partition_reassignments_response::ReassignableTopicResponse::default()
            .with_name(TopicName(s("orders")))
            .with_partitions(vec![
                alter_partition_reassignments_response::ReassignablePartitionResponse::default()
                    .with_partition_index(2)
                    .with_error_code(85),
            ]),
    ]);
    let got = decode_all(
        &encode(&r, responses::ALTER_PARTITION_REASSIGNMENTS_VERSION),
        responses::AlterPartitionReassignmentsResponse::decode,
    );
    assert_eq!(got.responses[0].partitions[0].error_code, 85);

    let ids = |v: &[i32]| v.iter().copied().map(BrokerId).collect::<Vec<_>>();
    let r = ListPartitionReassignmentsResponse::default().with_topics(vec![
        list_partition_reassignments_response::OngoingTopicReassignment::default()
            .with_name(TopicName(s("orders")))
            .with_partitions(vec![
                list_partition_reassignments_response::OngoingPartitionReassignment::default()
                    .with_partition_index(0)
                    .with_replicas(ids(&[2, 3, 1]))
                    .with_adding_replicas(ids(&[3]))
                    .with_removing_replicas(ids(&[1])),
            ]),
    ]);
    let got = decode_all(
        &encode(&r, responses::LIST_PARTITION_REASSIGNMENTS_VERSION),
        responses::ListPartitionReassignmentsResponse::decode,
    );
    let p = &got.topics[0].partitions[0];
    assert_eq!(
        (
            p.replicas.clone(),
            p.adding_replicas.clone(),
            p.removing_replicas.clone()
        ),
        (vec![2, 3, 1], vec![3], vec![1])
    );
}
