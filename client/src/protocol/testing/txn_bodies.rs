//! Minimal sample request bodies of the transaction APIs, one function per API,
//! each encoded with kafka-protocol at version `v` (no header). They all name the
//! same transaction: transactional id [`SAMPLE_TRANSACTIONAL_ID`], producer id
//! [`SAMPLE_PRODUCER_ID`] at epoch [`SAMPLE_PRODUCER_EPOCH`], partition 0 of
//! [`SAMPLE_TOPIC`] and the group [`SAMPLE_GROUP`].
//!
//! Served versions: AddPartitionsToTxn 0–5 (v4+ in the batched broker form),
//! AddOffsetsToTxn 0–4, EndTxn 0–4, WriteTxnMarkers 1, TxnOffsetCommit 0–4,
//! DescribeProducers 0, DescribeTransactions 0, ListTransactions 0–1.

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};

use super::SAMPLE_TOPIC;

/// The transactional id the samples use.
pub const SAMPLE_TRANSACTIONAL_ID: &str = "weir-sample-txn";
/// The producer id the samples use.
pub const SAMPLE_PRODUCER_ID: i64 = 1;
/// The producer epoch the samples use.
pub const SAMPLE_PRODUCER_EPOCH: i16 = 0;
/// The consumer group the samples commit offsets for.
pub const SAMPLE_GROUP: &str = "weir-sample-group";

fn encoded<R: Encodable>(body: &R, v: i16) -> Bytes {
    let mut buf = bytes::BytesMut::new();
    body.encode(&mut buf, v).expect("valid sample body");
    buf.freeze()
}

fn txn_id() -> TransactionalId {
    TransactionalId(StrBytes::from_static_str(SAMPLE_TRANSACTIONAL_ID))
}

fn topic() -> TopicName {
    TopicName(StrBytes::from_static_str(SAMPLE_TOPIC))
}

fn group() -> GroupId {
    GroupId(StrBytes::from_static_str(SAMPLE_GROUP))
}

/// AddPartitionsToTxn (v0–3 the client form; v4+ one transaction in the batched
/// form, not `verify_only`).
pub fn add_partitions_to_txn(v: i16) -> Bytes {
    let topics = vec![
        add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
            .with_name(topic())
            .with_partitions(vec![0]),
    ];
    let r = AddPartitionsToTxnRequest::default();
    let r = if v >= 4 {
        r.with_transactions(vec![
            add_partitions_to_txn_request::AddPartitionsToTxnTransaction::default()
                .with_transactional_id(txn_id())
                .with_producer_id(ProducerId(SAMPLE_PRODUCER_ID))
                .with_producer_epoch(SAMPLE_PRODUCER_EPOCH)
                .with_verify_only(false)
                .with_topics(topics),
        ])
    } else {
        r.with_v3_and_below_transactional_id(txn_id())
            .with_v3_and_below_producer_id(ProducerId(SAMPLE_PRODUCER_ID))
            .with_v3_and_below_producer_epoch(SAMPLE_PRODUCER_EPOCH)
            .with_v3_and_below_topics(topics)
    };
    encoded(&r, v)
}

/// AddOffsetsToTxn for the sample group.
pub fn add_offsets_to_txn(v: i16) -> Bytes {
    encoded(
        &AddOffsetsToTxnRequest::default()
            .with_transactional_id(txn_id())
            .with_producer_id(ProducerId(SAMPLE_PRODUCER_ID))
            .with_producer_epoch(SAMPLE_PRODUCER_EPOCH)
            .with_group_id(group()),
        v,
    )
}

/// EndTxn committing the sample transaction.
pub fn end_txn(v: i16) -> Bytes {
    encoded(
        &EndTxnRequest::default()
            .with_transactional_id(txn_id())
            .with_producer_id(ProducerId(SAMPLE_PRODUCER_ID))
            .with_producer_epoch(SAMPLE_PRODUCER_EPOCH)
            .with_committed(true),
        v,
    )
}

/// WriteTxnMarkers: one commit marker for partition 0 (coordinator epoch 0).
pub fn write_txn_markers(v: i16) -> Bytes {
    encoded(
        &WriteTxnMarkersRequest::default().with_markers(vec![
            write_txn_markers_request::WritableTxnMarker::default()
                .with_producer_id(ProducerId(SAMPLE_PRODUCER_ID))
                .with_producer_epoch(SAMPLE_PRODUCER_EPOCH)
                .with_transaction_result(true)
                .with_topics(vec![
                    write_txn_markers_request::WritableTxnMarkerTopic::default()
                        .with_name(topic())
                        .with_partition_indexes(vec![0]),
                ])
                .with_coordinator_epoch(0),
        ]),
        v,
    )
}

