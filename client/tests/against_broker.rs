//! weir-client against the release broker over TCP: every compression codec
//! round trips, and the idempotent producer keeps the log free of duplicates
//! while a proxy keeps cutting its connections and swallowing answers.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use weir_client::admin::{Admin, NewTopic};
use weir_client::cluster::ClientConfig;
use weir_client::consumer::{Consumer, ConsumerConfig, ConsumerRecord, Offset};
use weir_client::producer::{Producer, ProducerConfig, ProducerRecord};
use weir_client::protocol::compression::Compression;

use support::{BrokerProcess, free_port};

async fn create_topic(bootstrap: &str, name: &str, partitions: i32) {
    let admin = Admin::new(ClientConfig::new(bootstrap)).unwrap();
    for r in admin
        .create_topics(&[NewTopic::new(name, partitions)], false)
        .await
        .unwrap()
    {
        r.unwrap();
    }
}

/// Reads every partition of `topic` from the beginning until `count` records
/// arrived (bounded by `timeout`).
async fn read_all(
    bootstrap: &str,
    topic: &str,
    count: usize,
    timeout: Duration,
) -> Vec<ConsumerRecord> {
    let mut consumer = Consumer::new(ConsumerConfig::new(bootstrap)).unwrap();
    consumer
        .assign_topic(topic, Offset::Beginning)
        .await
        .unwrap();
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    while out.len() < count && Instant::now() < deadline {
        out.extend(
            consumer
                .poll(10_000, Duration::from_millis(200))
                .await
                .unwrap(),
        );
    }
    // Anything beyond `count` is a duplicate the caller should see.
    out.extend(
        consumer
            .poll(10_000, Duration::from_millis(300))
            .await
            .unwrap(),
    );
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_codec_round_trips_keys_values_and_headers() {
    let broker = BrokerProcess::start(&[]);
    let bootstrap = broker.bootstrap();
    for codec in Compression::ALL {
        let topic = format!("codec-{codec}");
        create_topic(&bootstrap, &topic, 2).await;
        let mut config = ProducerConfig::new(&bootstrap);
        config.compression = codec;
        config.batch_size = 64 << 10;
        let producer = Producer::new(config).await.unwrap();
        let mut futures = Vec::new();
        for i in 0..3_000u32 {
            let mut record = ProducerRecord::new(
                &topic,
                format!("value-{i}-{}", "x".repeat((i % 300) as usize)),
            )
            .key(format!("key-{}", i % 50));
            if i % 3 == 0 {
                record = record.header("n", i.to_string());
            }
            futures.push(producer.send(record).await.unwrap());
        }
        producer.flush(Duration::from_secs(30)).await.unwrap();
        let mut acked = BTreeMap::new();
        for (i, f) in futures.into_iter().enumerate() {
            let meta = f.await.unwrap();
            acked.insert((meta.partition, meta.offset), i as u32);
        }
        assert_eq!(acked.len(), 3_000, "{codec}: distinct offsets");
        let records = read_all(&bootstrap, &topic, 3_000, Duration::from_secs(30)).await;
        assert_eq!(records.len(), 3_000, "{codec}");
        for r in &records {
            let i = acked[&(r.partition, r.offset)];
            let value = format!("value-{i}-{}", "x".repeat((i % 300) as usize));
            assert_eq!(r.value.as_deref(), Some(value.as_bytes()), "{codec}");
            assert_eq!(r.key.as_deref(), Some(format!("key-{}", i % 50).as_bytes()));
            let header = (i % 3 == 0).then(|| i.to_string());
            assert_eq!(
                r.header("n"),
                header.as_deref().map(str::as_bytes),
                "{codec}"
            );
        }
    }
}

/// Forwards to the broker; while `cutting`, every `swallow_every`th answer
/// chunk is dropped together with the connection (the request was served, the
/// client never hears), a bounded number of times.
struct CuttingProxy {
    cutting: Arc<AtomicBool>,
    swallowed: Arc<AtomicU64>,
    connections: Arc<AtomicU64>,
    /// While set, new connections are closed at once (set by the proxy itself
    /// when it swallows an answer with `hold_after_swallow`).
    hold: Arc<AtomicBool>,
}

impl CuttingProxy {
    async fn start(port: u16, target: u16, swallow_every: u64, max_swallowed: u64) -> Self {
        Self::start_with(port, target, swallow_every, max_swallowed, false).await
    }

    async fn start_with(
        port: u16,
        target: u16,
        swallow_every: u64,
        max_swallowed: u64,
        hold_after_swallow: bool,
    ) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let proxy = Self {
            cutting: Arc::new(AtomicBool::new(false)),
            swallowed: Arc::new(AtomicU64::new(0)),
            connections: Arc::new(AtomicU64::new(0)),
            hold: Arc::new(AtomicBool::new(false)),
        };
        let (cutting, swallowed, connections, hold) = (
            proxy.cutting.clone(),
            proxy.swallowed.clone(),
            proxy.connections.clone(),
            proxy.hold.clone(),
        );
        let chunks = Arc::new(AtomicU64::new(0));
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if hold.load(Ordering::Relaxed) {
                    continue; // dropped: closed at once
                }
                let Ok(upstream) = TcpStream::connect(("127.0.0.1", target)).await else {
                    continue;
                };
                connections.fetch_add(1, Ordering::Relaxed);
                let (mut cr, mut cw) = client.into_split();
                let (mut ur, mut uw) = upstream.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut cr, &mut uw).await;
                });
                let (cutting, swallowed, chunks, hold) = (
                    cutting.clone(),
                    swallowed.clone(),
                    chunks.clone(),
                    hold.clone(),
                );
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match ur.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if cutting.load(Ordering::Relaxed)
                            && swallowed.load(Ordering::Relaxed) < max_swallowed
                            && chunks.fetch_add(1, Ordering::Relaxed) % swallow_every
                                == swallow_every - 1
                        {
                            if hold_after_swallow {
                                hold.store(true, Ordering::Relaxed);
                            }
                            swallowed.fetch_add(1, Ordering::Relaxed);
                            break; // drops both halves: the connection dies unanswered
                        }
                        if cw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        proxy
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_idempotence_the_same_cuts_do_write_duplicates() {
    // The control for the test below: it shows the proxy really makes retries
    // of appended batches, which only sequence numbers can recognise.
    let proxy_port = free_port();
    let broker = BrokerProcess::start(&["--advertised-port", &proxy_port.to_string()]);
    let proxy = CuttingProxy::start(proxy_port, broker.port, 7, 25).await;
    create_topic(&broker.bootstrap(), "plain", 1).await;
    let mut config = ProducerConfig::new(&format!("127.0.0.1:{proxy_port}"));
    config.idempotence = false;
    config.acks = 1;
    config.linger = Duration::from_millis(2);
    config.batch_size = 16 << 10;
    config.retry_backoff = Duration::from_millis(20);
    let producer = Producer::new(config).await.unwrap();
    proxy.cutting.store(true, Ordering::Relaxed);
    for i in 0..5_000u32 {
        drop(
            producer
                .send(ProducerRecord::new("plain", format!("v{i:06}")))
                .await
                .unwrap(),
        );
        if i % 250 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    producer.flush(Duration::from_secs(60)).await.unwrap();
    proxy.cutting.store(false, Ordering::Relaxed);
    assert!(producer.retries() >= 1);
    let records = read_all(&broker.bootstrap(), "plain", 5_000, Duration::from_secs(30)).await;
    assert!(
        records.len() > 5_000,
        "retried batches were written twice ({} records)",
        records.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_producer_retries_through_cut_connections_without_duplicates() {
    // The broker advertises the proxy, so every connection goes through it.
    let proxy_port = free_port();
    let broker = BrokerProcess::start(&["--advertised-port", &proxy_port.to_string()]);
    let proxy = CuttingProxy::start(proxy_port, broker.port, 7, 25).await;
    let via_proxy = format!("127.0.0.1:{proxy_port}");
    create_topic(&broker.bootstrap(), "idem", 3).await;

    let mut config = ProducerConfig::new(&via_proxy);
    config.linger = Duration::from_millis(2);
    config.batch_size = 16 << 10;
    config.retry_backoff = Duration::from_millis(20);
    config.client.request_timeout = Duration::from_secs(5);
    let producer = Producer::new(config).await.unwrap();
    proxy.cutting.store(true, Ordering::Relaxed);
    const RECORDS: u32 = 20_000;
    let mut futures = Vec::new();
    for i in 0..RECORDS {
        let record = ProducerRecord::new("idem", format!("v{i:06}")).key(format!("k{}", i % 31));
        futures.push(producer.send(record).await.unwrap());
        if i % 500 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    producer.flush(Duration::from_secs(120)).await.unwrap();
    proxy.cutting.store(false, Ordering::Relaxed);
    let mut acked: HashMap<(i32, i64), u32> = HashMap::new();
    for (i, f) in futures.into_iter().enumerate() {
        let meta = f.await.expect("every record is delivered in the end");
        assert!(
            acked
                .insert((meta.partition, meta.offset), i as u32)
                .is_none(),
            "one offset, two records"
        );
    }
    let swallowed = proxy.swallowed.load(Ordering::Relaxed);
    assert!(swallowed >= 3, "only {swallowed} answers were swallowed");
    assert!(
        producer.retries() >= 3,
        "only {} retries",
        producer.retries()
    );
    assert!(
        proxy.connections.load(Ordering::Relaxed) > 3,
        "the producer reconnected"
    );

    let records = read_all(
        &broker.bootstrap(),
        "idem",
        RECORDS as usize,
        Duration::from_secs(60),
    )
    .await;
    let mut seen: HashMap<Bytes, (i32, i64)> = HashMap::new();
    for r in &records {
        let value = r.value.clone().unwrap();
        assert!(
            seen.insert(value.clone(), (r.partition, r.offset))
                .is_none(),
            "duplicate {value:?}"
        );
    }
    assert_eq!(
        seen.len(),
        RECORDS as usize,
        "every acked record is in the log"
    );
    for ((partition, offset), i) in &acked {
        let value = Bytes::from(format!("v{i:06}"));
        assert_eq!(
            seen.get(&value),
            Some(&(*partition, *offset)),
            "record {i} where it was acked"
        );
    }
    // Per key (one partition), produce order is log order.
    let mut last: HashMap<Bytes, u32> = HashMap::new();
    let mut by_offset = records.clone();
    by_offset.sort_by_key(|r| (r.partition, r.offset));
    for r in by_offset {
        let i: u32 = std::str::from_utf8(&r.value.unwrap()[1..])
            .unwrap()
            .parse()
            .unwrap();
        if let Some(prev) = last.insert(r.key.clone().unwrap(), i) {
            assert!(prev < i, "key {:?}: {prev} then {i}", r.key);
        }
    }
}

/// One Produce request the scripted broker received: when, and the record
/// count of each batch in it.
#[derive(Debug, Clone)]
struct Arrival {
    at: Instant,
    batches: Vec<i32>,
}

/// A fake broker that answers ApiVersions, Metadata and Produce (with
/// `throttle_time_ms`), recording each Produce as it arrived.
async fn scripted_broker(throttle_ms: i32) -> (u16, Arc<parking_lot::Mutex<Vec<Arrival>>>) {
    use bytes::BufMut;
    use kafka_protocol::messages::api_versions_response::ApiVersion;
    use kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    use kafka_protocol::messages::produce_response::{
        PartitionProduceResponse, TopicProduceResponse,
    };
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let arrivals = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let log = arrivals.clone();
    tokio::spawn(async move {
        let Ok((mut s, _)) = listener.accept().await else {
            return;
        };
        let mut offset = 0i64;
        for _ in 0..100 {
            let Ok(len) = s.read_i32().await else { return };
            let mut frame = vec![0u8; len as usize];
            if s.read_exact(&mut frame).await.is_err() {
                return;
            }
            let api = i16::from_be_bytes([frame[0], frame[1]]);
            let correlation = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
            let mut body = bytes::BytesMut::new();
            let flexible_header = match api {
                18 => {
                    let keys = [(0, 9), (1, 12), (2, 6), (3, 12), (18, 3)].map(|(k, max)| {
                        ApiVersion::default()
                            .with_api_key(k)
                            .with_min_version(0)
                            .with_max_version(max)
                    });
                    ApiVersionsResponse::default()
                        .with_api_keys(keys.to_vec())
                        .encode(&mut body, 3)
                        .unwrap();
                    false
                }
                3 => {
                    MetadataResponse::default()
                        .with_brokers(vec![
                            MetadataResponseBroker::default()
                                .with_node_id(BrokerId(0))
                                .with_host(StrBytes::from_static_str("127.0.0.1"))
                                .with_port(i32::from(port)),
                        ])
                        .with_topics(vec![
                            MetadataResponseTopic::default()
                                .with_name(Some(TopicName(StrBytes::from_static_str("t"))))
                                .with_partitions(vec![
                                    MetadataResponsePartition::default()
                                        .with_partition_index(0)
                                        .with_leader_id(BrokerId(0)),
                                ]),
                        ])
                        .encode(&mut body, 12)
                        .unwrap();
                    true
                }
                0 => {
                    let at = Instant::now();
                    let client_id_len = i16::from_be_bytes([frame[8], frame[9]]) as usize;
                    let body_at = 10 + client_id_len + 1; // header v2: tagged fields
                    let mut reader =
                        weir_client::protocol::Reader::new(Bytes::from(frame[body_at..].to_vec()));
                    let request =
                        weir_client::protocol::requests::ProduceRequest::decode(&mut reader, 9)
                            .unwrap();
                    let records = request.topic_data[0].partition_data[0]
                        .records
                        .clone()
                        .unwrap();
                    let batches = weir_client::protocol::records::batches(&records)
                        .map(|b| b.unwrap().0.record_count())
                        .collect();
                    log.lock().push(Arrival { at, batches });
                    let count: i64 = log
                        .lock()
                        .last()
                        .unwrap()
                        .batches
                        .iter()
                        .map(|&c| i64::from(c))
                        .sum();
                    let p = PartitionProduceResponse::default()
                        .with_index(0)
                        .with_base_offset(offset);
                    offset += count;
                    ProduceResponse::default()
                        .with_throttle_time_ms(throttle_ms)
                        .with_responses(vec![
                            TopicProduceResponse::default()
                                .with_name(TopicName(StrBytes::from_static_str("t")))
                                .with_partition_responses(vec![p]),
                        ])
                        .encode(&mut body, 9)
                        .unwrap();
                    true
                }
                _ => return,
            };
            let mut out = bytes::BytesMut::new();
            out.put_i32((body.len() + 4 + usize::from(flexible_header)) as i32);
            out.put_i32(correlation);
            if flexible_header {
                out.put_u8(0);
            }
            out.put_slice(&body);
            if s.write_all(&out).await.is_err() {
                return;
            }
        }
    });
    (port, arrivals)
}

#[tokio::test]
async fn the_producer_waits_out_throttle_time_before_its_next_request() {
    let (port, arrivals) = scripted_broker(400).await;
    let mut config = ProducerConfig::new(&format!("127.0.0.1:{port}"));
    config.idempotence = false;
    config.acks = 1;
    config.linger = Duration::ZERO;
    let producer = Producer::new(config).await.unwrap();
    for i in 0..3 {
        let f = producer
            .send(ProducerRecord::new("t", format!("r{i}")))
            .await
            .unwrap();
        assert_eq!(f.await.unwrap().offset, i);
    }
    let at = arrivals.lock().clone();
    assert_eq!(at.len(), 3);
    for pair in at.windows(2) {
        let gap = pair[1].at.duration_since(pair[0].at);
        assert!(
            gap >= Duration::from_millis(390),
            "the next Produce came after {gap:?}"
        );
    }

    // Without throttling the requests follow each other at once.
    let (port, arrivals) = scripted_broker(0).await;
    let mut config = ProducerConfig::new(&format!("127.0.0.1:{port}"));
    config.idempotence = false;
    config.acks = 1;
    config.linger = Duration::ZERO;
    let producer = Producer::new(config).await.unwrap();
    for i in 0..3 {
        producer
            .send(ProducerRecord::new("t", format!("r{i}")))
            .await
            .unwrap()
            .await
            .unwrap();
    }
    assert_eq!(arrivals.lock().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seek_pause_resume_timestamps_and_header_filters() {
    use weir_client::consumer::HeaderFilter;
    let broker = BrokerProcess::start(&[]);
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "moves", 1).await;
    let producer = Producer::new(ProducerConfig::new(&bootstrap))
        .await
        .unwrap();
    let records = (0..100i64).map(|i| ProducerRecord {
        topic: "moves".into(),
        value: Some(Bytes::from(format!("r{i}"))),
        headers: vec![(
            "kind".into(),
            Some(Bytes::from(if i % 2 == 0 { "even" } else { "odd" })),
        )],
        timestamp_ms: Some(1_000_000 + i * 10),
        ..Default::default()
    });
    for f in producer.send_batch(records).await.unwrap() {
        f.await.unwrap();
    }
    let mut consumer = Consumer::new(ConsumerConfig::new(&bootstrap)).unwrap();
    consumer
        .assign(vec![("moves".into(), 0, Offset::Beginning)])
        .await
        .unwrap();
    let first = consumer.poll(10, Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        first.iter().map(|r| r.offset).collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );
    assert_eq!(consumer.position("moves", 0), Some(10));

    consumer.seek("moves", 0, Offset::At(50)).await.unwrap();
    let after_seek = consumer.poll(5, Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        after_seek[0].offset, 50,
        "a seek drops what was fetched before it"
    );

    // Timestamps 1_000_000 + 10 i: the first at or after 1_000_305 is offset 31.
    consumer
        .seek("moves", 0, Offset::Timestamp(1_000_305))
        .await
        .unwrap();
    assert_eq!(
        consumer.poll(1, Duration::from_secs(10)).await.unwrap()[0].offset,
        31
    );

    consumer.pause(&[("moves".into(), 0)]);
    assert!(
        consumer
            .poll(100, Duration::from_millis(600))
            .await
            .unwrap()
            .is_empty(),
        "paused"
    );
    consumer.resume(&[("moves".into(), 0)]);
    let resumed = consumer.poll(1, Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        resumed[0].offset, 32,
        "resume continues where the application was"
    );

    consumer.seek("moves", 0, Offset::Beginning).await.unwrap();
    consumer.set_header_filter(Some(HeaderFilter {
        key: "kind".into(),
        value: Some(Bytes::from_static(b"odd")),
    }));
    let mut odd = consumer.poll(1, Duration::from_secs(10)).await.unwrap();
    assert_eq!(odd[0].offset, 1);
    assert_eq!(
        consumer.position("moves", 0),
        Some(2),
        "the position stops after what was handed over, not past passing records still buffered"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while odd.len() < 50 && Instant::now() < deadline {
        odd.extend(
            consumer
                .poll(100, Duration::from_millis(200))
                .await
                .unwrap(),
        );
    }
    assert_eq!(
        odd.iter().map(|r| r.offset).collect::<Vec<_>>(),
        (1..100).step_by(2).collect::<Vec<_>>()
    );
    assert_eq!(
        consumer.position("moves", 0),
        Some(100),
        "skipped records still move the position"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_kill_9_meets_producer_state_rebuilt_from_the_log() {
    // The proxy swallows the answer to an appended (fsynced) batch and holds
    // the producer off; the broker is killed and restarted; the retry then
    // reaches a broker that knows the batch only from its log.
    let proxy_port = free_port();
    let mut broker = BrokerProcess::start(&[
        "--fsync",
        "always",
        "--advertised-port",
        &proxy_port.to_string(),
    ]);
    let proxy = CuttingProxy::start_with(proxy_port, broker.port, 1, 1, true).await;
    create_topic(&broker.bootstrap(), "survive", 1).await;
    let mut config = ProducerConfig::new(&format!("127.0.0.1:{proxy_port}"));
    config.linger = Duration::from_millis(20);
    config.retry_backoff = Duration::from_millis(100);
    config.client.request_timeout = Duration::from_secs(5);
    let producer = Producer::new(config).await.unwrap();
    let first: Vec<_> = producer
        .send_batch((0..100).map(|i| ProducerRecord::new("survive", format!("a{i:03}"))))
        .await
        .unwrap();
    producer.flush(Duration::from_secs(10)).await.unwrap();
    proxy.cutting.store(true, Ordering::Relaxed);
    let second: Vec<_> = producer
        .send_batch((0..100).map(|i| ProducerRecord::new("survive", format!("b{i:03}"))))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while proxy.swallowed.load(Ordering::Relaxed) == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        proxy.swallowed.load(Ordering::Relaxed),
        1,
        "the second batch's answer was swallowed"
    );
    broker.kill_and_restart();
    proxy.hold.store(false, Ordering::Relaxed);
    producer.flush(Duration::from_secs(60)).await.unwrap();
    let mut offsets = Vec::new();
    for f in first.into_iter().chain(second) {
        offsets.push(f.await.expect("delivered").offset);
    }
    assert_eq!(
        offsets,
        (0..200).collect::<Vec<_>>(),
        "the retry got its original offsets"
    );
    assert!(producer.retries() >= 1);
    let records = read_all(&broker.bootstrap(), "survive", 200, Duration::from_secs(30)).await;
    let values: Vec<_> = records.iter().map(|r| r.value.clone().unwrap()).collect();
    let expected: Vec<Bytes> = (0..100)
        .map(|i| Bytes::from(format!("a{i:03}")))
        .chain((0..100).map(|i| Bytes::from(format!("b{i:03}"))))
        .collect();
    assert_eq!(values, expected, "written once, in order");
}

#[tokio::test]
async fn records_wait_for_linger_and_batches_seal_at_batch_size() {
    let (port, arrivals) = scripted_broker(0).await;
    let mut config = ProducerConfig::new(&format!("127.0.0.1:{port}"));
    config.idempotence = false;
    config.acks = 1;
    config.linger = Duration::from_millis(300);
    config.batch_size = 1 << 20;
    let producer = Producer::new(config).await.unwrap();
    // Three records sent at once wait out the linger together: one batch.
    let sent = Instant::now();
    let futures = producer
        .send_batch((0..3).map(|i| ProducerRecord::new("t", format!("r{i}"))))
        .await
        .unwrap();
    let mut offsets = Vec::new();
    for f in futures {
        offsets.push(f.await.unwrap().offset);
    }
    assert_eq!(
        offsets,
        vec![0, 1, 2],
        "one batch: consecutive offsets from its base"
    );
    let first = arrivals.lock()[0].clone();
    assert_eq!(first.batches, vec![3]);
    assert!(
        first.at.duration_since(sent) >= Duration::from_millis(290),
        "linger waited"
    );

    // A small batch.size seals batches without waiting for the linger.
    let (port, arrivals) = scripted_broker(0).await;
    let mut config = ProducerConfig::new(&format!("127.0.0.1:{port}"));
    config.idempotence = false;
    config.acks = 1;
    config.linger = Duration::from_secs(30);
    config.batch_size = 1_000;
    let producer = Producer::new(config).await.unwrap();
    let futures = producer
        .send_batch((0..40).map(|i| ProducerRecord::new("t", format!("{i:0>90}"))))
        .await
        .unwrap();
    // The records of full batches are delivered long before the 30 s linger.
    let full =
        tokio::time::timeout(Duration::from_secs(10), futures.into_iter().next().unwrap()).await;
    assert!(full.is_ok(), "a full batch does not linger");
    let counts: Vec<i32> = arrivals
        .lock()
        .iter()
        .flat_map(|a| a.batches.clone())
        .collect();
    assert!(
        counts.iter().all(|&c| c <= 9),
        "about 1000 bytes per batch: {counts:?}"
    );
    producer.flush(Duration::from_secs(10)).await.unwrap();
    let counts: Vec<i32> = arrivals
        .lock()
        .iter()
        .flat_map(|a| a.batches.clone())
        .collect();
    assert_eq!(
        counts.iter().sum::<i32>(),
        40,
        "flush sends the last, partial batch: {counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_batches_expire_the_producer_continues_as_a_new_producer_id() {
    // Batches that expired while the broker was down leave a sequence gap the
    // broker would refuse forever (OUT_OF_ORDER_SEQUENCE_NUMBER); the producer
    // takes a new id and the records after the outage get in.
    let mut broker = BrokerProcess::start(&[]);
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "outage", 1).await;
    let mut config = ProducerConfig::new(&bootstrap);
    config.linger = Duration::from_millis(5);
    config.retry_backoff = Duration::from_millis(50);
    config.delivery_timeout = Duration::from_millis(1_500);
    config.client.request_timeout = Duration::from_secs(1);
    let producer = Producer::new(config).await.unwrap();
    let first_id = producer.producer_id().unwrap();
    let before = producer
        .send(ProducerRecord::new("outage", "before"))
        .await
        .unwrap();
    assert_eq!(before.await.unwrap().offset, 0);
    broker.kill();
    let lost: Vec<_> = producer
        .send_batch((0..20).map(|i| ProducerRecord::new("outage", format!("lost-{i}"))))
        .await
        .unwrap();
    for f in lost {
        assert!(matches!(
            f.await,
            Err(weir_client::error::ClientError::Timeout(_))
        ));
    }
    broker.kill_and_restart();
    let after: Vec<_> = producer
        .send_batch((0..20).map(|i| ProducerRecord::new("outage", format!("after-{i}"))))
        .await
        .unwrap();
    for f in after {
        f.await.expect("records after the outage are delivered");
    }
    assert_ne!(producer.producer_id(), Some(first_id), "a new producer id");
    let records = read_all(&bootstrap, "outage", 21, Duration::from_secs(20)).await;
    let values: Vec<String> = records
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
        .collect();
    let mut expected = vec!["before".to_owned()];
    expected.extend((0..20).map(|i| format!("after-{i}")));
    assert_eq!(
        values, expected,
        "the lost records never reached the log; the rest once, in order"
    );
}
