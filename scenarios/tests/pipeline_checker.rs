//! The exactly-once pipeline checker on hand-made histories: a lost input, a
//! duplicated one, an aborted transaction's output read, a transaction read in
//! part, an output naming no input and committed offsets short of the input's
//! end are each caught, naming the records involved; a history that keeps every
//! promise (aborted and unknown transactions included) raises no alarm.

use weir_scenarios::checker::{output_id, parse_output_id};
use weir_scenarios::{
    Finding, History, Invariant, OpKind, PartitionOffset, Position, TxnOutcome, TxnOutput,
    check_pipeline,
};

/// The input drain's process; members are 1 and 2, the read_committed read 8,
/// the offsets reader 9 (the checker does not look at processes).
const DRAIN: u32 = 0;
const READER: u32 = 8;
const OFFSETS: u32 = 9;

/// Builds pipeline histories tersely; the clock ticks once per event.
#[derive(Default)]
struct Log(History);

impl Log {
    fn op(&mut self, process: u32, kind: OpKind) -> &mut Self {
        let time_ms = self.0.ops.len() as u64;
        self.0.push(process, time_ms, kind);
        self
    }

    /// The input drain read `value` at `partition`/`offset`.
    fn input(&mut self, value: &str, partition: i32, offset: i64) -> &mut Self {
        let value = value.to_owned();
        self.op(
            DRAIN,
            OpKind::Drained {
                value,
                partition,
                offset,
            },
        )
    }

    /// The input drain's end of `partition`.
    fn end(&mut self, partition: i32, offset: i64) -> &mut Self {
        self.op(DRAIN, OpKind::EndOffset { partition, offset })
    }

    /// Member `process` ended transaction `txn` with `outcome`, having written
    /// one output per input `(id, partition, offset)`, each acknowledged at the
    /// output offset given (partition 0).
    fn txn(
        &mut self,
        process: u32,
        txn: &str,
        outcome: TxnOutcome,
        inputs: &[(&str, i32, i64, i64)],
    ) -> &mut Self {
        let outputs = inputs
            .iter()
            .map(|&(id, partition, offset, at)| TxnOutput {
                value: output_id(txn, partition, offset, id),
                partition: 0,
                offset: at,
            })
            .collect();
        let mut offsets: Vec<PartitionOffset> = Vec::new();
        for &(_, partition, offset, _) in inputs {
            match offsets.iter_mut().find(|o| o.partition == partition) {
                Some(o) => o.offset = o.offset.max(offset + 1),
                None => offsets.push(PartitionOffset {
                    partition,
                    offset: offset + 1,
                }),
            }
        }
        let error = (outcome != TxnOutcome::Committed).then(|| "synthetic".to_owned());
        self.op(
            process,
            OpKind::Txn {
                txn: txn.to_owned(),
                outcome,
                outputs,
                offsets,
                error,
            },
        )
    }

    /// The read_committed read found the output of `txn` for input `id` at
    /// `partition`/`offset` of the input, at `at` in output partition 0.
    fn read(&mut self, txn: &str, id: &str, input: (i32, i64), at: i64) -> &mut Self {
        let value = output_id(txn, input.0, input.1, id);
        self.read_value(&value, at)
    }

    fn read_value(&mut self, value: &str, at: i64) -> &mut Self {
        let value = value.to_owned();
        self.op(
            READER,
            OpKind::ReadCommitted {
                value,
                partition: 0,
                offset: at,
            },
        )
    }

    /// The group's final committed offset of an input partition.
    fn committed(&mut self, partition: i32, offset: i64) -> &mut Self {
        self.op(
            OFFSETS,
            OpKind::Committed {
                partition,
                offset,
                generation: -1,
            },
        )
    }

    fn check(&self) -> Vec<Finding> {
        check_pipeline(&self.0).findings
    }
}

fn p(partition: i32, offset: i64) -> Position {
    Position::new(partition, offset)
}

/// Three input records: a, b in partition 0, c in partition 1.
fn inputs(log: &mut Log) -> &mut Log {
    log.input("a", 0, 0)
        .input("b", 0, 1)
        .input("c", 1, 0)
        .end(0, 2)
        .end(1, 1)
}

#[test]
fn output_ids_name_their_input() {
    let id = output_id("etl-0:7", 2, 41, "load-0-17");
    assert_eq!(id, "etl-0:7/2/41/load-0-17");
    assert_eq!(
        parse_output_id(&id),
        Some(("etl-0:7", p(2, 41), "load-0-17"))
    );
    // An input id may hold a slash; it is the last part.
    let id = output_id("t:1", 0, 3, "a/b");
    assert_eq!(parse_output_id(&id), Some(("t:1", p(0, 3), "a/b")));
    assert_eq!(parse_output_id("load-0-17"), None);
    assert_eq!(parse_output_id("t:1/x/3/a"), None);
}