/// TxnOffsetCommit of offset 0 for partition 0, from outside the group (v3+:
/// generation -1, empty member id, no instance id).
pub fn txn_offset_commit(v: i16) -> Bytes {
    encoded(
        &TxnOffsetCommitRequest::default()
            .with_transactional_id(txn_id())
            .with_group_id(group())
            .with_producer_id(ProducerId(SAMPLE_PRODUCER_ID))
            .with_producer_epoch(SAMPLE_PRODUCER_EPOCH)
            .with_topics(vec![
                txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                    .with_name(topic())
                    .with_partitions(vec![
                        txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(0)
                            .with_committed_metadata(None),
                    ]),
            ]),
        v,
    )
}

/// DescribeProducers of partition 0.
pub fn describe_producers(v: i16) -> Bytes {
    encoded(
        &DescribeProducersRequest::default().with_topics(vec![
            describe_producers_request::TopicRequest::default()
                .with_name(topic())
                .with_partition_indexes(vec![0]),
        ]),
        v,
    )
}

/// DescribeTransactions of the sample transactional id.
pub fn describe_transactions(v: i16) -> Bytes {
    encoded(
        &DescribeTransactionsRequest::default().with_transactional_ids(vec![txn_id()]),
        v,
    )
}

/// ListTransactions with no filters (v1: no duration filter, -1).
pub fn list_transactions(v: i16) -> Bytes {
    encoded(&ListTransactionsRequest::default(), v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::reader::Reader;
    use crate::protocol::requests as ours;

    #[test]
    fn samples_decode_with_our_decoders() {
        for v in 0..=5 {
            let mut r = Reader::new(add_partitions_to_txn(v));
            let got = ours::AddPartitionsToTxnRequest::decode(&mut r, v).unwrap();
            r.finish().unwrap();
            assert_eq!(got.v3_and_below, v < 4);
            let [txn] = &got.transactions[..] else {
                panic!("one transaction")
            };
            assert_eq!(txn.transactional_id, SAMPLE_TRANSACTIONAL_ID);
            assert_eq!((txn.producer_id, txn.producer_epoch), (1, 0));
            assert_eq!(txn.topics[0].name, SAMPLE_TOPIC);
            assert_eq!(txn.topics[0].partitions, [0]);
        }
        for v in 0..=4 {
            let mut r = Reader::new(add_offsets_to_txn(v));
            let got = ours::AddOffsetsToTxnRequest::decode(&mut r, v).unwrap();
            r.finish().unwrap();
            assert_eq!(got.group_id, SAMPLE_GROUP);

            let mut r = Reader::new(end_txn(v));
            let got = ours::EndTxnRequest::decode(&mut r, v).unwrap();
            r.finish().unwrap();
            assert!(got.committed);

            let mut r = Reader::new(txn_offset_commit(v));
            let got = ours::TxnOffsetCommitRequest::decode(&mut r, v).unwrap();
            r.finish().unwrap();
            assert_eq!(got.generation_id, -1);
            assert_eq!(got.topics[0].partitions[0].committed_metadata, None);
        }
        let mut r = Reader::new(write_txn_markers(1));
        let got = ours::WriteTxnMarkersRequest::decode(&mut r, 1).unwrap();
        r.finish().unwrap();
        assert_eq!(got.markers[0].topics[0].partition_indexes, [0]);

        let mut r = Reader::new(describe_producers(0));
        ours::DescribeProducersRequest::decode(&mut r, 0).unwrap();
        r.finish().unwrap();

        let mut r = Reader::new(describe_transactions(0));
        let got = ours::DescribeTransactionsRequest::decode(&mut r, 0).unwrap();
        r.finish().unwrap();
        assert_eq!(got.transactional_ids, [SAMPLE_TRANSACTIONAL_ID]);

        for v in 0..=1 {
            let mut r = Reader::new(list_transactions(v));
            let got = ours::ListTransactionsRequest::decode(&mut r, v).unwrap();
            r.finish().unwrap();
            assert_eq!(got.duration_filter, -1);
        }
    }
}
