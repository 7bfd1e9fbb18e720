use super::*;

const MAX: i32 = 900_000;

fn producer(id: i64, epoch: i16) -> Producer {
    Producer { id, epoch }
}

fn tp(topic: &str, partition: i32) -> (String, i32) {
    (topic.to_owned(), partition)
}

fn ready(outcome: InitOutcome) -> TxnMetadata {
    match outcome {
        InitOutcome::Ready(m) => m,
        other => panic!("expected Ready, got {other:?}"),
    }
}

/// A fresh id with one open transaction on t-0.
fn ongoing() -> TxnMetadata {
    let m = ready(init_producer_id(None, 60_000, MAX, None, 0, || Some(7)));
    add_partitions(Some(&m), producer(7, 0), &[tp("t", 0)], true, 10)
        .unwrap()
        .unwrap()
}

#[test]
fn a_new_id_gets_a_new_producer_and_a_known_one_a_bumped_epoch() {
    let m = ready(init_producer_id(None, 60_000, MAX, None, 0, || Some(7)));
    assert_eq!(
        (m.producer_id, m.producer_epoch, m.status),
        (7, 0, TxnStatus::Empty)
    );
    let again = ready(init_producer_id(Some(&m), 60_000, MAX, None, 1, || {
        panic!("no new id needed")
    }));
    assert_eq!((again.producer_id, again.producer_epoch), (7, 1));
    // An exhausted epoch moves to a new producer id.
    let worn = TxnMetadata {
        producer_epoch: EPOCH_MAX,
        ..again
    };
    let fresh = ready(init_producer_id(Some(&worn), 60_000, MAX, None, 2, || {
        Some(8)
    }));
    assert_eq!((fresh.producer_id, fresh.producer_epoch), (8, 0));
}

#[test]
fn timeouts_outside_the_maximum_are_refused() {
    for timeout in [0, -1, MAX + 1] {
        assert_eq!(
            init_producer_id(None, timeout, MAX, None, 0, || Some(1)),
            InitOutcome::Error(codes::INVALID_TRANSACTION_TIMEOUT)
        );
    }
}

#[test]
fn a_second_instance_fences_the_first_and_aborts_its_transaction() {
    let open = ongoing();
    let InitOutcome::AbortFirst(fencing) =
        init_producer_id(Some(&open), 60_000, MAX, None, 20, || None)
    else {
        panic!("an open transaction is aborted first");
    };
    assert_eq!(fencing.status, TxnStatus::PrepareAbort);
    assert_eq!(fencing.producer_epoch, 1, "markers carry the bumped epoch");
    assert_eq!(fencing.partitions, open.partitions);
    // While the markers are written, the new instance retries.
    assert_eq!(
        init_producer_id(Some(&fencing), 60_000, MAX, None, 21, || None),
        InitOutcome::Error(codes::CONCURRENT_TRANSACTIONS)
    );
    let aborted = complete(&fencing, 22).unwrap();
    assert_eq!(aborted.status, TxnStatus::CompleteAbort);
    let new = ready(init_producer_id(
        Some(&aborted),
        60_000,
        MAX,
        None,
        23,
        || None,
    ));
    assert_eq!(new.producer_epoch, 2);
    // The old instance (epoch 0) is fenced everywhere.
    for kip588 in [true, false] {
        let e = add_partitions(Some(&new), producer(7, 0), &[tp("t", 1)], kip588, 24);
        assert_eq!(e, Err(fenced(kip588)));
        assert_eq!(
            end_txn(Some(&new), producer(7, 0), true, kip588, 24),
            Err(fenced(kip588))
        );
    }
    assert_eq!(fenced(true), codes::PRODUCER_FENCED);
    assert_eq!(fenced(false), codes::INVALID_PRODUCER_EPOCH);
}

#[test]
fn kip360_askers_must_be_the_current_producer() {
    let m = ready(init_producer_id(None, 60_000, MAX, None, 0, || Some(7)));
    assert_eq!(
        init_producer_id(Some(&m), 60_000, MAX, Some(producer(7, 3)), 1, || None),
        InitOutcome::Error(codes::PRODUCER_FENCED)
    );
    let bumped = ready(init_producer_id(
        Some(&m),
        60_000,
        MAX,
        Some(producer(7, 0)),
        1,
        || None,
    ));
    assert_eq!(bumped.producer_epoch, 1);
}

