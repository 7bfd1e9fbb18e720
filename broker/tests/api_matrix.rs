//! Every advertised (api, version) gets a well-formed answer from a real broker,
//! and one version above each maximum gets UNSUPPORTED_VERSION.
//!
//! Requests are encoded with kafka-protocol (sound encoders); responses are decoded
//! with it too — they are our own broker's output, not hostile input.

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use weir_broker::broker::Broker;
use weir_broker::config::BrokerConfig;
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

    /// Sends a request encoded by kafka-protocol; returns the response body after
    /// the header (None if the broker closed the connection).
    async fn send<R: Encodable + HeaderVersion>(
        &mut self,
        key: i16,
        version: i16,
        body: &R,
    ) -> Option<Bytes> {
        self.correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(key)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("api-matrix")));
        let mut buf = BytesMut::new();
        header.encode(&mut buf, R::header_version(version)).unwrap();
        body.encode(&mut buf, version).unwrap();
        self.roundtrip(buf.freeze(), key, version).await
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

fn topic_name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_owned()))
}

/// A valid one-record v2 batch.
fn batch() -> Bytes {
    weir_client::protocol::records::testing::build_batch(
        &[(Some(b"k"), Some(b"v"))],
        1_700_000_000_000,
    )
}

async fn check_api(client: &mut Client, key: ApiKey, v: i16) {
    let k = key as i16;
    let body = match key {
        ApiKey::ApiVersions => {
            let r = ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_static_str("matrix"))
                .with_client_software_version(StrBytes::from_static_str("1"));
            let mut b = client.send(k, v, &r).await.unwrap();
            let resp = ApiVersionsResponse::decode(&mut b, v).unwrap();
            assert_eq!(resp.error_code, 0);
            assert_eq!(resp.api_keys.len(), SUPPORTED_APIS.len());
            return;
        }
        ApiKey::Metadata => {
            let topics = if v == 0 {
                Some(vec![])
            } else {
                Some(vec![
                    metadata_request::MetadataRequestTopic::default()
                        .with_name(Some(topic_name("matrix"))),
                ])
            };
            let r = MetadataRequest::default()
                .with_topics(topics)
                .with_allow_auto_topic_creation(true);
            let mut b = client.send(k, v, &r).await.unwrap();
            let resp = MetadataResponse::decode(&mut b, v).unwrap();
            assert_eq!(resp.brokers.len(), 1);
            let t = resp
                .topics
                .iter()
                .find(|t| t.name.as_ref().map(|n| n.0.as_str()) == Some("matrix"));
            assert_eq!(
                t.map(|t| t.error_code),
                Some(0),
                "matrix topic in Metadata v{v}"
            );
            return;
        }
        ApiKey::Produce if v < 3 => return check_legacy_produce(client, v).await,
        ApiKey::Produce => {
            let partition = produce_request::PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch()));
            let topic = produce_request::TopicProduceData::default()
                .with_name(topic_name("matrix"))
                .with_partition_data(vec![partition]);
            let r = ProduceRequest::default()
                .with_acks(-1)
                .with_timeout_ms(5000)
                .with_topic_data(vec![topic]);
            let mut b = client.send(k, v, &r).await.unwrap();
            let resp = ProduceResponse::decode(&mut b, v).unwrap();
            assert_eq!(
                resp.responses[0].partition_responses[0].error_code, 0,
                "Produce v{v}"
            );
            return;
        }
        ApiKey::Fetch => {
            let p = fetch_request::FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20);
            let t = fetch_request::FetchTopic::default()
                .with_topic(topic_name("matrix"))
                .with_partitions(vec![p]);
            let r = FetchRequest::default()
                .with_max_wait_ms(10)
                .with_min_bytes(1)
                .with_max_bytes(1 << 20)
                .with_topics(vec![t])
                .with_replica_id(BrokerId(-1));
            let mut b = client.send(k, v, &r).await.unwrap();
            let resp = FetchResponse::decode(&mut b, v).unwrap();
            let p = &resp.responses[0].partitions[0];
            assert_eq!(p.error_code, 0, "Fetch v{v}");
            assert!(
                !p.records.as_ref().unwrap().is_empty(),
                "Fetch v{v} returns the batch"
            );
            return;
        }
        ApiKey::ListOffsets => {
            let p = list_offsets_request::ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(-1);
            let t = list_offsets_request::ListOffsetsTopic::default()
                .with_name(topic_name("matrix"))
                .with_partitions(vec![p]);
            let r = ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_topics(vec![t]);
            let mut b = client.send(k, v, &r).await.unwrap();
            let resp = ListOffsetsResponse::decode(&mut b, v).unwrap();
            let p = &resp.topics[0].partitions[0];
            assert_eq!((p.error_code, p.offset > 0), (0, true), "ListOffsets v{v}");
            return;
        }
        ApiKey::CreateTopics => {
            let name = format!("created-v{v}");
            let t = create_topics_request::CreatableTopic::default()
                .with_name(topic_name(&name))
                .with_num_partitions(2)
                .with_replication_factor(1);
            let r = CreateTopicsRequest::default()
                .with_topics(vec![t])
                .with_timeout_ms(5000);
            let mut b = client.send(k, v, &r).await.unwrap();
            CreateTopicsResponse::decode(&mut b, v).unwrap().topics[0].error_code
        }
        ApiKey::DeleteTopics => {
            let name = format!("created-v{}", 2);
            let r = if v >= 6 {
                DeleteTopicsRequest::default().with_topics(vec![
                    delete_topics_request::DeleteTopicState::default()
                        .with_name(Some(topic_name(&name))),
                ])
            } else {
                DeleteTopicsRequest::default().with_topic_names(vec![topic_name(&name)])
            };
            let mut b = client.send(k, v, &r.with_timeout_ms(5000)).await.unwrap();
            let code = DeleteTopicsResponse::decode(&mut b, v).unwrap().responses[0].error_code;
            // The first version deletes it; later ones find it gone.
            assert!(code == 0 || code == 3, "DeleteTopics v{v}: {code}");
            return;
        }
        ApiKey::DescribeConfigs => {
            let res = describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str("matrix"))
                .with_configuration_keys(None);
            let r = DescribeConfigsRequest::default().with_resources(vec![res]);
            let mut b = client.send(k, v, &r).await.unwrap();
            let resp = DescribeConfigsResponse::decode(&mut b, v).unwrap();
            assert_eq!(resp.results[0].error_code, 0);
            assert!(
                resp.results[0]
                    .configs
                    .iter()
                    .any(|c| c.name.as_str() == "retention.ms")
            );
            return;
        }
    };
    assert!(body == 0 || body == 36, "{key:?} v{v} error {body}");
}

