//! Our response decoders against kafka-protocol's response encoders, one pinned
//! version per API: every field read back (with and without unknown tagged fields at
//! every struct level), every truncation refused, and hostile counts refused before
//! anything is allocated.

use std::collections::BTreeMap;
use std::fmt::Debug;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, HeaderVersion, StrBytes};
use uuid::Uuid;
use weir_client::protocol::responses as w;
use weir_client::protocol::{DecodeError, Reader};

type Decode<W> = fn(&mut Reader) -> Result<W, DecodeError>;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

fn st(v: &StrBytes) -> String {
    v.to_string()
}

fn ost(v: &Option<StrBytes>) -> Option<String> {
    v.as_ref().map(st)
}

fn id(n: u8) -> Uuid {
    Uuid::from_bytes([n; 16])
}

fn raw(u: &Uuid) -> [u8; 16] {
    *u.as_bytes()
}

/// Unknown tagged fields (above every known tag) when `on`, else none.
fn tags(on: bool) -> BTreeMap<i32, Bytes> {
    if !on {
        return BTreeMap::new();
    }
    BTreeMap::from([
        (90, Bytes::from_static(b"")),
        (91, Bytes::from_static(b"unknown")),
    ])
}

fn encode<K: Encodable>(k: &K, v: i16) -> Bytes {
    let mut buf = BytesMut::new();
    k.encode(&mut buf, v).unwrap();
    buf.freeze()
}

/// Decodes `k` encoded at `v` (alone, and after its response header as the client
/// reads a frame) and compares with `want`; then every truncation and a trailing
/// byte must be errors. Returns the body for further tampering.
fn check<K, W>(api: ApiKey, v: i16, k: &K, want: &W, decode: Decode<W>) -> Bytes
where
    K: Encodable + HeaderVersion,
    W: PartialEq + Debug,
{
    let body = encode(k, v);
    assert_eq!(&decode(&mut Reader::new(body.clone())).unwrap(), want);

    let header_version = K::header_version(v);
    assert_eq!(
        w::response_header_version(api as i16, v),
        header_version,
        "{api:?}"
    );
    let header = ResponseHeader::default()
        .with_correlation_id(0x0102_0304)
        .with_unknown_tagged_fields(tags(header_version >= 1));
    let mut frame = BytesMut::from(&encode(&header, header_version)[..]);
    frame.extend_from_slice(&body);
    let mut r = Reader::new(frame.freeze());
    assert_eq!(
        w::decode_response_header(&mut r, header_version).unwrap(),
        0x0102_0304
    );
    assert_eq!(&decode(&mut r).unwrap(), want);

    for len in 0..body.len() {
        let got = decode(&mut Reader::new(body.slice(..len)));
        assert!(got.is_err(), "{api:?}: truncated to {len} decoded: {got:?}");
    }
    let mut long = body.to_vec();
    long.push(0);
    assert!(
        matches!(
            decode(&mut Reader::new(long.into())),
            Err(DecodeError::TrailingBytes { remaining: 1 })
        ),
        "{api:?}"
    );
    body
}

/// What the huge number after a hostile body's prefix is.
#[derive(Clone, Copy, PartialEq)]
enum Huge {
    /// A compact array count: refused by the count check, before allocating.
    Array,
    /// A classic (i32) array count, likewise.
    ClassicArray,
    /// A compact string/bytes length or tagged-field count.
    Length,
}

/// A body of `prefix`, a huge number and a little padding must be an error.
fn hostile<W: Debug>(decode: Decode<W>, prefix: &[u8], huge: Huge) {
    let what = std::any::type_name::<W>();
    let numbers: &[&[u8]] = match huge {
        // uvarint N+1 = 0x7fffffff, 0x80000000, u32::MAX
        Huge::Array | Huge::Length => &[
            &[0xff, 0xff, 0xff, 0xff, 0x07],
            &[0x80, 0x80, 0x80, 0x80, 0x08],
            &[0xff, 0xff, 0xff, 0xff, 0x0f],
        ],
        Huge::ClassicArray => &[&[0x7f, 0xff, 0xff, 0xff]],
    };
    for number in numbers {
        let mut body = prefix.to_vec();
        body.extend_from_slice(number);
        body.extend_from_slice(&[0; 64]);
        let got = decode(&mut Reader::new(body.into()));
        assert!(got.is_err(), "{what}: {got:?}");
        if huge != Huge::Length {
            assert!(
                matches!(got, Err(DecodeError::InvalidLength { .. })),
                "{what}: {got:?}"
            );
        }
    }
}

#[test]
fn header_versions_match_kafka_for_every_api() {
    for api in ApiKey::iter() {
        let range = api.valid_versions();
        for v in range.min..=range.max {
            assert_eq!(
                w::response_header_version(api as i16, v),
                api.response_header_version(v),
                "{api:?} v{v}"
            );
        }
    }
    // ApiVersions answers with v0 even at flexible versions.
    assert_eq!(w::response_header_version(18, 3), 0);
    assert_eq!(w::response_header_version(3, 8), 0);
    assert_eq!(w::response_header_version(3, 9), 1);
}

#[test]
fn response_headers() {
    let mut r = Reader::new(Bytes::from_static(&[0, 0, 0, 9, 0]));
    assert_eq!(w::decode_response_header(&mut r, 1).unwrap(), 9);
    r.finish().unwrap();
    let mut r = Reader::new(Bytes::from_static(&[0, 0, 0, 9]));
    assert_eq!(w::decode_response_header(&mut r, 0).unwrap(), 9);
    let mut r = Reader::new(Bytes::from_static(&[0, 0, 0, 9]));
    assert!(w::decode_response_header(&mut r, 1).is_err());
    let mut r = Reader::new(Bytes::from_static(&[0, 0, 0, 9, 0]));
    assert!(w::decode_response_header(&mut r, 2).is_err());
    let mut r = Reader::new(Bytes::from_static(&[0, 0]));
    assert!(w::decode_response_header(&mut r, 0).is_err());
}

// ---------------------------------------------------------------- ApiVersions

fn api_versions(t: bool) -> ApiVersionsResponse {
    use api_versions_response::*;
    let key = |k, min, max| {
        ApiVersion::default()
            .with_api_key(k)
            .with_min_version(min)
            .with_max_version(max)
            .with_unknown_tagged_fields(tags(t))
    };
    let mut r = ApiVersionsResponse::default()
        .with_error_code(35)
        .with_api_keys(vec![key(3, 0, 12), key(18, 0, 4), ApiVersion::default()])
        .with_throttle_time_ms(7)
        .with_unknown_tagged_fields(tags(t));
    if t {
        r = r
            .with_supported_features(vec![
                SupportedFeatureKey::default()
                    .with_name(s("metadata.version"))
                    .with_min_version(1)
                    .with_max_version(20)
                    .with_unknown_tagged_fields(tags(t)),
                SupportedFeatureKey::default(),
            ])
            .with_finalized_features_epoch(42)
            .with_finalized_features(vec![
                FinalizedFeatureKey::default()
                    .with_name(s("kraft.version"))
                    .with_max_version_level(1)
                    .with_min_version_level(0)
                    .with_unknown_tagged_fields(tags(t)),
                FinalizedFeatureKey::default(),
            ])
            .with_zk_migration_ready(true);
    }
    r
}

fn want_api_versions(k: &ApiVersionsResponse) -> w::ApiVersionsResponse {
    use w::api_versions::*;
    ApiVersionsResponse {
        error_code: k.error_code,
        api_keys: k
            .api_keys
            .iter()
            .map(|a| ApiVersion {
                api_key: a.api_key,
                min_version: a.min_version,
                max_version: a.max_version,
            })
            .collect(),
        throttle_time_ms: k.throttle_time_ms,
        supported_features: k
            .supported_features
            .iter()
            .map(|f| SupportedFeatureKey {
                name: st(&f.name),
                min_version: f.min_version,
                max_version: f.max_version,
            })
            .collect(),
        finalized_features_epoch: k.finalized_features_epoch,
        finalized_features: k
            .finalized_features
            .iter()
            .map(|f| FinalizedFeatureKey {
                name: st(&f.name),
                max_version_level: f.max_version_level,
                min_version_level: f.min_version_level,
            })
            .collect(),
        zk_migration_ready: k.zk_migration_ready,
    }
}

