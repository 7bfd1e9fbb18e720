//! The version matrix: for every served (api, version), the minimal and the rich
//! sample (kafka-protocol's typed structs through its encoders; Produce v0–2 by
//! hand) go through our framing and `decode_request`, and every decoded field must
//! equal what was encoded. Around the matrix: versions just outside each range and
//! unknown keys are refused with the header returned, every strict prefix of a
//! sample is an error, and the inputs that abort kafka-protocol's decoders are plain
//! errors here.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages as kp;
use kafka_protocol::protocol::StrBytes;
use weir_client::protocol::frame::{put_frame, split_frame};
use weir_client::protocol::limits::FRAME_BYTES_MAX_DEFAULT;
use weir_client::protocol::records::{RecordBatchView, batches};
use weir_client::protocol::requests::{
    api_versions, create_topics, delete_topics, describe_configs, fetch, list_offsets, metadata,
    offset_for_leader_epoch, produce,
};
use weir_client::protocol::testing::{
    Sample, SampleBody, Shape, sample, sample_request, served_versions,
};
use weir_client::protocol::{
    ApiKey, DecodeError, Request, RequestHeader, SUPPORTED_APIS, decode_request,
};

fn s(x: &StrBytes) -> String {
    x.as_str().to_owned()
}

fn topic(t: &kp::TopicName) -> String {
    t.0.as_str().to_owned()
}

/// Frames `body` and splits it back off, as a connection would.
fn through_framing(body: &Bytes) -> Bytes {
    let mut buf = BytesMut::new();
    put_frame(&mut buf, body);
    let frame = split_frame(&mut buf, FRAME_BYTES_MAX_DEFAULT)
        .expect("valid frame")
        .expect("complete frame");
    assert!(buf.is_empty());
    frame.freeze()
}

fn expected_header(sample: &Sample) -> RequestHeader {
    RequestHeader {
        api_key: sample.header.request_api_key,
        api_version: sample.header.request_api_version,
        correlation_id: sample.header.correlation_id,
        client_id: sample.header.client_id.as_ref().map(s),
    }
}

/// What our decoder must read from `sample`: the typed body mapped to our types,
/// with the defaults our decoder gives fields the version lacks.
fn expected(sample: &Sample) -> Request {
    let v = sample.version;
    match &sample.body {
        SampleBody::ApiVersions(r) => Request::ApiVersions(api_versions::ApiVersionsRequest {
            client_software_name: (v >= 3).then(|| s(&r.client_software_name)),
            client_software_version: (v >= 3).then(|| s(&r.client_software_version)),
        }),
        SampleBody::Metadata(r) => Request::Metadata(expected_metadata(r, v)),
        SampleBody::Produce(r) => Request::Produce(expected_produce(r, v)),
        SampleBody::Fetch(r) => Request::Fetch(expected_fetch(r, v)),
        SampleBody::ListOffsets(r) => Request::ListOffsets(expected_list_offsets(r, v)),
        SampleBody::CreateTopics(r) => Request::CreateTopics(expected_create_topics(r)),
        SampleBody::DeleteTopics(r) => Request::DeleteTopics(expected_delete_topics(r, v)),
        SampleBody::DescribeConfigs(r) => Request::DescribeConfigs(expected_describe_configs(r, v)),
        SampleBody::OffsetForLeaderEpoch(r) => {
            Request::OffsetForLeaderEpoch(expected_offset_for_leader_epoch(r, v))
        }
        SampleBody::Encoded(_) => unreachable!("encoded samples are checked per API"),
    }
}

fn expected_metadata(r: &kp::MetadataRequest, v: i16) -> metadata::MetadataRequest {
    let topics = r.topics.as_ref().map(|topics| {
        topics
            .iter()
            .map(|t| metadata::MetadataRequestTopic {
                topic_id: if v >= 10 {
                    *t.topic_id.as_bytes()
                } else {
                    [0; 16]
                },
                name: t.name.as_ref().map(topic),
            })
            .collect::<Vec<_>>()
    });
    metadata::MetadataRequest {
        // v0 has no null: an empty array asks for every topic.
        topics: topics.filter(|t| v > 0 || !t.is_empty()),
        allow_auto_topic_creation: v < 4 || r.allow_auto_topic_creation,
        include_topic_authorized_operations: v >= 8 && r.include_topic_authorized_operations,
    }
}

