//! Consumer groups (classic protocol). Today: the group's pure state machine
//! ([`state`]), tested without a runtime; the coordinator actor, the group APIs and
//! offsets in `__consumer_offsets` build on it.

pub mod state;
