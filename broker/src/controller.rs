//! Cluster metadata: topics, partitions and configs as an append-only log of
//! versioned records applied to an immutable [`MetadataImage`].
//!
//! The records are kept by a Raft quorum of the controller-eligible brokers
//! ([`quorum`], openraft); its leader's [`Controller`](actor::Controller) actor
//! is the only one that proposes, and every broker reads the latest
//! `Arc<MetadataImage>` its state machine publishes on a watch channel. A single
//! broker is a quorum of one. The pre-quorum local file ([`store`]) is read once,
//! to import a single broker's metadata into a new quorum.

pub mod actor;
pub mod alter;
pub mod decisions;
pub mod frame;
pub mod image;
pub mod quorum;
pub mod records;
pub mod store;
pub mod topic_config;

pub use actor::{
    Controller, ControllerArgs, ControllerMsg, ControllerReply, ControllerRequest, PartitionsSpec,
    TopicError, TopicSpec, validate_topic_name,
};
pub use alter::ConfigAlteration;
pub use decisions::{ElectionError, ElectionType, ReassignmentError};
pub use image::{MetadataImage, PartitionImage, Reassignment, TopicImage};
pub use records::MetadataRecord;
pub use topic_config::TopicConfig;

/// The internal topic that keeps consumer groups' offsets (partition =
/// hash(group) mod N); its leaders are the group coordinators.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";
/// The internal topic of transaction metadata.
pub const TXN_STATE_TOPIC: &str = "__transaction_state";
