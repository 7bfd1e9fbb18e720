//! The writer side of one partition's log ([`Log`]): validate and append batches
//! (a leader's, given offsets here, and a follower's, kept as the leader wrote
//! them), roll segments, hand fsync work to the flusher, apply retention and
//! DeleteRecords. The state readers share lives in [`Shared`]; the read side is in
//! `reader.rs`, follower truncation in `truncate.rs`.

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use thiserror::Error;

use super::batch::{self, BATCH_HEADER_BYTES, BatchHeader};
use super::checkpoint::{self, HIGH_WATERMARK_FILE, LOG_START_OFFSET_FILE, RECOVERY_POINT_FILE};
use super::epochs::{self, EpochCache};
use super::flusher::{CheckpointWrite, FlushTarget};
use super::fs::{FileHandle, FileSystem};
use super::reader::LogReader;
use super::recovery;
use super::segment::Segment;

/// Bytes between sparse offset index entries (Kafka's `index.interval.bytes`).
pub const INDEX_INTERVAL_BYTES_DEFAULT: u32 = 4096;
/// Segment size before a roll (Kafka's `segment.bytes`, 1 GiB).
pub const SEGMENT_BYTES_DEFAULT: u64 = 1 << 30;
/// Segment age before a roll, and time retention (Kafka's 7 days).
pub const SEVEN_DAYS_MS: u64 = 7 * 24 * 3600 * 1000;
/// Largest batch accepted by default (Kafka's `message.max.bytes`).
pub const MAX_MESSAGE_BYTES_DEFAULT: u32 = 1024 * 1024 + 12;
/// How often the recovery checkpoint is rewritten by default (it only shortens
/// recovery, so rarely is enough).
pub const RECOVERY_CHECKPOINT_INTERVAL_MS_DEFAULT: u64 = 5_000;
/// Largest byte position in a segment: index entries store positions as u32.
pub const SEGMENT_POSITION_MAX: u64 = u32::MAX as u64;
/// Largest offset relative to a segment's base: index entries store u32, and
/// Kafka keeps them within i32.
pub const SEGMENT_RELATIVE_OFFSET_MAX: i64 = i32::MAX as i64;

const _: () = assert!(SEGMENT_BYTES_DEFAULT <= SEGMENT_POSITION_MAX);
/// Kafka's `delete.retention.ms` default: tombstones survive compaction a day.
pub const DELETE_RETENTION_MS_DEFAULT: i64 = 24 * 3_600_000;
const _: () = assert!(MAX_MESSAGE_BYTES_DEFAULT as usize > BATCH_HEADER_BYTES);
/// Flushes handed out and not yet marked that the log remembers (the partition
/// actor keeps one in flight); past this the oldest is forgotten.
const PENDING_FLUSHES_MAX: usize = 64;

/// Limits and policies of one log; may change at runtime ([`Log::set_config`]).
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
    /// Least time between two recovery checkpoint writes (0: at every flush).
    pub recovery_checkpoint_interval_ms: u64,
    /// Keep only the latest record per key (`cleanup.policy=compact`).
    pub compact: bool,
    /// How long compaction keeps a tombstone (`delete.retention.ms`).
    pub delete_retention_ms: i64,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            segment_bytes: SEGMENT_BYTES_DEFAULT,
            segment_ms: Some(SEVEN_DAYS_MS),
            retention_ms: Some(SEVEN_DAYS_MS as i64),
            retention_bytes: None,
            index_interval_bytes: INDEX_INTERVAL_BYTES_DEFAULT,
            max_message_bytes: MAX_MESSAGE_BYTES_DEFAULT,
            recovery_checkpoint_interval_ms: RECOVERY_CHECKPOINT_INTERVAL_MS_DEFAULT,
            compact: false,
            delete_retention_ms: DELETE_RETENTION_MS_DEFAULT,
        }
    }
}

