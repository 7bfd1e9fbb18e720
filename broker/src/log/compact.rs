//! Log compaction for `cleanup.policy=compact`: keep only the latest record of each
//! key in the sealed, fsynced segments, drop tombstones older than
//! `delete.retention.ms`, and merge consecutive small segments, so a compacted log
//! holds about one record per live key in a bounded number of files.
//!
//! Offsets never change. A batch that loses some records is rewritten with the
//! survivors copied verbatim (same base offset, base timestamp and last offset
//! delta, new count and CRC); a run of batches that lose everything becomes one
//! empty batch spanning their offsets, so every segment still covers a contiguous
//! offset range and recovery's contiguity check keeps its strength. Compressed
//! batches that do not decompress within bounds are kept whole and their keys
//! are not indexed: keeping a superseded record is safe, dropping a live one
//! never happens.
//!
//! Transactions, as Kafka's cleaner treats them ([`CompactionJob::with_transactions`]):
//! only segments below the last stable offset are cleaned, so every
//! transactional batch there has its marker; records of aborted transactions
//! are dropped, committed ones compact like any others; a COMMIT or ABORT
//! marker is dropped once none of its transaction's records are left and it
//! is older than `delete.retention.ms` (a marker kept past its data would end
//! nothing; data kept past its marker would reopen the transaction when the
//! log is replayed, so a marker with data left always stays).
//!
//! The work is split so the partition actor never blocks on it: [`Log::compaction_job`]
//! snapshots the segments, [`CompactionJob::run`] (on a blocking thread) indexes
//! the keys and writes each group of consecutive segments, cleaned, into one
//! fsynced `<first base>.log.cleaned`, and [`Log::finish_compaction`] swaps it in:
//! rename to `.log.swap` and sync the directory (the commit point), remove the
//! group's old files, rename the swap over the first segment, sync again. A crash
//! before the commit point leaves a `.cleaned` file that opening the log removes;
//! after it, opening the log finishes the swap ([`finish_interrupted_swaps`]).
//! A follower's truncation during a job makes it stale: it stops, and nothing it
//! wrote is swapped in (it read segments that were cut).

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use weir_client::protocol::compression::{Compression, compress, decompress};

use super::batch::{self, BATCH_HEADER_BYTES, BatchHeader};
use super::fs::FileSystem;
use super::recovery::{Scan, apply_scan, index_batch};
use super::segment::{Segment, file_stem};
use super::store::{Log, LogConfig, LogError, Truncations};
use crate::limits::{
    COMPACTION_DECOMPRESSED_BYTES_MAX, COMPACTION_KEY_BYTES_MAX, COMPACTION_KEYS_MAX,
};

/// Extension of a cleaned group not yet committed.
pub(super) const CLEANED_EXTENSION: &str = "cleaned";
/// Extension of a committed cleaned group not yet renamed into place.
pub(super) const SWAP_EXTENSION: &str = "swap";
/// Attribute bits of transactional and control batches.
const TRANSACTIONAL_BIT: i16 = 0x10;
const CONTROL_BIT: i16 = 0x20;
/// Widest offset range one segment may cover (index entries are relative u32s;
/// a last offset delta is an i32).
const SEGMENT_OFFSET_SPAN_MAX: i64 = i32::MAX as i64;

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
    /// The log's truncation count, and its value at snapshot time.
    truncations: Truncations,
    truncations_seen: u64,
    /// Aborted transactions by producer id: (first offset, marker offset).
    aborted: HashMap<i64, Vec<(i64, i64)>>,
}

/// What a job must know of a partition's transactions.
#[derive(Debug, Clone, Default)]
pub struct CompactionTxns {
    /// The last stable offset: nothing from here on is cleaned.
    pub stable_offset: i64,
    /// Aborted transactions: (producer id, first offset, marker offset).
    pub aborted: Vec<(i64, i64, i64)>,
}

