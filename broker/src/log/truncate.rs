//! Follower truncation: [`Log::truncate_to`] cuts the log at a batch boundary
//! (Kafka's truncateTo, after OffsetForLeaderEpoch found where it diverged from
//! the leader), and [`Log::truncate_fully_and_start_at`] replaces it with an empty
//! log at a given offset (a follower fallen below the leader's log start).
//!
//! Readers never see bytes past the cut: the new log end (and the cut segment's
//! size) is published before any file shrinks. A truncation must outlive a crash
//! (batches the leader does not have must never come back), so it is made
//! durable before it returns, on the owner's thread: the cut segment is fsynced,
//! removed files are unlinked and the directory synced, and the recovery
//! checkpoint is lowered to the cut first, so recovery never trusts a segment
//! past it. Flushes handed out before the truncation then vouch only for offsets
//! below the cut, and compaction jobs made before it are discarded.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::checkpoint::{self, LOG_START_OFFSET_FILE, RECOVERY_POINT_FILE};
use super::epochs;
use super::segment::Segment;
use super::store::{Log, LogError};

impl Log {
    /// Kafka's truncateTo for a follower: removes every batch whose last offset
    /// is at or after `offset`, so the new log end is at most `offset`, at a batch
    /// boundary (a batch holding `offset` goes whole). Segments starting at or
    /// after the new end are deleted, the one holding it is cut; the epoch cache
    /// forgets the epochs starting at or after it. At or beyond the log end this
    /// does nothing; at or below the log start it is
    /// [`Log::truncate_fully_and_start_at`]. Returns the new log end.
    pub fn truncate_to(&mut self, offset: i64) -> Result<i64, LogError> {
        self.refuse_if_failed()?;
        let end = self.shared.log_end_offset.load(Ordering::Acquire);
        let start = self.shared.log_start_offset.load(Ordering::Acquire);
        if offset < 0 {
            return Err(self.offset_out_of_range(offset));
        }
        if offset >= end {
            return Ok(end);
        }
        if offset <= start {
            self.truncate_fully_and_start_at(offset)?;
            return Ok(offset);
        }
        self.cut(offset).map_err(|e| self.fail(e))
    }

    /// Deletes every segment and starts an empty log whose start and end are
    /// `offset` (Kafka's truncateFullyAndStartAt: a follower whose fetch offset
    /// is below the leader's log start). The epoch cache is cleared; the
    /// log-start and recovery checkpoints say `offset`.
    pub fn truncate_fully_and_start_at(&mut self, offset: i64) -> Result<(), LogError> {
        self.refuse_if_failed()?;
        if offset < 0 {
            return Err(self.offset_out_of_range(offset));
        }
        self.restart_at(offset).map_err(|e| self.fail(e))
    }

    fn offset_out_of_range(&self, offset: i64) -> LogError {
        LogError::OffsetOutOfRange {
            offset,
            log_start_offset: self.shared.log_start_offset.load(Ordering::Acquire),
            log_end_offset: self.shared.log_end_offset.load(Ordering::Acquire),
        }
    }

    /// `truncate_to` for an offset strictly inside (log start, log end).
    fn cut(&mut self, offset: i64) -> Result<i64, LogError> {
        let segments = self.shared.segments.read().clone();
        let holder = &segments[segments.partition_point(|s| s.base_offset <= offset) - 1];
        let (position, batch) = holder
            .find_position(offset)
            .map_err(self.io(&holder.path))?
            .expect("an offset below the log end lies in a batch");
        let new_end = batch.base_offset;
        let keep = segments.partition_point(|s| s.base_offset < new_end);
        self.begin_truncation(new_end)?;
        let epochs_changed = self.publish_end(new_end, |epochs| epochs.truncate_from_end(new_end));
        if keep == 0 {
            // Every segment starts at or after the cut: an empty log remains.
            self.replace_segments(new_end, &segments)?;
            self.unflushed_sealed.clear();
        } else {
            let last = &segments[keep - 1];
            let cut_at = if Arc::ptr_eq(last, holder) {
                position
            } else {
                assert_eq!(last.next_offset(), new_end, "segments are contiguous");
                last.size()
            };
            self.cut_segment(last, cut_at, new_end);
            self.shared.segments.write().truncate(keep);
            // Bytes past the cut are unreachable now; make their removal durable.
            last.file.set_len(cut_at).map_err(self.io(&last.path))?;
            last.file.sync().map_err(self.io(&last.path))?;
            let mut removed: Vec<PathBuf> = segments[keep..].iter().flat_map(files_of).collect();
            // The last segment is active again: its indexes live in memory.
            removed.extend(files_of(last).into_iter().skip(1));
            self.remove_files(&removed)?;
            self.unflushed_sealed.retain(|(end, _)| *end <= new_end);
        }
        self.fs.sync_dir(&self.dir).map_err(self.io(&self.dir))?;
        let start = self.shared.log_start_offset.load(Ordering::Acquire);
        if start > new_end {
            // The cut fell in the batch holding the log start: nothing is left.
            self.shared
                .log_start_offset
                .store(new_end, Ordering::Release);
            let path = self.dir.join(LOG_START_OFFSET_FILE);
            checkpoint::write(&*self.fs, &path, new_end, true).map_err(self.io(&path))?;
        }
        if epochs_changed {
            let epochs = self.shared.epochs.read().clone();
            epochs::write(&*self.fs, &self.dir, &epochs, true)?;
        }
        tracing::info!(dir = %self.dir.display(), offset, new_end, "log truncated");
        Ok(new_end)
    }

