//! Every advertised (api, version) gets a well-formed answer from a real broker,
//! and one version above each maximum gets UNSUPPORTED_VERSION.
//!
//! Requests are the shared samples (encoded with kafka-protocol's sound encoders);
//! responses are decoded with it too — they are our own broker's output, not
//! hostile input.

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Decodable;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use weir_broker::broker::Broker;
use weir_broker::config::BrokerConfig;
use weir_client::protocol::testing::{SAMPLE_TOPIC, sample_request};
use weir_client::protocol::{ApiKey, SUPPORTED_APIS};

struct Client {
    stream: TcpStream,
    correlation_id: i32,
}

impl Client {
    async fn connect(addr: std::net::SocketAddr) -> Self {
        Self {
            stream: TcpStream::connect(addr).await.unwrap(),
            correlation_id: 0,
        }
    }

    async fn roundtrip(&mut self, request: Bytes, key: i16, version: i16) -> Option<Bytes> {
        let mut framed = BytesMut::new();
        framed.put_i32(request.len() as i32);
        framed.put_slice(&request);
        self.stream.write_all(&framed).await.unwrap();
        let mut prefix = [0u8; 4];
        let read =
            tokio::time::timeout(Duration::from_secs(10), self.stream.read_exact(&mut prefix))
                .await;
        if !matches!(read, Ok(Ok(_))) {
            return None;
        }
        let mut body = vec![0u8; i32::from_be_bytes(prefix) as usize];
        self.stream.read_exact(&mut body).await.unwrap();
        let mut body = Bytes::from(body);
        assert_eq!(
            body.get_i32(),
            self.correlation_id,
            "correlation id of {key} v{version}"
        );
        if response_header_flexible(key, version) {
            assert_eq!(
                body.get_u8(),
                0,
                "empty tagged fields in the response header"
            );
        }
        Some(body)
    }
}

fn response_header_flexible(key: i16, version: i16) -> bool {
    key != ApiKey::ApiVersions as i16
        && SUPPORTED_APIS
            .iter()
            .any(|s| s.key as i16 == key && version >= s.flexible_min)
}

async fn start_broker() -> (Broker, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    // The actor registry is process-global: each in-process broker needs its own id.
    static NEXT_NODE_ID: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(100);
    let config = BrokerConfig {
        node_id: NEXT_NODE_ID.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
        listeners: vec!["127.0.0.1:0".parse().unwrap()],
        data_dir: dir.path().to_owned(),
        ..BrokerConfig::default()
    };
    (Broker::start(config).await.unwrap(), dir)
}

