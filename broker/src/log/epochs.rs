//! The leader-epoch cache (Kafka's `LeaderEpochFileCache`): for each leader epoch
//! that wrote to the log, the first offset it wrote. A follower asks the leader
//! where its latest epoch ended (OffsetForLeaderEpoch, answered by
//! [`EpochCache::end_offset_for`]) and truncates to that, so it never keeps
//! batches the leader does not have.
//!
//! Entries are strictly increasing in both epoch and start offset, and every
//! start offset is below the log end: the cache is what Kafka's rules make of the
//! batch headers, the entries below the log start collapsed into one starting
//! there. The cache lives in the log's shared state and is persisted to
//! `leader-epoch-checkpoint` in Kafka's text format (version `0`, the entry
//! count, then `epoch startOffset` per line), replaced atomically whenever it
//! changes; a missing, torn or corrupt file is rebuilt from the batch headers
//! when the log is opened.

use std::path::Path;
use std::sync::Arc;

use super::checkpoint;
use super::fs::FileSystem;
use super::segment::Segment;
use super::store::LogError;

/// The file beside the segments.
pub const LEADER_EPOCH_CHECKPOINT_FILE: &str = "leader-epoch-checkpoint";
/// Entries kept at most: a partition sees one epoch per leader change, so this is
/// never reached in practice; past it the oldest entries are forgotten (an epoch
/// below the earliest kept is answered with that entry's start, as for epochs
/// whose data retention already deleted).
pub const LEADER_EPOCH_ENTRIES_MAX: usize = 16_384;
/// Bytes of the longest entry line: a non-negative i32, a space, a non-negative
/// i64, a newline.
const ENTRY_LINE_BYTES_MAX: usize = 10 + 1 + 19 + 1;
/// Longest checkpoint file read: the two header lines and every entry.
const EPOCH_FILE_BYTES_MAX: usize = 32 + LEADER_EPOCH_ENTRIES_MAX * ENTRY_LINE_BYTES_MAX;
/// The only file format version (Kafka's).
const FORMAT_VERSION: &str = "0";
/// Kafka's UNDEFINED_EPOCH: no epoch known.
pub const UNDEFINED_EPOCH: i32 = -1;
/// Kafka's UNDEFINED_EPOCH_OFFSET: no end offset known.
pub const UNDEFINED_EPOCH_OFFSET: i64 = -1;

/// Epoch → start offset, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EpochCache {
    /// (leader epoch, first offset written in it); both strictly increasing.
    entries: Vec<(i32, i64)>,
}

impl EpochCache {
    /// The entries, oldest first.
    pub fn entries(&self) -> &[(i32, i64)] {
        &self.entries
    }

    /// The newest epoch, or -1 when the cache is empty.
    pub fn latest_epoch(&self) -> i32 {
        self.entries.last().map_or(UNDEFINED_EPOCH, |e| e.0)
    }

    /// Records that `epoch` starts at `start_offset` when it is newer than the
    /// latest epoch (negative epochs are not epochs: batches of old clients and
    /// of logs without leaders). Entries starting at or after `start_offset` go
    /// first, as in Kafka (none do while the cache follows a log whose end is
    /// `start_offset`). Returns whether the cache changed.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 || epoch <= self.latest_epoch() {
            return false;
        }
        assert!(start_offset >= 0, "epoch {epoch} at offset {start_offset}");
        self.entries.retain(|&(_, start)| start < start_offset);
        if self.entries.len() == LEADER_EPOCH_ENTRIES_MAX {
            self.entries.remove(0);
        }
        self.entries.push((epoch, start_offset));
        true
    }

    /// Kafka's truncateFromEnd: forgets every epoch that starts at or after
    /// `end_offset` (the log was truncated there). Returns whether it changed.
    pub fn truncate_from_end(&mut self, end_offset: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|&(_, start)| start < end_offset);
        self.entries.len() != before
    }

    /// Kafka's truncateFromStart: the log now starts at `start_offset`, so the
    /// entries starting at or below it collapse into the latest of them, moved to
    /// start at `start_offset`. Returns whether it changed.
    pub fn truncate_from_start(&mut self, start_offset: i64) -> bool {
        let below = self
            .entries
            .partition_point(|&(_, start)| start <= start_offset);
        if below == 0 {
            return false;
        }
        let (epoch, start) = self.entries[below - 1];
        if below == 1 && start == start_offset {
            return false;
        }
        self.entries.drain(..below - 1);
        self.entries[0] = (epoch, start_offset);
        true
    }

    /// Fits the cache to a log from `log_start` to `log_end`: the entries at or
    /// below the start collapse into one starting there, then those at or after
    /// the end go (Kafka's loader does the two the other way round, keeping an
    /// entry at the end of a log whose start was moved to its end; here the cache
    /// never holds one, at runtime or after a reopen). Returns whether it changed.
    pub fn fit(&mut self, log_start: i64, log_end: i64) -> bool {
        let collapsed = self.truncate_from_start(log_start);
        self.truncate_from_end(log_end) || collapsed
    }

    /// Forgets everything. Returns whether it changed.
    pub fn clear(&mut self) -> bool {
        let changed = !self.entries.is_empty();
        self.entries.clear();
        changed
    }

    /// Kafka's endOffsetFor: (the largest epoch at or below `requested`, the
    /// offset where the next epoch starts); the latest epoch ends at the log end.
    /// An unknown or undefined epoch is (-1, -1); one below every entry answers
    /// with itself and the first entry's start (its data is gone).
    pub fn end_offset_for(&self, requested: i32, log_end_offset: i64) -> (i32, i64) {
        if requested < 0 {
            return (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        }
        if requested == self.latest_epoch() {
            return (requested, log_end_offset);
        }
        let higher = self
            .entries
            .partition_point(|&(epoch, _)| epoch <= requested);
        let Some(&(_, higher_start)) = self.entries.get(higher) else {
            return (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        };
        match higher.checked_sub(1).map(|floor| self.entries[floor]) {
            None => (requested, higher_start),
            Some((floor_epoch, _)) => (floor_epoch, higher_start),
        }
    }

    /// Kafka's checkpoint text.
    fn encode(&self) -> String {
        let mut text = format!("{FORMAT_VERSION}\n{}\n", self.entries.len());
        for (epoch, start) in &self.entries {
            text.push_str(&format!("{epoch} {start}\n"));
        }
        text
    }

    /// Parses checkpoint text; `None` unless it is exactly version 0, the count,
    /// and that many strictly increasing, non-negative entries.
    fn decode(bytes: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        // Every line ends with a newline: a file cut inside its last number is torn.
        if !text.ends_with('\n') {
            return None;
        }
        let mut lines = text.lines();
        if lines.next()? != FORMAT_VERSION {
            return None;
        }
        let count: usize = lines.next()?.parse().ok()?;
        if count > LEADER_EPOCH_ENTRIES_MAX {
            return None;
        }
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            let mut parts = lines.next()?.split(' ');
            let epoch: i32 = parts.next()?.parse().ok()?;
            let start: i64 = parts.next()?.parse().ok()?;
            if parts.next().is_some() || epoch < 0 || start < 0 {
                return None;
            }
            entries.push((epoch, start));
        }
        let increasing = entries
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1);
        // A torn write could end after a whole line: the count says so.
        (lines.next().is_none() && increasing).then_some(Self { entries })
    }
}

