//! The coordinator actor with a probe partition standing in for its
//! `__consumer_offsets` partition.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ractor::{Actor, ActorRef};
use tokio::sync::watch;
use weir_actors::testkit::Probe;

use super::*;
use crate::log::{Log, LogConfig, SimFs};
use crate::partition::{AppendOutcome, PartitionHandle, TopicPartition};

const WAIT: Option<Duration> = Some(Duration::from_secs(5));

/// A registry whose offsets partition for "g" is a probe that acknowledges appends.
async fn setup() -> (ActorRef<GroupMsg>, Probe<PartitionMsg>) {
    let probe = Probe::spawn(|msg: PartitionMsg| {
        if let PartitionMsg::Append { reply, .. } = msg {
            let _ = reply.send(Ok(AppendOutcome {
                base_offset: 0,
                log_append_time_ms: -1,
                log_start_offset: 0,
            }));
        }
    })
    .await;
    let log = Log::open(
        &PathBuf::from("/sim/offsets"),
        LogConfig::default(),
        Arc::new(SimFs::new()),
    )
    .unwrap();
    let (_tx, high_watermark) = watch::channel(0);
    let registry = Arc::new(PartitionRegistry::new());
    let partitions = 4;
    registry.set(
        TopicPartition::new(OFFSETS_TOPIC, offsets::partition_for("g", partitions)),
        PartitionEntry::Online(PartitionHandle {
            actor: probe.actor().clone(),
            reader: log.reader(),
            high_watermark,
        }),
    );
    let args = GroupCoordinatorArgs {
        group_id: "g".into(),
        offsets_partitions: partitions,
        registry,
        limits: GroupLimits {
            initial_rebalance_delay_ms: 0,
            ..GroupLimits::default()
        },
    };
    let (coordinator, _) = Actor::spawn(None, GroupCoordinator, args).await.unwrap();
    (coordinator, probe)
}

fn join_request() -> JoinRequest {
    JoinRequest {
        member_id: String::new(),
        group_instance_id: None,
        client_id: "c".into(),
        client_host: String::new(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 10_000,
        protocol_type: "consumer".into(),
        protocols: vec![("range".into(), Bytes::new())],
        require_known_member_id: false,
    }
}

fn value(offset: i64) -> OffsetValue {
    OffsetValue {
        offset,
        leader_epoch: -1,
        metadata: None,
        commit_timestamp_ms: 0,
    }
}

async fn commit(c: &ActorRef<GroupMsg>, generation_id: i32, member_id: &str, offset: i64) -> i16 {
    let member_id = member_id.to_owned();
    let offsets = vec![(("t".to_string(), 0), value(offset))];
    c.call(
        |reply| GroupMsg::Commit {
            generation_id,
            member_id,
            offsets,
            reply,
        },
        WAIT,
    )
    .await
    .unwrap()
    .unwrap()
}

#[tokio::test]
async fn a_member_joins_syncs_commits_durably_and_reads_back() {
    let (c, probe) = setup().await;
    let joined = c
        .call(
            |reply| GroupMsg::Join {
                req: join_request(),
                reply,
            },
            WAIT,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((joined.error_code, joined.generation_id), (codes::NONE, 1));
    let member = joined.member_id.clone();
    let assignments = vec![(member.clone(), Bytes::from_static(b"all"))];
    let m = member.clone();
    let synced = c
        .call(
            |reply| GroupMsg::Sync {
                member_id: m,
                generation_id: 1,
                assignments,
                reply,
            },
            WAIT,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(synced.assignment, Bytes::from_static(b"all"));
    assert_eq!(commit(&c, 1, &member, 42).await, codes::NONE);
    let appends = probe.wait_for(1, Duration::from_secs(2)).await.unwrap();
    assert!(
        appends[0].contains("acks: -1"),
        "commits wait for the fsync: {appends:?}"
    );
    let fetched = c
        .call(
            |reply| GroupMsg::FetchOffsets {
                partitions: None,
                reply,
            },
            WAIT,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fetched.len(), 1);
    assert_eq!(fetched[0].0, ("t".to_string(), 0));
    assert_eq!(fetched[0].1.as_ref().map(|v| v.offset), Some(42));
    c.stop(None);
}

#[tokio::test]
async fn stale_generations_and_strangers_cannot_commit() {
    let (c, probe) = setup().await;
    let joined = c
        .call(
            |reply| GroupMsg::Join {
                req: join_request(),
                reply,
            },
            WAIT,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        commit(&c, 0, &joined.member_id, 1).await,
        codes::ILLEGAL_GENERATION
    );
    assert_eq!(commit(&c, 1, "stranger", 1).await, codes::UNKNOWN_MEMBER_ID);
    // While the group has members, commits from outside it are refused.
    assert_eq!(commit(&c, -1, "", 1).await, codes::UNKNOWN_MEMBER_ID);
    // CompletingRebalance: the leader has not synced yet.
    assert_eq!(
        commit(&c, 1, &joined.member_id, 1).await,
        codes::REBALANCE_IN_PROGRESS
    );
    assert_eq!(probe.count(), 0, "nothing refused was written");
    c.stop(None);
}
