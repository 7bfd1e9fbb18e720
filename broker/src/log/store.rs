//! The log of one partition: the writer ([`Log`]) and the shared read view
//! ([`LogReader`]).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::RwLock;
use thiserror::Error;
use weir_client::protocol::records::{BatchError, RecordBatchView};

use super::checkpoint::{self, LOG_START_OFFSET_FILE, RECOVERY_POINT_FILE};
use super::flusher::FlushTarget;
use super::fs::{FileHandle, FileSystem};
use super::recovery;
use super::segment::{BATCH_HEADER_BYTES, BatchHeader, Segment};

/// Bytes between sparse offset index entries (Kafka's `index.interval.bytes`).
pub const INDEX_INTERVAL_BYTES_DEFAULT: u32 = 4096;
/// How often the recovery checkpoint is rewritten (it only shortens recovery).
pub const RECOVERY_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(5);
/// Longest single read served (a fetch asks for less).
pub const READ_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Limits and policies of one log; may change at runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Roll the active segment beyond this size.
    pub segment_bytes: u64,
    /// Roll the active segment once its first batch is this old.
    pub segment_ms: Option<u64>,
    /// Delete segments whose newest timestamp is older than this.
    pub retention_ms: Option<i64>,
    /// Delete oldest segments while the log is larger than this.
    pub retention_bytes: Option<i64>,
    /// Bytes between offset index entries.
    pub index_interval_bytes: u32,
    /// Largest batch accepted.
    pub max_message_bytes: u32,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            segment_bytes: 1 << 30,
            segment_ms: Some(7 * 24 * 3600 * 1000),
            retention_ms: Some(7 * 24 * 3600 * 1000),
            retention_bytes: None,
            index_interval_bytes: INDEX_INTERVAL_BYTES_DEFAULT,
            max_message_bytes: 1024 * 1024 + 12,
        }
    }
}

/// Why a log operation failed.
#[derive(Debug, Error)]
pub enum LogError {
    /// The batch is not a valid v2 batch (the client's fault; nothing written).
    #[error("corrupt batch at offset {base_offset}, position {position}: {reason}")]
    Corrupt {
        base_offset: i64,
        position: u64,
        reason: String,
    },
    /// The batch exceeds `max_message_bytes` (nothing written).
    #[error("batch of {size} bytes exceeds the maximum of {max}")]
    MessageTooLarge { size: usize, max: usize },
    /// File I/O failed.
    #[error("log I/O on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    /// An earlier write or fsync failed: the log refuses further appends until it
    /// is reopened (recovered) from disk.
    #[error("log failed earlier and refuses appends: {0}")]
    Failed(String),
}

/// Why a read failed.
#[derive(Debug, Error)]
pub enum ReadError {
    /// The offset is outside [log start, log end].
    #[error("offset {offset} out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start_offset: i64,
        log_end_offset: i64,
    },
    /// File I/O failed.
    #[error("log read I/O: {0}")]
    Io(#[from] io::Error),
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset given to the first record.
    pub base_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
    /// Largest timestamp in the batch (after LogAppendTime stamping).
    pub max_timestamp: i64,
    /// The stamp for LogAppendTime topics.
    pub log_append_time: Option<i64>,
}

/// Whole batches read from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadResult {
    /// Concatenated batches (possibly empty).
    pub records: Bytes,
}

/// State shared by the writer and every reader.
pub(super) struct Shared {
    /// Segments in offset order; the last is active.
    pub segments: RwLock<Vec<Arc<Segment>>>,
    /// First readable offset.
    pub log_start_offset: AtomicI64,
    /// Offset after the last readable batch.
    pub log_end_offset: AtomicI64,
}

/// The shared, read-only view of a log. Cheap to clone.
#[derive(Clone)]
pub struct LogReader {
    /// The log's shared state.
    shared: Arc<Shared>,
}

/// The writable log of one partition; owned by its partition actor.
pub struct Log {
    /// Partition directory.
    pub(super) dir: PathBuf,
    /// Current limits.
    pub(super) config: LogConfig,
    /// The file-system seam.
    pub(super) fs: Arc<dyn FileSystem>,
    /// State readers share.
    pub(super) shared: Arc<Shared>,
    /// Everything below this offset is fsynced.
    pub(super) flushed_offset: i64,
    /// Sealed segments with data not yet fsynced.
    pub(super) unflushed_sealed: Vec<Arc<dyn FileHandle>>,
    /// Bytes appended to the active segment since its last index entry.
    pub(super) bytes_since_index: u64,
    /// When the recovery checkpoint was last handed to the flusher.
    pub(super) last_checkpoint: Instant,
    /// Set after a write failure: the log refuses appends.
    pub(super) failed: Option<String>,
}

