//! One segment: a file of whole RecordBatch v2 batches starting at `base_offset`,
//! with its in-memory sparse indexes. The writer appends; readers see only bytes
//! below the published `size`.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use parking_lot::RwLock;

use super::batch::{BATCH_HEADER_BYTES, BatchHeader};
use super::fs::{FileHandle, FileSystem};
use super::index::SegmentIndex;

/// One segment of a partition log.
pub struct Segment {
    /// Offset of the first batch (also the file name).
    pub base_offset: i64,
    /// The `.log` file.
    pub file: Arc<dyn FileHandle>,
    /// Path of the `.log` file.
    pub path: PathBuf,
    /// Bytes readers may see (advanced only after a write completes).
    pub size: AtomicU64,
    /// Offset after the last batch (== next segment's base when sealed).
    pub next_offset: AtomicI64,
    /// Largest timestamp of any batch (-1 when empty).
    pub max_timestamp: AtomicI64,
    /// Sparse indexes.
    pub index: RwLock<SegmentIndex>,
    /// Wall-clock ms when the first batch was appended (for `segment.ms`), or -1.
    pub first_append_ms: AtomicI64,
}

/// `00000000000000000042`.
pub fn file_stem(base_offset: i64) -> String {
    format!("{base_offset:020}")
}

impl Segment {
    /// Opens (or creates) the segment file for `base_offset` in `dir`.
    pub fn open(fs: &dyn FileSystem, dir: &Path, base_offset: i64) -> io::Result<Self> {
        let path = dir.join(format!("{}.log", file_stem(base_offset)));
        let file = fs.open(&path, true)?;
        let size = file.len()?;
        Ok(Self {
            base_offset,
            file,
            path,
            size: AtomicU64::new(size),
            next_offset: AtomicI64::new(base_offset),
            max_timestamp: AtomicI64::new(-1),
            index: RwLock::new(SegmentIndex::default()),
            first_append_ms: AtomicI64::new(-1),
        })
    }

    /// Path of a sibling file with the given extension.
    pub fn sibling(&self, extension: &str) -> PathBuf {
        self.path.with_extension(extension)
    }

    /// Visible size.
    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    /// Offset after the last visible batch.
    pub fn next_offset(&self) -> i64 {
        self.next_offset.load(Ordering::Acquire)
    }

    /// Bytes from the start of the last indexed batch to the end: what the
    /// writer counts towards the next index entry (0 when empty).
    pub fn bytes_since_index(&self) -> u64 {
        let last = self
            .index
            .read()
            .offsets
            .last()
            .map_or(0, |o| u64::from(o.1));
        self.size().saturating_sub(last)
    }

    /// Reads the batch header at `position`, if a whole header lies below `limit`.
    pub fn header_at(&self, position: u64, limit: u64) -> io::Result<Option<BatchHeader>> {
        if position + BATCH_HEADER_BYTES as u64 > limit {
            return Ok(None);
        }
        let mut buf = [0u8; BATCH_HEADER_BYTES];
        self.file.read_exact_at(&mut buf, position)?;
        Ok(Some(BatchHeader::parse(&buf)))
    }

    /// Position of the batch containing `offset` (or the first after it), scanning
    /// forward from the index entry at or before it; `None` past the end.
    pub fn find_position(&self, offset: i64) -> io::Result<Option<(u64, BatchHeader)>> {
        let relative = (offset - self.base_offset).clamp(0, i64::from(u32::MAX)) as u32;
        let mut position = u64::from(self.index.read().position_for(relative));
        let limit = self.size();
        while let Some(header) = self.header_at(position, limit)? {
            if header.last_offset >= offset {
                return Ok(Some((position, header)));
            }
            position += header.total_len;
        }
        Ok(None)
    }
}
