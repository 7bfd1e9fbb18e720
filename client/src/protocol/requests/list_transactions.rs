//! ListTransactions request (v0–1, flexible).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// ListTransactions request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListTransactionsRequest {
    /// Transaction states to list (empty for all).
    pub state_filters: Vec<String>,
    /// Producer ids to list (empty for all).
    pub producer_id_filters: Vec<i64>,
    /// Only transactions running longer than this many milliseconds (v1+,
    /// KIP-994; -1 for no filter).
    pub duration_filter: i64,
}

impl ListTransactionsRequest {
    pub fn decode(r: &mut Reader, v: i16) -> Result<Self, DecodeError> {
        let state_filters =
            r.array(true, 1, "state_filters", |r| r.string(true, "state_filter"))?;
        let producer_id_filters = r.array(true, 8, "producer_id_filters", |r| r.i64())?;
        let duration_filter = if v >= 1 { r.i64()? } else { -1 };
        r.tagged_fields(true)?;
        Ok(Self {
            state_filters,
            producer_id_filters,
            duration_filter,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bytes::{Bytes, BytesMut};
    use kafka_protocol::messages::ProducerId;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    use super::*;

    fn sample(v: i16) -> kafka_protocol::messages::ListTransactionsRequest {
        let mut r = kafka_protocol::messages::ListTransactionsRequest::default()
            .with_state_filters(vec![
                StrBytes::from_static_str("Ongoing"),
                StrBytes::from_static_str("PrepareCommit"),
            ])
            .with_producer_id_filters(vec![ProducerId(1), ProducerId(-7), ProducerId(1 << 60)])
            .with_unknown_tagged_fields(BTreeMap::from([(
                100,
                Bytes::from_static(b"\x01\x02\x03"),
            )]));
        if v >= 1 {
            r = r.with_duration_filter(86_400_000);
        }
        r
    }

    fn encode(v: i16) -> Bytes {
        let mut buf = BytesMut::new();
        sample(v).encode(&mut buf, v).unwrap();
        buf.freeze()
    }

    #[test]
    fn every_served_version_round_trips() {
        for v in 0..=1 {
            let k = sample(v);
            let mut r = Reader::new(encode(v));
            let got = ListTransactionsRequest::decode(&mut r, v).unwrap();
            assert_eq!(r.remaining(), 0, "v{v}");
            let want = ListTransactionsRequest {
                state_filters: k.state_filters.iter().map(|s| s.to_string()).collect(),
                producer_id_filters: k.producer_id_filters.iter().map(|p| p.0).collect(),
                duration_filter: k.duration_filter,
            };
            assert_eq!(got, want, "v{v}");
        }
        let mut r = Reader::new(encode(0));
        assert_eq!(
            ListTransactionsRequest::decode(&mut r, 0)
                .unwrap()
                .duration_filter,
            -1
        );
    }

    #[test]
    fn truncated_input_is_an_error() {
        for v in 0..=1 {
            let body = encode(v);
            for len in 0..body.len() {
                let mut r = Reader::new(body.slice(..len));
                assert!(
                    ListTransactionsRequest::decode(&mut r, v).is_err(),
                    "v{v} len {len}"
                );
            }
        }
    }
}
