//! DescribeTransactions request (v0, flexible).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// DescribeTransactions request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeTransactionsRequest {
    /// The transactional ids to describe.
    pub transactional_ids: Vec<String>,
}

impl DescribeTransactionsRequest {
    pub fn decode(r: &mut Reader, _v: i16) -> Result<Self, DecodeError> {
        let transactional_ids = r.array(true, 1, "transactional_ids", |r| {
            r.string(true, "transactional_id")
        })?;
        r.tagged_fields(true)?;
        Ok(Self { transactional_ids })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bytes::{Bytes, BytesMut};
    use kafka_protocol::messages::TransactionalId;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    use super::*;

    fn sample() -> kafka_protocol::messages::DescribeTransactionsRequest {
        kafka_protocol::messages::DescribeTransactionsRequest::default()
            .with_transactional_ids(
                ["txn-a", "", "txn-\u{e9}"]
                    .into_iter()
                    .map(|t| TransactionalId(StrBytes::from_static_str(t)))
                    .collect(),
            )
            .with_unknown_tagged_fields(BTreeMap::from([(
                100,
                Bytes::from_static(b"\x01\x02\x03"),
            )]))
    }

    fn encode() -> Bytes {
        let mut buf = BytesMut::new();
        sample().encode(&mut buf, 0).unwrap();
        buf.freeze()
    }

    #[test]
    fn every_served_version_round_trips() {
        let mut r = Reader::new(encode());
        let got = DescribeTransactionsRequest::decode(&mut r, 0).unwrap();
        assert_eq!(r.remaining(), 0);
        let want: Vec<String> = sample()
            .transactional_ids
            .iter()
            .map(|t| t.to_string())
            .collect();
        assert_eq!(got.transactional_ids, want);
    }

    #[test]
    fn truncated_input_is_an_error() {
        let body = encode();
        for len in 0..body.len() {
            let mut r = Reader::new(body.slice(..len));
            assert!(
                DescribeTransactionsRequest::decode(&mut r, 0).is_err(),
                "len {len}"
            );
        }
    }
}
