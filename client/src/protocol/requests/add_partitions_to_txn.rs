//! AddPartitionsToTxn request (v0–5).
//!
//! Two shapes on the wire. v0–3 are the client form: one transaction's
//! `v3_and_below_transactional_id`, `v3_and_below_producer_id`,
//! `v3_and_below_producer_epoch` and `v3_and_below_topics` at the top level. v4+
//! are the batched broker-to-broker form (KIP-890; v5 only adds the
//! TRANSACTION_ABORTABLE error): a `transactions` array, each entry with its own
//! `verify_only`. Both decode into [`AddPartitionsToTxnRequest::transactions`] (one
//! entry, `verify_only` false, for v0–3); [`AddPartitionsToTxnRequest::v3_and_below`]
//! records which shape came in, since the response differs
//! (`results_by_topic_v3_and_below` vs `results_by_transaction`).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// AddPartitionsToTxn request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddPartitionsToTxnRequest {
    /// True for the v0–3 single-transaction form, false for the v4+ batched form.
    pub v3_and_below: bool,
    /// The transactions to add partitions to: exactly one for v0–3.
    pub transactions: Vec<AddPartitionsToTxnTransaction>,
}

/// One transaction's partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddPartitionsToTxnTransaction {
    /// The transactional id.
    pub transactional_id: String,
    /// The producer id in use by the transactional id.
    pub producer_id: i64,
    /// Its current epoch.
    pub producer_epoch: i16,
    /// Only check that the partitions are already in the transaction (v4+; false
    /// for v0–3).
    pub verify_only: bool,
    /// The partitions to add.
    pub topics: Vec<AddPartitionsToTxnTopic>,
}

/// One topic's partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddPartitionsToTxnTopic {
    /// Topic name.
    pub name: String,
    /// Partition indexes.
    pub partitions: Vec<i32>,
}

impl AddPartitionsToTxnRequest {
    pub fn decode(r: &mut Reader, v: i16) -> Result<Self, DecodeError> {
        let flex = v >= 3;
        if v >= 4 {
            let transactions = r.array(flex, 14, "transactions", |r| {
                let transactional_id = r.string(flex, "transactional_id")?;
                let producer_id = r.i64()?;
                let producer_epoch = r.i16()?;
                let verify_only = r.bool()?;
                let topics = decode_topics(r, flex)?;
                r.tagged_fields(flex)?;
                Ok(AddPartitionsToTxnTransaction {
                    transactional_id,
                    producer_id,
                    producer_epoch,
                    verify_only,
                    topics,
                })
            })?;
            r.tagged_fields(flex)?;
            return Ok(Self {
                v3_and_below: false,
                transactions,
            });
        }
        let transactional_id = r.string(flex, "v3_and_below_transactional_id")?;
        let producer_id = r.i64()?;
        let producer_epoch = r.i16()?;
        let topics = decode_topics(r, flex)?;
        r.tagged_fields(flex)?;
        Ok(Self {
            v3_and_below: true,
            transactions: vec![AddPartitionsToTxnTransaction {
                transactional_id,
                producer_id,
                producer_epoch,
                verify_only: false,
                topics,
            }],
        })
    }
}

