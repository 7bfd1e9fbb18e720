//! Valid sample requests for every served (api, version): the inputs of the
//! version-matrix tests (here and in the broker) and the seeds of the fuzzers.
//!
//! Bodies are kafka-protocol's typed request structs, encoded with its (sound)
//! encoders; Produce v0–2 and OffsetForLeaderEpoch v0–1, which it cannot encode,
//! are written by hand from the same typed struct. Each [`Sample`] keeps the typed
//! body next to its bytes, so a test can compare what our decoder read with what
//! was encoded.

mod bodies;
mod mutate;
pub mod txn_bodies;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiVersionsRequest, CreateTopicsRequest, DeleteTopicsRequest, DescribeConfigsRequest,
    FetchRequest, ListOffsetsRequest, MetadataRequest, OffsetForLeaderEpochRequest, ProduceRequest,
    RequestHeader,
};
use kafka_protocol::protocol::{Encodable, HeaderVersion, StrBytes};

pub use mutate::{
    SplitMix, fuzz_input, mutate, random_batch, random_frame, tampered_batch, tampered_produce,
    walk_produce_records, walk_records,
};

use super::api::{ApiKey, SUPPORTED_APIS, api_spec};
use super::records::testing::build_batch;

/// Topic the samples name.
pub const SAMPLE_TOPIC: &str = "sample";

/// How much a sample holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One topic and partition, optional fields left at their defaults: the request
    /// a fresh broker answers with error code 0 (the broker's API matrix relies on it).
    Minimal,
    /// Several topics and partitions, every field the version has set to a
    /// non-default value, nulls where allowed and unknown tagged fields in flexible
    /// versions: for decoder tests and fuzz seeds, not for a live broker.
    Rich,
}

/// A typed request body, as it was encoded.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleBody {
    /// Produce (v0–2 hand-encoded).
    Produce(ProduceRequest),
    /// Fetch.
    Fetch(FetchRequest),
    /// ListOffsets.
    ListOffsets(ListOffsetsRequest),
    /// Metadata.
    Metadata(MetadataRequest),
    /// ApiVersions.
    ApiVersions(ApiVersionsRequest),
    /// CreateTopics.
    CreateTopics(CreateTopicsRequest),
    /// DeleteTopics.
    DeleteTopics(DeleteTopicsRequest),
    /// DescribeConfigs.
    DescribeConfigs(DescribeConfigsRequest),
    /// OffsetForLeaderEpoch (v0–1 hand-encoded).
    OffsetForLeaderEpoch(OffsetForLeaderEpochRequest),
    /// A body already encoded (its fields are compared per API in
    /// `client/tests/group_decoders.rs` and `client/tests/producer_decoders.rs`).
    Encoded(Bytes),
}

/// One valid request: what was encoded and the frame body (no length prefix) it
/// became.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The API.
    pub key: ApiKey,
    /// The request version.
    pub version: i16,
    /// The request header as encoded (v1, or v2 for flexible versions).
    pub header: RequestHeader,
    /// The request body as encoded.
    pub body: SampleBody,
    /// Header and body bytes, ready for `decode_request` (or `put_frame`).
    pub frame: Bytes,
}

/// Every served (api, version), in registry order.
pub fn served_versions() -> impl Iterator<Item = (ApiKey, i16)> {
    SUPPORTED_APIS
        .iter()
        .flat_map(|spec| (spec.range.min..=spec.range.max).map(move |v| (spec.key, v)))
}

/// A valid one-record batch.
pub fn sample_batch() -> Bytes {
    build_batch(&[(Some(b"key"), Some(b"value"))], 1_700_000_000_000)
}

/// The sample of (`key`, `v`) in `shape`.
pub fn sample(key: ApiKey, v: i16, correlation_id: i32, shape: Shape) -> Sample {
    let header = sample_header(key, v, correlation_id, shape);
    let body = bodies::body(key, v, shape);
    let frame = match &body {
        SampleBody::Produce(r) if v < 3 => encode_legacy_produce(&header, r),
        SampleBody::Produce(r) => encode(&header, r),
        SampleBody::Fetch(r) => encode(&header, r),
        SampleBody::ListOffsets(r) => encode(&header, r),
        SampleBody::Metadata(r) => encode(&header, r),
        SampleBody::ApiVersions(r) => encode(&header, r),
        SampleBody::CreateTopics(r) => encode(&header, r),
        SampleBody::DeleteTopics(r) => encode(&header, r),
        SampleBody::DescribeConfigs(r) => encode(&header, r),
        SampleBody::OffsetForLeaderEpoch(r) if v < 2 => {
            encode_legacy_offset_for_leader_epoch(&header, r)
        }
        SampleBody::OffsetForLeaderEpoch(r) => encode(&header, r),
        SampleBody::Encoded(body) => {
            let mut buf = BytesMut::new();
            let flexible = is_flexible(key, v);
            header
                .encode(&mut buf, if flexible { 2 } else { 1 })
                .expect("valid sample header");
            buf.put_slice(body);
            buf.freeze()
        }
    };
    Sample {
        key,
        version: v,
        header,
        body,
        frame,
    }
}

