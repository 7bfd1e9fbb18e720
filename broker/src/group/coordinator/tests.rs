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
use crate::partition::{AppendOutcome, PartitionHandle, PartitionMsg, TopicPartition};

const WAIT: Option<Duration> = Some(Duration::from_secs(5));

/// A registry whose offsets partition for "g" is a probe that acknowledges appends.
async fn setup() -> (ActorRef<GroupMsg>, Probe<PartitionMsg>) {
    let (c, probe, _) = setup_with(Options::default()).await;
    (c, probe)
}

/// How a test coordinator starts.
struct Options {
    start: StartingGroup,
    retention_ms: i64,
    retention_check_ms: i64,
    idle_stop_ms: i64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            start: StartingGroup::Unknown,
            retention_ms: 7 * 24 * 3_600_000,
            retention_check_ms: 600_000,
            idle_stop_ms: IDLE_STOP_MS_DEFAULT,
        }
    }
}

/// The coordinator, its probe offsets partition, and what was appended to it.
struct Setup {
    directory: Arc<GroupDirectory>,
    appended: Arc<parking_lot::Mutex<Vec<Bytes>>>,
}

async fn setup_with(options: Options) -> (ActorRef<GroupMsg>, Probe<PartitionMsg>, Setup) {
    let appended = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let sink = appended.clone();
    let probe = Probe::spawn(move |msg: PartitionMsg| {
        if let PartitionMsg::Append { reply, records, .. } = msg {
            sink.lock().push(records);
            let _ = reply.send(Ok(AppendOutcome {
                base_offset: 0,
                log_append_time_ms: -1,
                log_start_offset: 0,
            }));
        }
    })
    .await;
    let (coordinator, directory) = spawn_coordinator(&probe, options).await;
    let setup = Setup {
        directory,
        appended,
    };
    (coordinator, probe, setup)
}

/// A coordinator for "g" whose offsets partition is `probe`.
async fn spawn_coordinator(
    probe: &Probe<PartitionMsg>,
    options: Options,
) -> (ActorRef<GroupMsg>, Arc<GroupDirectory>) {
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
            log_end: high_watermark.clone(),
            last_stable: high_watermark.clone(),
            aborted: Default::default(),
            stats: Default::default(),
            epoch_start_offset: Default::default(),
            high_watermark,
        }),
    );
    let directory = Arc::new(GroupDirectory::default());
    let leadership = Leadership {
        partition: offsets::partition_for("g", partitions),
        epoch: 0,
    };
    directory.lead(leadership);
    let args = GroupCoordinatorArgs {
        leadership,
        group_id: "g".into(),
        offsets_partitions: partitions,
        registry,
        limits: GroupLimits {
            initial_rebalance_delay_ms: 0,
            ..GroupLimits::default()
        },
        directory: directory.clone(),
        start: options.start,
        retention_ms: options.retention_ms,
        retention_check_ms: options.retention_check_ms,
        idle_stop_ms: options.idle_stop_ms,
    };
    let (coordinator, _) = Actor::spawn(None, GroupCoordinator, args).await.unwrap();
    (coordinator, directory)
}

/// The (topic, partition, offset or tombstone) records of appended batches.
fn appended_records(setup: &Setup) -> Vec<((String, i32), Option<i64>)> {
    let mut out = Vec::new();
    for batch in setup.appended.lock().iter() {
        for (view, _) in weir_client::protocol::records::batches(batch).flatten() {
            for record in view.records().into_iter().flatten().flatten() {
                let key = record.key.as_deref().unwrap();
                if postcard::take_from_bytes::<u16>(key).unwrap().0 != 1 {
                    continue; // a group metadata record
                }
                let key: offsets::OffsetKey = postcard::from_bytes(key).unwrap();
                let value = record
                    .value
                    .as_deref()
                    .map(|v| postcard::from_bytes::<OffsetValue>(v).unwrap().offset);
                out.push(((key.topic, key.partition), value));
            }
        }
    }
    out
}

/// The group metadata records appended (`None`: a tombstone).
fn appended_snapshots(setup: &Setup) -> Vec<Option<GroupSnapshot>> {
    let mut out = Vec::new();
    for batch in setup.appended.lock().iter() {
        for (view, _) in weir_client::protocol::records::batches(batch).flatten() {
            for record in view.records().into_iter().flatten().flatten() {
                let key = record.key.as_deref().unwrap();
                if postcard::take_from_bytes::<u16>(key).unwrap().0 == 2 {
                    let value = record.value.as_deref();
                    out.push(value.map(|v| postcard::from_bytes(v).unwrap()));
                }
            }
        }
    }
    out
}

