//! Seeded, structure-aware mutation of the samples, and the walk a decoded Produce
//! request gets, shared by the stable-Rust fuzz tests and the cargo-fuzz targets.

use bytes::Bytes;

use super::{ApiKey, SUPPORTED_APIS, produce_request_with};
use crate::protocol::Request;
use crate::protocol::api::api_spec;
use crate::protocol::limits::RECORD_BATCH_HEADER_BYTES;
use crate::protocol::records::testing::{Header, TestRecord, build_batch_of, fix_crc};
use crate::protocol::records::{CRC_COVERED_FROM, LOG_OVERHEAD_BYTES, batches};

/// A tiny deterministic generator (SplitMix64), so fuzz runs replay from a seed
/// without pulling a RNG crate into the library.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// One of `items` (which must not be empty).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// Extreme values written over length and count fields.
const EXTREMES_I32: [i32; 7] = [i32::MAX, -1, i32::MIN, 0x7fff, 1 << 24, 0, -2];
const EXTREMES_I16: [i16; 5] = [i16::MAX, -1, i16::MIN, 0, -2];
/// Added to a length found in the frame: off by one, a little, a lot.
const LENGTH_DELTAS: [i64; 8] = [1, -1, 2, -2, 7, 64, 4096, 1 << 20];
/// Header bytes (api key, version) left alone by most mutations, so bodies of
/// served versions are what gets fuzzed.
const HEADER_KEEP_BYTES: usize = 4;
/// How far past the mutation point a length field is looked for.
const LENGTH_SCAN_BYTES: usize = 64;

/// Applies 1–4 structure-aware mutations to `frame`: bit flips, extreme values,
/// inflated or deflated length fields and varints, truncation, 0xff/0x7f runs,
/// chunk duplication and deletion, and splicing with `other`.
pub fn mutate(rng: &mut SplitMix, frame: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = frame.to_vec();
    for _ in 0..1 + rng.below(4) {
        let keep = if rng.below(10) == 0 {
            0
        } else {
            HEADER_KEEP_BYTES.min(out.len())
        };
        let at = keep + rng.below(out.len().saturating_sub(keep).max(1));
        mutate_at(rng, &mut out, at, other);
    }
    out
}

fn mutate_at(rng: &mut SplitMix, out: &mut Vec<u8>, at: usize, other: &[u8]) {
    let len = out.len();
    match rng.below(11) {
        0 if at < len => out[at] ^= 1 << rng.below(8),
        1 if at < len => out[at] = rng.pick(&[0x00, 0xff, 0x7f, 0x80, 0x01]),
        2 => out.truncate(at),
        3 => {
            let byte = rng.pick(&[0xff, 0x7f]);
            let at = at.min(len);
            out.splice(at..at, std::iter::repeat_n(byte, 1 + rng.below(8)));
        }
        4 if at + 4 <= len => {
            let v = rng.pick(&EXTREMES_I32);
            out[at..at + 4].copy_from_slice(&v.to_be_bytes());
        }
        5 if at + 2 <= len => {
            let v = rng.pick(&EXTREMES_I16);
            out[at..at + 2].copy_from_slice(&v.to_be_bytes());
        }
        6 => {
            let from = rng.below(other.len().max(1)).min(other.len());
            out.truncate(at.min(len));
            out.extend_from_slice(&other[from..]);
        }
        7 if at < len => {
            let end = (at + 1 + rng.below(32)).min(len);
            let chunk = out[at..end].to_vec();
            out.splice(at..at, chunk);
        }
        8 if at < len => {
            let end = (at + 1 + rng.below(32)).min(len);
            out.drain(at..end);
        }
        9 => shift_length(rng, out, at),
        10 => tweak_varint(rng, out, at),
        _ => {}
    }
}

/// Finds the first plausible big-endian length or count (a small positive i32 or
/// i16) at or after `at` and moves it by one of [`LENGTH_DELTAS`].
fn shift_length(rng: &mut SplitMix, out: &mut [u8], at: usize) {
    let delta = rng.pick(&LENGTH_DELTAS);
    for p in at..out.len().min(at + LENGTH_SCAN_BYTES) {
        if let Some(b) = out.get(p..p + 4) {
            let x = i32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            if (1..=1 << 20).contains(&x) {
                let v = (i64::from(x) + delta).clamp(i32::MIN.into(), i32::MAX.into()) as i32;
                out[p..p + 4].copy_from_slice(&v.to_be_bytes());
                return;
            }
        }
        if let Some(b) = out.get(p..p + 2) {
            let x = i16::from_be_bytes([b[0], b[1]]);
            if (1..=4096).contains(&x) {
                let v = (i64::from(x) + delta).clamp(i16::MIN.into(), i16::MAX.into()) as i16;
                out[p..p + 2].copy_from_slice(&v.to_be_bytes());
                return;
            }
        }
    }
}

/// Finds a one-byte varint (a compact length, count or tag) at or after `at` and
/// nudges it, re-encodes it overlong, or replaces it with a huge one.
fn tweak_varint(rng: &mut SplitMix, out: &mut Vec<u8>, at: usize) {
    let end = out.len().min(at + LENGTH_SCAN_BYTES);
    let Some(p) = (at..end).find(|&p| (1..0x80).contains(&out[p])) else {
        return;
    };
    let b = out[p];
    match rng.below(4) {
        0 => out[p] = b.wrapping_add(1) & 0x7f,
        1 => out[p] = b - 1,
        // The same value in two bytes: valid, if unusual.
        2 => out.splice(p..p + 1, [b | 0x80, 0x00]).for_each(drop),
        _ => out
            .splice(p..p + 1, [0xff, 0xff, 0xff, 0xff, 0x0f])
            .for_each(drop),
    }
}

