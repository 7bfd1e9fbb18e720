//! Connection actor tests with probe partition actors: responses leave in request
//! order even when partitions answer out of order, and appends reach a partition
//! in request order.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, RequestHeader, TopicName};
use kafka_protocol::protocol::{Encodable, StrBytes};
use ractor::Actor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use weir_actors::testkit::Probe;
use weir_client::protocol::records::testing::build_batch;

use super::{Connection, ConnectionArgs};
use crate::config::BrokerConfig;
use crate::context::BrokerCtx;
use crate::controller::{MetadataImage, MetadataRecord};
use crate::log::{Log, LogConfig, SimFs};
use crate::partition::{
    AppendOutcome, PartitionEntry, PartitionHandle, PartitionMsg, PartitionRegistry, TopicPartition,
};

fn produce_frame(correlation_id: i32, value: &[u8]) -> Bytes {
    let records = build_batch(&[(None, Some(value))], 1);
    let partition = PartitionProduceData::default()
        .with_index(0)
        .with_records(Some(records));
    let topic = TopicProduceData::default()
        .with_name(TopicName(StrBytes::from_static_str("t")))
        .with_partition_data(vec![partition]);
    let request = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![topic]);
    let mut body = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(0)
        .with_request_api_version(7)
        .with_correlation_id(correlation_id)
        .encode(&mut body, 1)
        .unwrap();
    request.encode(&mut body, 7).unwrap();
    let mut frame = BytesMut::new();
    frame.put_i32(body.len() as i32);
    frame.put_slice(&body);
    frame.freeze()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_keep_request_order_when_partitions_answer_out_of_order() {
    // The probe answers the first append last: after 150 ms, the rest at once.
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let probe = Probe::spawn(move |msg: PartitionMsg| {
        let PartitionMsg::Append { reply, .. } = msg else {
            return;
        };
        let n = counter.fetch_add(1, Ordering::SeqCst);
        let delay = if n == 0 { 150 } else { 0 };
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let outcome = AppendOutcome {
                base_offset: n as i64 * 10,
                log_append_time_ms: -1,
                log_start_offset: 0,
            };
            let _ = reply.send(Ok(outcome));
        });
    })
    .await;
    let ctx = context(&probe).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (stream, peer) = listener.accept().await.unwrap();
    let permit = Arc::new(Semaphore::new(1)).acquire_owned().await.unwrap();
    let args = ConnectionArgs {
        stream,
        peer,
        ctx,
        listener: "PLAINTEXT".into(),
        connection_permit: permit,
    };
    let (conn, _) = Actor::spawn(None, Connection, args).await.unwrap();
    // Pipeline three requests with distinct payload sizes.
    for (id, value) in [(1, &b"a"[..]), (2, b"bb"), (3, b"ccc")] {
        client.write_all(&produce_frame(id, value)).await.unwrap();
    }
    let mut order = Vec::new();
    for _ in 0..3 {
        let mut prefix = [0u8; 4];
        tokio::time::timeout(Duration::from_secs(5), client.read_exact(&mut prefix))
            .await
            .unwrap()
            .unwrap();
        let mut body = vec![0u8; i32::from_be_bytes(prefix) as usize];
        client.read_exact(&mut body).await.unwrap();
        order.push(Bytes::from(body).get_i32());
    }
    assert_eq!(order, vec![1, 2, 3], "responses in request order");
    let appends = probe.wait_for(3, Duration::from_secs(2)).await.unwrap();
    let lens: Vec<usize> = appends
        .iter()
        .map(|a| {
            a.split("records_len: ")
                .nth(1)
                .unwrap()
                .split(',')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert!(
        lens[0] < lens[1] && lens[1] < lens[2],
        "appends reached the partition in request order: {lens:?}"
    );
    conn.stop(None);
}

/// A context whose only partition `t-0` is the probe.
async fn context(probe: &Probe<PartitionMsg>) -> Arc<BrokerCtx> {
    let log = Log::open(
        &PathBuf::from("/sim/t-0"),
        LogConfig::default(),
        Arc::new(SimFs::new()),
    )
    .unwrap();
    let (_hw_tx, high_watermark) = watch::channel(0);
    let registry = Arc::new(PartitionRegistry::new());
    registry.set(
        TopicPartition::new("t", 0),
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
    let image = MetadataImage::default().apply(&MetadataRecord::TopicCreated {
        topic_id: [2; 16],
        name: "t".into(),
        partitions: vec![vec![0]],
        configs: Vec::new(),
    });
    let (images_tx, images) = watch::channel(Arc::new(image));
    std::mem::forget(images_tx);
    Arc::new(BrokerCtx {
        config: Arc::new(BrokerConfig::default()),
        images,
        controller_name: "conn-test.controller".into(),
        partitions: registry,
        group_manager_name: "conn-test.group-manager".into(),
        txn_manager_name: "conn-test.txn-manager".into(),
        groups: Default::default(),
        producer_ids: Default::default(),
        readiness: Default::default(),
        metrics: Default::default(),
        peers: Default::default(),
    })
}
