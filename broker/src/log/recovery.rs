//! Opening a log: load segments, trust what the recovery checkpoint covers, scan
//! and validate (CRC, lengths, contiguous offsets) everything after it, truncate at
//! the first invalid batch, and make the recovered state durable.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use parking_lot::RwLock;
use weir_client::protocol::records::RecordBatchView;

use super::checkpoint::{self, LOG_START_OFFSET_FILE, RECOVERY_POINT_FILE};
use super::fs::FileSystem;
use super::index::SegmentIndex;
use super::segment::{BATCH_HEADER_BYTES, BatchHeader, Segment};
use super::store::{Log, LogConfig, LogError, Shared};

/// What scanning one segment found.
struct Scan {
    /// Bytes of valid batches from the start of the segment.
    valid_bytes: u64,
    /// Offset after the last valid batch.
    next_offset: i64,
    /// Largest timestamp seen.
    max_timestamp: i64,
    /// Rebuilt indexes.
    index: SegmentIndex,
    /// Whether something invalid followed the valid prefix.
    truncated: bool,
}

impl Scan {
    fn empty(base_offset: i64) -> Self {
        Self {
            valid_bytes: 0,
            next_offset: base_offset,
            max_timestamp: -1,
            index: SegmentIndex::default(),
            truncated: false,
        }
    }
}

/// Opens (creating if needed) the log in `dir`.
pub fn open(dir: &Path, config: LogConfig, fs: Arc<dyn FileSystem>) -> Result<Log, LogError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| LogError::Io { path, source }
    };
    fs.create_dir_all(dir).map_err(io(dir))?;
    let mut bases = segment_bases(&*fs, dir).map_err(io(dir))?;
    let recovery_point = checkpoint::read(&*fs, &dir.join(RECOVERY_POINT_FILE)).unwrap_or(0);
    let start_checkpoint = checkpoint::read(&*fs, &dir.join(LOG_START_OFFSET_FILE));
    if bases.is_empty() {
        bases.push(start_checkpoint.unwrap_or(0));
    }
    let mut segments = Vec::with_capacity(bases.len());
    for (i, &base) in bases.iter().enumerate() {
        let segment = Segment::open(&*fs, dir, base).map_err(io(dir))?;
        let trusted = bases.get(i + 1).is_some_and(|&next| next <= recovery_point);
        let scan = if trusted {
            load_trusted(&*fs, &segment, &config)
        } else {
            scan_validating(&segment, &config)
        }
        .map_err(io(&segment.path))?;
        apply_scan(&segment, &scan).map_err(io(&segment.path))?;
        segments.push(Arc::new(segment));
        if scan.truncated
            || bases
                .get(i + 1)
                .is_some_and(|&next| next != scan.next_offset)
        {
            tracing::warn!(dir = %dir.display(), base, valid_bytes = scan.valid_bytes, "log truncated at the first invalid batch");
            remove_segments(&*fs, &bases[i + 1..], dir).map_err(io(dir))?;
            break;
        }
    }
    finish_open(dir, config, fs, segments, start_checkpoint)
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
    // Whatever survived is made durable now, so the checkpoint may cover it.
    for segment in &segments {
        segment.file.sync().map_err(|source| LogError::Io {
            path: segment.path.clone(),
            source,
        })?;
    }
    let recovery_path = dir.join(RECOVERY_POINT_FILE);
    checkpoint::write(&*fs, &recovery_path, end, true).map_err(|source| LogError::Io {
        path: recovery_path,
        source,
    })?;
    let shared = Arc::new(Shared {
        segments: RwLock::new(segments),
        log_start_offset: AtomicI64::new(log_start),
        log_end_offset: AtomicI64::new(end),
    });
    Ok(Log {
        dir: dir.to_owned(),
        config,
        fs,
        shared,
        flushed_offset: end,
        unflushed_sealed: Vec::new(),
        bytes_since_index: 0,
        last_checkpoint: Instant::now(),
        failed: None,
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

fn apply_scan(segment: &Segment, scan: &Scan) -> std::io::Result<()> {
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

/// A segment wholly below the recovery point: trust its bytes; load its index
/// files, or rebuild them from batch headers when they are missing or torn.
fn load_trusted(
    fs: &dyn FileSystem,
    segment: &Segment,
    config: &LogConfig,
) -> std::io::Result<Scan> {
    let size = segment.file.len()?;
    let loaded = SegmentIndex::load(
        fs,
        &segment.sibling("index"),
        &segment.sibling("timeindex"),
        size,
    );
    let mut scan = Scan::empty(segment.base_offset);
    // Walk headers from the last indexed batch to find the end offset.
    let start = loaded.as_ref().and_then(|i| i.offsets.last().copied());
    let mut position = u64::from(start.map(|(_, p)| p).unwrap_or(0));
    while let Some(header) = segment.header_at(position, size)? {
        if header.magic != 2 || position + header.total_len > size {
            break;
        }
        if loaded.is_none() {
            index_batch(&mut scan, segment.base_offset, position, &header, config);
        }
        scan.next_offset = header.last_offset + 1;
        scan.max_timestamp = scan.max_timestamp.max(header.max_timestamp);
        position += header.total_len;
    }
    scan.valid_bytes = position;
    if let Some(index) = loaded {
        scan.max_timestamp = index
            .times
            .last()
            .map(|t| t.0)
            .unwrap_or(-1)
            .max(scan.max_timestamp);
        scan.index = index;
    }
    Ok(scan)
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
    if header.magic != 2
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
    Ok(RecordBatchView::parse(&Bytes::from(buf)).is_ok())
}

fn index_batch(
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
