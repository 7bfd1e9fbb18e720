//! AddOffsetsToTxn response (v4).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// AddOffsetsToTxn response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddOffsetsToTxnResponse {
    /// Quota throttle in milliseconds.
    pub throttle_time_ms: i32,
    /// Error, 0 if none.
    pub error_code: i16,
}

impl AddOffsetsToTxnResponse {
    /// Decodes a v4 body.
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let throttle_time_ms = r.i32()?;
        let error_code = r.i16()?;
        r.tagged_fields(true)?;
        r.finish()?;
        Ok(Self {
            throttle_time_ms,
            error_code,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bytes::{Bytes, BytesMut};
    use kafka_protocol::messages::ApiKey;
    use kafka_protocol::protocol::{Encodable, HeaderVersion};

    use super::*;
    use crate::protocol::responses::{ADD_OFFSETS_TO_TXN_VERSION, response_header_version};

    type Kp = kafka_protocol::messages::AddOffsetsToTxnResponse;

    fn sample() -> Kp {
        Kp::default()
            .with_throttle_time_ms(120)
            .with_error_code(51)
            .with_unknown_tagged_fields(BTreeMap::from([(
                100,
                Bytes::from_static(b"\x01\x02\x03"),
            )]))
    }

    fn encode() -> Bytes {
        let mut buf = BytesMut::new();
        sample()
            .encode(&mut buf, ADD_OFFSETS_TO_TXN_VERSION)
            .unwrap();
        buf.freeze()
    }

    #[test]
    fn pinned_version_round_trips() {
        let got = AddOffsetsToTxnResponse::decode(&mut Reader::new(encode())).unwrap();
        let want = AddOffsetsToTxnResponse {
            throttle_time_ms: 120,
            error_code: 51,
        };
        assert_eq!(got, want);
        let v = ADD_OFFSETS_TO_TXN_VERSION;
        assert_eq!(
            response_header_version(ApiKey::AddOffsetsToTxn as i16, v),
            Kp::header_version(v)
        );
    }

    #[test]
    fn truncated_or_trailing_input_is_an_error() {
        let body = encode();
        for len in 0..body.len() {
            let mut r = Reader::new(body.slice(..len));
            assert!(
                AddOffsetsToTxnResponse::decode(&mut r).is_err(),
                "len {len}"
            );
        }
        let mut long = BytesMut::from(&body[..]);
        long.extend_from_slice(&[0]);
        assert!(AddOffsetsToTxnResponse::decode(&mut Reader::new(long.freeze())).is_err());
    }
}
