//! Weir's scenarios: the history a driver records while it replays a story against a
//! cluster, and the checker that proves from that history alone that nothing
//! acknowledged was lost and that delivery kept the promised mode.

pub mod checker;
pub mod history;

pub use checker::{CheckConfig, Counts, DeliveryMode, Finding, Invariant, Position, Report, check};
pub use history::{History, HistoryError, Op, OpKind, SendOutcome, classify_send_error};
