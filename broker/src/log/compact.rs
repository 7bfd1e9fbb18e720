//! Log compaction for `cleanup.policy=compact`: keep only the latest record of each
//! key in the sealed, fsynced segments; drop tombstones older than
//! `delete.retention.ms`.
//!
//! Offsets never change. A batch that loses some records is rewritten with the
//! survivors copied verbatim (same base offset, base timestamp and last offset
//! delta, new count and CRC); a run of batches that lose everything becomes one
//! empty batch spanning their offsets, so every segment still covers a contiguous
//! offset range and recovery's contiguity check keeps its strength. Compressed
//! and control batches are kept whole and their keys are not indexed: keeping a
//! superseded record is safe, dropping a live one never happens.
//!
//! The work is split so the partition actor never blocks on it: [`Log::compaction_job`]
//! snapshots the segments, [`CompactionJob::run`] (on a blocking thread) indexes
//! the keys and writes each cleaned segment to `<base>.log.cleaned` and fsyncs it,
//! and [`Log::finish_compaction`] swaps the files in (index files removed first,
//! then an atomic rename over the segment, a directory sync, fresh index files).
//! A crash at any point leaves the old or the new segment, both valid; stale
//! `.cleaned` files are removed when the log is opened.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::batch::{self, BATCH_HEADER_BYTES, BatchHeader};
use super::fs::FileSystem;
use super::recovery::{Scan, apply_scan, index_batch};
use super::segment::Segment;
use super::store::{Log, LogConfig, LogError};
use crate::limits::{COMPACTION_KEY_BYTES_MAX, COMPACTION_KEYS_MAX};

/// Extension of a cleaned segment not yet swapped in.
pub(super) const CLEANED_EXTENSION: &str = "cleaned";
/// Attribute bits of transactional and control batches.
const TRANSACTIONAL_BIT: i16 = 0x10;
const CONTROL_BIT: i16 = 0x20;

/// A snapshot of what to compact, made by the log's owner.
pub struct CompactionJob {
    dir: PathBuf,
    fs: Arc<dyn FileSystem>,
    config: LogConfig,
    /// Every segment at snapshot time (keys are indexed over all of them).
    segments: Vec<Arc<Segment>>,
    /// How many leading segments may be rewritten (sealed and fsynced).
    cleanable: usize,
    /// Wall-clock ms, for tombstone expiry.
    now_ms: i64,
}

/// One segment rewritten to a `.cleaned` file.
pub struct CleanedSegment {
    /// The segment it replaces (swapped only if still in the log).
    original: Arc<Segment>,
    /// The fsynced cleaned file.
    path: PathBuf,
    /// Sizes, next offset and indexes of the cleaned file.
    scan: Scan,
}

/// What a job produced.
pub struct CompactionDone {
    cleaned: Vec<CleanedSegment>,
    /// Records dropped.
    pub records_removed: u64,
}

/// What a finished compaction changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactionStats {
    /// Segments swapped.
    pub segments: usize,
    /// Bytes before and after, over the swapped segments.
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Records dropped.
    pub records_removed: u64,
}

/// One record's place in an uncompressed batch.
struct RawRecord {
    /// Byte range of the whole record (length prefix included) in the batch.
    span: std::ops::Range<usize>,
    offset: i64,
    key: Option<Bytes>,
    tombstone: bool,
}

impl Log {
    /// A compaction job when the log is compacted and has sealed, fsynced segments.
    pub fn compaction_job(&self, now_ms: i64) -> Option<CompactionJob> {
        if !self.config.compact {
            return None;
        }
        let segments = self.shared.segments.read().clone();
        let sealed = &segments[..segments.len().saturating_sub(1)];
        let cleanable = sealed
            .iter()
            .take_while(|s| s.next_offset() <= self.flushed_offset)
            .count();
        (cleanable > 0).then(|| CompactionJob {
            dir: self.dir.clone(),
            fs: self.fs.clone(),
            config: self.config.clone(),
            segments,
            cleanable,
            now_ms,
        })
    }

