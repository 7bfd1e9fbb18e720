//! The Raft state machine: committed metadata batches applied to the
//! [`MetadataImage`], which is published to every actor on each apply. A
//! snapshot is the image itself (postcard), kept in `snapshot.bin` so the Raft
//! log can be purged behind it.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, RaftSnapshotBuilder, Snapshot, SnapshotMeta, StorageIOError};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::log_store::replace_file;
use super::types::{Entry, LogId, StorageError, StoredMembership, TypeConfig};
use crate::controller::frame;
use crate::controller::image::MetadataImage;

/// A snapshot as kept on disk and sent to followers.
#[derive(Clone, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<u64, openraft::BasicNode>,
    /// The postcard-encoded image.
    data: Vec<u8>,
}

/// What is applied so far.
struct Applied {
    last_applied: Option<LogId>,
    membership: StoredMembership,
    image: Arc<MetadataImage>,
    snapshot: Option<StoredSnapshot>,
    snapshots_built: u64,
}

/// The state machine (shared with its snapshot builders).
#[derive(Clone)]
pub struct StateMachine {
    dir: PathBuf,
    applied: Arc<Mutex<Applied>>,
    images: watch::Sender<Arc<MetadataImage>>,
}

fn io_err(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

impl StateMachine {
    /// Opens the state machine in `dir` from its last snapshot, publishing the
    /// snapshot's image at once.
    pub fn open(dir: &Path, images: watch::Sender<Arc<MetadataImage>>) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let snapshot = match std::fs::read(dir.join("snapshot.bin")) {
            Ok(bytes) => match frame::decode_all(&bytes).0.first() {
                Some(payload) => {
                    Some(postcard::from_bytes::<StoredSnapshot>(payload).map_err(io_err)?)
                }
                None => None,
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let (last_applied, membership, image) = match &snapshot {
            Some(s) => (
                s.meta.last_log_id,
                s.meta.last_membership.clone(),
                MetadataImage::decode(&s.data).map_err(io_err)?,
            ),
            None => (None, StoredMembership::default(), MetadataImage::default()),
        };
        let machine = Self {
            dir: dir.to_owned(),
            applied: Arc::new(Mutex::new(Applied {
                last_applied,
                membership,
                image: Arc::new(image),
                snapshot,
                snapshots_built: 0,
            })),
            images,
        };
        machine.publish();
        Ok(machine)
    }

    /// Publishes the applied image, keeping the controller id the quorum's
    /// leader watcher maintains (one atomic step, so neither overwrites the
    /// other).
    fn publish(&self) {
        let applied = self.applied.lock().image.clone();
        self.images.send_modify(|image| {
            let controller_id = image.controller_id;
            let mut next = (*applied).clone();
            next.controller_id = controller_id;
            *image = Arc::new(next);
        });
    }

    /// The image as of the last applied entry.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.applied.lock().image.clone()
    }

    fn install(&self, stored: StoredSnapshot) -> std::io::Result<()> {
        let image = MetadataImage::decode(&stored.data).map_err(io_err)?;
        write_snapshot(&self.dir, &stored)?;
        let mut applied = self.applied.lock();
        applied.last_applied = stored.meta.last_log_id;
        applied.membership = stored.meta.last_membership.clone();
        applied.image = Arc::new(image);
        applied.snapshot = Some(stored);
        Ok(())
    }
}

fn write_snapshot(dir: &Path, snapshot: &StoredSnapshot) -> std::io::Result<()> {
    let payload = postcard::to_stdvec(snapshot).map_err(io_err)?;
    let mut out = Vec::new();
    frame::encode_into(&payload, &mut out).ok_or_else(|| io_err("snapshot over 16 MiB"))?;
    replace_file(dir, "snapshot.bin", &out)
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let (meta, image) = {
            let mut applied = self.applied.lock();
            applied.snapshots_built += 1;
            let id = match applied.last_applied {
                Some(id) => format!("{}-{}-{}", id.leader_id, id.index, applied.snapshots_built),
                None => format!("none-{}", applied.snapshots_built),
            };
            let meta = SnapshotMeta {
                last_log_id: applied.last_applied,
                last_membership: applied.membership.clone(),
                snapshot_id: id,
            };
            (meta, applied.image.clone())
        };
        let data = postcard::to_stdvec(&*image)
            .map_err(|e| StorageIOError::write_snapshot(None, &io_err(e)))?;
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data: data.clone(),
        };
        let dir = self.dir.clone();
        let to_write = stored.clone();
        tokio::task::spawn_blocking(move || write_snapshot(&dir, &to_write))
            .await
            .map_err(|e| StorageIOError::write_snapshot(None, &io_err(e)))?
            .map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        self.applied.lock().snapshot = Some(stored);
        tracing::debug!(snapshot = %meta.snapshot_id, bytes = data.len(), "metadata snapshot built");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let applied = self.applied.lock();
        Ok((applied.last_applied, applied.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<()>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut responses = Vec::new();
        {
            let mut applied = self.applied.lock();
            let mut image = (*applied.image).clone();
            for entry in entries {
                match entry.payload {
                    EntryPayload::Blank => {}
                    EntryPayload::Normal(batch) => {
                        for record in &batch.0 {
                            image = image.apply(record);
                        }
                    }
                    EntryPayload::Membership(membership) => {
                        applied.membership = StoredMembership::new(Some(entry.log_id), membership);
                    }
                }
                applied.last_applied = Some(entry.log_id);
                responses.push(());
            }
            applied.image = Arc::new(image);
        }
        self.publish();
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, openraft::BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data: snapshot.into_inner(),
        };
        let machine = self.clone();
        tokio::task::spawn_blocking(move || machine.install(stored))
            .await
            .map_err(|e| StorageIOError::write_snapshot(None, &io_err(e)))?
            .map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        self.publish();
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let applied = self.applied.lock();
        Ok(applied.snapshot.as_ref().map(|s| Snapshot {
            meta: s.meta.clone(),
            snapshot: Box::new(Cursor::new(s.data.clone())),
        }))
    }
}