/// Why a log operation failed. `Corrupt` and `MessageTooLarge` are the client's
/// fault (Kafka's CORRUPT_MESSAGE and MESSAGE_TOO_LARGE) and, like
/// `NonContiguous` (a follower's batch that does not continue the log), leave the
/// log as it was; `Io` and `Failed` mean the log can no longer be trusted until
/// reopened.
#[derive(Debug, Error)]
pub enum LogError {
    /// The batch is not a valid v2 batch (nothing written).
    #[error("corrupt batch at offset {base_offset}, position {position}: {reason}")]
    Corrupt {
        /// The batch's base offset as found (-1 when not yet assigned).
        base_offset: i64,
        /// Byte position of the batch in its input or segment.
        position: u64,
        /// What check failed.
        reason: String,
    },
    /// The batch exceeds `max_message_bytes` (nothing written).
    #[error("batch of {size} bytes exceeds the maximum of {max}")]
    MessageTooLarge {
        /// Bytes of the batch.
        size: usize,
        /// The configured maximum.
        max: usize,
    },
    /// A follower's batch does not start at the log end (nothing written).
    #[error("batch at offset {found} does not continue the log at {expected}")]
    NonContiguous {
        /// The log end offset, where the batch had to start.
        expected: i64,
        /// The batch's base offset.
        found: i64,
    },
    /// An offset outside [log start, log end].
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
    #[error("log I/O on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// An earlier write or fsync failed: the log refuses appends until it is
    /// reopened (recovered) from disk. A failed fsync is never retried.
    #[error("log failed earlier and refuses appends: {0}")]
    Failed(String),
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

/// Set once a write or fsync failed; shared with the flusher so a failed fsync
/// stops appends at once, before the owner hears about it.
pub(super) type FailFlag = Arc<Mutex<Option<String>>>;

/// How many truncations the log has had; shared with flush targets and compaction
/// jobs, which note it when made. One made before a truncation is stale: a flush
/// must not write its recovery checkpoint (it would point past the cut), a
/// compaction must not swap in what it read. Truncation counts up while holding
/// the lock, before it changes anything, and the flusher holds it while writing.
pub(super) type Truncations = Arc<Mutex<u64>>;

/// A flush handed out by [`Log::flush_handle`] and not yet marked.
#[derive(Debug, Clone, Copy)]
pub(super) struct PendingFlush {
    /// The offset it covers, as handed out.
    pub(super) up_to: i64,
    /// The lowest log end a truncation set since it was handed out (`i64::MAX`:
    /// none); it vouches for nothing at or above it, which was written later.
    pub(super) cap: i64,
}

/// State shared by the writer and every reader.
pub(super) struct Shared {
    /// Segments in offset order; the last is active.
    pub segments: RwLock<Vec<Arc<Segment>>>,
    /// First readable offset.
    pub log_start_offset: AtomicI64,
    /// Offset after the last readable batch.
    pub log_end_offset: AtomicI64,
    /// The leader-epoch cache. Changes that shorten the log store the log end
    /// while holding its write lock, and readers load the log end while holding
    /// its read lock, so an epoch's end offset never mixes two states.
    pub epochs: RwLock<EpochCache>,
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
    /// Files of sealed segments (data and index files) not yet covered by a
    /// flush past the segment's end: (the segment's end offset, file).
    pub(super) unflushed_sealed: Vec<(i64, Arc<dyn FileHandle>)>,
    /// A segment file was created since the last flush: its directory entry
    /// must be synced before data in it counts as durable.
    pub(super) dir_dirty: bool,
    /// Bytes appended to the active segment since its last index entry.
    pub(super) bytes_since_index: u64,
    /// When the recovery checkpoint was last handed to the flusher.
    pub(super) last_checkpoint: Instant,
    /// Why the log refuses appends, once a write or fsync failed.
    pub(super) failed: FailFlag,
    /// Truncations so far (see [`Truncations`]).
    pub(super) truncations: Truncations,
    /// Flushes handed out and not yet marked, oldest first (the flusher answers
    /// in order).
    pub(super) pending_flushes: VecDeque<PendingFlush>,
    /// The lowest log end any truncation set (`i64::MAX`: none): a flush result
    /// the log does not remember handing out vouches for nothing above it.
    pub(super) lowest_cut: i64,
}

impl Log {
    /// Opens the log in `dir` (creating it), recovering the tail after the
    /// recovery checkpoint: the first invalid batch and all after it are dropped.
    pub fn open(dir: &Path, config: LogConfig, fs: Arc<dyn FileSystem>) -> Result<Log, LogError> {
        recovery::open(dir, config, fs)
    }

