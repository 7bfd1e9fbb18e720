//! The operation log a scenario run records, in the style of Jepsen: every send is an
//! invocation followed by exactly one outcome, group members log what they were
//! assigned, handed to the application and committed, and a fresh reader logs the
//! final drain. The checker judges a run from this log alone, so a log saved as JSON
//! lines can be checked again, or hand-written, without a cluster.

use std::io::{self, BufRead, Write};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// One event in a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    /// Which producer, group member or reader did it (numbered by the driver).
    pub process: u32,
    /// What happened.
    #[serde(flatten)]
    pub kind: OpKind,
    /// Milliseconds since the run started, for reading a log; the checker uses log order.
    pub time_ms: u64,
}

/// What happened, with the record's value (unique per send) and where it lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum OpKind {
    /// A producer was asked to send `value`.
    SendInvoke { value: String },
    /// The broker acknowledged `value` at `partition`/`offset`: it must never be lost.
    SendOk {
        value: String,
        partition: i32,
        offset: i64,
    },
    /// The send failed with an error that guarantees nothing was appended on any
    /// attempt: reading `value` later is a violation.
    SendFail { value: String, error: String },
    /// The send ended without knowing whether `value` was appended: it may or may not
    /// be read later.
    SendUnknown { value: String, error: String },
    /// A group member handed a record to the application.
    Delivered {
        value: String,
        partition: i32,
        offset: i64,
        generation: i32,
    },
    /// A group member's offset commit succeeded; `offset` is the next offset to read.
    Committed {
        partition: i32,
        offset: i64,
        generation: i32,
    },
    /// A group member joined `generation` owning `partitions`: a new assignment starts.
    Assigned {
        partitions: Vec<i32>,
        generation: i32,
    },
    /// The final drain by a fresh reader in assign mode read `value` here.
    Drained {
        value: String,
        partition: i32,
        offset: i64,
    },
    /// The final drain read `partition` up to this end (its high watermark).
    EndOffset { partition: i32, offset: i64 },
    /// A pipeline member's transaction ended. Its outputs are the records it
    /// wrote (each value names the input record it came from); `offsets` are
    /// the input offsets it committed for the group, per partition.
    Txn {
        txn: String,
        outcome: TxnOutcome,
        outputs: Vec<TxnOutput>,
        offsets: Vec<PartitionOffset>,
        /// Why it did not commit, if it did not.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A pipeline's final read of its output with isolation.level=read_committed
    /// read `value` here.
    ReadCommitted {
        value: String,
        partition: i32,
        offset: i64,
    },
}

/// How a transaction ended, as far as its producer knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxnOutcome {
    /// `commit_transaction` returned: every output must be read once committed.
    Committed,
    /// Commit was never asked for (aborted, fenced or timed out): no output may
    /// ever be read with read_committed.
    Aborted,
    /// Commit was asked for but did not return: all of its outputs are read,
    /// or none.
    Unknown,
}

impl TxnOutcome {
    /// The name histories use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Committed => "committed",
            Self::Aborted => "aborted",
            Self::Unknown => "unknown",
        }
    }
}

/// An offset of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionOffset {
    pub partition: i32,
    pub offset: i64,
}

/// One record a pipeline transaction wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnOutput {
    pub value: String,
    /// Where the write was acknowledged (-1: it was not, before the outcome).
    pub partition: i32,
    pub offset: i64,
}

/// A whole run's log, in the order the driver observed the events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// The events, oldest first.
    pub ops: Vec<Op>,
}

/// Why a saved history could not be written or read back.
#[derive(Debug, Error)]
pub enum HistoryError {
    /// The file or stream failed.
    #[error("history i/o: {0}")]
    Io(#[from] io::Error),
    /// A line is not one JSON-encoded [`Op`].
    #[error("history line {line}: {source}")]
    Parse {
        /// 1-based line number.
        line: usize,
        source: serde_json::Error,
    },
}

impl History {
    /// Appends one event.
    pub fn push(&mut self, process: u32, time_ms: u64, kind: OpKind) {
        self.ops.push(Op {
            process,
            kind,
            time_ms,
        });
    }

    /// Writes one JSON object per line, so a log can be tailed, grepped and edited.
    pub fn write_jsonl<W: Write>(&self, mut out: W) -> Result<(), HistoryError> {
        for op in &self.ops {
            serde_json::to_writer(&mut out, op).map_err(io::Error::from)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        Ok(())
    }

    /// Reads what [`History::write_jsonl`] wrote; blank lines are skipped so a
    /// hand-written log may be spaced out.
    pub fn read_jsonl<R: BufRead>(input: R) -> Result<Self, HistoryError> {
        let mut ops = Vec::new();
        for (index, line) in input.lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let op = serde_json::from_str(&line).map_err(|source| HistoryError::Parse {
                line: index + 1,
                source,
            })?;
            ops.push(op);
        }
        Ok(Self { ops })
    }
}

/// How a failed send must be logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    /// Nothing was appended: log [`OpKind::SendFail`].
    Fail,
    /// It may have been appended: log [`OpKind::SendUnknown`].
    Unknown,
}

/// Kafka error codes with which a broker rejects a produce request before appending
/// anything: the batch is malformed or too large, the topic, partition or leader is
/// wrong, too few replicas are in sync to start, or the producer is fenced or unknown.
const DEFINITE_REJECTIONS: &[i16] = &[
    2,  // CORRUPT_MESSAGE
    3,  // UNKNOWN_TOPIC_OR_PARTITION
    5,  // LEADER_NOT_AVAILABLE
    6,  // NOT_LEADER_OR_FOLLOWER
    10, // MESSAGE_TOO_LARGE
    17, // INVALID_TOPIC_EXCEPTION
    18, // RECORD_LIST_TOO_LARGE
    19, // NOT_ENOUGH_REPLICAS (checked before the append, unlike code 20)
    21, // INVALID_REQUIRED_ACKS
    29, // TOPIC_AUTHORIZATION_FAILED
    32, // INVALID_TIMESTAMP
    35, // UNSUPPORTED_VERSION
    42, // INVALID_REQUEST
    43, // UNSUPPORTED_FOR_MESSAGE_FORMAT
    47, // INVALID_PRODUCER_EPOCH
    49, // INVALID_PRODUCER_ID_MAPPING
    59, // UNKNOWN_PRODUCER_ID
    76, // UNSUPPORTED_COMPRESSION_TYPE
    87, // INVALID_RECORD
    90, // PRODUCER_FENCED
];

/// Classifies the Kafka error code that ended a send. Only a definite rejection on
/// every attempt is a `Fail`: timeouts (7), disconnects (13), NOT_ENOUGH_REPLICAS_AFTER_APPEND
/// (20), DUPLICATE_SEQUENCE_NUMBER (46, an earlier attempt was appended), unknown server
/// errors and any code not listed are `Unknown`, and so is everything once an earlier
/// attempt of the same send ended with an unknown outcome. Errors without a Kafka code
/// (a socket error, a client-side timeout) are always `Unknown`.
pub fn classify_send_error(code: i16, earlier_attempt_unknown: bool) -> SendOutcome {
    assert_ne!(code, 0, "error code 0 means the send succeeded");
    if !earlier_attempt_unknown && DEFINITE_REJECTIONS.contains(&code) {
        SendOutcome::Fail
    } else {
        SendOutcome::Unknown
    }
}
