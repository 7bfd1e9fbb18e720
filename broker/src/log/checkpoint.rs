//! Small offset checkpoint files (`recovery-point`, `log-start-offset`,
//! `high-watermark`): one line
//! `v1 <offset> <crc32c of the offset text>`, replaced atomically by writing a temp
//! file and renaming it over the old one. [`replace`] and [`read_bounded`] are the
//! shared helpers other small files of the log (the leader-epoch checkpoint) use.

use std::io;
use std::path::{Path, PathBuf};

use super::fs::FileSystem;

/// File holding the offset below which everything is known to be fsynced.
pub const RECOVERY_POINT_FILE: &str = "recovery-point";
/// File holding the log start offset (DeleteRecords and retention advance it).
pub const LOG_START_OFFSET_FILE: &str = "log-start-offset";
/// File holding a replicated partition's high watermark (Kafka keeps these in
/// `replication-offset-checkpoint`), so a restarted replica does not start
/// from the log start.
pub const HIGH_WATERMARK_FILE: &str = "high-watermark";

/// Longest checkpoint file we read.
const CHECKPOINT_BYTES_MAX: usize = 64;

/// Reads a checkpoint; a missing, torn or corrupt file reads as `None`.
pub fn read(fs: &dyn FileSystem, path: &Path) -> Option<i64> {
    let buf = read_bounded(fs, path, CHECKPOINT_BYTES_MAX)?;
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
    replace(fs, path, line.as_bytes(), durable)
}

/// Reads a whole small file: `None` when it is missing, unreadable or longer than
/// `bytes_max` (a file that size was not written by us).
pub fn read_bounded(fs: &dyn FileSystem, path: &Path, bytes_max: usize) -> Option<Vec<u8>> {
    let file = fs.open(path, false).ok()?;
    let len = usize::try_from(file.len().ok()?).ok()?;
    if len > bytes_max {
        return None;
    }
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, 0).ok()?;
    Some(buf)
}

/// Replaces `path` with `bytes` atomically: written to a temp file that is renamed
/// over it, so a reader finds the old or the new contents, never a mix. With
/// `durable`, the temp file is fsynced before the rename and the directory after.
pub fn replace(fs: &dyn FileSystem, path: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
    let tmp = tmp_path(path);
    let _ = fs.remove_file(&tmp);
    let file = fs.open(&tmp, true)?;
    file.write_all_at(bytes, 0)?;
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
