//! The transaction coordinator's state machine for one transactional id, as
//! pure functions (Kafka's `TransactionMetadata` and the checks of its
//! `TransactionCoordinator`):
//!
//! ```text
//! Empty ──AddPartitions──▶ Ongoing ──EndTxn──▶ PrepareCommit ──markers──▶ CompleteCommit
//!                            │  ╲                                              │
//!                            │   ╲──EndTxn(abort) / timeout / fence──▶ PrepareAbort ──markers──▶ CompleteAbort
//!                            ▲                                                  │
//!                            └──────────────── AddPartitions ◀──────────────────┘
//! ```
//!
//! Every transition returns the metadata to store in `__transaction_state`
//! before anything is answered or any marker is written.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// Kafka error codes the coordinator answers with.
pub mod codes {
    /// No error.
    pub const NONE: i16 = 0;
    /// COORDINATOR_NOT_AVAILABLE.
    pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
    /// NOT_COORDINATOR.
    pub const NOT_COORDINATOR: i16 = 16;
    /// COORDINATOR_LOAD_IN_PROGRESS.
    pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
    /// UNKNOWN_TOPIC_OR_PARTITION.
    pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    /// INVALID_PRODUCER_EPOCH (requests older than KIP-588's versions).
    pub const INVALID_PRODUCER_EPOCH: i16 = 47;
    /// INVALID_TXN_STATE.
    pub const INVALID_TXN_STATE: i16 = 48;
    /// INVALID_PRODUCER_ID_MAPPING.
    pub const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
    /// INVALID_TRANSACTION_TIMEOUT.
    pub const INVALID_TRANSACTION_TIMEOUT: i16 = 50;
    /// CONCURRENT_TRANSACTIONS (retriable: a transaction is completing).
    pub const CONCURRENT_TRANSACTIONS: i16 = 51;
    /// TRANSACTIONAL_ID_NOT_FOUND.
    pub const TRANSACTIONAL_ID_NOT_FOUND: i16 = 105;
    /// OPERATION_NOT_ATTEMPTED: a partition of a request another partition failed.
    pub const OPERATION_NOT_ATTEMPTED: i16 = 55;
    /// PRODUCER_FENCED (KIP-588).
    pub const PRODUCER_FENCED: i16 = 90;
    /// INVALID_REQUEST.
    pub const INVALID_REQUEST: i16 = 42;
}

/// Where a transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnStatus {
    /// No transaction since the producer id was handed out.
    Empty,
    /// Partitions were added: a transaction is open.
    Ongoing,
    /// EndTxn(commit) was stored: markers are being written.
    PrepareCommit,
    /// An abort was stored (EndTxn, timeout, fencing): markers are being written.
    PrepareAbort,
    /// Every COMMIT marker is written.
    CompleteCommit,
    /// Every ABORT marker is written.
    CompleteAbort,
}

impl TxnStatus {
    /// Kafka's name for the state (DescribeTransactions, ListTransactions).
    pub fn kafka_name(self) -> &'static str {
        match self {
            Self::Empty => "Empty",
            Self::Ongoing => "Ongoing",
            Self::PrepareCommit => "PrepareCommit",
            Self::PrepareAbort => "PrepareAbort",
            Self::CompleteCommit => "CompleteCommit",
            Self::CompleteAbort => "CompleteAbort",
        }
    }

    /// Whether markers are being written.
    pub fn is_preparing(self) -> bool {
        matches!(self, Self::PrepareCommit | Self::PrepareAbort)
    }
}

/// What is stored of one transactional id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnMetadata {
    /// Its producer id.
    pub producer_id: i64,
    /// Its current producer epoch.
    pub producer_epoch: i16,
    /// The client's `transaction.timeout.ms`.
    pub timeout_ms: i32,
    /// Where the transaction is.
    pub status: TxnStatus,
    /// Partitions in the open (or completing) transaction.
    pub partitions: BTreeSet<(String, i32)>,
    /// When the open transaction began (ms; -1 when none).
    pub txn_start_ms: i64,
    /// When this was last changed (ms).
    pub last_update_ms: i64,
}

/// The request's producer id and epoch, checked against the stored ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Producer {
    /// Producer id.
    pub id: i64,
    /// Producer epoch.
    pub epoch: i16,
}

