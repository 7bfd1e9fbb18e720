//! Partition actor tests on the fault-injecting file system: offsets, acks and
//! fsync, restart and recovery, and going offline when storage keeps failing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorRef};
use tokio::sync::watch;
use weir_client::protocol::records::testing::build_batch;

use super::*;
use crate::config::BrokerConfig;

mod transactions;
use crate::controller::{MetadataImage, MetadataRecord, TopicConfig};
use crate::log::{Flusher, FsyncPolicy, SimFs};

pub(super) fn batch(value: &[u8]) -> bytes::Bytes {
    build_batch(&[(None, Some(value))], 1_000)
}

pub(super) fn partition_args(
    fs: Arc<SimFs>,
    registry: Arc<PartitionRegistry>,
    flusher: &Flusher,
) -> PartitionArgs {
    PartitionArgs {
        tp: TopicPartition::new("t", 0),
        dir: PathBuf::from("/sim/data/t-0"),
        config: TopicConfig::resolve(&BrokerConfig::default(), &BTreeMap::new()),
        fsync: FsyncPolicy::Default,
        flusher: flusher.handle(),
        fs,
        registry,
        retention_check_interval_ms: 60_000,
        node_id: 1,
        assignment: Arc::new(parking_lot::Mutex::new(sole_leader())),
        replica_lag_time_max_ms: 10_000,
        isr_changes: Arc::new(|_| Box::pin(async { Err("no controller here".to_string()) })),
    }
}

/// A partition whose only replica (broker 1) leads it.
fn sole_leader() -> crate::controller::PartitionImage {
    crate::controller::PartitionImage {
        partition: 0,
        leader: 1,
        leader_epoch: 0,
        replicas: vec![1],
        isr: vec![1],
    }
}

pub(super) async fn append(
    actor: &ActorRef<PartitionMsg>,
    value: &[u8],
    acks: i16,
) -> Result<AppendOutcome, PartitionError> {
    append_records(actor, batch(value), acks).await
}

/// Appends a record set as a Produce would.
pub(super) async fn append_records(
    actor: &ActorRef<PartitionMsg>,
    records: bytes::Bytes,
    acks: i16,
) -> Result<AppendOutcome, PartitionError> {
    actor
        .call(
            |reply| PartitionMsg::Append {
                records,
                acks,
                check: TxnCheck::Off,
                reply,
            },
            Some(Duration::from_secs(10)),
        )
        .await
        .expect("partition answers")
        .expect("within the timeout")
}

#[tokio::test]
async fn appends_get_consecutive_offsets_and_survive_a_restart() {
    let fs = Arc::new(SimFs::new());
    let registry = Arc::new(PartitionRegistry::new());
    let flusher = Flusher::spawn().unwrap();
    let args = partition_args(fs.clone(), registry.clone(), &flusher);
    let (actor, handle) = Actor::spawn(None, Partition, args.clone()).await.unwrap();
    assert_eq!(append(&actor, b"a", 1).await.unwrap().base_offset, 0);
    assert_eq!(append(&actor, b"b", -1).await.unwrap().base_offset, 1);
    let Some(PartitionEntry::Online(h)) = registry.lookup("t", 0) else {
        panic!("partition registered online");
    };
    assert_eq!(*h.high_watermark.borrow(), 2);
    // acks=all was answered after an fsync: it survives a simulated power loss.
    actor.stop(None);
    handle.await.unwrap();
    fs.crash();
    let (actor, _) = Actor::spawn(None, Partition, args).await.unwrap();
    assert_eq!(
        append(&actor, b"c", 1).await.unwrap().base_offset,
        2,
        "recovered both batches"
    );
    actor.stop(None);
    flusher.shutdown();
}

