//! The checker on hand-made histories: each invariant caught when violated, naming the
//! records involved, and no false alarm on histories that keep every promise.

use weir_scenarios::{
    CheckConfig, DeliveryMode, Finding, History, Invariant, OpKind, Position, check,
};

/// Builds histories tersely; the clock ticks once per event.
#[derive(Default)]
struct Log(History);

impl Log {
    fn op(&mut self, process: u32, kind: OpKind) -> &mut Self {
        let time_ms = self.0.ops.len() as u64;
        self.0.push(process, time_ms, kind);
        self
    }

    /// A producer's invoke followed by its acknowledgement.
    fn acked(&mut self, value: &str, partition: i32, offset: i64) -> &mut Self {
        let value = value.to_owned();
        self.op(
            0,
            OpKind::SendInvoke {
                value: value.clone(),
            },
        )
        .op(
            0,
            OpKind::SendOk {
                value,
                partition,
                offset,
            },
        )
    }

    fn failed(&mut self, value: &str) -> &mut Self {
        let value = value.to_owned();
        self.op(
            0,
            OpKind::SendInvoke {
                value: value.clone(),
            },
        )
        .op(
            0,
            OpKind::SendFail {
                value,
                error: "MESSAGE_TOO_LARGE".into(),
            },
        )
    }

    fn unknown(&mut self, value: &str) -> &mut Self {
        let value = value.to_owned();
        self.op(
            0,
            OpKind::SendInvoke {
                value: value.clone(),
            },
        )
        .op(
            0,
            OpKind::SendUnknown {
                value,
                error: "timed out".into(),
            },
        )
    }

    fn drained(&mut self, value: &str, partition: i32, offset: i64) -> &mut Self {
        let value = value.to_owned();
        self.op(
            99,
            OpKind::Drained {
                value,
                partition,
                offset,
            },
        )
    }

    fn assigned(&mut self, process: u32, partitions: &[i32], generation: i32) -> &mut Self {
        let partitions = partitions.to_vec();
        self.op(
            process,
            OpKind::Assigned {
                partitions,
                generation,
            },
        )
    }

    fn delivered(&mut self, process: u32, value: &str, at: (i32, i64), gen_: i32) -> &mut Self {
        let value = value.to_owned();
        self.op(
            process,
            OpKind::Delivered {
                value,
                partition: at.0,
                offset: at.1,
                generation: gen_,
            },
        )
    }

    fn committed(&mut self, process: u32, partition: i32, offset: i64, gen_: i32) -> &mut Self {
        self.op(
            process,
            OpKind::Committed {
                partition,
                offset,
                generation: gen_,
            },
        )
    }

    fn check(&self, config: CheckConfig) -> Vec<Finding> {
        check(&self.0, &config).findings
    }
}

fn p(partition: i32, offset: i64) -> Position {
    Position::new(partition, offset)
}

const LOG_ONLY: CheckConfig = CheckConfig {
    idempotent: false,
    delivery: None,
    delivery_only: false,
};

const IDEMPOTENT: CheckConfig = CheckConfig {
    idempotent: true,
    delivery: None,
    delivery_only: false,
};

const AT_LEAST_ONCE: CheckConfig = CheckConfig {
    idempotent: true,
    delivery: Some(DeliveryMode::AtLeastOnce),
    delivery_only: false,
};

const AT_MOST_ONCE: CheckConfig = CheckConfig {
    idempotent: true,
    delivery: Some(DeliveryMode::AtMostOnce),
    delivery_only: false,
};

#[test]
fn lost_write_when_a_later_offset_was_read() {
    let mut log = Log::default();
    log.acked("a", 0, 0)
        .acked("b", 0, 1)
        .acked("c", 1, 0)
        .drained("b", 0, 1)
        .drained("c", 1, 0);
    let expected = Finding::LostWrite {
        value: "a".into(),
        at: p(0, 0),
    };
    assert_eq!(log.check(LOG_ONLY), vec![expected]);
}

#[test]
fn lost_write_when_its_offset_holds_another_value() {
    let mut log = Log::default();
    log.acked("a", 0, 0).unknown("x").drained("x", 0, 0);
    let expected = Finding::LostWrite {
        value: "a".into(),
        at: p(0, 0),
    };
    assert_eq!(log.check(LOG_ONLY), vec![expected]);
}

#[test]
fn unseen_when_nothing_from_its_offset_on_was_read() {
    let mut log = Log::default();
    log.acked("a", 0, 0)
        .acked("b", 0, 1)
        .acked("c", 1, 0)
        .drained("a", 0, 0);
    let expected = vec![
        Finding::Unseen {
            value: "b".into(),
            at: p(0, 1),
        },
        Finding::Unseen {
            value: "c".into(),
            at: p(1, 0),
        },
    ];
    assert_eq!(log.check(LOG_ONLY), expected);
}