    /// The shared read view.
    pub fn reader(&self) -> LogReader {
        LogReader::new(self.shared.clone())
    }

    /// Changes limits (segment size, retention, max batch size) from now on.
    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    /// The current limits.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Offsets below this are fsynced.
    pub fn flushed_offset(&self) -> i64 {
        self.flushed_offset
    }

    /// Why the log refuses appends, if it does.
    pub fn failure(&self) -> Option<String> {
        self.failed.lock().clone()
    }

    /// The newest leader epoch in the epoch cache, or -1.
    pub fn latest_epoch(&self) -> i32 {
        self.shared.epochs.read().latest_epoch()
    }

    /// The high watermark last checkpointed, within the log's bounds (the
    /// log may have been truncated since); `None` when never written.
    pub fn checkpointed_high_watermark(&self) -> Option<i64> {
        let hw = checkpoint::read(&*self.fs, &self.dir.join(HIGH_WATERMARK_FILE))?;
        let reader = self.reader();
        Some(hw.clamp(reader.log_start_offset(), reader.log_end_offset()))
    }

    /// Replaces the high-watermark checkpoint. Not fsynced: a checkpoint the
    /// OS lost leaves an older, lower high watermark, which is safe (the
    /// leader only waits longer for its followers to confirm it).
    pub fn checkpoint_high_watermark(&self, high_watermark: i64) -> Result<(), LogError> {
        let path = self.dir.join(HIGH_WATERMARK_FILE);
        checkpoint::write(&*self.fs, &path, high_watermark.max(0), false).map_err(self.io(&path))
    }

    pub(super) fn refuse_if_failed(&self) -> Result<(), LogError> {
        match self.failure() {
            Some(reason) => Err(LogError::Failed(reason)),
            None => Ok(()),
        }
    }