#[tokio::test]
async fn bad_batches_get_errors_and_the_actor_keeps_running() {
    let fs = Arc::new(SimFs::new());
    let registry = Arc::new(PartitionRegistry::new());
    let flusher = Flusher::spawn().unwrap();
    let (actor, _) = Actor::spawn(None, Partition, partition_args(fs, registry, &flusher))
        .await
        .unwrap();
    let mut corrupt = batch(b"x").to_vec();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    let records = bytes::Bytes::from(corrupt);
    let result = actor
        .call(
            |reply| PartitionMsg::Append {
                records,
                acks: 1,
                check: TxnCheck::Off,
                reply,
            },
            None,
        )
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(result, Err(PartitionError::CorruptMessage(_))));
    let mut legacy = batch(b"x").to_vec();
    legacy[16] = 1;
    let records = bytes::Bytes::from(legacy);
    let result = actor
        .call(
            |reply| PartitionMsg::Append {
                records,
                acks: 1,
                check: TxnCheck::Off,
                reply,
            },
            None,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(result, Err(PartitionError::UnsupportedMessageFormat));
    assert_eq!(append(&actor, b"ok", 1).await.unwrap().base_offset, 0);
    actor.stop(None);
    flusher.shutdown();
}

/// Under the manager: an fsync failure fails the acks=all append, the actor
/// restarts, and when storage keeps failing the partition goes offline while the
/// manager and everything above it keep running.
#[tokio::test]
async fn failing_storage_takes_the_partition_offline_not_the_broker() {
    let fs = Arc::new(SimFs::new());
    let registry = Arc::new(PartitionRegistry::new());
    let flusher = Flusher::spawn().unwrap();
    let image = MetadataImage::default().apply(&MetadataRecord::TopicCreated {
        topic_id: [1; 16],
        name: "t".into(),
        partitions: vec![vec![0]],
        configs: Vec::new(),
    });
    let (_images_tx, images) = watch::channel(Arc::new(image));
    let config = BrokerConfig {
        data_dir: PathBuf::from("/sim/data"),
        ..BrokerConfig::default()
    };
    let metrics = Arc::new(crate::metrics::Metrics::default());
    let args = PartitionManagerArgs {
        config: Arc::new(config),
        images,
        registry: registry.clone(),
        flusher: flusher.handle(),
        fs: fs.clone(),
        name_prefix: "ptest.".into(),
        isr_changes: Arc::new(|_| Box::pin(async { Err("no controller here".to_string()) })),
        metrics: metrics.clone(),
    };
    let (manager, _) = Actor::spawn(None, PartitionManager, args).await.unwrap();
    let online = wait_for(&registry, |e| matches!(e, Some(PartitionEntry::Online(_)))).await;
    let Some(PartitionEntry::Online(handle)) = online else {
        unreachable!()
    };
    fs.fail_syncs("/sim/data/t-0");
    let result = append(&handle.actor, b"lost", -1).await;
    assert!(
        matches!(result, Err(PartitionError::Storage(_))),
        "{result:?}"
    );
    wait_for(&registry, |e| matches!(e, Some(PartitionEntry::Offline))).await;
    assert_eq!(manager.get_status(), ractor::ActorStatus::Running);
    // Each restart the supervisor scheduled before giving up is counted.
    let rendered = metrics.render();
    let restarts = rendered
        .lines()
        .find(|l| l.starts_with("weir_actor_restarts_total{supervisor=\"partitions\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<u64>().ok());
    assert!(restarts.is_some_and(|n| n >= 1), "{rendered}");
    manager.stop(None);
    flusher.shutdown();
}

async fn wait_for(
    registry: &PartitionRegistry,
    cond: impl Fn(&Option<PartitionEntry>) -> bool,
) -> Option<PartitionEntry> {
    for _ in 0..1000 {
        let entry = registry.lookup("t", 0);
        if cond(&entry) {
            return entry;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("partition never reached the expected state");
}

/// A batch of `count` records from producer `pid` (epoch, first sequence).
fn idempotent_batch(pid: i64, epoch: i16, seq: i32, count: usize) -> bytes::Bytes {
    use weir_client::protocol::records::testing::fix_crc;
    let values: Vec<Vec<u8>> = (0..count)
        .map(|i| format!("v{seq}-{i}").into_bytes())
        .collect();
    let records: Vec<_> = values.iter().map(|v| (None, Some(v.as_slice()))).collect();
    let mut bytes = build_batch(&records, 1_000).to_vec();
    bytes[43..51].copy_from_slice(&pid.to_be_bytes());
    bytes[51..53].copy_from_slice(&epoch.to_be_bytes());
    bytes[53..57].copy_from_slice(&seq.to_be_bytes());
    fix_crc(&mut bytes);
    bytes.into()
}

/// An acks=all append of `records`.
async fn append_raw(
    actor: &ActorRef<PartitionMsg>,
    records: bytes::Bytes,
) -> Result<AppendOutcome, PartitionError> {
    append_records(actor, records, -1).await
}

#[tokio::test]
async fn idempotent_retries_are_answered_with_their_offsets_across_a_restart() {
    let fs = Arc::new(SimFs::new());
    let registry = Arc::new(PartitionRegistry::new());
    let flusher = Flusher::spawn().unwrap();
    let args = partition_args(fs.clone(), registry.clone(), &flusher);
    let (actor, handle) = Actor::spawn(None, Partition, args.clone()).await.unwrap();
    let first = idempotent_batch(7, 0, 0, 3);
    assert_eq!(
        append_raw(&actor, first.clone()).await.unwrap().base_offset,
        0
    );
    assert_eq!(append(&actor, b"other", 1).await.unwrap().base_offset, 3);
    let second = idempotent_batch(7, 0, 3, 2);
    assert_eq!(
        append_raw(&actor, second.clone())
            .await
            .unwrap()
            .base_offset,
        4
    );
    // Retries get the original offsets; nothing is written.
    assert_eq!(
        append_raw(&actor, first.clone()).await.unwrap().base_offset,
        0
    );
    assert_eq!(
        append_raw(&actor, second.clone())
            .await
            .unwrap()
            .base_offset,
        4
    );
    let gap = append_raw(&actor, idempotent_batch(7, 0, 9, 1)).await;
    assert!(
        matches!(gap, Err(PartitionError::OutOfOrderSequence(_))),
        "{gap:?}"
    );
    assert_eq!(
        append_raw(&actor, idempotent_batch(7, 0, 5, 1))
            .await
            .unwrap()
            .base_offset,
        6
    );
    let Some(PartitionEntry::Online(h)) = registry.lookup("t", 0) else {
        panic!("partition registered online");
    };
    let end = *h.high_watermark.borrow();

    // After a crash and restart the state comes back from the log.
    actor.stop(None);
    handle.await.unwrap();
    fs.crash();
    let (actor, _) = Actor::spawn(None, Partition, args).await.unwrap();
    assert_eq!(append_raw(&actor, second).await.unwrap().base_offset, 4);
    let bumped = idempotent_batch(7, 1, 0, 1);
    assert_eq!(append_raw(&actor, bumped).await.unwrap().base_offset, end);
    let old_epoch = append_raw(&actor, idempotent_batch(7, 0, 99, 1)).await;
    assert!(
        matches!(old_epoch, Err(PartitionError::InvalidProducerEpoch(_))),
        "{old_epoch:?}"
    );
    // Two batches of one producer in one record set are refused, as in Kafka.
    let mut two = idempotent_batch(8, 0, 0, 1).to_vec();
    two.extend_from_slice(&idempotent_batch(8, 0, 1, 1));
    let two = append_raw(&actor, two.into()).await;
    assert!(
        matches!(two, Err(PartitionError::InvalidRecord(_))),
        "{two:?}"
    );
    actor.stop(None);
    flusher.shutdown();
}

async fn delete_records(
    actor: &ActorRef<PartitionMsg>,
    offset: Option<i64>,
) -> Result<i64, PartitionError> {
    actor
        .call(
            |reply| PartitionMsg::DeleteRecords { offset, reply },
            Some(Duration::from_secs(10)),
        )
        .await
        .expect("partition answers")
        .expect("within the timeout")
}

#[tokio::test]
async fn delete_records_moves_the_log_start_up_to_the_high_watermark() {
    let fs = Arc::new(SimFs::new());
    let registry = Arc::new(PartitionRegistry::new());
    let flusher = Flusher::spawn().unwrap();
    let args = partition_args(fs.clone(), registry.clone(), &flusher);
    let (actor, handle) = Actor::spawn(None, Partition, args.clone()).await.unwrap();
    for value in [b"a", b"b", b"c"] {
        append(&actor, value, -1).await.unwrap();
    }
    assert_eq!(delete_records(&actor, Some(2)).await, Ok(2));
    let Some(PartitionEntry::Online(h)) = registry.lookup("t", 0) else {
        panic!("partition registered online");
    };
    assert_eq!(h.reader.log_start_offset(), 2);
    assert!(
        h.reader.read(0, 1 << 20, 3, true).is_err(),
        "offset 0 is gone"
    );
    assert!(
        !h.reader
            .read(2, 1 << 20, 3, true)
            .unwrap()
            .records
            .is_empty()
    );
    // Never backwards; beyond the high watermark or negative is out of range.
    assert_eq!(delete_records(&actor, Some(1)).await, Ok(2));
    for beyond in [4, -5] {
        assert_eq!(
            delete_records(&actor, Some(beyond)).await,
            Err(PartitionError::OffsetOutOfRange)
        );
    }
    // None: everything, up to the high watermark; appends go on from there.
    assert_eq!(delete_records(&actor, None).await, Ok(3));
    assert_eq!(append(&actor, b"d", 1).await.unwrap().log_start_offset, 3);
    // The new log start survives a restart.
    actor.stop(None);
    handle.await.unwrap();
    let (actor, _) = Actor::spawn(None, Partition, args).await.unwrap();
    assert_eq!(delete_records(&actor, Some(0)).await, Ok(3));
    actor.stop(None);
    flusher.shutdown();
}

/// Each config change reaches the log (segment size, retention, batch limit)
/// and the actor's retention decision (cleanup.policy).
#[tokio::test]
async fn config_changes_take_effect_live() {
    let fs = Arc::new(SimFs::new());
    let registry = Arc::new(PartitionRegistry::new());
    let flusher = Flusher::spawn().unwrap();
    let args = partition_args(fs, registry, &flusher);
    let (actor, _) = Actor::spawn(None, Partition, args).await.unwrap();
    let change = |overrides: &[(&str, &str)]| {
        let overrides: BTreeMap<String, String> = overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let config = TopicConfig::resolve(&BrokerConfig::default(), &overrides);
        actor.cast(PartitionMsg::ConfigChanged(config)).unwrap();
    };
    // The batches are stamped 1970: any time retention finds them expired.
    change(&[("segment.bytes", "1024"), ("retention.ms", "-1")]);
    let value = [b'x'; 300];
    for _ in 0..10 {
        append(&actor, &value, -1).await.unwrap();
    }
    let log_start = async || {
        actor.cast(PartitionMsg::RetentionTick).unwrap();
        delete_records(&actor, Some(0)).await.unwrap()
    };
    assert_eq!(log_start().await, 0, "retention.ms=-1 keeps everything");
    change(&[
        ("segment.bytes", "1024"),
        ("retention.ms", "1"),
        ("cleanup.policy", "compact"),
    ]);
    assert_eq!(log_start().await, 0, "no time retention without delete");
    change(&[("segment.bytes", "1024"), ("retention.ms", "1")]);
    let start = log_start().await;
    assert!(
        start > 0 && start < 10,
        "small segments rolled and the sealed ones expired: {start}"
    );
    change(&[("max.message.bytes", "200")]);
    let too_large = append(&actor, &value, 1).await;
    assert!(
        matches!(too_large, Err(PartitionError::MessageTooLarge { .. })),
        "{too_large:?}"
    );
    assert!(append(&actor, b"small", 1).await.is_ok());
    actor.stop(None);
    flusher.shutdown();
}