impl CompactionTxns {
    /// A log with no transaction open or aborted (tests, logs without any).
    pub fn none() -> Self {
        Self {
            stable_offset: i64::MAX,
            aborted: Vec::new(),
        }
    }
}

/// Consecutive segments rewritten, cleaned, into one `.cleaned` file.
pub struct CleanedGroup {
    /// The segments it replaces (swapped only if all are still in the log).
    originals: Vec<Arc<Segment>>,
    /// The fsynced cleaned file.
    path: PathBuf,
    /// Size, next offset and indexes of the cleaned file.
    scan: Scan,
}

/// What a job produced.
pub struct CompactionDone {
    groups: Vec<CleanedGroup>,
    /// The log's truncation count when the job was made.
    truncations_seen: u64,
    /// Records dropped.
    pub records_removed: u64,
}

/// What a finished compaction changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactionStats {
    /// Segments replaced, and segments that replaced them.
    pub segments_before: usize,
    pub segments_after: usize,
    /// Bytes before and after, over the replaced segments.
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Records dropped.
    pub records_removed: u64,
}

/// How one segment would come out of cleaning.
#[derive(Debug, Clone, Copy)]
struct Plan {
    bytes_after: u64,
    records_removed: u64,
}

impl Log {
    /// A compaction job when the log is compacted and has sealed, fsynced
    /// segments below the last stable offset.
    pub fn compaction_job(&self, now_ms: i64, txns: CompactionTxns) -> Option<CompactionJob> {
        if !self.config.compact {
            return None;
        }
        let segments = self.shared.segments.read().clone();
        let sealed = &segments[..segments.len().saturating_sub(1)];
        let cleanable = sealed
            .iter()
            .take_while(|s| s.next_offset() <= self.flushed_offset)
            .count();
        let job = CompactionJob {
            dir: self.dir.clone(),
            fs: self.fs.clone(),
            config: self.config.clone(),
            segments,
            cleanable,
            now_ms,
            truncations: self.truncations.clone(),
            truncations_seen: *self.truncations.lock(),
            aborted: HashMap::new(),
        };
        job.with_transactions(txns)
    }

    /// Swaps cleaned groups in; a group whose segments changed meanwhile
    /// (retention deleted one) is discarded.
    pub fn finish_compaction(&mut self, done: CompactionDone) -> Result<CompactionStats, LogError> {
        if done.truncations_seen != *self.truncations.lock() {
            // The job read segments a truncation cut since.
            for group in done.groups {
                remove_if_exists(&*self.fs, &group.path).map_err(self.io(&group.path))?;
            }
            return Ok(CompactionStats::default());
        }
        let mut stats = CompactionStats {
            records_removed: done.records_removed,
            ..CompactionStats::default()
        };
        for group in done.groups {
            let at = {
                let segments = self.shared.segments.read();
                let first = segments
                    .iter()
                    .position(|s| Arc::ptr_eq(s, &group.originals[0]));
                first.filter(|&i| {
                    segments.len() > i + group.originals.len()
                        && group
                            .originals
                            .iter()
                            .zip(&segments[i..])
                            .all(|(a, b)| Arc::ptr_eq(a, b))
                })
            };
            let Some(at) = at else {
                remove_if_exists(&*self.fs, &group.path).map_err(self.io(&group.path))?;
                continue;
            };
            let segment = self.swap_in(&group)?;
            stats.segments_before += group.originals.len();
            stats.segments_after += 1;
            stats.bytes_before += group.originals.iter().map(|s| s.size()).sum::<u64>();
            stats.bytes_after += segment.size();
            let mut segments = self.shared.segments.write();
            segments.splice(at..at + group.originals.len(), [Arc::new(segment)]);
        }
        Ok(stats)
    }

