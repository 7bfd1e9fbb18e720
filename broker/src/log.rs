//! Per-partition log storage: plain synchronous code, no actors, no tokio.
//!
//! One owner (the partition actor) appends through [`Log`]; any number of readers
//! read whole batches through the shared read-only [`LogReader`]. Segments are
//! files named by base offset with a sparse offset index and a time index;
//! recovery scans the tail after the recovery checkpoint and truncates at the first
//! invalid batch. fsync happens only on the [`Flusher`] thread (group commit), and
//! all file access goes through the [`FileSystem`] seam so tests can inject I/O
//! failures and simulate a crash that drops everything not yet fsynced.
//!
//! Compacted topics keep the latest record per key ([`compact`]). Not yet here:
//! the leader-epoch checkpoint (cluster work).

mod batch;
mod checkpoint;
pub mod compact;
mod flusher;
mod fs;
mod index;
mod reader;
mod recovery;
mod segment;
mod store;

#[cfg(test)]
mod tests;

pub use batch::{BatchError, BatchHeader};
pub use compact::{CompactionDone, CompactionJob, CompactionStats};
pub use flusher::{FlushDone, FlushRequest, FlushTarget, Flusher, FlusherHandle, FsyncPolicy};
pub use fs::{FileHandle, FileSystem, RealFs, SimFs};
pub use reader::{LogReader, ReadError, ReadResult};
pub use store::{AppendInfo, DELETE_RETENTION_MS_DEFAULT, Log, LogConfig, LogError};
