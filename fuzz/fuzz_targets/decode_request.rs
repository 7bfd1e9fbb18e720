//! Arbitrary bytes as a request frame body: decoding must never panic or abort,
//! and the record sets of a decoded Produce request must iterate safely.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weir_client::protocol::decode_request;
use weir_client::protocol::testing::walk_produce_records;

fuzz_target!(|data: &[u8]| {
    if let Ok((_, request)) = decode_request(bytes::Bytes::copy_from_slice(data)) {
        walk_produce_records(&request);
    }
});