    /// The file work of one swap; returns the new segment, indexes written.
    fn swap_in(&self, group: &CleanedGroup) -> Result<Segment, LogError> {
        let first = &group.originals[0];
        let swap = swap_path(&first.path);
        self.fs.rename(&group.path, &swap).map_err(self.io(&swap))?;
        self.fs.sync_dir(&self.dir).map_err(self.io(&self.dir))?;
        finish_swap(
            &*self.fs,
            &self.dir,
            first.base_offset,
            group.scan.next_offset,
        )
        .map_err(self.io(&swap))?;
        let segment =
            Segment::open(&*self.fs, &self.dir, first.base_offset).map_err(self.io(&first.path))?;
        apply_scan(&segment, &group.scan).map_err(self.io(&first.path))?;
        let files = segment
            .index
            .read()
            .write(
                &*self.fs,
                &segment.sibling("index"),
                &segment.sibling("timeindex"),
            )
            .map_err(self.io(&first.path))?;
        for file in files {
            file.sync().map_err(self.io(&first.path))?;
        }
        Ok(segment)
    }
}

impl CompactionJob {
    /// The offset after the last segment this job may rewrite.
    pub fn cleanable_end(&self) -> i64 {
        self.segments[self.cleanable - 1].next_offset()
    }

    /// Whether the log was truncated since the snapshot.
    fn truncated(&self) -> bool {
        *self.truncations.lock() != self.truncations_seen
    }

    /// Indexes the latest offset of every key, plans each cleanable segment,
    /// groups consecutive ones that fit one segment together, and writes every
    /// group that changes something to an fsynced `.cleaned` file. Blocking I/O.
    /// A truncation meanwhile stops it early (reads of a cut segment may fail):
    /// the result is discarded when it is finished.
    pub fn run(self) -> Result<CompactionDone, LogError> {
        let truncations_seen = self.truncations_seen;
        match self.run_until_truncated() {
            Err(e) if *self.truncations.lock() != truncations_seen => {
                tracing::debug!(error = %e, "compaction stopped: the log was truncated");
                Ok(CompactionDone {
                    groups: Vec::new(),
                    records_removed: 0,
                    truncations_seen,
                })
            }
            other => other,
        }
    }

    /// Cleans only below `txns.stable_offset`, dropping aborted records and
    /// spent markers; `None` when nothing below it is cleanable.
    fn with_transactions(mut self, txns: CompactionTxns) -> Option<Self> {
        self.cleanable = self.segments[..self.cleanable]
            .iter()
            .take_while(|s| s.next_offset() <= txns.stable_offset)
            .count();
        for (producer_id, first, last) in txns.aborted {
            self.aborted
                .entry(producer_id)
                .or_default()
                .push((first, last));
        }
        (self.cleanable > 0).then_some(self)
    }

    /// Whether `header`'s (transactional) batch belongs to an aborted transaction.
    fn is_aborted(&self, header: &BatchHeader) -> bool {
        self.aborted.get(&header.producer_id).is_some_and(|txns| {
            txns.iter()
                .any(|&(first, last)| first <= header.base_offset && header.base_offset < last)
        })
    }

    /// Whether a data record survives cleaning.
    fn survives(
        &self,
        header: &BatchHeader,
        record: &RawRecord,
        latest: &HashMap<Bytes, i64>,
    ) -> bool {
        let tombstones_expire_before = self.now_ms.saturating_sub(self.config.delete_retention_ms);
        match &record.key {
            None => true,
            Some(key) => {
                latest.get(key) == Some(&record.offset)
                    && !(record.tombstone && header.max_timestamp < tombstones_expire_before)
            }
        }
    }

