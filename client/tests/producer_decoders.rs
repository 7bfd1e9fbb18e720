//! The InitProducerId request decoder against kafka-protocol's encoder.

use bytes::BytesMut;
use kafka_protocol::messages::{InitProducerIdRequest, ProducerId, TransactionalId};
use kafka_protocol::protocol::{Encodable, StrBytes};
use weir_client::protocol::Reader;
use weir_client::protocol::requests::init_producer_id;

#[test]
fn init_producer_id_all_versions() {
    for v in 0..=4 {
        for txn in [None, Some("txn-1")] {
            let mut r = InitProducerIdRequest::default()
                .with_transactional_id(txn.map(|t| TransactionalId(StrBytes::from_static_str(t))))
                .with_transaction_timeout_ms(60_000);
            if v >= 3 {
                r = r.with_producer_id(ProducerId(42)).with_producer_epoch(7);
            }
            let mut buf = BytesMut::new();
            r.encode(&mut buf, v).unwrap();
            let mut reader = Reader::new(buf.freeze());
            let got = init_producer_id::InitProducerIdRequest::decode(&mut reader, v).unwrap();
            assert_eq!(got.transactional_id.as_deref(), txn, "v{v}");
            assert_eq!(got.transaction_timeout_ms, 60_000);
            let expected = if v >= 3 { (42, 7) } else { (-1, -1) };
            assert_eq!((got.producer_id, got.producer_epoch), expected, "v{v}");
            assert_eq!(reader.remaining(), 0);
        }
    }
}