#[test]
fn api_versions_v3() {
    for t in [false, true] {
        let k = api_versions(t);
        let want = want_api_versions(&k);
        assert_eq!(want.api_keys.len(), 3);
        assert_eq!(want.supported_features.len(), if t { 2 } else { 0 });
        check(
            ApiKey::ApiVersions,
            w::API_VERSIONS_VERSION,
            &k,
            &want,
            w::ApiVersionsResponse::decode,
        );
    }
    let empty = want_api_versions(&ApiVersionsResponse::default());
    assert_eq!(empty.finalized_features_epoch, -1);
}

// ---------------------------------------------------------------- Metadata

fn metadata(t: bool) -> MetadataResponse {
    use metadata_response::*;
    let partition = MetadataResponsePartition::default()
        .with_error_code(6)
        .with_partition_index(2)
        .with_leader_id(BrokerId(1))
        .with_leader_epoch(9)
        .with_replica_nodes(vec![BrokerId(1), BrokerId(2), BrokerId(3)])
        .with_isr_nodes(vec![BrokerId(1), BrokerId(2)])
        .with_offline_replicas(vec![BrokerId(3)])
        .with_unknown_tagged_fields(tags(t));
    let topic = MetadataResponseTopic::default()
        .with_error_code(0)
        .with_name(Some(TopicName(s("orders"))))
        .with_topic_id(id(7))
        .with_is_internal(true)
        .with_partitions(vec![partition, MetadataResponsePartition::default()])
        .with_topic_authorized_operations(0x0f)
        .with_unknown_tagged_fields(tags(t));
    let broker = MetadataResponseBroker::default()
        .with_node_id(BrokerId(1))
        .with_host(s("b1.example"))
        .with_port(9092)
        .with_rack(Some(s("r1")))
        .with_unknown_tagged_fields(tags(t));
    MetadataResponse::default()
        .with_throttle_time_ms(5)
        .with_brokers(vec![broker, MetadataResponseBroker::default()])
        .with_cluster_id(Some(s("cluster-a")))
        .with_controller_id(BrokerId(1))
        .with_topics(vec![topic, MetadataResponseTopic::default()])
        .with_unknown_tagged_fields(tags(t))
}

fn want_metadata(k: &MetadataResponse) -> w::MetadataResponse {
    use w::metadata::*;
    let ids = |v: &[BrokerId]| v.iter().map(|b| b.0).collect::<Vec<_>>();
    MetadataResponse {
        throttle_time_ms: k.throttle_time_ms,
        brokers: k
            .brokers
            .iter()
            .map(|b| MetadataResponseBroker {
                node_id: b.node_id.0,
                host: st(&b.host),
                port: b.port,
                rack: ost(&b.rack),
            })
            .collect(),
        cluster_id: ost(&k.cluster_id),
        controller_id: k.controller_id.0,
        topics: k
            .topics
            .iter()
            .map(|t| MetadataResponseTopic {
                error_code: t.error_code,
                name: t.name.as_ref().map(|n| st(&n.0)),
                topic_id: raw(&t.topic_id),
                is_internal: t.is_internal,
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| MetadataResponsePartition {
                        error_code: p.error_code,
                        partition_index: p.partition_index,
                        leader_id: p.leader_id.0,
                        leader_epoch: p.leader_epoch,
                        replica_nodes: ids(&p.replica_nodes),
                        isr_nodes: ids(&p.isr_nodes),
                        offline_replicas: ids(&p.offline_replicas),
                    })
                    .collect(),
                topic_authorized_operations: t.topic_authorized_operations,
            })
            .collect(),
    }
}

#[test]
fn metadata_v12() {
    for t in [false, true] {
        let k = metadata(t);
        let want = want_metadata(&k);
        assert_eq!(want.topics[0].partitions[0].replica_nodes, [1, 2, 3]);
        check(
            ApiKey::Metadata,
            w::METADATA_VERSION,
            &k,
            &want,
            w::MetadataResponse::decode,
        );
    }
}

// ---------------------------------------------------------------- Produce

fn produce(t: bool) -> ProduceResponse {
    use produce_response::*;
    let record_error = BatchIndexAndErrorMessage::default()
        .with_batch_index(3)
        .with_batch_index_error_message(Some(s("bad record")))
        .with_unknown_tagged_fields(tags(t));
    let partition = PartitionProduceResponse::default()
        .with_index(1)
        .with_error_code(87)
        .with_base_offset(1000)
        .with_log_append_time_ms(1_700_000_000_000)
        .with_log_start_offset(10)
        .with_record_errors(vec![record_error, BatchIndexAndErrorMessage::default()])
        .with_error_message(Some(s("invalid record")))
        .with_unknown_tagged_fields(tags(t));
    let topic = TopicProduceResponse::default()
        .with_name(TopicName(s("orders")))
        .with_partition_responses(vec![partition, PartitionProduceResponse::default()])
        .with_unknown_tagged_fields(tags(t));
    ProduceResponse::default()
        .with_responses(vec![topic, TopicProduceResponse::default()])
        .with_throttle_time_ms(3)
        .with_unknown_tagged_fields(tags(t))
}

fn want_produce(k: &ProduceResponse) -> w::ProduceResponse {
    use w::produce::*;
    ProduceResponse {
        responses: k
            .responses
            .iter()
            .map(|t| TopicProduceResponse {
                name: st(&t.name.0),
                partition_responses: t
                    .partition_responses
                    .iter()
                    .map(|p| PartitionProduceResponse {
                        index: p.index,
                        error_code: p.error_code,
                        base_offset: p.base_offset,
                        log_append_time_ms: p.log_append_time_ms,
                        log_start_offset: p.log_start_offset,
                        record_errors: p
                            .record_errors
                            .iter()
                            .map(|e| BatchIndexAndErrorMessage {
                                batch_index: e.batch_index,
                                batch_index_error_message: ost(&e.batch_index_error_message),
                            })
                            .collect(),
                        error_message: ost(&p.error_message),
                    })
                    .collect(),
            })
            .collect(),
        throttle_time_ms: k.throttle_time_ms,
    }
}

#[test]
fn produce_v9() {
    for t in [false, true] {
        let k = produce(t);
        let want = want_produce(&k);
        assert_eq!(
            want.responses[0].partition_responses[0].record_errors.len(),
            2
        );
        check(
            ApiKey::Produce,
            w::PRODUCE_VERSION,
            &k,
            &want,
            w::ProduceResponse::decode,
        );
    }
}

// ---------------------------------------------------------------- Fetch

fn fetch(t: bool) -> FetchResponse {
    use fetch_response::*;
    let aborted = AbortedTransaction::default()
        .with_producer_id(ProducerId(77))
        .with_first_offset(1001)
        .with_unknown_tagged_fields(tags(t));
    let mut partition = PartitionData::default()
        .with_partition_index(4)
        .with_error_code(0)
        .with_high_watermark(2000)
        .with_last_stable_offset(1990)
        .with_log_start_offset(5)
        .with_aborted_transactions(Some(vec![aborted, AbortedTransaction::default()]))
        .with_preferred_read_replica(BrokerId(2))
        .with_records(Some(Bytes::from_static(
            b"pretend these are record batches",
        )))
        .with_unknown_tagged_fields(tags(t));
    if t {
        partition = partition
            .with_diverging_epoch(
                EpochEndOffset::default()
                    .with_epoch(3)
                    .with_end_offset(1500)
                    .with_unknown_tagged_fields(tags(t)),
            )
            .with_current_leader(
                LeaderIdAndEpoch::default()
                    .with_leader_id(BrokerId(2))
                    .with_leader_epoch(4)
                    .with_unknown_tagged_fields(tags(t)),
            )
            .with_snapshot_id(
                SnapshotId::default()
                    .with_end_offset(900)
                    .with_epoch(2)
                    .with_unknown_tagged_fields(tags(t)),
            );
    }
    let nulls = PartitionData::default()
        .with_records(None)
        .with_aborted_transactions(None);
    let empty_records = PartitionData::default()
        .with_records(Some(Bytes::new()))
        .with_aborted_transactions(Some(vec![]));
    let topic = FetchableTopicResponse::default()
        .with_topic(TopicName(s("orders")))
        .with_partitions(vec![partition, nulls, empty_records])
        .with_unknown_tagged_fields(tags(t));
    FetchResponse::default()
        .with_throttle_time_ms(1)
        .with_error_code(0)
        .with_session_id(12345)
        .with_responses(vec![topic, FetchableTopicResponse::default()])
        .with_unknown_tagged_fields(tags(t))
}

