//! The client's one error type.

use std::time::Duration;

use thiserror::Error;

use crate::protocol::DecodeError;

/// Why a client call failed.
#[derive(Debug, Error, Clone)]
pub enum ClientError {
    /// Connecting or talking to a broker failed.
    #[error("i/o with {addr}: {message}")]
    Io { addr: String, message: String },
    /// The connection closed before the answer came.
    #[error("connection to {0} closed")]
    Disconnected(String),
    /// A broker's answer did not decode.
    #[error("undecodable response from {addr}: {error}")]
    Decode { addr: String, error: DecodeError },
    /// The broker does not serve a version this client needs.
    #[error("broker {addr} does not serve {api} v{version} (it serves {min}..={max})")]
    UnsupportedVersion {
        addr: String,
        api: &'static str,
        version: i16,
        min: i16,
        max: i16,
    },
    /// A Kafka error code.
    #[error("{}{}", kafka_error_name(*code), message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Kafka { code: i16, message: Option<String> },
    /// No answer within the time allowed.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// A setting or argument that cannot work.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The topic or partition is not in the cluster's metadata.
    #[error("unknown topic or partition {0}")]
    UnknownTopic(String),
    /// The client was closed.
    #[error("the client is closed")]
    Closed,
    /// A transactional producer call made in a state that does not allow it
    /// (no `init_transactions`, no transaction begun, one already open, ...).
    #[error("invalid transaction state: {0}")]
    TransactionState(String),
}

impl ClientError {
    /// A Kafka error code as an error (`None` for 0).
    pub fn from_code(code: i16, message: Option<String>) -> Option<Self> {
        (code != 0).then_some(Self::Kafka { code, message })
    }

    /// Whether retrying the same call may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Io { .. } | Self::Disconnected(_) | Self::Timeout(_) => true,
            Self::Kafka { code, .. } => is_retriable_code(*code),
            _ => false,
        }
    }

    /// Whether this is a fencing error: another producer with the same
    /// transactional id took over (PRODUCER_FENCED, or INVALID_PRODUCER_EPOCH
    /// from a transaction API).
    pub fn is_fenced(&self) -> bool {
        matches!(
            self.code(),
            Some(codes::PRODUCER_FENCED | codes::INVALID_PRODUCER_EPOCH)
        )
    }

    /// The Kafka error code, if this is one.
    pub fn code(&self) -> Option<i16> {
        match self {
            Self::Kafka { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Kafka codes a client retries (Kafka's `RetriableException` subclasses).
pub fn is_retriable_code(code: i16) -> bool {
    matches!(
        code,
        -1 | 3 | 5 | 6 | 7 | 8 | 13 | 14 | 15 | 16 | 19 | 20 | 56 | 57 | 74 | 75 | 78 | 89 | 97
    )
}

/// Kafka's name of an error code.
pub fn kafka_error_name(code: i16) -> String {
    match kafka_protocol::ResponseError::try_from_code(code) {
        Some(e) => format!("{e:?} ({code})"),
        None => format!("Kafka error {code}"),
    }
}

/// The Kafka error codes the client acts on.
pub mod codes {
    pub const OFFSET_OUT_OF_RANGE: i16 = 1;
    pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    pub const LEADER_NOT_AVAILABLE: i16 = 5;
    pub const REQUEST_TIMED_OUT: i16 = 7;
    pub const NOT_LEADER_OR_FOLLOWER: i16 = 6;
    pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
    pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
    pub const NOT_COORDINATOR: i16 = 16;
    pub const ILLEGAL_GENERATION: i16 = 22;
    pub const UNKNOWN_MEMBER_ID: i16 = 25;
    pub const REBALANCE_IN_PROGRESS: i16 = 27;
    pub const TOPIC_ALREADY_EXISTS: i16 = 36;
    pub const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
    pub const DUPLICATE_SEQUENCE_NUMBER: i16 = 46;
    pub const INVALID_PRODUCER_EPOCH: i16 = 47;
    pub const INVALID_TXN_STATE: i16 = 48;
    pub const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
    pub const INVALID_TRANSACTION_TIMEOUT: i16 = 50;
    pub const CONCURRENT_TRANSACTIONS: i16 = 51;
    pub const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
    pub const OPERATION_NOT_ATTEMPTED: i16 = 55;
    pub const UNKNOWN_PRODUCER_ID: i16 = 59;
    pub const MEMBER_ID_REQUIRED: i16 = 79;
    pub const FENCED_INSTANCE_ID: i16 = 82;
    pub const UNSTABLE_OFFSET_COMMIT: i16 = 88;
    pub const PRODUCER_FENCED: i16 = 90;
    pub const TRANSACTIONAL_ID_NOT_FOUND: i16 = 105;
}
