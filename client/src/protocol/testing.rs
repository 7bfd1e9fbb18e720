//! Valid sample requests for every served (api, version): the seeds of the
//! structure-aware fuzzers and the inputs of the version-matrix tests.
//!
//! Encoded with kafka-protocol's (sound) request encoders; Produce v0–2, which it
//! cannot encode, are written by hand.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, HeaderVersion, StrBytes};

use super::api::{ApiKey, SUPPORTED_APIS};
use super::records::testing::build_batch;

/// Topic the samples name.
pub const SAMPLE_TOPIC: &str = "sample";

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_owned()))
}

/// A valid one-record batch.
pub fn sample_batch() -> Bytes {
    build_batch(&[(Some(b"key"), Some(b"value"))], 1_700_000_000_000)
}

fn encode<R: Encodable + HeaderVersion>(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &R,
) -> Bytes {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("sample")));
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, R::header_version(version))
        .expect("valid header");
    body.encode(&mut buf, version).expect("valid sample body");
    buf.freeze()
}

/// The frame body (header + request, no length prefix) of a valid request.
pub fn sample_request(key: ApiKey, v: i16, correlation_id: i32) -> Bytes {
    let c = correlation_id;
    match key {
        ApiKey::ApiVersions => {
            let r = ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_static_str("sample"))
                .with_client_software_version(StrBytes::from_static_str("1.0"));
            encode(key, v, c, &r)
        }
        ApiKey::Metadata => {
            let topic = metadata_request::MetadataRequestTopic::default()
                .with_name(Some(name(SAMPLE_TOPIC)));
            encode(
                key,
                v,
                c,
                &MetadataRequest::default().with_topics(Some(vec![topic])),
            )
        }
        ApiKey::Produce if v < 3 => legacy_produce(v, c),
        ApiKey::Produce => {
            let p = produce_request::PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(sample_batch()));
            let t = produce_request::TopicProduceData::default()
                .with_name(name(SAMPLE_TOPIC))
                .with_partition_data(vec![p]);
            encode(
                key,
                v,
                c,
                &ProduceRequest::default()
                    .with_acks(1)
                    .with_timeout_ms(1000)
                    .with_topic_data(vec![t]),
            )
        }
        ApiKey::Fetch => {
            let p = fetch_request::FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20);
            let t = fetch_request::FetchTopic::default()
                .with_topic(name(SAMPLE_TOPIC))
                .with_partitions(vec![p]);
            let r = FetchRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_max_wait_ms(0)
                .with_min_bytes(1)
                .with_max_bytes(1 << 20)
                .with_topics(vec![t]);
            encode(key, v, c, &r)
        }
        ApiKey::ListOffsets => {
            let p = list_offsets_request::ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(-2);
            let t = list_offsets_request::ListOffsetsTopic::default()
                .with_name(name(SAMPLE_TOPIC))
                .with_partitions(vec![p]);
            encode(
                key,
                v,
                c,
                &ListOffsetsRequest::default()
                    .with_replica_id(BrokerId(-1))
                    .with_topics(vec![t]),
            )
        }
        ApiKey::CreateTopics => {
            let config = create_topics_request::CreatableTopicConfig::default()
                .with_name(StrBytes::from_static_str("retention.ms"))
                .with_value(Some(StrBytes::from_static_str("60000")));
            let t = create_topics_request::CreatableTopic::default()
                .with_name(name(&format!("created-{v}")))
                .with_num_partitions(1)
                .with_replication_factor(1)
                .with_configs(vec![config]);
            encode(
                key,
                v,
                c,
                &CreateTopicsRequest::default()
                    .with_topics(vec![t])
                    .with_timeout_ms(1000),
            )
        }
        ApiKey::DeleteTopics => {
            let r = if v >= 6 {
                let t = delete_topics_request::DeleteTopicState::default()
                    .with_name(Some(name("created-2")));
                DeleteTopicsRequest::default().with_topics(vec![t])
            } else {
                DeleteTopicsRequest::default().with_topic_names(vec![name("created-2")])
            };
            encode(key, v, c, &r.with_timeout_ms(1000))
        }
        ApiKey::DescribeConfigs => {
            let res = describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str(SAMPLE_TOPIC))
                .with_configuration_keys(None);
            encode(
                key,
                v,
                c,
                &DescribeConfigsRequest::default().with_resources(vec![res]),
            )
        }
    }
}

/// Produce v0–2 (acks=1), by hand.
fn legacy_produce(v: i16, correlation_id: i32) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(ApiKey::Produce as i16);
    buf.put_i16(v);
    buf.put_i32(correlation_id);
    buf.put_i16(6);
    buf.put_slice(b"sample");
    buf.put_i16(1);
    buf.put_i32(1000);
    buf.put_i32(1);
    buf.put_i16(SAMPLE_TOPIC.len() as i16);
    buf.put_slice(SAMPLE_TOPIC.as_bytes());
    buf.put_i32(1);
    buf.put_i32(0);
    let batch = sample_batch();
    buf.put_i32(batch.len() as i32);
    buf.put_slice(&batch);
    buf.freeze()
}