/// Sends the sample request of (`key`, `v`) and checks the answer.
async fn check_api(client: &mut Client, key: ApiKey, v: i16) {
    client.correlation_id += 1;
    let frame = sample_request(key, v, client.correlation_id);
    let mut b = client
        .roundtrip(frame, key as i16, v)
        .await
        .expect("an answer, not a closed connection");
    let error_code = match key {
        ApiKey::ApiVersions => {
            let resp = ApiVersionsResponse::decode(&mut b, v).unwrap();
            assert_eq!(resp.api_keys.len(), SUPPORTED_APIS.len());
            resp.error_code
        }
        ApiKey::Metadata => {
            let resp = MetadataResponse::decode(&mut b, v).unwrap();
            assert_eq!(resp.brokers.len(), 1);
            let topic = resp
                .topics
                .iter()
                .find(|t| t.name.as_ref().map(|n| n.0.as_str()) == Some(SAMPLE_TOPIC));
            topic.map(|t| t.error_code).unwrap_or(-100)
        }
        ApiKey::Produce if v < 3 => legacy_produce_error(&mut b, v),
        ApiKey::Produce => {
            let resp = ProduceResponse::decode(&mut b, v).unwrap();
            let p = &resp.responses[0].partition_responses[0];
            assert!(p.base_offset >= 0);
            p.error_code
        }
        ApiKey::Fetch => {
            let resp = FetchResponse::decode(&mut b, v).unwrap();
            let p = &resp.responses[0].partitions[0];
            assert!(
                !p.records.as_ref().unwrap().is_empty(),
                "Fetch v{v} returns the batch"
            );
            p.error_code
        }
        ApiKey::ListOffsets => {
            let resp = ListOffsetsResponse::decode(&mut b, v).unwrap();
            let p = &resp.topics[0].partitions[0];
            assert_eq!(p.offset, 0, "earliest offset");
            p.error_code
        }
        ApiKey::CreateTopics => {
            CreateTopicsResponse::decode(&mut b, v).unwrap().topics[0].error_code
        }
        ApiKey::DeleteTopics => {
            // The first version deletes it; later ones find it gone.
            match DeleteTopicsResponse::decode(&mut b, v).unwrap().responses[0].error_code {
                3 => 0,
                code => code,
            }
        }
        ApiKey::FindCoordinator => {
            let resp = FindCoordinatorResponse::decode(&mut b, v).unwrap();
            resp.error_code
        }
        ApiKey::JoinGroup => {
            let resp = JoinGroupResponse::decode(&mut b, v).unwrap();
            // v4+ first hands out a member id (MEMBER_ID_REQUIRED), as Kafka does.
            match (v >= 4, resp.error_code) {
                (true, 79) => 0,
                (_, code) => code,
            }
        }
        // The samples name a member that does not exist: UNKNOWN_MEMBER_ID.
        ApiKey::SyncGroup => {
            unknown_member(SyncGroupResponse::decode(&mut b, v).unwrap().error_code)
        }
        ApiKey::Heartbeat => {
            unknown_member(HeartbeatResponse::decode(&mut b, v).unwrap().error_code)
        }
        ApiKey::LeaveGroup => {
            let resp = LeaveGroupResponse::decode(&mut b, v).unwrap();
            unknown_member(if v >= 3 {
                resp.members[0].error_code
            } else {
                resp.error_code
            })
        }
        ApiKey::OffsetCommit => {
            let resp = OffsetCommitResponse::decode(&mut b, v).unwrap();
            resp.topics[0].partitions[0].error_code
        }
        ApiKey::OffsetFetch => {
            let resp = OffsetFetchResponse::decode(&mut b, v).unwrap();
            let p = &resp.topics[0].partitions[0];
            assert_eq!(p.committed_offset, 1, "the sample commit is read back");
            p.error_code
        }
        ApiKey::DescribeGroups => {
            let resp = DescribeGroupsResponse::decode(&mut b, v).unwrap();
            let group = &resp.groups[0];
            assert_eq!(group.group_id.0.as_str(), "sample-group");
            assert!(
                !group.group_state.is_empty(),
                "DescribeGroups v{v} names a state"
            );
            group.error_code
        }
        ApiKey::ListGroups => ListGroupsResponse::decode(&mut b, v).unwrap().error_code,
        ApiKey::DescribeCluster => {
            let resp = DescribeClusterResponse::decode(&mut b, v).unwrap();
            assert_eq!(resp.brokers.len(), 1, "DescribeCluster v{v} brokers");
            assert_eq!(
                resp.controller_id, resp.brokers[0].broker_id,
                "a quorum of one"
            );
            assert_eq!(resp.cluster_id.len(), 22, "DescribeCluster v{v} cluster id");
            resp.error_code
        }
        // The samples name a group that never existed: GROUP_ID_NOT_FOUND.
        ApiKey::DeleteGroups => {
            match DeleteGroupsResponse::decode(&mut b, v).unwrap().results[0].error_code {
                69 => 0,
                code => code,
            }
        }
        ApiKey::OffsetDelete => match OffsetDeleteResponse::decode(&mut b, v).unwrap().error_code {
            69 => 0,
            code => code,
        },
        ApiKey::DescribeConfigs => {
            let resp = DescribeConfigsResponse::decode(&mut b, v).unwrap();
            assert!(
                resp.results[0]
                    .configs
                    .iter()
                    .any(|c| c.name.as_str() == "retention.ms")
            );
            resp.results[0].error_code
        }
        ApiKey::InitProducerId => {
            let resp = InitProducerIdResponse::decode(&mut b, v).unwrap();
            assert!(
                resp.producer_id.0 >= 0,
                "InitProducerId v{v} hands out an id"
            );
            assert_eq!(resp.producer_epoch, 0);
            resp.error_code
        }
        // Each version's sample grows the sample topic by one partition.
        ApiKey::CreatePartitions => {
            let resp = CreatePartitionsResponse::decode(&mut b, v).unwrap();
            assert_eq!(resp.results[0].name.0.as_str(), SAMPLE_TOPIC);
            resp.results[0].error_code
        }
        ApiKey::AlterConfigs => {
            let resp = AlterConfigsResponse::decode(&mut b, v).unwrap();
            assert_eq!(resp.responses[0].resource_name.as_str(), SAMPLE_TOPIC);
            resp.responses[0].error_code
        }
        ApiKey::IncrementalAlterConfigs => {
            let resp = IncrementalAlterConfigsResponse::decode(&mut b, v).unwrap();
            assert_eq!(resp.responses[0].resource_name.as_str(), SAMPLE_TOPIC);
            resp.responses[0].error_code
        }
        // The samples ask for the end of epoch 0, the only and latest one: the log
        // end offset, past the records the Produce samples wrote.
        ApiKey::OffsetForLeaderEpoch => {
            let p = if v < 2 {
                legacy_epoch_end_offset(&mut b, v)
            } else {
                let resp = OffsetForLeaderEpochResponse::decode(&mut b, v).unwrap();
                assert_eq!(resp.topics[0].topic.0.as_str(), SAMPLE_TOPIC);
                resp.topics[0].partitions[0].clone()
            };
            assert_eq!(p.partition, 0);
            if v >= 1 {
                assert_eq!(p.leader_epoch, 0, "OffsetForLeaderEpoch v{v} epoch");
            }
            assert!(p.end_offset > 0, "OffsetForLeaderEpoch v{v}: {p:?}");
            p.error_code
        }
        // The samples delete below offset 0: nothing, the low watermark stays 0.
        ApiKey::DeleteRecords => {
            let resp = DeleteRecordsResponse::decode(&mut b, v).unwrap();
            let p = &resp.topics[0].partitions[0];
            assert_eq!(p.low_watermark, 0, "DeleteRecords v{v} low watermark");
            p.error_code
        }
        // A preferred election of every partition: each is led by its only
        // (preferred) replica, so none needs one and none is listed.
        ApiKey::ElectLeaders => {
            let resp = ElectLeadersResponse::decode(&mut b, v).unwrap();
            assert!(resp.replica_election_results.is_empty(), "{resp:?}");
            resp.error_code
        }
        // An empty reassignment; no reassignment in progress.
        ApiKey::AlterPartitionReassignments => {
            let resp = AlterPartitionReassignmentsResponse::decode(&mut b, v).unwrap();
            assert!(resp.responses.is_empty(), "{resp:?}");
            resp.error_code
        }
        ApiKey::ListPartitionReassignments => {
            let resp = ListPartitionReassignmentsResponse::decode(&mut b, v).unwrap();
            assert!(resp.topics.is_empty(), "{resp:?}");
            resp.error_code
        }
        // The samples name a transactional id no producer initialised: before
        // `__transaction_state` exists no broker coordinates it
        // (NOT_COORDINATOR), after, its producer id maps to nothing.
        ApiKey::AddPartitionsToTxn => {
            let resp = AddPartitionsToTxnResponse::decode(&mut b, v).unwrap();
            let topics = if v <= 3 {
                resp.results_by_topic_v3_and_below
            } else {
                assert_eq!(resp.results_by_transaction.len(), 1);
                resp.results_by_transaction[0].topic_results.clone()
            };
            let p = &topics[0].results_by_partition[0];
            assert_eq!(p.partition_index, 0);
            uninitialised_txn(p.partition_error_code)
        }
        ApiKey::EndTxn => uninitialised_txn(EndTxnResponse::decode(&mut b, v).unwrap().error_code),
        ApiKey::AddOffsetsToTxn => uninitialised_txn(
            AddOffsetsToTxnResponse::decode(&mut b, v)
                .unwrap()
                .error_code,
        ),
        ApiKey::DescribeProducers => {
            let resp = DescribeProducersResponse::decode(&mut b, v).unwrap();
            assert_eq!(resp.topics[0].name.0.as_str(), SAMPLE_TOPIC);
            resp.topics[0].partitions[0].error_code
        }
        // An id no producer initialised: not coordinated here before
        // `__transaction_state` exists, unknown after.
        ApiKey::DescribeTransactions => {
            let resp = DescribeTransactionsResponse::decode(&mut b, v).unwrap();
            match resp.transaction_states[0].error_code {
                16 | 105 => 0,
                code => code,
            }
        }
        ApiKey::ListTransactions => {
            ListTransactionsResponse::decode(&mut b, v)
                .unwrap()
                .error_code
        }
        // The group coordinator takes the offsets into the (sample)
        // producer's transaction; they count if its marker ever commits.
        ApiKey::TxnOffsetCommit => {
            let resp = TxnOffsetCommitResponse::decode(&mut b, v).unwrap();
            let topic = &resp.topics[0];
            assert_eq!(topic.name.0.as_str(), SAMPLE_TOPIC);
            topic.partitions[0].error_code
        }
        // The sample marks partition 0 of the sample topic, which this broker
        // leads: the marker is written.
        ApiKey::WriteTxnMarkers => {
            let resp = WriteTxnMarkersResponse::decode(&mut b, v).unwrap();
            let topic = &resp.markers[0].topics[0];
            assert_eq!(topic.name.0.as_str(), SAMPLE_TOPIC);
            topic.partitions[0].error_code
        }
    };
    assert_eq!(error_code, 0, "{key:?} v{v}");
}