    /// Swaps cleaned segments in; segments deleted meanwhile (retention) are skipped.
    pub fn finish_compaction(&mut self, done: CompactionDone) -> Result<CompactionStats, LogError> {
        let mut stats = CompactionStats {
            records_removed: done.records_removed,
            ..CompactionStats::default()
        };
        for cleaned in done.cleaned {
            let original = &cleaned.original;
            let present = self
                .shared
                .segments
                .read()
                .iter()
                .any(|s| Arc::ptr_eq(s, original));
            if !present {
                remove_if_exists(&*self.fs, &cleaned.path).map_err(self.io(&cleaned.path))?;
                continue;
            }
            // Index files first: a crash after the rename must not pair the new
            // data with the old positions (missing indexes are rebuilt on open).
            for ext in ["index", "timeindex"] {
                let path = original.sibling(ext);
                remove_if_exists(&*self.fs, &path).map_err(self.io(&path))?;
            }
            self.fs
                .rename(&cleaned.path, &original.path)
                .map_err(self.io(&original.path))?;
            self.fs.sync_dir(&self.dir).map_err(self.io(&self.dir))?;
            let segment = Segment::open(&*self.fs, &self.dir, original.base_offset)
                .map_err(self.io(&original.path))?;
            apply_scan(&segment, &cleaned.scan).map_err(self.io(&original.path))?;
            let files = segment
                .index
                .read()
                .write(
                    &*self.fs,
                    &segment.sibling("index"),
                    &segment.sibling("timeindex"),
                )
                .map_err(self.io(&original.path))?;
            for file in files {
                file.sync().map_err(self.io(&original.path))?;
            }
            stats.segments += 1;
            stats.bytes_before += original.size();
            stats.bytes_after += segment.size();
            let segment = Arc::new(segment);
            let mut segments = self.shared.segments.write();
            if let Some(slot) = segments.iter_mut().find(|s| Arc::ptr_eq(s, original)) {
                *slot = segment;
            }
        }
        Ok(stats)
    }
}

impl CompactionJob {
    /// Indexes the latest offset of every key, then writes each cleanable segment
    /// that would lose records to an fsynced `.cleaned` file. Blocking I/O.
    pub fn run(self) -> Result<CompactionDone, LogError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| LogError::Io { path, source }
        };
        let mut done = CompactionDone {
            cleaned: Vec::new(),
            records_removed: 0,
        };
        let Some(latest) = self.latest_offsets().map_err(io(&self.dir))? else {
            tracing::warn!(dir = %self.dir.display(), "too many keys to compact; skipped");
            return Ok(done);
        };
        for segment in &self.segments[..self.cleanable] {
            if let Some((cleaned, removed)) =
                self.clean(segment, &latest).map_err(io(&segment.path))?
            {
                done.records_removed += removed;
                done.cleaned.push(cleaned);
            }
        }
        Ok(done)
    }

    /// Latest offset per key over the whole snapshot; `None` past the bounds.
    fn latest_offsets(&self) -> io::Result<Option<HashMap<Bytes, i64>>> {
        let mut latest = HashMap::new();
        let mut key_bytes = 0usize;
        for segment in &self.segments {
            let mut overflow = false;
            for_each_batch(segment, |_, header, bytes| {
                for record in raw_records(header, bytes).unwrap_or_default() {
                    let Some(key) = record.key else { continue };
                    let len = key.len();
                    if latest.insert(key, record.offset).is_none() {
                        key_bytes += len;
                    }
                }
                overflow =
                    latest.len() > COMPACTION_KEYS_MAX || key_bytes > COMPACTION_KEY_BYTES_MAX;
                !overflow
            })?;
            if overflow {
                return Ok(None);
            }
        }
        Ok(Some(latest))
    }

    /// The cleaned copy of `segment` and how many records it lost, or `None`
    /// when nothing would be removed.
    fn clean(
        &self,
        segment: &Arc<Segment>,
        latest: &HashMap<Bytes, i64>,
    ) -> io::Result<Option<(CleanedSegment, u64)>> {
        let tombstones_expire_before = self.now_ms.saturating_sub(self.config.delete_retention_ms);
        let mut out: Vec<Bytes> = Vec::new();
        let mut removed = 0u64;
        // A run of batches that lost everything: (first header, last offset, max ts).
        let mut run: Option<(BatchHeader, i64, i64)> = None;
        for_each_batch(segment, |_, header, bytes| {
            let kept = match raw_records(header, bytes) {
                None => Kept::All,
                Some(records) => {
                    let survivors: Vec<&RawRecord> = records
                        .iter()
                        .filter(|r| match &r.key {
                            None => true,
                            Some(key) => {
                                latest.get(key) == Some(&r.offset)
                                    && !(r.tombstone
                                        && header.max_timestamp < tombstones_expire_before)
                            }
                        })
                        .collect();
                    removed += (records.len() - survivors.len()) as u64;
                    if survivors.len() == records.len() {
                        Kept::All
                    } else if survivors.is_empty() {
                        Kept::None
                    } else {
                        Kept::Some(rewrite(bytes, &survivors))
                    }
                }
            };
            match kept {
                Kept::None => {
                    run = Some(match run.take() {
                        None => (*header, header.last_offset, header.max_timestamp),
                        Some((first, _, ts)) => {
                            (first, header.last_offset, ts.max(header.max_timestamp))
                        }
                    });
                }
                other => {
                    if let Some((first, last, ts)) = run.take() {
                        out.extend(placeholders(&first, last, ts));
                    }
                    out.push(match other {
                        Kept::Some(b) => b,
                        _ => bytes.clone(),
                    });
                }
            }
            true
        })?;
        if let Some((first, last, ts)) = run.take() {
            out.extend(placeholders(&first, last, ts));
        }
        if removed == 0 {
            return Ok(None);
        }
        let path = segment
            .path
            .with_extension(format!("log.{CLEANED_EXTENSION}"));
        let file = self.fs.open(&path, true)?;
        file.set_len(0)?;
        let mut scan = Scan::empty(segment.base_offset);
        let mut position = 0u64;
        for b in &out {
            file.write_all_at(b, position)?;
            let header =
                BatchHeader::parse(b.first_chunk::<BATCH_HEADER_BYTES>().expect("whole batch"));
            index_batch(
                &mut scan,
                segment.base_offset,
                position,
                &header,
                &self.config,
            );
            scan.next_offset = header.last_offset + 1;
            scan.max_timestamp = scan.max_timestamp.max(header.max_timestamp);
            position += b.len() as u64;
        }
        scan.valid_bytes = position;
        file.sync()?;
        assert_eq!(
            scan.next_offset,
            segment.next_offset(),
            "a cleaned segment covers the same offsets"
        );
        let cleaned = CleanedSegment {
            original: segment.clone(),
            path,
            scan,
        };
        Ok(Some((cleaned, removed)))
    }
}