fn decode_topics(r: &mut Reader, flex: bool) -> Result<Vec<AddPartitionsToTxnTopic>, DecodeError> {
    r.array(flex, 3, "topics", |r| {
        let name = r.string(flex, "topic name")?;
        let partitions = r.array(flex, 4, "partitions", |r| r.i32())?;
        r.tagged_fields(flex)?;
        Ok(AddPartitionsToTxnTopic { name, partitions })
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bytes::{Bytes, BytesMut};
    use kafka_protocol::messages::add_partitions_to_txn_request as kp;
    use kafka_protocol::messages::{ProducerId, TopicName, TransactionalId};
    use kafka_protocol::protocol::{Encodable, StrBytes};

    use super::*;

    fn tags(flex: bool) -> BTreeMap<i32, Bytes> {
        let mut tags = BTreeMap::new();
        if flex {
            tags.insert(100, Bytes::from_static(b"\x01\x02\x03"));
        }
        tags
    }

    fn s(v: &str) -> StrBytes {
        StrBytes::from_string(v.to_owned())
    }

    fn topics(flex: bool, base: i32) -> Vec<kp::AddPartitionsToTxnTopic> {
        vec![
            kp::AddPartitionsToTxnTopic::default()
                .with_name(TopicName(s("orders")))
                .with_partitions(vec![base, base + 1, base + 7])
                .with_unknown_tagged_fields(tags(flex)),
            kp::AddPartitionsToTxnTopic::default()
                .with_name(TopicName(s("payments")))
                .with_partitions(vec![])
                .with_unknown_tagged_fields(tags(flex)),
            kp::AddPartitionsToTxnTopic::default()
                .with_name(TopicName(s("audit")))
                .with_partitions(vec![base + 3])
                .with_unknown_tagged_fields(tags(flex)),
        ]
    }

    fn sample(v: i16) -> kp::AddPartitionsToTxnRequest {
        let flex = v >= 3;
        let r = kp::AddPartitionsToTxnRequest::default().with_unknown_tagged_fields(tags(flex));
        if v >= 4 {
            let txn = |id: &str, pid: i64, epoch: i16, verify: bool, base: i32| {
                kp::AddPartitionsToTxnTransaction::default()
                    .with_transactional_id(TransactionalId(s(id)))
                    .with_producer_id(ProducerId(pid))
                    .with_producer_epoch(epoch)
                    .with_verify_only(verify)
                    .with_topics(topics(flex, base))
                    .with_unknown_tagged_fields(tags(flex))
            };
            r.with_transactions(vec![
                txn("txn-a", 1 << 40, 3, true, 0),
                txn("txn-b", 77, i16::MAX, false, 10),
            ])
        } else {
            r.with_v3_and_below_transactional_id(TransactionalId(s("txn-a")))
                .with_v3_and_below_producer_id(ProducerId(1 << 40))
                .with_v3_and_below_producer_epoch(3)
                .with_v3_and_below_topics(topics(flex, 0))
        }
    }

    fn encode<E: Encodable>(e: &E, v: i16) -> Bytes {
        let mut buf = BytesMut::new();
        e.encode(&mut buf, v).unwrap();
        buf.freeze()
    }

    fn ours(topics: &[kp::AddPartitionsToTxnTopic]) -> Vec<AddPartitionsToTxnTopic> {
        topics
            .iter()
            .map(|t| AddPartitionsToTxnTopic {
                name: t.name.to_string(),
                partitions: t.partitions.clone(),
            })
            .collect()
    }

    #[test]
    fn every_served_version_round_trips() {
        for v in 0..=5 {
            let k = sample(v);
            let mut r = Reader::new(encode(&k, v));
            let got = AddPartitionsToTxnRequest::decode(&mut r, v).unwrap();
            assert_eq!(r.remaining(), 0, "v{v}");
            let want = if v >= 4 {
                AddPartitionsToTxnRequest {
                    v3_and_below: false,
                    transactions: k
                        .transactions
                        .iter()
                        .map(|t| AddPartitionsToTxnTransaction {
                            transactional_id: t.transactional_id.to_string(),
                            producer_id: t.producer_id.0,
                            producer_epoch: t.producer_epoch,
                            verify_only: t.verify_only,
                            topics: ours(&t.topics),
                        })
                        .collect(),
                }
            } else {
                AddPartitionsToTxnRequest {
                    v3_and_below: true,
                    transactions: vec![AddPartitionsToTxnTransaction {
                        transactional_id: k.v3_and_below_transactional_id.to_string(),
                        producer_id: k.v3_and_below_producer_id.0,
                        producer_epoch: k.v3_and_below_producer_epoch,
                        verify_only: false,
                        topics: ours(&k.v3_and_below_topics),
                    }],
                }
            };
            assert_eq!(got, want, "v{v}");
        }
    }

    #[test]
    fn truncated_input_is_an_error() {
        for v in 0..=5 {
            let body = encode(&sample(v), v);
            for len in 0..body.len() {
                let mut r = Reader::new(body.slice(..len));
                assert!(
                    AddPartitionsToTxnRequest::decode(&mut r, v).is_err(),
                    "v{v} len {len}"
                );
            }
        }
    }
}
