//! TxnOffsetCommit response (v4).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// TxnOffsetCommit response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOffsetCommitResponse {
    /// Quota throttle in milliseconds.
    pub throttle_time_ms: i32,
    /// Each topic committed.
    pub topics: Vec<TxnOffsetCommitResponseTopic>,
}

/// One topic's results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOffsetCommitResponseTopic {
    /// Topic name.
    pub name: String,
    /// Each partition committed.
    pub partitions: Vec<TxnOffsetCommitResponsePartition>,
}

/// One partition's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOffsetCommitResponsePartition {
    /// Partition index.
    pub partition_index: i32,
    /// Error, 0 if none.
    pub error_code: i16,
}

impl TxnOffsetCommitResponse {
    /// Decodes a v4 body.
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let throttle_time_ms = r.i32()?;
        let topics = r.array(true, 3, "topics", |r| {
            let name = r.string(true, "topic name")?;
            let partitions = r.array(true, 7, "partitions", |r| {
                let partition_index = r.i32()?;
                let error_code = r.i16()?;
                r.tagged_fields(true)?;
                Ok(TxnOffsetCommitResponsePartition {
                    partition_index,
                    error_code,
                })
            })?;
            r.tagged_fields(true)?;
            Ok(TxnOffsetCommitResponseTopic { name, partitions })
        })?;
        r.tagged_fields(true)?;
        r.finish()?;
        Ok(Self {
            throttle_time_ms,
            topics,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bytes::{Bytes, BytesMut};
    use kafka_protocol::messages::txn_offset_commit_response as kp;
    use kafka_protocol::messages::{ApiKey, TopicName};
    use kafka_protocol::protocol::{Encodable, HeaderVersion, StrBytes};

    use super::*;
    use crate::protocol::responses::{TXN_OFFSET_COMMIT_VERSION, response_header_version};

    fn tags() -> BTreeMap<i32, Bytes> {
        BTreeMap::from([(100, Bytes::from_static(b"\x01\x02\x03"))])
    }

    fn topic(name: &'static str, errors: &[(i32, i16)]) -> kp::TxnOffsetCommitResponseTopic {
        kp::TxnOffsetCommitResponseTopic::default()
            .with_name(TopicName(StrBytes::from_static_str(name)))
            .with_partitions(
                errors
                    .iter()
                    .map(|&(index, code)| {
                        kp::TxnOffsetCommitResponsePartition::default()
                            .with_partition_index(index)
                            .with_error_code(code)
                            .with_unknown_tagged_fields(tags())
                    })
                    .collect(),
            )
            .with_unknown_tagged_fields(tags())
    }

    fn sample() -> kp::TxnOffsetCommitResponse {
        kp::TxnOffsetCommitResponse::default()
            .with_throttle_time_ms(33)
            .with_topics(vec![
                topic("orders", &[(0, 0), (2, 22)]),
                topic("payments", &[]),
                topic("audit", &[(7, 0)]),
            ])
            .with_unknown_tagged_fields(tags())
    }

    fn encode() -> Bytes {
        let mut buf = BytesMut::new();
        sample()
            .encode(&mut buf, TXN_OFFSET_COMMIT_VERSION)
            .unwrap();
        buf.freeze()
    }

    #[test]
    fn pinned_version_round_trips() {
        let k = sample();
        let got = TxnOffsetCommitResponse::decode(&mut Reader::new(encode())).unwrap();
        let want = TxnOffsetCommitResponse {
            throttle_time_ms: k.throttle_time_ms,
            topics: k
                .topics
                .iter()
                .map(|t| TxnOffsetCommitResponseTopic {
                    name: t.name.to_string(),
                    partitions: t
                        .partitions
                        .iter()
                        .map(|p| TxnOffsetCommitResponsePartition {
                            partition_index: p.partition_index,
                            error_code: p.error_code,
                        })
                        .collect(),
                })
                .collect(),
        };
        assert_eq!(got, want);
        let v = TXN_OFFSET_COMMIT_VERSION;
        assert_eq!(
            response_header_version(ApiKey::TxnOffsetCommit as i16, v),
            kp::TxnOffsetCommitResponse::header_version(v)
        );
    }

    #[test]
    fn truncated_or_trailing_input_is_an_error() {
        let body = encode();
        for len in 0..body.len() {
            let mut r = Reader::new(body.slice(..len));
            assert!(
                TxnOffsetCommitResponse::decode(&mut r).is_err(),
                "len {len}"
            );
        }
        let mut long = BytesMut::from(&body[..]);
        long.extend_from_slice(&[0]);
        assert!(TxnOffsetCommitResponse::decode(&mut Reader::new(long.freeze())).is_err());
    }
}