    /// Base offsets of the markers this job drops: those whose transaction
    /// has no record left (aborted, compacted away, or below the log start)
    /// and that are older than `delete.retention.ms`. Decided over every
    /// cleanable segment before any is written, as a transaction's records
    /// and its marker may sit in different groups.
    fn spent_markers(&self, latest: &HashMap<Bytes, i64>) -> io::Result<HashSet<i64>> {
        let horizon = self.now_ms.saturating_sub(self.config.delete_retention_ms);
        // Producers with a transaction seen open, and whether it keeps data.
        let mut open: HashMap<i64, bool> = HashMap::new();
        let mut spent = HashSet::new();
        for segment in &self.segments[..self.cleanable] {
            for_each_batch(segment, |header, bytes| {
                if header.attributes & CONTROL_BIT != 0 {
                    let kept = open.remove(&header.producer_id).unwrap_or(false);
                    if !kept && header.max_timestamp < horizon {
                        spent.insert(header.base_offset);
                    }
                } else if header.attributes & TRANSACTIONAL_BIT != 0 {
                    let kept = !self.is_aborted(header)
                        && match raw_records(header, bytes) {
                            Some(section) => section
                                .records
                                .iter()
                                .any(|r| self.survives(header, r, latest)),
                            None => true,
                        };
                    *open.entry(header.producer_id).or_insert(false) |= kept;
                }
                Ok(true)
            })?;
        }
        Ok(spent)
    }

