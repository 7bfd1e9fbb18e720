//! Structure-aware: the input picks a valid sample request for a served (api,
//! version) and seeds the mutator, so every decoder is reached with
//! nearly-valid frames.
#![no_main]

use std::sync::OnceLock;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use weir_client::protocol::ApiKey;
use weir_client::protocol::decode_request;
use weir_client::protocol::testing::{SplitMix, mutate, sample_requests, walk_produce_records};

static SAMPLES: OnceLock<Vec<(ApiKey, i16, Bytes)>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let samples = SAMPLES.get_or_init(sample_requests);
    if data.len() < 10 {
        return;
    }
    let pick = usize::from(data[0]) % samples.len();
    let other = usize::from(data[1]) % samples.len();
    let mut seed = [0u8; 8];
    seed.copy_from_slice(&data[2..10]);
    let mut rng = SplitMix::new(u64::from_le_bytes(seed));
    let mut frame = mutate(&mut rng, &samples[pick].2, &samples[other].2);
    // The rest of the input overwrites bytes from a chosen position.
    if let Some((&at, rest)) = data[10..].split_first() {
        let at = usize::from(at) % frame.len().max(1);
        for (i, b) in rest.iter().enumerate() {
            if let Some(slot) = frame.get_mut(at + i) {
                *slot = *b;
            }
        }
    }
    if let Ok((_, request)) = decode_request(Bytes::from(frame)) {
        walk_produce_records(&request);
    }
});
