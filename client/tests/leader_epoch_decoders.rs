//! The OffsetForLeaderEpoch request decoder, every served version: v2–4 against
//! kafka-protocol's encoder (with unknown tagged fields in v4), v0–1 (which it
//! cannot encode) written by hand from the same typed struct; then every
//! truncation and hostile counts are errors, never panics or allocations.

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{BrokerId, OffsetForLeaderEpochRequest, TopicName};
use kafka_protocol::protocol::{Encodable, StrBytes};
use weir_client::protocol::requests::offset_for_leader_epoch as ofle;
use weir_client::protocol::{DecodeError, Reader};

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

/// Unknown tagged fields (above every known tag) when `on`.
fn tags(on: bool) -> BTreeMap<i32, Bytes> {
    if on {
        BTreeMap::from([(90, Bytes::from_static(b"x")), (91, Bytes::new())])
    } else {
        BTreeMap::new()
    }
}

/// `r` as version `v` puts it on the wire.
fn encode(r: &OffsetForLeaderEpochRequest, v: i16) -> Bytes {
    let mut buf = BytesMut::new();
    if v >= 2 {
        r.encode(&mut buf, v).unwrap();
        return buf.freeze();
    }
    // v0–1: classic arrays and strings; no replica id, no current leader epoch.
    buf.put_i32(r.topics.len() as i32);
    for t in &r.topics {
        buf.put_i16(t.topic.0.len() as i16);
        buf.put_slice(t.topic.0.as_bytes());
        buf.put_i32(t.partitions.len() as i32);
        for p in &t.partitions {
            buf.put_i32(p.partition);
            buf.put_i32(p.leader_epoch);
        }
    }
    buf.freeze()
}

/// Decodes `body` at `v` exactly; every strict prefix must be an error.
fn decode_all(body: &Bytes, v: i16) -> ofle::OffsetForLeaderEpochRequest {
    let mut r = Reader::new(body.clone());
    let got = ofle::OffsetForLeaderEpochRequest::decode(&mut r, v).unwrap();
    assert_eq!(r.remaining(), 0, "v{v}: the body is read to its end");
    for len in 0..body.len() {
        let mut r = Reader::new(body.slice(..len));
        let cut = ofle::OffsetForLeaderEpochRequest::decode(&mut r, v);
        assert!(cut.is_err(), "v{v}: a {len}-byte prefix decoded: {cut:?}");
    }
    got
}

/// A follower (broker 2) asking for three partitions of two topics, and an
/// empty topic, with a current leader epoch where the version has one.
fn request(v: i16) -> OffsetForLeaderEpochRequest {
    let flexible = v >= 4;
    let partition = |index: i32, current: i32, epoch: i32| {
        let p = OffsetForLeaderPartition::default()
            .with_partition(index)
            .with_leader_epoch(epoch)
            .with_unknown_tagged_fields(tags(flexible));
        if v >= 2 {
            p.with_current_leader_epoch(current)
        } else {
            p
        }
    };
    let r = OffsetForLeaderEpochRequest::default()
        .with_topics(vec![
            OffsetForLeaderTopic::default()
                .with_topic(TopicName(s("orders")))
                .with_partitions(vec![partition(0, 7, 5), partition(4, -1, 0)])
                .with_unknown_tagged_fields(tags(flexible)),
            OffsetForLeaderTopic::default()
                .with_topic(TopicName(s("events")))
                .with_partitions(vec![partition(1, 3, 3)]),
            OffsetForLeaderTopic::default().with_topic(TopicName(s("empty"))),
        ])
        .with_unknown_tagged_fields(tags(flexible));
    if v >= 3 {
        r.with_replica_id(BrokerId(2))
    } else {
        r
    }
}