fn expected_produce(r: &kp::ProduceRequest, v: i16) -> produce::ProduceRequest {
    produce::ProduceRequest {
        transactional_id: r
            .transactional_id
            .as_ref()
            .filter(|_| v >= 3)
            .map(|t| s(&t.0)),
        acks: r.acks,
        timeout_ms: r.timeout_ms,
        topic_data: r
            .topic_data
            .iter()
            .map(|t| produce::ProduceTopic {
                name: topic(&t.name),
                partition_data: t
                    .partition_data
                    .iter()
                    .map(|p| produce::ProducePartition {
                        index: p.index,
                        records: p.records.clone(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn expected_fetch_partition(
    p: &kp::fetch_request::FetchPartition,
    v: i16,
) -> fetch::FetchPartition {
    fetch::FetchPartition {
        partition: p.partition,
        current_leader_epoch: if v >= 9 { p.current_leader_epoch } else { -1 },
        fetch_offset: p.fetch_offset,
        last_fetched_epoch: if v >= 12 { p.last_fetched_epoch } else { -1 },
        log_start_offset: if v >= 5 { p.log_start_offset } else { -1 },
        partition_max_bytes: p.partition_max_bytes,
    }
}

fn expected_fetch(r: &kp::FetchRequest, v: i16) -> fetch::FetchRequest {
    let session = v >= 7;
    fetch::FetchRequest {
        replica_id: r.replica_id.0,
        max_wait_ms: r.max_wait_ms,
        min_bytes: r.min_bytes,
        max_bytes: r.max_bytes,
        isolation_level: r.isolation_level,
        session_id: if session { r.session_id } else { 0 },
        session_epoch: if session { r.session_epoch } else { -1 },
        topics: r
            .topics
            .iter()
            .map(|t| fetch::FetchTopic {
                topic: topic(&t.topic),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| expected_fetch_partition(p, v))
                    .collect(),
            })
            .collect(),
        forgotten_topics_data: r
            .forgotten_topics_data
            .iter()
            .filter(|_| session)
            .map(|f| fetch::ForgottenTopic {
                topic: topic(&f.topic),
                partitions: f.partitions.clone(),
            })
            .collect(),
        rack_id: if v >= 11 {
            s(&r.rack_id)
        } else {
            String::new()
        },
    }
}

fn expected_list_offsets(r: &kp::ListOffsetsRequest, v: i16) -> list_offsets::ListOffsetsRequest {
    list_offsets::ListOffsetsRequest {
        replica_id: r.replica_id.0,
        isolation_level: if v >= 2 { r.isolation_level } else { 0 },
        topics: r
            .topics
            .iter()
            .map(|t| list_offsets::ListOffsetsTopic {
                name: topic(&t.name),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| list_offsets::ListOffsetsPartition {
                        partition_index: p.partition_index,
                        current_leader_epoch: if v >= 4 { p.current_leader_epoch } else { -1 },
                        timestamp: p.timestamp,
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn expected_offset_for_leader_epoch(
    r: &kp::OffsetForLeaderEpochRequest,
    v: i16,
) -> offset_for_leader_epoch::OffsetForLeaderEpochRequest {
    use offset_for_leader_epoch::{DEBUG_REPLICA_ID, NO_LEADER_EPOCH};
    offset_for_leader_epoch::OffsetForLeaderEpochRequest {
        replica_id: if v >= 3 {
            r.replica_id.0
        } else {
            DEBUG_REPLICA_ID
        },
        topics: r
            .topics
            .iter()
            .map(|t| offset_for_leader_epoch::OffsetForLeaderTopic {
                topic: topic(&t.topic),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| offset_for_leader_epoch::OffsetForLeaderPartition {
                        partition: p.partition,
                        current_leader_epoch: if v >= 2 {
                            p.current_leader_epoch
                        } else {
                            NO_LEADER_EPOCH
                        },
                        leader_epoch: p.leader_epoch,
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn expected_create_topics(r: &kp::CreateTopicsRequest) -> create_topics::CreateTopicsRequest {
    let topic = |t: &kp::create_topics_request::CreatableTopic| create_topics::CreatableTopic {
        name: topic(&t.name),
        num_partitions: t.num_partitions,
        replication_factor: t.replication_factor,
        assignments: t
            .assignments
            .iter()
            .map(|a| create_topics::CreatableReplicaAssignment {
                partition_index: a.partition_index,
                broker_ids: a.broker_ids.iter().map(|b| b.0).collect(),
            })
            .collect(),
        configs: t
            .configs
            .iter()
            .map(|c| create_topics::CreatableTopicConfig {
                name: s(&c.name),
                value: c.value.as_ref().map(s),
            })
            .collect(),
    };
    create_topics::CreateTopicsRequest {
        topics: r.topics.iter().map(topic).collect(),
        timeout_ms: r.timeout_ms,
        validate_only: r.validate_only,
    }
}

fn expected_delete_topics(
    r: &kp::DeleteTopicsRequest,
    v: i16,
) -> delete_topics::DeleteTopicsRequest {
    let topics = if v >= 6 {
        r.topics
            .iter()
            .map(|t| delete_topics::DeleteTopicState {
                name: t.name.as_ref().map(topic),
                topic_id: *t.topic_id.as_bytes(),
            })
            .collect()
    } else {
        r.topic_names
            .iter()
            .map(|n| delete_topics::DeleteTopicState {
                name: Some(topic(n)),
                topic_id: [0; 16],
            })
            .collect()
    };
    delete_topics::DeleteTopicsRequest {
        topics,
        timeout_ms: r.timeout_ms,
    }
}

fn expected_describe_configs(
    r: &kp::DescribeConfigsRequest,
    v: i16,
) -> describe_configs::DescribeConfigsRequest {
    describe_configs::DescribeConfigsRequest {
        resources: r
            .resources
            .iter()
            .map(|res| describe_configs::DescribeConfigsResource {
                resource_type: res.resource_type,
                resource_name: s(&res.resource_name),
                configuration_keys: res
                    .configuration_keys
                    .as_ref()
                    .map(|keys| keys.iter().map(s).collect()),
            })
            .collect(),
        include_synonyms: r.include_synonyms,
        include_documentation: v >= 3 && r.include_documentation,
    }
}

/// Decodes `sample` through framing and checks header and body field by field.
fn check_sample(sample: &Sample) {
    let what = format!("{:?} v{}", sample.key, sample.version);
    let (header, request) = decode_request(through_framing(&sample.frame))
        .unwrap_or_else(|(_, e)| panic!("{what}: {e:?}"));
    assert_eq!(header, expected_header(sample), "{what}: header");
    if matches!(sample.body, SampleBody::Encoded(_)) {
        return; // compared field by field per API (group_decoders.rs, producer_decoders.rs)
    }
    assert_eq!(request, expected(sample), "{what}: body");
    if let Request::Produce(p) = &request {
        check_produced_batches(p, &what);
    }
}

/// The record sets of a decoded sample are valid producer batches, byte for byte.
fn check_produced_batches(p: &produce::ProduceRequest, what: &str) {
    let sets = p.topic_data.iter().flat_map(|t| &t.partition_data);
    for set in sets.filter_map(|p| p.records.as_ref()) {
        let mut total = 0;
        for item in batches(set) {
            let (view, len) = item.unwrap_or_else(|e| panic!("{what}: {e}"));
            view.check_produced().unwrap();
            let records = view.records().expect("uncompressed");
            assert_eq!(records.count(), view.record_count() as usize);
            total += len;
        }
        assert_eq!(total, set.len(), "{what}: whole batches");
    }
}

#[test]
fn every_served_version_decodes_what_was_encoded() {
    let mut checked = 0;
    for (key, v) in served_versions() {
        for shape in [Shape::Minimal, Shape::Rich] {
            check_sample(&sample(key, v, 1000 + i32::from(v), shape));
            checked += 1;
        }
    }
    let versions: usize = SUPPORTED_APIS
        .iter()
        .map(|s| (s.range.max - s.range.min + 1) as usize)
        .sum();
    assert_eq!(checked, 2 * versions);
}

#[test]
fn rich_samples_exercise_nulls_and_several_partitions() {
    let fetch = sample(ApiKey::Fetch, 12, 1, Shape::Rich);
    let (_, Request::Fetch(f)) = decode_request(fetch.frame).unwrap() else {
        panic!("not a fetch");
    };
    assert_eq!((f.topics.len(), f.topics[0].partitions.len()), (2, 2));
    assert_eq!((f.rack_id.as_str(), f.session_id), ("rack-a", 11));
    let produce = sample(ApiKey::Produce, 1, 1, Shape::Rich);
    let (header, Request::Produce(p)) = decode_request(produce.frame).unwrap() else {
        panic!("not a produce");
    };
    assert_eq!(header.client_id, None);
    assert_eq!(p.topic_data[0].partition_data[1].records, None);
    let set = p.topic_data[1].partition_data[0].records.clone().unwrap();
    assert_eq!(batches(&set).count(), 2);
}

/// `frame` with its api version replaced.
fn with_version(frame: &Bytes, v: i16) -> Bytes {
    let mut b = BytesMut::from(&frame[..]);
    b[2..4].copy_from_slice(&v.to_be_bytes());
    b.freeze()
}

#[test]
fn versions_outside_each_range_are_unsupported_with_the_header() {
    for spec in SUPPORTED_APIS {
        let key = spec.key as i16;
        let edges = [
            (spec.range.min, spec.range.min - 1),
            (spec.range.max, spec.range.max + 1),
            (spec.range.max, i16::MAX),
            (spec.range.min, i16::MIN),
        ];
        for (valid, outside) in edges {
            let frame = with_version(&sample_request(spec.key, valid, 77), outside);
            let (header, err) = decode_request(frame).expect_err("outside the range");
            let header = header.expect("the header is returned");
            assert_eq!((header.api_key, header.api_version), (key, outside));
            assert_eq!(header.correlation_id, 77);
            assert_eq!(
                err,
                DecodeError::UnsupportedVersion {
                    api_key: key,
                    api_version: outside
                }
            );
        }
    }
}

#[test]
fn unknown_api_keys_are_refused_with_the_header() {
    for api_key in [7, 17, 100, i16::MAX, -1, i16::MIN] {
        let mut frame = BytesMut::from(&sample_request(ApiKey::Metadata, 1, 5)[..]);
        frame[0..2].copy_from_slice(&api_key.to_be_bytes());
        let (header, err) = decode_request(frame.freeze()).expect_err("unknown api");
        assert_eq!(header.expect("header").correlation_id, 5);
        assert_eq!(err, DecodeError::UnknownApi { api_key });
    }
}

/// A header v1 (key, version, correlation id 9, client id "c") and `body`.
fn hand_frame(key: ApiKey, v: i16, body: &[u8]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(key as i16);
    b.put_i16(v);
    b.put_i32(9);
    b.put_i16(1);
    b.put_u8(b'c');
    b.put_slice(body);
    b.freeze()
}

#[test]
fn kafka_protocol_abort_inputs_are_plain_errors() {
    // A Metadata v0 topic count of i32::MAX (kafka-protocol: Vec::with_capacity abort).
    let frame = hand_frame(ApiKey::Metadata, 0, &[0x7f, 0xff, 0xff, 0xff]);
    let (header, err) = decode_request(frame).expect_err("hostile count");
    assert_eq!(header.unwrap().correlation_id, 9);
    assert!(matches!(err, DecodeError::InvalidLength { .. }), "{err:?}");
    // Headers under 4 bytes (kafka-protocol: panic), and every other short header.
    for len in 0..10 {
        let frame = hand_frame(ApiKey::Metadata, 1, &[]).slice(..len);
        let (header, err) = decode_request(frame).expect_err("short header");
        assert_eq!(header, None);
        assert!(
            matches!(err, DecodeError::Truncated { .. }),
            "{len}: {err:?}"
        );
    }
}

#[test]
fn every_strict_prefix_of_every_sample_is_an_error() {
    for (key, v) in served_versions() {
        for shape in [Shape::Minimal, Shape::Rich] {
            let frame = sample(key, v, 3, shape).frame;
            for len in 0..frame.len() {
                assert!(
                    decode_request(frame.slice(..len)).is_err(),
                    "{key:?} v{v} {shape:?} cut at {len} of {}",
                    frame.len()
                );
            }
        }
    }
}

#[test]
fn metadata_null_topics_mean_all_topics() {
    for v in 1..=12 {
        let header = kp::RequestHeader::default()
            .with_request_api_key(ApiKey::Metadata as i16)
            .with_request_api_version(v)
            .with_correlation_id(4);
        let body = kp::MetadataRequest::default().with_topics(None);
        let sample = Sample {
            key: ApiKey::Metadata,
            version: v,
            frame: encode(&header, &body, v),
            header,
            body: SampleBody::Metadata(body),
        };
        check_sample(&sample);
    }
    // v0 has no null: -1 is an error, an empty array means every topic.
    assert!(decode_request(hand_frame(ApiKey::Metadata, 0, &[0xff; 4])).is_err());
    let (_, request) = decode_request(hand_frame(ApiKey::Metadata, 0, &[0; 4])).unwrap();
    assert!(matches!(request, Request::Metadata(m) if m.topics.is_none()));
}

fn encode(header: &kp::RequestHeader, body: &kp::MetadataRequest, v: i16) -> Bytes {
    use kafka_protocol::protocol::{Encodable, HeaderVersion};
    let mut buf = BytesMut::new();
    let header_version = kp::MetadataRequest::header_version(v);
    header.encode(&mut buf, header_version).unwrap();
    body.encode(&mut buf, v).unwrap();
    buf.freeze()
}

#[test]
fn produce_with_a_hostile_record_count_decodes_but_its_batch_is_refused() {
    let mut batch = BytesMut::from(&weir_client::protocol::testing::sample_batch()[..]);
    batch[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
    batch[23..27].copy_from_slice(&(i32::MAX - 1).to_be_bytes());
    weir_client::protocol::records::testing::fix_crc(&mut batch).unwrap();
    let batch = batch.freeze();
    for v in 0..=9 {
        let frame = weir_client::protocol::testing::produce_request_with(v, 1, Some(batch.clone()));
        let (_, Request::Produce(p)) = decode_request(frame).unwrap() else {
            panic!("not a produce");
        };
        let set = p.topic_data[0].partition_data[0].records.as_ref().unwrap();
        assert!(RecordBatchView::parse(set).is_err(), "v{v}");
    }
}
