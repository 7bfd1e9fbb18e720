//! Cluster metadata: topics, partitions and configs as an append-only log of
//! versioned records applied to an immutable [`MetadataImage`].
//!
//! The [`Controller`](actor::Controller) actor is the only writer; everyone else
//! reads the latest `Arc<MetadataImage>` from a watch channel. Today the records are
//! kept in a local file ([`store`]); the cluster work moves where they are kept into
//! a Raft quorum without changing the records or the image.

pub mod actor;
pub mod alter;
pub mod image;
pub mod records;
pub mod store;
pub mod topic_config;

pub use actor::{Controller, ControllerArgs, ControllerMsg, PartitionsSpec, TopicError, TopicSpec};
pub use alter::ConfigAlteration;
pub use image::{MetadataImage, PartitionImage, TopicImage};
pub use records::MetadataRecord;
pub use topic_config::TopicConfig;
