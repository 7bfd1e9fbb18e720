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

use crate::context::BrokerCtx;

/// A transaction's marker was written to offsets partition `partition`:
/// the groups there settle the offsets it committed (TxnOffsetCommit).
pub fn txn_offsets_completed(ctx: &BrokerCtx, partition: i32, producer_id: i64, commit: bool) {
    if let Some(manager) = ractor::registry::where_is(ctx.group_manager_name.clone()) {
        let manager: ractor::ActorRef<GroupManagerMsg> = manager.into();
        let _ = manager.cast(GroupManagerMsg::TxnCompleted {
            partition,
            producer_id,
            commit,
        });
    }
}