/// Produce v0–2 by hand (kafka-protocol 0.18 cannot encode them).
async fn check_legacy_produce(client: &mut Client, v: i16) {
    client.correlation_id += 1;
    let mut buf = BytesMut::new();
    buf.put_i16(0);
    buf.put_i16(v);
    buf.put_i32(client.correlation_id);
    buf.put_i16(-1);
    buf.put_i16(1); // acks
    buf.put_i32(5000);
    buf.put_i32(1);
    buf.put_i16(6);
    buf.put_slice(b"matrix");
    buf.put_i32(1);
    buf.put_i32(0);
    let records = batch();
    buf.put_i32(records.len() as i32);
    buf.put_slice(&records);
    let mut body = client.roundtrip(buf.freeze(), 0, v).await.unwrap();
    assert_eq!(body.get_i32(), 1);
    let len = body.get_i16() as usize;
    body.advance(len);
    assert_eq!(body.get_i32(), 1);
    assert_eq!(body.get_i32(), 0, "partition index");
    assert_eq!(body.get_i16(), 0, "Produce v{v} error code");
    assert!(body.get_i64() >= 0);
    let tail = if v >= 2 {
        12
    } else if v == 1 {
        4
    } else {
        0
    };
    assert_eq!(body.remaining(), tail, "Produce v{v} response length");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_advertised_version_is_answered() {
    let (broker, _dir) = start_broker().await;
    let mut client = Client::connect(broker.listen_addrs()[0]).await;
    // Create the topic first so every API has something to work on.
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
