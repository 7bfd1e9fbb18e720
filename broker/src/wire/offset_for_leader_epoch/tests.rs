//! The OffsetForLeaderEpoch handler against real logs (on the simulated file
//! system) behind a broker context whose metadata image sets leaders and epochs;
//! answers are read back with weir-client's response decoder (v4) and by hand
//! (v0–1).

use std::path::PathBuf;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::ResponseError;
use tokio::sync::watch;
use weir_actors::testkit::Probe;
use weir_client::protocol::records::testing::build_batch;
use weir_client::protocol::requests::offset_for_leader_epoch::{
    CONSUMER_REPLICA_ID, OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use weir_client::protocol::responses::offset_for_leader_epoch::EpochEndOffset;
use weir_client::protocol::responses::{
    OffsetForLeaderEpochResponse, decode_response_header, response_header_version,
};
use weir_client::protocol::{ApiKey, Reader};

use super::*;
use crate::config::BrokerConfig;
use crate::controller::MetadataRecord;
use crate::log::{Log, LogConfig, SimFs};
use crate::partition::{PartitionHandle, PartitionMsg, PartitionRegistry, TopicPartition};

/// This broker.
const NODE: i32 = 0;
/// The broker that leads partition [`LED_ELSEWHERE`].
const OTHER_NODE: i32 = 9;
/// The topic every test asks about.
const TOPIC: &str = "t";
const TOPIC_ID: [u8; 16] = [7; 16];

/// Partition 0: led here at epoch 5; batches of epochs 2 (offsets 0–1), 3 (2–4)
/// and 5 (5); log end 6.
const LED_HERE: i32 = 0;
/// Partition 1: hosted here (a follower) at epoch 5, led by [`OTHER_NODE`].
const LED_ELSEWHERE: i32 = 1;
/// Partition 2: hosted here but offline.
const OFFLINE: i32 = 2;
/// Partition 3: led here at epoch 2, its log holds only epoch 0 (offsets 0–1):
/// the new epochs have written nothing yet.
const NEW_EPOCH: i32 = 3;
/// Partition 4: led here at epoch 1, its log is empty.
const EMPTY: i32 = 4;
/// The leader epoch the image gives partitions 0 and 1.
const EPOCH: i32 = 5;

/// What the test keeps alive while it runs.
struct Fixture {
    ctx: Arc<BrokerCtx>,
    /// The partition actors' stand-in (the handler never messages it).
    _probe: Probe<PartitionMsg>,
}

/// A log of one batch per (epoch, record count), in order.
fn log_of(dir: &str, batches: &[(i32, usize)]) -> Log {
    let mut log = Log::open(
        &PathBuf::from(dir),
        LogConfig::default(),
        Arc::new(SimFs::new()),
    )
    .unwrap();
    for &(epoch, count) in batches {
        let records = vec![(None, Some(&b"value"[..])); count];
        log.append(build_batch(&records, 1_700_000_000_000), None, epoch)
            .unwrap();
    }
    log
}

async fn fixture() -> Fixture {
    let probe = Probe::spawn(|_: PartitionMsg| {}).await;
    let registry = Arc::new(PartitionRegistry::new());
    let host = |partition: i32, log: &Log| {
        let (_hw_tx, high_watermark) = watch::channel(log.reader().log_end_offset());
        registry.set(
            TopicPartition::new(TOPIC, partition),
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
    };
    let led_here = log_of("/sim/t-0", &[(2, 2), (3, 3), (5, 1)]);
    host(LED_HERE, &led_here);
    host(LED_ELSEWHERE, &log_of("/sim/t-1", &[(EPOCH, 1)]));
    registry.set(TopicPartition::new(TOPIC, OFFLINE), PartitionEntry::Offline);
    host(NEW_EPOCH, &log_of("/sim/t-3", &[(0, 2)]));
    host(EMPTY, &log_of("/sim/t-4", &[]));
    let changed =
        |partition: i32, leader: i32, leader_epoch: i32| MetadataRecord::PartitionChanged {
            topic_id: TOPIC_ID,
            partition,
            leader,
            leader_epoch,
            isr: vec![leader],
        };
    let image = [
        MetadataRecord::TopicCreated {
            topic_id: TOPIC_ID,
            name: TOPIC.into(),
            partitions: vec![vec![NODE]; 5],
            configs: Vec::new(),
        },
        changed(LED_HERE, NODE, EPOCH),
        changed(LED_ELSEWHERE, OTHER_NODE, EPOCH),
        changed(NEW_EPOCH, NODE, 2),
        changed(EMPTY, NODE, 1),
    ]
    .iter()
    .fold(MetadataImage::default(), |image, record| {
        image.apply(record)
    });
    let (images_tx, images) = watch::channel(Arc::new(image));
    std::mem::forget(images_tx);
    let ctx = Arc::new(BrokerCtx {
        config: Arc::new(BrokerConfig {
            node_id: NODE,
            ..BrokerConfig::default()
        }),
        images,
        controller_name: "ofle-test.controller".into(),
        partitions: registry,
        txn_manager_name: "ofle-test.txn-manager".into(),
        group_manager_name: "ofle-test.group-manager".into(),
        groups: Default::default(),
        producer_ids: Default::default(),
        readiness: Default::default(),
        metrics: Default::default(),
        peers: Default::default(),
    });
    Fixture { ctx, _probe: probe }
}

/// A partition lookup of `leader_epoch` with `current_leader_epoch`.
fn ask(partition: i32, current_leader_epoch: i32, leader_epoch: i32) -> OffsetForLeaderPartition {
    OffsetForLeaderPartition {
        partition,
        current_leader_epoch,
        leader_epoch,
    }
}

fn request(topic: &str, partitions: Vec<OffsetForLeaderPartition>) -> OffsetForLeaderEpochRequest {
    OffsetForLeaderEpochRequest {
        replica_id: CONSUMER_REPLICA_ID,
        topics: vec![OffsetForLeaderTopic {
            topic: topic.into(),
            partitions,
        }],
    }
}

/// Runs the handler at version `v` and returns the response body, after its
/// length prefix and response header.
async fn call(fixture: &Fixture, v: i16, request: OffsetForLeaderEpochRequest) -> Bytes {
    let header = RequestHeader {
        api_key: ApiKey::OffsetForLeaderEpoch as i16,
        api_version: v,
        correlation_id: 42,
        client_id: Some("test".into()),
    };
    let Outcome::Reply(frame) = start(&fixture.ctx, header, request).await else {
        panic!("v{v}: no reply");
    };
    let mut frame = frame.freeze();
    assert_eq!(frame.get_i32() as usize, frame.len(), "v{v}: length prefix");
    let mut r = Reader::new(frame);
    let header_version = response_header_version(ApiKey::OffsetForLeaderEpoch as i16, v);
    assert_eq!(decode_response_header(&mut r, header_version).unwrap(), 42);
    r.take(r.remaining()).unwrap()
}

/// The answers of a v4 request for `partitions` of `topic`.
async fn answers(
    fixture: &Fixture,
    topic: &str,
    partitions: Vec<OffsetForLeaderPartition>,
) -> Vec<EpochEndOffset> {
    let body = call(fixture, 4, request(topic, partitions)).await;
    let response = OffsetForLeaderEpochResponse::decode(&mut Reader::new(body)).unwrap();
    assert_eq!(response.throttle_time_ms, 0);
    assert_eq!(response.topics.len(), 1);
    assert_eq!(response.topics[0].topic, topic);
    response.topics.into_iter().next().unwrap().partitions
}

fn ok(partition: i32, leader_epoch: i32, end_offset: i64) -> EpochEndOffset {
    EpochEndOffset {
        error_code: 0,
        partition,
        leader_epoch,
        end_offset,
    }
}

fn failed(partition: i32, error_code: i16) -> EpochEndOffset {
    EpochEndOffset {
        error_code,
        partition,
        leader_epoch: -1,
        end_offset: -1,
    }
}

#[tokio::test]
async fn known_epochs_end_where_the_next_starts() {
    let f = fixture().await;
    let got = answers(&f, TOPIC, vec![ask(LED_HERE, -1, 2), ask(LED_HERE, -1, 3)]).await;
    assert_eq!(got, vec![ok(LED_HERE, 2, 2), ok(LED_HERE, 3, 5)]);
    // An epoch that never wrote is answered with the largest one below it.
    let got = answers(&f, TOPIC, vec![ask(LED_HERE, EPOCH, 4)]).await;
    assert_eq!(got, vec![ok(LED_HERE, 3, 5)]);
}

#[tokio::test]
async fn the_latest_epoch_ends_at_the_log_end() {
    let f = fixture().await;
    let got = answers(&f, TOPIC, vec![ask(LED_HERE, EPOCH, EPOCH)]).await;
    assert_eq!(got, vec![ok(LED_HERE, EPOCH, 6)]);
}

#[tokio::test]
async fn epochs_older_or_newer_than_the_log_knows() {
    let f = fixture().await;
    // Older than every epoch: it ends where the oldest starts (Kafka answers
    // with the epoch asked for).
    let got = answers(&f, TOPIC, vec![ask(LED_HERE, -1, 1), ask(LED_HERE, -1, 0)]).await;
    assert_eq!(got, vec![ok(LED_HERE, 1, 0), ok(LED_HERE, 0, 0)]);
    // Newer than the leader's epoch, or none: nothing is known.
    let got = answers(
        &f,
        TOPIC,
        vec![ask(LED_HERE, -1, EPOCH + 1), ask(LED_HERE, -1, -1)],
    )
    .await;
    assert_eq!(got, vec![ok(LED_HERE, -1, -1), ok(LED_HERE, -1, -1)]);
}

#[tokio::test]
async fn a_leader_epoch_that_wrote_nothing_yet_starts_at_the_log_end() {
    let f = fixture().await;
    // The log's latest epoch is 0 (ending at 2), the leader's is 2.
    let asks = (0..=3).map(|epoch| ask(NEW_EPOCH, 2, epoch)).collect();
    let got = answers(&f, TOPIC, asks).await;
    let want = vec![
        ok(NEW_EPOCH, 0, 2),
        ok(NEW_EPOCH, 0, 2),
        ok(NEW_EPOCH, 2, 2),
        ok(NEW_EPOCH, -1, -1),
    ];
    assert_eq!(got, want);
    // An empty log: every epoch up to the leader's ends at 0.
    let asks = (0..=2).map(|epoch| ask(EMPTY, -1, epoch)).collect();
    let got = answers(&f, TOPIC, asks).await;
    assert_eq!(
        got,
        vec![ok(EMPTY, 0, 0), ok(EMPTY, 1, 0), ok(EMPTY, -1, -1)]
    );
}

#[tokio::test]
async fn the_current_leader_epoch_fences_stale_and_future_askers() {
    let f = fixture().await;
    let asks = vec![
        ask(LED_HERE, EPOCH - 1, 3),
        ask(LED_HERE, EPOCH + 1, 3),
        ask(LED_HERE, 0, 3),
        // On a follower too: fencing comes before leadership, as in Kafka.
        ask(LED_ELSEWHERE, EPOCH - 1, 3),
        ask(LED_ELSEWHERE, EPOCH + 1, 3),
    ];
    let fenced = ResponseError::FencedLeaderEpoch.code();
    let unknown = ResponseError::UnknownLeaderEpoch.code();
    let want = vec![
        failed(LED_HERE, fenced),
        failed(LED_HERE, unknown),
        failed(LED_HERE, fenced),
        failed(LED_ELSEWHERE, fenced),
        failed(LED_ELSEWHERE, unknown),
    ];
    assert_eq!(answers(&f, TOPIC, asks).await, want);
    assert_eq!(errors::FENCED_LEADER_EPOCH, fenced);
    assert_eq!(errors::UNKNOWN_LEADER_EPOCH, unknown);
}

#[tokio::test]
async fn only_the_leader_answers() {
    let f = fixture().await;
    let asks = vec![
        ask(LED_ELSEWHERE, EPOCH, EPOCH),
        ask(LED_ELSEWHERE, -1, EPOCH),
        ask(OFFLINE, -1, 0),
    ];
    let not_leader = ResponseError::NotLeaderOrFollower.code();
    let want = vec![
        failed(LED_ELSEWHERE, not_leader),
        failed(LED_ELSEWHERE, not_leader),
        failed(OFFLINE, ResponseError::KafkaStorageError.code()),
    ];
    assert_eq!(answers(&f, TOPIC, asks).await, want);
}

#[tokio::test]
async fn unknown_topics_and_partitions() {
    let f = fixture().await;
    let unknown = ResponseError::UnknownTopicOrPartition.code();
    let got = answers(&f, TOPIC, vec![ask(5, -1, 0), ask(-1, -1, 0)]).await;
    assert_eq!(got, vec![failed(5, unknown), failed(-1, unknown)]);
    let got = answers(&f, "no-such-topic", vec![ask(0, -1, 0)]).await;
    assert_eq!(got, vec![failed(0, unknown)]);
}

#[tokio::test]
async fn every_version_encodes_the_same_answers() {
    use kafka_protocol::messages::OffsetForLeaderEpochResponse as KpResponse;
    use kafka_protocol::protocol::Decodable;
    let f = fixture().await;
    let asks = || {
        vec![
            ask(LED_HERE, -1, 3),
            ask(LED_HERE, -1, EPOCH),
            ask(OFFLINE, -1, 0),
        ]
    };
    let want = [
        ok(LED_HERE, 3, 5),
        ok(LED_HERE, EPOCH, 6),
        failed(OFFLINE, ResponseError::KafkaStorageError.code()),
    ];
    for v in 0..=1 {
        let mut b = call(&f, v, request(TOPIC, asks())).await;
        assert_eq!(b.get_i32(), 1, "v{v}: one topic");
        assert_eq!(b.get_i16() as usize, TOPIC.len());
        assert_eq!(&b.split_to(TOPIC.len())[..], TOPIC.as_bytes());
        assert_eq!(b.get_i32(), 3, "v{v}: three partitions");
        for w in &want {
            assert_eq!((b.get_i16(), b.get_i32()), (w.error_code, w.partition));
            if v >= 1 {
                assert_eq!(b.get_i32(), w.leader_epoch, "v{v}");
            }
            assert_eq!(b.get_i64(), w.end_offset, "v{v}");
        }
        assert_eq!(b.remaining(), 0, "v{v}: no throttle time before v2");
    }
    for v in 2..=4 {
        let mut b = BytesMut::from(&call(&f, v, request(TOPIC, asks())).await[..]);
        let got = KpResponse::decode(&mut b, v).unwrap();
        assert_eq!(b.remaining(), 0, "v{v}");
        let got: Vec<EpochEndOffset> = got.topics[0]
            .partitions
            .iter()
            .map(|p| EpochEndOffset {
                error_code: p.error_code,
                partition: p.partition,
                leader_epoch: p.leader_epoch,
                end_offset: p.end_offset,
            })
            .collect();
        assert_eq!(got, want, "v{v}");
    }
}