fn known(entries: &[(&str, i32, i64)]) -> StartingGroup {
    StartingGroup::Known(LoadedGroup {
        offsets: entries
            .iter()
            .map(|(t, p, o)| ((t.to_string(), *p), value(*o)))
            .collect(),
        snapshot: None,
        ..LoadedGroup::default()
    })
}

use crate::group::state::GroupSnapshot;
use crate::group::subscription::subscription;

/// Joins one member subscribed to `topics` and syncs it: a Stable group.
async fn stable_member(c: &ActorRef<GroupMsg>, topics: &[&str]) -> String {
    let mut req = join_request();
    req.protocols = vec![("range".into(), subscription(topics))];
    let joined = c
        .call(|reply| GroupMsg::Join { req, reply }, WAIT)
        .await
        .unwrap()
        .unwrap();
    let member = joined.member_id.clone();
    let (m, assignments) = (
        member.clone(),
        vec![(member.clone(), Bytes::from_static(b"a"))],
    );
    let synced = c
        .call(
            |reply| GroupMsg::Sync {
                group_instance_id: None,
                member_id: m,
                generation_id: joined.generation_id,
                assignments,
                reply,
            },
            WAIT,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(synced.error_code, codes::NONE);
    member
}

async fn heartbeat(c: &ActorRef<GroupMsg>, member_id: &str, generation_id: i32) -> i16 {
    let member_id = member_id.to_owned();
    c.call(
        |reply| GroupMsg::Heartbeat {
            group_instance_id: None,
            member_id,
            generation_id,
            reply,
        },
        WAIT,
    )
    .await
    .unwrap()
    .unwrap()
}

async fn leave(c: &ActorRef<GroupMsg>, member_id: &str) -> Vec<i16> {
    let members = vec![(member_id.to_owned(), None)];
    c.call(|reply| GroupMsg::Leave { members, reply }, WAIT)
        .await
        .unwrap()
        .unwrap()
}

async fn fetch_all(c: &ActorRef<GroupMsg>) -> Vec<FetchedOffset> {
    c.call(
        |reply| GroupMsg::FetchOffsets {
            partitions: None,
            require_stable: false,
            reply,
        },
        WAIT,
    )
    .await
    .unwrap()
    .unwrap()
    .offsets
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
            group_instance_id: None,
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
                group_instance_id: None,
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
                require_stable: false,
                reply,
            },
            WAIT,
        )
        .await
        .unwrap()
        .unwrap()
        .offsets;
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

#[tokio::test]
async fn starts_from_handed_offsets_describes_and_publishes_its_state() {
    let (c, _probe, setup) = setup_with(Options {
        start: known(&[("t", 0, 7)]),
        ..Options::default()
    })
    .await;
    assert_eq!(fetch_all(&c).await[0].1.as_ref().map(|v| v.offset), Some(7));
    let member = stable_member(&c, &["t"]).await;
    let described = c
        .call(|reply| GroupMsg::Describe { reply }, WAIT)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (described.state, described.protocol_type.as_str()),
        ("Stable", "consumer")
    );
    assert_eq!(described.protocol_name, "range");
    assert_eq!(described.members.len(), 1);
    assert_eq!(described.members[0].member_id, member);
    assert_eq!(described.members[0].assignment, Bytes::from_static(b"a"));
    assert_eq!(described.members[0].metadata, subscription(&["t"]));
    let listed = setup.directory.list();
    assert_eq!(listed[0].0, "g");
    assert_eq!(listed[0].1.state, "Stable");
    c.stop(None);
}

