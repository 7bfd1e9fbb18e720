//! Record batch compression codecs, sans-io: what a producer applies to the records
//! of a batch and what a consumer must undo.
//!
//! Decompression is the dangerous direction: a few kilobytes on the wire can claim
//! gigabytes of output. [`decompress`] therefore streams the output (for snappy,
//! checks each block's declared length before allocating it) and stops with
//! [`CompressionError::OutputTooLarge`] as soon as it would pass the caller's cap,
//! never reserving more than that cap, whatever the input claims.

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use thiserror::Error;

use super::records::COMPRESSION_CODEC_MASK;

/// A record batch compression codec, numbered as in the batch `attributes` bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Compression {
    /// Records stored as they are.
    #[default]
    None = 0,
    /// A gzip stream (RFC 1952).
    Gzip = 1,
    /// Snappy: raw blocks, or snappy-java's xerial framing when reading.
    Snappy = 2,
    /// The standard LZ4 frame format.
    Lz4 = 3,
    /// Zstandard frames.
    Zstd = 4,
}

impl Compression {
    /// Every codec, in id order.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// The codec id stored in the low attribute bits.
    pub const fn id(self) -> i16 {
        self as i16
    }

    /// The codec with `id` (0..=4).
    pub fn from_id(id: i16) -> Result<Self, CompressionError> {
        match id {
            0 => Ok(Self::None),
            1 => Ok(Self::Gzip),
            2 => Ok(Self::Snappy),
            3 => Ok(Self::Lz4),
            4 => Ok(Self::Zstd),
            id => Err(CompressionError::UnknownCodec { id }),
        }
    }

    /// The codec of a batch with these `attributes` (the other bits are ignored).
    pub fn from_attributes(attributes: i16) -> Result<Self, CompressionError> {
        Self::from_id(attributes & COMPRESSION_CODEC_MASK)
    }

    /// The name Kafka uses in `compression.type`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Compression {
    type Err = CompressionError;

    /// Parses a `compression.type` name, ignoring ASCII case as Kafka does.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| CompressionError::UnknownName { name: s.to_owned() })
    }
}

/// Why data could not be compressed or decompressed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CompressionError {
    /// Attribute bits name a codec Kafka does not define (5..=7).
    #[error("unknown compression codec id {id}")]
    UnknownCodec {
        /// The codec id found.
        id: i16,
    },
    /// A `compression.type` that is not one of the codec names.
    #[error("unknown compression type {name:?}")]
    UnknownName {
        /// The name given.
        name: String,
    },
    /// The decompressed data would exceed the caller's cap (or the input claims so).
    #[error("{codec} output exceeds the limit of {max} bytes")]
    OutputTooLarge {
        /// The codec being decoded.
        codec: Compression,
        /// The cap that was hit.
        max: usize,
    },
    /// The input is not valid data for the codec.
    #[error("corrupt {codec} data: {reason}")]
    Corrupt {
        /// The codec being decoded.
        codec: Compression,
        /// What the decoder reported.
        reason: String,
    },
    /// The encoder failed (e.g. an input larger than the codec can frame).
    #[error("{codec} compression failed: {reason}")]
    CompressFailed {
        /// The codec encoding.
        codec: Compression,
        /// What the encoder reported.
        reason: String,
    },
}

fn corrupt(codec: Compression, reason: impl fmt::Display) -> CompressionError {
    CompressionError::Corrupt {
        codec,
        reason: reason.to_string(),
    }
}

fn compress_failed(codec: Compression, reason: impl fmt::Display) -> CompressionError {
    CompressionError::CompressFailed {
        codec,
        reason: reason.to_string(),
    }
}

/// Gzip level: Kafka's default (`Deflater.DEFAULT_COMPRESSION`).
const GZIP_LEVEL: u32 = 6;
/// Zstd level: Kafka's default `compression.zstd.level`.
const ZSTD_LEVEL: i32 = 3;
/// Smallest zstd window we accept (8 MiB): zstd levels up to 19 never ask for
/// more, so batches from producers at any ordinary level decode under a small cap.
const ZSTD_WINDOW_LOG_FLOOR: u32 = 23;
/// Largest zstd window we ever accept (1 GiB; the limit on 32-bit targets).
const ZSTD_WINDOW_LOG_CEILING: u32 = 30;
/// snappy-java's stream header: magic, then i32 version and i32 compatible version.
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// Length of the xerial header (magic + version + compatible version).
const XERIAL_HEADER_BYTES: usize = 16;
/// Bytes decoded per read of a streaming decoder.
const READ_CHUNK_BYTES: usize = 32 * 1024;

