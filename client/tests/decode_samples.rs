//! Every sample request decodes into what was encoded, and the seeded mutation
//! loop never panics (the stable-Rust stand-in for `cargo fuzz`).
#![cfg(feature = "testing")]

use weir_client::protocol::testing::{SAMPLE_TOPIC, sample_requests};
use weir_client::protocol::{Request, decode_request};

#[test]
fn every_sample_decodes() {
    for (key, v, frame) in sample_requests() {
        let (header, request) =
            decode_request(frame).unwrap_or_else(|e| panic!("{key:?} v{v}: {e:?}"));
        assert_eq!((header.api_key, header.api_version), (key as i16, v));
        match request {
            Request::Produce(p) => {
                assert_eq!(p.topic_data[0].name, SAMPLE_TOPIC);
                assert!(p.topic_data[0].partition_data[0].records.is_some());
            }
            Request::Fetch(f) => assert_eq!(f.topics[0].partitions[0].partition_max_bytes, 1 << 20),
            Request::Metadata(m) => {
                assert_eq!(m.topics.unwrap()[0].name.as_deref(), Some(SAMPLE_TOPIC))
            }
            Request::CreateTopics(c) => {
                assert_eq!(c.topics[0].configs[0].value.as_deref(), Some("60000"))
            }
            _ => {}
        }
    }
}

use weir_client::protocol::testing::{SplitMix, fuzz_input, walk_produce_records};

/// Seeded mutation of every sample plus random frames through the decoder and,
/// for Produce, through the batch and record iterators. Never panics.
#[test]
fn seeded_mutations_never_panic() {
    let seed: u64 = std::env::var("WEIR_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let iterations: usize = std::env::var("WEIR_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    eprintln!("WEIR_FUZZ_SEED={seed} WEIR_FUZZ_ITERS={iterations}");
    let samples = sample_requests();
    let mut rng = SplitMix::new(seed);
    let (mut decoded, mut records) = (0usize, 0usize);
    for i in 0..iterations {
        if let Ok((_, request)) =
            decode_request(bytes::Bytes::from(fuzz_input(&mut rng, &samples, i)))
        {
            decoded += 1;
            records += walk_produce_records(&request);
        }
    }
    eprintln!(
        "{iterations} inputs, {decoded} decoded without error, {records} records walked, no panic"
    );
}