    fn run_until_truncated(&self) -> Result<CompactionDone, LogError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| LogError::Io { path, source }
        };
        let mut done = CompactionDone {
            groups: Vec::new(),
            records_removed: 0,
            truncations_seen: self.truncations_seen,
        };
        let Some((latest, markers)) = self.latest_offsets().map_err(io(&self.dir))? else {
            tracing::warn!(dir = %self.dir.display(), "too many keys to compact; skipped");
            return Ok(done);
        };
        let spent = if markers {
            self.spent_markers(&latest).map_err(io(&self.dir))?
        } else {
            HashSet::new()
        };
        let latest = Cleaning { spent, latest };
        let cleanable = &self.segments[..self.cleanable];
        let mut plans = Vec::with_capacity(cleanable.len());
        for segment in cleanable {
            let mut bytes_after = 0;
            let records_removed = self
                .clean(segment, &latest, &mut |b| {
                    bytes_after += b.len() as u64;
                    Ok(())
                })
                .map_err(io(&segment.path))?;
            plans.push(Plan {
                bytes_after,
                records_removed,
            });
        }
        for range in self.groups(&plans) {
            let removed: u64 = plans[range.clone()].iter().map(|p| p.records_removed).sum();
            if range.len() == 1 && removed == 0 {
                continue;
            }
            // A sealed segment ends where the next begins (fixed at snapshot).
            let end = self.segments[range.end].base_offset;
            let originals = cleanable[range].to_vec();
            let Some(group) = self
                .write_group(originals, end, &latest)
                .map_err(io(&self.dir))?
            else {
                break;
            };
            done.records_removed += removed;
            done.groups.push(group);
        }
        Ok(done)
    }

    /// Greedy runs of consecutive segments whose cleaned sizes fit one segment.
    fn groups(&self, plans: &[Plan]) -> Vec<std::ops::Range<usize>> {
        let segments = &self.segments[..self.cleanable];
        let mut groups = Vec::new();
        let mut start = 0;
        let mut bytes = 0u64;
        for (i, plan) in plans.iter().enumerate() {
            let span = segments[i].next_offset() - segments[start].base_offset;
            let fits = bytes + plan.bytes_after <= self.config.segment_bytes
                && span <= SEGMENT_OFFSET_SPAN_MAX;
            if i > start && !fits {
                groups.push(start..i);
                start = i;
                bytes = 0;
            }
            bytes += plan.bytes_after;
        }
        if start < plans.len() {
            groups.push(start..plans.len());
        }
        groups
    }

    /// Writes `originals` (ending at offset `end`), cleaned, into one fsynced
    /// `.cleaned` file; `None` (file removed) when a truncation cut the log
    /// meanwhile.
    fn write_group(
        &self,
        originals: Vec<Arc<Segment>>,
        end: i64,
        latest: &Cleaning,
    ) -> io::Result<Option<CleanedGroup>> {
        let first = &originals[0];
        let path = first
            .path
            .with_extension(format!("log.{CLEANED_EXTENSION}"));
        let file = self.fs.open(&path, true)?;
        file.set_len(0)?;
        let mut scan = Scan::empty(first.base_offset);
        let mut position = 0u64;
        for segment in &originals {
            self.clean(segment, latest, &mut |b| {
                file.write_all_at(b, position)?;
                let header = BatchHeader::parse(b.first_chunk().expect("whole batches"));
                index_batch(
                    &mut scan,
                    first.base_offset,
                    position,
                    &header,
                    &self.config,
                );
                scan.next_offset = header.last_offset + 1;
                scan.max_timestamp = scan.max_timestamp.max(header.max_timestamp);
                position += b.len() as u64;
                Ok(())
            })?;
        }
        scan.valid_bytes = position;
        file.sync()?;
        // A truncation counts up before it changes a file, so an unchanged count
        // after the reads means they saw the segments as snapshotted.
        if self.truncated() {
            remove_if_exists(&*self.fs, &path)?;
            return Ok(None);
        }
        assert_eq!(
            scan.next_offset, end,
            "a cleaned group covers the same offsets"
        );
        Ok(Some(CleanedGroup {
            originals,
            path,
            scan,
        }))
    }

    /// Latest offset per key over the whole snapshot, and whether the
    /// cleanable segments hold a marker at all (the pre-pass over them is
    /// skipped when not); `None` past the bounds.
    fn latest_offsets(&self) -> io::Result<Option<(HashMap<Bytes, i64>, bool)>> {
        let mut latest = HashMap::new();
        let mut key_bytes = 0usize;
        let mut markers = false;
        for (i, segment) in self.segments.iter().enumerate() {
            let mut overflow = false;
            for_each_batch(segment, |header, bytes| {
                markers |= i < self.cleanable && header.attributes & CONTROL_BIT != 0;
                // An aborted record never supersedes anything.
                let aborted = header.attributes & TRANSACTIONAL_BIT != 0 && self.is_aborted(header);
                let records = raw_records(header, bytes)
                    .filter(|_| !aborted)
                    .map(|r| r.records);
                for record in records.unwrap_or_default() {
                    let Some(key) = record.key else { continue };
                    let len = key.len();
                    if latest.insert(key, record.offset).is_none() {
                        key_bytes += len;
                    }
                }
                overflow =
                    latest.len() > COMPACTION_KEYS_MAX || key_bytes > COMPACTION_KEY_BYTES_MAX;
                Ok(!overflow)
            })?;
            if overflow {
                return Ok(None);
            }
        }
        Ok(Some((latest, markers)))
    }

    /// Emits `segment`'s batches as they come out of cleaning; returns how many
    /// records were dropped.
    fn clean(
        &self,
        segment: &Segment,
        cleaning: &Cleaning,
        emit: &mut dyn FnMut(&Bytes) -> io::Result<()>,
    ) -> io::Result<u64> {
        let mut removed = 0u64;
        // A run of batches that lost everything: (first header, last offset, max ts).
        let mut run: Option<(BatchHeader, i64, i64)> = None;
        for_each_batch(segment, |header, bytes| {
            let control = header.attributes & CONTROL_BIT != 0;
            let transactional = header.attributes & TRANSACTIONAL_BIT != 0;
            let kept = match raw_records(header, bytes) {
                _ if (control && cleaning.spent.contains(&header.base_offset))
                    || (transactional && !control && self.is_aborted(header)) =>
                {
                    removed += header.record_count.max(0) as u64;
                    Kept::None
                }
                None => Kept::All,
                Some(section) => {
                    let records = &section.records;
                    let survivors: Vec<&RawRecord> = records
                        .iter()
                        .filter(|r| self.survives(header, r, &cleaning.latest))
                        .collect();
                    removed += (records.len() - survivors.len()) as u64;
                    if survivors.len() == records.len() {
                        Kept::All
                    } else if survivors.is_empty() {
                        Kept::None
                    } else {
                        match rewrite(bytes, &section, &survivors) {
                            Some(b) => Kept::Some(b),
                            None => Kept::All,
                        }
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
                        for b in placeholders(&first, last, ts) {
                            emit(&b)?;
                        }
                    }
                    match other {
                        Kept::Some(b) => emit(&b)?,
                        _ => emit(bytes)?,
                    }
                }
            }
            Ok(true)
        })?;
        if let Some((first, last, ts)) = run.take() {
            for b in placeholders(&first, last, ts) {
                emit(&b)?;
            }
        }
        Ok(removed)
    }
}

