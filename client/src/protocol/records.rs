//! RecordBatch v2: a zero-copy header view with CRC-32C validation, iteration over
//! the batches of a record set, and (for uncompressed batches) over records.
//!
//! Nothing here allocates in proportion to a count read from the wire, and nothing
//! panics on any input: lengths are checked against the bytes present first.
//! Records are never decoded by [`RecordBatchView::parse`]; [`RecordBatchView::records`]
//! walks them lazily for the callers that need them (timestamp lookup, compaction).

pub mod testing;
#[cfg(test)]
mod tests;

use bytes::Bytes;
use thiserror::Error;

use super::error::DecodeError;
use super::limits::{RECORD_BATCH_HEADER_BYTES, RECORD_BYTES_MIN};
use super::reader::Reader;

/// Offset of `batchLength` (bytes after it = the rest of the batch).
const BATCH_LENGTH_OFFSET: usize = 8;
/// Bytes up to and including `batchLength`: baseOffset and batchLength.
pub const LOG_OVERHEAD_BYTES: usize = 12;
/// Offset of `partitionLeaderEpoch`.
const PARTITION_LEADER_EPOCH_OFFSET: usize = 12;
/// Offset of `magic` (the same in legacy message sets, so they can be told apart).
const MAGIC_OFFSET: usize = 16;
/// Offset of `crc`.
const CRC_OFFSET: usize = 17;
/// Offset of `attributes` (the CRC covers from here to the end).
pub const CRC_COVERED_FROM: usize = 21;
/// Offset of `lastOffsetDelta`.
const LAST_OFFSET_DELTA_OFFSET: usize = 23;
/// Offset of `baseTimestamp`.
const BASE_TIMESTAMP_OFFSET: usize = 27;
/// Offset of `maxTimestamp`.
const MAX_TIMESTAMP_OFFSET: usize = 35;
/// Offset of `producerId`.
const PRODUCER_ID_OFFSET: usize = 43;
/// Offset of `producerEpoch`.
const PRODUCER_EPOCH_OFFSET: usize = 51;
/// Offset of `baseSequence`.
const BASE_SEQUENCE_OFFSET: usize = 53;
/// Offset of `recordCount`.
const RECORD_COUNT_OFFSET: usize = 57;
/// Bytes needed to read `batchLength` and `magic`.
const PEEK_BYTES: usize = MAGIC_OFFSET + 1;

/// The only magic this module reads.
pub const MAGIC_V2: i8 = 2;
/// Attribute bits of the compression codec.
pub const COMPRESSION_CODEC_MASK: i16 = 0x07;
/// Attribute bit: timestamps are LogAppendTime.
pub const TIMESTAMP_TYPE_MASK: i16 = 0x08;
/// Attribute bit: part of a transaction.
pub const TRANSACTIONAL_MASK: i16 = 0x10;
/// Attribute bit: a control batch (transaction markers).
pub const CONTROL_MASK: i16 = 0x20;

const _: () = assert!(RECORD_COUNT_OFFSET + 4 == RECORD_BATCH_HEADER_BYTES);
const _: () = assert!(CRC_OFFSET + 4 == CRC_COVERED_FROM);
const _: () = assert!(PEEK_BYTES <= RECORD_BATCH_HEADER_BYTES);

/// Why a record set is not a valid sequence of v2 batches.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BatchError {
    /// Fewer bytes than the batch header or its declared length. At the end of a
    /// fetched record set this is the normal partial trailing batch; inside a
    /// produce request it means corruption.
    #[error("truncated batch at byte {position}: needs {needed} bytes, {remaining} remain")]
    Truncated {
        /// Where the batch starts in the record set.
        position: usize,
        /// Bytes the batch declares (or the header needs).
        needed: usize,
        /// Bytes present from `position`.
        remaining: usize,
    },
    /// Magic 0 or 1: a legacy message set (UNSUPPORTED_FOR_MESSAGE_FORMAT).
    #[error("unsupported record batch magic {magic}")]
    UnsupportedMagic {
        /// The magic byte found.
        magic: i8,
    },
    /// A magic that no Kafka version ever wrote (CORRUPT_MESSAGE).
    #[error("unknown record batch magic {magic}")]
    UnknownMagic {
        /// The magic byte found.
        magic: i8,
    },
    /// The stored CRC does not match the bytes.
    #[error("CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// The CRC in the header.
        stored: u32,
        /// The CRC-32C of the bytes from `attributes` to the end.
        computed: u32,
    },
    /// Header fields that contradict each other or the byte count.
    #[error("invalid batch header: {0}")]
    Invalid(&'static str),
    /// recordCount does not match the offsets the batch spans.
    #[error("recordCount {record_count} inconsistent with lastOffsetDelta {last_offset_delta}")]
    InconsistentCount {
        /// The header's recordCount.
        record_count: i32,
        /// The header's lastOffsetDelta.
        last_offset_delta: i32,
    },
    /// A record of an uncompressed batch could not be read.
    #[error("malformed record {index}: {reason}")]
    MalformedRecord {
        /// Position of the record in the batch (0-based).
        index: usize,
        /// What was wrong with it.
        reason: DecodeError,
    },
    /// Bytes left in the batch after recordCount records (Kafka: "Incorrect
    /// declared batch size").
    #[error("{remaining} bytes after the last declared record")]
    TrailingRecordBytes {
        /// Bytes left over.
        remaining: usize,
    },
}

