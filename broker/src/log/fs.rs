//! The file-system seam: the real thing, and an in-memory double that injects
//! failures and simulates a crash (drops every byte not yet fsynced — the page
//! cache survives `kill -9`, so only this can test durability).
//!
//! Contract of [`FileSystem`]: paths are absolute or relative to the process; a
//! handle stays usable after its file is removed or renamed (as on Unix); nothing
//! is durable until `FileHandle::sync` (data) and `FileSystem::sync_dir` (entries).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// An open file: positional reads and writes, so readers never move a cursor.
pub trait FileHandle: Send + Sync {
    /// Reads up to `buf.len()` bytes at `offset`; returns how many were read.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Writes all of `buf` at `offset`.
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Makes written data durable (fdatasync).
    fn sync(&self) -> io::Result<()>;
    /// Truncates or extends to `len`.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Current length.
    fn len(&self) -> io::Result<u64>;
    /// Whether the file is empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
    /// Reads exactly `buf.len()` bytes at `offset`.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let mut done = 0;
        while done < buf.len() {
            match self.read_at(&mut buf[done..], offset + done as u64)? {
                0 => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "short read")),
                n => done += n,
            }
        }
        Ok(())
    }
}

/// Directory and file operations the log needs.
pub trait FileSystem: Send + Sync + 'static {
    /// Opens a file for reading and writing, creating it if `create`.
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn FileHandle>>;
    /// Creates a directory and its parents.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Paths of the entries of a directory.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Removes a directory and everything in it.
    fn remove_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Atomically renames a file.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Makes a directory's entries (creations, renames) durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// Whether a path exists.
    fn exists(&self, path: &Path) -> bool;
}

/// The operating system's file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealFs;

impl FileHandle for File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        FileExt::read_at(self, buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        FileExt::write_all_at(self, buf, offset)
    }
    fn sync(&self) -> io::Result<()> {
        self.sync_data()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        File::set_len(self, len)
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
}

impl FileSystem for RealFs {
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn FileHandle>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(path)?;
        Ok(Arc::new(file))
    }
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        std::fs::read_dir(path)?
            .map(|e| e.map(|e| e.path()))
            .collect()
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        match std::fs::remove_dir_all(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
}

/// One in-memory file: what was written, and what an fsync made durable.
#[derive(Debug, Default)]
struct SimFileData {
    /// Contents as readers see them (the page cache).
    data: Vec<u8>,
    /// Contents as of the last successful sync (what survives a crash).
    durable: Vec<u8>,
}

/// A file of [`SimFs`].
#[derive(Debug)]
pub struct SimFile {
    /// Its path (for fault matching).
    path: PathBuf,
    /// Contents.
    inner: Mutex<SimFileData>,
    /// The file system's fault settings and counters.
    faults: Arc<SimFaults>,
}

/// Fault injection settings shared by a [`SimFs`] and its files.
#[derive(Debug)]
struct SimFaults {
    /// Writes to paths containing one of these fail.
    fail_writes: Mutex<Vec<String>>,
    /// Syncs of paths containing one of these fail.
    fail_syncs: Mutex<Vec<String>>,
    /// Writes that still succeed before every later one fails (`u64::MAX`: no limit).
    writes_left: AtomicU64,
    /// Syncs that still succeed before every later one fails (`u64::MAX`: no limit).
    syncs_left: AtomicU64,
    /// Successful file syncs (for group-commit tests).
    syncs: AtomicU64,
}

impl Default for SimFaults {
    fn default() -> Self {
        Self {
            fail_writes: Mutex::default(),
            fail_syncs: Mutex::default(),
            writes_left: AtomicU64::new(u64::MAX),
            syncs_left: AtomicU64::new(u64::MAX),
            syncs: AtomicU64::new(0),
        }
    }
}

impl SimFaults {
    /// Whether an operation on `path` fails: its path matches a pattern, or the
    /// budget of operations ran out (once out, every later one fails too).
    fn fails(list: &Mutex<Vec<String>>, left: &AtomicU64, path: &Path) -> bool {
        let path = path.to_string_lossy();
        if list.lock().iter().any(|p| path.contains(p.as_str())) {
            return true;
        }
        let spend = |n: u64| (n != u64::MAX).then(|| n.saturating_sub(1));
        let before = left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, spend)
            .unwrap_or(u64::MAX);
        before == 0
    }
}

impl FileHandle for SimFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let inner = self.inner.lock();
        let start = (offset as usize).min(inner.data.len());
        let n = buf.len().min(inner.data.len() - start);
        buf[..n].copy_from_slice(&inner.data[start..start + n]);
        Ok(n)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        let faults = &self.faults;
        if SimFaults::fails(&faults.fail_writes, &faults.writes_left, &self.path) {
            return Err(io::Error::other("injected write failure"));
        }
        let mut inner = self.inner.lock();
        let end = offset as usize + buf.len();
        if inner.data.len() < end {
            inner.data.resize(end, 0);
        }
        inner.data[offset as usize..end].copy_from_slice(buf);
        Ok(())
    }
    fn sync(&self) -> io::Result<()> {
        let faults = &self.faults;
        if SimFaults::fails(&faults.fail_syncs, &faults.syncs_left, &self.path) {
            return Err(io::Error::other("injected fsync failure"));
        }
        let mut inner = self.inner.lock();
        inner.durable = inner.data.clone();
        self.faults.syncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.lock().data.resize(len as usize, 0);
        Ok(())
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.inner.lock().data.len() as u64)
    }
}