/// Appends `input` compressed with `codec` to `out`.
///
/// Snappy is written as one raw block (as librdkafka does); both Kafka's Java
/// client and librdkafka read that. LZ4 uses independent 64 KiB blocks without
/// checksums, the frame shape Kafka's own LZ4 stream writes and reads.
pub fn compress(
    codec: Compression,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), CompressionError> {
    match codec {
        Compression::None => out.extend_from_slice(input),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::new(GZIP_LEVEL));
            enc.write_all(input)
                .map_err(|e| compress_failed(codec, e))?;
            enc.finish().map_err(|e| compress_failed(codec, e))?;
        }
        Compression::Snappy => {
            let bound = snap::raw::max_compress_len(input.len());
            if bound == 0 && !input.is_empty() {
                return Err(compress_failed(codec, "input too large for snappy"));
            }
            let start = out.len();
            out.resize(start + bound, 0);
            let written = snap::raw::Encoder::new()
                .compress(input, &mut out[start..])
                .map_err(|e| compress_failed(codec, e));
            match written {
                Ok(n) => out.truncate(start + n),
                Err(e) => {
                    out.truncate(start);
                    return Err(e);
                }
            }
        }
        Compression::Lz4 => {
            use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
            let info = FrameInfo::new()
                .block_size(BlockSize::Max64KB)
                .block_mode(BlockMode::Independent);
            let mut enc = FrameEncoder::with_frame_info(info, out);
            enc.write_all(input)
                .map_err(|e| compress_failed(codec, e))?;
            enc.finish().map_err(|e| compress_failed(codec, e))?;
        }
        Compression::Zstd => {
            let mut enc = zstd::stream::write::Encoder::new(out, ZSTD_LEVEL)
                .map_err(|e| compress_failed(codec, e))?;
            // A pledged size puts the content size in the frame and lets zstd
            // shrink the window, so decoders need less memory.
            enc.set_pledged_src_size(Some(input.len() as u64))
                .map_err(|e| compress_failed(codec, e))?;
            enc.write_all(input)
                .map_err(|e| compress_failed(codec, e))?;
            enc.finish().map_err(|e| compress_failed(codec, e))?;
        }
    }
    Ok(())
}

/// Decompresses `input`, failing as soon as the output would exceed `max_output`
/// bytes. The output never reserves more than `max_output`; the decoders' own
/// working memory is bounded independently of the input (gzip 32 KiB, LZ4 one
/// block of at most a few MiB, zstd one window, below).
///
/// Gzip reads concatenated members and LZ4 and zstd concatenated frames, as their
/// stream readers do. Snappy accepts a raw block or snappy-java's xerial framing,
/// recognised by its magic. Zstd frames whose window exceeds both 8 MiB and
/// `max_output` (rounded up to a power of two) are refused as corrupt: they would
/// need that much memory for the window, and only levels above 19 write them.
pub fn decompress(
    codec: Compression,
    input: &[u8],
    max_output: usize,
) -> Result<Vec<u8>, CompressionError> {
    if codec == Compression::None {
        if input.len() > max_output {
            return Err(CompressionError::OutputTooLarge {
                codec,
                max: max_output,
            });
        }
        return Ok(input.to_vec());
    }
    // Every encoding of even empty data has a header; refuse nothing as corrupt
    // rather than let a decoder call it an empty stream.
    if input.is_empty() {
        return Err(corrupt(codec, "empty input"));
    }
    match codec {
        Compression::None => unreachable!("handled above"),
        Compression::Gzip => {
            let mut out = Vec::new();
            let dec = flate2::read::MultiGzDecoder::new(input);
            read_capped_into(codec, dec, max_output, &mut out)?;
            Ok(out)
        }
        Compression::Snappy => decompress_snappy(input, max_output),
        Compression::Lz4 => decompress_lz4(input, max_output),
        Compression::Zstd => {
            let mut out = Vec::new();
            let mut dec =
                zstd::stream::read::Decoder::with_buffer(input).map_err(|e| corrupt(codec, e))?;
            dec.window_log_max(zstd_window_log_max(max_output))
                .map_err(|e| corrupt(codec, e))?;
            read_capped_into(codec, dec, max_output, &mut out)?;
            Ok(out)
        }
    }
}