/// A random frame body of up to `max_len` bytes, with a served (api, version)
/// header half the time.
pub fn random_frame(rng: &mut SplitMix, max_len: usize) -> Vec<u8> {
    let len = rng.below(max_len + 1);
    let mut out: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
    if out.len() >= 4 && rng.below(2) == 0 {
        let spec = &SUPPORTED_APIS[rng.below(SUPPORTED_APIS.len())];
        let v = spec.range.min + rng.below((spec.range.max - spec.range.min + 1) as usize) as i16;
        out[0..2].copy_from_slice(&(spec.key as i16).to_be_bytes());
        out[2..4].copy_from_slice(&v.to_be_bytes());
    }
    out
}

/// Random keys, values and headers, sliced from a random pool.
fn random_records<'a>(
    rng: &mut SplitMix,
    pool: &'a [u8],
    headers: &'a [Header<'a>],
) -> Vec<TestRecord<'a>> {
    let slice = |rng: &mut SplitMix| {
        let len = rng.below(24);
        let from = rng.below(pool.len() - len);
        (rng.below(5) != 0).then(|| &pool[from..from + len])
    };
    (0..rng.below(5))
        .map(|i| TestRecord {
            key: slice(rng),
            value: slice(rng),
            headers: &headers[..rng.below(headers.len() + 1)],
            timestamp: 1_700_000_000_000 + (i as i64) * rng.pick(&[0, 1, -1, 1 << 40]),
        })
        .collect()
}

/// A valid uncompressed batch of 0–4 random records (random keys, values, headers
/// and timestamps).
pub fn random_batch(rng: &mut SplitMix) -> Bytes {
    let pool: Vec<u8> = (0..64).map(|_| rng.next_u64() as u8).collect();
    let headers = [(&pool[..3], Some(&pool[3..9])), (&pool[9..10], None)];
    let records = random_records(rng, &pool, &headers);
    build_batch_of(&records, rng.below(1000) as i64)
}

/// A valid uncompressed batch of random records, then tampered with *after* the
/// CRC field (header counts, attributes, record bytes, length) and re-checksummed,
/// so the batch checks and the record iterator see more than CRC mismatches.
pub fn tampered_batch(rng: &mut SplitMix) -> Bytes {
    let mut b = random_batch(rng).to_vec();
    for _ in 0..rng.below(4) {
        let at = CRC_COVERED_FROM + rng.below(b.len().saturating_sub(CRC_COVERED_FROM));
        // Header fields past the CRC: attributes, lastOffsetDelta, recordCount.
        let at = match rng.below(4) {
            0 => rng.pick(&[21, 23, 57]),
            _ => at,
        };
        mutate_at(rng, &mut b, at, &[]);
    }
    if rng.below(2) == 0 && b.len() >= RECORD_BATCH_HEADER_BYTES {
        let batch_length = (b.len() - LOG_OVERHEAD_BYTES) as i32;
        b[8..12].copy_from_slice(&batch_length.to_be_bytes());
    }
    fix_crc(&mut b);
    Bytes::from(b)
}

/// The `i`-th input of a seeded fuzz loop: every tenth a random frame, every tenth
/// a Produce request carrying tampered batches, the rest mutated samples (spliced
/// with another sample).
pub fn fuzz_input(rng: &mut SplitMix, samples: &[(ApiKey, i16, Bytes)], i: usize) -> Vec<u8> {
    match i % 10 {
        0 => random_frame(rng, 256),
        5 => tampered_produce(rng, i as i32),
        _ => {
            let (_, _, frame) = &samples[rng.below(samples.len())];
            let (_, _, other) = &samples[rng.below(samples.len())];
            mutate(rng, frame, other)
        }
    }
}

/// A Produce request of a random served version whose record set is one or two
/// tampered batches, sometimes with a partial batch after them.
pub fn tampered_produce(rng: &mut SplitMix, correlation_id: i32) -> Vec<u8> {
    let range = api_spec(ApiKey::Produce as i16)
        .expect("Produce is served")
        .range;
    let v = range.min + rng.below((range.max - range.min + 1) as usize) as i16;
    let mut set = tampered_batch(rng).to_vec();
    if rng.below(3) == 0 {
        set.extend_from_slice(&tampered_batch(rng));
    }
    if rng.below(4) == 0 {
        let tail = tampered_batch(rng);
        set.extend_from_slice(&tail[..rng.below(tail.len())]);
    }
    produce_request_with(v, correlation_id, Some(Bytes::from(set))).to_vec()
}

/// Walks every batch of a record set and every record of its uncompressed batches,
/// reading every field, as the broker's validation and log would; returns how many
/// records were read.
pub fn walk_records(set: &Bytes) -> usize {
    let mut records_read = 0;
    for (view, _) in batches(set).flatten() {
        let _ = view.check_produced();
        std::hint::black_box((view.last_offset(), view.max_timestamp(), view.producer_id()));
        for record in view.records().into_iter().flatten().flatten() {
            let key_len = record.key.as_ref().map_or(0, Bytes::len);
            std::hint::black_box((key_len, record.offset_delta, record.headers.len()));
            records_read += 1;
        }
    }
    records_read
}

/// [`walk_records`] over every record set of a decoded Produce request; returns
/// how many records were read (0 for other requests).
pub fn walk_produce_records(request: &Request) -> usize {
    let Request::Produce(produce) = request else {
        return 0;
    };
    produce
        .topic_data
        .iter()
        .flat_map(|t| &t.partition_data)
        .filter_map(|p| p.records.as_ref())
        .map(walk_records)
        .sum()
}
