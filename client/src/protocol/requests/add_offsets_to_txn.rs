//! AddOffsetsToTxn request (v0–4).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// AddOffsetsToTxn request: adds a group's offsets partition to a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddOffsetsToTxnRequest {
    /// The transactional id.
    pub transactional_id: String,
    /// The producer id in use by the transactional id.
    pub producer_id: i64,
    /// Its current epoch.
    pub producer_epoch: i16,
    /// The group whose offsets the transaction will commit.
    pub group_id: String,
}

impl AddOffsetsToTxnRequest {
    pub fn decode(r: &mut Reader, v: i16) -> Result<Self, DecodeError> {
        let flex = v >= 3;
        let transactional_id = r.string(flex, "transactional_id")?;
        let producer_id = r.i64()?;
        let producer_epoch = r.i16()?;
        let group_id = r.group_id(flex)?;
        r.tagged_fields(flex)?;
        Ok(Self {
            transactional_id,
            producer_id,
            producer_epoch,
            group_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bytes::{Bytes, BytesMut};
    use kafka_protocol::messages::{GroupId, ProducerId, TransactionalId};
    use kafka_protocol::protocol::{Encodable, StrBytes};

    use super::*;

    fn sample(v: i16) -> kafka_protocol::messages::AddOffsetsToTxnRequest {
        let mut tags = BTreeMap::new();
        if v >= 3 {
            tags.insert(100, Bytes::from_static(b"\x01\x02\x03"));
        }
        kafka_protocol::messages::AddOffsetsToTxnRequest::default()
            .with_transactional_id(TransactionalId(StrBytes::from_static_str("txn-\u{e9}")))
            .with_producer_id(ProducerId(-(1 << 50)))
            .with_producer_epoch(-2)
            .with_group_id(GroupId(StrBytes::from_static_str("group-1")))
            .with_unknown_tagged_fields(tags)
    }

    fn encode(v: i16) -> Bytes {
        let mut buf = BytesMut::new();
        sample(v).encode(&mut buf, v).unwrap();
        buf.freeze()
    }

    #[test]
    fn every_served_version_round_trips() {
        for v in 0..=4 {
            let k = sample(v);
            let mut r = Reader::new(encode(v));
            let got = AddOffsetsToTxnRequest::decode(&mut r, v).unwrap();
            assert_eq!(r.remaining(), 0, "v{v}");
            let want = AddOffsetsToTxnRequest {
                transactional_id: k.transactional_id.to_string(),
                producer_id: k.producer_id.0,
                producer_epoch: k.producer_epoch,
                group_id: k.group_id.to_string(),
            };
            assert_eq!(got, want, "v{v}");
        }
    }

    #[test]
    fn truncated_input_is_an_error() {
        for v in 0..=4 {
            let body = encode(v);
            for len in 0..body.len() {
                let mut r = Reader::new(body.slice(..len));
                assert!(
                    AddOffsetsToTxnRequest::decode(&mut r, v).is_err(),
                    "v{v} len {len}"
                );
            }
        }
    }
}