/// Everything a correct run may contain: an aborted transaction whose outputs
/// reached the log (read_committed skips them) and whose inputs were moved
/// again, an unknown outcome that committed (read whole), one that did not
/// (read not at all), and the group's offsets at the input's end.
#[test]
fn clean_history_has_no_false_alarm() {
    let mut log = Log::default();
    inputs(&mut log)
        .txn(1, "etl-0:1", TxnOutcome::Aborted, &[("a", 0, 0, 0)])
        .txn(1, "etl-0:2", TxnOutcome::Unknown, &[("a", 0, 0, 2)])
        .txn(1, "etl-0:3", TxnOutcome::Committed, &[("b", 0, 1, 4)])
        .txn(2, "etl-1:1", TxnOutcome::Unknown, &[("c", 1, 0, 6)])
        .txn(2, "etl-1:2", TxnOutcome::Committed, &[("c", 1, 0, 8)])
        .read("etl-0:2", "a", (0, 0), 2)
        .read("etl-0:3", "b", (0, 1), 4)
        .read("etl-1:2", "c", (1, 0), 8)
        // A reader that re-reads one record is not a duplicate.
        .read("etl-1:2", "c", (1, 0), 8)
        .committed(0, 2)
        .committed(1, 1);
    let report = check_pipeline(&log.0);
    assert!(report.is_ok(), "{report}");
    let counts = report.counts;
    assert_eq!(
        (
            counts.txns_committed,
            counts.txns_aborted,
            counts.txns_unknown
        ),
        (2, 1, 2)
    );
    assert_eq!(counts.aborted_outputs_appended, 1);
    assert_eq!((counts.drained, counts.read_committed), (3, 4));
    let text = report.to_string();
    assert!(
        text.contains(
            "transactions committed 2, aborted 1 (1 of their outputs appended), unknown 2"
        ),
        "{text}"
    );
    for invariant in [
        "output loss",
        "output duplicate",
        "aborted transaction read",
        "transaction atomicity",
        "output mapping",
        "committed offsets",
    ] {
        assert!(text.contains(&format!("{invariant}: OK")), "{text}");
    }
}

#[test]
fn a_duplicate_is_caught() {
    let mut log = Log::default();
    // b was moved by two committed transactions (a zombie member, a rewind to
    // the wrong offset): it came out twice.
    inputs(&mut log)
        .txn(
            1,
            "etl-0:1",
            TxnOutcome::Committed,
            &[("a", 0, 0, 0), ("b", 0, 1, 1)],
        )
        .txn(
            2,
            "etl-1:1",
            TxnOutcome::Committed,
            &[("b", 0, 1, 3), ("c", 1, 0, 4)],
        )
        .read("etl-0:1", "a", (0, 0), 0)
        .read("etl-0:1", "b", (0, 1), 1)
        .read("etl-1:1", "b", (0, 1), 3)
        .read("etl-1:1", "c", (1, 0), 4)
        .committed(0, 2)
        .committed(1, 1);
    let expected = Finding::OutputDuplicated {
        input: "b".into(),
        at: p(0, 1),
        outputs: vec![
            (output_id("etl-0:1", 0, 1, "b"), p(0, 1)),
            (output_id("etl-1:1", 0, 1, "b"), p(0, 3)),
        ],
    };
    let findings = log.check();
    assert_eq!(findings, vec![expected]);
    assert_eq!(findings[0].invariant(), Invariant::OutputDuplicate);
}

#[test]
fn a_loss_is_caught() {
    let mut log = Log::default();
    // c's partition was committed past it, but no transaction wrote it.
    inputs(&mut log)
        .txn(
            1,
            "etl-0:1",
            TxnOutcome::Committed,
            &[("a", 0, 0, 0), ("b", 0, 1, 1)],
        )
        .read("etl-0:1", "a", (0, 0), 0)
        .read("etl-0:1", "b", (0, 1), 1)
        .committed(0, 2)
        .committed(1, 1);
    let expected = Finding::OutputLost {
        input: "c".into(),
        at: p(1, 0),
    };
    let findings = log.check();
    assert_eq!(findings, vec![expected]);
    assert_eq!(findings[0].invariant(), Invariant::OutputLoss);
}

#[test]
fn an_aborted_record_read_is_caught() {
    let mut log = Log::default();
    // The aborted transaction's output of a is visible to read_committed, so a
    // (moved again by the next transaction) also came out twice.
    inputs(&mut log)
        .txn(1, "etl-0:1", TxnOutcome::Aborted, &[("a", 0, 0, 0)])
        .txn(
            1,
            "etl-0:2",
            TxnOutcome::Committed,
            &[("a", 0, 0, 2), ("b", 0, 1, 3)],
        )
        .txn(2, "etl-1:1", TxnOutcome::Committed, &[("c", 1, 0, 5)])
        .read("etl-0:1", "a", (0, 0), 0)
        .read("etl-0:2", "a", (0, 0), 2)
        .read("etl-0:2", "b", (0, 1), 3)
        .read("etl-1:1", "c", (1, 0), 5)
        .committed(0, 2)
        .committed(1, 1);
    let aborted = output_id("etl-0:1", 0, 0, "a");
    let expected = vec![
        Finding::OutputDuplicated {
            input: "a".into(),
            at: p(0, 0),
            outputs: vec![
                (aborted.clone(), p(0, 0)),
                (output_id("etl-0:2", 0, 0, "a"), p(0, 2)),
            ],
        },
        Finding::AbortedTxnRead {
            value: aborted,
            txn: "etl-0:1".into(),
            at: p(0, 0),
        },
    ];
    assert_eq!(log.check(), expected);
    let text = check_pipeline(&log.0).to_string();
    assert!(
        text.contains(
            "aborted transaction read: 1 violations, e.g. \"etl-0:1/0/0/a\" of aborted transaction etl-0:1 read at p0@0"
        ),
        "{text}"
    );
}

