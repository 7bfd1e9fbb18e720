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
use crate::controller::{MetadataImage, MetadataRecord, TopicConfig};
use crate::log::{Flusher, FsyncPolicy, SimFs};

fn batch(value: &[u8]) -> bytes::Bytes {
    build_batch(&[(None, Some(value))], 1_000)
}

fn partition_args(
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
    }
}

async fn append(
    actor: &ActorRef<PartitionMsg>,
    value: &[u8],
    acks: i16,
) -> Result<AppendOutcome, PartitionError> {
    let records = batch(value);
    actor
        .call(
            |reply| PartitionMsg::Append {
                records,
                acks,
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
    let args = PartitionManagerArgs {
        config: Arc::new(config),
        images,
        registry: registry.clone(),
        flusher: flusher.handle(),
        fs: fs.clone(),
        name_prefix: "ptest.".into(),
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

async fn append_raw(
    actor: &ActorRef<PartitionMsg>,
    records: bytes::Bytes,
) -> Result<AppendOutcome, PartitionError> {
    actor
        .call(
            |reply| PartitionMsg::Append {
                records,
                acks: -1,
                reply,
            },
            Some(Duration::from_secs(10)),
        )
        .await
        .expect("partition answers")
        .expect("within the timeout")
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