enum Kept {
    All,
    None,
    Some(Bytes),
}

/// What a job decided before writing: the latest offset of every key, and
/// the markers it drops.
struct Cleaning {
    latest: HashMap<Bytes, i64>,
    spent: HashSet<i64>,
}

/// One record's place in a batch's (decompressed) records section.
struct RawRecord {
    /// Byte range of the whole record (length prefix included) in the section.
    span: std::ops::Range<usize>,
    offset: i64,
    key: Option<Bytes>,
    tombstone: bool,
}

/// The records of a data batch, as compaction reads them.
struct RecordsSection {
    /// The records section, decompressed.
    bytes: Bytes,
    /// The batch's codec (survivors are compressed with it again).
    codec: Compression,
    records: Vec<RawRecord>,
}

/// Calls `f(header, bytes)` for each batch of a sealed segment until it returns
/// false.
fn for_each_batch(
    segment: &Segment,
    mut f: impl FnMut(&BatchHeader, &Bytes) -> io::Result<bool>,
) -> io::Result<()> {
    let size = segment.size();
    let mut position = 0u64;
    while let Some(header) = segment.header_at(position, size)? {
        if header.total_len < BATCH_HEADER_BYTES as u64 || position + header.total_len > size {
            break;
        }
        let mut buf = vec![0u8; header.total_len as usize];
        segment.file.read_exact_at(&mut buf, position)?;
        if !f(&header, &Bytes::from(buf))? {
            break;
        }
        position += header.total_len;
    }
    Ok(())
}