/// What InitProducerId leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitOutcome {
    /// Store this, then answer its producer id and epoch.
    Ready(TxnMetadata),
    /// An open transaction must be aborted first: store this (its epoch
    /// bumped, fencing the old producer), write its ABORT markers; the
    /// client is answered CONCURRENT_TRANSACTIONS and retries.
    AbortFirst(TxnMetadata),
    /// Answer this error.
    Error(i16),
}

/// Epoch past which a producer id is exhausted and a new one is handed out.
const EPOCH_MAX: i16 = i16::MAX - 1;

/// The fencing error a request version can carry (KIP-588 added
/// PRODUCER_FENCED; older versions get INVALID_PRODUCER_EPOCH).
pub fn fenced(kip588: bool) -> i16 {
    if kip588 {
        codes::PRODUCER_FENCED
    } else {
        codes::INVALID_PRODUCER_EPOCH
    }
}

/// Whether InitProducerId will need a new producer id: for a new
/// transactional id, or one whose epochs are used up.
pub fn needs_new_producer_id(current: Option<&TxnMetadata>) -> bool {
    current.is_none_or(|m| m.producer_epoch >= EPOCH_MAX)
}

/// InitProducerId with a transactional id: a new producer id for a new
/// transactional id, else the current one with its epoch bumped (fencing
/// every older instance). `new_producer_id` is called only when one is needed.
pub fn init_producer_id(
    current: Option<&TxnMetadata>,
    timeout_ms: i32,
    max_timeout_ms: i32,
    asker: Option<Producer>,
    now_ms: i64,
    new_producer_id: impl FnOnce() -> Option<i64>,
) -> InitOutcome {
    if timeout_ms <= 0 || timeout_ms > max_timeout_ms {
        return InitOutcome::Error(codes::INVALID_TRANSACTION_TIMEOUT);
    }
    let Some(current) = current else {
        let Some(producer_id) = new_producer_id() else {
            return InitOutcome::Error(codes::COORDINATOR_NOT_AVAILABLE);
        };
        return InitOutcome::Ready(TxnMetadata {
            producer_id,
            producer_epoch: 0,
            timeout_ms,
            status: TxnStatus::Empty,
            partitions: BTreeSet::new(),
            txn_start_ms: -1,
            last_update_ms: now_ms,
        });
    };
    // KIP-360: a producer naming its id and epoch must be the current one.
    if let Some(asker) = asker
        && (asker.id != current.producer_id || asker.epoch != current.producer_epoch)
    {
        return InitOutcome::Error(codes::PRODUCER_FENCED);
    }
    match current.status {
        TxnStatus::PrepareCommit | TxnStatus::PrepareAbort => {
            InitOutcome::Error(codes::CONCURRENT_TRANSACTIONS)
        }
        TxnStatus::Ongoing => InitOutcome::AbortFirst(TxnMetadata {
            producer_epoch: current.producer_epoch.saturating_add(1),
            status: TxnStatus::PrepareAbort,
            last_update_ms: now_ms,
            ..current.clone()
        }),
        TxnStatus::Empty | TxnStatus::CompleteCommit | TxnStatus::CompleteAbort => {
            let (producer_id, producer_epoch) = if current.producer_epoch >= EPOCH_MAX {
                match new_producer_id() {
                    Some(id) => (id, 0),
                    None => return InitOutcome::Error(codes::COORDINATOR_NOT_AVAILABLE),
                }
            } else {
                (current.producer_id, current.producer_epoch + 1)
            };
            InitOutcome::Ready(TxnMetadata {
                producer_id,
                producer_epoch,
                timeout_ms,
                status: TxnStatus::Empty,
                partitions: BTreeSet::new(),
                txn_start_ms: -1,
                last_update_ms: now_ms,
            })
        }
    }
}

/// Checks a request's producer against the stored one.
fn check_producer(current: &TxnMetadata, asker: Producer, kip588: bool) -> Result<(), i16> {
    if asker.id != current.producer_id {
        return Err(codes::INVALID_PRODUCER_ID_MAPPING);
    }
    if asker.epoch != current.producer_epoch {
        return Err(fenced(kip588));
    }
    Ok(())
}