impl Log {
    /// Opens the log in `dir`, recovering the tail after the recovery checkpoint.
    pub fn open(dir: &Path, config: LogConfig, fs: Arc<dyn FileSystem>) -> Result<Log, LogError> {
        recovery::open(dir, config, fs)
    }

    /// The shared read view.
    pub fn reader(&self) -> LogReader {
        LogReader {
            shared: self.shared.clone(),
        }
    }

    /// Changes limits (segment size, retention, max batch size) from now on.
    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    /// Offsets below this are fsynced.
    pub fn flushed_offset(&self) -> i64 {
        self.flushed_offset
    }

    pub(super) fn io(&self, path: &Path) -> impl FnOnce(io::Error) -> LogError {
        let path = path.to_owned();
        move |source| LogError::Io { path, source }
    }

    fn active(&self) -> Arc<Segment> {
        self.shared
            .segments
            .read()
            .last()
            .cloned()
            .expect("a log always has an active segment")
    }

    /// Validates a v2 batch, gives it offsets, and writes it to the active segment.
    /// Only the 61-byte header is copied and rewritten (base offset, leader epoch,
    /// and for LogAppendTime the timestamp type, max timestamp and CRC).
    pub fn append(
        &mut self,
        batch: Bytes,
        append_time: Option<i64>,
        leader_epoch: i32,
    ) -> Result<AppendInfo, LogError> {
        if let Some(reason) = &self.failed {
            return Err(LogError::Failed(reason.clone()));
        }
        let view = validate(&batch, self.config.max_message_bytes as usize)?;
        let base_offset = self.shared.log_end_offset.load(Ordering::Acquire);
        let last_offset = base_offset + i64::from(view.last_offset_delta());
        let mut max_timestamp = view.max_timestamp();
        let mut header = [0u8; BATCH_HEADER_BYTES];
        header.copy_from_slice(&batch[..BATCH_HEADER_BYTES]);
        header[0..8].copy_from_slice(&base_offset.to_be_bytes());
        header[12..16].copy_from_slice(&leader_epoch.to_be_bytes());
        if let Some(now) = append_time {
            stamp_log_append_time(&mut header, &batch[BATCH_HEADER_BYTES..], now);
            max_timestamp = now;
        }
        self.maybe_roll(batch.len() as u64, base_offset)?;
        let body = &batch[BATCH_HEADER_BYTES..];
        if let Err(e) = self.write_to_active(&header, body, base_offset, last_offset, max_timestamp)
        {
            self.failed = Some(e.to_string());
            return Err(e);
        }
        Ok(AppendInfo {
            base_offset,
            last_offset,
            max_timestamp,
            log_append_time: append_time,
        })
    }

    fn write_to_active(
        &mut self,
        header: &[u8],
        body: &[u8],
        base_offset: i64,
        last_offset: i64,
        max_timestamp: i64,
    ) -> Result<(), LogError> {
        let active = self.active();
        let position = active.size();
        let batch_len = (header.len() + body.len()) as u64;
        active
            .file
            .write_all_at(header, position)
            .map_err(self.io(&active.path))?;
        active
            .file
            .write_all_at(body, position + header.len() as u64)
            .map_err(self.io(&active.path))?;
        let relative = (base_offset - active.base_offset) as u32;
        {
            let mut index = active.index.write();
            if index.offsets.is_empty()
                || self.bytes_since_index >= u64::from(self.config.index_interval_bytes)
            {
                index.offsets.push((relative, position as u32));
                self.bytes_since_index = 0;
            }
            if max_timestamp > active.max_timestamp.load(Ordering::Acquire) {
                index.times.push((max_timestamp, relative));
                active.max_timestamp.store(max_timestamp, Ordering::Release);
            }
        }
        self.bytes_since_index += batch_len;
        if active.first_append_ms.load(Ordering::Acquire) < 0 {
            active.first_append_ms.store(now_ms(), Ordering::Release);
        }
        // Publish: size first, then the offsets readers use to bound reads.
        active.size.store(position + batch_len, Ordering::Release);
        active.next_offset.store(last_offset + 1, Ordering::Release);
        self.shared
            .log_end_offset
            .store(last_offset + 1, Ordering::Release);
        Ok(())
    }

    /// Rolls to a new segment when the active one is non-empty and the batch would
    /// overflow it, or when it is older than `segment_ms`.
    fn maybe_roll(&mut self, batch_bytes: u64, next_offset: i64) -> Result<(), LogError> {
        let active = self.active();
        let size = active.size();
        if size == 0 {
            return Ok(());
        }
        let full = size + batch_bytes > self.config.segment_bytes;
        let first = active.first_append_ms.load(Ordering::Acquire);
        let old = self
            .config
            .segment_ms
            .is_some_and(|ms| first >= 0 && now_ms() - first >= ms as i64);
        if !(full || old || size + batch_bytes > u64::from(u32::MAX)) {
            return Ok(());
        }
        self.roll(next_offset)
    }

