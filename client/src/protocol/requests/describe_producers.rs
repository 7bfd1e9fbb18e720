//! DescribeProducers request (v0, flexible).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// DescribeProducers request: the active producers of some partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeProducersRequest {
    /// The partitions to describe.
    pub topics: Vec<DescribeProducersTopic>,
}

/// One topic's partitions (Kafka's `TopicRequest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeProducersTopic {
    /// Topic name.
    pub name: String,
    /// Partition indexes.
    pub partition_indexes: Vec<i32>,
}

impl DescribeProducersRequest {
    pub fn decode(r: &mut Reader, _v: i16) -> Result<Self, DecodeError> {
        let topics = r.array(true, 3, "topics", |r| {
            let name = r.string(true, "topic name")?;
            let partition_indexes = r.array(true, 4, "partition_indexes", |r| r.i32())?;
            r.tagged_fields(true)?;
            Ok(DescribeProducersTopic {
                name,
                partition_indexes,
            })
        })?;
        r.tagged_fields(true)?;
        Ok(Self { topics })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bytes::{Bytes, BytesMut};
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::messages::describe_producers_request as kp;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    use super::*;

    fn tags() -> BTreeMap<i32, Bytes> {
        BTreeMap::from([(100, Bytes::from_static(b"\x01\x02\x03"))])
    }

    fn sample() -> kp::DescribeProducersRequest {
        let topic = |name: &'static str, partitions: &[i32]| {
            kp::TopicRequest::default()
                .with_name(TopicName(StrBytes::from_static_str(name)))
                .with_partition_indexes(partitions.to_vec())
                .with_unknown_tagged_fields(tags())
        };
        kp::DescribeProducersRequest::default()
            .with_topics(vec![
                topic("orders", &[0, 2, 4]),
                topic("payments", &[]),
                topic("audit", &[9]),
            ])
            .with_unknown_tagged_fields(tags())
    }

    fn encode() -> Bytes {
        let mut buf = BytesMut::new();
        sample().encode(&mut buf, 0).unwrap();
        buf.freeze()
    }

    #[test]
    fn every_served_version_round_trips() {
        let mut r = Reader::new(encode());
        let got = DescribeProducersRequest::decode(&mut r, 0).unwrap();
        assert_eq!(r.remaining(), 0);
        let want = DescribeProducersRequest {
            topics: sample()
                .topics
                .iter()
                .map(|t| DescribeProducersTopic {
                    name: t.name.to_string(),
                    partition_indexes: t.partition_indexes.clone(),
                })
                .collect(),
        };
        assert_eq!(got, want);
    }

    #[test]
    fn truncated_input_is_an_error() {
        let body = encode();
        for len in 0..body.len() {
            let mut r = Reader::new(body.slice(..len));
            assert!(
                DescribeProducersRequest::decode(&mut r, 0).is_err(),
                "len {len}"
            );
        }
    }
}
