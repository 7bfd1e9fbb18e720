//! Consumer groups (classic protocol): one [`GroupCoordinator`](coordinator)
//! actor per group around a pure state machine ([`state`]), started on demand by
//! the [`GroupManager`](manager); committed offsets live in `__consumer_offsets`
//! ([`offsets`]).

pub mod coordinator;
pub mod manager;
pub mod offsets;
pub mod state;

pub use coordinator::{GroupCoordinator, GroupMsg};
pub use manager::{GroupManager, GroupManagerArgs, GroupManagerMsg};