/// The records of a data batch (transactional ones included: the caller
/// decides on aborted transactions); `None` for control batches, malformed
/// records, and compressed sections that do not decompress within
/// `COMPACTION_DECOMPRESSED_BYTES_MAX` (all kept whole).
fn raw_records(header: &BatchHeader, batch: &Bytes) -> Option<RecordsSection> {
    if header.attributes & CONTROL_BIT != 0 {
        return None;
    }
    let codec = Compression::from_attributes(header.attributes).ok()?;
    let section = match codec {
        Compression::None => batch.slice(BATCH_HEADER_BYTES..),
        codec => Bytes::from(
            decompress(
                codec,
                &batch[BATCH_HEADER_BYTES..],
                COMPACTION_DECOMPRESSED_BYTES_MAX,
            )
            .ok()?,
        ),
    };
    let mut records = Vec::with_capacity(header.record_count.clamp(0, 1 << 16) as usize);
    let mut at = 0;
    for _ in 0..header.record_count.max(0) {
        let mut rest = section.get(at..)?;
        let before = rest.len();
        let length = usize::try_from(batch::varint(&mut rest)?).ok()?;
        let body_at = at + (before - rest.len());
        let mut body = section.get(body_at..body_at.checked_add(length)?)?;
        body = body.get(1..)?; // attributes
        let _timestamp_delta = batch::varint(&mut body)?;
        let offset_delta = batch::varint(&mut body)?;
        let key_len = batch::varint(&mut body)?;
        let key = match key_len {
            -1 => None,
            n => {
                let n = usize::try_from(n).ok()?;
                let start = body.as_ptr() as usize - section.as_ptr() as usize;
                let key = section.slice(start..start.checked_add(n)?);
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
    (at == section.len()).then_some(RecordsSection {
        bytes: section,
        codec,
        records,
    })
}

/// `batch` with only `survivors`: same header but for the length, count and
/// CRC, the records compressed again with the batch's codec. `None` if that
/// fails (the batch is then kept whole).
fn rewrite(batch: &Bytes, section: &RecordsSection, survivors: &[&RawRecord]) -> Option<Bytes> {
    let mut out = batch[..BATCH_HEADER_BYTES].to_vec();
    if section.codec == Compression::None {
        for r in survivors {
            out.extend_from_slice(&section.bytes[r.span.clone()]);
        }
    } else {
        let mut records = Vec::new();
        for r in survivors {
            records.extend_from_slice(&section.bytes[r.span.clone()]);
        }
        compress(section.codec, &records, &mut out).ok()?;
    }
    batch::set_length_count_crc(&mut out, survivors.len() as i32);
    Some(Bytes::from(out))
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

fn swap_path(segment_path: &Path) -> PathBuf {
    segment_path.with_extension(format!("log.{SWAP_EXTENSION}"))
}

/// With `<base>.log.swap` committed: removes every segment file of the group it
/// replaces (bases in `base..end`), then renames the swap into place and syncs
/// the directory. Idempotent, so an interrupted swap is finished on open.
fn finish_swap(fs: &dyn FileSystem, dir: &Path, base: i64, end: i64) -> io::Result<()> {
    let stem = file_stem(base);
    for path in fs.list_dir(dir)? {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let mut parts = name.splitn(2, '.');
        let (Some(number), Some(ext)) = (parts.next(), parts.next()) else {
            continue;
        };
        let in_group = number
            .parse::<i64>()
            .is_ok_and(|b| (base..end).contains(&b));
        let old = matches!(ext, "index" | "timeindex") || (ext == "log" && number != stem);
        if in_group && old {
            remove_if_exists(fs, &path)?;
        }
    }
    let swap = swap_path(&dir.join(format!("{stem}.log")));
    fs.rename(&swap, &dir.join(format!("{stem}.log")))?;
    fs.sync_dir(dir)
}

/// On open: removes `.cleaned` files (their swap never committed) and finishes
/// every committed swap a crash interrupted.
pub(super) fn finish_interrupted_swaps(fs: &dyn FileSystem, dir: &Path) -> io::Result<()> {
    for path in fs.list_dir(dir)? {
        let ext = path.extension().and_then(|e| e.to_str());
        if ext == Some(CLEANED_EXTENSION) {
            remove_if_exists(fs, &path)?;
            continue;
        }
        if ext != Some(SWAP_EXTENSION) {
            continue;
        }
        let base = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.split('.').next())
            .and_then(|n| n.parse::<i64>().ok());
        let Some(base) = base else { continue };
        match swap_end(fs, &path)? {
            Some(end) => {
                tracing::warn!(path = %path.display(), "finishing an interrupted compaction swap");
                finish_swap(fs, dir, base, end)?;
            }
            None => remove_if_exists(fs, &path)?,
        }
    }
    Ok(())
}

/// The offset after the last whole batch of a swap file (`None` when it has none).
fn swap_end(fs: &dyn FileSystem, path: &Path) -> io::Result<Option<i64>> {
    let file = fs.open(path, false)?;
    let size = file.len()?;
    let (mut position, mut end) = (0u64, None);
    while position + BATCH_HEADER_BYTES as u64 <= size {
        let mut buf = [0u8; BATCH_HEADER_BYTES];
        file.read_exact_at(&mut buf, position)?;
        let header = BatchHeader::parse(&buf);
        if header.total_len < BATCH_HEADER_BYTES as u64 || position + header.total_len > size {
            break;
        }
        end = Some(header.last_offset + 1);
        position += header.total_len;
    }
    Ok(end)
}

#[cfg(test)]
mod tests;
