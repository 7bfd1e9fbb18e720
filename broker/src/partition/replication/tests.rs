//! The partition actor as a replica: the leader's high watermark, acks=all
//! and min.insync.replicas, ISR proposals; the follower's appends with the
//! leader's offsets, epoch checks and truncation.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use ractor::{Actor, ActorRef};
use tokio::sync::mpsc;

use super::super::tests::{append, batch, partition_args};
use super::*;
use crate::log::{Flusher, Log, LogConfig, SimFs};
use crate::partition::{
    AppendOutcome, Partition, PartitionArgs, PartitionEntry, PartitionHandle, PartitionRegistry,
};

fn assignment(leader: i32, leader_epoch: i32, replicas: &[i32], isr: &[i32]) -> PartitionImage {
    PartitionImage {
        partition: 0,
        leader,
        leader_epoch,
        replicas: replicas.to_vec(),
        isr: isr.to_vec(),
    }
}

/// A partition of broker 1 with `assignment`, `min.insync.replicas` = 2, and
/// its ISR proposals sent to the returned channel (accepted).
async fn start(
    assignment: PartitionImage,
    lag_ms: u64,
) -> (
    ActorRef<PartitionMsg>,
    PartitionHandle,
    PartitionArgs,
    mpsc::UnboundedReceiver<IsrChange>,
    Flusher,
) {
    let fs = Arc::new(SimFs::new());
    let registry = Arc::new(PartitionRegistry::new());
    let flusher = Flusher::spawn().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let mut args = partition_args(fs, registry.clone(), &flusher);
    args.config.min_insync_replicas = 2;
    args.assignment = Arc::new(Mutex::new(assignment));
    args.replica_lag_time_max_ms = lag_ms;
    args.isr_changes = Arc::new(move |change| {
        let _ = tx.send(change);
        Box::pin(async { Ok(()) })
    });
    let (actor, _) = Actor::spawn(None, Partition, args.clone()).await.unwrap();
    let Some(PartitionEntry::Online(handle)) = registry.lookup("t", 0) else {
        panic!("partition online");
    };
    (actor, handle, args, rx, flusher)
}

/// Starts an acks=all append and returns its pending answer.
fn append_all(
    actor: &ActorRef<PartitionMsg>,
    value: &'static [u8],
) -> tokio::task::JoinHandle<Result<AppendOutcome, PartitionError>> {
    let actor = actor.clone();
    tokio::spawn(async move { append(&actor, value, -1).await })
}

fn fetched(actor: &ActorRef<PartitionMsg>, replica: i32, fetch_offset: i64) {
    actor
        .cast(PartitionMsg::FollowerFetched {
            replica,
            fetch_offset,
        })
        .unwrap();
}

fn set_assignment(actor: &ActorRef<PartitionMsg>, args: &PartitionArgs, a: PartitionImage) {
    *args.assignment.lock() = a;
    actor.cast(PartitionMsg::AssignmentChanged).unwrap();
}

/// Waits (bounded) until the high watermark is `hw`.
async fn high_watermark_reaches(handle: &PartitionHandle, hw: i64) {
    let mut watch = handle.high_watermark.clone();
    let reached = tokio::time::timeout(Duration::from_secs(10), watch.wait_for(|&v| v == hw));
    assert!(reached.await.is_ok(), "high watermark never reached {hw}");
}

#[tokio::test]
async fn acks_all_waits_for_every_in_sync_follower() {
    let (actor, handle, _args, _rx, flusher) =
        start(assignment(1, 0, &[1, 2, 3], &[1, 2, 3]), 10_000).await;
    let first = append_all(&actor, b"a");
    let mut end = handle.log_end.clone();
    let appended = tokio::time::timeout(Duration::from_secs(10), end.wait_for(|&e| e == 1));
    assert!(appended.await.is_ok());
    // acks=1 is answered after the leader's append; the high watermark waits.
    assert_eq!(append(&actor, b"b", 1).await.unwrap().base_offset, 1);
    assert_eq!(*handle.log_end.borrow(), 2);
    assert_eq!(*handle.high_watermark.borrow(), 0);
    fetched(&actor, 2, 2);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!first.is_finished(), "one follower of two is not enough");
    assert_eq!(*handle.high_watermark.borrow(), 0);
    fetched(&actor, 3, 1);
    high_watermark_reaches(&handle, 1).await;
    assert_eq!(first.await.unwrap().unwrap().base_offset, 0);
    fetched(&actor, 3, 2);
    high_watermark_reaches(&handle, 2).await;
    // The high watermark never goes back, whatever a follower reports.
    fetched(&actor, 2, 0);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(*handle.high_watermark.borrow(), 2);
    actor.stop(None);
    flusher.shutdown();
}