#[test]
fn duplicate_only_when_idempotent() {
    let mut log = Log::default();
    log.acked("a", 0, 0)
        .drained("a", 0, 0)
        .drained("a", 0, 1)
        .drained("a", 2, 0);
    let expected = Finding::Duplicate {
        value: "a".into(),
        at: vec![p(0, 0), p(0, 1), p(2, 0)],
    };
    assert_eq!(log.check(IDEMPOTENT), vec![expected]);
    assert_eq!(log.check(LOG_ONLY), vec![]);
}

#[test]
fn producer_order_within_a_partition_when_idempotent() {
    let invoke = |value: &str| OpKind::SendInvoke {
        value: value.into(),
    };
    let ok = |value: &str, partition, offset| OpKind::SendOk {
        value: value.into(),
        partition,
        offset,
    };
    let mut log = Log::default();
    // Producer 0 sends a, b, c; b lands before a in partition 0, c elsewhere.
    // Producer 1's record between them in partition 0 orders nothing.
    log.op(0, invoke("a"))
        .op(0, invoke("b"))
        .op(0, invoke("c"))
        .op(1, invoke("x"))
        .op(0, ok("b", 0, 0))
        .op(1, ok("x", 0, 1))
        .op(0, ok("a", 0, 2))
        .op(0, ok("c", 1, 0))
        .drained("b", 0, 0)
        .drained("x", 0, 1)
        .drained("a", 0, 2)
        .drained("c", 1, 0);
    let expected = Finding::Reordered {
        process: 0,
        value: "b".into(),
        at: p(0, 0),
        earlier_value: "a".into(),
        earlier_at: p(0, 2),
    };
    assert_eq!(log.check(IDEMPOTENT), vec![expected]);
    assert_eq!(
        log.check(LOG_ONLY),
        vec![],
        "only idempotence promises order"
    );
}

#[test]
fn conflicting_values_at_one_offset() {
    let mut log = Log::default();
    log.acked("a", 0, 0)
        .unknown("b")
        .drained("a", 0, 0)
        .drained("b", 0, 0);
    let expected = Finding::ConflictingValues {
        at: p(0, 0),
        values: vec!["a".into(), "b".into()],
    };
    assert_eq!(log.check(LOG_ONLY), vec![expected]);
}

#[test]
fn acked_value_read_at_another_offset() {
    let mut log = Log::default();
    log.acked("a", 0, 0).drained("a", 0, 1);
    let expected = Finding::MisplacedAck {
        value: "a".into(),
        acked: p(0, 0),
        read: vec![p(0, 1)],
    };
    let findings = log.check(LOG_ONLY);
    assert_eq!(findings, vec![expected]);
    assert_eq!(findings[0].invariant(), Invariant::InconsistentOffsets);
}

#[test]
fn aborted_read_of_a_failed_send() {
    let mut log = Log::default();
    log.acked("a", 1, 2)
        .failed("f")
        .drained("a", 1, 2)
        .drained("f", 1, 3);
    let expected = Finding::AbortedRead {
        value: "f".into(),
        at: vec![p(1, 3)],
    };
    assert_eq!(log.check(LOG_ONLY), vec![expected]);
}

#[test]
fn at_least_once_catches_a_skipped_offset() {
    let mut log = Log::default();
    log.acked("a", 0, 0)
        .acked("b", 0, 1)
        .acked("c", 0, 2)
        .assigned(1, &[0], 1)
        .delivered(1, "a", (0, 0), 1)
        .delivered(1, "c", (0, 2), 1)
        .committed(1, 0, 3, 1)
        .drained("a", 0, 0)
        .drained("b", 0, 1)
        .drained("c", 0, 2);
    let expected = Finding::NotDelivered {
        value: "b".into(),
        at: p(0, 1),
        committed: 3,
    };
    assert_eq!(log.check(AT_LEAST_ONCE), vec![expected]);
}

#[test]
fn at_least_once_uses_the_last_commit() {
    let mut log = Log::default();
    log.acked("a", 0, 0)
        .acked("b", 0, 1)
        .assigned(1, &[0], 1)
        .delivered(1, "a", (0, 0), 1)
        .committed(1, 0, 2, 1)
        .assigned(2, &[0], 2)
        .committed(2, 0, 1, 2)
        .drained("a", 0, 0)
        .drained("b", 0, 1);
    // The group's final position is 1, so offset 1 was not yet owed to anyone.
    assert_eq!(log.check(AT_LEAST_ONCE), vec![]);
}