/// NOT_COORDINATOR or INVALID_PRODUCER_ID_MAPPING, the answers to a
/// transactional id no producer initialised, count as the right answer.
fn uninitialised_txn(code: i16) -> i16 {
    match code {
        16 | 49 => 0,
        code => code,
    }
}

/// Waits (bounded) until the offsets topic is online and groups can be served.
async fn wait_for_coordinator(client: &mut Client) {
    for _ in 0..200 {
        client.correlation_id += 1;
        let frame = sample_request(ApiKey::FindCoordinator, 0, client.correlation_id);
        let mut b = client
            .roundtrip(frame, ApiKey::FindCoordinator as i16, 0)
            .await
            .unwrap();
        if FindCoordinatorResponse::decode(&mut b, 0)
            .unwrap()
            .error_code
            == 0
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the group coordinator never came up");
}

/// UNKNOWN_MEMBER_ID is the right answer for the samples' made-up member.
fn unknown_member(code: i16) -> i16 {
    if code == 25 { 0 } else { code }
}

/// The error code of a Produce v0–2 response (kafka-protocol cannot decode them).
fn legacy_produce_error(body: &mut Bytes, v: i16) -> i16 {
    assert_eq!(body.get_i32(), 1);
    let len = body.get_i16() as usize;
    body.advance(len);
    assert_eq!(body.get_i32(), 1);
    assert_eq!(body.get_i32(), 0, "partition index");
    let error_code = body.get_i16();
    assert!(body.get_i64() >= 0);
    let tail = if v >= 2 {
        12
    } else if v == 1 {
        4
    } else {
        0
    };
    assert_eq!(body.remaining(), tail, "Produce v{v} response length");
    error_code
}

/// The one partition of an OffsetForLeaderEpoch v0–1 response (kafka-protocol
/// cannot decode them; v0 has no leader epoch).
fn legacy_epoch_end_offset(
    body: &mut Bytes,
    v: i16,
) -> offset_for_leader_epoch_response::EpochEndOffset {
    assert_eq!(body.get_i32(), 1, "one topic");
    let len = body.get_i16() as usize;
    assert_eq!(&body[..len], SAMPLE_TOPIC.as_bytes());
    body.advance(len);
    assert_eq!(body.get_i32(), 1, "one partition");
    let error_code = body.get_i16();
    let partition = body.get_i32();
    let leader_epoch = if v >= 1 { body.get_i32() } else { -1 };
    let end_offset = body.get_i64();
    assert_eq!(
        body.remaining(),
        0,
        "OffsetForLeaderEpoch v{v} response length"
    );
    offset_for_leader_epoch_response::EpochEndOffset::default()
        .with_error_code(error_code)
        .with_partition(partition)
        .with_leader_epoch(leader_epoch)
        .with_end_offset(end_offset)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_advertised_version_is_answered() {
    let (broker, _dir) = start_broker().await;
    let mut client = Client::connect(broker.listen_addrs()[0]).await;
    wait_for_coordinator(&mut client).await;
    // Create the topic (auto-creation) and give it a record first.
    check_api(&mut client, ApiKey::Metadata, 4).await;
    check_api(&mut client, ApiKey::Produce, 3).await;
    for spec in SUPPORTED_APIS {
        for v in spec.range.min..=spec.range.max {
            check_api(&mut client, spec.key, v).await;
        }
    }
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_above_each_maximum_is_unsupported_version() {
    let (broker, _dir) = start_broker().await;
    for spec in SUPPORTED_APIS {
        let mut client = Client::connect(broker.listen_addrs()[0]).await;
        let v = spec.range.max + 1;
        client.correlation_id += 1;
        let mut buf = BytesMut::new();
        buf.put_i16(spec.key as i16);
        buf.put_i16(v);
        buf.put_i32(client.correlation_id);
        buf.put_i16(-1);
        // Whatever the body, the version is refused before it is read.
        buf.put_slice(&[0u8; 16]);
        let mut framed = BytesMut::new();
        framed.put_i32(buf.len() as i32);
        framed.put_slice(&buf);
        client.stream.write_all(&framed).await.unwrap();
        let mut prefix = [0u8; 4];
        client.stream.read_exact(&mut prefix).await.unwrap();
        let mut body = vec![0u8; i32::from_be_bytes(prefix) as usize];
        client.stream.read_exact(&mut body).await.unwrap();
        let mut body = Bytes::from(body);
        assert_eq!(body.get_i32(), client.correlation_id);
        if spec.key == ApiKey::ApiVersions {
            let resp = ApiVersionsResponse::decode(&mut body.clone(), 0).unwrap();
            assert_eq!(resp.api_keys.len(), SUPPORTED_APIS.len());
        }
        assert_eq!(
            body.get_i16(),
            35,
            "{:?} v{v}: UNSUPPORTED_VERSION",
            spec.key
        );
    }
    broker.shutdown().await;
}