#[tokio::test]
async fn min_insync_replicas_refuses_before_and_after_the_append() {
    let (actor, handle, args, _rx, flusher) =
        start(assignment(1, 0, &[1, 2, 3], &[1, 2, 3]), 10_000).await;
    let pending = append_all(&actor, b"a");
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Both followers leave the ISR: the high watermark no longer waits for
    // them, but one in-sync replica is below min.insync.replicas = 2.
    set_assignment(&actor, &args, assignment(1, 0, &[1, 2, 3], &[1]));
    assert!(matches!(
        pending.await.unwrap(),
        Err(PartitionError::NotEnoughReplicasAfterAppend { min: 2 })
    ));
    assert_eq!(*handle.high_watermark.borrow(), 1);
    assert!(matches!(
        append(&actor, b"b", -1).await,
        Err(PartitionError::NotEnoughReplicas { isr: 1, min: 2 })
    ));
    assert_eq!(
        *handle.log_end.borrow(),
        1,
        "a refused append writes nothing"
    );
    // acks=1 does not care.
    assert_eq!(append(&actor, b"c", 1).await.unwrap().base_offset, 1);
    // Leadership moves away: appends are refused, waiting ones answered.
    set_assignment(&actor, &args, assignment(2, 1, &[1, 2, 3], &[1, 2]));
    let moved = append(&actor, b"d", 1).await;
    assert_eq!(moved, Err(PartitionError::NotLeader));
    actor.stop(None);
    flusher.shutdown();
}

#[tokio::test]
async fn the_leader_proposes_shrinking_and_expanding_the_isr() {
    let (actor, _handle, args, mut rx, flusher) =
        start(assignment(1, 3, &[1, 2, 3], &[1, 2, 3]), 300).await;
    // Follower 2 keeps fetching from the log end; 3 never fetches.
    let proposal = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            fetched(&actor, 2, 0);
            tokio::time::sleep(Duration::from_millis(50)).await;
            if let Ok(change) = rx.try_recv() {
                return change;
            }
        }
    })
    .await
    .expect("a shrink is proposed");
    assert_eq!(proposal.leader, 1);
    assert_eq!(proposal.leader_epoch, 3);
    assert_eq!(proposal.expected_isr, vec![1, 2, 3]);
    assert_eq!(proposal.new_isr, vec![1, 2]);
    set_assignment(&actor, &args, assignment(1, 3, &[1, 2, 3], &[1, 2]));
    // 3 comes back and catches up: it is proposed back into the ISR.
    append(&actor, b"a", 1).await.unwrap();
    fetched(&actor, 2, 1);
    fetched(&actor, 3, 1);
    let expand = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(expand.expected_isr, vec![1, 2]);
    assert_eq!(expand.new_isr, vec![1, 2, 3]);
    actor.stop(None);
    flusher.shutdown();
}

