//! The openraft type configuration of the metadata quorum. Nothing outside
//! `controller/` names these types.

use std::io::Cursor;

use serde::{Deserialize, Serialize};

use crate::controller::records::MetadataRecord;

/// One Raft entry's payload: the records one controller decision writes, applied
/// together (a topic and its partitions never show up half-made).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataBatch(pub Vec<MetadataRecord>);

openraft::declare_raft_types!(
    /// Weir's metadata quorum: node ids are broker ids, a node's address is its
    /// CONTROLLER endpoint.
    pub TypeConfig:
        D = MetadataBatch,
        R = (),
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
);

/// A Raft log id of this configuration.
pub type LogId = openraft::LogId<u64>;
/// A stored membership of this configuration.
pub type StoredMembership = openraft::StoredMembership<u64, openraft::BasicNode>;
/// A storage error of this configuration.
pub type StorageError = openraft::StorageError<u64>;
/// One Raft entry.
pub type Entry = openraft::Entry<TypeConfig>;
