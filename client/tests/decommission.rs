//! Decommissioning a broker on three broker processes: `weir cluster
//! decommission 3` refuses while some replication factor needs every broker,
//! then moves every replica off broker 3 (the offsets topic's too) under an
//! acks=all load without losing or duplicating an acknowledged record; broker
//! 3 deletes its copies, and once stopped it leaves Metadata.

mod support;

use std::collections::BTreeSet;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use weir_client::admin::{Admin, NewTopic};
use weir_client::cluster::ClientConfig;
use weir_client::producer::ProducerRecord;

use support::cluster::{LocalCluster, eventually};
use support::load::{produce, produce_while, read_all};

/// The decommissioned broker.
const GONE: i32 = 3;
const TOPIC: &str = "drain";
const PARTITIONS: i32 = 3;
/// Record values are `r<index>` padded to this many bytes.
const RECORD_BYTES: usize = 512;

fn admin(bootstrap: &str) -> Admin {
    Admin::new(ClientConfig::new(bootstrap)).unwrap()
}

/// Runs `weir -b bootstrap args...` (bounded by its own --timeout-secs).
async fn weir(bootstrap: &str, args: &[&str]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_weir"));
    command.arg("-b").arg(bootstrap).args(args);
    tokio::task::spawn_blocking(move || command.output().expect("running weir"))
        .await
        .unwrap()
}

/// Every `(topic, partition, replicas)` of the cluster.
async fn placements(bootstrap: &str) -> Vec<(String, i32, Vec<i32>)> {
    let topics = admin(bootstrap).list_topics().await.unwrap();
    topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.clone(), p.partition, p.replicas.clone()))
        })
        .collect()
}

fn replicated(name: &str, replication_factor: i16) -> NewTopic {
    let mut topic = NewTopic::new(name, PARTITIONS);
    topic.replication_factor = replication_factor;
    topic.configs = vec![("min.insync.replicas".into(), "2".into())];
    topic
}

