//! AddPartitionsToTxn response (v3 for the client; v0–5 via
//! [`AddPartitionsToTxnResponse::decode_version`]).
//!
//! v0–3 answer the client form with `results_by_topic_v3_and_below`; v4+ answer
//! the batched broker form (KIP-890 verification) with a top-level `error_code`
//! and `results_by_transaction`. The fields a version lacks decode as 0 / empty.

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// AddPartitionsToTxn response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddPartitionsToTxnResponse {
    /// Quota throttle in milliseconds.
    pub throttle_time_ms: i32,
    /// Request-level error (v4+; 0 otherwise).
    pub error_code: i16,
    /// Results per transaction (v4+).
    pub results_by_transaction: Vec<AddPartitionsToTxnResult>,
    /// Results per topic (v0–3).
    pub results_by_topic_v3_and_below: Vec<AddPartitionsToTxnTopicResult>,
}

/// One transaction's results (v4+).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddPartitionsToTxnResult {
    /// The transactional id.
    pub transactional_id: String,
    /// Results per topic.
    pub topic_results: Vec<AddPartitionsToTxnTopicResult>,
}

/// One topic's results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddPartitionsToTxnTopicResult {
    /// Topic name.
    pub name: String,
    /// Results per partition.
    pub results_by_partition: Vec<AddPartitionsToTxnPartitionResult>,
}

/// One partition's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddPartitionsToTxnPartitionResult {
    /// Partition index.
    pub partition_index: i32,
    /// Error, 0 if none.
    pub partition_error_code: i16,
}

impl AddPartitionsToTxnResponse {
    /// Decodes a v3 body (the newest client form).
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Self::decode_version(r, 3)
    }

    /// Decodes a body of version `v` (0–5).
    pub fn decode_version(r: &mut Reader, v: i16) -> Result<Self, DecodeError> {
        if !(0..=5).contains(&v) {
            return Err(DecodeError::InvalidValue {
                what: "AddPartitionsToTxn response version",
            });
        }
        let flex = v >= 3;
        let throttle_time_ms = r.i32()?;
        let mut error_code = 0;
        let mut results_by_transaction = Vec::new();
        let mut results_by_topic_v3_and_below = Vec::new();
        if v >= 4 {
            error_code = r.i16()?;
            results_by_transaction = r.array(flex, 3, "results_by_transaction", |r| {
                let transactional_id = r.string(flex, "transactional_id")?;
                let topic_results = decode_topic_results(r, flex)?;
                r.tagged_fields(flex)?;
                Ok(AddPartitionsToTxnResult {
                    transactional_id,
                    topic_results,
                })
            })?;
        } else {
            results_by_topic_v3_and_below = decode_topic_results(r, flex)?;
        }
        r.tagged_fields(flex)?;
        r.finish()?;
        Ok(Self {
            throttle_time_ms,
            error_code,
            results_by_transaction,
            results_by_topic_v3_and_below,
        })
    }
}

