//! The topic admin request decoders (CreatePartitions, AlterConfigs,
//! IncrementalAlterConfigs, DeleteRecords) against kafka-protocol's encoders,
//! every served version, with unknown tagged fields in flexible ones; then every
//! truncation of those bodies and hostile counts are errors.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};
use weir_client::protocol::requests::{
    alter_configs, create_partitions, delete_records, incremental_alter_configs,
};
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
fn create_partitions_all_versions() {
    for v in 0..=3 {
        let flexible = v >= 2;
        let assignment = |ids: &[i32]| {
            create_partitions_request::CreatePartitionsAssignment::default()
                .with_broker_ids(ids.iter().map(|&b| BrokerId(b)).collect())
                .with_unknown_tagged_fields(tags(flexible))
        };
        let topics = vec![
            create_partitions_request::CreatePartitionsTopic::default()
                .with_name(TopicName(s("orders")))
                .with_count(6)
                .with_assignments(Some(vec![assignment(&[1, 2]), assignment(&[3])]))
                .with_unknown_tagged_fields(tags(flexible)),
            create_partitions_request::CreatePartitionsTopic::default()
                .with_name(TopicName(s("events")))
                .with_count(2)
                .with_assignments(None),
        ];
        let r = CreatePartitionsRequest::default()
            .with_topics(topics)
            .with_timeout_ms(2500)
            .with_validate_only(v % 2 == 1)
            .with_unknown_tagged_fields(tags(flexible));
        let got = decode_all(&encode(&r, v), |r| {
            create_partitions::CreatePartitionsRequest::decode(r, v)
        });
        assert_eq!(
            got,
            create_partitions::CreatePartitionsRequest {
                topics: vec![
                    create_partitions::CreatePartitionsTopic {
                        name: "orders".into(),
                        count: 6,
                        assignments: Some(vec![vec![1, 2], vec![3]]),
                    },
                    create_partitions::CreatePartitionsTopic {
                        name: "events".into(),
                        count: 2,
                        assignments: None,
                    },
                ],
                timeout_ms: 2500,
                validate_only: v % 2 == 1,
            },
            "v{v}"
        );
    }
}

#[test]
fn alter_configs_all_versions() {
    for v in 0..=2 {
        let flexible = v >= 2;
        let config = |n: &str, value: Option<&str>| {
            alter_configs_request::AlterableConfig::default()
                .with_name(s(n))
                .with_value(value.map(s))
                .with_unknown_tagged_fields(tags(flexible))
        };
        let resources = vec![
            alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("orders"))
                .with_configs(vec![
                    config("retention.ms", Some("1000")),
                    config("cleanup.policy", None),
                ])
                .with_unknown_tagged_fields(tags(flexible)),
            alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(4)
                .with_resource_name(s("1"))
                .with_configs(vec![]),
        ];
        let r = AlterConfigsRequest::default()
            .with_resources(resources)
            .with_validate_only(true)
            .with_unknown_tagged_fields(tags(flexible));
        let got = decode_all(&encode(&r, v), |r| {
            alter_configs::AlterConfigsRequest::decode(r, v)
        });
        let config = |name: &str, value: Option<&str>| alter_configs::AlterableConfig {
            name: name.into(),
            value: value.map(Into::into),
        };
        assert_eq!(
            got,
            alter_configs::AlterConfigsRequest {
                resources: vec![
                    alter_configs::AlterConfigsResource {
                        resource_type: 2,
                        resource_name: "orders".into(),
                        configs: vec![
                            config("retention.ms", Some("1000")),
                            config("cleanup.policy", None),
                        ],
                    },
                    alter_configs::AlterConfigsResource {
                        resource_type: 4,
                        resource_name: "1".into(),
                        configs: vec![],
                    },
                ],
                validate_only: true,
            },
            "v{v}"
        );
    }
}

