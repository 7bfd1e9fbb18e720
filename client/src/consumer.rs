//! The consumer: group membership, assignors, fetching.
pub mod assignor;
