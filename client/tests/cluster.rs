//! Three broker processes form one cluster with no setup step: they link over
//! their CONTROLLER listeners, elect an active controller by Raft (openraft),
//! register, and every broker serves the same metadata. Topic changes sent to
//! any broker are forwarded to the active controller; partitions spread over
//! the brokers and clients follow the leaders. Killing the active controller
//! moves the quorum's leadership; a restarted broker catches up.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use weir_client::admin::{Admin, NewTopic};
use weir_client::cluster::{ClientConfig, ClusterInfo};
use weir_client::consumer::{Consumer, ConsumerConfig, Offset};
use weir_client::producer::{Producer, ProducerConfig, ProducerRecord};

use support::cluster::LocalCluster;

/// Longest wait for the cluster to settle after a start or a kill.
const SETTLE: Duration = Duration::from_secs(60);

/// Polls broker `bootstrap` until its metadata satisfies `ready` (bounded).
async fn wait_for(
    bootstrap: &str,
    what: &str,
    ready: impl Fn(&ClusterInfo) -> bool,
) -> ClusterInfo {
    let deadline = Instant::now() + SETTLE;
    let mut last = None;
    while Instant::now() < deadline {
        if let Ok(admin) = Admin::new(ClientConfig::new(bootstrap))
            && let Ok(info) = admin.cluster_info().await
        {
            if ready(&info) {
                return info;
            }
            last = Some(info);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{bootstrap}: {what} not reached within {SETTLE:?}; last metadata {last:?}");
}

fn ids(info: &ClusterInfo) -> BTreeSet<i32> {
    info.brokers.iter().map(|b| b.node_id).collect()
}

async fn create(bootstrap: &str, topic: NewTopic) -> Result<(), weir_client::error::ClientError> {
    let admin = Admin::new(ClientConfig::new(bootstrap)).unwrap();
    let deadline = Instant::now() + SETTLE;
    loop {
        let result = admin
            .create_topics(std::slice::from_ref(&topic), false)
            .await;
        match result {
            Ok(mut results) => return results.remove(0),
            Err(e) if e.is_retriable() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Leaders of `topic`'s partitions as broker `bootstrap` reports them.
async fn leaders(bootstrap: &str, topic: &str) -> Vec<i32> {
    let admin = Admin::new(ClientConfig::new(bootstrap)).unwrap();
    let info = admin.describe_topic(topic).await.unwrap();
    info.partitions.iter().map(|p| p.leader).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_form_a_cluster_and_survive_the_controller() {
    let mut cluster = LocalCluster::start(3, &[]);
    let all: BTreeSet<i32> = [1, 2, 3].into();

    // Every broker reports all three brokers, one cluster id and one controller.
    let mut infos = Vec::new();
    for node in &cluster.nodes {
        let info = wait_for(&node.bootstrap(), "three brokers and a controller", |i| {
            ids(i) == all && i.controller_id > 0
        })
        .await;
        infos.push(info);
    }
    let cluster_id = infos[0].cluster_id.clone();
    assert!(
        cluster_id.as_deref().is_some_and(|id| id.len() == 22),
        "{cluster_id:?}"
    );
    for info in &infos {
        assert_eq!(info.cluster_id, cluster_id, "one cluster id everywhere");
    }
    let controller = wait_for(&cluster.nodes[0].bootstrap(), "a stable controller", |i| {
        i.controller_id > 0
    })
    .await
    .controller_id;

    // A topic created through a broker that is not the controller is
    // forwarded to it, and every broker sees the same topic.
    let other = cluster
        .nodes
        .iter()
        .find(|n| n.node_id != controller)
        .unwrap();
    create(&other.bootstrap(), NewTopic::new("orders", 6))
        .await
        .unwrap();
    let placed = leaders(&cluster.nodes[0].bootstrap(), "orders").await;
    assert_eq!(placed.len(), 6);
    let spread: BTreeSet<i32> = placed.iter().copied().collect();
    assert_eq!(
        spread, all,
        "six partitions round-robin over three brokers: {placed:?}"
    );
    for node in &cluster.nodes {
        assert_eq!(
            leaders(&node.bootstrap(), "orders").await,
            placed,
            "broker {}",
            node.node_id
        );
    }

    // A replicated topic: three replicas per partition, leaders spread, and
    // more replicas than brokers refused.
    let mut replicated = NewTopic::new("replicated", 3);
    replicated.replication_factor = 3;
    replicated.configs = vec![("min.insync.replicas".into(), "2".into())];
    create(&cluster.nodes[0].bootstrap(), replicated)
        .await
        .unwrap();
    let mut too_many = NewTopic::new("too-many", 1);
    too_many.replication_factor = 4;
    let refused = create(&cluster.nodes[0].bootstrap(), too_many)
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        Some(38),
        "INVALID_REPLICATION_FACTOR: {refused}"
    );

    // The client follows the leaders: everything produced reads back.
    let bootstrap = cluster.bootstrap();
    let producer = Producer::new(ProducerConfig::new(&bootstrap))
        .await
        .unwrap();
    let mut sends = Vec::new();
    for i in 0..600 {
        let record = ProducerRecord::new("orders", format!("v{i:04}")).key(format!("k{i}"));
        sends.push(producer.send(record).await.unwrap());
    }
    producer.flush(Duration::from_secs(30)).await.unwrap();
    for send in sends {
        send.await.unwrap();
    }
    let mut consumer = Consumer::new(ConsumerConfig::new(&bootstrap)).unwrap();
    consumer
        .assign_topic("orders", Offset::Beginning)
        .await
        .unwrap();
    let deadline = Instant::now() + SETTLE;
    let mut values = BTreeSet::new();
    while values.len() < 600 && Instant::now() < deadline {
        for r in consumer
            .poll(10_000, Duration::from_millis(200))
            .await
            .unwrap()
        {
            values.insert(r.value.unwrap_or_default());
        }
    }
    assert_eq!(values.len(), 600, "every record read back from its leader");

    // acks=all on the replicated topic: answered once the ISR has it; the
    // followers fetch it, and every ISR stays whole.
    let replicated_values = produce(&bootstrap, "replicated", 0..300).await;
    wait_for_isrs(&cluster.nodes[0].bootstrap(), "replicated", 3).await;
    // A consumer that goes on across the failover: after each leader change
    // it validates its position with the new leader (KIP-320) and neither
    // skips nor repeats a record.
    let mut across = Consumer::new(ConsumerConfig::new(&bootstrap)).unwrap();
    across
        .assign_topic("replicated", Offset::Beginning)
        .await
        .unwrap();
    let mut seen_across = BTreeSet::new();
    poll_until(&mut across, &mut seen_across, 300).await;

    // Kill -9 the active controller: the other two elect a new one, which
    // fences the dead broker once its lease expires: it leaves Metadata and
    // the partitions it led have no leader (one replica: nobody else may
    // lead them), under a new leader epoch.
    let index = cluster.index_of(controller);
    cluster.kill(index);
    let survivor = cluster.running_bootstrap();
    let alive: BTreeSet<i32> = all.iter().copied().filter(|&id| id != controller).collect();
    let moved = wait_for(&survivor, "a new controller, the dead broker fenced", |i| {
        i.controller_id > 0 && i.controller_id != controller && ids(i) == alive
    })
    .await;
    assert_ne!(moved.controller_id, controller);
    let orphaned = describe(&survivor, "orders").await;
    for (p, leader) in orphaned.iter().zip(&placed) {
        if *leader == controller {
            assert_eq!(
                (p.leader, p.leader_epoch),
                (-1, 1),
                "partition {}",
                p.partition
            );
        } else {
            assert_eq!(
                (p.leader, p.leader_epoch),
                (*leader, 0),
                "partition {}",
                p.partition
            );
        }
    }
    // The replicated partitions it led moved to in-sync followers with the
    // next epoch, and nothing acknowledged is lost; acks=all still works
    // with two of three replicas (min.insync.replicas = 2).
    for p in describe(&survivor, "replicated").await {
        assert!(
            p.leader >= 0 && p.leader != controller,
            "partition {}: {p:?}",
            p.partition
        );
        assert!(!p.isr.contains(&controller), "{p:?}");
    }
    assert_eq!(
        read_all(&survivor, "replicated", 300).await,
        replicated_values
    );
    let more = produce(&survivor, "replicated", 300..400).await;
    poll_until(&mut across, &mut seen_across, 400).await;
    let sent: BTreeSet<String> = replicated_values.union(&more).cloned().collect();
    assert_eq!(seen_across, sent);
    create(&survivor, NewTopic::new("after-failover", 4))
        .await
        .unwrap();
    let new_leaders: BTreeSet<i32> = leaders(&survivor, "after-failover")
        .await
        .into_iter()
        .collect();
    assert_eq!(new_leaders, alive, "new partitions go to live brokers only");

    // The killed broker comes back, registers again, is unfenced, leads its
    // partitions again (epoch 2) and catches up with what it missed.
    cluster.spawn(index);
    let back = cluster.nodes[index].bootstrap();
    wait_for(&back, "all three brokers again", |i| ids(i) == all).await;
    let deadline = Instant::now() + SETTLE;
    loop {
        let admin = Admin::new(ClientConfig::new(&back)).unwrap();
        let caught_up = admin.describe_topic("after-failover").await.is_ok();
        if caught_up && leaders(&back, "orders").await == placed {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the restarted broker never caught up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (p, leader) in describe(&back, "orders").await.iter().zip(&placed) {
        let epoch = if *leader == controller { 2 } else { 0 };
        assert_eq!(
            (p.leader, p.leader_epoch),
            (*leader, epoch),
            "partition {}",
            p.partition
        );
    }

    // It fetches what it missed and rejoins every ISR; all 400 records are
    // there, once each.
    wait_for_isrs(&back, "replicated", 3).await;
    let everything: BTreeSet<String> = replicated_values.union(&more).cloned().collect();
    assert_eq!(read_all(&back, "replicated", 400).await, everything);
}

/// Waits (bounded) until every partition of `topic` has `size` in-sync replicas.
async fn wait_for_isrs(bootstrap: &str, topic: &str, size: usize) {
    let deadline = Instant::now() + SETTLE;
    loop {
        let partitions = describe(bootstrap, topic).await;
        if partitions.iter().all(|p| p.isr.len() == size) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{topic}: ISRs not all of {size} within {SETTLE:?}: {partitions:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Produces `values` to `topic` (acks=all, idempotent) and waits for every ack.
async fn produce(bootstrap: &str, topic: &str, values: std::ops::Range<u32>) -> BTreeSet<String> {
    let producer = Producer::new(ProducerConfig::new(bootstrap)).await.unwrap();
    let mut sends = Vec::new();
    let mut sent = BTreeSet::new();
    for i in values {
        let value = format!("r{i:04}");
        sent.insert(value.clone());
        sends.push(
            producer
                .send(ProducerRecord::new(topic, value).key(format!("k{i}")))
                .await
                .unwrap(),
        );
    }
    producer.flush(Duration::from_secs(30)).await.unwrap();
    for send in sends {
        send.await.unwrap();
    }
    sent
}

/// Reads `topic` from the beginning until `count` distinct values came
/// (bounded), checking no value comes twice.
async fn read_all(bootstrap: &str, topic: &str, count: usize) -> BTreeSet<String> {
    let mut consumer = Consumer::new(ConsumerConfig::new(bootstrap)).unwrap();
    consumer
        .assign_topic(topic, Offset::Beginning)
        .await
        .unwrap();
    let deadline = Instant::now() + SETTLE;
    let mut values = BTreeSet::new();
    while values.len() < count && Instant::now() < deadline {
        for r in consumer
            .poll(10_000, Duration::from_millis(200))
            .await
            .unwrap()
        {
            let value = String::from_utf8(r.value.unwrap_or_default().to_vec()).unwrap();
            assert!(values.insert(value.clone()), "{value} read twice");
        }
    }
    values
}

/// Polls until `seen` holds `count` values (bounded), checking none comes twice.
async fn poll_until(consumer: &mut Consumer, seen: &mut BTreeSet<String>, count: usize) {
    let deadline = Instant::now() + SETTLE;
    while seen.len() < count && Instant::now() < deadline {
        for r in consumer
            .poll(10_000, Duration::from_millis(200))
            .await
            .unwrap()
        {
            let value = String::from_utf8(r.value.unwrap_or_default().to_vec()).unwrap();
            assert!(seen.insert(value.clone()), "{value} read twice");
        }
    }
    assert_eq!(seen.len(), count, "not every record came within {SETTLE:?}");
}

/// `topic`'s partitions as broker `bootstrap` reports them.
async fn describe(bootstrap: &str, topic: &str) -> Vec<weir_client::cluster::PartitionInfo> {
    let admin = Admin::new(ClientConfig::new(bootstrap)).unwrap();
    admin
        .describe_topic(topic)
        .await
        .unwrap()
        .partitions
        .clone()
}
