//! The ConsumerProtocol formats embedded in JoinGroup metadata and SyncGroup
//! assignments for groups of protocol type `"consumer"`.
//!
//! Both start with an i16 version, then a classic (non-flexible) body. Decoding
//! goes through the bounded [`Reader`], since the bytes come from other group
//! members. Like Kafka's `ConsumerProtocol`, a decoder reads the fields of the
//! newest version it knows and ignores whatever follows them, so members running
//! a newer client still interoperate.

use bytes::{BufMut, Bytes, BytesMut};
use thiserror::Error;

use super::error::DecodeError;
use super::reader::Reader;

/// The JoinGroup `protocol_type` of consumer groups.
pub const PROTOCOL_TYPE: &str = "consumer";
/// The newest Subscription version (v1 owned partitions, v2 generation, v3 rack).
pub const SUBSCRIPTION_VERSION_MAX: i16 = 3;
/// The newest Assignment version (all versions share one layout).
pub const ASSIGNMENT_VERSION_MAX: i16 = 3;

/// Smallest encoded string: its i16 length.
const STRING_BYTES_MIN: usize = 2;
/// Smallest encoded (topic, partitions) entry: empty string and empty array.
const TOPIC_PARTITIONS_BYTES_MIN: usize = STRING_BYTES_MIN + 4;

/// Why a consumer-protocol message could not be encoded.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// A version this module does not write.
    #[error("unsupported {what} version {version}")]
    UnsupportedVersion {
        /// `"subscription"` or `"assignment"`.
        what: &'static str,
        /// The version asked for.
        version: i16,
    },
    /// A string or collection longer than its length prefix can express.
    #[error("{what} of length {len} does not fit its length prefix")]
    TooLong {
        /// The field.
        what: &'static str,
        /// Its length.
        len: usize,
    },
}

/// A member's JoinGroup metadata: what it subscribes to and what it owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Subscribed topics.
    pub topics: Vec<String>,
    /// Assignor-specific data (null when absent).
    pub user_data: Option<Bytes>,
    /// Partitions the member owns now, per topic (v1+; cooperative rebalancing).
    pub owned_partitions: Vec<(String, Vec<i32>)>,
    /// Generation in which the owned partitions were assigned (v2+; -1 unknown).
    pub generation_id: i32,
    /// The member's rack (v3+), for rack-aware assignment.
    pub rack_id: Option<String>,
}

impl Default for Subscription {
    /// No topics, and generation -1 as Kafka decodes a v0/v1 subscription.
    fn default() -> Self {
        Self {
            topics: Vec::new(),
            user_data: None,
            owned_partitions: Vec::new(),
            generation_id: -1,
            rack_id: None,
        }
    }
}

impl Subscription {
    /// Encodes at `version` (0..=3); fields newer than `version` are left out,
    /// as Kafka does.
    pub fn encode(&self, version: i16) -> Result<Bytes, EncodeError> {
        if !(0..=SUBSCRIPTION_VERSION_MAX).contains(&version) {
            return Err(EncodeError::UnsupportedVersion {
                what: "subscription",
                version,
            });
        }
        let mut out = BytesMut::new();
        out.put_i16(version);
        put_array_len(&mut out, self.topics.len(), "topics")?;
        for topic in &self.topics {
            put_string(&mut out, Some(topic), "topic")?;
        }
        put_bytes(&mut out, self.user_data.as_deref(), "user_data")?;
        if version >= 1 {
            put_topic_partitions(&mut out, &self.owned_partitions, "owned_partitions")?;
        }
        if version >= 2 {
            out.put_i32(self.generation_id);
        }
        if version >= 3 {
            put_string(&mut out, self.rack_id.as_deref(), "rack_id")?;
        }
        Ok(out.freeze())
    }

    /// Decodes any version; see [`Self::decode_versioned`].
    pub fn decode(data: Bytes) -> Result<Self, DecodeError> {
        Self::decode_versioned(data).map(|(_, subscription)| subscription)
    }