    /// Seals the active segment (writes its index files) and starts a new one.
    pub(super) fn roll(&mut self, next_offset: i64) -> Result<(), LogError> {
        let active = self.active();
        active
            .index
            .read()
            .write(
                &*self.fs,
                &active.sibling("index"),
                &active.sibling("timeindex"),
            )
            .map_err(self.io(&active.path))?;
        let segment =
            Segment::open(&*self.fs, &self.dir, next_offset).map_err(self.io(&self.dir))?;
        segment.file.set_len(0).map_err(self.io(&segment.path))?;
        segment.size.store(0, Ordering::Release);
        segment.next_offset.store(next_offset, Ordering::Release);
        if active.next_offset() > self.flushed_offset {
            self.unflushed_sealed.push(active.file.clone());
        }
        self.shared.segments.write().push(Arc::new(segment));
        self.bytes_since_index = 0;
        Ok(())
    }

    /// What the flusher must sync to cover everything appended so far, or `None`
    /// when all is flushed. Includes the recovery checkpoint when one is due.
    pub fn flush_handle(&mut self) -> Option<FlushTarget> {
        let up_to = self.shared.log_end_offset.load(Ordering::Acquire);
        if up_to <= self.flushed_offset {
            return None;
        }
        let mut files = std::mem::take(&mut self.unflushed_sealed);
        files.push(self.active().file.clone());
        let checkpoint =
            (self.last_checkpoint.elapsed() >= RECOVERY_CHECKPOINT_INTERVAL).then(|| {
                self.last_checkpoint = Instant::now();
                self.dir.join(RECOVERY_POINT_FILE)
            });
        Some(FlushTarget {
            files,
            up_to,
            checkpoint,
            fs: self.fs.clone(),
        })
    }

    /// Records that the flusher synced everything below `up_to`.
    pub fn mark_flushed(&mut self, up_to: i64) -> Result<(), LogError> {
        self.flushed_offset = self.flushed_offset.max(up_to);
        Ok(())
    }

    /// Deletes whole segments beyond retention (never the active one) and advances
    /// the log start offset; returns how many were deleted.
    pub fn apply_retention(&mut self, now_ms: i64) -> Result<usize, LogError> {
        let segments = self.shared.segments.read().clone();
        let mut total: i64 = segments.iter().map(|s| s.size() as i64).sum();
        let mut deletable = 0;
        for segment in &segments[..segments.len() - 1] {
            let by_time = self.config.retention_ms.is_some_and(|ms| {
                let newest = segment.max_timestamp.load(Ordering::Acquire);
                newest >= 0 && now_ms - newest > ms
            });
            let by_size = self
                .config
                .retention_bytes
                .is_some_and(|max| total - segment.size() as i64 >= max);
            if !(by_time || by_size) || segment.next_offset() > self.flushed_offset {
                break;
            }
            total -= segment.size() as i64;
            deletable += 1;
        }
        self.delete_oldest(deletable)?;
        Ok(deletable)
    }