/// The frame body (header + request, no length prefix) of the minimal valid
/// request of (`key`, `v`).
pub fn sample_request(key: ApiKey, v: i16, correlation_id: i32) -> Bytes {
    sample(key, v, correlation_id, Shape::Minimal).frame
}

/// Minimal and rich samples of every served (api, version): fuzz seeds.
pub fn sample_requests() -> Vec<(ApiKey, i16, Bytes)> {
    [Shape::Minimal, Shape::Rich]
        .into_iter()
        .flat_map(|shape| served_versions().map(move |(key, v)| (key, v, shape)))
        .enumerate()
        .map(|(i, (key, v, shape))| (key, v, sample(key, v, i as i32, shape).frame))
        .collect()
}

/// A Produce request of version `v` carrying `records` for partition 0 of the
/// sample topic (any bytes: the request layer does not look inside them).
pub fn produce_request_with(v: i16, correlation_id: i32, records: Option<Bytes>) -> Bytes {
    let header = sample_header(ApiKey::Produce, v, correlation_id, Shape::Minimal);
    let body = bodies::produce_with(records);
    if v < 3 {
        encode_legacy_produce(&header, &body)
    } else {
        encode(&header, &body)
    }
}

fn sample_header(key: ApiKey, v: i16, correlation_id: i32, shape: Shape) -> RequestHeader {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(v)
        .with_correlation_id(correlation_id);
    match shape {
        Shape::Minimal => header.with_client_id(Some(StrBytes::from_static_str("sample"))),
        // Odd versions send a null client id; flexible ones an unknown tagged field.
        Shape::Rich => header
            .with_client_id((v % 2 == 0).then(|| StrBytes::from_static_str("weir-rich-sample")))
            .with_unknown_tagged_fields(bodies::unknown_tags(is_flexible(key, v))),
    }
}

/// Whether (`key`, `v`) uses compact encodings and tagged fields.
pub fn is_flexible(key: ApiKey, v: i16) -> bool {
    api_spec(key as i16).is_some_and(|spec| v >= spec.flexible_min)
}

fn encode<R: Encodable + HeaderVersion>(header: &RequestHeader, body: &R) -> Bytes {
    let version = header.request_api_version;
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, R::header_version(version))
        .expect("valid sample header");
    body.encode(&mut buf, version).expect("valid sample body");
    buf.freeze()
}

/// Produce v0–2 (header v1), which kafka-protocol 0.18 cannot encode: the same
/// fields as v3 without `transactional_id`, classic strings and arrays.
fn encode_legacy_produce(header: &RequestHeader, body: &ProduceRequest) -> Bytes {
    let mut buf = BytesMut::new();
    header.encode(&mut buf, 1).expect("valid sample header");
    buf.put_i16(body.acks);
    buf.put_i32(body.timeout_ms);
    buf.put_i32(body.topic_data.len() as i32);
    for topic in &body.topic_data {
        buf.put_i16(topic.name.as_str().len() as i16);
        buf.put_slice(topic.name.as_str().as_bytes());
        buf.put_i32(topic.partition_data.len() as i32);
        for partition in &topic.partition_data {
            buf.put_i32(partition.index);
            match &partition.records {
                None => buf.put_i32(-1),
                Some(records) => {
                    buf.put_i32(records.len() as i32);
                    buf.put_slice(records);
                }
            }
        }
    }
    buf.freeze()
}

/// OffsetForLeaderEpoch v0–1 (header v1), which kafka-protocol 0.18 cannot encode:
/// v2's fields without `current_leader_epoch`, classic strings and arrays.
fn encode_legacy_offset_for_leader_epoch(
    header: &RequestHeader,
    body: &OffsetForLeaderEpochRequest,
) -> Bytes {
    let mut buf = BytesMut::new();
    header.encode(&mut buf, 1).expect("valid sample header");
    buf.put_i32(body.topics.len() as i32);
    for topic in &body.topics {
        buf.put_i16(topic.topic.as_str().len() as i16);
        buf.put_slice(topic.topic.as_str().as_bytes());
        buf.put_i32(topic.partitions.len() as i32);
        for partition in &topic.partitions {
            buf.put_i32(partition.partition);
            buf.put_i32(partition.leader_epoch);
        }
    }
    buf.freeze()
}