enum Kept {
    All,
    None,
    Some(Bytes),
}

/// Calls `f(position, header, bytes)` for each batch of a sealed segment until it
/// returns false.
fn for_each_batch(
    segment: &Segment,
    mut f: impl FnMut(u64, &BatchHeader, &Bytes) -> bool,
) -> io::Result<()> {
    let size = segment.size();
    let mut position = 0u64;
    while let Some(header) = segment.header_at(position, size)? {
        if header.total_len < BATCH_HEADER_BYTES as u64 || position + header.total_len > size {
            break;
        }
        let mut buf = vec![0u8; header.total_len as usize];
        segment.file.read_exact_at(&mut buf, position)?;
        if !f(position, &header, &Bytes::from(buf)) {
            break;
        }
        position += header.total_len;
    }
    Ok(())
}

/// The records of an uncompressed data batch; `None` for compressed, control or
/// transactional batches and malformed records (kept whole).
fn raw_records(header: &BatchHeader, batch: &Bytes) -> Option<Vec<RawRecord>> {
    if !header.is_uncompressed() || header.attributes & (CONTROL_BIT | TRANSACTIONAL_BIT) != 0 {
        return None;
    }
    let mut records = Vec::with_capacity(header.record_count.max(0) as usize);
    let mut at = BATCH_HEADER_BYTES;
    for _ in 0..header.record_count.max(0) {
        let mut rest = batch.get(at..)?;
        let before = rest.len();
        let length = usize::try_from(batch::varint(&mut rest)?).ok()?;
        let body_at = at + (before - rest.len());
        let mut body = batch.get(body_at..body_at.checked_add(length)?)?;
        body = body.get(1..)?; // attributes
        let _timestamp_delta = batch::varint(&mut body)?;
        let offset_delta = batch::varint(&mut body)?;
        let key_len = batch::varint(&mut body)?;
        let key = match key_len {
            -1 => None,
            n => {
                let n = usize::try_from(n).ok()?;
                let start = body.as_ptr() as usize - batch.as_ptr() as usize;
                let key = batch.slice(start..start.checked_add(n)?);
                body = body.get(n..)?;
                Some(key)
            }
        };
        let value_len = batch::varint(&mut body)?;
        records.push(RawRecord {
            span: at..body_at + length,
            offset: header.base_offset + offset_delta,
            key,
            tombstone: value_len == -1,
        });
        at = body_at + length;
    }
    (at == batch.len()).then_some(records)
}

/// `batch` with only `survivors`: same header but for the length, count and CRC.
fn rewrite(batch: &Bytes, survivors: &[&RawRecord]) -> Bytes {
    let mut out = batch[..BATCH_HEADER_BYTES].to_vec();
    for r in survivors {
        out.extend_from_slice(&batch[r.span.clone()]);
    }
    batch::set_length_count_crc(&mut out, survivors.len() as i32);
    Bytes::from(out)
}

/// Empty batches covering `first.base_offset..=last` (split where a last offset
/// delta would overflow).
fn placeholders(first: &BatchHeader, last: i64, max_timestamp: i64) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut base = first.base_offset;
    while base <= last {
        let delta = (last - base).min(i64::from(i32::MAX)) as i32;
        out.push(Bytes::from(
            batch::empty_batch(
                base,
                delta,
                first.leader_epoch,
                first.base_timestamp,
                max_timestamp,
            )
            .to_vec(),
        ));
        base += i64::from(delta) + 1;
    }
    out
}

fn remove_if_exists(fs: &dyn FileSystem, path: &Path) -> io::Result<()> {
    match fs.remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Removes `.cleaned` files a crash left behind (the swap never happened).
pub(super) fn remove_stale_cleaned(fs: &dyn FileSystem, dir: &Path) -> io::Result<()> {
    for path in fs.list_dir(dir)? {
        if path.extension().is_some_and(|e| e == CLEANED_EXTENSION) {
            remove_if_exists(fs, &path)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
