//! Histories survive being saved as JSON lines, and send errors are classified as the
//! checker needs: `fail` only when nothing can have been appended.

use weir_scenarios::{
    History, HistoryError, OpKind, PartitionOffset, SendOutcome, TxnOutcome, TxnOutput,
    classify_send_error,
};

fn every_kind() -> History {
    let mut history = History::default();
    let value = || "p0-17".to_owned();
    let kinds = [
        OpKind::SendInvoke { value: value() },
        OpKind::SendOk {
            value: value(),
            partition: 2,
            offset: 9_000_000_000,
        },
        OpKind::SendFail {
            value: value(),
            error: "MESSAGE_TOO_LARGE (10)".into(),
        },
        OpKind::SendUnknown {
            value: value(),
            error: "timed out after 5s".into(),
        },
        OpKind::Delivered {
            value: value(),
            partition: 2,
            offset: 3,
            generation: 4,
        },
        OpKind::Committed {
            partition: 2,
            offset: 4,
            generation: 4,
        },
        OpKind::Assigned {
            partitions: vec![0, 2],
            generation: 4,
        },
        OpKind::Drained {
            value: value(),
            partition: 2,
            offset: 3,
        },
        OpKind::EndOffset {
            partition: 2,
            offset: 4,
        },
        OpKind::Txn {
            txn: "etl-0:3".into(),
            outcome: TxnOutcome::Unknown,
            outputs: vec![
                TxnOutput {
                    value: "etl-0:3/2/3/p0-17".into(),
                    partition: 1,
                    offset: 12,
                },
                TxnOutput {
                    value: "etl-0:3/2/4/p0-18".into(),
                    partition: -1,
                    offset: -1,
                },
            ],
            offsets: vec![PartitionOffset {
                partition: 2,
                offset: 5,
            }],
            error: Some("PRODUCER_FENCED".into()),
        },
        OpKind::Txn {
            txn: "etl-0:4".into(),
            outcome: TxnOutcome::Committed,
            outputs: Vec::new(),
            offsets: Vec::new(),
            error: None,
        },
        OpKind::ReadCommitted {
            value: "etl-0:3/2/3/p0-17".into(),
            partition: 1,
            offset: 12,
        },
    ];
    for (index, kind) in kinds.into_iter().enumerate() {
        history.push(index as u32, 10 * index as u64, kind);
    }
    history
}

#[test]
fn jsonl_round_trip() {
    let history = every_kind();
    let mut bytes = Vec::new();
    history.write_jsonl(&mut bytes).expect("write to a Vec");
    let text = String::from_utf8(bytes).expect("JSON is UTF-8");
    assert_eq!(text.lines().count(), history.ops.len());
    assert!(
        text.lines()
            .nth(1)
            .is_some_and(|line| line.contains(r#""op":"send_ok""#)),
        "{text}"
    );
    let spaced = text.replace('\n', "\n\n");
    let read = History::read_jsonl(spaced.as_bytes()).expect("read back");
    assert_eq!(read, history);
}

#[test]
fn jsonl_parse_error_names_the_line() {
    let text = "{\"process\":0,\"time_ms\":0,\"op\":\"send_invoke\",\"value\":\"a\"}\nnot json\n";
    match History::read_jsonl(text.as_bytes()) {
        Err(HistoryError::Parse { line, .. }) => assert_eq!(line, 2),
        other => panic!("expected a parse error, got {other:?}"),
    }
}

#[test]
fn definite_rejections_fail() {
    // CORRUPT_MESSAGE, MESSAGE_TOO_LARGE, NOT_ENOUGH_REPLICAS, INVALID_RECORD.
    for code in [2, 10, 19, 87] {
        assert_eq!(
            classify_send_error(code, false),
            SendOutcome::Fail,
            "{code}"
        );
    }
}

#[test]
fn maybe_appended_is_unknown() {
    // UNKNOWN_SERVER_ERROR, REQUEST_TIMED_OUT, NETWORK_EXCEPTION,
    // NOT_ENOUGH_REPLICAS_AFTER_APPEND, DUPLICATE_SEQUENCE_NUMBER, and a code no one knows.
    for code in [-1, 7, 13, 20, 46, 9999] {
        assert_eq!(
            classify_send_error(code, false),
            SendOutcome::Unknown,
            "{code}"
        );
    }
}

#[test]
fn definite_rejection_after_an_unknown_attempt_is_unknown() {
    assert_eq!(classify_send_error(10, true), SendOutcome::Unknown);
}
