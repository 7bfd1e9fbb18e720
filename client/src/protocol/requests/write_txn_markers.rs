//! WriteTxnMarkers request (v1), sent by a transaction coordinator to partition
//! leaders.
//!
//! Kafka 3.9 also serves v0 (the same fields, not flexible), which `flex` below
//! would read too; it is not served because kafka-protocol 0.18 (following Kafka
//! 4.0, which removed it) cannot encode it for the tests.

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// WriteTxnMarkers request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteTxnMarkersRequest {
    /// The transaction markers to write.
    pub markers: Vec<WritableTxnMarker>,
}

/// One transaction's marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WritableTxnMarker {
    /// The producer id.
    pub producer_id: i64,
    /// Its current epoch.
    pub producer_epoch: i16,
    /// False to abort, true to commit.
    pub transaction_result: bool,
    /// The partitions to write the marker to.
    pub topics: Vec<WritableTxnMarkerTopic>,
    /// Epoch of the transaction state partition on the coordinator.
    pub coordinator_epoch: i32,
}

/// One topic's partitions to write a marker to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WritableTxnMarkerTopic {
    /// Topic name.
    pub name: String,
    /// Partition indexes.
    pub partition_indexes: Vec<i32>,
}

impl WriteTxnMarkersRequest {
    pub fn decode(r: &mut Reader, v: i16) -> Result<Self, DecodeError> {
        let flex = v >= 1;
        let markers = r.array(flex, 17, "markers", |r| {
            let producer_id = r.i64()?;
            let producer_epoch = r.i16()?;
            let transaction_result = r.bool()?;
            let topics = r.array(flex, 3, "topics", |r| {
                let name = r.string(flex, "topic name")?;
                let partition_indexes = r.array(flex, 4, "partition_indexes", |r| r.i32())?;
                r.tagged_fields(flex)?;
                Ok(WritableTxnMarkerTopic {
                    name,
                    partition_indexes,
                })
            })?;
            let coordinator_epoch = r.i32()?;
            r.tagged_fields(flex)?;
            Ok(WritableTxnMarker {
                producer_id,
                producer_epoch,
                transaction_result,
                topics,
                coordinator_epoch,
            })
        })?;
        r.tagged_fields(flex)?;
        Ok(Self { markers })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bytes::{Bytes, BytesMut};
    use kafka_protocol::messages::write_txn_markers_request as kp;
    use kafka_protocol::messages::{ProducerId, TopicName};
    use kafka_protocol::protocol::{Encodable, StrBytes};

    use super::*;

    fn tags() -> BTreeMap<i32, Bytes> {
        BTreeMap::from([(100, Bytes::from_static(b"\x01\x02\x03"))])
    }

    fn topic(name: &'static str, partitions: &[i32]) -> kp::WritableTxnMarkerTopic {
        kp::WritableTxnMarkerTopic::default()
            .with_name(TopicName(StrBytes::from_static_str(name)))
            .with_partition_indexes(partitions.to_vec())
            .with_unknown_tagged_fields(tags())
    }

    fn sample() -> kp::WriteTxnMarkersRequest {
        kp::WriteTxnMarkersRequest::default()
            .with_markers(vec![
                kp::WritableTxnMarker::default()
                    .with_producer_id(ProducerId(9))
                    .with_producer_epoch(4)
                    .with_transaction_result(true)
                    .with_topics(vec![topic("orders", &[0, 1, 2]), topic("audit", &[5])])
                    .with_coordinator_epoch(31)
                    .with_unknown_tagged_fields(tags()),
                kp::WritableTxnMarker::default()
                    .with_producer_id(ProducerId(1 << 45))
                    .with_producer_epoch(0)
                    .with_transaction_result(false)
                    .with_topics(vec![topic("payments", &[])])
                    .with_coordinator_epoch(-1),
            ])
            .with_unknown_tagged_fields(tags())
    }

    fn encode(v: i16) -> Bytes {
        let mut buf = BytesMut::new();
        sample().encode(&mut buf, v).unwrap();
        buf.freeze()
    }

    #[test]
    fn every_served_version_round_trips() {
        let v = 1;
        let mut r = Reader::new(encode(v));
        let got = WriteTxnMarkersRequest::decode(&mut r, v).unwrap();
        assert_eq!(r.remaining(), 0);
        let want = WriteTxnMarkersRequest {
            markers: sample()
                .markers
                .iter()
                .map(|m| WritableTxnMarker {
                    producer_id: m.producer_id.0,
                    producer_epoch: m.producer_epoch,
                    transaction_result: m.transaction_result,
                    topics: m
                        .topics
                        .iter()
                        .map(|t| WritableTxnMarkerTopic {
                            name: t.name.to_string(),
                            partition_indexes: t.partition_indexes.clone(),
                        })
                        .collect(),
                    coordinator_epoch: m.coordinator_epoch,
                })
                .collect(),
        };
        assert_eq!(got, want);
    }

    #[test]
    fn truncated_input_is_an_error() {
        let body = encode(1);
        for len in 0..body.len() {
            let mut r = Reader::new(body.slice(..len));
            assert!(
                WriteTxnMarkersRequest::decode(&mut r, 1).is_err(),
                "len {len}"
            );
        }
    }
}