#[test]
fn incremental_alter_configs_all_versions() {
    use incremental_alter_configs::{OP_APPEND, OP_DELETE, OP_SET, OP_SUBTRACT};
    for v in 0..=1 {
        let flexible = v >= 1;
        let ops = [
            ("retention.ms", OP_SET, Some("1000")),
            ("segment.bytes", OP_DELETE, None),
            ("cleanup.policy", OP_APPEND, Some("compact")),
            ("cleanup.policy", OP_SUBTRACT, Some("delete")),
        ];
        let configs = ops
            .iter()
            .map(|(n, op, value)| {
                incremental_alter_configs_request::AlterableConfig::default()
                    .with_name(s(n))
                    .with_config_operation(*op)
                    .with_value(value.map(s))
                    .with_unknown_tagged_fields(tags(flexible))
            })
            .collect();
        let r = IncrementalAlterConfigsRequest::default()
            .with_resources(vec![
                incremental_alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s("orders"))
                    .with_configs(configs)
                    .with_unknown_tagged_fields(tags(flexible)),
            ])
            .with_validate_only(v == 0)
            .with_unknown_tagged_fields(tags(flexible));
        let got = decode_all(&encode(&r, v), |r| {
            incremental_alter_configs::IncrementalAlterConfigsRequest::decode(r, v)
        });
        assert_eq!(got.validate_only, v == 0);
        assert_eq!(got.resources.len(), 1);
        let resource = &got.resources[0];
        assert_eq!(
            (resource.resource_type, resource.resource_name.as_str()),
            (2, "orders")
        );
        let decoded: Vec<(&str, i8, Option<&str>)> = resource
            .configs
            .iter()
            .map(|c| (c.name.as_str(), c.config_operation, c.value.as_deref()))
            .collect();
        assert_eq!(decoded, ops.to_vec(), "v{v}");
    }
}

#[test]
fn delete_records_all_versions() {
    for v in 0..=2 {
        let flexible = v >= 2;
        let partition = |index: i32, offset: i64| {
            delete_records_request::DeleteRecordsPartition::default()
                .with_partition_index(index)
                .with_offset(offset)
                .with_unknown_tagged_fields(tags(flexible))
        };
        let r = DeleteRecordsRequest::default()
            .with_topics(vec![
                delete_records_request::DeleteRecordsTopic::default()
                    .with_name(TopicName(s("orders")))
                    .with_partitions(vec![partition(0, 42), partition(3, -1)])
                    .with_unknown_tagged_fields(tags(flexible)),
                delete_records_request::DeleteRecordsTopic::default()
                    .with_name(TopicName(s("empty")))
                    .with_partitions(vec![]),
            ])
            .with_timeout_ms(30_000)
            .with_unknown_tagged_fields(tags(flexible));
        let got = decode_all(&encode(&r, v), |r| {
            delete_records::DeleteRecordsRequest::decode(r, v)
        });
        let partition = |partition_index, offset| delete_records::DeleteRecordsPartition {
            partition_index,
            offset,
        };
        assert_eq!(
            got,
            delete_records::DeleteRecordsRequest {
                topics: vec![
                    delete_records::DeleteRecordsTopic {
                        name: "orders".into(),
                        partitions: vec![
                            partition(0, 42),
                            partition(3, delete_records::HIGH_WATERMARK)
                        ],
                    },
                    delete_records::DeleteRecordsTopic {
                        name: "empty".into(),
                        partitions: vec![],
                    },
                ],
                timeout_ms: 30_000,
            },
            "v{v}"
        );
    }
}

#[test]
fn hostile_counts_are_refused_before_allocating() {
    // A topic array claiming i32::MAX elements.
    let huge = [0x7f, 0xff, 0xff, 0xff];
    let r = &mut Reader::new(Bytes::copy_from_slice(&huge));
    assert!(matches!(
        create_partitions::CreatePartitionsRequest::decode(r, 0),
        Err(DecodeError::InvalidLength { .. })
    ));
    let r = &mut Reader::new(Bytes::copy_from_slice(&huge));
    assert!(alter_configs::AlterConfigsRequest::decode(r, 0).is_err());
    let r = &mut Reader::new(Bytes::copy_from_slice(&huge));
    assert!(incremental_alter_configs::IncrementalAlterConfigsRequest::decode(r, 0).is_err());
    let r = &mut Reader::new(Bytes::copy_from_slice(&huge));
    assert!(delete_records::DeleteRecordsRequest::decode(r, 0).is_err());
    // One DeleteRecords topic whose partition count (2M, compact) exceeds the
    // bytes left.
    let body = [2, 2, b't', 0x80, 0x89, 0x7a, 0, 0, 0, 0];
    let r = &mut Reader::new(Bytes::copy_from_slice(&body));
    assert!(matches!(
        delete_records::DeleteRecordsRequest::decode(r, 2),
        Err(DecodeError::InvalidLength { .. })
    ));
    // A CreatePartitions assignment claiming 1000 broker ids in 4 bytes.
    let mut body = vec![0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 2, 0, 0, 0, 1];
    body.extend_from_slice(&1000i32.to_be_bytes());
    body.extend_from_slice(&[0, 0, 0, 1]);
    let r = &mut Reader::new(Bytes::from(body));
    assert!(matches!(
        create_partitions::CreatePartitionsRequest::decode(r, 0),
        Err(DecodeError::InvalidLength { .. })
    ));
}
