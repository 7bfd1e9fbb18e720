//! Transactions (KIP-98): the transaction coordinator. One
//! [`TxnCoordinator`] actor per transactional id, under the [`TxnManager`],
//! placed by the leadership of the id's `__transaction_state` partition; the
//! state machine is pure ([`state`]), its every step is stored in that topic
//! ([`log`]), and an ending transaction's markers reach every partition it
//! touched ([`markers`]). The partitions' side (open transactions, the last
//! stable offset, aborted transactions) is `partition::txns`.

pub mod coordinator;
pub mod log;
pub mod manager;
pub mod markers;
pub mod state;

pub use coordinator::{TxnCoordinator, TxnCoordinatorArgs, TxnMsg};
pub use manager::{TxnManager, TxnManagerArgs, TxnManagerMsg};
