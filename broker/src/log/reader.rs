//! The shared, read-only view of a log ([`LogReader`]): fetches read whole batches
//! with positional reads, bounded by what the writer has published, without ever
//! queueing behind the writer; OffsetForLeaderEpoch reads the leader-epoch cache.

use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use thiserror::Error;

use super::batch::{self, BatchHeader};
use super::segment::Segment;
use super::store::Shared;

/// Longest single read served (a fetch asks for less).
pub const READ_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Why a read failed.
#[derive(Debug, Error)]
pub enum ReadError {
    /// The offset is outside [log start, log end] (Kafka's OFFSET_OUT_OF_RANGE).
    #[error("offset {offset} out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        /// The offset asked for.
        offset: i64,
        /// First readable offset.
        log_start_offset: i64,
        /// Offset after the last batch.
        log_end_offset: i64,
    },
    /// File I/O failed.
    #[error("log read I/O: {0}")]
    Io(#[from] io::Error),
}

/// Whole batches read from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadResult {
    /// Concatenated whole batches (possibly empty).
    pub records: Bytes,
}

/// The shared, read-only view of a log. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct LogReader {
    /// The log's shared state.
    shared: Arc<Shared>,
}

impl LogReader {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// First readable offset.
    pub fn log_start_offset(&self) -> i64 {
        self.shared.log_start_offset.load(Ordering::Acquire)
    }

    /// Offset after the last readable batch.
    pub fn log_end_offset(&self) -> i64 {
        self.shared.log_end_offset.load(Ordering::Acquire)
    }

    /// The newest leader epoch in the epoch cache, or -1 when it is empty.
    pub fn latest_epoch(&self) -> i32 {
        self.shared.epochs.read().latest_epoch()
    }

    /// OffsetForLeaderEpoch (Kafka's endOffsetFor): (the largest epoch at or
    /// below `requested`, the offset where the epoch after it starts); the latest
    /// epoch ends at the log end. (-1, -1) for a negative or unknown epoch; an
    /// epoch below every cached one is answered with itself and the earliest
    /// entry's start.
    pub fn end_offset_for_epoch(&self, requested: i32) -> (i32, i64) {
        let epochs = self.shared.epochs.read();
        // Loaded under the lock: a truncation moves both together.
        epochs.end_offset_for(requested, self.log_end_offset())
    }

    /// Bytes of all segments.
    pub fn size_bytes(&self) -> u64 {
        self.shared.segments.read().iter().map(|s| s.size()).sum()
    }

    fn out_of_range(&self, offset: i64) -> ReadError {
        ReadError::OffsetOutOfRange {
            offset,
            log_start_offset: self.log_start_offset(),
            log_end_offset: self.log_end_offset(),
        }
    }

    /// Whole batches from the one containing `fetch_offset`, below `max_offset`
    /// (the high watermark), within `max_bytes` — except that with `min_one` the
    /// first batch is returned even when larger (KIP-74).
    pub fn read(
        &self,
        fetch_offset: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one: bool,
    ) -> Result<ReadResult, ReadError> {
        let end = self.log_end_offset();
        if fetch_offset < self.log_start_offset() || fetch_offset > end {
            return Err(self.out_of_range(fetch_offset));
        }
        let segments = self.shared.segments.read().clone();
        // Retention may have deleted segments since the start was read.
        if segments
            .first()
            .is_none_or(|s| fetch_offset < s.base_offset)
        {
            return Err(self.out_of_range(fetch_offset));
        }
        let upper = max_offset.min(end);
        let first = segments.partition_point(|s| s.base_offset <= fetch_offset) - 1;
        for segment in &segments[first..] {
            if fetch_offset >= upper {
                break;
            }
            let max_bytes = max_bytes.min(READ_BYTES_MAX);
            if let Some(records) = read_segment(segment, fetch_offset, max_bytes, upper, min_one)? {
                return Ok(ReadResult { records });
            }
        }
        Ok(ReadResult {
            records: Bytes::new(),
        })
    }

    /// The first record at or after `ts` at or after the log start: (offset, its
    /// timestamp). Segments are skipped by their max timestamp, the time index
    /// gives where to start scanning, and uncompressed CreateTime batches are
    /// searched record by record as Kafka does; others answer with their first
    /// offset and max timestamp.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>, io::Error> {
        let start = self.log_start_offset();
        let segments = self.shared.segments.read().clone();
        for segment in segments
            .iter()
            .filter(|s| s.max_timestamp.load(Ordering::Acquire) >= ts)
        {
            let from =
                segment.base_offset + i64::from(segment.index.read().scan_start_for_time(ts));
            let Some((mut position, _)) = segment.find_position(from.max(start))? else {
                continue;
            };
            let limit = segment.size();
            while let Some(header) = segment.header_at(position, limit)? {
                if header.max_timestamp >= ts && header.last_offset >= start {
                    let found = first_record_at(segment, position, &header, ts, start)?;
                    return Ok(Some(found));
                }
                position += header.total_len;
            }
        }
        Ok(None)
    }
}

/// The first record at or after `ts` (and `start`) in the batch at `position`.
fn first_record_at(
    segment: &Segment,
    position: u64,
    header: &BatchHeader,
    ts: i64,
    start: i64,
) -> io::Result<(i64, i64)> {
    let batch_level = (header.base_offset.max(start), header.max_timestamp);
    let mut buf = vec![0u8; header.total_len as usize];
    segment.file.read_exact_at(&mut buf, position)?;
    let found = batch::find_record(&buf, |offset, timestamp| offset >= start && timestamp >= ts);
    Ok(found.unwrap_or(batch_level))
}

/// Reads from one segment; `None` when the segment holds nothing at or after
/// `fetch_offset`.
fn read_segment(
    segment: &Segment,
    fetch_offset: i64,
    max_bytes: usize,
    upper: i64,
    min_one: bool,
) -> Result<Option<Bytes>, io::Error> {
    let Some((start, first)) = segment.find_position(fetch_offset)? else {
        return Ok(None);
    };
    if first.base_offset >= upper {
        return Ok(Some(Bytes::new()));
    }
    let limit = segment.size();
    let mut end = start;
    let mut header = Some(first);
    while let Some(h) = header {
        let next_end = end + h.total_len;
        let fits = (next_end - start) as usize <= max_bytes || (min_one && end == start);
        if h.base_offset >= upper || next_end > limit || !fits {
            break;
        }
        end = next_end;
        header = segment.header_at(end, limit)?;
    }
    let mut buf = vec![0u8; (end - start) as usize];
    segment.file.read_exact_at(&mut buf, start)?;
    Ok(Some(Bytes::from(buf)))
}
