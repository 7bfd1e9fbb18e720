//! A partition's transactions: the last stable offset while transactions are
//! open, markers, the aborted-transaction index, epoch fencing, and the same
//! state rebuilt from the log after a restart.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorRef};
use weir_client::protocol::batch_encoder::{NewRecord, encode_transactional_batch};

use super::{append, append_records, partition_args};
use crate::log::{Flusher, SimFs};
use crate::partition::txns::{AbortedTxn, Marker, marker_batch};
use crate::partition::{
    AppendOutcome, Partition, PartitionEntry, PartitionError, PartitionHandle, PartitionMsg,
    PartitionRegistry,
};

fn txn_batch(producer_id: i64, epoch: i16) -> bytes::Bytes {
    let record = NewRecord {
        key: None,
        value: Some(bytes::Bytes::from_static(b"v")),
        timestamp_ms: 1_000,
    };
    encode_transactional_batch(&[record], producer_id, epoch).unwrap()
}

async fn mark(
    actor: &ActorRef<PartitionMsg>,
    producer_id: i64,
    producer_epoch: i16,
    marker: Marker,
) -> Result<AppendOutcome, PartitionError> {
    actor
        .call(
            |reply| PartitionMsg::WriteMarker {
                producer_id,
                producer_epoch,
                marker,
                coordinator_epoch: 0,
                reply,
            },
            Some(Duration::from_secs(10)),
        )
        .await
        .expect("partition answers")
        .expect("within the timeout")
}

fn handle(registry: &PartitionRegistry) -> PartitionHandle {
    match registry.lookup("t", 0) {
        Some(PartitionEntry::Online(handle)) => handle,
        _ => panic!("partition online"),
    }
}

fn aborted(producer_id: i64, first_offset: i64, last_offset: i64) -> AbortedTxn {
    AbortedTxn {
        producer_id,
        first_offset,
        last_offset,
    }
}

#[tokio::test]
async fn open_transactions_hold_the_lso_and_markers_end_them_durably() {
    let fs = Arc::new(SimFs::new());
    let registry = Arc::new(PartitionRegistry::new());
    let flusher = Flusher::spawn().unwrap();
    let args = partition_args(fs.clone(), registry.clone(), &flusher);
    let (actor, join) = Actor::spawn(None, Partition, args.clone()).await.unwrap();
    let lso = |registry: &PartitionRegistry| *handle(registry).last_stable.borrow();

    // Producer 5 opens a transaction at 0; a plain record follows at 1.
    assert_eq!(
        append_records(&actor, txn_batch(5, 0), -1)
            .await
            .unwrap()
            .base_offset,
        0
    );
    assert_eq!(append(&actor, b"plain", -1).await.unwrap().base_offset, 1);
    assert_eq!(*handle(&registry).high_watermark.borrow(), 2);
    assert_eq!(
        lso(&registry),
        0,
        "held at the open transaction's first offset"
    );

    // Its ABORT marker takes offset 2 and releases the LSO.
    assert_eq!(
        mark(&actor, 5, 0, Marker::Abort).await.unwrap().base_offset,
        2
    );
    assert_eq!(lso(&registry), 3);
    assert_eq!(handle(&registry).aborted.all(), vec![aborted(5, 0, 2)]);
    assert_eq!(handle(&registry).aborted.overlapping(0, 3), vec![(5, 0)]);

    // Producer 6 commits at 3..4; producer 7 stays open from 5.
    append_records(&actor, txn_batch(6, 0), -1).await.unwrap();
    assert_eq!(
        mark(&actor, 6, 0, Marker::Commit)
            .await
            .unwrap()
            .base_offset,
        4
    );
    assert_eq!(lso(&registry), 5);
    append_records(&actor, txn_batch(7, 0), -1).await.unwrap();
    assert_eq!(lso(&registry), 5);
    assert_eq!(
        handle(&registry).aborted.all(),
        vec![aborted(5, 0, 2)],
        "a commit is not listed"
    );

    // A marker under a newer epoch fences the producer's older epoch.
    mark(&actor, 6, 1, Marker::Abort).await.unwrap();
    assert!(matches!(
        append_records(&actor, txn_batch(6, 0), -1).await,
        Err(PartitionError::InvalidProducerEpoch(_))
    ));
    assert!(matches!(
        mark(&actor, 6, 0, Marker::Commit).await,
        Err(PartitionError::InvalidProducerEpoch(_))
    ));
    // Clients never write markers.
    assert!(matches!(
        append_records(&actor, marker_batch(9, 0, Marker::Commit, 0, 1), -1).await,
        Err(PartitionError::InvalidRecord(_))
    ));

    // After a restart (and a crash: every write was acks=all, so fsynced)
    // the log alone gives back the open transaction and the aborted one.
    actor.stop(None);
    join.await.unwrap();
    fs.crash();
    let (actor, _) = Actor::spawn(None, Partition, args).await.unwrap();
    assert_eq!(lso(&registry), 5, "producer 7's transaction is still open");
    assert_eq!(handle(&registry).aborted.all(), vec![aborted(5, 0, 2)]);
    assert!(
        matches!(
            append_records(&actor, txn_batch(6, 0), -1).await,
            Err(PartitionError::InvalidProducerEpoch(_))
        ),
        "the fencing marker's epoch is rebuilt too"
    );
    let end = mark(&actor, 7, 0, Marker::Commit)
        .await
        .unwrap()
        .base_offset;
    assert_eq!(lso(&registry), end + 1);
    actor.stop(None);
    flusher.shutdown();
}