/// log2 of the largest zstd window accepted under `max_output`.
fn zstd_window_log_max(max_output: usize) -> u32 {
    let ceil_log2 = usize::BITS - max_output.saturating_sub(1).leading_zeros();
    ceil_log2.clamp(ZSTD_WINDOW_LOG_FLOOR, ZSTD_WINDOW_LOG_CEILING)
}

/// Drains a streaming decoder onto `out`, which never grows past `max_output`.
fn read_capped_into(
    codec: Compression,
    mut reader: impl Read,
    max_output: usize,
    out: &mut Vec<u8>,
) -> Result<(), CompressionError> {
    let mut chunk = vec![0u8; READ_CHUNK_BYTES];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(corrupt(codec, e)),
        };
        let room = max_output - out.len();
        if n > room {
            return Err(CompressionError::OutputTooLarge {
                codec,
                max: max_output,
            });
        }
        if out.capacity() - out.len() < n {
            // Double as `Vec` would, but never past the cap.
            out.reserve_exact(out.len().max(READ_CHUNK_BYTES).clamp(n, room));
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

/// LZ4 frames, one after another (skippable frames are skipped).
///
/// lz4_flex's `FrameDecoder` stops after one frame and treats input that ends
/// before the end mark as a clean end, so each frame's extent is first found by
/// [`lz4_frame_len`]: a truncated frame is an error, not silently shorter data.
fn decompress_lz4(input: &[u8], max_output: usize) -> Result<Vec<u8>, CompressionError> {
    let codec = Compression::Lz4;
    let mut out = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let (len, skippable) = lz4_frame_len(rest).map_err(|reason| corrupt(codec, reason))?;
        let (frame, after) = rest.split_at(len);
        if !skippable {
            let dec = lz4_flex::frame::FrameDecoder::new(frame);
            read_capped_into(codec, dec, max_output, &mut out)?;
        }
        rest = after;
    }
    Ok(out)
}

/// LZ4 frame magic (little-endian on the wire).
const LZ4_MAGIC: u32 = 0x184D_2204;
/// Skippable frames use magics 0x184D2A50..=0x184D2A5F.
const LZ4_SKIPPABLE_MAGIC_MASK: u32 = 0xFFFF_FFF0;
const LZ4_SKIPPABLE_MAGIC: u32 = 0x184D_2A50;

/// The length of the LZ4 frame at the front of `data`, and whether it is a
/// skippable frame, from its header flags and block sizes alone (the decoder
/// checks the rest: header checksum, block sizes, checksums, the data itself).
fn lz4_frame_len(data: &[u8]) -> Result<(usize, bool), &'static str> {
    fn u32_at(data: &[u8], at: usize) -> Option<u32> {
        let bytes = data.get(at..at.checked_add(4)?)?;
        Some(u32::from_le_bytes(bytes.try_into().ok()?))
    }
    let magic = u32_at(data, 0).ok_or("truncated lz4 magic")?;
    if magic & LZ4_SKIPPABLE_MAGIC_MASK == LZ4_SKIPPABLE_MAGIC {
        let size = u32_at(data, 4).ok_or("truncated skippable lz4 frame")?;
        let len = usize::try_from(size)
            .ok()
            .and_then(|size| size.checked_add(8))
            .filter(|&len| len <= data.len())
            .ok_or("truncated skippable lz4 frame")?;
        return Ok((len, true));
    }
    if magic != LZ4_MAGIC {
        return Err("not an lz4 frame (bad magic)");
    }
    let flags = *data.get(4).ok_or("truncated lz4 frame header")?;
    let has = |bit: u8| flags & bit != 0;
    let (block_checksums, content_size, content_checksum, dict_id) =
        (has(0x10), has(0x08), has(0x04), has(0x01));
    // magic, FLG, BD, [content size], [dictionary id], header checksum
    let mut at = 6 + if content_size { 8 } else { 0 } + if dict_id { 4 } else { 0 } + 1;
    loop {
        let block = u32_at(data, at).ok_or("lz4 frame ends before its end mark")?;
        at += 4;
        if block == 0 {
            break;
        }
        let size = (block & 0x7FFF_FFFF) as usize + if block_checksums { 4 } else { 0 };
        at = at
            .checked_add(size)
            .filter(|&end| end <= data.len())
            .ok_or("lz4 block runs past the end of the input")?;
    }
    if content_checksum {
        at += 4;
    }
    if at > data.len() {
        return Err("truncated lz4 content checksum");
    }
    Ok((at, false))
}