    /// Decodes a subscription and returns the version it declares. Fields the
    /// version lacks take Kafka's defaults (no owned partitions, generation -1, no
    /// rack); a version above 3 is read as 3 and the bytes after are ignored.
    pub fn decode_versioned(data: Bytes) -> Result<(i16, Self), DecodeError> {
        let mut r = Reader::new(data);
        let version = read_version(&mut r, "subscription version")?;
        let topics = read_array(&mut r, STRING_BYTES_MIN, "topics", |r| {
            r.string(false, "topic")
        })?;
        let user_data = r.nullable_bytes(false, "user_data")?;
        let mut subscription = Self {
            topics,
            user_data,
            ..Self::default()
        };
        if version >= 1 {
            subscription.owned_partitions = read_topic_partitions(&mut r, "owned_partitions")?;
        }
        if version >= 2 {
            subscription.generation_id = r.i32()?;
        }
        if version >= 3 {
            subscription.rack_id = r.nullable_string(false, "rack_id")?;
        }
        Ok((version, subscription))
    }
}

/// The leader's SyncGroup assignment for one member.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Assignment {
    /// Assigned partitions, per topic.
    pub partitions: Vec<(String, Vec<i32>)>,
    /// Assignor-specific data (null when absent).
    pub user_data: Option<Bytes>,
}

impl Assignment {
    /// Encodes at `version` (0..=3; the layout is the same for all).
    pub fn encode(&self, version: i16) -> Result<Bytes, EncodeError> {
        if !(0..=ASSIGNMENT_VERSION_MAX).contains(&version) {
            return Err(EncodeError::UnsupportedVersion {
                what: "assignment",
                version,
            });
        }
        let mut out = BytesMut::new();
        out.put_i16(version);
        put_topic_partitions(&mut out, &self.partitions, "assigned_partitions")?;
        put_bytes(&mut out, self.user_data.as_deref(), "user_data")?;
        Ok(out.freeze())
    }

    /// Decodes any version; see [`Self::decode_versioned`].
    pub fn decode(data: Bytes) -> Result<Self, DecodeError> {
        Self::decode_versioned(data).map(|(_, assignment)| assignment)
    }

    /// Decodes an assignment and returns the version it declares (bytes after
    /// the known fields are ignored). Empty data is the empty assignment of
    /// version 0: the coordinator sends that to members the leader left out.
    pub fn decode_versioned(data: Bytes) -> Result<(i16, Self), DecodeError> {
        if data.is_empty() {
            return Ok((0, Self::default()));
        }
        let mut r = Reader::new(data);
        let version = read_version(&mut r, "assignment version")?;
        let partitions = read_topic_partitions(&mut r, "assigned_partitions")?;
        let user_data = r.nullable_bytes(false, "user_data")?;
        Ok((
            version,
            Self {
                partitions,
                user_data,
            },
        ))
    }
}

/// The i16 version header; negative versions are refused (as Kafka does).
fn read_version(r: &mut Reader, what: &'static str) -> Result<i16, DecodeError> {
    let version = r.i16()?;
    if version < 0 {
        return Err(DecodeError::InvalidValue { what });
    }
    Ok(version)
}

/// A non-nullable array: null is an error, as in Kafka's generated readers.
fn read_array<T>(
    r: &mut Reader,
    element_bytes_min: usize,
    what: &'static str,
    mut element: impl FnMut(&mut Reader) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    let len = r.array_len(false, element_bytes_min, what)?;
    let mut items = Vec::with_capacity(len);
    for _ in 0..len {
        items.push(element(r)?);
    }
    Ok(items)
}

fn read_topic_partitions(
    r: &mut Reader,
    what: &'static str,
) -> Result<Vec<(String, Vec<i32>)>, DecodeError> {
    read_array(r, TOPIC_PARTITIONS_BYTES_MIN, what, |r| {
        let topic = r.string(false, "topic")?;
        let partitions = read_array(r, 4, "partitions", Reader::i32)?;
        Ok((topic, partitions))
    })
}