    /// `truncate_fully_and_start_at` once checked.
    fn restart_at(&mut self, offset: i64) -> Result<(), LogError> {
        let segments = self.shared.segments.read().clone();
        self.begin_truncation(offset)?;
        // Cleared durably first: a crash before the segments go leaves the old
        // log with an empty cache, which opening rebuilds from the batches.
        if !self.shared.epochs.read().entries().is_empty() {
            epochs::write(&*self.fs, &self.dir, &Default::default(), true)?;
        }
        // Readers see start <= end at every step: a start going down moves
        // first, one going up after the end.
        let start = &self.shared.log_start_offset;
        if offset < start.load(Ordering::Acquire) {
            start.store(offset, Ordering::Release);
            self.publish_end(offset, |epochs| epochs.clear());
        } else {
            self.publish_end(offset, |epochs| epochs.clear());
            start.store(offset, Ordering::Release);
        }
        self.replace_segments(offset, &segments)?;
        self.unflushed_sealed.clear();
        self.fs.sync_dir(&self.dir).map_err(self.io(&self.dir))?;
        let path = self.dir.join(LOG_START_OFFSET_FILE);
        checkpoint::write(&*self.fs, &path, offset, true).map_err(self.io(&path))?;
        let path = self.dir.join(RECOVERY_POINT_FILE);
        checkpoint::write(&*self.fs, &path, offset, true).map_err(self.io(&path))?;
        self.flushed_offset = offset;
        tracing::info!(dir = %self.dir.display(), offset, "log truncated fully");
        Ok(())
    }

    /// First step of every truncation to `new_end`, before anything changes:
    /// counts it (stale flushes skip their recovery checkpoint, stale compactions
    /// are discarded), lowers the recovery checkpoint to at most `new_end`
    /// (durably), and caps what pending flushes vouch for.
    fn begin_truncation(&mut self, new_end: i64) -> Result<(), LogError> {
        {
            let mut truncations = self.truncations.lock();
            *truncations += 1;
            let path = self.dir.join(RECOVERY_POINT_FILE);
            let recovery_point = checkpoint::read(&*self.fs, &path).unwrap_or(0);
            checkpoint::write(&*self.fs, &path, recovery_point.min(new_end), true)
                .map_err(self.io(&path))?;
        }
        for pending in &mut self.pending_flushes {
            pending.cap = pending.cap.min(new_end);
        }
        self.lowest_cut = self.lowest_cut.min(new_end);
        self.flushed_offset = self.flushed_offset.min(new_end);
        Ok(())
    }

    /// Publishes `new_end` as the log end and applies `change` to the epoch
    /// cache in one step for readers; returns whether the cache changed.
    fn publish_end(
        &self,
        new_end: i64,
        change: impl FnOnce(&mut epochs::EpochCache) -> bool,
    ) -> bool {
        let mut epochs = self.shared.epochs.write();
        self.shared.log_end_offset.store(new_end, Ordering::Release);
        change(&mut epochs)
    }

    /// Cuts `segment` to its first `position` bytes, ending at offset `new_end`,
    /// in memory: drops index entries past the cut and publishes its size, next
    /// offset and max timestamp. It becomes the active segment.
    fn cut_segment(&mut self, segment: &Segment, position: u64, new_end: i64) {
        let relative_end = new_end - segment.base_offset;
        let max_timestamp = {
            let mut index = segment.index.write();
            index.offsets.retain(|&(_, p)| u64::from(p) < position);
            index.times.retain(|&(_, o)| i64::from(o) < relative_end);
            // Every batch that raised the max has a time entry.
            index.times.last().map_or(-1, |t| t.0)
        };
        segment.size.store(position, Ordering::Release);
        segment.next_offset.store(new_end, Ordering::Release);
        segment
            .max_timestamp
            .store(max_timestamp, Ordering::Release);
        self.bytes_since_index = segment.bytes_since_index();
    }

    /// Replaces every segment of `old` with one empty segment at `base`: the old
    /// files go first (one may have the new one's name); readers still holding an
    /// old segment keep reading its unlinked file.
    fn replace_segments(&mut self, base: i64, old: &[Arc<Segment>]) -> Result<(), LogError> {
        let removed: Vec<PathBuf> = old.iter().flat_map(files_of).collect();
        self.remove_files(&removed)?;
        let segment = Segment::open(&*self.fs, &self.dir, base).map_err(self.io(&self.dir))?;
        segment.file.set_len(0).map_err(self.io(&segment.path))?;
        segment.size.store(0, Ordering::Release);
        segment.next_offset.store(base, Ordering::Release);
        *self.shared.segments.write() = vec![Arc::new(segment)];
        self.bytes_since_index = 0;
        Ok(())
    }

    fn remove_files(&self, paths: &[PathBuf]) -> Result<(), LogError> {
        for path in paths {
            match self.fs.remove_file(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(LogError::Io {
                        path: path.clone(),
                        source: e,
                    });
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// A segment's data file, then its index files.
fn files_of(segment: &Arc<Segment>) -> [PathBuf; 3] {
    [
        segment.path.clone(),
        segment.sibling("index"),
        segment.sibling("timeindex"),
    ]
}
