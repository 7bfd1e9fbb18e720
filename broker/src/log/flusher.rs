//! The flusher: one thread that fsyncs for every log of the broker, with group
//! commit — it drains every queued request, syncs each distinct file once, then
//! answers them all. fsync never runs on an actor's task, and a blocking channel
//! receive never runs on a tokio worker.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError, bounded};

use super::checkpoint;
use super::fs::{FileHandle, FileSystem};
use super::store::{FailFlag, Truncations};

/// Flush requests queued at most (one in flight per partition, so this bounds
/// partitions per broker comfortably).
pub const FLUSH_QUEUE_MAX: usize = 65_536;
/// Requests one group commit covers at most.
pub const GROUP_COMMIT_MAX: usize = 4_096;
/// How often an idle flusher checks whether it should stop.
const IDLE_CHECK: Duration = Duration::from_millis(50);

/// When appends are fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// acks=all waits for its fsync; everything else is flushed within 50 ms.
    #[default]
    Default,
    /// Every acknowledgement waits for its fsync.
    Always,
    /// Flushing is left to the operating system.
    Never,
    /// Flush every N ms; acknowledgements never wait.
    IntervalMs(u64),
}

impl FromStr for FsyncPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "default" => Ok(Self::Default),
            "always" => Ok(Self::Always),
            "never" => Ok(Self::Never),
            ms => match ms.parse::<u64>() {
                Ok(ms) if ms > 0 => Ok(Self::IntervalMs(ms)),
                _ => Err(format!(
                    "expected default, always, never or a positive interval in ms, got `{s}`"
                )),
            },
        }
    }
}

/// What one log needs synced; made by [`Log::flush_handle`](super::Log::flush_handle).
pub struct FlushTarget {
    /// Files with unsynced appends (sealed segments and the active one).
    pub files: Vec<Arc<dyn FileHandle>>,
    /// Everything below this offset is covered once the files are synced.
    pub up_to: i64,
    /// The log directory, when a segment file was created since the last flush.
    pub sync_dir: Option<PathBuf>,
    /// A recovery checkpoint to write (durably) after the sync, when due (boxed:
    /// a request is moved through the queue, and rarely carries one).
    pub checkpoint: Option<Box<CheckpointWrite>>,
    /// The file-system seam of that log.
    pub fs: Arc<dyn FileSystem>,
    /// The log's failure flag: set here when a sync fails, and a target of a
    /// failed log is never synced again (a retried fsync may "succeed" after the
    /// kernel dropped the dirty pages).
    pub(super) failed: FailFlag,
}

/// The recovery checkpoint a flush writes once its files are synced.
pub struct CheckpointWrite {
    /// The checkpoint file.
    pub path: PathBuf,
    /// The log's truncation count: when it moved since `truncations_seen`, the
    /// log was cut below the flush's `up_to` and the checkpoint is not written.
    pub(super) truncations: Truncations,
    /// The truncation count when the flush was handed out.
    pub(super) truncations_seen: u64,
}

/// Called on the flusher thread with the covered offset, or the sync error.
pub type FlushDone = Box<dyn FnOnce(Result<i64, io::Error>) + Send>;

/// One request to the flusher.
pub struct FlushRequest {
    /// What to sync.
    pub target: FlushTarget,
    /// Called when done (keep it short: it runs on the flusher thread).
    pub done: FlushDone,
}

/// Told how long each fsync (of a file or a directory) took (metrics).
pub type FsyncObserver = Box<dyn Fn(Duration) + Send + Sync>;

/// A cheap handle to submit requests.
#[derive(Clone)]
pub struct FlusherHandle {
    /// The request queue.
    tx: Sender<FlushRequest>,
}

impl FlusherHandle {
    /// Queues a request; fails (returning it) when the queue is full or closed.
    pub fn submit(&self, request: FlushRequest) -> Result<(), FlushRequest> {
        self.tx.try_send(request).map_err(|e| match e {
            TrySendError::Full(r) | TrySendError::Disconnected(r) => r,
        })
    }
}

/// The flusher thread.
pub struct Flusher {
    /// Submission handle.
    handle: Option<FlusherHandle>,
    /// Set at shutdown: the thread drains the queue and ends, even while
    /// handles are still held elsewhere.
    closing: Arc<AtomicBool>,
    /// The thread.
    thread: Option<JoinHandle<()>>,
}