/// One valid sample per served (api, version).
pub fn sample_requests() -> Vec<(ApiKey, i16, Bytes)> {
    SUPPORTED_APIS
        .iter()
        .flat_map(|spec| (spec.range.min..=spec.range.max).map(move |v| (spec.key, v)))
        .enumerate()
        .map(|(i, (key, v))| (key, v, sample_request(key, v, i as i32)))
        .collect()
}

/// A tiny deterministic generator (SplitMix64), so fuzz runs replay from a seed
/// without pulling a RNG crate into the library.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// Extreme values written over length and count fields.
const EXTREMES_I32: [i32; 6] = [i32::MAX, -1, i32::MIN, 0x7fff, 1 << 24, 0];
const EXTREMES_I16: [i16; 4] = [i16::MAX, -1, i16::MIN, 0];
/// Header bytes (api key, version) left alone by most mutations, so bodies of
/// served versions are what gets fuzzed.
const HEADER_KEEP_BYTES: usize = 4;

/// Applies 1–4 structure-aware mutations to `frame`: bit flips, extreme length and
/// count values, truncation, 0xff/0x7f runs, chunk duplication and deletion, and
/// splicing with `other`.
pub fn mutate(rng: &mut SplitMix, frame: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = frame.to_vec();
    for _ in 0..1 + rng.below(4) {
        let keep = if rng.below(10) == 0 {
            0
        } else {
            HEADER_KEEP_BYTES.min(out.len())
        };
        let span = out.len().saturating_sub(keep);
        let at = keep + rng.below(span.max(1));
        match rng.below(9) {
            0 if at < out.len() => out[at] ^= 1 << rng.below(8),
            1 if at < out.len() => out[at] = [0x00, 0xff, 0x7f, 0x80][rng.below(4)],
            2 => out.truncate(at),
            3 => {
                let byte = if rng.below(2) == 0 { 0xff } else { 0x7f };
                let run = 1 + rng.below(8);
                let at = at.min(out.len());
                out.splice(at..at, std::iter::repeat_n(byte, run));
            }
            4 if at + 4 <= out.len() => {
                let v = EXTREMES_I32[rng.below(EXTREMES_I32.len())];
                out[at..at + 4].copy_from_slice(&v.to_be_bytes());
            }
            5 if at + 2 <= out.len() => {
                let v = EXTREMES_I16[rng.below(EXTREMES_I16.len())];
                out[at..at + 2].copy_from_slice(&v.to_be_bytes());
            }
            6 => {
                let cut = at.min(out.len());
                let from = rng.below(other.len().max(1)).min(other.len());
                out.truncate(cut);
                out.extend_from_slice(&other[from..]);
            }
            7 if at < out.len() => {
                let end = (at + 1 + rng.below(32)).min(out.len());
                let chunk = out[at..end].to_vec();
                out.splice(at..at, chunk);
            }
            8 if at < out.len() => {
                let end = (at + 1 + rng.below(32)).min(out.len());
                out.drain(at..end);
            }
            _ => {}
        }
    }
    out
}

/// The `i`-th input of a seeded fuzz loop: every tenth a random frame, the rest
/// mutated samples (spliced with another sample).
pub fn fuzz_input(rng: &mut SplitMix, samples: &[(ApiKey, i16, Bytes)], i: usize) -> Vec<u8> {
    if i.is_multiple_of(10) {
        return random_frame(rng, 256);
    }
    let (_, _, frame) = &samples[rng.below(samples.len())];
    let (_, _, other) = &samples[rng.below(samples.len())];
    mutate(rng, frame, other)
}

/// Walks every batch and (uncompressed) record of a decoded Produce request, as
/// the broker's validation would; returns how many records were read.
pub fn walk_produce_records(request: &super::Request) -> usize {
    let super::Request::Produce(produce) = request else {
        return 0;
    };
    let mut records_read = 0;
    for set in produce
        .topic_data
        .iter()
        .flat_map(|t| &t.partition_data)
        .filter_map(|p| p.records.as_ref())
    {
        for (view, _) in super::records::batches(set).flatten() {
            records_read += view.records().into_iter().flatten().count();
        }
    }
    records_read
}

/// A random frame body of up to `max_len` bytes, with a plausible header half the time.
pub fn random_frame(rng: &mut SplitMix, max_len: usize) -> Vec<u8> {
    let len = rng.below(max_len + 1);
    let mut out: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
    if out.len() >= 4 && rng.below(2) == 0 {
        let spec = &SUPPORTED_APIS[rng.below(SUPPORTED_APIS.len())];
        let v = spec.range.min + rng.below((spec.range.max - spec.range.min + 1) as usize) as i16;
        out[0..2].copy_from_slice(&(spec.key as i16).to_be_bytes());
        out[2..4].copy_from_slice(&v.to_be_bytes());
    }
    out
}