#[tokio::test]
async fn delete_needs_an_empty_group_and_tombstones_every_offset() {
    let (c, _probe, setup) = setup_with(Options {
        start: known(&[("t", 0, 5), ("u", 1, 9)]),
        ..Options::default()
    })
    .await;
    let member = stable_member(&c, &["t"]).await;
    let delete = |c: ActorRef<GroupMsg>| async move {
        c.call(|reply| GroupMsg::Delete { reply }, WAIT)
            .await
            .unwrap()
            .unwrap()
    };
    assert_eq!(delete(c.clone()).await, codes::NON_EMPTY_GROUP);
    assert!(appended_records(&setup).is_empty());
    assert_eq!(leave(&c, &member).await, [codes::NONE]);
    assert_eq!(delete(c.clone()).await, codes::NONE);
    let mut written = appended_records(&setup);
    written.sort();
    assert_eq!(
        written,
        [(("t".to_string(), 0), None), (("u".to_string(), 1), None)]
    );
    assert!(
        !setup.directory.contains("g"),
        "a deleted group is forgotten"
    );
    for _ in 0..50 {
        if c.get_status() == ractor::ActorStatus::Stopped {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(c.get_status(), ractor::ActorStatus::Stopped);
}

#[tokio::test]
async fn offset_delete_keeps_offsets_of_subscribed_topics() {
    let (c, _probe, setup) = setup_with(Options {
        start: known(&[("t", 0, 5), ("u", 0, 9)]),
        ..Options::default()
    })
    .await;
    stable_member(&c, &["t"]).await;
    let partitions = vec![("t".to_string(), 0), ("u".to_string(), 0)];
    let codes_back = c
        .call(|reply| GroupMsg::DeleteOffsets { partitions, reply }, WAIT)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        codes_back,
        Ok(vec![codes::GROUP_SUBSCRIBED_TO_TOPIC, codes::NONE])
    );
    assert_eq!(appended_records(&setup), [(("u".to_string(), 0), None)]);
    let left = fetch_all(&c).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].0, ("t".to_string(), 0));
    c.stop(None);
}