impl Flusher {
    /// Starts the thread.
    pub fn spawn() -> io::Result<Self> {
        Self::spawn_observed(None)
    }

    /// Starts the thread, telling `observer` how long each fsync took.
    pub fn spawn_observed(observer: Option<FsyncObserver>) -> io::Result<Self> {
        let (tx, rx) = bounded(FLUSH_QUEUE_MAX);
        let closing = Arc::new(AtomicBool::new(false));
        let flag = closing.clone();
        let thread = std::thread::Builder::new()
            .name("weir-flusher".into())
            .spawn(move || run(rx, flag, observer))?;
        Ok(Self {
            handle: Some(FlusherHandle { tx }),
            closing,
            thread: Some(thread),
        })
    }

    /// A handle for submitting requests.
    pub fn handle(&self) -> FlusherHandle {
        self.handle
            .clone()
            .expect("handle is present until shutdown")
    }

    /// Drains the queue, then stops and joins the thread (also done on drop).
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.handle = None;
        self.closing.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(rx: Receiver<FlushRequest>, closing: Arc<AtomicBool>, observer: Option<FsyncObserver>) {
    loop {
        let first = match rx.recv_timeout(IDLE_CHECK) {
            Ok(request) => request,
            Err(RecvTimeoutError::Timeout) if !closing.load(Ordering::Acquire) => continue,
            Err(_) => return,
        };
        let mut batch = vec![first];
        while batch.len() < GROUP_COMMIT_MAX {
            match rx.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        commit(batch, observer.as_deref());
    }
}

/// Files synced in one group commit, by address, with the outcome. The map holds
/// each file so its address cannot be reused by another file within the commit.
type SyncedFiles = HashMap<*const (), (Arc<dyn FileHandle>, Result<(), io::ErrorKind>)>;

/// Syncs each distinct file (and directory) once, then answers every request in
/// the batch.
fn commit(batch: Vec<FlushRequest>, observer: Option<&(dyn Fn(Duration) + Send + Sync)>) {
    let mut synced: SyncedFiles = HashMap::new();
    let mut synced_dirs: HashMap<PathBuf, Result<(), io::ErrorKind>> = HashMap::new();
    for request in batch {
        let result = sync_target(&request.target, &mut synced, &mut synced_dirs, observer);
        (request.done)(result);
    }
}

fn sync_target(
    target: &FlushTarget,
    synced: &mut SyncedFiles,
    synced_dirs: &mut HashMap<PathBuf, Result<(), io::ErrorKind>>,
    observer: Option<&(dyn Fn(Duration) + Send + Sync)>,
) -> Result<i64, io::Error> {
    let timed = |sync: &dyn Fn() -> io::Result<()>| {
        let started = Instant::now();
        let result = sync().map_err(|e| e.kind());
        if let Some(observe) = observer {
            observe(started.elapsed());
        }
        result
    };
    if let Some(reason) = target.failed.lock().clone() {
        return Err(io::Error::other(format!("log failed earlier: {reason}")));
    }
    let mut outcome = Ok(());
    for file in &target.files {
        let key = Arc::as_ptr(file) as *const ();
        let (_, result) = synced
            .entry(key)
            .or_insert_with(|| (file.clone(), timed(&|| file.sync())));
        outcome = outcome.and(*result);
    }
    if let (Ok(()), Some(dir)) = (outcome, &target.sync_dir) {
        outcome = synced_dirs
            .entry(dir.clone())
            .or_insert_with(|| timed(&|| target.fs.sync_dir(dir)))
            .to_owned();
    }
    if let Err(kind) = outcome {
        let error = io::Error::new(kind, "fsync failed");
        // Fatal for this log: it refuses appends from now on, and never retries.
        target
            .failed
            .lock()
            .get_or_insert_with(|| error.to_string());
        return Err(error);
    }
    if let Some(checkpoint) = &target.checkpoint {
        let path = &checkpoint.path;
        // Held while writing: a truncation waits, then lowers what was written.
        let truncations = checkpoint.truncations.lock();
        let stale = *truncations != checkpoint.truncations_seen;
        if stale {
            tracing::debug!(path = %path.display(), "recovery checkpoint skipped: the log was truncated");
        } else if let Err(e) = checkpoint::write(&*target.fs, path, target.up_to, true) {
            // The data is durable; only the recovery shortcut is stale.
            tracing::warn!(path = %path.display(), error = %e, "recovery checkpoint write failed");
        }
    }
    Ok(target.up_to)
}