fn want_fetch(k: &FetchResponse) -> w::FetchResponse {
    use w::fetch::*;
    FetchResponse {
        throttle_time_ms: k.throttle_time_ms,
        error_code: k.error_code,
        session_id: k.session_id,
        responses: k
            .responses
            .iter()
            .map(|t| FetchableTopicResponse {
                topic: st(&t.topic.0),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| PartitionData {
                        partition_index: p.partition_index,
                        error_code: p.error_code,
                        high_watermark: p.high_watermark,
                        last_stable_offset: p.last_stable_offset,
                        log_start_offset: p.log_start_offset,
                        diverging_epoch: EpochEndOffset {
                            epoch: p.diverging_epoch.epoch,
                            end_offset: p.diverging_epoch.end_offset,
                        },
                        current_leader: LeaderIdAndEpoch {
                            leader_id: p.current_leader.leader_id.0,
                            leader_epoch: p.current_leader.leader_epoch,
                        },
                        snapshot_id: SnapshotId {
                            end_offset: p.snapshot_id.end_offset,
                            epoch: p.snapshot_id.epoch,
                        },
                        aborted_transactions: p.aborted_transactions.as_ref().map(|a| {
                            a.iter()
                                .map(|a| AbortedTransaction {
                                    producer_id: a.producer_id.0,
                                    first_offset: a.first_offset,
                                })
                                .collect()
                        }),
                        preferred_read_replica: p.preferred_read_replica.0,
                        records: p.records.clone(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

#[test]
fn fetch_v12() {
    for t in [false, true] {
        let k = fetch(t);
        let want = want_fetch(&k);
        let p = &want.responses[0].partitions;
        assert_eq!(p[0].diverging_epoch.epoch, if t { 3 } else { -1 });
        let leader = w::fetch::LeaderIdAndEpoch {
            leader_id: 2,
            leader_epoch: 4,
        };
        let leader = if t { leader } else { Default::default() };
        assert_eq!(p[0].current_leader, leader);
        assert_eq!(p[1].current_leader.leader_id, -1);
        assert_eq!(p[1].records, None);
        assert_eq!(p[1].aborted_transactions, None);
        assert_eq!(p[2].records, Some(Bytes::new()));
        assert_eq!(p[2].aborted_transactions, Some(vec![]));
        let body = check(
            ApiKey::Fetch,
            w::FETCH_VERSION,
            &k,
            &want,
            w::FetchResponse::decode,
        );
        // The records are a slice of the frame, not a copy.
        let got = w::FetchResponse::decode(&mut Reader::new(body.clone())).unwrap();
        let records = got.responses[0].partitions[0].records.as_ref().unwrap();
        let frame = body.as_ptr_range();
        assert!(frame.contains(&records.as_ptr()));
    }
}

// ---------------------------------------------------------------- ListOffsets

fn list_offsets(t: bool) -> ListOffsetsResponse {
    use list_offsets_response::*;
    let partition = ListOffsetsPartitionResponse::default()
        .with_partition_index(1)
        .with_error_code(0)
        .with_timestamp(1_700_000_000_000)
        .with_offset(4242)
        .with_leader_epoch(6)
        .with_unknown_tagged_fields(tags(t));
    let topic = ListOffsetsTopicResponse::default()
        .with_name(TopicName(s("orders")))
        .with_partitions(vec![partition, ListOffsetsPartitionResponse::default()])
        .with_unknown_tagged_fields(tags(t));
    ListOffsetsResponse::default()
        .with_throttle_time_ms(2)
        .with_topics(vec![topic, ListOffsetsTopicResponse::default()])
        .with_unknown_tagged_fields(tags(t))
}

fn want_list_offsets(k: &ListOffsetsResponse) -> w::ListOffsetsResponse {
    use w::list_offsets::*;
    ListOffsetsResponse {
        throttle_time_ms: k.throttle_time_ms,
        topics: k
            .topics
            .iter()
            .map(|t| ListOffsetsTopicResponse {
                name: st(&t.name.0),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| ListOffsetsPartitionResponse {
                        partition_index: p.partition_index,
                        error_code: p.error_code,
                        timestamp: p.timestamp,
                        offset: p.offset,
                        leader_epoch: p.leader_epoch,
                    })
                    .collect(),
            })
            .collect(),
    }
}

#[test]
fn list_offsets_v6() {
    for t in [false, true] {
        let k = list_offsets(t);
        let want = want_list_offsets(&k);
        assert_eq!(want.topics[0].partitions[0].offset, 4242);
        check(
            ApiKey::ListOffsets,
            w::LIST_OFFSETS_VERSION,
            &k,
            &want,
            w::ListOffsetsResponse::decode,
        );
    }
}

// ---------------------------------------------------------------- FindCoordinator

fn want_find_coordinator(k: &FindCoordinatorResponse) -> w::FindCoordinatorResponse {
    w::FindCoordinatorResponse {
        throttle_time_ms: k.throttle_time_ms,
        error_code: k.error_code,
        error_message: ost(&k.error_message),
        node_id: k.node_id.0,
        host: st(&k.host),
        port: k.port,
    }
}

#[test]
fn find_coordinator_v3() {
    for t in [false, true] {
        let k = FindCoordinatorResponse::default()
            .with_throttle_time_ms(4)
            .with_error_code(15)
            .with_error_message(if t { Some(s("not available")) } else { None })
            .with_node_id(BrokerId(3))
            .with_host(s("b3.example"))
            .with_port(9093)
            .with_unknown_tagged_fields(tags(t));
        let want = want_find_coordinator(&k);
        assert_eq!(want.host, "b3.example");
        check(
            ApiKey::FindCoordinator,
            w::FIND_COORDINATOR_VERSION,
            &k,
            &want,
            w::FindCoordinatorResponse::decode,
        );
    }
}

// ---------------------------------------------------------------- JoinGroup

fn join_group(t: bool) -> JoinGroupResponse {
    use join_group_response::*;
    let member = |m: &str, i: Option<&str>| {
        JoinGroupResponseMember::default()
            .with_member_id(s(m))
            .with_group_instance_id(i.map(s))
            .with_metadata(Bytes::from(format!("meta-{m}")))
            .with_unknown_tagged_fields(tags(t))
    };
    JoinGroupResponse::default()
        .with_throttle_time_ms(1)
        .with_error_code(0)
        .with_generation_id(8)
        .with_protocol_type(Some(s("consumer")))
        .with_protocol_name(if t { None } else { Some(s("range")) })
        .with_leader(s("m-1"))
        .with_member_id(s("m-2"))
        .with_members(vec![
            member("m-1", Some("i-1")),
            member("m-2", None),
            JoinGroupResponseMember::default(),
        ])
        .with_unknown_tagged_fields(tags(t))
}

fn want_join_group(k: &JoinGroupResponse) -> w::JoinGroupResponse {
    use w::join_group::*;
    JoinGroupResponse {
        throttle_time_ms: k.throttle_time_ms,
        error_code: k.error_code,
        generation_id: k.generation_id,
        protocol_type: ost(&k.protocol_type),
        protocol_name: ost(&k.protocol_name),
        leader: st(&k.leader),
        member_id: st(&k.member_id),
        members: k
            .members
            .iter()
            .map(|m| JoinGroupResponseMember {
                member_id: st(&m.member_id),
                group_instance_id: ost(&m.group_instance_id),
                metadata: m.metadata.clone(),
            })
            .collect(),
    }
}

#[test]
fn join_group_v7() {
    for t in [false, true] {
        let k = join_group(t);
        let want = want_join_group(&k);
        assert_eq!(want.members[0].metadata, Bytes::from_static(b"meta-m-1"));
        check(
            ApiKey::JoinGroup,
            w::JOIN_GROUP_VERSION,
            &k,
            &want,
            w::JoinGroupResponse::decode,
        );
    }
}

// ---------------------------------------------------------------- SyncGroup, Heartbeat, LeaveGroup

#[test]
fn sync_group_v5() {
    for t in [false, true] {
        let k = SyncGroupResponse::default()
            .with_throttle_time_ms(2)
            .with_error_code(27)
            .with_protocol_type(Some(s("consumer")))
            .with_protocol_name(if t { None } else { Some(s("range")) })
            .with_assignment(Bytes::from_static(b"assignment"))
            .with_unknown_tagged_fields(tags(t));
        let want = w::SyncGroupResponse {
            throttle_time_ms: k.throttle_time_ms,
            error_code: k.error_code,
            protocol_type: ost(&k.protocol_type),
            protocol_name: ost(&k.protocol_name),
            assignment: k.assignment.clone(),
        };
        check(
            ApiKey::SyncGroup,
            w::SYNC_GROUP_VERSION,
            &k,
            &want,
            w::SyncGroupResponse::decode,
        );
    }
}

#[test]
fn heartbeat_v4() {
    for t in [false, true] {
        let k = HeartbeatResponse::default()
            .with_throttle_time_ms(9)
            .with_error_code(27)
            .with_unknown_tagged_fields(tags(t));
        let want = w::HeartbeatResponse {
            throttle_time_ms: 9,
            error_code: 27,
        };
        check(
            ApiKey::Heartbeat,
            w::HEARTBEAT_VERSION,
            &k,
            &want,
            w::HeartbeatResponse::decode,
        );
    }
}

#[test]
fn leave_group_v4() {
    use leave_group_response::MemberResponse;
    for t in [false, true] {
        let k = LeaveGroupResponse::default()
            .with_throttle_time_ms(1)
            .with_error_code(0)
            .with_members(vec![
                MemberResponse::default()
                    .with_member_id(s("m-1"))
                    .with_group_instance_id(Some(s("i-1")))
                    .with_error_code(25)
                    .with_unknown_tagged_fields(tags(t)),
                MemberResponse::default().with_group_instance_id(None),
            ])
            .with_unknown_tagged_fields(tags(t));
        let want = w::LeaveGroupResponse {
            throttle_time_ms: k.throttle_time_ms,
            error_code: k.error_code,
            members: k
                .members
                .iter()
                .map(|m| w::leave_group::MemberResponse {
                    member_id: st(&m.member_id),
                    group_instance_id: ost(&m.group_instance_id),
                    error_code: m.error_code,
                })
                .collect(),
        };
        assert_eq!(want.members[1].group_instance_id, None);
        check(
            ApiKey::LeaveGroup,
            w::LEAVE_GROUP_VERSION,
            &k,
            &want,
            w::LeaveGroupResponse::decode,
        );
    }
}

// ---------------------------------------------------------------- OffsetCommit, OffsetFetch

#[test]
fn offset_commit_v8() {
    use offset_commit_response::*;
    for t in [false, true] {
        let p = |i, e| {
            OffsetCommitResponsePartition::default()
                .with_partition_index(i)
                .with_error_code(e)
                .with_unknown_tagged_fields(tags(t))
        };
        let k = OffsetCommitResponse::default()
            .with_throttle_time_ms(3)
            .with_topics(vec![
                OffsetCommitResponseTopic::default()
                    .with_name(TopicName(s("orders")))
                    .with_partitions(vec![p(0, 0), p(1, 22), Default::default()])
                    .with_unknown_tagged_fields(tags(t)),
                OffsetCommitResponseTopic::default(),
            ])
            .with_unknown_tagged_fields(tags(t));
        let want = w::OffsetCommitResponse {
            throttle_time_ms: k.throttle_time_ms,
            topics: k
                .topics
                .iter()
                .map(|t| w::offset_commit::OffsetCommitResponseTopic {
                    name: st(&t.name.0),
                    partitions: t
                        .partitions
                        .iter()
                        .map(|p| w::offset_commit::OffsetCommitResponsePartition {
                            partition_index: p.partition_index,
                            error_code: p.error_code,
                        })
                        .collect(),
                })
                .collect(),
        };
        assert_eq!(want.topics[0].partitions[1].error_code, 22);
        check(
            ApiKey::OffsetCommit,
            w::OFFSET_COMMIT_VERSION,
            &k,
            &want,
            w::OffsetCommitResponse::decode,
        );
    }
}

#[test]
fn offset_fetch_v7() {
    use offset_fetch_response::*;
    for t in [false, true] {
        let partition = OffsetFetchResponsePartition::default()
            .with_partition_index(2)
            .with_committed_offset(555)
            .with_committed_leader_epoch(4)
            .with_metadata(Some(s("md")))
            .with_error_code(0)
            .with_unknown_tagged_fields(tags(t));
        let k = OffsetFetchResponse::default()
            .with_throttle_time_ms(6)
            .with_topics(vec![
                OffsetFetchResponseTopic::default()
                    .with_name(TopicName(s("orders")))
                    .with_partitions(vec![
                        partition,
                        OffsetFetchResponsePartition::default().with_metadata(None),
                    ])
                    .with_unknown_tagged_fields(tags(t)),
                OffsetFetchResponseTopic::default(),
            ])
            .with_error_code(16)
            .with_unknown_tagged_fields(tags(t));
        let want = w::OffsetFetchResponse {
            throttle_time_ms: k.throttle_time_ms,
            topics: k
                .topics
                .iter()
                .map(|t| w::offset_fetch::OffsetFetchResponseTopic {
                    name: st(&t.name.0),
                    partitions: t
                        .partitions
                        .iter()
                        .map(|p| w::offset_fetch::OffsetFetchResponsePartition {
                            partition_index: p.partition_index,
                            committed_offset: p.committed_offset,
                            committed_leader_epoch: p.committed_leader_epoch,
                            metadata: ost(&p.metadata),
                            error_code: p.error_code,
                        })
                        .collect(),
                })
                .collect(),
            error_code: k.error_code,
        };
        assert_eq!(want.topics[0].partitions[0].committed_offset, 555);
        check(
            ApiKey::OffsetFetch,
            w::OFFSET_FETCH_VERSION,
            &k,
            &want,
            w::OffsetFetchResponse::decode,
        );
    }
}

// ---------------------------------------------------------------- DescribeGroups, ListGroups, DeleteGroups, OffsetDelete

fn describe_groups(t: bool) -> DescribeGroupsResponse {
    use describe_groups_response::*;
    let member = DescribedGroupMember::default()
        .with_member_id(s("m-1"))
        .with_group_instance_id(Some(s("i-1")))
        .with_client_id(s("client"))
        .with_client_host(s("/10.0.0.1"))
        .with_member_metadata(Bytes::from_static(b"meta"))
        .with_member_assignment(Bytes::from_static(b"asg"))
        .with_unknown_tagged_fields(tags(t));
    let group = DescribedGroup::default()
        .with_error_code(0)
        .with_group_id(GroupId(s("g1")))
        .with_group_state(s("Stable"))
        .with_protocol_type(s("consumer"))
        .with_protocol_data(s("range"))
        .with_members(vec![member, DescribedGroupMember::default()])
        .with_authorized_operations(0x1f)
        .with_unknown_tagged_fields(tags(t));
    DescribeGroupsResponse::default()
        .with_throttle_time_ms(2)
        .with_groups(vec![group, DescribedGroup::default()])
        .with_unknown_tagged_fields(tags(t))
}

fn want_describe_groups(k: &DescribeGroupsResponse) -> w::DescribeGroupsResponse {
    use w::describe_groups::*;
    DescribeGroupsResponse {
        throttle_time_ms: k.throttle_time_ms,
        groups: k
            .groups
            .iter()
            .map(|g| DescribedGroup {
                error_code: g.error_code,
                group_id: st(&g.group_id.0),
                group_state: st(&g.group_state),
                protocol_type: st(&g.protocol_type),
                protocol_data: st(&g.protocol_data),
                members: g
                    .members
                    .iter()
                    .map(|m| DescribedGroupMember {
                        member_id: st(&m.member_id),
                        group_instance_id: ost(&m.group_instance_id),
                        client_id: st(&m.client_id),
                        client_host: st(&m.client_host),
                        member_metadata: m.member_metadata.clone(),
                        member_assignment: m.member_assignment.clone(),
                    })
                    .collect(),
                authorized_operations: g.authorized_operations,
            })
            .collect(),
    }
}

#[test]
fn describe_groups_v5() {
    for t in [false, true] {
        let k = describe_groups(t);
        let want = want_describe_groups(&k);
        assert_eq!(want.groups[0].members[0].client_host, "/10.0.0.1");
        check(
            ApiKey::DescribeGroups,
            w::DESCRIBE_GROUPS_VERSION,
            &k,
            &want,
            w::DescribeGroupsResponse::decode,
        );
    }
}

#[test]
fn list_groups_v4() {
    use list_groups_response::ListedGroup;
    for t in [false, true] {
        let k = ListGroupsResponse::default()
            .with_throttle_time_ms(1)
            .with_error_code(0)
            .with_groups(vec![
                ListedGroup::default()
                    .with_group_id(GroupId(s("g1")))
                    .with_protocol_type(s("consumer"))
                    .with_group_state(s("Empty"))
                    .with_unknown_tagged_fields(tags(t)),
                ListedGroup::default(),
            ])
            .with_unknown_tagged_fields(tags(t));
        let want = w::ListGroupsResponse {
            throttle_time_ms: k.throttle_time_ms,
            error_code: k.error_code,
            groups: k
                .groups
                .iter()
                .map(|g| w::list_groups::ListedGroup {
                    group_id: st(&g.group_id.0),
                    protocol_type: st(&g.protocol_type),
                    group_state: st(&g.group_state),
                })
                .collect(),
        };
        assert_eq!(want.groups[0].group_state, "Empty");
        check(
            ApiKey::ListGroups,
            w::LIST_GROUPS_VERSION,
            &k,
            &want,
            w::ListGroupsResponse::decode,
        );
    }
}

#[test]
fn delete_groups_v2() {
    use delete_groups_response::DeletableGroupResult;
    for t in [false, true] {
        let k = DeleteGroupsResponse::default()
            .with_throttle_time_ms(1)
            .with_results(vec![
                DeletableGroupResult::default()
                    .with_group_id(GroupId(s("g1")))
                    .with_error_code(68)
                    .with_unknown_tagged_fields(tags(t)),
                DeletableGroupResult::default(),
            ])
            .with_unknown_tagged_fields(tags(t));
        let want = w::DeleteGroupsResponse {
            throttle_time_ms: k.throttle_time_ms,
            results: k
                .results
                .iter()
                .map(|r| w::delete_groups::DeletableGroupResult {
                    group_id: st(&r.group_id.0),
                    error_code: r.error_code,
                })
                .collect(),
        };
        assert_eq!(want.results[0].error_code, 68);
        check(
            ApiKey::DeleteGroups,
            w::DELETE_GROUPS_VERSION,
            &k,
            &want,
            w::DeleteGroupsResponse::decode,
        );
    }
}

#[test]
fn offset_delete_v0() {
    use offset_delete_response::*;
    // Not flexible: no tagged fields to add.
    let p = |i, e| {
        OffsetDeleteResponsePartition::default()
            .with_partition_index(i)
            .with_error_code(e)
    };
    let k = OffsetDeleteResponse::default()
        .with_error_code(0)
        .with_throttle_time_ms(3)
        .with_topics(vec![
            OffsetDeleteResponseTopic::default()
                .with_name(TopicName(s("orders")))
                .with_partitions(vec![p(0, 0), p(1, 86), Default::default()]),
            OffsetDeleteResponseTopic::default(),
        ]);
    let want = w::OffsetDeleteResponse {
        error_code: k.error_code,
        throttle_time_ms: k.throttle_time_ms,
        topics: k
            .topics
            .iter()
            .map(|t| w::offset_delete::OffsetDeleteResponseTopic {
                name: st(&t.name.0),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| w::offset_delete::OffsetDeleteResponsePartition {
                        partition_index: p.partition_index,
                        error_code: p.error_code,
                    })
                    .collect(),
            })
            .collect(),
    };
    assert_eq!(want.topics[0].partitions[1].error_code, 86);
    check(
        ApiKey::OffsetDelete,
        w::OFFSET_DELETE_VERSION,
        &k,
        &want,
        w::OffsetDeleteResponse::decode,
    );
}

// ---------------------------------------------------------------- CreateTopics, DeleteTopics

fn create_topics(t: bool) -> CreateTopicsResponse {
    use create_topics_response::*;
    let config = CreatableTopicConfigs::default()
        .with_name(s("cleanup.policy"))
        .with_value(Some(s("compact")))
        .with_read_only(true)
        .with_config_source(5)
        .with_is_sensitive(true)
        .with_unknown_tagged_fields(tags(t));
    let mut topic = CreatableTopicResult::default()
        .with_name(TopicName(s("orders")))
        .with_topic_id(id(9))
        .with_error_code(0)
        .with_error_message(Some(s("ok")))
        .with_num_partitions(6)
        .with_replication_factor(3)
        .with_configs(Some(vec![
            config,
            CreatableTopicConfigs::default().with_value(None),
        ]))
        .with_unknown_tagged_fields(tags(t));
    if t {
        topic = topic.with_topic_config_error_code(29);
    }
    CreateTopicsResponse::default()
        .with_throttle_time_ms(1)
        .with_topics(vec![
            topic,
            CreatableTopicResult::default().with_configs(None),
            CreatableTopicResult::default().with_configs(Some(vec![])),
        ])
        .with_unknown_tagged_fields(tags(t))
}

fn want_create_topics(k: &CreateTopicsResponse) -> w::CreateTopicsResponse {
    use w::create_topics::*;
    CreateTopicsResponse {
        throttle_time_ms: k.throttle_time_ms,
        topics: k
            .topics
            .iter()
            .map(|t| CreatableTopicResult {
                name: st(&t.name.0),
                topic_id: raw(&t.topic_id),
                error_code: t.error_code,
                error_message: ost(&t.error_message),
                topic_config_error_code: t.topic_config_error_code,
                num_partitions: t.num_partitions,
                replication_factor: t.replication_factor,
                configs: t.configs.as_ref().map(|c| {
                    c.iter()
                        .map(|c| CreatableTopicConfigs {
                            name: st(&c.name),
                            value: ost(&c.value),
                            read_only: c.read_only,
                            config_source: c.config_source,
                            is_sensitive: c.is_sensitive,
                        })
                        .collect()
                }),
            })
            .collect(),
    }
}

#[test]
fn create_topics_v7() {
    for t in [false, true] {
        let k = create_topics(t);
        let want = want_create_topics(&k);
        assert_eq!(
            want.topics[0].topic_config_error_code,
            if t { 29 } else { 0 }
        );
        assert_eq!(want.topics[1].configs, None);
        assert_eq!(want.topics[2].configs, Some(vec![]));
        check(
            ApiKey::CreateTopics,
            w::CREATE_TOPICS_VERSION,
            &k,
            &want,
            w::CreateTopicsResponse::decode,
        );
    }
}

#[test]
fn delete_topics_v6() {
    use delete_topics_response::DeletableTopicResult;
    for t in [false, true] {
        let k = DeleteTopicsResponse::default()
            .with_throttle_time_ms(1)
            .with_responses(vec![
                DeletableTopicResult::default()
                    .with_name(Some(TopicName(s("orders"))))
                    .with_topic_id(id(3))
                    .with_error_code(0)
                    .with_error_message(Some(s("msg")))
                    .with_unknown_tagged_fields(tags(t)),
                DeletableTopicResult::default()
                    .with_name(None)
                    .with_topic_id(id(4))
                    .with_error_code(100),
            ])
            .with_unknown_tagged_fields(tags(t));
        let want = w::DeleteTopicsResponse {
            throttle_time_ms: k.throttle_time_ms,
            responses: k
                .responses
                .iter()
                .map(|r| w::delete_topics::DeletableTopicResult {
                    name: r.name.as_ref().map(|n| st(&n.0)),
                    topic_id: raw(&r.topic_id),
                    error_code: r.error_code,
                    error_message: ost(&r.error_message),
                })
                .collect(),
        };
        assert_eq!(want.responses[1].name, None);
        check(
            ApiKey::DeleteTopics,
            w::DELETE_TOPICS_VERSION,
            &k,
            &want,
            w::DeleteTopicsResponse::decode,
        );
    }
}

// ---------------------------------------------------------------- DescribeConfigs

fn describe_configs(t: bool) -> DescribeConfigsResponse {
    use describe_configs_response::*;
    let synonym = DescribeConfigsSynonym::default()
        .with_name(s("log.retention.ms"))
        .with_value(Some(s("1000")))
        .with_source(4)
        .with_unknown_tagged_fields(tags(t));
    let config = DescribeConfigsResourceResult::default()
        .with_name(s("retention.ms"))
        .with_value(Some(s("1000")))
        .with_read_only(false)
        .with_config_source(1)
        .with_is_sensitive(false)
        .with_synonyms(vec![
            synonym,
            DescribeConfigsSynonym::default().with_value(None),
        ])
        .with_config_type(5)
        .with_documentation(Some(s("How long to keep a segment.")))
        .with_unknown_tagged_fields(tags(t));
    let result = DescribeConfigsResult::default()
        .with_error_code(0)
        .with_error_message(None)
        .with_resource_type(2)
        .with_resource_name(s("orders"))
        .with_configs(vec![
            config,
            DescribeConfigsResourceResult::default()
                .with_value(None)
                .with_documentation(None),
        ])
        .with_unknown_tagged_fields(tags(t));
    DescribeConfigsResponse::default()
        .with_throttle_time_ms(8)
        .with_results(vec![result, DescribeConfigsResult::default()])
        .with_unknown_tagged_fields(tags(t))
}

fn want_describe_configs(k: &DescribeConfigsResponse) -> w::DescribeConfigsResponse {
    use w::describe_configs::*;
    DescribeConfigsResponse {
        throttle_time_ms: k.throttle_time_ms,
        results: k
            .results
            .iter()
            .map(|r| DescribeConfigsResult {
                error_code: r.error_code,
                error_message: ost(&r.error_message),
                resource_type: r.resource_type,
                resource_name: st(&r.resource_name),
                configs: r
                    .configs
                    .iter()
                    .map(|c| DescribeConfigsResourceResult {
                        name: st(&c.name),
                        value: ost(&c.value),
                        read_only: c.read_only,
                        config_source: c.config_source,
                        is_sensitive: c.is_sensitive,
                        synonyms: c
                            .synonyms
                            .iter()
                            .map(|y| DescribeConfigsSynonym {
                                name: st(&y.name),
                                value: ost(&y.value),
                                source: y.source,
                            })
                            .collect(),
                        config_type: c.config_type,
                        documentation: ost(&c.documentation),
                    })
                    .collect(),
            })
            .collect(),
    }
}

#[test]
fn describe_configs_v4() {
    for t in [false, true] {
        let k = describe_configs(t);
        let want = want_describe_configs(&k);
        assert_eq!(want.results[0].configs[0].synonyms.len(), 2);
        check(
            ApiKey::DescribeConfigs,
            w::DESCRIBE_CONFIGS_VERSION,
            &k,
            &want,
            w::DescribeConfigsResponse::decode,
        );
    }
}

// ---------------------------------------------------------------- InitProducerId, CreatePartitions

#[test]
fn init_producer_id_v4() {
    for t in [false, true] {
        let k = InitProducerIdResponse::default()
            .with_throttle_time_ms(2)
            .with_error_code(0)
            .with_producer_id(ProducerId(4000))
            .with_producer_epoch(3)
            .with_unknown_tagged_fields(tags(t));
        let want = w::InitProducerIdResponse {
            throttle_time_ms: 2,
            error_code: 0,
            producer_id: 4000,
            producer_epoch: 3,
        };
        check(
            ApiKey::InitProducerId,
            w::INIT_PRODUCER_ID_VERSION,
            &k,
            &want,
            w::InitProducerIdResponse::decode,
        );
    }
}

#[test]
fn create_partitions_v3() {
    use create_partitions_response::CreatePartitionsTopicResult;
    for t in [false, true] {
        let k = CreatePartitionsResponse::default()
            .with_throttle_time_ms(1)
            .with_results(vec![
                CreatePartitionsTopicResult::default()
                    .with_name(TopicName(s("orders")))
                    .with_error_code(37)
                    .with_error_message(Some(s("too few")))
                    .with_unknown_tagged_fields(tags(t)),
                CreatePartitionsTopicResult::default(),
            ])
            .with_unknown_tagged_fields(tags(t));
        let want = w::CreatePartitionsResponse {
            throttle_time_ms: k.throttle_time_ms,
            results: k
                .results
                .iter()
                .map(|r| w::create_partitions::CreatePartitionsTopicResult {
                    name: st(&r.name.0),
                    error_code: r.error_code,
                    error_message: ost(&r.error_message),
                })
                .collect(),
        };
        assert_eq!(want.results[0].error_message.as_deref(), Some("too few"));
        check(
            ApiKey::CreatePartitions,
            w::CREATE_PARTITIONS_VERSION,
            &k,
            &want,
            w::CreatePartitionsResponse::decode,
        );
    }
}

// ---------------------------------------------------------------- AlterConfigs, IncrementalAlterConfigs

#[test]
fn alter_configs_v2() {
    use alter_configs_response::AlterConfigsResourceResponse;
    for t in [false, true] {
        let k = AlterConfigsResponse::default()
            .with_throttle_time_ms(1)
            .with_responses(vec![
                AlterConfigsResourceResponse::default()
                    .with_error_code(40)
                    .with_error_message(Some(s("bad value")))
                    .with_resource_type(2)
                    .with_resource_name(s("orders"))
                    .with_unknown_tagged_fields(tags(t)),
                AlterConfigsResourceResponse::default(),
            ])
            .with_unknown_tagged_fields(tags(t));
        let want = w::AlterConfigsResponse {
            throttle_time_ms: k.throttle_time_ms,
            responses: k
                .responses
                .iter()
                .map(|r| w::alter_configs::AlterConfigsResourceResponse {
                    error_code: r.error_code,
                    error_message: ost(&r.error_message),
                    resource_type: r.resource_type,
                    resource_name: st(&r.resource_name),
                })
                .collect(),
        };
        assert_eq!(want.responses[0].resource_name, "orders");
        check(
            ApiKey::AlterConfigs,
            w::ALTER_CONFIGS_VERSION,
            &k,
            &want,
            w::AlterConfigsResponse::decode,
        );
    }
}

#[test]
fn incremental_alter_configs_v1() {
    use incremental_alter_configs_response::AlterConfigsResourceResponse;
    for t in [false, true] {
        let k = IncrementalAlterConfigsResponse::default()
            .with_throttle_time_ms(1)
            .with_responses(vec![
                AlterConfigsResourceResponse::default()
                    .with_error_code(0)
                    .with_error_message(None)
                    .with_resource_type(4)
                    .with_resource_name(s("1"))
                    .with_unknown_tagged_fields(tags(t)),
                AlterConfigsResourceResponse::default().with_error_message(Some(s("e"))),
            ])
            .with_unknown_tagged_fields(tags(t));
        let want = w::IncrementalAlterConfigsResponse {
            throttle_time_ms: k.throttle_time_ms,
            responses: k
                .responses
                .iter()
                .map(
                    |r| w::incremental_alter_configs::AlterConfigsResourceResponse {
                        error_code: r.error_code,
                        error_message: ost(&r.error_message),
                        resource_type: r.resource_type,
                        resource_name: st(&r.resource_name),
                    },
                )
                .collect(),
        };
        assert_eq!(want.responses[0].resource_type, 4);
        check(
            ApiKey::IncrementalAlterConfigs,
            w::INCREMENTAL_ALTER_CONFIGS_VERSION,
            &k,
            &want,
            w::IncrementalAlterConfigsResponse::decode,
        );
    }
}

// ---------------------------------------------------------------- DeleteRecords

#[test]
fn delete_records_v2() {
    use delete_records_response::*;
    for t in [false, true] {
        let p = |i, lw, e| {
            DeleteRecordsPartitionResult::default()
                .with_partition_index(i)
                .with_low_watermark(lw)
                .with_error_code(e)
                .with_unknown_tagged_fields(tags(t))
        };
        let k = DeleteRecordsResponse::default()
            .with_throttle_time_ms(1)
            .with_topics(vec![
                DeleteRecordsTopicResult::default()
                    .with_name(TopicName(s("orders")))
                    .with_partitions(vec![p(0, 100, 0), p(1, -1, 1), Default::default()])
                    .with_unknown_tagged_fields(tags(t)),
                DeleteRecordsTopicResult::default(),
            ])
            .with_unknown_tagged_fields(tags(t));
        let want = w::DeleteRecordsResponse {
            throttle_time_ms: k.throttle_time_ms,
            topics: k
                .topics
                .iter()
                .map(|t| w::delete_records::DeleteRecordsTopicResult {
                    name: st(&t.name.0),
                    partitions: t
                        .partitions
                        .iter()
                        .map(|p| w::delete_records::DeleteRecordsPartitionResult {
                            partition_index: p.partition_index,
                            low_watermark: p.low_watermark,
                            error_code: p.error_code,
                        })
                        .collect(),
                })
                .collect(),
        };
        assert_eq!(want.topics[0].partitions[0].low_watermark, 100);
        check(
            ApiKey::DeleteRecords,
            w::DELETE_RECORDS_VERSION,
            &k,
            &want,
            w::DeleteRecordsResponse::decode,
        );
    }
}

// ---------------------------------------------------------------- OffsetForLeaderEpoch

#[test]
fn offset_for_leader_epoch_v4() {
    use offset_for_leader_epoch_response::*;
    for t in [false, true] {
        let p = |e, i, epoch, end| {
            EpochEndOffset::default()
                .with_error_code(e)
                .with_partition(i)
                .with_leader_epoch(epoch)
                .with_end_offset(end)
                .with_unknown_tagged_fields(tags(t))
        };
        let k = OffsetForLeaderEpochResponse::default()
            .with_throttle_time_ms(3)
            .with_topics(vec![
                OffsetForLeaderTopicResult::default()
                    .with_topic(TopicName(s("orders")))
                    .with_partitions(vec![p(0, 0, 4, 120), p(74, 1, -1, -1), Default::default()])
                    .with_unknown_tagged_fields(tags(t)),
                OffsetForLeaderTopicResult::default(),
            ])
            .with_unknown_tagged_fields(tags(t));
        let want = w::OffsetForLeaderEpochResponse {
            throttle_time_ms: k.throttle_time_ms,
            topics: k
                .topics
                .iter()
                .map(|t| w::offset_for_leader_epoch::OffsetForLeaderTopicResult {
                    topic: st(&t.topic.0),
                    partitions: t
                        .partitions
                        .iter()
                        .map(|p| w::offset_for_leader_epoch::EpochEndOffset {
                            error_code: p.error_code,
                            partition: p.partition,
                            leader_epoch: p.leader_epoch,
                            end_offset: p.end_offset,
                        })
                        .collect(),
                })
                .collect(),
        };
        assert_eq!(want.topics[0].partitions[0].end_offset, 120);
        check(
            ApiKey::OffsetForLeaderEpoch,
            w::OFFSET_FOR_LEADER_EPOCH_VERSION,
            &k,
            &want,
            w::OffsetForLeaderEpochResponse::decode,
        );
    }
}

// ---------------------------------------------------------------- hostile bodies

/// Each decoder's first count (or, without arrays, a length) set huge.
#[test]
fn hostile_counts_are_refused() {
    use Huge::*;
    hostile(w::ApiVersionsResponse::decode, &[0; 2], Array);
    hostile(w::MetadataResponse::decode, &[0; 4], Array);
    hostile(w::ProduceResponse::decode, &[], Array);
    hostile(w::FetchResponse::decode, &[0; 10], Array);
    hostile(w::ListOffsetsResponse::decode, &[0; 4], Array);
    // throttle, error_code, then the error message's length.
    hostile(w::FindCoordinatorResponse::decode, &[0; 6], Length);
    // throttle, error, generation, null type, null name, "" leader, "" member id.
    let join = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1];
    hostile(w::JoinGroupResponse::decode, &join, Array);
    // throttle, error, null type, null name, then the assignment's length.
    hostile(w::SyncGroupResponse::decode, &[0; 8], Length);
    // throttle, error, then the tagged-field count.
    hostile(w::HeartbeatResponse::decode, &[0; 6], Length);
    hostile(w::LeaveGroupResponse::decode, &[0; 6], Array);
    hostile(w::OffsetCommitResponse::decode, &[0; 4], Array);
    hostile(w::OffsetFetchResponse::decode, &[0; 4], Array);
    hostile(w::DescribeGroupsResponse::decode, &[0; 4], Array);
    hostile(w::ListGroupsResponse::decode, &[0; 6], Array);
    hostile(w::DeleteGroupsResponse::decode, &[0; 4], Array);
    hostile(w::OffsetDeleteResponse::decode, &[0; 6], ClassicArray);
    hostile(w::CreateTopicsResponse::decode, &[0; 4], Array);
    hostile(w::DeleteTopicsResponse::decode, &[0; 4], Array);
    hostile(w::DescribeConfigsResponse::decode, &[0; 4], Array);
    // throttle, error, producer id, epoch, then the tagged-field count.
    hostile(w::InitProducerIdResponse::decode, &[0; 16], Length);
    hostile(w::CreatePartitionsResponse::decode, &[0; 4], Array);
    hostile(w::AlterConfigsResponse::decode, &[0; 4], Array);
    hostile(w::IncrementalAlterConfigsResponse::decode, &[0; 4], Array);
    hostile(w::DeleteRecordsResponse::decode, &[0; 4], Array);
    hostile(w::OffsetForLeaderEpochResponse::decode, &[0; 4], Array);
}

/// Hostile lengths deeper in: a nested array count and a records length.
#[test]
fn hostile_nested_lengths_are_refused() {
    let huge = [0xff, 0xff, 0xff, 0xff, 0x0f];
    // Metadata: throttle, no brokers, null cluster id, controller, one topic whose
    // partition count is huge.
    let mut b = vec![0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0];
    b.extend_from_slice(&[0; 16]);
    b.push(0);
    b.extend_from_slice(&huge);
    b.extend_from_slice(&[0; 32]);
    let got = w::MetadataResponse::decode(&mut Reader::new(b.into()));
    assert!(
        matches!(got, Err(DecodeError::InvalidLength { .. })),
        "{got:?}"
    );

    // Fetch: one topic, one partition whose records length is huge.
    let mut b = vec![0; 10];
    b.extend_from_slice(&[2, 2, b't', 2]);
    b.extend_from_slice(&[0; 4 + 2 + 8 + 8 + 8]);
    b.push(0); // null aborted transactions
    b.extend_from_slice(&[0xff; 4]); // preferred read replica
    b.extend_from_slice(&huge);
    b.extend_from_slice(&[0; 32]);
    let got = w::FetchResponse::decode(&mut Reader::new(b.into()));
    assert!(matches!(got, Err(DecodeError::Truncated { .. })), "{got:?}");

    // A huge tagged-field count inside an element.
    let mut b = vec![0, 0, 2, 0, 3, 0, 0, 0, 5];
    b.extend_from_slice(&huge);
    b.extend_from_slice(&[0; 32]);
    let got = w::ApiVersionsResponse::decode(&mut Reader::new(b.into()));
    assert!(
        matches!(got, Err(DecodeError::InvalidLength { .. })),
        "{got:?}"
    );
}

/// Arrays of minimal (default) elements still decode: with many of them and little
/// after the array, an element size bound that is one byte too large would refuse
/// these valid bodies.
#[test]
fn minimal_elements_fit_the_count_bounds() {
    fn ok<K: Encodable, W: Debug>(what: &str, k: K, v: i16, decode: Decode<W>) {
        let got = decode(&mut Reader::new(encode(&k, v)));
        assert!(got.is_ok(), "{what}: {got:?}");
    }
    fn n<T: Clone + Default>() -> Vec<T> {
        vec![T::default(); 32]
    }
    fn one<T>(t: T) -> Vec<T> {
        vec![t]
    }

    {
        use api_versions_response::*;
        let k = ApiVersionsResponse::default().with_api_keys(n());
        ok("api_keys", k, 3, w::ApiVersionsResponse::decode);
        let k = ApiVersionsResponse::default()
            .with_supported_features(n())
            .with_finalized_features(n());
        ok("features", k, 3, w::ApiVersionsResponse::decode);
    }
    {
        use metadata_response::*;
        let k = MetadataResponse::default().with_brokers(n());
        ok("brokers", k, 12, w::MetadataResponse::decode);
        let k = MetadataResponse::default().with_topics(n());
        ok("topics", k, 12, w::MetadataResponse::decode);
        let t = MetadataResponseTopic::default().with_partitions(n());
        let k = MetadataResponse::default().with_topics(one(t));
        ok("partitions", k, 12, w::MetadataResponse::decode);
    }
    {
        use produce_response::*;
        let k = ProduceResponse::default().with_responses(n());
        ok("responses", k, 9, w::ProduceResponse::decode);
        let p = PartitionProduceResponse::default().with_record_errors(n());
        let t = TopicProduceResponse::default().with_partition_responses(one(p));
        let k = ProduceResponse::default().with_responses(one(t));
        ok("record_errors", k.clone(), 9, w::ProduceResponse::decode);
        let t = TopicProduceResponse::default().with_partition_responses(n());
        let k = ProduceResponse::default().with_responses(one(t));
        ok("partition_responses", k, 9, w::ProduceResponse::decode);
    }
    {
        use fetch_response::*;
        let k = FetchResponse::default().with_responses(n());
        ok("responses", k, 12, w::FetchResponse::decode);
        let p = PartitionData::default().with_aborted_transactions(Some(n()));
        let t = FetchableTopicResponse::default().with_partitions(one(p));
        let k = FetchResponse::default().with_responses(one(t));
        ok("aborted_transactions", k, 12, w::FetchResponse::decode);
        let t = FetchableTopicResponse::default().with_partitions(n());
        let k = FetchResponse::default().with_responses(one(t));
        ok("partitions", k, 12, w::FetchResponse::decode);
    }
    {
        use list_offsets_response::*;
        let k = ListOffsetsResponse::default().with_topics(n());
        ok("topics", k, 6, w::ListOffsetsResponse::decode);
        let t = ListOffsetsTopicResponse::default().with_partitions(n());
        let k = ListOffsetsResponse::default().with_topics(one(t));
        ok("partitions", k, 6, w::ListOffsetsResponse::decode);
    }
    let k = JoinGroupResponse::default().with_members(n());
    ok("join members", k, 7, w::JoinGroupResponse::decode);
    let k = LeaveGroupResponse::default().with_members(n());
    ok("leave members", k, 4, w::LeaveGroupResponse::decode);
    {
        use offset_commit_response::*;
        let k = OffsetCommitResponse::default().with_topics(n());
        ok("topics", k, 8, w::OffsetCommitResponse::decode);
        let t = OffsetCommitResponseTopic::default().with_partitions(n());
        let k = OffsetCommitResponse::default().with_topics(one(t));
        ok("partitions", k, 8, w::OffsetCommitResponse::decode);
    }
    {
        use offset_fetch_response::*;
        let k = OffsetFetchResponse::default().with_topics(n());
        ok("topics", k, 7, w::OffsetFetchResponse::decode);
        let t = OffsetFetchResponseTopic::default().with_partitions(n());
        let k = OffsetFetchResponse::default().with_topics(one(t));
        ok("partitions", k, 7, w::OffsetFetchResponse::decode);
    }
    {
        use describe_groups_response::*;
        let k = DescribeGroupsResponse::default().with_groups(n());
        ok("groups", k, 5, w::DescribeGroupsResponse::decode);
        let g = DescribedGroup::default().with_members(n());
        let k = DescribeGroupsResponse::default().with_groups(one(g));
        ok("members", k, 5, w::DescribeGroupsResponse::decode);
    }
    let k = ListGroupsResponse::default().with_groups(n());
    ok("list groups", k, 4, w::ListGroupsResponse::decode);
    let k = DeleteGroupsResponse::default().with_results(n());
    ok("delete groups", k, 2, w::DeleteGroupsResponse::decode);
    {
        use offset_delete_response::*;
        let k = OffsetDeleteResponse::default().with_topics(n());
        ok("topics", k, 0, w::OffsetDeleteResponse::decode);
        let t = OffsetDeleteResponseTopic::default().with_partitions(n());
        let k = OffsetDeleteResponse::default().with_topics(one(t));
        ok("partitions", k, 0, w::OffsetDeleteResponse::decode);
    }
    {
        use create_topics_response::*;
        let k = CreateTopicsResponse::default().with_topics(n());
        ok("topics", k, 7, w::CreateTopicsResponse::decode);
        let t = CreatableTopicResult::default().with_configs(Some(n()));
        let k = CreateTopicsResponse::default().with_topics(one(t));
        ok("configs", k, 7, w::CreateTopicsResponse::decode);
    }
    let k = DeleteTopicsResponse::default().with_responses(n());
    ok("delete topics", k, 6, w::DeleteTopicsResponse::decode);
    {
        use describe_configs_response::*;
        let k = DescribeConfigsResponse::default().with_results(n());
        ok("results", k, 4, w::DescribeConfigsResponse::decode);
        let r = DescribeConfigsResult::default().with_configs(n());
        let k = DescribeConfigsResponse::default().with_results(one(r));
        ok("configs", k, 4, w::DescribeConfigsResponse::decode);
        let c = DescribeConfigsResourceResult::default().with_synonyms(n());
        let r = DescribeConfigsResult::default().with_configs(one(c));
        let k = DescribeConfigsResponse::default().with_results(one(r));
        ok("synonyms", k, 4, w::DescribeConfigsResponse::decode);
    }
    let k = CreatePartitionsResponse::default().with_results(n());
    ok(
        "create partitions",
        k,
        3,
        w::CreatePartitionsResponse::decode,
    );
    let k = AlterConfigsResponse::default().with_responses(n());
    ok("alter configs", k, 2, w::AlterConfigsResponse::decode);
    let k = IncrementalAlterConfigsResponse::default().with_responses(n());
    let decode = w::IncrementalAlterConfigsResponse::decode;
    ok("incremental alter configs", k, 1, decode);
    {
        use delete_records_response::*;
        let k = DeleteRecordsResponse::default().with_topics(n());
        ok("topics", k, 2, w::DeleteRecordsResponse::decode);
        let t = DeleteRecordsTopicResult::default().with_partitions(n());
        let k = DeleteRecordsResponse::default().with_topics(one(t));
        ok("partitions", k, 2, w::DeleteRecordsResponse::decode);
    }
    {
        use offset_for_leader_epoch_response::*;
        let decode = w::OffsetForLeaderEpochResponse::decode;
        let k = OffsetForLeaderEpochResponse::default().with_topics(n());
        ok("topics", k, 4, decode);
        let t = OffsetForLeaderTopicResult::default().with_partitions(n());
        let k = OffsetForLeaderEpochResponse::default().with_topics(one(t));
        ok("partitions", k, 4, decode);
    }
}