fn put_array_len(out: &mut BytesMut, len: usize, what: &'static str) -> Result<(), EncodeError> {
    let len = i32::try_from(len).map_err(|_| EncodeError::TooLong { what, len })?;
    out.put_i32(len);
    Ok(())
}

/// A classic string: i16 length (-1 for null), then UTF-8.
fn put_string(out: &mut BytesMut, s: Option<&str>, what: &'static str) -> Result<(), EncodeError> {
    match s {
        None => out.put_i16(-1),
        Some(s) => {
            let len =
                i16::try_from(s.len()).map_err(|_| EncodeError::TooLong { what, len: s.len() })?;
            out.put_i16(len);
            out.put_slice(s.as_bytes());
        }
    }
    Ok(())
}

/// Classic bytes: i32 length (-1 for null), then the bytes.
fn put_bytes(out: &mut BytesMut, b: Option<&[u8]>, what: &'static str) -> Result<(), EncodeError> {
    match b {
        None => out.put_i32(-1),
        Some(b) => {
            put_array_len(out, b.len(), what)?;
            out.put_slice(b);
        }
    }
    Ok(())
}

fn put_topic_partitions(
    out: &mut BytesMut,
    topics: &[(String, Vec<i32>)],
    what: &'static str,
) -> Result<(), EncodeError> {
    put_array_len(out, topics.len(), what)?;
    for (topic, partitions) in topics {
        put_string(out, Some(topic), "topic")?;
        put_array_len(out, partitions.len(), "partitions")?;
        for &p in partitions {
            out.put_i32(p);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as KpAssigned;
    use kafka_protocol::messages::consumer_protocol_subscription::TopicPartition as KpOwned;
    use kafka_protocol::messages::{
        ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicName,
    };
    use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

    use super::*;

    fn s(v: &str) -> String {
        v.to_owned()
    }

    fn name(v: &str) -> TopicName {
        TopicName(StrBytes::from_string(v.to_owned()))
    }

    fn rich_subscription() -> Subscription {
        Subscription {
            topics: vec![s("orders"), s("payments"), s("")],
            user_data: Some(Bytes::from_static(b"\x00\x01user-data")),
            owned_partitions: vec![(s("orders"), vec![0, 2, 5]), (s("payments"), vec![])],
            generation_id: 17,
            rack_id: Some(s("eu-west-1a")),
        }
    }

    /// What `sub` becomes after a round trip at `version`: newer fields default.
    fn at_version(sub: &Subscription, version: i16) -> Subscription {
        Subscription {
            topics: sub.topics.clone(),
            user_data: sub.user_data.clone(),
            owned_partitions: if version >= 1 {
                sub.owned_partitions.clone()
            } else {
                vec![]
            },
            generation_id: if version >= 2 { sub.generation_id } else { -1 },
            rack_id: if version >= 3 {
                sub.rack_id.clone()
            } else {
                None
            },
        }
    }

    /// kafka-protocol's encoding, behind the i16 version header it leaves out.
    fn reference_subscription(sub: &Subscription, version: i16) -> Bytes {
        let owned = if version >= 1 {
            sub.owned_partitions
                .iter()
                .map(|(t, ps)| {
                    KpOwned::default()
                        .with_topic(name(t))
                        .with_partitions(ps.clone())
                })
                .collect()
        } else {
            vec![]
        };
        let message = ConsumerProtocolSubscription::default()
            .with_topics(
                sub.topics
                    .iter()
                    .map(|t| StrBytes::from_string(t.clone()))
                    .collect(),
            )
            .with_user_data(sub.user_data.clone())
            .with_owned_partitions(owned)
            .with_generation_id(sub.generation_id)
            .with_rack_id(sub.rack_id.clone().map(StrBytes::from_string));
        let mut out = BytesMut::new();
        out.put_i16(version);
        message.encode(&mut out, version).unwrap();
        out.freeze()
    }

    fn reference_assignment(a: &Assignment, version: i16) -> Bytes {
        let message = ConsumerProtocolAssignment::default()
            .with_assigned_partitions(
                a.partitions
                    .iter()
                    .map(|(t, ps)| {
                        KpAssigned::default()
                            .with_topic(name(t))
                            .with_partitions(ps.clone())
                    })
                    .collect(),
            )
            .with_user_data(a.user_data.clone());
        let mut out = BytesMut::new();
        out.put_i16(version);
        message.encode(&mut out, version).unwrap();
        out.freeze()
    }

    #[test]
    fn subscription_bytes_match_kafka_protocol_at_every_version() {
        let subs = [
            rich_subscription(),
            Subscription::default(),
            Subscription {
                topics: vec![s("t")],
                rack_id: None,
                generation_id: i32::MAX,
                ..rich_subscription()
            },
        ];
        for sub in &subs {
            for version in 0..=SUBSCRIPTION_VERSION_MAX {
                let ours = sub.encode(version).unwrap();
                assert_eq!(ours, reference_subscription(sub, version), "v{version}");
                let (got_version, decoded) = Subscription::decode_versioned(ours).unwrap();
                assert_eq!(got_version, version);
                assert_eq!(decoded, at_version(sub, version), "v{version}");
                // And kafka-protocol reads ours the same way.
                let mut body = sub.encode(version).unwrap().slice(2..);
                let theirs = ConsumerProtocolSubscription::decode(&mut body, version).unwrap();
                assert_eq!(theirs.generation_id, decoded.generation_id);
                assert_eq!(
                    theirs.owned_partitions.len(),
                    decoded.owned_partitions.len()
                );
            }
        }
    }

    #[test]
    fn assignment_bytes_match_kafka_protocol_at_every_version() {
        let assignments = [
            Assignment {
                partitions: vec![(s("orders"), vec![3, 1]), (s("audit"), vec![])],
                user_data: Some(Bytes::from_static(b"sticky")),
            },
            Assignment::default(),
            Assignment {
                partitions: vec![(s("t"), (0..100).collect())],
                user_data: Some(Bytes::new()),
            },
        ];
        for a in &assignments {
            for version in 0..=ASSIGNMENT_VERSION_MAX {
                let ours = a.encode(version).unwrap();
                assert_eq!(ours, reference_assignment(a, version), "v{version}");
                assert_eq!(
                    Assignment::decode_versioned(ours).unwrap(),
                    (version, a.clone())
                );
            }
        }
    }

    #[test]
    fn unsupported_encode_versions_are_errors() {
        for version in [-1, 4, i16::MAX] {
            assert_eq!(
                rich_subscription().encode(version),
                Err(EncodeError::UnsupportedVersion {
                    what: "subscription",
                    version
                })
            );
            assert!(Assignment::default().encode(version).is_err());
        }
        let long = Subscription {
            topics: vec!["x".repeat(40_000)],
            ..Subscription::default()
        };
        assert!(matches!(
            long.encode(0),
            Err(EncodeError::TooLong { what: "topic", .. })
        ));
    }

    #[test]
    fn newer_versions_read_the_known_prefix_and_ignore_the_rest() {
        let sub = rich_subscription();
        let mut future = BytesMut::new();
        future.put_i16(9);
        future.put_slice(&sub.encode(3).unwrap()[2..]);
        future.put_slice(b"fields from the future");
        assert_eq!(
            Subscription::decode_versioned(future.freeze()).unwrap(),
            (9, sub.clone())
        );
        // Trailing bytes after a known version are ignored too, as in Kafka.
        let mut trailing = BytesMut::from(&sub.encode(1).unwrap()[..]);
        trailing.put_slice(&[1, 2, 3]);
        assert_eq!(
            Subscription::decode(trailing.freeze()).unwrap(),
            at_version(&sub, 1)
        );
        let a = Assignment {
            partitions: vec![(s("t"), vec![0])],
            user_data: None,
        };
        let mut future = BytesMut::new();
        future.put_i16(4);
        future.put_slice(&a.encode(3).unwrap()[2..]);
        future.put_i64(42);
        assert_eq!(
            Assignment::decode_versioned(future.freeze()).unwrap(),
            (4, a)
        );
    }

    #[test]
    fn what_the_broker_reads_is_what_we_write() {
        // The broker's OffsetDelete check reads (version, topics) only.
        let encoded = rich_subscription().encode(3).unwrap();
        let mut r = Reader::new(encoded);
        assert_eq!(r.i16().unwrap(), 3);
        let topics = r.array(false, 2, "topics", |r| r.string(false, "topic"));
        assert_eq!(topics.unwrap(), rich_subscription().topics);
    }

    #[test]
    fn empty_assignment_data_is_the_empty_assignment() {
        assert_eq!(
            Assignment::decode_versioned(Bytes::new()).unwrap(),
            (0, Assignment::default())
        );
        assert!(Subscription::decode(Bytes::new()).is_err());
    }

    #[test]
    fn malformed_input_is_an_error() {
        let cases: &[&[u8]] = &[
            &[0],                                                          // half a version
            &[0xff, 0xff, 0, 0, 0, 0],                                     // negative version
            &[0, 0, 0xff, 0xff, 0xff, 0xff],                               // null topics
            &[0, 0, 0x7f, 0xff, 0xff, 0xff],                               // hostile topic count
            &[0, 0, 0, 0, 0, 1, 0, 5, b'a'], // string runs past the end
            &[0, 0, 0, 0, 0, 1, 0xff, 0xfe], // negative string length
            &[0, 0, 0, 0, 0, 0, 0, 0, 0, 9], // user data runs past the end
            &[0, 0, 0, 0, 0, 1, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff], // invalid UTF-8
            &[0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff], // v1 without owned partitions
            &[0, 2, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0], // v2 short generation
        ];
        for case in cases {
            assert!(
                Subscription::decode(Bytes::copy_from_slice(case)).is_err(),
                "{case:?}"
            );
        }
        let assignment_cases: &[&[u8]] = &[
            &[0, 0],                                                 // no partitions array
            &[0, 0, 0xff, 0xff, 0xff, 0xff],                         // null partitions
            &[0, 0, 0, 0, 0, 1, 0, 1, b't', 0, 0],                   // partitions array cut short
            &[0, 0, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 2, 0, 0, 0, 1], // partition missing
            &[0, 0, 0, 0, 0, 0],                                     // no user data
            &[0xff, 0xfe, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff],       // negative version
        ];
        for case in assignment_cases {
            assert!(
                Assignment::decode(Bytes::copy_from_slice(case)).is_err(),
                "{case:?}"
            );
        }
    }

    /// Every prefix and many single-byte corruptions of valid messages: each
    /// decodes or fails, never panics, and truncations of the fixed fields fail.
    #[test]
    fn truncations_and_corruptions_never_panic() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let sub = rich_subscription().encode(3).unwrap();
        let assignment = Assignment {
            partitions: vec![(s("orders"), vec![1, 2, 3])],
            user_data: Some(Bytes::from_static(b"u")),
        }
        .encode(1)
        .unwrap();
        for cut in 1..sub.len() {
            assert!(Subscription::decode(sub.slice(..cut)).is_err(), "cut {cut}");
        }
        for cut in 1..assignment.len() {
            assert!(
                Assignment::decode(assignment.slice(..cut)).is_err(),
                "cut {cut}"
            );
        }
        for _ in 0..2000 {
            for data in [&sub, &assignment] {
                let mut bad = data.to_vec();
                let at = next() as usize % bad.len();
                bad[at] = next() as u8;
                let _ = Subscription::decode(Bytes::from(bad.clone()));
                let _ = Assignment::decode(Bytes::from(bad));
            }
        }
    }
}
