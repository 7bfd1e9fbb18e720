//! Arbitrary bytes as a request frame body: decoding must never panic or abort,
//! and produce record sets must iterate safely.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weir_client::protocol::records::batches;
use weir_client::protocol::{Request, decode_request};

fuzz_target!(|data: &[u8]| {
    if let Ok((_, Request::Produce(p))) = decode_request(bytes::Bytes::copy_from_slice(data)) {
        for records in p.topic_data.iter().flat_map(|t| &t.partition_data).filter_map(|p| p.records.as_ref()) {
            for (view, _) in batches(records).flatten() {
                view.records().into_iter().flatten().for_each(drop);
            }
        }
    }
});