fn decode_topic_results(
    r: &mut Reader,
    flex: bool,
) -> Result<Vec<AddPartitionsToTxnTopicResult>, DecodeError> {
    r.array(flex, 3, "topic results", |r| {
        let name = r.string(flex, "topic name")?;
        let results_by_partition = r.array(flex, 6, "results_by_partition", |r| {
            let partition_index = r.i32()?;
            let partition_error_code = r.i16()?;
            r.tagged_fields(flex)?;
            Ok(AddPartitionsToTxnPartitionResult {
                partition_index,
                partition_error_code,
            })
        })?;
        r.tagged_fields(flex)?;
        Ok(AddPartitionsToTxnTopicResult {
            name,
            results_by_partition,
        })
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bytes::{Bytes, BytesMut};
    use kafka_protocol::messages::add_partitions_to_txn_response as kp;
    use kafka_protocol::messages::{ApiKey, TopicName, TransactionalId};
    use kafka_protocol::protocol::{Encodable, HeaderVersion, StrBytes};

    use super::*;
    use crate::protocol::responses::{ADD_PARTITIONS_TO_TXN_VERSION, response_header_version};

    fn tags(flex: bool) -> BTreeMap<i32, Bytes> {
        let mut tags = BTreeMap::new();
        if flex {
            tags.insert(100, Bytes::from_static(b"\x01\x02\x03"));
        }
        tags
    }

    fn s(v: &'static str) -> StrBytes {
        StrBytes::from_static_str(v)
    }

    fn topic_results(flex: bool, error: i16) -> Vec<kp::AddPartitionsToTxnTopicResult> {
        let partition = |index: i32, code: i16| {
            kp::AddPartitionsToTxnPartitionResult::default()
                .with_partition_index(index)
                .with_partition_error_code(code)
                .with_unknown_tagged_fields(tags(flex))
        };
        vec![
            kp::AddPartitionsToTxnTopicResult::default()
                .with_name(TopicName(s("orders")))
                .with_results_by_partition(vec![partition(0, 0), partition(4, error)])
                .with_unknown_tagged_fields(tags(flex)),
            kp::AddPartitionsToTxnTopicResult::default()
                .with_name(TopicName(s("payments")))
                .with_results_by_partition(vec![])
                .with_unknown_tagged_fields(tags(flex)),
        ]
    }

    fn sample(v: i16) -> kp::AddPartitionsToTxnResponse {
        let flex = v >= 3;
        let r = kp::AddPartitionsToTxnResponse::default()
            .with_throttle_time_ms(250)
            .with_unknown_tagged_fields(tags(flex));
        if v >= 4 {
            let result = |id: &'static str, error: i16| {
                kp::AddPartitionsToTxnResult::default()
                    .with_transactional_id(TransactionalId(s(id)))
                    .with_topic_results(topic_results(flex, error))
                    .with_unknown_tagged_fields(tags(flex))
            };
            r.with_error_code(48)
                .with_results_by_transaction(vec![result("txn-a", 53), result("txn-b", 0)])
        } else {
            r.with_results_by_topic_v3_and_below(topic_results(flex, 53))
        }
    }

    fn encode(v: i16) -> Bytes {
        let mut buf = BytesMut::new();
        sample(v).encode(&mut buf, v).unwrap();
        buf.freeze()
    }

    fn ours(topics: &[kp::AddPartitionsToTxnTopicResult]) -> Vec<AddPartitionsToTxnTopicResult> {
        topics
            .iter()
            .map(|t| AddPartitionsToTxnTopicResult {
                name: t.name.to_string(),
                results_by_partition: t
                    .results_by_partition
                    .iter()
                    .map(|p| AddPartitionsToTxnPartitionResult {
                        partition_index: p.partition_index,
                        partition_error_code: p.partition_error_code,
                    })
                    .collect(),
            })
            .collect()
    }

    #[test]
    fn every_version_round_trips() {
        for v in 0..=5 {
            let k = sample(v);
            let got =
                AddPartitionsToTxnResponse::decode_version(&mut Reader::new(encode(v)), v).unwrap();
            let want = AddPartitionsToTxnResponse {
                throttle_time_ms: k.throttle_time_ms,
                error_code: k.error_code,
                results_by_transaction: k
                    .results_by_transaction
                    .iter()
                    .map(|t| AddPartitionsToTxnResult {
                        transactional_id: t.transactional_id.to_string(),
                        topic_results: ours(&t.topic_results),
                    })
                    .collect(),
                results_by_topic_v3_and_below: ours(&k.results_by_topic_v3_and_below),
            };
            assert_eq!(got, want, "v{v}");
            assert_eq!(
                response_header_version(ApiKey::AddPartitionsToTxn as i16, v),
                kp::AddPartitionsToTxnResponse::header_version(v),
                "v{v}"
            );
        }
        let v = ADD_PARTITIONS_TO_TXN_VERSION;
        assert_eq!(
            AddPartitionsToTxnResponse::decode(&mut Reader::new(encode(v))),
            AddPartitionsToTxnResponse::decode_version(&mut Reader::new(encode(v)), v)
        );
    }

    #[test]
    fn truncated_or_trailing_input_is_an_error() {
        for v in 0..=5 {
            let body = encode(v);
            for len in 0..body.len() {
                let mut r = Reader::new(body.slice(..len));
                assert!(
                    AddPartitionsToTxnResponse::decode_version(&mut r, v).is_err(),
                    "v{v} len {len}"
                );
            }
            let mut long = BytesMut::from(&body[..]);
            long.extend_from_slice(&[0]);
            let mut r = Reader::new(long.freeze());
            assert!(AddPartitionsToTxnResponse::decode_version(&mut r, v).is_err());
        }
        let mut r = Reader::new(encode(3));
        assert!(AddPartitionsToTxnResponse::decode_version(&mut r, 6).is_err());
    }
}
