//! Structure-aware: the input picks a valid sample request (minimal or rich) of a
//! served (api, version) and seeds the structure-aware mutator; the rest of the
//! input is written over the mutated frame. One input in eight is instead a
//! Produce request with tampered, re-checksummed batches, so the record iterator
//! is reached past the CRC check.
#![no_main]

use std::sync::OnceLock;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use weir_client::protocol::ApiKey;
use weir_client::protocol::decode_request;
use weir_client::protocol::testing::{
    SplitMix, mutate, sample_requests, tampered_produce, walk_produce_records,
};

/// Control bytes at the front of the input: sample, other sample, 8 seed bytes.
const CONTROL_BYTES: usize = 10;

static SAMPLES: OnceLock<Vec<(ApiKey, i16, Bytes)>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let samples = SAMPLES.get_or_init(sample_requests);
    if data.len() < CONTROL_BYTES {
        return;
    }
    let mut seed = [0u8; 8];
    seed.copy_from_slice(&data[2..CONTROL_BYTES]);
    let mut rng = SplitMix::new(u64::from_le_bytes(seed));
    let mut frame = if data[0] % 8 == 7 {
        tampered_produce(&mut rng, 1)
    } else {
        let pick = usize::from(data[0]) % samples.len();
        let other = usize::from(data[1]) % samples.len();
        mutate(&mut rng, &samples[pick].2, &samples[other].2)
    };
    // The rest of the input overwrites bytes from a chosen position.
    if let Some((&at, rest)) = data[CONTROL_BYTES..].split_first() {
        let at = usize::from(at) % frame.len().max(1);
        for (slot, b) in frame.iter_mut().skip(at).zip(rest) {
            *slot = *b;
        }
    }
    if let Ok((_, request)) = decode_request(Bytes::from(frame)) {
        walk_produce_records(&request);
    }
});
