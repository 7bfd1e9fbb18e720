//! Weir's scenarios: TOML stories (`scenario`) replayed by a driver (`driver`)
//! against brokers on a target (`target`) with a client backend (`backend`),
//! recording a Jepsen-style history (`history`) that the checker (`checker`) judges:
//! nothing acknowledged lost, delivery as the group's mode promised, and
//! exactly-once consume-transform-produce pipelines moving every input record
//! once.

pub mod backend;
pub mod checker;
pub mod driver;
pub mod history;
pub mod recorder;
pub mod scenario;
pub mod target;

pub use checker::{
    CheckConfig, Counts, DeliveryMode, Finding, Invariant, Position, Report, check, check_pipeline,
};
pub use history::{
    History, HistoryError, Op, OpKind, PartitionOffset, SendOutcome, TxnOutcome, TxnOutput,
    classify_send_error,
};
