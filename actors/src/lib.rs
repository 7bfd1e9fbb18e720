//! Weir's actor runtime layer on top of ractor, with no Kafka knowledge:
//! a supervisor with per-child restart policies ([`supervisor`]) and probe actors
//! that stand in for peers in tests ([`testkit`]).

pub mod supervisor;
pub mod testkit;