#[test]
fn at_most_once_catches_a_redelivery() {
    let mut log = Log::default();
    log.acked("a", 0, 0)
        .acked("b", 0, 1)
        .assigned(1, &[0], 1)
        .delivered(1, "a", (0, 0), 1)
        .delivered(1, "b", (0, 1), 1)
        .assigned(2, &[0], 2)
        .delivered(2, "b", (0, 1), 2)
        .drained("a", 0, 0)
        .drained("b", 0, 1);
    let expected = Finding::DeliveredTwice {
        value: "b".into(),
        at: p(0, 1),
        processes: vec![1, 2],
    };
    assert_eq!(log.check(AT_MOST_ONCE), vec![expected]);
    // The same run is fine for a group that promised at-least-once.
    assert_eq!(log.check(AT_LEAST_ONCE), vec![]);
}

#[test]
fn non_monotonic_poll_within_one_assignment() {
    let mut log = Log::default();
    log.acked("a", 0, 0)
        .acked("b", 0, 1)
        .acked("c", 0, 2)
        .assigned(1, &[0], 1)
        .delivered(1, "a", (0, 0), 1)
        .delivered(1, "c", (0, 2), 1)
        .delivered(1, "b", (0, 1), 1)
        .drained("a", 0, 0)
        .drained("b", 0, 1)
        .drained("c", 0, 2);
    let expected = Finding::NonMonotonicPoll {
        process: 1,
        generation: 1,
        value: "b".into(),
        at: p(0, 1),
        previous_offset: 2,
    };
    assert_eq!(log.check(AT_LEAST_ONCE), vec![expected]);
}

#[test]
fn a_new_assignment_may_restart_from_the_committed_offset() {
    let mut log = Log::default();
    log.acked("a", 0, 0)
        .acked("b", 0, 1)
        .assigned(1, &[0], 1)
        .delivered(1, "a", (0, 0), 1)
        .delivered(1, "b", (0, 1), 1)
        .committed(1, 0, 1, 1)
        // Same member, re-assigned the same partition: it resumes at the commit.
        .assigned(1, &[0], 2)
        .delivered(1, "b", (0, 1), 2)
        .committed(1, 0, 2, 2)
        .drained("a", 0, 0)
        .drained("b", 0, 1);
    assert_eq!(log.check(AT_LEAST_ONCE), vec![]);
}

/// Everything a correct run may legitimately contain, in one history.
#[test]
fn clean_history_has_no_false_alarm() {
    let mut log = Log::default();
    log.acked("a0", 0, 0)
        .unknown("u-read") // timed out, but it was appended
        .unknown("u-lost") // timed out, and it was not
        .failed("f") // never read, as a definite failure promises
        .acked("a2", 0, 5) // offsets 2..5 are gaps: compacted or markers
        .acked("b0", 1, 0)
        .acked("b1", 1, 1)
        .assigned(1, &[0, 1], 1)
        .delivered(1, "a0", (0, 0), 1)
        .delivered(1, "b0", (1, 0), 1)
        .delivered(1, "u-read", (0, 1), 1)
        .committed(1, 0, 2, 1)
        .assigned(1, &[0], 2)
        .assigned(2, &[1], 2)
        .delivered(2, "b0", (1, 0), 2) // at-least-once redelivery after rebalance
        .delivered(2, "b1", (1, 1), 2)
        .delivered(1, "a2", (0, 5), 2)
        .committed(1, 0, 6, 2)
        .committed(2, 1, 2, 2)
        .drained("a0", 0, 0)
        .drained("u-read", 0, 1)
        .drained("a2", 0, 5)
        .drained("b0", 1, 0)
        .drained("b1", 1, 1);
    let report = check(&log.0, &AT_LEAST_ONCE);
    assert!(report.is_ok(), "{report}");
    let counts = report.counts;
    assert_eq!(
        (counts.acked, counts.failed, counts.unknown),
        (4, 1, 2),
        "{counts:?}"
    );
    assert_eq!((counts.drained, counts.delivered), (5, 6), "{counts:?}");
}

#[test]
fn report_text_names_records_and_caps_examples() {
    let mut log = Log::default();
    for offset in 0..7 {
        log.acked(&format!("v{offset}"), 3, offset);
    }
    log.drained("v7", 3, 7);
    let report = check(&log.0, &IDEMPOTENT);
    assert!(!report.is_ok());
    let text = report.to_string();
    let lost = text
        .lines()
        .find(|line| line.starts_with("lost write:"))
        .unwrap_or_else(|| panic!("no lost write line in:\n{text}"));
    assert!(lost.starts_with("lost write: 7 violations"), "{lost}");
    assert!(lost.contains("\"v0\" acked at p3@0"), "{lost}");
    assert!(lost.contains("\"v4\""), "{lost}");
    assert!(!lost.contains("\"v5\""), "more than 5 examples: {lost}");
    assert!(text.contains("unseen: OK"), "{text}");
    assert!(text.contains("duplicate: OK"), "{text}");
    assert!(
        !text.contains("at-least-once"),
        "delivery not checked: {text}"
    );
}