/// Raw snappy (librdkafka) or xerial-framed snappy (Kafka's Java client).
fn decompress_snappy(input: &[u8], max_output: usize) -> Result<Vec<u8>, CompressionError> {
    let codec = Compression::Snappy;
    let mut out = Vec::new();
    let Some(mut rest) = input.strip_prefix(&XERIAL_MAGIC) else {
        snappy_block(input, max_output, &mut out)?;
        return Ok(out);
    };
    // Version and compatible version: like librdkafka, accept any values.
    rest = rest
        .get(XERIAL_HEADER_BYTES - XERIAL_MAGIC.len()..)
        .ok_or_else(|| corrupt(codec, "truncated xerial header"))?;
    while !rest.is_empty() {
        let (len, after) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| corrupt(codec, "truncated xerial block length"))?;
        let len = i32::from_be_bytes(*len);
        let block = usize::try_from(len)
            .ok()
            .filter(|&len| len > 0)
            .and_then(|len| after.get(..len))
            .ok_or_else(|| corrupt(codec, format!("invalid xerial block length {len}")))?;
        snappy_block(block, max_output, &mut out)?;
        rest = &after[block.len()..];
    }
    Ok(out)
}

/// Appends one raw snappy block to `out`, checking its declared length against the
/// cap before allocating.
fn snappy_block(
    block: &[u8],
    max_output: usize,
    out: &mut Vec<u8>,
) -> Result<(), CompressionError> {
    let codec = Compression::Snappy;
    let len = snap::raw::decompress_len(block).map_err(|e| corrupt(codec, e))?;
    if len > max_output - out.len() {
        return Err(CompressionError::OutputTooLarge {
            codec,
            max: max_output,
        });
    }
    let start = out.len();
    out.resize(start + len, 0);
    match snap::raw::Decoder::new().decompress(block, &mut out[start..]) {
        Ok(n) => {
            out.truncate(start + n);
            Ok(())
        }
        Err(e) => Err(corrupt(codec, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1024 * 1024;

    /// A deterministic xorshift stream, so the tests need no RNG crate.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn bytes(&mut self, len: usize) -> Vec<u8> {
            (0..len).map(|_| self.next() as u8).collect()
        }
    }

    /// Half-compressible data: random runs of text-like and random bytes.
    fn mixed(len: usize, seed: u64) -> Vec<u8> {
        let mut rng = XorShift(seed | 1);
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let run = (rng.next() % 200) as usize + 1;
            if rng.next() & 1 == 0 {
                out.extend((0..run).map(|i| b"weir kafka records "[i % 19]));
            } else {
                out.extend(rng.bytes(run));
            }
        }
        out.truncate(len);
        out
    }

    fn compressed(codec: Compression, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        compress(codec, input, &mut out).unwrap();
        out
    }

    fn too_large(codec: Compression, max: usize) -> CompressionError {
        CompressionError::OutputTooLarge { codec, max }
    }

    /// The error of a decode that must fail, without printing megabytes of output
    /// when it does not.
    fn err(got: Result<Vec<u8>, CompressionError>) -> CompressionError {
        match got {
            Ok(out) => panic!("unexpectedly decoded {} bytes", out.len()),
            Err(e) => e,
        }
    }

    #[test]
    fn ids_names_and_attributes() {
        for (i, codec) in Compression::ALL.into_iter().enumerate() {
            assert_eq!(codec.id(), i as i16);
            assert_eq!(Compression::from_id(i as i16), Ok(codec));
            assert_eq!(codec.to_string().parse::<Compression>(), Ok(codec));
            // Other attribute bits (timestamp type, transactional, control) are ignored.
            assert_eq!(Compression::from_attributes(0x38 | i as i16), Ok(codec));
        }
        assert_eq!(
            Compression::ALL.map(|c| c.to_string()),
            ["none", "gzip", "snappy", "lz4", "zstd"]
        );
        assert_eq!("ZSTD".parse::<Compression>(), Ok(Compression::Zstd));
        for bad in 5..=7 {
            assert_eq!(
                Compression::from_attributes(bad),
                Err(CompressionError::UnknownCodec { id: bad })
            );
        }
        assert!(matches!(
            "brotli".parse::<Compression>(),
            Err(CompressionError::UnknownName { .. })
        ));
        assert_eq!(Compression::default(), Compression::None);
    }

    #[test]
    fn every_codec_round_trips_empty_small_and_one_mib() {
        let inputs = [
            Vec::new(),
            b"x".to_vec(),
            mixed(1000, 7),
            vec![0u8; MIB],
            mixed(MIB, 11),
        ];
        for codec in Compression::ALL {
            for input in &inputs {
                let packed = compressed(codec, input);
                let unpacked = decompress(codec, &packed, input.len())
                    .unwrap_or_else(|e| panic!("{codec} of {} bytes: {e}", input.len()));
                assert!(unpacked == *input, "{codec} of {} bytes", input.len());
            }
        }
    }

    #[test]
    fn compress_appends_to_existing_output() {
        for codec in Compression::ALL {
            let mut out = b"prefix".to_vec();
            compress(codec, b"payload payload payload", &mut out).unwrap();
            assert_eq!(&out[..6], b"prefix");
            assert_eq!(
                decompress(codec, &out[6..], 1024).unwrap(),
                b"payload payload payload"
            );
        }
    }

    #[test]
    fn output_exactly_at_the_cap_passes_and_one_byte_over_fails() {
        let input = mixed(100_000, 3);
        for codec in Compression::ALL {
            let packed = compressed(codec, &input);
            assert!(decompress(codec, &packed, input.len()).unwrap() == input);
            assert_eq!(
                err(decompress(codec, &packed, input.len() - 1)),
                too_large(codec, input.len() - 1),
                "{codec}"
            );
            assert_eq!(err(decompress(codec, &packed, 0)), too_large(codec, 0));
        }
    }

    /// 1024 copies of one compressed MiB of zeros (1 KiB to 5 KiB each): each
    /// decoder reads concatenated members/frames, so this is 1 GiB of output
    /// unless the cap stops the decoder after the first MiB.
    #[test]
    fn bombs_stop_at_the_cap() {
        let zeros = vec![0u8; MIB];
        for codec in [Compression::Gzip, Compression::Lz4, Compression::Zstd] {
            let one = compressed(codec, &zeros);
            let bomb = one.repeat(1024);
            assert_eq!(err(decompress(codec, &bomb, MIB)), too_large(codec, MIB));
            // Still exactly one MiB is fine.
            assert_eq!(decompress(codec, &one, MIB).unwrap().len(), MIB);
        }
        // Xerial: 100 blocks of one MiB each.
        let block = compressed(Compression::Snappy, &zeros);
        let mut bomb = xerial_header();
        for _ in 0..100 {
            bomb.extend((block.len() as i32).to_be_bytes());
            bomb.extend(&block);
        }
        let snappy = Compression::Snappy;
        assert_eq!(err(decompress(snappy, &bomb, MIB)), too_large(snappy, MIB));
    }

    /// A hand-built zstd frame of RLE blocks: 4 input bytes per 128 KiB of output,
    /// 16 GiB in all. Finishing (or buffering) it would exhaust memory, so passing
    /// shows the decoder stops within the cap.
    #[test]
    fn zstd_rle_bomb_of_sixteen_gib_fails_fast() {
        const BLOCK: u32 = 128 * 1024;
        let blocks = 16 * 1024 * 1024 * 1024 / BLOCK as u64;
        let mut frame = vec![0x28, 0xb5, 0x2f, 0xfd]; // magic, little-endian
        frame.push(0x00); // no content size, not single-segment, no checksum
        frame.push(7 << 3); // window 2^(10+7) = 128 KiB
        for i in 0..blocks {
            let last = u32::from(i + 1 == blocks);
            let header = last | (1 << 1) | (BLOCK << 3); // RLE block
            frame.extend(&header.to_le_bytes()[..3]);
            frame.push(b'z');
        }
        let start = std::time::Instant::now();
        let zstd = Compression::Zstd;
        assert_eq!(err(decompress(zstd, &frame, MIB)), too_large(zstd, MIB));
        assert!(start.elapsed() < std::time::Duration::from_secs(30));
        // The same shape with one block decodes: the frame is valid.
        let mut one = frame[..6].to_vec();
        one.extend(&(1 | (1 << 1) | (BLOCK << 3)).to_le_bytes()[..3]);
        one.push(b'z');
        assert!(decompress(zstd, &one, MIB).unwrap() == vec![b'z'; BLOCK as usize]);
    }

    #[test]
    fn raw_snappy_that_claims_too_much_is_refused_before_allocating() {
        // Varint length 100 MiB, then nothing.
        let mut claim = Vec::new();
        let mut len = 100 * MIB as u64;
        while len >= 0x80 {
            claim.push(len as u8 | 0x80);
            len >>= 7;
        }
        claim.push(len as u8);
        let snappy = Compression::Snappy;
        assert_eq!(err(decompress(snappy, &claim, MIB)), too_large(snappy, MIB));
    }

    #[test]
    fn zstd_window_limit_follows_the_cap_with_a_floor() {
        assert_eq!(zstd_window_log_max(0), ZSTD_WINDOW_LOG_FLOOR);
        assert_eq!(zstd_window_log_max(MIB), ZSTD_WINDOW_LOG_FLOOR);
        assert_eq!(zstd_window_log_max(64 * MIB), 26);
        assert_eq!(zstd_window_log_max(64 * MIB + 1), 27);
        assert_eq!(zstd_window_log_max(usize::MAX), ZSTD_WINDOW_LOG_CEILING);
        // A frame that asks for a 1 GiB window is refused before any allocation.
        let mut frame = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 20 << 3];
        frame.extend(&(1u32 | (1 << 1) | (16 << 3)).to_le_bytes()[..3]);
        frame.push(b'z');
        let zstd = Compression::Zstd;
        assert!(matches!(
            err(decompress(zstd, &frame, MIB)),
            CompressionError::Corrupt { .. }
        ));
        // With 2^27 window it decodes once the cap allows such a window.
        frame[5] = 17 << 3;
        assert!(decompress(zstd, &frame, MIB).is_err());
        assert_eq!(decompress(zstd, &frame, 128 * MIB).unwrap(), vec![b'z'; 16]);
    }

    /// A frame as zstd-jni's stream (Kafka's Java client) writes it: no pledged
    /// size, so the window is the level's default, and still within the floor.
    #[test]
    fn zstd_streamed_without_content_size_at_level_19_decodes_under_a_small_cap() {
        let input = mixed(64 * 1024, 5);
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 19).unwrap();
        enc.write_all(&input).unwrap();
        let frame = enc.finish().unwrap();
        assert!(decompress(Compression::Zstd, &frame, input.len()).unwrap() == input);
    }

    fn xerial_header() -> Vec<u8> {
        let mut out = XERIAL_MAGIC.to_vec();
        out.extend(1i32.to_be_bytes()); // version
        out.extend(1i32.to_be_bytes()); // compatible version
        out
    }

    #[test]
    fn hand_built_xerial_snappy_decodes() {
        let parts: [&[u8]; 3] = [b"hello, ", b"xerial ", b"snappy-java framing"];
        let mut framed = xerial_header();
        for part in parts {
            let block = snap::raw::Encoder::new().compress_vec(part).unwrap();
            framed.extend((block.len() as i32).to_be_bytes());
            framed.extend(block);
        }
        let snappy = Compression::Snappy;
        assert_eq!(
            decompress(snappy, &framed, 1024).unwrap(),
            b"hello, xerial snappy-java framing"
        );
        // The cap covers all blocks together.
        assert_eq!(err(decompress(snappy, &framed, 20)), too_large(snappy, 20));
        // A header with no blocks is an empty stream.
        assert_eq!(decompress(snappy, &xerial_header(), 0).unwrap(), b"");
    }

    #[test]
    fn bad_xerial_framing_is_an_error() {
        let snappy = Compression::Snappy;
        let block = snap::raw::Encoder::new().compress_vec(b"abc").unwrap();
        let with_len = |len: i32| {
            let mut f = xerial_header();
            f.extend(len.to_be_bytes());
            f.extend(&block);
            f
        };
        let cases = [
            XERIAL_MAGIC.to_vec(),            // header cut short
            with_len(block.len() as i32 + 1), // block runs past the end
            with_len(-1),
            with_len(0),
            {
                let mut f = with_len(block.len() as i32);
                f.extend([0, 0]); // half a length
                f
            },
        ];
        for case in cases {
            assert!(
                matches!(
                    decompress(snappy, &case, 1024),
                    Err(CompressionError::Corrupt { .. })
                ),
                "{case:?}"
            );
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for codec in Compression::ALL.into_iter().skip(1) {
            assert!(matches!(
                decompress(codec, b"", 1024),
                Err(CompressionError::Corrupt { .. })
            ));
            for len in [1, 2, 5, 16, 100, 4096] {
                for _ in 0..20 {
                    let garbage = rng.bytes(len);
                    let got = decompress(codec, &garbage, 64 * 1024);
                    // Gzip, LZ4 and zstd start with magic, so random bytes never
                    // decode; a random raw snappy block might, rarely.
                    if codec != Compression::Snappy {
                        assert!(got.is_err(), "{codec}: {garbage:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn truncated_and_corrupted_streams_are_errors_not_panics() {
        let mut rng = XorShift(42);
        let input = mixed(20_000, 9);
        for codec in Compression::ALL.into_iter().skip(1) {
            let packed = compressed(codec, &input);
            for cut in (0..packed.len()).step_by(7) {
                assert!(
                    decompress(codec, &packed[..cut], input.len()).is_err(),
                    "{codec} cut at {cut} of {}",
                    packed.len()
                );
            }
            for _ in 0..200 {
                let mut bad = packed.clone();
                let at = rng.next() as usize % bad.len();
                bad[at] ^= 1 << (rng.next() % 8);
                // Must return, either way; a flip in a literal may still decode.
                let _ = decompress(codec, &bad, input.len());
            }
        }
    }

    #[test]
    fn gzip_members_and_lz4_and_zstd_frames_concatenate() {
        for codec in [Compression::Gzip, Compression::Lz4, Compression::Zstd] {
            let mut two = compressed(codec, b"first ");
            compress(codec, b"second", &mut two).unwrap();
            assert_eq!(decompress(codec, &two, 100).unwrap(), b"first second");
        }
    }

    #[test]
    fn lz4_frame_variants_decode_and_truncation_is_caught() {
        use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
        let input = mixed(300_000, 13);
        let variants = [
            FrameInfo::new().content_checksum(true),
            FrameInfo::new().block_checksums(true),
            FrameInfo::new().content_size(Some(input.len() as u64)),
            FrameInfo::new()
                .block_mode(BlockMode::Linked)
                .block_size(BlockSize::Max256KB),
        ];
        let lz4 = Compression::Lz4;
        for info in variants {
            let mut enc = FrameEncoder::with_frame_info(info.clone(), Vec::new());
            enc.write_all(&input).unwrap();
            let frame = enc.finish().unwrap();
            assert!(
                decompress(lz4, &frame, input.len()).unwrap() == input,
                "{info:?}"
            );
            // Ending anywhere before the end mark (or content checksum) is an error,
            // although lz4_flex alone would call a block boundary a clean end.
            for cut in [frame.len() - 1, frame.len() - 4, frame.len() / 2, 7] {
                assert!(matches!(
                    decompress(lz4, &frame[..cut], input.len()),
                    Err(CompressionError::Corrupt { .. })
                ));
            }
        }
        // A skippable frame (any of its 16 magics) between two frames is skipped.
        let mut stream = compressed(lz4, b"ab");
        stream.extend(0x184D_2A5Au32.to_le_bytes());
        stream.extend(3u32.to_le_bytes());
        stream.extend(b"xyz");
        compress(lz4, b"cd", &mut stream).unwrap();
        assert_eq!(decompress(lz4, &stream, 4).unwrap(), b"abcd");
        // A truncated skippable frame, trailing junk and the legacy format are not.
        for bad in [
            &stream[..stream.len() - 20],
            &[0x50, 0x2a, 0x4d, 0x18, 9, 0, 0, 0, 1][..],
            &[0x02, 0x21, 0x4c, 0x18, 0, 0, 0, 0][..],
        ] {
            assert!(decompress(lz4, bad, 100).is_err(), "{bad:?}");
        }
        let mut junk = compressed(lz4, b"ab");
        junk.push(0);
        assert!(decompress(lz4, &junk, 100).is_err());
    }

    #[test]
    fn none_is_a_copy_under_the_cap() {
        assert_eq!(decompress(Compression::None, b"", 0).unwrap(), b"");
        assert_eq!(decompress(Compression::None, b"abc", 3).unwrap(), b"abc");
        assert_eq!(
            err(decompress(Compression::None, b"abc", 2)),
            too_large(Compression::None, 2)
        );
    }
}