/// A validated view of one RecordBatch v2 (lengths, magic, CRC and header
/// consistency were checked by [`RecordBatchView::parse`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBatchView {
    /// The whole batch, from baseOffset to its last byte (at least the header).
    bytes: Bytes,
}

fn i16_at(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn i64_at(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// The declared total length of the batch at the front of `data`, checked against
/// the bytes present and the header size; magic is checked first, since a legacy
/// message set has a different layout after it.
pub fn batch_total_len(data: &[u8], position: usize) -> Result<usize, BatchError> {
    if data.len() < PEEK_BYTES {
        return Err(BatchError::Truncated {
            position,
            needed: PEEK_BYTES,
            remaining: data.len(),
        });
    }
    match data[MAGIC_OFFSET] as i8 {
        MAGIC_V2 => {}
        magic @ (0 | 1) => return Err(BatchError::UnsupportedMagic { magic }),
        magic => return Err(BatchError::UnknownMagic { magic }),
    }
    let batch_length = i32_at(data, BATCH_LENGTH_OFFSET);
    let total = usize::try_from(batch_length)
        .ok()
        .map(|len| LOG_OVERHEAD_BYTES + len)
        .filter(|&total| total >= RECORD_BATCH_HEADER_BYTES)
        .ok_or(BatchError::Invalid("batchLength shorter than the header"))?;
    if data.len() < total {
        return Err(BatchError::Truncated {
            position,
            needed: total,
            remaining: data.len(),
        });
    }
    Ok(total)
}

impl RecordBatchView {
    /// Validates the batch at the front of `data` (lengths, magic, CRC, header
    /// consistency); returns the view and the batch's total length. Bytes after the
    /// batch are left alone (the next batch of a set).
    pub fn parse(data: &Bytes) -> Result<(Self, usize), BatchError> {
        let len = batch_total_len(data, 0)?;
        let view = Self {
            bytes: data.slice(..len),
        };
        view.check()?;
        Ok((view, len))
    }

    /// Checks that hold for every v2 batch, including those a compacted log keeps
    /// (which may hold fewer records than the offsets they span, or none).
    fn check(&self) -> Result<(), BatchError> {
        let stored = self.crc();
        let computed = crc32c::crc32c(&self.bytes[CRC_COVERED_FROM..]);
        if stored != computed {
            return Err(BatchError::CrcMismatch { stored, computed });
        }
        let count = self.record_count();
        let last_offset_delta = self.last_offset_delta();
        let inconsistent = BatchError::InconsistentCount {
            record_count: count,
            last_offset_delta,
        };
        if count < 0 || last_offset_delta < 0 {
            return Err(inconsistent);
        }
        // Records span distinct offsets, so there are at most lastOffsetDelta + 1.
        if i64::from(count) > i64::from(last_offset_delta) + 1 {
            return Err(inconsistent);
        }
        let records_bytes = self.bytes.len() - RECORD_BATCH_HEADER_BYTES;
        // A compressed batch's count is not bounded by its size; whoever
        // decompresses it bounds the output instead.
        if self.compression() == 0 && count as usize > records_bytes / RECORD_BYTES_MIN {
            return Err(BatchError::Invalid(
                "recordCount larger than the batch's bytes can hold",
            ));
        }
        if count == 0 && self.compression() == 0 && records_bytes > 0 {
            return Err(BatchError::Invalid("records present but recordCount is 0"));
        }
        Ok(())
    }

    /// The extra checks for a batch a producer sent (Kafka's LogValidator): at
    /// least one record, and exactly one record per offset it spans. A compacted
    /// log's batches may fail these; freshly produced ones must pass.
    pub fn check_produced(&self) -> Result<(), BatchError> {
        let (count, last_offset_delta) = (self.record_count(), self.last_offset_delta());
        if count <= 0 || i64::from(count) != i64::from(last_offset_delta) + 1 {
            return Err(BatchError::InconsistentCount {
                record_count: count,
                last_offset_delta,
            });
        }
        Ok(())
    }

    /// The batch bytes, header included.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The bytes after the header: the records, compressed or not.
    pub fn records_bytes(&self) -> Bytes {
        self.bytes.slice(RECORD_BATCH_HEADER_BYTES..)
    }

    /// Offset of the first record.
    pub fn base_offset(&self) -> i64 {
        i64_at(&self.bytes, 0)
    }

    /// Offset of the last record (`baseOffset + lastOffsetDelta`, saturating).
    pub fn last_offset(&self) -> i64 {
        self.base_offset()
            .saturating_add(i64::from(self.last_offset_delta()))
    }

    /// Bytes after the `batchLength` field.
    pub fn batch_length(&self) -> i32 {
        i32_at(&self.bytes, BATCH_LENGTH_OFFSET)
    }

    /// Leader epoch stamped by the broker that appended the batch.
    pub fn partition_leader_epoch(&self) -> i32 {
        i32_at(&self.bytes, PARTITION_LEADER_EPOCH_OFFSET)
    }

    /// Always 2 for a parsed view.
    pub fn magic(&self) -> i8 {
        self.bytes[MAGIC_OFFSET] as i8
    }

    /// The stored CRC-32C (checked by `parse`).
    pub fn crc(&self) -> u32 {
        i32_at(&self.bytes, CRC_OFFSET) as u32
    }

    /// The raw attributes.
    pub fn attributes(&self) -> i16 {
        i16_at(&self.bytes, CRC_COVERED_FROM)
    }

    /// 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd (5–7 are invalid).
    pub fn compression(&self) -> i16 {
        self.attributes() & COMPRESSION_CODEC_MASK
    }

    /// Whether timestamps are the broker's (LogAppendTime) rather than CreateTime.
    pub fn is_log_append_time(&self) -> bool {
        self.attributes() & TIMESTAMP_TYPE_MASK != 0
    }

    /// Whether the batch is part of a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes() & TRANSACTIONAL_MASK != 0
    }

    /// Whether the batch holds control records (transaction markers).
    pub fn is_control(&self) -> bool {
        self.attributes() & CONTROL_MASK != 0
    }

    /// Offset of the last record relative to `baseOffset`.
    pub fn last_offset_delta(&self) -> i32 {
        i32_at(&self.bytes, LAST_OFFSET_DELTA_OFFSET)
    }

    /// Timestamp of the first record (CreateTime batches).
    pub fn base_timestamp(&self) -> i64 {
        i64_at(&self.bytes, BASE_TIMESTAMP_OFFSET)
    }

    /// Largest record timestamp (or the append time for LogAppendTime batches).
    pub fn max_timestamp(&self) -> i64 {
        i64_at(&self.bytes, MAX_TIMESTAMP_OFFSET)
    }

    /// Idempotent producer id, or -1.
    pub fn producer_id(&self) -> i64 {
        i64_at(&self.bytes, PRODUCER_ID_OFFSET)
    }

    /// Idempotent producer epoch, or -1.
    pub fn producer_epoch(&self) -> i16 {
        i16_at(&self.bytes, PRODUCER_EPOCH_OFFSET)
    }

    /// Sequence number of the first record, or -1.
    pub fn base_sequence(&self) -> i32 {
        i32_at(&self.bytes, BASE_SEQUENCE_OFFSET)
    }

    /// Records in the batch (checked against the bytes when uncompressed).
    pub fn record_count(&self) -> i32 {
        i32_at(&self.bytes, RECORD_COUNT_OFFSET)
    }

    /// Records of an uncompressed batch (`None` for a compressed one).
    pub fn records(&self) -> Option<Records> {
        (self.compression() == 0).then(|| Records {
            reader: Reader::new(self.records_bytes()),
            index: 0,
            count: self.record_count().max(0) as usize,
            done: false,
        })
    }
}

/// Records of a records section (the bytes after a batch header, decompressed
/// if the batch was compressed) that declares `count` records.
pub fn records_of(body: Bytes, count: i32) -> Records {
    Records {
        reader: Reader::new(body),
        index: 0,
        count: count.max(0) as usize,
        done: false,
    }
}

/// What [`batches`] yields: a valid batch and its total length, or why the set stops.
pub type BatchItem = Result<(RecordBatchView, usize), BatchError>;

/// Iterates the batches of a record set. Stops after the first error; a partial
/// trailing batch (which a Kafka fetch response may contain) is `Truncated`,
/// distinct from `CrcMismatch`/`Invalid` corruption.
pub fn batches(records: &Bytes) -> Batches {
    Batches {
        rest: records.clone(),
        position: 0,
        failed: false,
    }
}

/// Iterator returned by [`batches`].
#[derive(Debug, Clone)]
pub struct Batches {
    /// Bytes not yet iterated.
    rest: Bytes,
    /// Position of `rest` in the record set (for errors).
    position: usize,
    /// An error was yielded; iteration is over.
    failed: bool,
}

impl Iterator for Batches {
    type Item = BatchItem;

    fn next(&mut self) -> Option<BatchItem> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let parsed = batch_total_len(&self.rest, self.position)
            .and_then(|_| RecordBatchView::parse(&self.rest));
        match parsed {
            Ok((view, len)) => {
                self.rest = self.rest.slice(len..);
                self.position += len;
                Some(Ok((view, len)))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// One record of an uncompressed batch; every field borrows the batch's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Offset relative to the batch's base offset.
    pub offset_delta: i32,
    /// Timestamp relative to the batch's base timestamp.
    pub timestamp_delta: i64,
    /// Key (nullable).
    pub key: Option<Bytes>,
    /// Value (nullable; null is a tombstone in compacted topics).
    pub value: Option<Bytes>,
    /// Headers as (key, value); keys are never null.
    pub headers: Vec<(Bytes, Option<Bytes>)>,
}

/// Iterator over the records of an uncompressed batch. Stops after the first
/// error; after the last declared record, leftover bytes are one final error.
#[derive(Debug, Clone)]
pub struct Records {
    /// The records section not yet read.
    reader: Reader,
    /// Index of the next record.
    index: usize,
    /// Records declared by recordCount.
    count: usize,
    /// An error was yielded or the end was checked.
    done: bool,
}

impl Iterator for Records {
    type Item = Result<Record, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.index == self.count {
            self.done = true;
            return match self.reader.remaining() {
                0 => None,
                remaining => Some(Err(BatchError::TrailingRecordBytes { remaining })),
            };
        }
        let index = self.index;
        self.index += 1;
        let record = decode_record(&mut self.reader)
            .map_err(|reason| BatchError::MalformedRecord { index, reason });
        self.done = record.is_err();
        Some(record)
    }
}

/// Reads one record: varint length, then attributes, deltas, key, value, headers,
/// which must fill that length exactly.
fn decode_record(r: &mut Reader) -> Result<Record, DecodeError> {
    let length = r.varint()?;
    let length = usize::try_from(length).map_err(|_| DecodeError::InvalidLength {
        what: "record",
        len: length.into(),
    })?;
    let mut r = Reader::new(r.take(length)?);
    let _attributes = r.i8()?;
    let timestamp_delta = r.varlong()?;
    let offset_delta = r.varint()?;
    let key = varint_bytes(&mut r, "record key")?;
    let value = varint_bytes(&mut r, "record value")?;
    let count = r.varint()?;
    // Each header takes at least two bytes (key length and value length).
    let count = usize::try_from(count)
        .ok()
        .filter(|n| n.saturating_mul(2) <= r.remaining())
        .ok_or(DecodeError::InvalidLength {
            what: "record headers",
            len: count.into(),
        })?;
    let mut headers = Vec::with_capacity(count);
    for _ in 0..count {
        let key = varint_bytes(&mut r, "header key")?
            .ok_or(DecodeError::InvalidValue { what: "header key" })?;
        headers.push((key, varint_bytes(&mut r, "header value")?));
    }
    r.finish()?;
    Ok(Record {
        offset_delta,
        timestamp_delta,
        key,
        value,
        headers,
    })
}

/// Varint-length-prefixed bytes; -1 is null.
fn varint_bytes(r: &mut Reader, what: &'static str) -> Result<Option<Bytes>, DecodeError> {
    match r.varint()? {
        -1 => Ok(None),
        len if len < 0 => Err(DecodeError::InvalidLength {
            what,
            len: len.into(),
        }),
        len => Ok(Some(r.take(len as usize)?)),
    }
}
