//! The metadata quorum: the `MetadataRecord` log replicated by openraft among
//! the voters. The Raft leader is the active controller, the only one that
//! proposes; every broker applies committed records to its image, which the
//! state machine publishes. A single broker is a quorum of one, same code.
//!
//! Nothing outside `controller/` sees an openraft type: the rest of the broker
//! talks to [`Quorum`] in records and broker ids.

pub mod log_store;
pub mod network;
pub mod state_machine;
pub mod types;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use openraft::error::{CheckIsLeaderError, ClientWriteError, InitializeError, RaftError};
use openraft::{BasicNode, Raft, SnapshotPolicy};
use thiserror::Error;
use tokio::sync::watch;

use self::log_store::LogStore;
use self::network::NetworkFactory;
use self::state_machine::StateMachine;
use self::types::{MetadataBatch, TypeConfig};
use super::image::MetadataImage;
use super::records::MetadataRecord;

/// Committed entries between two snapshots of the image.
pub const SNAPSHOT_EVERY_ENTRIES: u64 = 1_000;
/// Entries kept behind a snapshot, so a briefly lagging voter catches up from
/// the log instead of a snapshot.
const ENTRIES_KEPT_BEHIND_SNAPSHOT: u64 = 200;
/// Longest wait to confirm leadership before serving a request.
const LEADERSHIP_CHECK_MS: u64 = 5_000;

/// Why a proposal was not committed.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ProposeError {
    /// This broker is not the active controller; the leader, if known.
    #[error("not the active controller (leader: {0:?})")]
    NotLeader(Option<i32>),
    /// The quorum stopped or its storage failed.
    #[error("metadata quorum failed: {0}")]
    Fatal(String),
}

/// A quorum that could not start.
#[derive(Debug, Error)]
pub enum QuorumError {
    /// Its files could not be opened.
    #[error("metadata quorum storage in {dir}: {source}")]
    Storage {
        dir: PathBuf,
        source: std::io::Error,
    },
    /// openraft refused its configuration or failed to start.
    #[error("metadata quorum: {0}")]
    Raft(String),
}

/// What a quorum member starts with.
pub struct QuorumArgs {
    /// This broker's id.
    pub node_id: i32,
    /// Every voter with its CONTROLLER endpoint (`host:port`); empty for a
    /// quorum of one.
    pub voters: Vec<(i32, String)>,
    /// Where the Raft log, vote and snapshot live.
    pub dir: PathBuf,
    /// Leader heartbeat interval.
    pub heartbeat_interval_ms: u64,
    /// Election timeout lower bound (the upper bound is twice it).
    pub election_timeout_ms: u64,
    /// Committed entries between two snapshots (then the log behind is purged).
    pub snapshot_every_entries: u64,
    /// Where applied images are published.
    pub images: watch::Sender<Arc<MetadataImage>>,
}

/// One member of the metadata quorum.
#[derive(Clone)]
pub struct Quorum {
    /// The Raft node.
    raft: Raft<TypeConfig>,
    /// This broker's id.
    node_id: i32,
    /// The current leader, as this member sees it.
    leader: watch::Receiver<Option<i32>>,
    /// The task that follows leadership changes.
    watcher: Arc<tokio::task::JoinHandle<()>>,
    /// Told how long each committed proposal took (metrics), once set.
    commit_observer: Arc<OnceLock<CommitObserver>>,
}

/// What [`Quorum::observe_commits`] is given.
pub type CommitObserver = Box<dyn Fn(Duration) + Send + Sync>;

/// The quorum as this member sees it (Kafka's `raft-metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaftState {
    /// The Raft term (Kafka's epoch): one more per election.
    pub term: u64,
    /// The leader, -1 while there is none.
    pub leader: i32,
    /// Index of the last entry in this member's log.
    pub last_log_index: u64,
    /// Index of the last entry applied to this member's image.
    pub last_applied_index: u64,
}

