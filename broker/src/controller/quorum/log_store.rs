//! The Raft log on disk: `raft.log` is an append-only file of framed operations
//! (append an entry, truncate from an index, purge up to a log id) replayed on
//! open; `raft.meta` holds the vote and the committed id, replaced atomically.
//! A purge rewrites the log file with only the entries kept, so the file stays
//! as small as the log openraft keeps after a snapshot.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{LogState, RaftLogReader, StorageIOError, Vote};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::types::{Entry, LogId, StorageError, TypeConfig};
use crate::controller::frame;

/// One change to the log file.
#[derive(Serialize, Deserialize)]
enum LogOp {
    /// An entry appended.
    Append(Entry),
    /// Entries from this index on removed (a new leader overwrote them).
    Truncate(u64),
    /// Entries up to and including this id removed (covered by a snapshot).
    Purge(LogId),
}

/// What `raft.meta` holds.
#[derive(Default, Serialize, Deserialize)]
struct RaftMeta {
    vote: Option<Vote<u64>>,
    committed: Option<LogId>,
}

/// The log and vote, shared by the store and its readers.
struct Inner {
    dir: PathBuf,
    file: File,
    entries: BTreeMap<u64, Entry>,
    last_purged: Option<LogId>,
    meta: RaftMeta,
}

/// The Raft log storage.
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Mutex<Inner>>,
}

fn io_err(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

impl LogStore {
    /// Opens (or creates) the log in `dir`, dropping a torn tail.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("raft.log");
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let (payloads, valid_len) = frame::decode_all(&bytes);
        let mut entries = BTreeMap::new();
        let mut last_purged = None;
        for payload in payloads {
            match postcard::from_bytes::<LogOp>(payload).map_err(io_err)? {
                LogOp::Append(entry) => {
                    entries.insert(entry.log_id.index, entry);
                }
                LogOp::Truncate(index) => {
                    entries.split_off(&index);
                }
                LogOp::Purge(log_id) => {
                    entries = entries.split_off(&(log_id.index + 1));
                    last_purged = Some(log_id);
                }
            }
        }
        if valid_len < bytes.len() {
            tracing::warn!(path = %path.display(), valid_len, "truncating torn Raft log tail");
            file.set_len(valid_len as u64)?;
            file.sync_all()?;
        }
        let meta = match std::fs::read(dir.join("raft.meta")) {
            Ok(bytes) => match frame::decode_all(&bytes).0.first() {
                Some(payload) => postcard::from_bytes(payload).map_err(io_err)?,
                None => RaftMeta::default(),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => RaftMeta::default(),
            Err(e) => return Err(e),
        };
        Ok(Self {
            inner: Arc::new(Mutex::new(Inner {
                dir: dir.to_owned(),
                file,
                entries,
                last_purged,
                meta,
            })),
        })
    }

    /// Whether the log was never written (a new node).
    pub fn is_empty(&self) -> bool {
        let inner = self.inner.lock();
        inner.entries.is_empty() && inner.last_purged.is_none() && inner.meta.vote.is_none()
    }

    /// Entries held (behind the last purge).
    pub fn entry_count(&self) -> usize {
        self.inner.lock().entries.len()
    }

    /// Runs `f` on the shared state on the blocking pool (it does file I/O).
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Inner) -> std::io::Result<T> + Send + 'static,
    ) -> std::io::Result<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&mut inner.lock()))
            .await
            .map_err(io_err)?
    }
}

impl Inner {
    fn write_ops(&mut self, ops: &[LogOp]) -> std::io::Result<()> {
        let mut out = Vec::new();
        for op in ops {
            let payload = postcard::to_stdvec(op).map_err(io_err)?;
            frame::encode_into(&payload, &mut out)
                .ok_or_else(|| io_err(format!("Raft entry of {} bytes", payload.len())))?;
        }
        self.file.write_all(&out)?;
        self.file.sync_data()
    }

    fn write_meta(&self) -> std::io::Result<()> {
        let payload = postcard::to_stdvec(&self.meta).map_err(io_err)?;
        let mut out = Vec::new();
        frame::encode_into(&payload, &mut out).ok_or_else(|| io_err("Raft meta too large"))?;
        replace_file(&self.dir, "raft.meta", &out)
    }

    /// Rewrites the log file with what is kept (after a purge).
    fn rewrite(&mut self) -> std::io::Result<()> {
        let mut out = Vec::new();
        let mut ops: Vec<LogOp> = self
            .last_purged
            .iter()
            .map(|id| LogOp::Purge(*id))
            .collect();
        ops.extend(self.entries.values().cloned().map(LogOp::Append));
        for op in &ops {
            let payload = postcard::to_stdvec(op).map_err(io_err)?;
            frame::encode_into(&payload, &mut out).ok_or_else(|| io_err("Raft entry too large"))?;
        }
        replace_file(&self.dir, "raft.log", &out)?;
        self.file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(self.dir.join("raft.log"))?;
        Ok(())
    }
}

/// Replaces `dir/name` with `bytes` atomically and durably.
pub fn replace_file(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut file = File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, dir.join(name))?;
    File::open(dir)?.sync_all()
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let inner = self.inner.lock();
        Ok(inner.entries.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let inner = self.inner.lock();
        let last = inner.entries.values().next_back().map(|e| e.log_id);
        Ok(LogState {
            last_purged_log_id: inner.last_purged,
            last_log_id: last.or(inner.last_purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), StorageError> {
        let vote = *vote;
        self.blocking(move |inner| {
            inner.meta.vote = Some(vote);
            inner.write_meta()
        })
        .await
        .map_err(|e| StorageIOError::write_vote(&e).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, StorageError> {
        Ok(self.inner.lock().meta.vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.blocking(move |inner| {
            inner.meta.committed = committed;
            inner.write_meta()
        })
        .await
        .map_err(|e| StorageIOError::write(&e).into())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.inner.lock().meta.committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let result = self
            .blocking(move |inner| {
                let ops: Vec<LogOp> = entries.iter().cloned().map(LogOp::Append).collect();
                inner.write_ops(&ops)?;
                for entry in entries {
                    inner.entries.insert(entry.log_id.index, entry);
                }
                Ok(())
            })
            .await;
        match result {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                let error = StorageIOError::write_logs(&e).into();
                callback.log_io_completed(Err(e));
                Err(error)
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.blocking(move |inner| {
            inner.write_ops(&[LogOp::Truncate(log_id.index)])?;
            inner.entries.split_off(&log_id.index);
            Ok(())
        })
        .await
        .map_err(|e| StorageIOError::write_logs(&e).into())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.blocking(move |inner| {
            inner.entries = inner.entries.split_off(&(log_id.index + 1));
            inner.last_purged = Some(log_id);
            inner.rewrite()
        })
        .await
        .map_err(|e| StorageIOError::write_logs(&e).into())
    }
}
