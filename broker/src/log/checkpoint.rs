//! Small offset checkpoint files (`recovery-point`, `log-start-offset`): one line
//! `v1 <offset> <crc32c of the offset text>`, replaced atomically by writing a temp
//! file and renaming it over the old one.

use std::io;
use std::path::{Path, PathBuf};

use super::fs::FileSystem;

/// File holding the offset below which everything is known to be fsynced.
pub const RECOVERY_POINT_FILE: &str = "recovery-point";
/// File holding the log start offset (DeleteRecords and retention advance it).
pub const LOG_START_OFFSET_FILE: &str = "log-start-offset";

/// Longest checkpoint file we read.
const CHECKPOINT_BYTES_MAX: usize = 64;

/// Reads a checkpoint; a missing, torn or corrupt file reads as `None`.
pub fn read(fs: &dyn FileSystem, path: &Path) -> Option<i64> {
    let file = fs.open(path, false).ok()?;
    let len = (file.len().ok()? as usize).min(CHECKPOINT_BYTES_MAX);
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, 0).ok()?;
    let text = std::str::from_utf8(&buf).ok()?;
    let mut parts = text.split_whitespace();
    let (Some("v1"), Some(offset), Some(crc)) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    if crc.parse::<u32>().ok()? != crc32c::crc32c(offset.as_bytes()) {
        return None;
    }
    offset.parse().ok().filter(|o: &i64| *o >= 0)
}

/// Replaces a checkpoint. With `durable`, the new file and the rename are fsynced
/// before returning (callers on an actor task pass `false`; the flusher `true`).
pub fn write(fs: &dyn FileSystem, path: &Path, offset: i64, durable: bool) -> io::Result<()> {
    let text = offset.to_string();
    let line = format!("v1 {text} {}\n", crc32c::crc32c(text.as_bytes()));
    let tmp = tmp_path(path);
    let _ = fs.remove_file(&tmp);
    let file = fs.open(&tmp, true)?;
    file.write_all_at(line.as_bytes(), 0)?;
    if durable {
        file.sync()?;
    }
    fs.rename(&tmp, path)?;
    if let (true, Some(dir)) = (durable, path.parent()) {
        fs.sync_dir(dir)?;
    }
    Ok(())
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".tmp");
    path.with_file_name(name)
}