/// Reads the checkpoint in `dir`; a missing, torn or corrupt file reads as `None`.
pub fn read(fs: &dyn FileSystem, dir: &Path) -> Option<EpochCache> {
    let path = dir.join(LEADER_EPOCH_CHECKPOINT_FILE);
    EpochCache::decode(&checkpoint::read_bounded(fs, &path, EPOCH_FILE_BYTES_MAX)?)
}

/// Replaces the checkpoint in `dir` atomically; with `durable`, fsynced before
/// this returns.
pub fn write(
    fs: &dyn FileSystem,
    dir: &Path,
    cache: &EpochCache,
    durable: bool,
) -> Result<(), LogError> {
    let path = dir.join(LEADER_EPOCH_CHECKPOINT_FILE);
    checkpoint::replace(fs, &path, cache.encode().as_bytes(), durable)
        .map_err(|source| LogError::Io { path, source })
}

/// The cache of a log being opened, whose segments are recovered: the
/// checkpoint fitted to the recovered log ([`EpochCache::fit`]). It is rebuilt
/// from the batch headers when the file is missing or unreadable, or when the
/// last batch carries an epoch newer than any entry (a file older than the
/// segments: written before a crash the segments outlived). Written back,
/// durably, when that changed it.
pub fn recover(
    fs: &dyn FileSystem,
    dir: &Path,
    segments: &[Arc<Segment>],
    log_start: i64,
    log_end: i64,
) -> Result<EpochCache, LogError> {
    let loaded = read(fs, dir);
    let mut cache = loaded.clone().unwrap_or_default();
    cache.fit(log_start, log_end);
    let last_epoch = last_batch_epoch(segments, log_start)?;
    if loaded.is_none() || last_epoch > cache.latest_epoch() {
        if segments.iter().any(|s| s.size() > 0) {
            tracing::warn!(dir = %dir.display(), "rebuilding the leader-epoch cache from batch headers");
        }
        cache = EpochCache::default();
        for_each_header(segments, |header| {
            cache.assign(header.leader_epoch, header.base_offset);
        })?;
        cache.fit(log_start, log_end);
    }
    if loaded.as_ref() != Some(&cache) {
        write(fs, dir, &cache, true)?;
    }
    Ok(cache)
}

/// The leader epoch of the last batch at or after `log_start`, or -1.
fn last_batch_epoch(segments: &[Arc<Segment>], log_start: i64) -> Result<i32, LogError> {
    let Some(segment) = segments.iter().rev().find(|s| s.size() > 0) else {
        return Ok(UNDEFINED_EPOCH);
    };
    let last = segment
        .find_position(segment.next_offset() - 1)
        .map_err(|source| LogError::Io {
            path: segment.path.clone(),
            source,
        })?;
    Ok(last
        .filter(|(_, header)| header.last_offset >= log_start)
        .map_or(UNDEFINED_EPOCH, |(_, header)| header.leader_epoch))
}

/// Calls `f` with the header of every batch of `segments`, oldest first (61 bytes
/// read per batch, not the records).
pub fn for_each_header(
    segments: &[Arc<Segment>],
    mut f: impl FnMut(&super::BatchHeader),
) -> Result<(), LogError> {
    for segment in segments {
        let limit = segment.size();
        let mut position = 0;
        while let Some(header) =
            segment
                .header_at(position, limit)
                .map_err(|source| LogError::Io {
                    path: segment.path.clone(),
                    source,
                })?
        {
            f(&header);
            position += header.total_len;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
