//! Seeded, structure-aware fuzzing on stable Rust (the CI stand-in for `cargo
//! fuzz`): mutated samples of every served (api, version), Produce requests with
//! tampered but re-checksummed batches, and random frames go through
//! `decode_request` and, for Produce, the batch and record iterators. Nothing may
//! panic and no input may take long.
//!
//! Prints its seed; replay with `WEIR_FUZZ_SEED=…`, scale with `WEIR_FUZZ_ITERS=…`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use bytes::Bytes;
use weir_client::protocol::decode_request;
use weir_client::protocol::records::testing::fix_crcs;
use weir_client::protocol::testing::{
    SplitMix, fuzz_input, sample_requests, tampered_batch, walk_produce_records, walk_records,
};

/// Default iterations: about 4 s in release on a 2-core machine (≈ 300k inputs/s);
/// a tenth of that in debug builds, which are ~15× slower.
const ITERATIONS_DEFAULT: usize = if cfg!(debug_assertions) {
    100_000
} else {
    1_000_000
};
/// No single input may take longer than this (generous for a loaded CI machine).
const INPUT_TIME_MAX: Duration = Duration::from_secs(1);

fn env_or<T: std::str::FromStr>(name: &str, default: impl FnOnce() -> T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(default)
}

fn seed_from_env() -> u64 {
    env_or("WEIR_FUZZ_SEED", || {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        SplitMix::new(nanos ^ u64::from(std::process::id())).next_u64()
    })
}

/// Runs `body` on `input`, turning a panic or a slow input into a failure that
/// names the seed, the iteration and the input.
fn run_one(seed: u64, i: usize, input: &[u8], body: impl FnOnce(&[u8]) -> usize) -> usize {
    let started = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| body(input)));
    let elapsed = started.elapsed();
    let hex: String = input.iter().take(512).map(|b| format!("{b:02x}")).collect();
    match outcome {
        Ok(n) if elapsed <= INPUT_TIME_MAX => n,
        Ok(_) => panic!("WEIR_FUZZ_SEED={seed} input {i} took {elapsed:?}: {hex}"),
        Err(_) => panic!("WEIR_FUZZ_SEED={seed} input {i} panicked: {hex}"),
    }
}

#[test]
fn seeded_mutations_never_panic() {
    let seed = seed_from_env();
    let iterations: usize = env_or("WEIR_FUZZ_ITERS", || ITERATIONS_DEFAULT);
    eprintln!("decode_fuzz: WEIR_FUZZ_SEED={seed} WEIR_FUZZ_ITERS={iterations}");
    let samples = sample_requests();
    let mut rng = SplitMix::new(seed);
    let (mut decoded, mut records) = (0usize, 0usize);
    let started = Instant::now();
    for i in 0..iterations {
        let input = fuzz_input(&mut rng, &samples, i);
        records += run_one(seed, i, &input, |input| {
            match decode_request(Bytes::copy_from_slice(input)) {
                Ok((_, request)) => {
                    decoded += 1;
                    walk_produce_records(&request)
                }
                Err(_) => 0,
            }
        });
    }
    eprintln!(
        "decode_fuzz: {iterations} inputs in {:?}: {decoded} decoded, {records} records walked",
        started.elapsed()
    );
    // The generator must reach deep: most samples decode, many records are walked.
    if iterations >= 10_000 {
        assert!(decoded > iterations / 20, "only {decoded} decoded");
        assert!(records > iterations / 100, "only {records} records walked");
    }
}

#[test]
fn seeded_record_sets_never_panic() {
    let seed = seed_from_env();
    let iterations: usize = env_or("WEIR_FUZZ_ITERS", || ITERATIONS_DEFAULT) / 4;
    eprintln!("decode_fuzz records: WEIR_FUZZ_SEED={seed} iterations {iterations}");
    let mut rng = SplitMix::new(seed ^ 0x5eed);
    let mut records = 0usize;
    for i in 0..iterations {
        let mut set = tampered_batch(&mut rng).to_vec();
        if i % 2 == 0 {
            // Raw bytes after the batch, CRCs fixed wherever lengths line up.
            let junk = rng.below(64);
            set.extend((0..junk).map(|_| rng.next_u64() as u8));
            fix_crcs(&mut set);
        }
        records += run_one(seed, i, &set, |set| {
            walk_records(&Bytes::copy_from_slice(set))
        });
    }
    eprintln!("decode_fuzz records: {iterations} record sets, {records} records walked");
}