    /// DeleteRecords: moves the log start offset up to `offset` (at most the log
    /// end) and deletes segments wholly below it; returns the new log start.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64, LogError> {
        let end = self.shared.log_end_offset.load(Ordering::Acquire);
        let start = self.shared.log_start_offset.load(Ordering::Acquire);
        let new_start = offset.clamp(start, end);
        let segments = self.shared.segments.read().clone();
        let below = segments[..segments.len() - 1]
            .iter()
            .take_while(|s| s.next_offset() <= new_start)
            .count();
        self.shared
            .log_start_offset
            .store(new_start, Ordering::Release);
        self.delete_oldest(below)?;
        self.shared
            .log_start_offset
            .fetch_max(new_start, Ordering::AcqRel);
        self.write_log_start()?;
        Ok(new_start)
    }

    fn delete_oldest(&mut self, count: usize) -> Result<(), LogError> {
        if count == 0 {
            return Ok(());
        }
        let removed: Vec<Arc<Segment>> = {
            let mut segments = self.shared.segments.write();
            let removed = segments.drain(..count).collect();
            let next_start = segments[0].base_offset;
            self.shared
                .log_start_offset
                .fetch_max(next_start, Ordering::AcqRel);
            removed
        };
        self.write_log_start()?;
        for segment in removed {
            // Readers holding the segment keep reading the unlinked file.
            for path in [
                segment.path.clone(),
                segment.sibling("index"),
                segment.sibling("timeindex"),
            ] {
                match self.fs.remove_file(&path) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => {
                        return Err(LogError::Io { path, source: e });
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    fn write_log_start(&self) -> Result<(), LogError> {
        let path = self.dir.join(LOG_START_OFFSET_FILE);
        let start = self.shared.log_start_offset.load(Ordering::Acquire);
        checkpoint::write(&*self.fs, &path, start, false).map_err(self.io(&path))
    }
}

/// Checks a batch before anything is written: whole, magic 2, CRC, size.
fn validate(batch: &Bytes, max_message_bytes: usize) -> Result<RecordBatchView, LogError> {
    if batch.len() > max_message_bytes {
        return Err(LogError::MessageTooLarge {
            size: batch.len(),
            max: max_message_bytes,
        });
    }
    let corrupt = |reason: String| LogError::Corrupt {
        base_offset: -1,
        position: 0,
        reason,
    };
    let (view, len) =
        RecordBatchView::parse(batch).map_err(|e: BatchError| corrupt(e.to_string()))?;
    if len != batch.len() {
        return Err(corrupt(format!(
            "{} trailing bytes after the batch",
            batch.len() - len
        )));
    }
    Ok(view)
}

/// Marks a batch LogAppendTime with `now` as its max timestamp and recomputes the
/// CRC over the rewritten header and the untouched body.
fn stamp_log_append_time(header: &mut [u8; BATCH_HEADER_BYTES], body: &[u8], now: i64) {
    let attributes = i16::from_be_bytes([header[21], header[22]]) | 0x8;
    header[21..23].copy_from_slice(&attributes.to_be_bytes());
    header[35..43].copy_from_slice(&now.to_be_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&header[21..]), body);
    header[17..21].copy_from_slice(&crc.to_be_bytes());
}

pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl LogReader {
    /// First readable offset.
    pub fn log_start_offset(&self) -> i64 {
        self.shared.log_start_offset.load(Ordering::Acquire)
    }

    /// Offset after the last readable batch.
    pub fn log_end_offset(&self) -> i64 {
        self.shared.log_end_offset.load(Ordering::Acquire)
    }

    /// Bytes on disk.
    pub fn size_bytes(&self) -> u64 {
        self.shared.segments.read().iter().map(|s| s.size()).sum()
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
        let (start, end) = (self.log_start_offset(), self.log_end_offset());
        if fetch_offset < start || fetch_offset > end {
            return Err(ReadError::OffsetOutOfRange {
                offset: fetch_offset,
                log_start_offset: start,
                log_end_offset: end,
            });
        }
        let upper = max_offset.min(end);
        let segments = self.shared.segments.read().clone();
        let first = segments
            .partition_point(|s| s.base_offset <= fetch_offset)
            .saturating_sub(1);
        for segment in &segments[first..] {
            if fetch_offset >= upper {
                break;
            }
            if let Some(records) = read_segment(
                segment,
                fetch_offset,
                max_bytes.min(READ_BYTES_MAX),
                upper,
                min_one,
            )? {
                return Ok(ReadResult { records });
            }
        }
        Ok(ReadResult {
            records: Bytes::new(),
        })
    }

    /// The first batch whose max timestamp reaches `ts`: (base offset, its max
    /// timestamp). Batch granularity.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>, io::Error> {
        let start = self.log_start_offset();
        let segments = self.shared.segments.read().clone();
        for segment in segments
            .iter()
            .filter(|s| s.max_timestamp.load(Ordering::Acquire) >= ts)
        {
            let from =
                segment.base_offset + i64::from(segment.index.read().scan_start_for_time(ts));
            let Some((mut position, _)) = segment.find_position(from)? else {
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

/// The first record at or after `ts` (and `start`) in the batch at `position`:
/// (offset, timestamp). Uncompressed batches are searched record by record, as
/// Kafka does; a compressed batch answers with its first offset and max timestamp
/// (decompression arrives with the codec work).
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
    let Ok((view, _)) = RecordBatchView::parse(&Bytes::from(buf)) else {
        return Ok(batch_level);
    };
    if view.is_log_append_time() {
        // Every record carries the batch's max timestamp.
        return Ok(batch_level);
    }
    let Some(records) = view.records() else {
        return Ok(batch_level);
    };
    for record in records.flatten() {
        let offset = view.base_offset() + i64::from(record.offset_delta);
        let timestamp = view.base_timestamp() + record.timestamp_delta;
        if timestamp >= ts && offset >= start {
            return Ok((offset, timestamp));
        }
    }
    Ok(batch_level)
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
