//! Adding a broker to a running cluster: three voters run, then a fourth
//! broker-only node (`process.roles=broker`, not a voter) starts; the active
//! controller makes it a metadata learner, it registers, shows in Metadata
//! (its own too), gets replicas of new topics and of a reassignment, serves
//! them, comes back after a restart, and can be decommissioned again.

mod support;

use std::collections::BTreeSet;
use std::process::Output;
use std::time::Instant;

use weir_client::admin::{Admin, AlterConfigOp, ConfigResource, NewTopic};
use weir_client::cluster::ClientConfig;
use weir_client::producer::ProducerRecord;

use support::cluster::{LocalCluster, eventually};
use support::load::read_all;

/// Metadata entries committed before broker 4 starts: past the snapshot
/// interval (1000).
const METADATA_CHANGES: u64 = 1_300;

fn admin(bootstrap: &str) -> Admin {
    Admin::new(ClientConfig::new(bootstrap)).unwrap()
}

async fn weir(bootstrap: &str, args: &[&str]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_weir"));
    command.arg("-b").arg(bootstrap).args(args);
    tokio::task::spawn_blocking(move || command.output().expect("running weir"))
        .await
        .unwrap()
}

async fn brokers(bootstrap: &str) -> Option<Vec<i32>> {
    let info = admin(bootstrap).cluster_info().await.ok()?;
    (info.controller_id > 0).then(|| info.brokers.iter().map(|b| b.node_id).collect())
}

async fn create(bootstrap: &str, name: &str, partitions: i32, replication_factor: i16) {
    let mut topic = NewTopic::new(name, partitions);
    topic.replication_factor = replication_factor;
    eventually(&format!("creating {name}"), || async {
        let created = admin(bootstrap)
            .create_topics(std::slice::from_ref(&topic), false)
            .await;
        created.ok().and_then(|mut r| r.remove(0).ok())
    })
    .await
}

async fn replicas(bootstrap: &str, topic: &str) -> Option<Vec<Vec<i32>>> {
    let info = admin(bootstrap).describe_topic(topic).await.ok()?;
    Some(info.partitions.iter().map(|p| p.replicas.clone()).collect())
}

/// Produces `count` records spread over the partitions of `topic` (acks=all).
async fn produce(bootstrap: &str, topic: &str, partitions: i32, count: u32) -> BTreeSet<String> {
    support::load::produce(bootstrap, 0..count, |i| {
        let v = format!("{topic}-{i}");
        let record = ProducerRecord::new(topic, v.clone()).partition(i as i32 % partitions);
        (v, record)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_only_node_joins_gets_replicas_and_leaves() {
    let mut cluster = LocalCluster::start(3, &[]);
    let voters = cluster.bootstrap();
    eventually("three registered voters", || async {
        (brokers(&voters).await? == [1, 2, 3]).then_some(())
    })
    .await;
    create(&voters, "early", 2, 2).await;
    let early = produce(&voters, "early", 2, 2_000).await;
    // Past a metadata snapshot (every 1000 entries, the log behind purged):
    // broker 4 gets the snapshot over the link, then the log.
    let a = admin(&voters);
    let resource = ConfigResource::Topic("early".into());
    let started = Instant::now();
    for i in 0..METADATA_CHANGES {
        let op = AlterConfigOp::Set("retention.ms".into(), (86_400_000 + i).to_string());
        a.alter_configs(&resource, &[op], false).await.unwrap();
    }
    eprintln!(
        "{METADATA_CHANGES} metadata changes in {:.2} s",
        started.elapsed().as_secs_f64()
    );

    // Broker 4 starts later, as a broker-only node.
    let started = Instant::now();
    let index = cluster.add_broker();
    let fourth = cluster.nodes[index].bootstrap();
    // Its own Metadata lists all four: it applies the metadata log.
    eventually("broker 4 in every Metadata", || async {
        let everyone = [1, 2, 3, 4];
        (brokers(&voters).await? == everyone && brokers(&fourth).await? == everyone).then_some(())
    })
    .await;
    eprintln!(
        "broker-only node 4 joined in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    // (The voters purge their log behind each snapshot, so a learner
    // starting empty can only have got this far by installing one.)
    let snapshot = cluster
        .data_dir(index)
        .join("__cluster_metadata")
        .join("snapshot.bin");
    assert!(snapshot.exists(), "{} missing", snapshot.display());
    let configs = admin(&fourth)
        .describe_topic_configs("early")
        .await
        .unwrap();
    let retention = configs.iter().find(|c| c.name == "retention.ms");
    let last = (86_400_000 + METADATA_CHANGES - 1).to_string();
    assert_eq!(
        retention.and_then(|c| c.value.clone()).as_deref(),
        Some(last.as_str()),
        "{retention:?}"
    );

    // A new topic with RF=3 over four brokers places replicas on it.
    create(&voters, "late", 4, 3).await;
    let placed = eventually("late's placement", || replicas(&voters, "late")).await;
    assert!(placed.iter().any(|r| r.contains(&4)), "{placed:?}");
    let late = produce(&voters, "late", 4, 2_000).await;

    // A reassignment onto it moves data there.
    let before = eventually("early's placement", || replicas(&voters, "early")).await;
    let target = format!("0:4,{}", before[0][0]);
    let out = weir(
        &voters,
        &[
            "topic",
            "reassign",
            "early",
            "--replicas",
            &target,
            "--timeout-secs",
            "60",
        ],
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    assert!(cluster.data_dir(index).join("early-0").exists());

    // Read back through broker 4 alone.
    assert_eq!(read_all(&fourth, "early", early.len()).await, early);
    assert_eq!(read_all(&fourth, "late", late.len()).await, late);

    // Restarted, it comes back from its own metadata and the voters' log.
    cluster.kill(index);
    cluster.spawn(index);
    eventually("broker 4 back in every Metadata and ISR", || async {
        let everyone = [1, 2, 3, 4];
        let info = admin(&voters).describe_topic("late").await.ok()?;
        let whole = info.partitions.iter().all(|p| p.isr.len() == 3);
        (whole && brokers(&fourth).await? == everyone).then_some(())
    })
    .await;

    // And it is decommissioned like any broker.
    let out = weir(
        &voters,
        &["cluster", "decommission", "4", "--timeout-secs", "60"],
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    for topic in ["early", "late"] {
        let r = replicas(&voters, topic).await.unwrap();
        assert!(r.iter().all(|r| !r.contains(&4)), "{topic}: {r:?}");
    }
    assert_eq!(read_all(&voters, "early", early.len()).await, early);
}