    /// Records `e` as the reason the log refuses appends from now on, and
    /// returns it.
    pub(super) fn fail(&self, e: LogError) -> LogError {
        self.failed.lock().get_or_insert_with(|| e.to_string());
        e
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

    /// Validates one v2 batch, gives it offsets from the log end, and writes it to
    /// the active segment. Only the 61-byte header is copied and rewritten (base
    /// offset, leader epoch, and with `append_time` the timestamp type, max
    /// timestamp and CRC). A `leader_epoch` newer than the epoch cache's latest
    /// starts there.
    pub fn append(
        &mut self,
        batch: Bytes,
        append_time: Option<i64>,
        leader_epoch: i32,
    ) -> Result<AppendInfo, LogError> {
        self.refuse_if_failed()?;
        validate(&batch, self.config.max_message_bytes as usize)?;
        let base_offset = self.shared.log_end_offset.load(Ordering::Acquire);
        let mut header = *batch
            .first_chunk::<BATCH_HEADER_BYTES>()
            .expect("validated batches hold a header");
        batch::assign(&mut header, base_offset, leader_epoch);
        let body = &batch[BATCH_HEADER_BYTES..];
        if let Some(now) = append_time {
            batch::stamp_log_append_time(&mut header, body, now);
        }
        let written = self.write_batch(&header, body)?;
        Ok(AppendInfo {
            base_offset,
            last_offset: written.last_offset,
            max_timestamp: written.max_timestamp,
            log_append_time: append_time,
        })
    }

    /// A follower's append: one v2 batch exactly as the leader wrote it (offsets,
    /// leader epoch, timestamps and CRC kept; nothing rewritten). It is validated
    /// like [`Log::append`] and must start at the log end (else
    /// [`LogError::NonContiguous`], nothing written); its leader epoch, when newer
    /// than the cache's latest, starts at its base offset.
    pub fn append_replica(&mut self, batch: Bytes) -> Result<AppendInfo, LogError> {
        self.refuse_if_failed()?;
        let checked = validate(&batch, self.config.max_message_bytes as usize)?;
        let expected = self.shared.log_end_offset.load(Ordering::Acquire);
        if checked.base_offset != expected {
            return Err(LogError::NonContiguous {
                expected,
                found: checked.base_offset,
            });
        }
        let header = batch
            .first_chunk::<BATCH_HEADER_BYTES>()
            .expect("validated batches hold a header");
        self.write_batch(header, &batch[BATCH_HEADER_BYTES..])?;
        Ok(AppendInfo {
            base_offset: checked.base_offset,
            last_offset: checked.last_offset,
            max_timestamp: checked.max_timestamp,
            log_append_time: None,
        })
    }

    /// Writes one validated batch whose header holds its final offsets, epoch and
    /// timestamps at the log end: records a new leader epoch, rolls when due,
    /// writes, indexes and publishes. Any failure leaves the log refusing appends
    /// until it is reopened. Returns the written header.
    fn write_batch(
        &mut self,
        header: &[u8; BATCH_HEADER_BYTES],
        body: &[u8],
    ) -> Result<BatchHeader, LogError> {
        let parsed = BatchHeader::parse(header);
        let end = self.shared.log_end_offset.load(Ordering::Acquire);
        assert_eq!(parsed.base_offset, end, "a batch is written at the log end");
        let batch_bytes = (header.len() + body.len()) as u64;
        self.record_epoch(parsed.leader_epoch, parsed.base_offset)
            .and_then(|()| self.maybe_roll(batch_bytes, parsed.base_offset, parsed.last_offset))
            .and_then(|()| {
                self.write_to_active(header, body, parsed.last_offset, parsed.max_timestamp)
            })
            .map_err(|e| self.fail(e))?;
        Ok(parsed)
    }

    /// Records `epoch`, when newer than the cache's latest, as starting at
    /// `base_offset` (the batch about to be written). The checkpoint is written,
    /// durably, before the batch: a recovered log never holds a batch of an epoch
    /// its cache lacks (a checkpoint entry past the recovered end is dropped).
    /// Rare (once per leader epoch), so the fsync on the caller's thread is
    /// accepted, as Kafka does.
    fn record_epoch(&mut self, epoch: i32, base_offset: i64) -> Result<(), LogError> {
        if epoch < 0 || epoch <= self.shared.epochs.read().latest_epoch() {
            return Ok(());
        }
        let mut epochs = self.shared.epochs.read().clone();
        if epochs.assign(epoch, base_offset) {
            epochs::write(&*self.fs, &self.dir, &epochs, true)?;
            *self.shared.epochs.write() = epochs;
        }
        Ok(())
    }

    fn write_to_active(
        &mut self,
        header: &[u8; BATCH_HEADER_BYTES],
        body: &[u8],
        last_offset: i64,
        max_timestamp: i64,
    ) -> Result<(), LogError> {
        let active = self.active();
        let position = active.size();
        let batch_len = (header.len() + body.len()) as u64;
        let base_offset = BatchHeader::parse(header).base_offset;
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
        // Publish only now that the bytes are written: size first, then the
        // offsets readers use to bound reads.
        active.size.store(position + batch_len, Ordering::Release);
        active.next_offset.store(last_offset + 1, Ordering::Release);
        self.shared
            .log_end_offset
            .store(last_offset + 1, Ordering::Release);
        Ok(())
    }

    /// Rolls to a new segment when the active one is non-empty and the batch would
    /// overflow it (in bytes, or in offsets an index entry can hold), or when it
    /// is older than `segment_ms`.
    fn maybe_roll(
        &mut self,
        batch_bytes: u64,
        base_offset: i64,
        last_offset: i64,
    ) -> Result<(), LogError> {
        let active = self.active();
        let size = active.size();
        if size == 0 {
            return Ok(());
        }
        let full = size + batch_bytes > self.config.segment_bytes.min(SEGMENT_POSITION_MAX);
        let offsets_full = last_offset - active.base_offset > SEGMENT_RELATIVE_OFFSET_MAX;
        let first = active.first_append_ms.load(Ordering::Acquire);
        let old = self
            .config
            .segment_ms
            .is_some_and(|ms| first >= 0 && now_ms() - first >= ms as i64);
        if !(full || offsets_full || old) {
            return Ok(());
        }
        self.roll(base_offset)
    }

    /// Seals the active segment (writes its index files) and starts a new one
    /// whose base is `next_offset`.
    pub(super) fn roll(&mut self, next_offset: i64) -> Result<(), LogError> {
        let active = self.active();
        let index_files = active
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
        // A file left by an earlier life of this log under the same name is stale.
        segment.file.set_len(0).map_err(self.io(&segment.path))?;
        segment.size.store(0, Ordering::Release);
        segment.next_offset.store(next_offset, Ordering::Release);
        // Synced by the next flush that covers an offset past this segment, which
        // is what lets recovery trust a segment below the recovery point.
        let end = active.next_offset();
        self.unflushed_sealed.push((end, active.file.clone()));
        self.unflushed_sealed
            .extend(index_files.into_iter().map(|file| (end, file)));
        self.shared.segments.write().push(Arc::new(segment));
        self.dir_dirty = true;
        self.bytes_since_index = 0;
        Ok(())
    }

    /// What the flusher must sync to cover everything appended so far (sealed
    /// unflushed segments, the active one, the directory after a roll), or `None`
    /// when all is flushed. Includes the recovery checkpoint when one is due: the
    /// flusher writes it right after the sync that covers it, so it never points
    /// past fsynced data and the owner never waits for it.
    pub fn flush_handle(&mut self) -> Option<FlushTarget> {
        let up_to = self.shared.log_end_offset.load(Ordering::Acquire);
        if up_to <= self.flushed_offset {
            return None;
        }
        let mut files: Vec<Arc<dyn FileHandle>> = self
            .unflushed_sealed
            .iter()
            .map(|(_, file)| file.clone())
            .collect();
        files.push(self.active().file.clone());
        let due = self.last_checkpoint.elapsed().as_millis()
            >= u128::from(self.config.recovery_checkpoint_interval_ms);
        let checkpoint = due.then(|| {
            self.last_checkpoint = Instant::now();
            Box::new(CheckpointWrite {
                path: self.dir.join(RECOVERY_POINT_FILE),
                truncations: self.truncations.clone(),
                truncations_seen: *self.truncations.lock(),
            })
        });
        self.pending_flushes.push_back(PendingFlush {
            up_to,
            cap: i64::MAX,
        });
        if self.pending_flushes.len() > PENDING_FLUSHES_MAX
            && let Some(forgotten) = self.pending_flushes.pop_front()
        {
            // Its answer will match a later flush's: vouch for no more than it could.
            for pending in &mut self.pending_flushes {
                pending.cap = pending.cap.min(forgotten.cap);
            }
        }
        Some(FlushTarget {
            files,
            up_to,
            sync_dir: std::mem::take(&mut self.dir_dirty).then(|| self.dir.clone()),
            checkpoint,
            fs: self.fs.clone(),
            failed: self.failed.clone(),
        })
    }

    /// Records that the flusher synced everything below `up_to` (the `Ok` value
    /// of a flush of a target from [`Log::flush_handle`]). A flush handed out
    /// before a truncation counts only below the cut: what was appended after it
    /// is not what that flush synced.
    pub fn mark_flushed(&mut self, up_to: i64) -> Result<(), LogError> {
        let covered = self.covered_by_flush(up_to);
        let end = self.shared.log_end_offset.load(Ordering::Acquire);
        assert!(covered <= end, "flushed {covered} beyond the log end {end}");
        self.refuse_if_failed()?;
        self.flushed_offset = self.flushed_offset.max(covered);
        let flushed = self.flushed_offset;
        self.unflushed_sealed.retain(|(end, _)| *end >= flushed);
        Ok(())
    }

    /// What a flush that answered `up_to` vouches for. The flusher answers in the
    /// order flushes were handed out, so the oldest pending one with that offset
    /// is it (earlier ones were never submitted, or failed).
    fn covered_by_flush(&mut self, up_to: i64) -> i64 {
        match self.pending_flushes.iter().position(|p| p.up_to == up_to) {
            Some(at) => {
                let cap = self.pending_flushes[at].cap;
                self.pending_flushes.drain(..=at);
                up_to.min(cap)
            }
            // Not handed out by this log (or forgotten): trust it below every cut.
            None => up_to.min(self.lowest_cut),
        }
    }

    /// Deletes whole segments beyond retention (never the active one, never one
    /// with unflushed data) and advances the log start offset; returns how many
    /// were deleted.
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

    /// Calls `f` with the header of every batch in the log, oldest first (reads
    /// 61 bytes per batch, not the records): how producer state is rebuilt.
    pub fn scan_headers(&self, f: impl FnMut(&BatchHeader)) -> Result<(), LogError> {
        let segments = self.shared.segments.read().clone();
        epochs::for_each_header(&segments, f)
    }

    /// DeleteRecords: moves the log start offset up to `offset` (at most the log
    /// end) and deletes segments wholly below it; returns the new log start.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64, LogError> {
        let end = self.shared.log_end_offset.load(Ordering::Acquire);
        let start = self.shared.log_start_offset.load(Ordering::Acquire);
        if offset > end {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start_offset: start,
                log_end_offset: end,
            });
        }
        let new_start = offset.max(start);
        let segments = self.shared.segments.read().clone();
        let below = segments[..segments.len() - 1]
            .iter()
            .take_while(|s| s.next_offset() <= new_start)
            .count();
        self.shared
            .log_start_offset
            .fetch_max(new_start, Ordering::AcqRel);
        self.delete_oldest(below)?;
        self.log_start_moved()?;
        Ok(self.shared.log_start_offset.load(Ordering::Acquire))
    }

    fn delete_oldest(&mut self, count: usize) -> Result<(), LogError> {
        if count == 0 {
            return Ok(());
        }
        let removed: Vec<Arc<Segment>> = {
            let mut segments = self.shared.segments.write();
            let removed = segments.drain(..count).collect();
            self.shared
                .log_start_offset
                .fetch_max(segments[0].base_offset, Ordering::AcqRel);
            removed
        };
        // The start offset is written before the files go: a restart in between
        // finds it beside the old segments and hides them still.
        self.log_start_moved()?;
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

    /// Persists a log start that moved up: its checkpoint, and the epoch cache
    /// with the entries below it collapsed into one starting there (Kafka's
    /// truncateFromStart; none is left when the start reached the end). Neither
    /// is fsynced here: opening the log fits the cache again to whichever log
    /// start survived.
    fn log_start_moved(&self) -> Result<(), LogError> {
        self.write_log_start()?;
        let start = self.shared.log_start_offset.load(Ordering::Acquire);
        let end = self.shared.log_end_offset.load(Ordering::Acquire);
        let mut epochs = self.shared.epochs.read().clone();
        if epochs.fit(start, end) {
            epochs::write(&*self.fs, &self.dir, &epochs, false)?;
            *self.shared.epochs.write() = epochs;
        }
        Ok(())
    }
}

/// Checks a batch before anything is written: size first, then whole, magic 2,
/// lengths and CRC.
fn validate(batch: &[u8], max_message_bytes: usize) -> Result<BatchHeader, LogError> {
    if batch.len() > max_message_bytes {
        return Err(LogError::MessageTooLarge {
            size: batch.len(),
            max: max_message_bytes,
        });
    }
    batch::check(batch).map_err(|e| LogError::Corrupt {
        base_offset: -1,
        position: 0,
        reason: e.to_string(),
    })
}

/// Wall-clock milliseconds since the epoch (for `segment_ms`).
pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
