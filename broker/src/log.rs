//! Per-partition log storage: plain synchronous code, no actors, no tokio.
//!
//! One owner (the partition actor) appends through [`Log`]; any number of readers
//! read whole batches through the shared read-only [`LogReader`]. Segments are
//! files named by base offset with a sparse offset index and a time index;
//! recovery scans the tail after the recovery checkpoint and truncates at the first
//! invalid batch. Appends are fsynced only on the [`Flusher`] thread (group
//! commit), and all file access goes through the [`FileSystem`] seam so tests can
//! inject I/O failures and simulate a crash that drops everything not yet fsynced.
//!
//! For replication, a leader appends with [`Log::append`] (offsets and its leader
//! epoch given here) and a follower with [`Log::append_replica`] (batches kept as
//! the leader wrote them). Both keep the leader-epoch cache (epoch → first offset,
//! persisted as `leader-epoch-checkpoint`), which answers OffsetForLeaderEpoch
//! ([`LogReader::end_offset_for_epoch`]); a follower that diverged cuts its log
//! with [`Log::truncate_to`], or restarts it at the leader's log start with
//! [`Log::truncate_fully_and_start_at`]. The rare operations that must outlive a
//! crash at once (a new epoch's checkpoint, a truncation) fsync on the owner's
//! thread, as recovery and compaction's swap do.
//!
//! Compacted topics keep the latest record per key ([`compact`]).

mod batch;
mod checkpoint;
pub mod compact;
mod epochs;
mod flusher;
mod fs;
mod index;
mod reader;
mod recovery;
mod segment;
mod store;
mod truncate;

#[cfg(test)]
mod tests;

pub use batch::{BatchError, BatchHeader};
pub use compact::{CompactionDone, CompactionJob, CompactionStats, CompactionTxns};
pub use flusher::{
    CheckpointWrite, FlushDone, FlushRequest, FlushTarget, Flusher, FlusherHandle, FsyncPolicy,
};
pub use fs::{FileHandle, FileSystem, RealFs, SimFs};
pub use reader::{LogReader, ReadError, ReadResult};
pub use store::{AppendInfo, DELETE_RETENTION_MS_DEFAULT, Log, LogConfig, LogError};