#[test]
fn an_aborted_record_read_is_caught_alone() {
    let mut log = Log::default();
    // Its input's only output came from an aborted transaction: no loss, no
    // duplicate, but read_committed showed what it must not.
    log.input("a", 0, 0)
        .end(0, 1)
        .txn(1, "etl-0:1", TxnOutcome::Aborted, &[("a", 0, 0, 0)])
        .read("etl-0:1", "a", (0, 0), 0)
        .committed(0, 1);
    let findings = log.check();
    assert_eq!(
        findings,
        vec![Finding::AbortedTxnRead {
            value: output_id("etl-0:1", 0, 0, "a"),
            txn: "etl-0:1".into(),
            at: p(0, 0),
        }]
    );
    assert_eq!(findings[0].invariant(), Invariant::AbortedTxnRead);
}

#[test]
fn a_transaction_read_in_part_is_caught() {
    let mut log = Log::default();
    // A committed transaction missing one output, and one of unknown outcome
    // read in part: both break atomicity (and c is lost).
    inputs(&mut log)
        .txn(
            1,
            "etl-0:1",
            TxnOutcome::Committed,
            &[("a", 0, 0, 0), ("c", 1, 0, 1)],
        )
        .txn(
            2,
            "etl-1:1",
            TxnOutcome::Unknown,
            &[("b", 0, 1, 3), ("a", 0, 0, 4)],
        )
        .read("etl-0:1", "a", (0, 0), 0)
        .read("etl-1:1", "b", (0, 1), 3)
        .committed(0, 2)
        .committed(1, 1);
    let expected = vec![
        Finding::OutputLost {
            input: "c".into(),
            at: p(1, 0),
        },
        Finding::PartialTxn {
            txn: "etl-0:1".into(),
            outcome: TxnOutcome::Committed,
            read: 1,
            missing: vec![output_id("etl-0:1", 1, 0, "c")],
        },
        Finding::PartialTxn {
            txn: "etl-1:1".into(),
            outcome: TxnOutcome::Unknown,
            read: 1,
            missing: vec![output_id("etl-1:1", 0, 0, "a")],
        },
    ];
    assert_eq!(log.check(), expected);
}

#[test]
fn an_output_naming_no_input_is_caught() {
    let mut log = Log::default();
    log.input("a", 0, 0)
        .end(0, 1)
        .txn(1, "etl-0:1", TxnOutcome::Committed, &[("a", 0, 0, 0)])
        .read("etl-0:1", "a", (0, 0), 0)
        // The input holds "a" at p0@0, not "z"; p0@5 holds nothing.
        .read("etl-0:9", "z", (0, 0), 1)
        .read("etl-0:9", "a", (0, 5), 2)
        .read_value("garbage", 3)
        .committed(0, 1);
    let findings = log.check();
    assert_eq!(findings.len(), 3, "{findings:?}");
    assert!(
        findings
            .iter()
            .all(|f| f.invariant() == Invariant::OutputMapping),
        "{findings:?}"
    );
    assert!(
        matches!(&findings[0], Finding::StrayOutput { value, at, .. } if value == "etl-0:9/0/0/z" && *at == p(0, 1))
    );
}

#[test]
fn committed_offsets_short_of_the_end_are_caught() {
    let mut log = Log::default();
    inputs(&mut log)
        .txn(
            1,
            "etl-0:1",
            TxnOutcome::Committed,
            &[("a", 0, 0, 0), ("b", 0, 1, 1)],
        )
        .txn(2, "etl-1:1", TxnOutcome::Committed, &[("c", 1, 0, 2)])
        .read("etl-0:1", "a", (0, 0), 0)
        .read("etl-0:1", "b", (0, 1), 1)
        .read("etl-1:1", "c", (1, 0), 2)
        // Partition 1's transaction offsets never counted; partition 0's last
        // commit went backwards.
        .committed(0, 2)
        .committed(0, 1);
    let expected = vec![
        Finding::OffsetsNotAtEnd {
            partition: 0,
            committed: Some(1),
            end: 2,
        },
        Finding::OffsetsNotAtEnd {
            partition: 1,
            committed: None,
            end: 1,
        },
    ];
    let findings = log.check();
    assert_eq!(findings, expected);
    let text = check_pipeline(&log.0).to_string();
    assert!(
        text.contains("committed offsets: 2 violations, e.g. partition 0: committed 1, the input ends at 2; partition 1: nothing committed, the input ends at 1"),
        "{text}"
    );
}