#[tokio::test]
async fn acks_all_is_refused_while_in_sync_followers_are_past_the_lag_time() {
    // The ISR change that would drop the silent followers is never
    // committed (the quorum is gone): the leader still refuses acks=all at
    // once instead of letting it wait out its timeout.
    let (actor, handle, args, _rx, flusher) =
        start(assignment(1, 0, &[1, 2, 3], &[1, 2, 3]), 200).await;
    let keep_fetching = |until: Duration| {
        let actor = actor.clone();
        let end = handle.log_end.clone();
        async move {
            let deadline = tokio::time::Instant::now() + until;
            while tokio::time::Instant::now() < deadline {
                fetched(&actor, 2, *end.borrow());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    // 2 fetches, 3 is silent and leaves the ISR: two in sync, enough for
    // min 2.
    keep_fetching(Duration::from_millis(400)).await;
    set_assignment(&actor, &args, assignment(1, 0, &[1, 2, 3], &[1, 2]));
    assert!(append(&actor, b"a", 1).await.is_ok());
    let fetching = tokio::spawn(keep_fetching(Duration::from_millis(300)));
    let ok = append(&actor, b"b", -1).await;
    fetching.await.unwrap();
    assert!(ok.is_ok(), "leader + follower 2 are in sync: {ok:?}");
    // 2 falls silent past the lag time too; its removal is never committed:
    // refused, nothing written.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let end = *handle.log_end.borrow();
    assert_eq!(
        append(&actor, b"c", -1).await,
        Err(PartitionError::NotEnoughReplicas { isr: 1, min: 2 })
    );
    assert_eq!(
        *handle.log_end.borrow(),
        end,
        "a refused append writes nothing"
    );
    // 2 comes back: accepted again.
    let fetching = tokio::spawn(keep_fetching(Duration::from_millis(300)));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(append(&actor, b"d", -1).await.is_ok());
    fetching.await.unwrap();
    actor.stop(None);
    flusher.shutdown();
}

#[tokio::test]
async fn the_high_watermark_survives_a_restart_and_a_new_leader_knows_its_epoch_start() {
    let fs = Arc::new(SimFs::new());
    let registry = Arc::new(PartitionRegistry::new());
    let flusher = Flusher::spawn().unwrap();
    let mut args = partition_args(fs, registry.clone(), &flusher);
    args.assignment = Arc::new(Mutex::new(assignment(1, 0, &[1, 2, 3], &[1, 2, 3])));
    let (actor, task) = Actor::spawn(None, Partition, args.clone()).await.unwrap();
    let Some(PartitionEntry::Online(handle)) = registry.lookup("t", 0) else {
        panic!("partition online");
    };
    assert_eq!(handle.epoch_start_offset.load(Ordering::Acquire), 0);
    for value in [b"a", b"b", b"c"] {
        append(&actor, value, 1).await.unwrap();
    }
    fetched(&actor, 2, 2);
    fetched(&actor, 3, 2);
    high_watermark_reaches(&handle, 2).await;
    actor.stop(None);
    task.await.unwrap();

    // Restarted as the leader of a new epoch: the high watermark starts
    // where it was, below the epoch's start (the log end), until the
    // followers confirm the rest.
    *args.assignment.lock() = assignment(1, 1, &[1, 2, 3], &[1, 2, 3]);
    let (actor, task) = Actor::spawn(None, Partition, args.clone()).await.unwrap();
    let Some(PartitionEntry::Online(handle)) = registry.lookup("t", 0) else {
        panic!("partition online again");
    };
    assert_eq!(*handle.high_watermark.borrow(), 2);
    assert_eq!(handle.epoch_start_offset.load(Ordering::Acquire), 3);
    fetched(&actor, 2, 3);
    fetched(&actor, 3, 3);
    high_watermark_reaches(&handle, 3).await;
    // A follower publishes no epoch start.
    set_assignment(&actor, &args, assignment(2, 2, &[1, 2, 3], &[1, 2, 3]));
    let cleared = tokio::time::timeout(Duration::from_secs(10), async {
        while handle.epoch_start_offset.load(Ordering::Acquire) != -1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    assert!(cleared.await.is_ok());
    actor.stop(None);
    task.await.unwrap();
    flusher.shutdown();
}

/// Batches as a leader wrote them: `values` appended under `epoch`s.
fn leader_batches(appends: &[(&[u8], i32)]) -> Vec<Bytes> {
    let mut log = Log::open(
        std::path::Path::new("/leader/t-0"),
        LogConfig::default(),
        Arc::new(SimFs::new()),
    )
    .unwrap();
    let mut out = Vec::new();
    for (value, epoch) in appends {
        let info = log.append(batch(value), None, *epoch).unwrap();
        let read = log
            .reader()
            .read(info.base_offset, 1 << 20, info.last_offset + 1, true)
            .unwrap();
        out.push(read.records);
    }
    out
}

async fn append_replica(
    actor: &ActorRef<PartitionMsg>,
    leader_epoch: i32,
    records: Bytes,
    leader_high_watermark: i64,
) -> Result<i64, PartitionError> {
    actor
        .call(
            |reply| PartitionMsg::AppendReplica {
                leader_epoch,
                records,
                leader_high_watermark,
                leader_log_start_offset: 0,
                reply,
            },
            Some(Duration::from_secs(10)),
        )
        .await
        .unwrap()
        .unwrap()
}

async fn reset(
    actor: &ActorRef<PartitionMsg>,
    leader_epoch: i32,
    reset: ReplicaReset,
) -> Result<i64, PartitionError> {
    actor
        .call(
            |reply| PartitionMsg::ResetReplica {
                leader_epoch,
                reset,
                reply,
            },
            Some(Duration::from_secs(10)),
        )
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn a_follower_appends_the_leaders_batches_and_truncates_where_they_diverge() {
    let (actor, handle, args, _rx, flusher) =
        start(assignment(2, 1, &[1, 2], &[1, 2]), 10_000).await;
    assert_eq!(
        append(&actor, b"x", 1).await,
        Err(PartitionError::NotLeader),
        "a follower takes no produce"
    );
    let batches = leader_batches(&[(b"a", 0), (b"b", 0), (b"c", 1)]);
    let both = Bytes::from([batches[0].to_vec(), batches[1].to_vec()].concat());
    assert_eq!(append_replica(&actor, 1, both, 1).await, Ok(2));
    assert_eq!(
        *handle.high_watermark.borrow(),
        1,
        "the leader's high watermark"
    );
    assert_eq!(handle.reader.latest_epoch(), 0);
    // Wrong epochs are refused and write nothing.
    assert!(matches!(
        append_replica(&actor, 0, batches[2].clone(), 1).await,
        Err(PartitionError::FencedLeaderEpoch { .. })
    ));
    assert!(matches!(
        append_replica(&actor, 2, batches[2].clone(), 1).await,
        Err(PartitionError::UnknownLeaderEpoch { .. })
    ));
    assert_eq!(
        append_replica(&actor, 1, batches[2].clone(), 1).await,
        Ok(3)
    );
    assert_eq!(handle.reader.latest_epoch(), 1);
    assert_eq!(*handle.log_end.borrow(), 3);
    // The leader's epoch 0 ended at 1: offsets 1 and 2 go.
    let end = reset(
        &actor,
        1,
        ReplicaReset::Diverged {
            epoch: 0,
            end_offset: 1,
        },
    )
    .await;
    assert_eq!(end, Ok(1));
    assert_eq!(*handle.log_end.borrow(), 1);
    assert!(*handle.high_watermark.borrow() <= 1);
    assert_eq!(handle.reader.latest_epoch(), 0);
    // A batch that leaves a gap is refused.
    assert!(matches!(
        append_replica(&actor, 1, batches[2].clone(), 1).await,
        Err(PartitionError::CorruptMessage(_))
    ));
    assert_eq!(*handle.log_end.borrow(), 1);
    // Below the leader's log start: start over there.
    assert_eq!(reset(&actor, 1, ReplicaReset::StartAt(10)).await, Ok(10));
    assert_eq!(handle.reader.log_start_offset(), 10);
    // Becoming leader (epoch 2): it takes produce again, from its log end.
    set_assignment(&actor, &args, assignment(1, 2, &[1, 2], &[1]));
    let leader_now = crate::partition::tests::append(&actor, b"y", 1).await;
    assert_eq!(leader_now.map(|o| o.base_offset), Ok(10));
    actor.stop(None);
    flusher.shutdown();
}

#[test]
fn truncation_follows_kafkas_rules() {
    // Same epoch on both sides: the lesser end.
    assert_eq!(truncation_offset((3, 100), (3, 120), 150, 90), 100);
    assert_eq!(truncation_offset((3, 100), (3, 80), 150, 90), 80);
    // The follower does not know the leader's epoch: its own end for it.
    assert_eq!(truncation_offset((3, 100), (2, 70), 150, 60), 70);
    // The leader knows nothing before: back to the high watermark.
    assert_eq!(truncation_offset((-1, -1), (-1, -1), 150, 60), 60);
    // Never beyond the log end.
    assert_eq!(truncation_offset((3, 500), (-1, -1), 150, 60), 150);
}
