//! Sparse per-segment indexes, kept in memory and written beside the segment when
//! it is sealed: the offset index maps relative offsets to file positions, the time
//! index maps timestamps to relative offsets. Both are only ever appended in
//! increasing order, so lookups are binary searches.

use std::io;
use std::path::Path;
use std::sync::Arc;

use super::fs::{FileHandle, FileSystem};

/// Bytes of one offset index entry (relative offset u32, position u32).
const OFFSET_ENTRY_BYTES: usize = 8;
/// Bytes of one time index entry (timestamp i64, relative offset u32).
const TIME_ENTRY_BYTES: usize = 12;

/// A segment's sparse indexes.
#[derive(Debug, Default, Clone)]
pub struct SegmentIndex {
    /// (offset relative to the segment base, byte position of the batch).
    pub offsets: Vec<(u32, u32)>,
    /// (largest timestamp so far, relative offset of the batch that raised it).
    pub times: Vec<(i64, u32)>,
}

impl SegmentIndex {
    /// Position of the last indexed batch at or before `relative`, or 0.
    pub fn position_for(&self, relative: u32) -> u32 {
        match self.offsets.partition_point(|(o, _)| *o <= relative) {
            0 => 0,
            i => self.offsets[i - 1].1,
        }
    }

    /// Offset of the last indexed batch before `ts`, to start a scan from.
    pub fn scan_start_for_time(&self, ts: i64) -> u32 {
        match self.times.partition_point(|(t, _)| *t < ts) {
            0 => 0,
            i => self.times[i - 1].1,
        }
    }

    /// Writes both index files (a sealed segment's) and returns them for the
    /// flusher to sync; a torn index is detected on load and rebuilt.
    pub fn write(
        &self,
        fs: &dyn FileSystem,
        offset_path: &Path,
        time_path: &Path,
    ) -> io::Result<[Arc<dyn FileHandle>; 2]> {
        let mut buf = Vec::with_capacity(self.offsets.len() * OFFSET_ENTRY_BYTES);
        for (o, p) in &self.offsets {
            buf.extend_from_slice(&o.to_be_bytes());
            buf.extend_from_slice(&p.to_be_bytes());
        }
        let offsets = replace(fs, offset_path, &buf)?;
        let mut buf = Vec::with_capacity(self.times.len() * TIME_ENTRY_BYTES);
        for (t, o) in &self.times {
            buf.extend_from_slice(&t.to_be_bytes());
            buf.extend_from_slice(&o.to_be_bytes());
        }
        Ok([offsets, replace(fs, time_path, &buf)?])
    }

    /// Loads both files; `None` when either is missing or not a valid, increasing
    /// index within `segment_bytes` (the caller then rebuilds by scanning).
    pub fn load(
        fs: &dyn FileSystem,
        offset_path: &Path,
        time_path: &Path,
        segment_bytes: u64,
    ) -> Option<Self> {
        let raw = read_all(fs, offset_path)?;
        if raw.len() % OFFSET_ENTRY_BYTES != 0 {
            return None;
        }
        let offsets: Vec<(u32, u32)> = raw
            .chunks_exact(OFFSET_ENTRY_BYTES)
            .map(|c| {
                (
                    u32::from_be_bytes([c[0], c[1], c[2], c[3]]),
                    u32::from_be_bytes([c[4], c[5], c[6], c[7]]),
                )
            })
            .collect();
        let increasing = offsets
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1);
        if !increasing
            || offsets
                .iter()
                .any(|(_, p)| u64::from(*p) >= segment_bytes.max(1))
        {
            return None;
        }
        let raw = read_all(fs, time_path)?;
        if raw.len() % TIME_ENTRY_BYTES != 0 {
            return None;
        }
        let times: Vec<(i64, u32)> = raw
            .chunks_exact(TIME_ENTRY_BYTES)
            .map(|c| {
                let mut t = [0u8; 8];
                t.copy_from_slice(&c[..8]);
                (
                    i64::from_be_bytes(t),
                    u32::from_be_bytes([c[8], c[9], c[10], c[11]]),
                )
            })
            .collect();
        if !times.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1) {
            return None;
        }
        Some(Self { offsets, times })
    }
}

fn replace(fs: &dyn FileSystem, path: &Path, bytes: &[u8]) -> io::Result<Arc<dyn FileHandle>> {
    let _ = fs.remove_file(path);
    let file = fs.open(path, true)?;
    file.write_all_at(bytes, 0)?;
    Ok(file)
}

fn read_all(fs: &dyn FileSystem, path: &Path) -> Option<Vec<u8>> {
    let file = fs.open(path, false).ok()?;
    let mut buf = vec![0u8; file.len().ok()? as usize];
    file.read_exact_at(&mut buf, 0).ok()?;
    Some(buf)
}
