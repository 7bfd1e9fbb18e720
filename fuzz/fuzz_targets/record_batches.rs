//! Record sets: the input as a record set (as is, and with every CRC fixed), and a
//! valid random batch (seeded by the first 8 bytes) with the rest of the input
//! written over it after the CRC field and the CRC fixed. Batch checks and the
//! record iterator must never panic.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use weir_client::protocol::records::CRC_COVERED_FROM;
use weir_client::protocol::records::testing::{fix_crc, fix_crcs};
use weir_client::protocol::testing::{SplitMix, random_batch, walk_records};

fuzz_target!(|data: &[u8]| {
    walk_records(&Bytes::copy_from_slice(data));
    let mut fixed = data.to_vec();
    if fix_crcs(&mut fixed) > 0 {
        walk_records(&Bytes::from(fixed));
    }
    let Some((seed, rest)) = data.split_first_chunk::<8>() else {
        return;
    };
    let mut batch = random_batch(&mut SplitMix::new(u64::from_le_bytes(*seed))).to_vec();
    if let Some((&at, rest)) = rest.split_first() {
        let at = CRC_COVERED_FROM + usize::from(at) % (batch.len() - CRC_COVERED_FROM);
        for (slot, b) in batch.iter_mut().skip(at).zip(rest) {
            *slot = *b;
        }
        // Bytes past the batch's end extend it (and its declared length).
        let extra = rest.len().saturating_sub(batch.len() - at);
        batch.extend_from_slice(&rest[rest.len() - extra..]);
        let batch_length = (batch.len() - 12) as i32;
        batch[8..12].copy_from_slice(&batch_length.to_be_bytes());
    }
    fix_crc(&mut batch);
    walk_records(&Bytes::from(batch));
});