/// An in-memory file system. Directory operations are durable at once (a
/// simplification: only file contents model the page cache).
#[derive(Debug, Clone, Default)]
pub struct SimFs {
    /// Files by path.
    files: Arc<Mutex<BTreeMap<PathBuf, Arc<SimFile>>>>,
    /// Directories.
    dirs: Arc<Mutex<BTreeSet<PathBuf>>>,
    /// Fault settings.
    faults: Arc<SimFaults>,
}

impl SimFs {
    /// An empty file system.
    pub fn new() -> Self {
        Self::default()
    }

    /// Simulates power loss: every file keeps only what was fsynced.
    pub fn crash(&self) {
        self.crash_with(|durable, _| durable.to_vec());
    }

    /// Simulates power loss where the kernel had written back part of the page
    /// cache: a file only appended to since its last sync keeps a random part of
    /// the unsynced tail, sometimes with a run of zeros inside it (blocks
    /// allocated but never written). Other files keep what was fsynced.
    pub fn crash_torn(&self, seed: u64) {
        let mut rng = StdRng::seed_from_u64(seed);
        self.crash_with(|durable, data| {
            if data.len() <= durable.len() || !data.starts_with(durable) {
                return durable.to_vec();
            }
            let mut kept = data[..rng.random_range(durable.len()..=data.len())].to_vec();
            if kept.len() > durable.len() && rng.random_bool(0.3) {
                let from = rng.random_range(durable.len()..kept.len());
                let to = rng.random_range(from..=kept.len());
                kept[from..to].fill(0);
            }
            kept
        });
    }

    /// Replaces every file by what `survives(durable, data)` says outlived the crash.
    fn crash_with(&self, mut survives: impl FnMut(&[u8], &[u8]) -> Vec<u8>) {
        let mut files = self.files.lock();
        for (path, file) in files.iter_mut() {
            let kept = {
                let inner = file.inner.lock();
                survives(&inner.durable, &inner.data)
            };
            // Open handles belong to the crashed process; new opens see the new file.
            *file = Arc::new(SimFile {
                path: path.clone(),
                inner: Mutex::new(SimFileData {
                    data: kept.clone(),
                    durable: kept,
                }),
                faults: self.faults.clone(),
            });
        }
    }

    /// Makes writes to paths containing `pattern` fail.
    pub fn fail_writes(&self, pattern: &str) {
        self.faults.fail_writes.lock().push(pattern.to_owned());
    }

    /// Makes syncs of paths containing `pattern` fail.
    pub fn fail_syncs(&self, pattern: &str) {
        self.faults.fail_syncs.lock().push(pattern.to_owned());
    }

    /// Lets `n` more writes succeed, then fails every later one.
    pub fn fail_writes_after(&self, n: u64) {
        self.faults.writes_left.store(n, Ordering::Release);
    }

    /// Lets `n` more syncs succeed, then fails every later one.
    pub fn fail_syncs_after(&self, n: u64) {
        self.faults.syncs_left.store(n, Ordering::Release);
    }

    /// Clears injected faults.
    pub fn heal(&self) {
        self.faults.fail_writes.lock().clear();
        self.faults.fail_syncs.lock().clear();
        self.faults.writes_left.store(u64::MAX, Ordering::Release);
        self.faults.syncs_left.store(u64::MAX, Ordering::Release);
    }

    /// Successful file syncs so far.
    pub fn sync_count(&self) -> u64 {
        self.faults.syncs.load(Ordering::Relaxed)
    }

    /// Direct access to a file's bytes (for corruption tests).
    pub fn with_file_bytes(&self, path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
        if let Some(file) = self.files.lock().get(path) {
            let mut inner = file.inner.lock();
            f(&mut inner.data);
            inner.durable = inner.data.clone();
        }
    }
}

impl FileSystem for SimFs {
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn FileHandle>> {
        let mut files = self.files.lock();
        if let Some(file) = files.get(path) {
            return Ok(file.clone());
        }
        if !create {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no such file"));
        }
        let file = Arc::new(SimFile {
            path: path.to_owned(),
            inner: Mutex::new(SimFileData::default()),
            faults: self.faults.clone(),
        });
        files.insert(path.to_owned(), file.clone());
        Ok(file)
    }
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut dirs = self.dirs.lock();
        for ancestor in path.ancestors() {
            dirs.insert(ancestor.to_owned());
        }
        Ok(())
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        let files = self.files.lock();
        Ok(files
            .keys()
            .filter(|p| p.parent() == Some(path))
            .cloned()
            .collect())
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.files
            .lock()
            .remove(path)
            .map(|_| ())
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }
    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        self.files.lock().retain(|p, _| !p.starts_with(path));
        self.dirs.lock().retain(|p| !p.starts_with(path));
        Ok(())
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut files = self.files.lock();
        let file = files
            .remove(from)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        files.insert(to.to_owned(), file);
        Ok(())
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let faults = &self.faults;
        if SimFaults::fails(&faults.fail_syncs, &faults.syncs_left, path) {
            return Err(io::Error::other("injected directory fsync failure"));
        }
        Ok(())
    }
    fn exists(&self, path: &Path) -> bool {
        self.files.lock().contains_key(path) || self.dirs.lock().contains(path)
    }
}
