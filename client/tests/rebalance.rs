//! Rebalancing and reassignment on three broker processes: leadership goes
//! back to the preferred replica after a broker returns (on request through
//! ElectLeaders, and by the controller's imbalance check), and a partition
//! moves to a new replica set under an acks=all load without losing or
//! duplicating an acknowledged record; the broker it left deletes its copy.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use weir_client::admin::{Admin, ELECTION_NOT_NEEDED, ElectionType, NewTopic};
use weir_client::cluster::{ClientConfig, PartitionInfo};
use weir_client::producer::ProducerRecord;

use support::cluster::LocalCluster;
use support::load::{produce, produce_while, read_all};

/// Longest wait for the cluster to reach a state.
const SETTLE: Duration = Duration::from_secs(60);

/// The scenarios start three brokers each: one at a time on small machines.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn admin(bootstrap: &str) -> Admin {
    Admin::new(ClientConfig::new(bootstrap)).unwrap()
}

/// `topic`'s partitions as `bootstrap` reports them (`None` while it cannot).
async fn describe(bootstrap: &str, topic: &str) -> Option<Vec<PartitionInfo>> {
    let info = admin(bootstrap).describe_topic(topic).await.ok()?;
    Some(info.partitions.clone())
}

/// Polls `topic`'s partitions until `ready` holds (bounded).
async fn wait_until(
    bootstrap: &str,
    topic: &str,
    what: &str,
    ready: impl Fn(&[PartitionInfo]) -> bool,
) -> Vec<PartitionInfo> {
    let deadline = Instant::now() + SETTLE;
    let mut last = None;
    while Instant::now() < deadline {
        if let Some(partitions) = describe(bootstrap, topic).await {
            if ready(&partitions) {
                return partitions;
            }
            last = Some(partitions);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{topic}: {what} not reached within {SETTLE:?}; last {last:?}");
}

/// Creates `topic` through `bootstrap`, retrying while the cluster settles.
async fn create(bootstrap: &str, topic: NewTopic) {
    let deadline = Instant::now() + SETTLE;
    loop {
        match admin(bootstrap)
            .create_topics(std::slice::from_ref(&topic), false)
            .await
        {
            Ok(mut results) => return results.remove(0).unwrap(),
            Err(e) if e.is_retriable() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("creating {}: {e}", topic.name),
        }
    }
}

/// Starts three brokers and waits (bounded) until each is registered.
async fn start_cluster(overrides: &[&str]) -> LocalCluster {
    let cluster = LocalCluster::start(3, overrides);
    let bootstrap = cluster.bootstrap();
    let deadline = Instant::now() + SETTLE;
    loop {
        if let Ok(info) = admin(&bootstrap).cluster_info().await
            && info.brokers.len() == 3
            && info.controller_id > 0
        {
            return cluster;
        }
        assert!(Instant::now() < deadline, "three brokers never registered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn replicated(name: &str, partitions: i32, replication_factor: i16) -> NewTopic {
    let mut topic = NewTopic::new(name, partitions);
    topic.replication_factor = replication_factor;
    topic.configs = vec![("min.insync.replicas".into(), "2".into())];
    topic
}

/// Starts three brokers and a 3-partition, 3-replica topic whose ISRs are
/// whole; kills the broker preferred for partition 0 (not the active
/// controller) until another leads it, then brings it back into every ISR.
/// Returns the cluster and the returned broker's id.
async fn leadership_moved_away(overrides: &[&str], topic: &str) -> (LocalCluster, i32) {
    let mut cluster = start_cluster(overrides).await;
    let bootstrap = cluster.bootstrap();
    create(&bootstrap, replicated(topic, 3, 3)).await;
    let before = wait_until(&bootstrap, topic, "whole ISRs", |ps| {
        ps.iter()
            .all(|p| p.isr.len() == 3 && p.leader == p.replicas[0])
    })
    .await;
    let controller = admin(&bootstrap)
        .cluster_info()
        .await
        .unwrap()
        .controller_id;
    let victim = before
        .iter()
        .map(|p| p.replicas[0])
        .find(|&b| b != controller)
        .expect("a preferred leader that is not the controller");
    let index = cluster.index_of(victim);
    cluster.kill(index);
    let survivor = cluster.running_bootstrap();
    wait_until(&survivor, topic, "leadership moved away", |ps| {
        ps.iter().all(|p| p.leader >= 0 && p.leader != victim)
    })
    .await;
    cluster.spawn(index);
    wait_until(&bootstrap, topic, "the broker back in every ISR", |ps| {
        ps.iter().all(|p| p.isr.len() == 3)
    })
    .await;
    (cluster, victim)
}

fn preferred_by(partitions: &[PartitionInfo], broker: i32) -> Vec<PartitionInfo> {
    partitions
        .iter()
        .filter(|p| p.replicas[0] == broker)
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preferred_leaders_come_back_on_request_and_by_the_imbalance_check() {
    let _serial = SERIAL.lock().await;

    // On request: with automatic balancing off, the returned broker stays a
    // follower until ElectLeaders moves its partitions back (new epoch).
    let (cluster, victim) =
        leadership_moved_away(&["auto.leader.rebalance.enable=false"], "pref").await;
    let bootstrap = cluster.bootstrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let away = preferred_by(&describe(&bootstrap, "pref").await.unwrap(), victim);
    assert!(
        away.iter().all(|p| p.leader != victim),
        "nothing moves leadership back by itself: {away:?}"
    );
    let a = admin(&bootstrap);
    let asked: Vec<(String, i32)> = away.iter().map(|p| ("pref".into(), p.partition)).collect();
    let results = a
        .elect_leaders(ElectionType::Preferred, Some(&asked))
        .await
        .unwrap();
    assert_eq!(results.len(), asked.len());
    assert!(results.iter().all(|r| r.error.is_none()), "{results:?}");
    let back = wait_until(&bootstrap, "pref", "the preferred leader back", |ps| {
        preferred_by(ps, victim).iter().all(|p| p.leader == victim)
    })
    .await;
    for (p, before) in preferred_by(&back, victim).iter().zip(&away) {
        assert!(
            p.leader_epoch > before.leader_epoch,
            "{p:?} after {before:?}"
        );
    }
    // Again: not needed. Unknown partitions, unclean on a led partition, and
    // an election of everything when all is balanced.
    let again = a
        .elect_leaders(ElectionType::Preferred, Some(&asked[..1]))
        .await
        .unwrap();
    assert_eq!(
        again[0].error.as_ref().and_then(|e| e.code()),
        Some(ELECTION_NOT_NEEDED)
    );
    let unknown = a
        .elect_leaders(
            ElectionType::Preferred,
            Some(&[("pref".into(), 9), ("nope".into(), 0)]),
        )
        .await
        .unwrap();
    assert!(
        unknown
            .iter()
            .all(|r| r.error.as_ref().and_then(|e| e.code()) == Some(3)),
        "UNKNOWN_TOPIC_OR_PARTITION: {unknown:?}"
    );
    let unclean = a
        .elect_leaders(ElectionType::Unclean, Some(&asked[..1]))
        .await
        .unwrap();
    assert_eq!(
        unclean[0].error.as_ref().and_then(|e| e.code()),
        Some(ELECTION_NOT_NEEDED)
    );
    // Every partition (the offsets topic's that the broker led moved too):
    // only those needing an election are listed, then none are.
    let all = a
        .elect_leaders(ElectionType::Preferred, None)
        .await
        .unwrap();
    // (An offsets partition whose preferred replica is still catching up
    // answers PREFERRED_LEADER_NOT_AVAILABLE until it is in sync.)
    let ok = |r: &weir_client::admin::ElectionResult| {
        r.error.is_none() || r.error.as_ref().and_then(|e| e.code()) == Some(80)
    };
    assert!(all.iter().all(ok), "{all:?}");
    let deadline = Instant::now() + SETTLE;
    loop {
        let again = a
            .elect_leaders(ElectionType::Preferred, None)
            .await
            .unwrap();
        if again.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "still electing: {again:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(cluster);

    // Automatically: the controller's imbalance check (every second here)
    // moves leadership back once the returned broker is in sync (it leads
    // none of its preferred partitions: above the 10 % allowed).
    let (cluster, victim) =
        leadership_moved_away(&["leader.imbalance.check.interval.ms=1000"], "auto").await;
    let started = Instant::now();
    wait_until(&cluster.bootstrap(), "auto", "automatic rebalance", |ps| {
        preferred_by(ps, victim).iter().all(|p| p.leader == victim)
    })
    .await;
    eprintln!(
        "automatic preferred-leader election {:.1} s after the ISRs were whole",
        started.elapsed().as_secs_f64()
    );
}

/// Record values are `r<index>` padded to this many bytes.
const RECORD_BYTES: usize = 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_moves_under_acks_all_load_without_loss() {
    let _serial = SERIAL.lock().await;
    let cluster = start_cluster(&[]).await;
    let bootstrap = cluster.bootstrap();
    create(&bootstrap, replicated("moving", 1, 2)).await;
    let before = wait_until(&bootstrap, "moving", "a whole ISR", |ps| {
        ps[0].isr.len() == 2
    })
    .await;
    let old = before[0].replicas.clone();
    let dropped = old[0];
    let kept = old[1];
    let added = (1..=3).find(|b| !old.contains(b)).unwrap();
    let target = vec![kept, added];
    let a = admin(&bootstrap);

    // Bad requests are refused per partition with Kafka's codes.
    for (topic, partition, target, code) in [
        ("moving", 0, Some(vec![kept, 9]), 39),
        ("moving", 0, Some(vec![kept, kept]), 39),
        ("moving", 0, Some(vec![]), 39),
        ("moving", 5, Some(vec![kept]), 3),
        ("nope", 0, Some(vec![kept]), 3),
        ("moving", 0, None, 85),
    ] {
        let refused = a
            .alter_partition_reassignments(&[(topic.into(), partition, target.clone())])
            .await
            .unwrap();
        let got = refused[0].as_ref().err().and_then(|e| e.code());
        assert_eq!(
            got,
            Some(code),
            "{topic}-{partition} to {target:?}: {refused:?}"
        );
    }

    // Preload, then keep an acks=all load running through the move.
    let preload = produce(&bootstrap, 0..8_000, record).await;
    let running = Arc::new(AtomicBool::new(true));
    let load = tokio::spawn(produce_while(
        bootstrap.clone(),
        8_000,
        40_000,
        200,
        running.clone(),
        record,
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;

    let started = Instant::now();
    let results = a
        .alter_partition_reassignments(&[("moving".into(), 0, Some(target.clone()))])
        .await
        .unwrap();
    assert!(results[0].is_ok(), "{results:?}");
    let listed = a.list_partition_reassignments(None).await.unwrap();
    let deadline = Instant::now() + SETTLE;
    loop {
        let ongoing = a.list_partition_reassignments(None).await.unwrap();
        if ongoing.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "still reassigning: {ongoing:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = started.elapsed();
    running.store(false, Ordering::Relaxed);
    let during = load.await.unwrap();
    if let Some(r) = listed.first() {
        assert_eq!(
            (r.replicas.clone(), r.adding.clone(), r.removing.clone()),
            (vec![kept, added, dropped], vec![added], vec![dropped]),
            "the replica set is the union while the move runs"
        );
    }

    let after = wait_until(&bootstrap, "moving", "the target replicas in sync", |ps| {
        let isr: BTreeSet<i32> = ps[0].isr.iter().copied().collect();
        ps[0].replicas == target && isr == target.iter().copied().collect()
    })
    .await;
    assert_eq!(
        after[0].leader, kept,
        "the first in-sync target replica leads"
    );
    assert!(after[0].leader_epoch > before[0].leader_epoch);

    // The broker left out deletes its copy.
    let copy = cluster.data_dir(cluster.index_of(dropped)).join("moving-0");
    let deadline = Instant::now() + SETTLE;
    while copy.exists() {
        assert!(Instant::now() < deadline, "{} still exists", copy.display());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        cluster
            .data_dir(cluster.index_of(added))
            .join("moving-0")
            .exists()
    );

    // Every acknowledged record reads back exactly once.
    let acked: BTreeSet<String> = preload.union(&during).cloned().collect();
    let read = read_all(&bootstrap, "moving", acked.len()).await;
    let missing: Vec<&String> = acked.difference(&read).take(5).collect();
    assert!(
        missing.is_empty(),
        "lost {} acknowledged records, e.g. {missing:?}",
        acked.difference(&read).count()
    );
    let moved_mb = (8_000 + during.len()) as f64 * RECORD_BYTES as f64 / 1e6;
    eprintln!(
        "reassignment [{dropped},{kept}] -> {target:?} took {:.2} s with {} records acknowledged during it (~{moved_mb:.1} MB in the partition at the end)",
        took.as_secs_f64(),
        during.len()
    );
}

fn value(i: u32) -> String {
    let mut v = format!("r{i:06}-");
    v.extend(std::iter::repeat_n('x', RECORD_BYTES - v.len()));
    v
}

fn record(i: u32) -> (String, ProducerRecord) {
    (
        value(i),
        ProducerRecord::new("moving", value(i)).partition(0),
    )
}

/// Moves the leadership of `__consumer_offsets-0` to `leader` by reordering
/// its replicas and electing the preferred one (bounded).
async fn lead_offsets_partition(bootstrap: &str, replicas: Vec<i32>) {
    let a = admin(bootstrap);
    let results = a
        .alter_partition_reassignments(&[(OFFSETS.into(), 0, Some(replicas.clone()))])
        .await
        .unwrap();
    assert!(results[0].is_ok(), "{results:?}");
    let leader = replicas[0];
    let deadline = Instant::now() + SETTLE;
    loop {
        let partitions = describe(bootstrap, OFFSETS).await.unwrap_or_default();
        if partitions.first().is_some_and(|p| p.leader == leader) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{OFFSETS}-0 never led by {leader}: {partitions:?}"
        );
        // Not needed once it leads; PREFERRED_LEADER_NOT_AVAILABLE while the
        // reordering is being applied: asked again until it leads.
        let _ = a
            .elect_leaders(ElectionType::Preferred, Some(&[(OFFSETS.into(), 0)]))
            .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

const OFFSETS: &str = "__consumer_offsets";

/// The committed offset of `g` on `t-0` as the group's coordinator answers
/// (bounded retries while the coordinator moves).
async fn committed_offset(bootstrap: &str) -> Option<i64> {
    let deadline = Instant::now() + SETTLE;
    loop {
        match admin(bootstrap).group_offsets("g").await {
            Ok(offsets) => return offsets.first().map(|o| o.offset),
            Err(e) if Instant::now() < deadline => {
                eprintln!("offset fetch: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("offset fetch: {e}"),
        }
    }
}

async fn commit_offset(bootstrap: &str, offset: i64) {
    let deadline = Instant::now() + SETTLE;
    loop {
        match admin(bootstrap)
            .commit_group_offsets("g", &[("t".into(), 0, offset)])
            .await
        {
            Ok(()) => return,
            Err(e) if Instant::now() < deadline => {
                eprintln!("commit: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("commit: {e}"),
        }
    }
}

/// A broker that leads an offsets partition, loses it, and leads it again
/// serves the commits made under the other leader, not the view it had:
/// coordinators give up their groups when leadership leaves and replay the
/// partition when it returns (Kafka's unload/load on leadership changes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_offsets_follow_their_partition_away_and_back() {
    let _serial = SERIAL.lock().await;
    let cluster = start_cluster(&[
        "auto.leader.rebalance.enable=false",
        "offsets.topic.num.partitions=1",
    ])
    .await;
    let bootstrap = cluster.bootstrap();
    create(&bootstrap, replicated("t", 1, 3)).await;
    commit_offset(&bootstrap, 10).await;
    let first = wait_until(&bootstrap, OFFSETS, "a whole ISR", |ps| {
        ps[0].isr.len() == 3
    })
    .await;
    let home = first[0].replicas.clone();
    assert_eq!(committed_offset(&bootstrap).await, Some(10));

    // Away: another replica leads, and takes a commit.
    let away = vec![home[1], home[0], home[2]];
    lead_offsets_partition(&bootstrap, away).await;
    commit_offset(&bootstrap, 20).await;
    assert_eq!(committed_offset(&bootstrap).await, Some(20));

    // Back: the first leader replays the partition, so it answers 20, not its
    // old 10 — at once, not after some expiry.
    lead_offsets_partition(&bootstrap, home).await;
    assert_eq!(committed_offset(&bootstrap).await, Some(20));
    commit_offset(&bootstrap, 30).await;
    assert_eq!(committed_offset(&bootstrap).await, Some(30));
}

/// A broker down while its replica moves away and while a topic it holds is
/// deleted finds those copies stray when it returns, and deletes them (as
/// Kafka deletes stray replicas); what it still holds stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_back_from_the_dead_deletes_its_stray_copies() {
    let _serial = SERIAL.lock().await;
    let mut cluster = start_cluster(&["auto.leader.rebalance.enable=false"]).await;
    let bootstrap = cluster.bootstrap();
    create(&bootstrap, replicated("strays", 1, 2)).await;
    create(&bootstrap, replicated("gone", 1, 3)).await;
    let before = wait_until(&bootstrap, "strays", "a whole ISR", |ps| {
        ps[0].isr.len() == 2
    })
    .await;
    let (dropped, kept) = (before[0].replicas[0], before[0].replicas[1]);
    let added = (1..=3).find(|b| !before[0].replicas.contains(b)).unwrap();
    let index = cluster.index_of(dropped);
    let dir = cluster.data_dir(index);
    assert!(dir.join("strays-0").exists() && dir.join("gone-0").exists());

    cluster.kill(index);
    let survivor = cluster.running_bootstrap();
    let a = admin(&survivor);
    let deadline = Instant::now() + SETTLE;
    loop {
        let moved = a
            .alter_partition_reassignments(&[("strays".into(), 0, Some(vec![kept, added]))])
            .await;
        if moved.as_ref().is_ok_and(|r| r[0].is_ok()) {
            break;
        }
        assert!(Instant::now() < deadline, "reassignment refused: {moved:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_until(
        &survivor,
        "strays",
        "the move done without the dead broker",
        |ps| ps[0].replicas == [kept, added] && ps[0].isr.len() == 2,
    )
    .await;
    let deleted = a.delete_topics(&["gone".into()]).await.unwrap();
    assert!(deleted[0].is_ok(), "{deleted:?}");

    cluster.spawn(index);
    let deadline = Instant::now() + SETTLE;
    while dir.join("strays-0").exists() || dir.join("gone-0").exists() {
        assert!(
            Instant::now() < deadline,
            "stray copies still in {}",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(dir.join("__cluster_metadata").exists());
    let offsets_copies = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("__consumer_offsets-")
        })
        .count();
    assert!(offsets_copies > 0, "what it still holds stays");
}
