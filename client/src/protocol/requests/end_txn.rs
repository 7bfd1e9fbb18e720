//! EndTxn request (v0–4).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// EndTxn request: commits or aborts a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndTxnRequest {
    /// The transactional id.
    pub transactional_id: String,
    /// The producer id in use by the transactional id.
    pub producer_id: i64,
    /// Its current epoch.
    pub producer_epoch: i16,
    /// True to commit, false to abort.
    pub committed: bool,
}

impl EndTxnRequest {
    pub fn decode(r: &mut Reader, v: i16) -> Result<Self, DecodeError> {
        let flex = v >= 3;
        let transactional_id = r.string(flex, "transactional_id")?;
        let producer_id = r.i64()?;
        let producer_epoch = r.i16()?;
        let committed = r.bool()?;
        r.tagged_fields(flex)?;
        Ok(Self {
            transactional_id,
            producer_id,
            producer_epoch,
            committed,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bytes::{Bytes, BytesMut};
    use kafka_protocol::messages::{ProducerId, TransactionalId};
    use kafka_protocol::protocol::{Encodable, StrBytes};

    use super::*;

    fn sample(v: i16, committed: bool) -> kafka_protocol::messages::EndTxnRequest {
        let mut tags = BTreeMap::new();
        if v >= 3 {
            tags.insert(100, Bytes::from_static(b"\x01\x02\x03"));
        }
        kafka_protocol::messages::EndTxnRequest::default()
            .with_transactional_id(TransactionalId(StrBytes::from_static_str("txn-end")))
            .with_producer_id(ProducerId(1 << 33))
            .with_producer_epoch(12)
            .with_committed(committed)
            .with_unknown_tagged_fields(tags)
    }

    fn encode(v: i16, committed: bool) -> Bytes {
        let mut buf = BytesMut::new();
        sample(v, committed).encode(&mut buf, v).unwrap();
        buf.freeze()
    }

    #[test]
    fn every_served_version_round_trips() {
        for v in 0..=4 {
            for committed in [false, true] {
                let k = sample(v, committed);
                let mut r = Reader::new(encode(v, committed));
                let got = EndTxnRequest::decode(&mut r, v).unwrap();
                assert_eq!(r.remaining(), 0, "v{v}");
                let want = EndTxnRequest {
                    transactional_id: k.transactional_id.to_string(),
                    producer_id: k.producer_id.0,
                    producer_epoch: k.producer_epoch,
                    committed: k.committed,
                };
                assert_eq!(got, want, "v{v}");
            }
        }
    }

    #[test]
    fn truncated_input_is_an_error() {
        for v in 0..=4 {
            let body = encode(v, true);
            for len in 0..body.len() {
                let mut r = Reader::new(body.slice(..len));
                assert!(EndTxnRequest::decode(&mut r, v).is_err(), "v{v} len {len}");
            }
        }
    }
}