impl Quorum {
    /// Opens the member's storage and starts its Raft node. A pristine member
    /// initializes the quorum with every voter (openraft: doing so on several
    /// members with the same voters is safe), so no format step is needed.
    pub async fn start(args: QuorumArgs) -> Result<Self, QuorumError> {
        let storage = |source| QuorumError::Storage {
            dir: args.dir.clone(),
            source,
        };
        let log_store = LogStore::open(&args.dir).map_err(storage)?;
        let pristine = log_store.is_empty();
        let machine = StateMachine::open(&args.dir, args.images.clone()).map_err(storage)?;
        let config = openraft::Config {
            cluster_name: "weir".into(),
            heartbeat_interval: args.heartbeat_interval_ms,
            // openraft 0.9 waits a leader lease of `election_timeout_max`
            // on top of the (random) election timeout before a follower of a
            // live-looking leader stands: with 1.5x the lease is 1.5 s, not
            // 2 s, and a dead controller is replaced 2.5-3 s after its last
            // heartbeat instead of 3-4 s.
            election_timeout_min: args.election_timeout_ms,
            election_timeout_max: (args.election_timeout_ms * 3 / 2)
                .max(args.election_timeout_ms + 1),
            snapshot_policy: SnapshotPolicy::LogsSinceLast(args.snapshot_every_entries),
            max_in_snapshot_log_to_keep: ENTRIES_KEPT_BEHIND_SNAPSHOT
                .min(args.snapshot_every_entries / 2),
            ..Default::default()
        };
        let config = Arc::new(
            config
                .validate()
                .map_err(|e| QuorumError::Raft(e.to_string()))?,
        );
        let node_id = args.node_id;
        let raft = Raft::new(node_id as u64, config, NetworkFactory, log_store, machine)
            .await
            .map_err(|e| QuorumError::Raft(e.to_string()))?;
        let voters: BTreeMap<u64, BasicNode> = if args.voters.is_empty() {
            BTreeMap::from([(node_id as u64, BasicNode::default())])
        } else {
            args.voters
                .iter()
                .map(|(id, addr)| (*id as u64, BasicNode::new(addr)))
                .collect()
        };
        let single = voters.len() == 1;
        // A broker-only member is a learner: the active controller adds it
        // once it is linked, and it must never make a quorum of its own.
        let voter = voters.contains_key(&(node_id as u64));
        if pristine && voter {
            match raft.initialize(voters).await {
                Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
                Err(e) => return Err(QuorumError::Raft(e.to_string())),
            }
        }
        if single && voter {
            // A quorum of one need not wait out an election timeout to lead.
            let _ = raft.trigger().elect().await;
        }
        let (leader_tx, leader) = watch::channel(None);
        let watcher = tokio::spawn(follow_leader(raft.clone(), leader_tx, args.images));
        Ok(Self {
            raft,
            node_id,
            leader,
            watcher: Arc::new(watcher),
            commit_observer: Arc::new(OnceLock::new()),
        })
    }

    /// The active controller, as this member sees it.
    pub fn leader(&self) -> Option<i32> {
        *self.leader.borrow()
    }

    /// Whether this member believes it is the active controller.
    pub fn is_leader(&self) -> bool {
        self.leader() == Some(self.node_id)
    }

    /// Leadership changes, as they are seen here.
    pub fn leader_changes(&self) -> watch::Receiver<Option<i32>> {
        self.leader.clone()
    }

    /// Confirms with a majority that this member still leads and waits until
    /// everything committed before is applied, so a decision made on the image
    /// sees every earlier one.
    pub async fn confirm_leadership(&self) -> Result<(), ProposeError> {
        let check = self.raft.ensure_linearizable();
        match tokio::time::timeout(Duration::from_millis(LEADERSHIP_CHECK_MS), check).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)))) => {
                Err(ProposeError::NotLeader(f.leader_id.map(|id| id as i32)))
            }
            Ok(Err(RaftError::APIError(_))) => Err(ProposeError::NotLeader(None)),
            Ok(Err(RaftError::Fatal(e))) => Err(ProposeError::Fatal(e.to_string())),
            Err(_) => Err(ProposeError::NotLeader(None)),
        }
    }

    /// Commits `records` as one entry and waits until it is applied here (the
    /// published image then holds them).
    pub async fn propose(&self, records: Vec<MetadataRecord>) -> Result<(), ProposeError> {
        let started = std::time::Instant::now();
        match self.raft.client_write(MetadataBatch(records)).await {
            Ok(_) => {
                if let Some(observe) = self.commit_observer.get() {
                    observe(started.elapsed());
                }
                Ok(())
            }
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(ProposeError::NotLeader(f.leader_id.map(|id| id as i32)))
            }
            Err(RaftError::APIError(e)) => Err(ProposeError::Fatal(e.to_string())),
            Err(RaftError::Fatal(e)) => Err(ProposeError::Fatal(e.to_string())),
        }
    }

    /// Answers a Raft RPC another voter sent (encoded), encoded.
    pub async fn serve_rpc(&self, bytes: &[u8]) -> Vec<u8> {
        network::serve(&self.raft, bytes).await
    }

    /// Has every committed proposal's latency reported to `observe` (the
    /// first observer set stays).
    pub fn observe_commits(&self, observe: CommitObserver) {
        let _ = self.commit_observer.set(observe);
    }

    /// Term, leader and log positions as this member sees them.
    pub fn state(&self) -> RaftState {
        let metrics = self.raft.metrics().borrow().clone();
        RaftState {
            term: metrics.current_term,
            leader: metrics.current_leader.map_or(-1, |id| id as i32),
            last_log_index: metrics.last_log_index.unwrap_or(0),
            last_applied_index: metrics.last_applied.map_or(0, |id| id.index),
        }
    }

    /// The voters and the learners of the quorum, by broker id.
    pub fn voters(&self) -> BTreeSet<i32> {
        let metrics = self.raft.metrics().borrow().clone();
        metrics
            .membership_config
            .membership()
            .voter_ids()
            .map(|id| id as i32)
            .collect()
    }

    /// Every member of the quorum, voters and learners, by broker id.
    pub fn members(&self) -> BTreeSet<i32> {
        let metrics = self.raft.metrics().borrow().clone();
        metrics
            .membership_config
            .membership()
            .nodes()
            .map(|(id, _)| *id as i32)
            .collect()
    }

    /// On the active controller: makes broker `node_id` a learner, so the
    /// metadata log (or a snapshot) reaches it; returns once that membership
    /// change commits, not when the learner has caught up (a broker-only
    /// node waits for its image itself).
    pub async fn add_learner(&self, node_id: i32) -> Result<(), ProposeError> {
        let add = self
            .raft
            .add_learner(node_id as u64, BasicNode::default(), false);
        match tokio::time::timeout(Duration::from_millis(LEADERSHIP_CHECK_MS), add).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                Err(ProposeError::NotLeader(f.leader_id.map(|id| id as i32)))
            }
            Ok(Err(RaftError::APIError(e))) => Err(ProposeError::Fatal(e.to_string())),
            Ok(Err(RaftError::Fatal(e))) => Err(ProposeError::Fatal(e.to_string())),
            Err(_) => Err(ProposeError::NotLeader(None)),
        }
    }

    /// Stops the Raft node.
    pub async fn shutdown(&self) {
        self.watcher.abort();
        let _ = self.raft.shutdown().await;
    }
}