#[test]
fn partitions_join_an_open_transaction_once() {
    let open = ongoing();
    assert_eq!(open.status, TxnStatus::Ongoing);
    assert_eq!(open.txn_start_ms, 10);
    assert_eq!(
        add_partitions(Some(&open), producer(7, 0), &[tp("t", 0)], true, 11),
        Ok(None),
        "nothing new to store"
    );
    let more = add_partitions(Some(&open), producer(7, 0), &[tp("t", 1)], true, 12)
        .unwrap()
        .unwrap();
    assert_eq!(more.partitions.len(), 2);
    assert_eq!(
        more.txn_start_ms, 10,
        "the transaction began with its first partition"
    );
    assert_eq!(
        add_partitions(Some(&open), producer(8, 0), &[tp("t", 1)], true, 12),
        Err(codes::INVALID_PRODUCER_ID_MAPPING)
    );
    assert_eq!(
        add_partitions(None, producer(8, 0), &[tp("t", 1)], true, 12),
        Err(codes::INVALID_PRODUCER_ID_MAPPING)
    );
}

#[test]
fn commit_goes_through_prepare_to_complete_and_retries_are_answered() {
    let open = ongoing();
    let EndOutcome::Prepare(prepared) =
        end_txn(Some(&open), producer(7, 0), true, true, 30).unwrap()
    else {
        panic!("an open transaction prepares");
    };
    assert_eq!(prepared.status, TxnStatus::PrepareCommit);
    assert_eq!(
        end_txn(Some(&prepared), producer(7, 0), true, true, 31),
        Err(codes::CONCURRENT_TRANSACTIONS)
    );
    assert_eq!(
        end_txn(Some(&prepared), producer(7, 0), false, true, 31),
        Err(codes::INVALID_TXN_STATE)
    );
    assert_eq!(
        add_partitions(Some(&prepared), producer(7, 0), &[tp("t", 2)], true, 31),
        Err(codes::CONCURRENT_TRANSACTIONS)
    );
    let done = complete(&prepared, 32).unwrap();
    assert_eq!(done.status, TxnStatus::CompleteCommit);
    assert!(done.partitions.is_empty());
    assert_eq!(
        end_txn(Some(&done), producer(7, 0), true, true, 33),
        Ok(EndOutcome::AlreadyDone)
    );
    assert_eq!(
        end_txn(Some(&done), producer(7, 0), false, true, 33),
        Err(codes::INVALID_TXN_STATE)
    );
    assert_eq!(complete(&done, 34), None);
    // The next transaction starts from the completed one.
    let next = add_partitions(Some(&done), producer(7, 0), &[tp("u", 0)], true, 40)
        .unwrap()
        .unwrap();
    assert_eq!(next.partitions.len(), 1);
    assert_eq!(next.txn_start_ms, 40);
}

#[test]
fn ending_nothing_is_an_invalid_state() {
    let m = ready(init_producer_id(None, 60_000, MAX, None, 0, || Some(7)));
    assert_eq!(
        end_txn(Some(&m), producer(7, 0), true, true, 1),
        Err(codes::INVALID_TXN_STATE)
    );
}

#[test]
fn expired_transactions_are_aborted_with_a_fencing_epoch() {
    let open = ongoing();
    assert_eq!(expire(&open, 10 + 60_000), None);
    let aborting = expire(&open, 10 + 60_001).unwrap();
    assert_eq!(aborting.status, TxnStatus::PrepareAbort);
    assert_eq!(aborting.producer_epoch, 1);
    assert_eq!(
        end_txn(Some(&aborting), producer(7, 0), true, true, 70_000),
        Err(codes::PRODUCER_FENCED)
    );
    let done = complete(&aborting, 70_001).unwrap();
    assert_eq!(expire(&done, i64::MAX), None);
}

#[test]
fn idle_ids_expire_but_open_ones_do_not() {
    let m = ready(init_producer_id(None, 60_000, MAX, None, 0, || Some(7)));
    assert!(!is_expired_id(&m, 1_000, 1_000));
    assert!(is_expired_id(&m, 1_001, 1_000));
    assert!(!is_expired_id(&ongoing(), i64::MAX, 1_000));
}