async fn create(bootstrap: &str, topic: NewTopic) {
    eventually(&format!("creating {}", topic.name), || async {
        let created = admin(bootstrap)
            .create_topics(std::slice::from_ref(&topic), false)
            .await;
        created.ok().and_then(|mut r| r.remove(0).ok())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decommissioned_broker_is_drained_under_load_without_loss() {
    let mut cluster = LocalCluster::start(
        3,
        &[
            "offsets.topic.replication.factor=2",
            "offsets.topic.num.partitions=6",
        ],
    );
    let bootstrap = cluster.bootstrap();
    eventually("three registered brokers", || async {
        let info = admin(&bootstrap).cluster_info().await.ok()?;
        (info.brokers.len() == 3 && info.controller_id > 0).then_some(())
    })
    .await;

    // A replication factor of 3 needs broker 3: refused, nothing moves.
    create(&bootstrap, replicated("wide", 3)).await;
    let refused = weir(&bootstrap, &["cluster", "decommission", "3"]).await;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{refused:?}");
    assert!(stderr.contains("too few brokers"), "{stderr}");
    let a = admin(&bootstrap);
    assert!(
        a.list_partition_reassignments(None)
            .await
            .unwrap()
            .is_empty()
    );
    a.delete_topics(&["wide".to_owned()]).await.unwrap();
    eventually("wide deleted", || async {
        let gone = placements(&bootstrap)
            .await
            .iter()
            .all(|(t, _, _)| t != "wide");
        gone.then_some(())
    })
    .await;

    // The offsets topic exists, with a committed offset, and broker 3 holds
    // replicas of both topics.
    create(&bootstrap, replicated(TOPIC, 2)).await;
    let preload = produce(&bootstrap, 0..3_000, record).await;
    eventually("an offset committed", || async {
        a.commit_group_offsets("g", &[(TOPIC.into(), 0, 42)])
            .await
            .ok()
    })
    .await;
    let committed = |offsets: &[weir_client::admin::CommittedOffset]| {
        offsets
            .iter()
            .any(|o| o.topic == TOPIC && o.partition == 0 && o.offset == 42)
    };
    let offsets = a.group_offsets("g").await.unwrap();
    assert!(committed(&offsets), "{offsets:?}");
    let before = placements(&bootstrap).await;
    for topic in [TOPIC, "__consumer_offsets"] {
        assert!(
            before
                .iter()
                .any(|(t, _, r)| t == topic && r.contains(&GONE)),
            "{topic} has replicas on {GONE}: {before:?}"
        );
    }
    let dirs_before = partition_dirs(&cluster, GONE);
    assert!(!dirs_before.is_empty());

    // Decommission under an acks=all load.
    let running = Arc::new(AtomicBool::new(true));
    let load = tokio::spawn(produce_while(
        bootstrap.clone(),
        3_000,
        30_000,
        150,
        running.clone(),
        record,
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let out = weir(
        &bootstrap,
        &["cluster", "decommission", "3", "--timeout-secs", "120"],
    )
    .await;
    let took = started.elapsed();
    running.store(false, Ordering::Relaxed);
    let during = load.await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("can be stopped"), "{stdout}");

    // No replica on 3, nothing led by it, every partition led.
    let topics = a.list_topics().await.unwrap();
    for t in &topics {
        for p in &t.partitions {
            assert!(
                !p.replicas.contains(&GONE) && p.leader != GONE && p.leader >= 0,
                "{}-{}: {p:?}",
                t.name,
                p.partition
            );
        }
    }
    // Replicas stay balanced: 6 + 6 offsets and topic replicas per broker.
    let mut load_of = std::collections::BTreeMap::<i32, usize>::new();
    for t in &topics {
        for p in &t.partitions {
            for r in &p.replicas {
                *load_of.entry(*r).or_default() += 1;
            }
        }
    }
    assert_eq!(load_of.len(), 2, "{load_of:?}");
    // Broker 3 deletes its copies.
    eventually("broker 3's partition dirs gone", || async {
        partition_dirs(&cluster, GONE).is_empty().then_some(())
    })
    .await;

    // Every acknowledged record reads back exactly once; the offset too.
    let acked: BTreeSet<String> = preload.union(&during).cloned().collect();
    let read = read_all(&bootstrap, TOPIC, acked.len()).await;
    let missing: Vec<&String> = acked.difference(&read).take(5).collect();
    assert!(
        missing.is_empty(),
        "lost {} acknowledged records, e.g. {missing:?}",
        acked.difference(&read).count()
    );
    // The committed offset survives the move of its offsets partition.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let offsets = a.group_offsets("g").await;
        if offsets.as_ref().is_ok_and(|o| committed(o)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the committed offset of g is gone after the move: {offsets:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Again: nothing to move.
    let again = weir(&bootstrap, &["cluster", "decommission", "3"]).await;
    assert!(again.status.success(), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stdout).contains("holds no replicas"));

    // Stopped, it leaves Metadata once fenced.
    cluster.kill(cluster.index_of(GONE));
    let survivors = format!(
        "{},{}",
        cluster.nodes[0].bootstrap(),
        cluster.nodes[1].bootstrap()
    );
    eventually("broker 3 out of Metadata", || async {
        let info = admin(&survivors).cluster_info().await.ok()?;
        let ids: Vec<i32> = info.brokers.iter().map(|b| b.node_id).collect();
        (ids == [1, 2]).then_some(())
    })
    .await;
    eprintln!(
        "decommissioned broker 3 ({} partition replicas) in {:.2} s with {} records acknowledged during it",
        dirs_before.len(),
        took.as_secs_f64(),
        during.len()
    );
}

/// Broker `id`'s partition directories (`<topic>-<n>`).
fn partition_dirs(cluster: &LocalCluster, id: i32) -> Vec<String> {
    let dir = cluster.data_dir(cluster.index_of(id));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| {
            n.rsplit_once('-')
                .is_some_and(|(t, p)| !t.is_empty() && p.parse::<u32>().is_ok())
        })
        .collect()
}

fn value(i: u32) -> String {
    let mut v = format!("r{i:06}-");
    v.extend(std::iter::repeat_n('x', RECORD_BYTES - v.len()));
    v
}

fn record(i: u32) -> (String, ProducerRecord) {
    let record = ProducerRecord::new(TOPIC, value(i)).partition(i as i32 % PARTITIONS);
    (value(i), record)
}
