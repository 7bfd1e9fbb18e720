//! Replication, follower side: the fetchers that pull a leader's batches for
//! the partitions this broker follows (the partition actors append them and
//! track the ISR; see `partition/replication.rs`).

pub mod fetcher;

pub use fetcher::{FetcherArgs, FetcherMsg, ReplicaFetcher};
