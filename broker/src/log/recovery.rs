//! Opening a log: load segments, trust what the recovery checkpoint covers, scan
//! and validate (CRC, lengths, contiguous offsets) everything after it, truncate at
//! the first invalid batch, and make the recovered state durable.
//!
//! Trust is per segment: a segment wholly below the recovery point keeps its bytes
//! and index files (rebuilt when missing or torn); every other segment is read batch
//! by batch and its indexes rebuilt. The leader-epoch cache is then cut to the
//! recovered log, or rebuilt from the batch headers when its checkpoint is
//! missing, unreadable or older than the segments (`epochs.rs`).

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use parking_lot::{Mutex, RwLock};

use super::batch::{self, BATCH_HEADER_BYTES, BatchHeader};
use super::checkpoint::{self, LOG_START_OFFSET_FILE, RECOVERY_POINT_FILE};
use super::epochs;
use super::fs::FileSystem;
use super::index::SegmentIndex;
use super::segment::Segment;
use super::store::{Log, LogConfig, LogError, Shared};

/// What scanning (or writing, for compaction) one segment found.
pub(super) struct Scan {
    /// Bytes of valid batches from the start of the segment.
    pub(super) valid_bytes: u64,
    /// Offset after the last valid batch.
    pub(super) next_offset: i64,
    /// Largest timestamp seen.
    pub(super) max_timestamp: i64,
    /// Rebuilt indexes.
    pub(super) index: SegmentIndex,
    /// Whether something invalid followed the valid prefix.
    pub(super) truncated: bool,
    /// Whether the indexes came from valid files (else they were rebuilt).
    pub(super) index_from_files: bool,
}