/// AddPartitionsToTxn (and AddOffsetsToTxn, which adds the group's offsets
/// partition): `Ok(None)` when every partition is already in the open
/// transaction (nothing to store), `Ok(Some(new))` to store.
pub fn add_partitions(
    current: Option<&TxnMetadata>,
    asker: Producer,
    partitions: &[(String, i32)],
    kip588: bool,
    now_ms: i64,
) -> Result<Option<TxnMetadata>, i16> {
    let current = current.ok_or(codes::INVALID_PRODUCER_ID_MAPPING)?;
    check_producer(current, asker, kip588)?;
    if current.status.is_preparing() {
        return Err(codes::CONCURRENT_TRANSACTIONS);
    }
    let ongoing = current.status == TxnStatus::Ongoing;
    if ongoing && partitions.iter().all(|p| current.partitions.contains(p)) {
        return Ok(None);
    }
    let mut next = current.clone();
    if !ongoing {
        next.partitions.clear();
        next.txn_start_ms = now_ms;
    }
    next.partitions.extend(partitions.iter().cloned());
    next.status = TxnStatus::Ongoing;
    next.last_update_ms = now_ms;
    Ok(Some(next))
}

/// What EndTxn leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndOutcome {
    /// Store this (PrepareCommit / PrepareAbort), answer, write its markers.
    Prepare(TxnMetadata),
    /// A retry of an end already done: answer success, change nothing.
    AlreadyDone,
}

/// EndTxn: commit or abort the open transaction.
pub fn end_txn(
    current: Option<&TxnMetadata>,
    asker: Producer,
    commit: bool,
    kip588: bool,
    now_ms: i64,
) -> Result<EndOutcome, i16> {
    let current = current.ok_or(codes::INVALID_PRODUCER_ID_MAPPING)?;
    check_producer(current, asker, kip588)?;
    match (current.status, commit) {
        (TxnStatus::Ongoing, _) => Ok(EndOutcome::Prepare(TxnMetadata {
            status: if commit {
                TxnStatus::PrepareCommit
            } else {
                TxnStatus::PrepareAbort
            },
            last_update_ms: now_ms,
            ..current.clone()
        })),
        (TxnStatus::CompleteCommit, true) | (TxnStatus::CompleteAbort, false) => {
            Ok(EndOutcome::AlreadyDone)
        }
        (TxnStatus::PrepareCommit, true) | (TxnStatus::PrepareAbort, false) => {
            Err(codes::CONCURRENT_TRANSACTIONS)
        }
        _ => Err(codes::INVALID_TXN_STATE),
    }
}

/// Every marker of a preparing transaction is written: its end, to store.
pub fn complete(current: &TxnMetadata, now_ms: i64) -> Option<TxnMetadata> {
    let status = match current.status {
        TxnStatus::PrepareCommit => TxnStatus::CompleteCommit,
        TxnStatus::PrepareAbort => TxnStatus::CompleteAbort,
        _ => return None,
    };
    Some(TxnMetadata {
        status,
        partitions: BTreeSet::new(),
        txn_start_ms: -1,
        last_update_ms: now_ms,
        ..current.clone()
    })
}

/// A transaction open longer than its timeout is aborted by the coordinator,
/// its epoch bumped so the producer that let it expire is fenced.
pub fn expire(current: &TxnMetadata, now_ms: i64) -> Option<TxnMetadata> {
    let expired = current.status == TxnStatus::Ongoing
        && now_ms.saturating_sub(current.txn_start_ms) > i64::from(current.timeout_ms);
    expired.then(|| TxnMetadata {
        producer_epoch: current.producer_epoch.saturating_add(1),
        status: TxnStatus::PrepareAbort,
        last_update_ms: now_ms,
        ..current.clone()
    })
}

/// Whether an idle transactional id is forgotten
/// (`transactional.id.expiration.ms` after its last change, none open).
pub fn is_expired_id(current: &TxnMetadata, now_ms: i64, expiration_ms: i64) -> bool {
    matches!(
        current.status,
        TxnStatus::Empty | TxnStatus::CompleteCommit | TxnStatus::CompleteAbort
    ) && now_ms.saturating_sub(current.last_update_ms) > expiration_ms
}

#[cfg(test)]
mod tests;