#[tokio::test]
async fn offsets_of_an_empty_group_expire_after_retention() {
    let (c, _probe, setup) = setup_with(Options {
        start: known(&[("t", 0, 5)]),
        retention_ms: 300,
        retention_check_ms: 100,
        ..Options::default()
    })
    .await;
    let mut expired = false;
    for _ in 0..100 {
        if fetch_all(&c).await.is_empty() {
            expired = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(expired, "the offset never expired");
    assert_eq!(appended_records(&setup), [(("t".to_string(), 0), None)]);
    c.stop(None);
}

#[tokio::test]
async fn a_group_with_members_keeps_its_offsets_past_retention() {
    let (c, _probe, setup) = setup_with(Options {
        start: known(&[("t", 0, 5)]),
        retention_ms: 100,
        retention_check_ms: 50,
        ..Options::default()
    })
    .await;
    let member = stable_member(&c, &["t"]).await;
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(heartbeat(&c, &member, 1).await, codes::NONE);
    }
    assert_eq!(fetch_all(&c).await.len(), 1);
    assert!(appended_records(&setup).is_empty());
    c.stop(None);
}

/// Commits are pipelined: their appends reach the partition in order, and when
/// the durable answers come back out of order the latest commit still wins.
#[tokio::test]
async fn pipelined_commits_answered_out_of_order_keep_the_latest() {
    const N: usize = 8;
    let held = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let sink = held.clone();
    let probe = Probe::spawn(move |msg: PartitionMsg| {
        if let PartitionMsg::Append { reply, .. } = msg {
            let mut held = sink.lock();
            held.push(reply);
            if held.len() == N {
                for reply in held.drain(..).rev() {
                    let _ = reply.send(Ok(AppendOutcome {
                        base_offset: 0,
                        log_append_time_ms: -1,
                        log_start_offset: 0,
                    }));
                }
            }
        }
    })
    .await;
    let options = Options {
        start: StartingGroup::Known(LoadedGroup::default()),
        ..Options::default()
    };
    let (c, _) = spawn_coordinator(&probe, options).await;
    let mut answers = Vec::new();
    for offset in 1..=N as i64 {
        let c = c.clone();
        answers.push(tokio::spawn(
            async move { commit(&c, -1, "", offset).await },
        ));
        // Each commit's append is cast before the next commit is sent.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for answer in answers {
        assert_eq!(answer.await.unwrap(), codes::NONE);
    }
    let fetched = fetch_all(&c).await;
    assert_eq!(fetched[0].1.as_ref().map(|v| v.offset), Some(N as i64));
    c.stop(None);
}

/// An empty group's coordinator stops when idle and parks its offsets in the
/// directory, where the next coordinator of the group takes them from.
#[tokio::test]
async fn an_idle_empty_group_parks_its_offsets_and_stops() {
    let (c, _probe, setup) = setup_with(Options {
        start: known(&[("t", 0, 11)]),
        idle_stop_ms: 200,
        ..Options::default()
    })
    .await;
    for _ in 0..100 {
        if c.get_status() == ractor::ActorStatus::Stopped {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(c.get_status(), ractor::ActorStatus::Stopped);
    assert!(setup.directory.contains("g"), "still listed while dormant");
    let partition = offsets::partition_for("g", 4);
    assert_eq!(setup.directory.take("g", partition), known(&[("t", 0, 11)]));
}

/// A settled generation is stored as the group's metadata record; a coordinator
/// started from it serves the same members and generation (no rejoin after a
/// restart); deleting the group tombstones the record.
#[tokio::test]
async fn a_stable_generation_is_stored_and_a_new_coordinator_resumes_it() {
    let (c, _probe, setup) = setup_with(Options::default()).await;
    let member = stable_member(&c, &["t"]).await;
    let mut stored = Vec::new();
    for _ in 0..100 {
        stored = appended_snapshots(&setup);
        if !stored.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let snapshot = stored
        .last()
        .cloned()
        .flatten()
        .expect("a stored generation");
    assert_eq!(snapshot.generation_id, 1);
    assert_eq!(snapshot.members.len(), 1);
    assert_eq!(snapshot.members[0].member_id, member);
    c.stop(None);

    let (c, _probe, setup) = setup_with(Options {
        start: StartingGroup::Known(LoadedGroup {
            offsets: GroupOffsets::new(),
            snapshot: Some(snapshot),
            ..LoadedGroup::default()
        }),
        ..Options::default()
    })
    .await;
    assert_eq!(
        heartbeat(&c, &member, 1).await,
        codes::NONE,
        "the restored member heartbeats on"
    );
    assert_eq!(leave(&c, &member).await, [codes::NONE]);
    let deleted = c
        .call(|reply| GroupMsg::Delete { reply }, WAIT)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(deleted, codes::NONE);
    assert_eq!(
        appended_snapshots(&setup).last(),
        Some(&None),
        "deleting tombstones the metadata"
    );
}

async fn txn_commit(c: &ActorRef<GroupMsg>, producer_id: i64, offset: i64) -> i16 {
    c.call(
        |reply| GroupMsg::TxnCommit {
            producer: (producer_id, 0),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
            offsets: vec![(("t".to_string(), 0), value(offset))],
            reply,
        },
        WAIT,
    )
    .await
    .unwrap()
    .unwrap()
}

async fn fetch_stable(c: &ActorRef<GroupMsg>) -> FetchedOffsets {
    c.call(
        |reply| GroupMsg::FetchOffsets {
            partitions: Some(vec![("t".to_string(), 0)]),
            require_stable: true,
            reply,
        },
        WAIT,
    )
    .await
    .unwrap()
    .unwrap()
}

#[tokio::test]
async fn transactional_offsets_are_unstable_until_their_marker_settles_them() {
    let (c, _probe, setup) = setup_with(Options {
        start: known(&[("t", 0, 3)]),
        ..Options::default()
    })
    .await;
    assert_eq!(txn_commit(&c, 7, 10).await, codes::NONE);
    // Written as part of producer 7's transaction.
    let batch = setup.appended.lock()[0].clone();
    let (view, _) = weir_client::protocol::records::RecordBatchView::parse(&batch).unwrap();
    assert!(view.is_transactional());
    assert_eq!(view.producer_id(), 7);
    // Open: the old offset stands, and a stable read is told to retry.
    let open = fetch_stable(&c).await;
    assert_eq!(open.unstable, vec![("t".to_string(), 0)]);
    assert_eq!(fetch_all(&c).await[0].1.as_ref().unwrap().offset, 3);
    // Aborted: dropped. Committed: counted.
    c.cast(GroupMsg::TxnCompleted {
        producer_id: 7,
        commit: false,
    })
    .unwrap();
    assert!(fetch_stable(&c).await.unstable.is_empty());
    assert_eq!(fetch_all(&c).await[0].1.as_ref().unwrap().offset, 3);
    assert_eq!(txn_commit(&c, 8, 20).await, codes::NONE);
    c.cast(GroupMsg::TxnCompleted {
        producer_id: 8,
        commit: true,
    })
    .unwrap();
    let settled = fetch_stable(&c).await;
    assert!(settled.unstable.is_empty());
    assert_eq!(settled.offsets[0].1.as_ref().unwrap().offset, 20);
    c.stop(None);
}