impl Scan {
    pub(super) fn empty(base_offset: i64) -> Self {
        Self {
            valid_bytes: 0,
            next_offset: base_offset,
            max_timestamp: -1,
            index: SegmentIndex::default(),
            truncated: false,
            index_from_files: false,
        }
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> LogError {
    let path = path.to_owned();
    move |source| LogError::Io { path, source }
}

/// Opens (creating if needed) the log in `dir`.
pub fn open(dir: &Path, config: LogConfig, fs: Arc<dyn FileSystem>) -> Result<Log, LogError> {
    fs.create_dir_all(dir).map_err(io_error(dir))?;
    super::compact::finish_interrupted_swaps(&*fs, dir).map_err(io_error(dir))?;
    let mut bases = segment_bases(&*fs, dir).map_err(io_error(dir))?;
    let recovery_point = checkpoint::read(&*fs, &dir.join(RECOVERY_POINT_FILE)).unwrap_or(0);
    let start_checkpoint = checkpoint::read(&*fs, &dir.join(LOG_START_OFFSET_FILE));
    if bases.is_empty() {
        bases.push(start_checkpoint.unwrap_or(0));
    }
    let mut segments = Vec::with_capacity(bases.len());
    let mut rebuilt_indexes = Vec::new();
    for (i, &base) in bases.iter().enumerate() {
        let segment = Segment::open(&*fs, dir, base).map_err(io_error(dir))?;
        // Strictly below: a checkpoint past a segment's end was written by a
        // flush after its roll, which synced its data and index files too.
        let trusted = bases.get(i + 1).is_some_and(|&next| next < recovery_point);
        let loaded = match trusted {
            true => load_trusted(&*fs, &segment).map_err(io_error(&segment.path))?,
            false => None,
        };
        let scan = match loaded {
            Some(scan) => scan,
            None => scan_validating(&segment, &config).map_err(io_error(&segment.path))?,
        };
        apply_scan(&segment, &scan).map_err(io_error(&segment.path))?;
        let segment = Arc::new(segment);
        if !scan.index_from_files {
            rebuilt_indexes.push(segment.clone());
        }
        segments.push(segment);
        if scan.truncated || bases.get(i + 1).is_some_and(|&n| n != scan.next_offset) {
            tracing::warn!(dir = %dir.display(), base, valid_bytes = scan.valid_bytes, "log truncated at the first invalid batch");
            remove_segments(&*fs, &bases[i + 1..], dir).map_err(io_error(dir))?;
            break;
        }
    }
    // The active segment's indexes live in memory until it is sealed.
    let active = segments.last().map(Arc::as_ptr);
    rebuilt_indexes.retain(|s| Some(Arc::as_ptr(s)) != active);
    make_durable(&*fs, dir, &segments, &rebuilt_indexes)?;
    finish_open(dir, config, fs, segments, start_checkpoint)
}

/// Syncs every surviving segment (truncations included) and writes the rebuilt
/// indexes of sealed segments, so the recovery checkpoint written next may cover
/// all of them: a later open trusts their bytes and index files.
fn make_durable(
    fs: &dyn FileSystem,
    dir: &Path,
    segments: &[Arc<Segment>],
    rebuilt_indexes: &[Arc<Segment>],
) -> Result<(), LogError> {
    for segment in segments {
        segment.file.sync().map_err(io_error(&segment.path))?;
    }
    for segment in rebuilt_indexes {
        let files = segment
            .index
            .read()
            .write(fs, &segment.sibling("index"), &segment.sibling("timeindex"))
            .map_err(io_error(&segment.path))?;
        for file in files {
            file.sync().map_err(io_error(&segment.path))?;
        }
    }
    fs.sync_dir(dir).map_err(io_error(dir))
}

fn finish_open(
    dir: &Path,
    config: LogConfig,
    fs: Arc<dyn FileSystem>,
    segments: Vec<Arc<Segment>>,
    start_checkpoint: Option<i64>,
) -> Result<Log, LogError> {
    let first_base = segments[0].base_offset;
    let end = segments
        .last()
        .map(|s| s.next_offset())
        .unwrap_or(first_base);
    let log_start = start_checkpoint
        .unwrap_or(first_base)
        .clamp(first_base, end);
    let recovery_path = dir.join(RECOVERY_POINT_FILE);
    checkpoint::write(&*fs, &recovery_path, end, true).map_err(io_error(&recovery_path))?;
    let epochs = epochs::recover(&*fs, dir, &segments, log_start, end)?;
    // The active segment's next index entry comes as if it had never closed.
    let bytes_since_index = segments.last().map_or(0, |s| s.bytes_since_index());
    let shared = Arc::new(Shared {
        segments: RwLock::new(segments),
        log_start_offset: AtomicI64::new(log_start),
        log_end_offset: AtomicI64::new(end),
        epochs: RwLock::new(epochs),
    });
    Ok(Log {
        dir: dir.to_owned(),
        config,
        fs,
        shared,
        flushed_offset: end,
        unflushed_sealed: Vec::new(),
        dir_dirty: false,
        bytes_since_index,
        last_checkpoint: Instant::now(),
        failed: Arc::new(Mutex::new(None)),
        truncations: Arc::new(Mutex::new(0)),
        pending_flushes: VecDeque::new(),
        lowest_cut: i64::MAX,
    })
}

/// Base offsets of the `.log` files in `dir`, ascending.
fn segment_bases(fs: &dyn FileSystem, dir: &Path) -> std::io::Result<Vec<i64>> {
    let mut bases: Vec<i64> = fs
        .list_dir(dir)?
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .filter_map(|p| p.file_stem()?.to_str()?.parse().ok())
        .filter(|b: &i64| *b >= 0)
        .collect();
    bases.sort_unstable();
    Ok(bases)
}

pub(super) fn apply_scan(segment: &Segment, scan: &Scan) -> std::io::Result<()> {
    if scan.truncated || segment.file.len()? != scan.valid_bytes {
        segment.file.set_len(scan.valid_bytes)?;
    }
    segment.size.store(scan.valid_bytes, Ordering::Release);
    segment
        .next_offset
        .store(scan.next_offset, Ordering::Release);
    segment
        .max_timestamp
        .store(scan.max_timestamp, Ordering::Release);
    *segment.index.write() = scan.index.clone();
    Ok(())
}

/// A segment wholly below the recovery point: trust its bytes and load its index
/// files. `None` (scan and validate it instead) when the files are missing or
/// invalid, or when the batch headers after the last index entry do not end
/// exactly at the end of the file.
fn load_trusted(fs: &dyn FileSystem, segment: &Segment) -> std::io::Result<Option<Scan>> {
    let size = segment.file.len()?;
    // An empty offset index of a non-empty segment is not a valid index.
    let Some(index) = SegmentIndex::load(
        fs,
        &segment.sibling("index"),
        &segment.sibling("timeindex"),
        size,
    )
    .filter(|index| size == 0 || !index.offsets.is_empty()) else {
        return Ok(None);
    };
    let mut scan = Scan::empty(segment.base_offset);
    let mut position = u64::from(index.offsets.last().map(|(_, p)| *p).unwrap_or(0));
    let mut expected = index
        .offsets
        .last()
        .map(|(o, _)| segment.base_offset + i64::from(*o));
    while let Some(header) = segment.header_at(position, size)? {
        let whole =
            header.total_len >= BATCH_HEADER_BYTES as u64 && position + header.total_len <= size;
        let continues = expected.is_none_or(|e| e == header.base_offset);
        if header.magic != batch::MAGIC_V2 || !whole || !continues {
            return Ok(None);
        }
        scan.next_offset = header.last_offset + 1;
        expected = Some(scan.next_offset);
        scan.max_timestamp = scan.max_timestamp.max(header.max_timestamp);
        position += header.total_len;
    }
    if position != size {
        return Ok(None);
    }
    scan.valid_bytes = size;
    scan.max_timestamp = index
        .times
        .last()
        .map_or(-1, |t| t.0)
        .max(scan.max_timestamp);
    scan.index = index;
    scan.index_from_files = true;
    Ok(Some(scan))
}

/// A segment at or after the recovery point: read every batch, check its CRC and
/// that offsets continue where the previous batch ended; stop at the first bad one.
fn scan_validating(segment: &Segment, config: &LogConfig) -> std::io::Result<Scan> {
    let size = segment.file.len()?;
    let mut scan = Scan::empty(segment.base_offset);
    let mut position = 0u64;
    while position < size {
        let Some(header) = segment.header_at(position, size)? else {
            scan.truncated = true;
            break;
        };
        if !batch_is_valid(segment, position, size, &header, scan.next_offset)? {
            scan.truncated = true;
            break;
        }
        index_batch(&mut scan, segment.base_offset, position, &header, config);
        scan.next_offset = header.last_offset + 1;
        scan.max_timestamp = scan.max_timestamp.max(header.max_timestamp);
        position += header.total_len;
        scan.valid_bytes = position;
    }
    Ok(scan)
}

fn batch_is_valid(
    segment: &Segment,
    position: u64,
    size: u64,
    header: &BatchHeader,
    expected: i64,
) -> std::io::Result<bool> {
    if header.magic != batch::MAGIC_V2
        || header.base_offset != expected
        || header.total_len < BATCH_HEADER_BYTES as u64
    {
        return Ok(false);
    }
    if position + header.total_len > size {
        return Ok(false);
    }
    let mut buf = vec![0u8; header.total_len as usize];
    segment.file.read_exact_at(&mut buf, position)?;
    Ok(batch::check(&buf).is_ok())
}

pub(super) fn index_batch(
    scan: &mut Scan,
    base: i64,
    position: u64,
    header: &BatchHeader,
    config: &LogConfig,
) {
    let relative = (header.base_offset - base) as u32;
    let last_indexed = scan.index.offsets.last().map(|(_, p)| u64::from(*p));
    if last_indexed.is_none_or(|p| position - p >= u64::from(config.index_interval_bytes)) {
        scan.index.offsets.push((relative, position as u32));
    }
    if header.max_timestamp > scan.max_timestamp {
        scan.index.times.push((header.max_timestamp, relative));
    }
}

fn remove_segments(fs: &dyn FileSystem, bases: &[i64], dir: &Path) -> std::io::Result<()> {
    for base in bases {
        let stem = super::segment::file_stem(*base);
        for ext in ["log", "index", "timeindex"] {
            let path = dir.join(format!("{stem}.{ext}"));
            if fs.exists(&path) {
                fs.remove_file(&path)?;
            }
        }
    }
    Ok(())
}
