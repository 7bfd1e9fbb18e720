//! Consumer groups (classic protocol): one [`GroupCoordinator`](coordinator)
//! actor per group around a pure state machine ([`state`]), started on demand by
//! the [`GroupManager`](manager); committed offsets live in `__consumer_offsets`
//! ([`offsets`]).

pub mod coordinator;
pub mod directory;
pub mod manager;
pub mod offsets;
pub mod state;
pub mod subscription;

pub use coordinator::{GroupCoordinator, GroupDescription, GroupMsg};
pub use directory::GroupDirectory;
pub use manager::{GroupManager, GroupManagerArgs, GroupManagerMsg};