/// Publishes each leadership change: into the leader watch and as the image's
/// controller id (a new image, so readers see the move).
async fn follow_leader(
    raft: Raft<TypeConfig>,
    leader: watch::Sender<Option<i32>>,
    images: watch::Sender<Arc<MetadataImage>>,
) {
    let mut metrics = raft.metrics();
    loop {
        let current = metrics
            .borrow_and_update()
            .current_leader
            .map(|id| id as i32);
        if *leader.borrow() != current {
            tracing::info!(leader = ?current, "metadata quorum leader changed");
            leader.send_replace(current);
            images.send_modify(|image| Arc::make_mut(image).controller_id = current.unwrap_or(-1));
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use openraft::testing::{StoreBuilder, Suite};

    use super::types::StorageError;
    use super::*;

    /// Builds a log store and state machine in a fresh temp dir.
    struct Builder;

    impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for Builder {
        async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError> {
            let dir = tempfile::tempdir().unwrap();
            let (images, _) = watch::channel(Arc::new(MetadataImage::default()));
            let log = LogStore::open(dir.path()).unwrap();
            let machine = StateMachine::open(dir.path(), images).unwrap();
            Ok((dir, log, machine))
        }
    }

    /// The Raft storage passes openraft's own storage conformance suite.
    #[test]
    fn storage_passes_openrafts_suite() {
        Suite::test_all(Builder).unwrap();
    }

    /// A quorum of one leads at once, commits, and after a restart still
    /// holds what it committed (from its log, or its snapshot).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_quorum_of_one_commits_and_recovers() {
        let dir = tempfile::tempdir().unwrap();
        let start = |images| QuorumArgs {
            node_id: 7,
            voters: Vec::new(),
            dir: dir.path().to_owned(),
            heartbeat_interval_ms: 50,
            election_timeout_ms: 150,
            snapshot_every_entries: 100,
            images,
        };
        let (images, rx) = watch::channel(Arc::new(MetadataImage::default()));
        let quorum = Quorum::start(start(images)).await.unwrap();
        let mut leader = quorum.leader_changes();
        tokio::time::timeout(Duration::from_secs(10), leader.wait_for(|l| *l == Some(7)))
            .await
            .unwrap()
            .unwrap();
        assert!(quorum.is_leader());
        quorum.confirm_leadership().await.unwrap();
        // Enough entries for a few snapshots: the log behind them is purged.
        for i in 0..450 {
            let record = MetadataRecord::ProducerIdsAllocated { next: (i + 1) * 10 };
            quorum.propose(vec![record]).await.unwrap();
        }
        assert_eq!(rx.borrow().next_producer_id, 4500);
        let mut metrics = quorum.raft.metrics();
        let snapshotted = metrics.wait_for(|m| m.snapshot.is_some_and(|s| s.index >= 300));
        // The guard wait_for returns holds the metrics lock: drop it at once.
        let waited = tokio::time::timeout(Duration::from_secs(10), snapshotted)
            .await
            .map(|r| r.is_ok());
        assert_eq!(waited, Ok(true), "no snapshot past index 300");
        assert_eq!(rx.borrow().controller_id, 7);
        assert_eq!(quorum.voters(), BTreeSet::from([7]));
        quorum.shutdown().await;

        let kept = LogStore::open(dir.path()).unwrap().entry_count();
        assert!(kept < 200, "{kept} entries kept behind the snapshots");
        let (images, rx) = watch::channel(Arc::new(MetadataImage::default()));
        let quorum = Quorum::start(start(images)).await.unwrap();
        let mut applied = rx.clone();
        tokio::time::timeout(
            Duration::from_secs(10),
            applied.wait_for(|i| i.next_producer_id == 4500),
        )
        .await
        .unwrap()
        .unwrap();
        quorum.shutdown().await;
    }
}