#[test]
fn offset_for_leader_epoch_all_versions() {
    for v in 0..=4 {
        let got = decode_all(&encode(&request(v), v), v);
        // Fields a version lacks get the schema's defaults.
        let current = |epoch: i32| if v >= 2 { epoch } else { ofle::NO_LEADER_EPOCH };
        let partition =
            |partition, current_leader_epoch, leader_epoch| ofle::OffsetForLeaderPartition {
                partition,
                current_leader_epoch,
                leader_epoch,
            };
        let topic = |name: &str, partitions| ofle::OffsetForLeaderTopic {
            topic: name.into(),
            partitions,
        };
        let want = ofle::OffsetForLeaderEpochRequest {
            replica_id: if v >= 3 { 2 } else { ofle::DEBUG_REPLICA_ID },
            topics: vec![
                topic(
                    "orders",
                    vec![partition(0, current(7), 5), partition(4, -1, 0)],
                ),
                topic("events", vec![partition(1, current(3), 3)]),
                topic("empty", vec![]),
            ],
        };
        assert_eq!(got, want, "v{v}");
    }
}

#[test]
fn a_consumer_is_replica_minus_one() {
    let r = request(4).with_replica_id(BrokerId(ofle::CONSUMER_REPLICA_ID));
    let got = decode_all(&encode(&r, 4), 4);
    assert_eq!(got.replica_id, ofle::CONSUMER_REPLICA_ID);
}

/// Bodies after which a huge count or length follows must be refused.
#[test]
fn hostile_counts_are_refused_before_allocating() {
    use ofle::OffsetForLeaderEpochRequest as Req;
    let decode = |body: &[u8], v| Req::decode(&mut Reader::new(Bytes::copy_from_slice(body)), v);
    // A topic array claiming i32::MAX elements (v0–2 start with it, v3 after
    // the replica id).
    let huge = [0x7f, 0xff, 0xff, 0xff];
    for v in 0..=2 {
        let got = decode(&huge, v);
        assert!(
            matches!(got, Err(DecodeError::InvalidLength { .. })),
            "v{v}"
        );
    }
    let got = decode(&[0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff], 3);
    assert!(matches!(got, Err(DecodeError::InvalidLength { .. })));
    // Compact (v4): replica id, then a topic count of 2^31 - 1.
    let got = decode(&[0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x07, 0, 0, 0], 4);
    assert!(matches!(got, Err(DecodeError::InvalidLength { .. })));
    // One topic "t" whose partition count (1000) outruns the bytes left.
    let mut body = vec![0, 0, 0, 1, 0, 1, b't'];
    body.extend_from_slice(&1000i32.to_be_bytes());
    body.extend_from_slice(&[0; 16]);
    for v in 0..=2 {
        let got = decode(&body, v);
        assert!(
            matches!(got, Err(DecodeError::InvalidLength { .. })),
            "v{v}"
        );
    }
    // v4: one topic "t", 2M partitions (compact), a few bytes.
    let got = decode(&[0, 0, 0, 1, 2, 2, b't', 0x80, 0x89, 0x7a, 0, 0, 0, 0], 4);
    assert!(matches!(got, Err(DecodeError::InvalidLength { .. })));
    // v4: a huge tagged-field count after the topics.
    let got = decode(&[0, 0, 0, 1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0], 4);
    assert!(matches!(got, Err(DecodeError::InvalidLength { .. })));
    // A negative topic-name length and a null name are errors.
    assert!(decode(&[0, 0, 0, 1, 0xff, 0xfe, 0, 0, 0, 0], 1).is_err());
    assert!(decode(&[0, 0, 0, 1, 0xff, 0xff, 0, 0, 0, 0], 1).is_err());
}

/// The smallest elements fit the count bounds: many empty topics and many
/// partitions with little after them still decode.
#[test]
fn minimal_elements_fit_the_count_bounds() {
    for v in 0..=4 {
        let topics = vec![OffsetForLeaderTopic::default(); 32];
        let r = OffsetForLeaderEpochRequest::default().with_topics(topics);
        assert_eq!(decode_all(&encode(&r, v), v).topics.len(), 32, "v{v}");
        let t = OffsetForLeaderTopic::default()
            .with_partitions(vec![OffsetForLeaderPartition::default(); 32]);
        let r = OffsetForLeaderEpochRequest::default().with_topics(vec![t]);
        let got = decode_all(&encode(&r, v), v);
        assert_eq!(got.topics[0].partitions.len(), 32, "v{v}");
    }
}
