//! WriteTxnMarkers response (v1), read by a transaction coordinator's marker
//! sender.

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// WriteTxnMarkers response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteTxnMarkersResponse {
    /// Results per producer's marker.
    pub markers: Vec<WritableTxnMarkerResult>,
}

/// One marker's results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WritableTxnMarkerResult {
    /// The producer id the marker was for.
    pub producer_id: i64,
    /// Results per topic.
    pub topics: Vec<WritableTxnMarkerTopicResult>,
}

/// One topic's results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WritableTxnMarkerTopicResult {
    /// Topic name.
    pub name: String,
    /// Results per partition.
    pub partitions: Vec<WritableTxnMarkerPartitionResult>,
}

/// One partition's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WritableTxnMarkerPartitionResult {
    /// Partition index.
    pub partition_index: i32,
    /// Error, 0 if none.
    pub error_code: i16,
}

impl WriteTxnMarkersResponse {
    /// Decodes a v1 body.
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let markers = r.array(true, 10, "markers", |r| {
            let producer_id = r.i64()?;
            let topics = r.array(true, 3, "topics", |r| {
                let name = r.string(true, "topic name")?;
                let partitions = r.array(true, 7, "partitions", |r| {
                    let partition_index = r.i32()?;
                    let error_code = r.i16()?;
                    r.tagged_fields(true)?;
                    Ok(WritableTxnMarkerPartitionResult {
                        partition_index,
                        error_code,
                    })
                })?;
                r.tagged_fields(true)?;
                Ok(WritableTxnMarkerTopicResult { name, partitions })
            })?;
            r.tagged_fields(true)?;
            Ok(WritableTxnMarkerResult {
                producer_id,
                topics,
            })
        })?;
        r.tagged_fields(true)?;
        r.finish()?;
        Ok(Self { markers })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bytes::{Bytes, BytesMut};
    use kafka_protocol::messages::write_txn_markers_response as kp;
    use kafka_protocol::messages::{ApiKey, ProducerId, TopicName};
    use kafka_protocol::protocol::{Encodable, HeaderVersion, StrBytes};

    use super::*;
    use crate::protocol::responses::{WRITE_TXN_MARKERS_VERSION, response_header_version};

    fn tags() -> BTreeMap<i32, Bytes> {
        BTreeMap::from([(100, Bytes::from_static(b"\x01\x02\x03"))])
    }

    fn topic(name: &'static str, errors: &[(i32, i16)]) -> kp::WritableTxnMarkerTopicResult {
        kp::WritableTxnMarkerTopicResult::default()
            .with_name(TopicName(StrBytes::from_static_str(name)))
            .with_partitions(
                errors
                    .iter()
                    .map(|&(index, code)| {
                        kp::WritableTxnMarkerPartitionResult::default()
                            .with_partition_index(index)
                            .with_error_code(code)
                            .with_unknown_tagged_fields(tags())
                    })
                    .collect(),
            )
            .with_unknown_tagged_fields(tags())
    }

    fn sample() -> kp::WriteTxnMarkersResponse {
        kp::WriteTxnMarkersResponse::default()
            .with_markers(vec![
                kp::WritableTxnMarkerResult::default()
                    .with_producer_id(ProducerId(9))
                    .with_topics(vec![
                        topic("orders", &[(0, 0), (1, 6)]),
                        topic("audit", &[]),
                    ])
                    .with_unknown_tagged_fields(tags()),
                kp::WritableTxnMarkerResult::default()
                    .with_producer_id(ProducerId(1 << 45))
                    .with_topics(vec![topic("payments", &[(3, 75)])]),
            ])
            .with_unknown_tagged_fields(tags())
    }

    fn encode() -> Bytes {
        let mut buf = BytesMut::new();
        sample()
            .encode(&mut buf, WRITE_TXN_MARKERS_VERSION)
            .unwrap();
        buf.freeze()
    }

    #[test]
    fn pinned_version_round_trips() {
        let got = WriteTxnMarkersResponse::decode(&mut Reader::new(encode())).unwrap();
        let want = WriteTxnMarkersResponse {
            markers: sample()
                .markers
                .iter()
                .map(|m| WritableTxnMarkerResult {
                    producer_id: m.producer_id.0,
                    topics: m
                        .topics
                        .iter()
                        .map(|t| WritableTxnMarkerTopicResult {
                            name: t.name.to_string(),
                            partitions: t
                                .partitions
                                .iter()
                                .map(|p| WritableTxnMarkerPartitionResult {
                                    partition_index: p.partition_index,
                                    error_code: p.error_code,
                                })
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
        };
        assert_eq!(got, want);
        let v = WRITE_TXN_MARKERS_VERSION;
        assert_eq!(
            response_header_version(ApiKey::WriteTxnMarkers as i16, v),
            kp::WriteTxnMarkersResponse::header_version(v)
        );
    }

    #[test]
    fn truncated_or_trailing_input_is_an_error() {
        let body = encode();
        for len in 0..body.len() {
            let mut r = Reader::new(body.slice(..len));
            assert!(
                WriteTxnMarkersResponse::decode(&mut r).is_err(),
                "len {len}"
            );
        }
        let mut long = BytesMut::from(&body[..]);
        long.extend_from_slice(&[0]);
        assert!(WriteTxnMarkersResponse::decode(&mut Reader::new(long.freeze())).is_err());
    }
}
