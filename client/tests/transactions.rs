//! Transactions against the release broker: the transactional producer
//! (commit, abort, fencing), read_committed and read_uncommitted consumers,
//! and the exactly-once pipeline example (consume-transform-produce with the
//! group's offsets committed in the producer's transactions), interrupted by a
//! crash and resumed by a new instance with the same transactional id.

mod support;

#[allow(dead_code)]
#[path = "../examples/exactly_once_pipeline.rs"]
mod pipeline;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use weir_client::admin::{Admin, NewTopic};
use weir_client::cluster::ClientConfig;
use weir_client::consumer::{
    Consumer, ConsumerConfig, ConsumerRecord, IsolationLevel, Offset, list_offset, list_offset_with,
};
use weir_client::error::ClientError;
use weir_client::producer::{DeliveryFuture, Producer, ProducerConfig, ProducerRecord};

use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::{AddPartitionsToTxnRequest, ProducerId, TopicName, TransactionalId};
use kafka_protocol::protocol::StrBytes;
use weir_client::conn::Connection;
use weir_client::protocol::ApiKey;
use weir_client::protocol::batch_encoder::{NewRecord, encode_transactional_batch};
use weir_client::protocol::reader::Reader;
use weir_client::protocol::responses::{
    ADD_PARTITIONS_TO_TXN_VERSION, AddPartitionsToTxnResponse, END_TXN_VERSION, EndTxnResponse,
    FIND_COORDINATOR_VERSION, FindCoordinatorResponse, INIT_PRODUCER_ID_VERSION,
    InitProducerIdResponse, PRODUCE_VERSION, ProduceResponse,
};

use support::BrokerProcess;

/// Every wait of a test ends by then.
const WAIT: Duration = Duration::from_secs(30);

/// A broker whose group coordinator accepts short sessions and starts
/// rebalances without delay.
fn broker() -> (BrokerProcess, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("broker.toml");
    std::fs::write(
        &config,
        "\"group.min.session.timeout.ms\" = 500\n\"group.initial.rebalance.delay.ms\" = 100\n",
    )
    .unwrap();
    let broker = BrokerProcess::start(&["--config", config.to_str().unwrap()]);
    (broker, dir)
}

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

async fn transactional(bootstrap: &str, id: &str) -> Producer {
    let mut config = ProducerConfig::new(bootstrap);
    config.transactional_id = Some(id.to_owned());
    config.max_block = WAIT;
    let producer = Producer::new(config).await.unwrap();
    producer.init_transactions().await.unwrap();
    producer
}

/// (partition, offset, value) of a record.
type Placed = (i32, i64, String);

fn placed(r: &ConsumerRecord) -> Placed {
    let value = r.value.as_deref().unwrap_or_default();
    (
        r.partition,
        r.offset,
        String::from_utf8_lossy(value).into_owned(),
    )
}

/// Sends `count` records `{prefix}-{i}` (keys spread them over partitions).
async fn send_all(
    producer: &Producer,
    topic: &str,
    prefix: &str,
    count: usize,
) -> Vec<(String, DeliveryFuture)> {
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let value = format!("{prefix}-{i}");
        let record = ProducerRecord::new(topic, value.clone()).key(format!("k{}", i % 7));
        out.push((value, producer.send(record).await.unwrap()));
    }
    out
}

/// Where each record went (every one must be acknowledged).
async fn acknowledged(sent: Vec<(String, DeliveryFuture)>) -> Vec<Placed> {
    let mut out = Vec::with_capacity(sent.len());
    for (value, delivery) in sent {
        let meta = tokio::time::timeout(WAIT, delivery)
            .await
            .expect("a delivery in time")
            .expect("an acknowledged record");
        out.push((meta.partition, meta.offset, value));
    }
    out
}

fn consumer(bootstrap: &str, isolation: IsolationLevel) -> Consumer {
    Consumer::new(ConsumerConfig {
        isolation_level: isolation,
        fetch_max_wait: Duration::from_millis(100),
        ..ConsumerConfig::new(bootstrap)
    })
    .unwrap()
}

/// Polls until `count` records came (bounded by `WAIT`), then once more so
/// that extra records show.
async fn read(consumer: &mut Consumer, count: usize) -> Vec<Placed> {
    let deadline = Instant::now() + WAIT;
    let mut out = Vec::new();
    while out.len() < count && Instant::now() < deadline {
        let records = consumer
            .poll(10_000, Duration::from_millis(200))
            .await
            .unwrap();
        out.extend(records.iter().map(placed));
    }
    let extra = consumer
        .poll(10_000, Duration::from_millis(500))
        .await
        .unwrap();
    out.extend(extra.iter().map(placed));
    out
}

/// Sorted by partition then offset: each partition's order is the log's.
fn by_partition(mut records: Vec<Placed>) -> Vec<Placed> {
    records.sort();
    records
}

/// Polls (bounded) until `done` holds.
async fn poll_until(consumer: &mut Consumer, what: &str, done: impl Fn(&Consumer) -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done(consumer) {
        assert!(Instant::now() < deadline, "{what}: not within {WAIT:?}");
        let extra = consumer
            .poll(10_000, Duration::from_millis(100))
            .await
            .unwrap();
        assert!(extra.is_empty(), "{what}: unexpected records {extra:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_transactions_are_read_exactly_and_aborted_ones_only_uncommitted() {
    let (broker, _dir) = broker();
    let bootstrap = broker.bootstrap();
    let topic = "txn";
    create_topic(&bootstrap, topic, 3).await;
    let producer = transactional(&bootstrap, "txn-a").await;

    // Commit, abort (after its records are written), commit.
    producer.begin_transaction().unwrap();
    let sent = send_all(&producer, topic, "first", 40).await;
    producer.commit_transaction().await.unwrap();
    let first = acknowledged(sent).await;

    producer.begin_transaction().unwrap();
    let sent = send_all(&producer, topic, "aborted", 30).await;
    producer.flush(WAIT).await.unwrap();
    let aborted = acknowledged(sent).await;
    producer.abort_transaction().await.unwrap();

    producer.begin_transaction().unwrap();
    let sent = send_all(&producer, topic, "second", 40).await;
    producer.commit_transaction().await.unwrap();
    let second = acknowledged(sent).await;

    // A fourth stays open for now.
    producer.begin_transaction().unwrap();
    let sent = send_all(&producer, topic, "open", 14).await;
    producer.flush(WAIT).await.unwrap();
    let open = acknowledged(sent).await;

    let committed: Vec<Placed> = first.iter().chain(&second).cloned().collect();
    let mut reader = consumer(&bootstrap, IsolationLevel::ReadCommitted);
    reader.assign_topic(topic, Offset::Beginning).await.unwrap();
    let got = read(&mut reader, committed.len()).await;
    assert_eq!(
        by_partition(got.clone()),
        by_partition(committed.clone()),
        "read_committed: exactly the committed records"
    );
    // In each partition, in the order they were written.
    for p in 0..3 {
        let offsets: Vec<i64> = got.iter().filter(|r| r.0 == p).map(|r| r.1).collect();
        assert!(
            offsets.windows(2).all(|w| w[0] < w[1]),
            "partition {p}: {offsets:?}"
        );
    }
    // The open transaction holds the last stable offset back, for Fetch and
    // for ListOffsets.
    let (open_partition, open_offset, _) = open[0].clone();
    let stable = list_offset_with(
        reader.cluster(),
        topic,
        open_partition,
        -1,
        IsolationLevel::ReadCommitted,
    )
    .await
    .unwrap();
    let high = list_offset(reader.cluster(), topic, open_partition, -1)
        .await
        .unwrap();
    assert!(
        stable <= open_offset && open_offset < high,
        "LSO {stable}, open at {open_offset}, HW {high}"
    );

    let everything: Vec<Placed> = first
        .iter()
        .chain(&aborted)
        .chain(&second)
        .chain(&open)
        .cloned()
        .collect();
    let mut all_reader = consumer(&bootstrap, IsolationLevel::ReadUncommitted);
    all_reader
        .assign_topic(topic, Offset::Beginning)
        .await
        .unwrap();
    let got_all = read(&mut all_reader, everything.len()).await;
    // Every record, the aborted and open ones too, and no transaction marker.
    assert_eq!(by_partition(got_all), by_partition(everything));

    // Once committed, the open transaction reads too.
    producer.commit_transaction().await.unwrap();
    let got = read(&mut reader, open.len()).await;
    assert_eq!(by_partition(got), by_partition(open.clone()));
    // The positions end past the markers, at the end of each partition.
    let admin = Admin::new(ClientConfig::new(&bootstrap)).unwrap();
    let partitions: Vec<(String, i32)> = (0..3).map(|p| (topic.to_owned(), p)).collect();
    let ends = admin.list_offsets(&partitions, -1).await.unwrap();
    for reader in [&mut reader, &mut all_reader] {
        poll_until(reader, "positions at the log end", |c| {
            (0..3).all(|p| c.position(topic, p) == ends.get(&(topic.to_owned(), p)).copied())
        })
        .await;
    }
    producer.close(WAIT).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_producer_with_the_same_transactional_id_fences_the_old_one() {
    let (broker, _dir) = broker();
    let bootstrap = broker.bootstrap();
    let topic = "fenced";
    create_topic(&bootstrap, topic, 2).await;

    let old = transactional(&bootstrap, "txn-f").await;
    old.begin_transaction().unwrap();
    let sent = send_all(&old, topic, "old", 10).await;
    old.flush(WAIT).await.unwrap();
    let old_records = acknowledged(sent).await;

    // Takes over: aborts what the old one left open, and fences it.
    let new = transactional(&bootstrap, "txn-f").await;
    let fenced = old.commit_transaction().await.unwrap_err();
    assert!(fenced.is_fenced(), "{fenced}");
    assert!(fenced.to_string().contains("fenced"), "{fenced}");
    // Fatal: the old producer refuses everything after.
    let again = old.begin_transaction().unwrap_err();
    assert!(again.is_fenced(), "{again}");
    let send = old.send(ProducerRecord::new(topic, "late")).await;
    assert!(send.is_err_and(|e| e.is_fenced()));
    assert!(old.abort_transaction().await.unwrap_err().is_fenced());

    new.begin_transaction().unwrap();
    let sent = send_all(&new, topic, "new", 10).await;
    new.commit_transaction().await.unwrap();
    let new_records = acknowledged(sent).await;

    let mut reader = consumer(&bootstrap, IsolationLevel::ReadCommitted);
    reader.assign_topic(topic, Offset::Beginning).await.unwrap();
    let got = read(&mut reader, new_records.len()).await;
    assert_eq!(by_partition(got), by_partition(new_records.clone()));
    let mut all_reader = consumer(&bootstrap, IsolationLevel::ReadUncommitted);
    all_reader
        .assign_topic(topic, Offset::Beginning)
        .await
        .unwrap();
    let all = old_records.len() + new_records.len();
    assert_eq!(read(&mut all_reader, all).await.len(), all);
    new.close(WAIT).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_with_nothing_in_it_commits_and_aborts_locally() {
    let (broker, _dir) = broker();
    let bootstrap = broker.bootstrap();
    let producer = transactional(&bootstrap, "txn-empty").await;
    producer.begin_transaction().unwrap();
    producer.commit_transaction().await.unwrap();
    producer.begin_transaction().unwrap();
    producer.abort_transaction().await.unwrap();
    // Out of order calls are refused without hurting the producer.
    assert!(matches!(
        producer.commit_transaction().await,
        Err(ClientError::TransactionState(_))
    ));
    assert!(matches!(
        producer.send(ProducerRecord::new("t", "x")).await,
        Err(ClientError::TransactionState(_))
    ));
    producer.begin_transaction().unwrap();
    assert!(matches!(
        producer.begin_transaction(),
        Err(ClientError::TransactionState(_))
    ));
    producer.abort_transaction().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exactly_once_pipeline_moves_every_record_once_across_a_crash() {
    const RECORDS: usize = 300;
    const BATCH: usize = 40;
    let (broker, _dir) = broker();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "in", 3).await;
    create_topic(&bootstrap, "out", 3).await;
    let input = Producer::new(ProducerConfig::new(&bootstrap))
        .await
        .unwrap();
    let mut deliveries = Vec::new();
    for i in 0..RECORDS {
        let record = ProducerRecord::new("in", format!("value-{i}")).key(format!("k{i}"));
        deliveries.push(input.send(record).await.unwrap());
    }
    for d in deliveries {
        d.await.unwrap();
    }

    let start = |id: &'static str| {
        let bootstrap = bootstrap.clone();
        async move {
            let (mut consumer, mut producer) = pipeline::configs(&bootstrap, "eos", id);
            consumer.session_timeout = Duration::from_secs(3);
            consumer.heartbeat_interval = Duration::from_millis(500);
            consumer.rebalance_timeout = Duration::from_secs(10);
            producer.max_block = WAIT;
            pipeline::Pipeline::start(consumer, producer, "in", "out")
                .await
                .unwrap()
        }
    };

    // The first instance commits two batches, then writes a third and
    // crashes before committing it.
    let mut first = start("eos-0").await;
    let deadline = Instant::now() + WAIT;
    let mut committed = 0;
    while committed < 2 * BATCH.min(RECORDS / 3) && Instant::now() < deadline {
        committed += first.step(BATCH, Duration::from_millis(500)).await.unwrap();
    }
    assert!(committed > 0, "the first instance moved nothing");
    let mut in_doubt = 0;
    while in_doubt == 0 && Instant::now() < deadline {
        in_doubt = first
            .begin_batch(BATCH, Duration::from_millis(500))
            .await
            .unwrap();
    }
    assert!(in_doubt > 0, "the first instance got no third batch");
    first.producer.flush(WAIT).await.unwrap();
    let pipeline::Pipeline {
        consumer: first_consumer,
        producer: first_producer,
        ..
    } = first;
    // Leaves the group without committing anything.
    first_consumer.close().await.unwrap();

    // A new instance with the same transactional id fences the first, which
    // can no longer commit what it wrote.
    let mut second = start("eos-0").await;
    let zombie = first_producer.commit_transaction().await.unwrap_err();
    assert!(zombie.is_fenced(), "{zombie}");

    // The new instance aborts one batch itself and rewinds to the committed
    // offsets: that batch must come again, not be skipped.
    let mut rewound = 0;
    let deadline = Instant::now() + WAIT;
    while rewound == 0 && Instant::now() < deadline {
        rewound = second
            .begin_batch(BATCH, Duration::from_millis(500))
            .await
            .unwrap();
    }
    assert!(rewound > 0, "the second instance got nothing to abort");
    second.producer.flush(WAIT).await.unwrap();
    second.producer.abort_transaction().await.unwrap();
    second.consumer.rewind_to_committed();

    let mut moved = committed;
    let mut idle = 0;
    let deadline = Instant::now() + 2 * WAIT;
    let mut steps = 0;
    while idle < 6 && Instant::now() < deadline && steps < 1_000 {
        steps += 1;
        match second
            .step(BATCH, Duration::from_millis(500))
            .await
            .unwrap()
        {
            0 => idle += 1,
            n => {
                idle = 0;
                moved += n;
            }
        }
    }
    second.close().await.unwrap();
    assert_eq!(moved, RECORDS, "inputs moved in committed transactions");

    // read_committed: every input's result exactly once.
    let mut reader = consumer(&bootstrap, IsolationLevel::ReadCommitted);
    reader.assign_topic("out", Offset::Beginning).await.unwrap();
    let outputs = read(&mut reader, RECORDS).await;
    let values: Vec<String> = outputs.iter().map(|r| r.2.clone()).collect();
    let unique: BTreeSet<&String> = values.iter().collect();
    let expected: BTreeSet<String> = (0..RECORDS).map(|i| format!("VALUE-{i}")).collect();
    assert_eq!(values.len(), RECORDS, "no duplicates, none missing");
    assert_eq!(
        unique.into_iter().cloned().collect::<BTreeSet<_>>(),
        expected
    );
    // The crashed instance's batch and the aborted one are in the log.
    let mut all_reader = consumer(&bootstrap, IsolationLevel::ReadUncommitted);
    all_reader
        .assign_topic("out", Offset::Beginning)
        .await
        .unwrap();
    let written = RECORDS + in_doubt + rewound;
    assert_eq!(read(&mut all_reader, written).await.len(), written);

    // The group's committed offsets are at the input's end.
    let admin = Admin::new(ClientConfig::new(&bootstrap)).unwrap();
    let partitions: Vec<(String, i32)> = (0..3).map(|p| ("in".to_owned(), p)).collect();
    let ends = admin.list_offsets(&partitions, -1).await.unwrap();
    let offsets: BTreeMap<(String, i32), i64> = admin
        .group_offsets("eos")
        .await
        .unwrap()
        .into_iter()
        .map(|o| ((o.topic, o.partition), o.offset))
        .collect();
    assert_eq!(offsets, ends);
    input.close(WAIT).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_record_makes_the_transaction_abortable_and_abort_recovers() {
    let (broker, _dir) = broker();
    let bootstrap = broker.bootstrap();
    let topic = "small";
    let admin = Admin::new(ClientConfig::new(&bootstrap)).unwrap();
    let small = NewTopic {
        configs: vec![("max.message.bytes".into(), "1024".into())],
        ..NewTopic::new(topic, 1)
    };
    for r in admin.create_topics(&[small], false).await.unwrap() {
        r.unwrap();
    }
    let producer = transactional(&bootstrap, "txn-small").await;
    producer.begin_transaction().unwrap();
    let sent = send_all(&producer, topic, "kept-until-abort", 3).await;
    producer.flush(WAIT).await.unwrap();
    let written = acknowledged(sent).await;
    // Larger than the topic takes: the broker refuses the batch for good.
    let too_large = producer
        .send(ProducerRecord::new(topic, vec![b'x'; 4_000]))
        .await
        .unwrap();
    let refused = tokio::time::timeout(WAIT, too_large).await.unwrap();
    assert_eq!(refused.unwrap_err().code(), Some(10), "MESSAGE_TOO_LARGE");
    // The transaction cannot commit, nor take more records.
    assert_eq!(
        producer.commit_transaction().await.unwrap_err().code(),
        Some(10)
    );
    assert!(
        producer
            .send(ProducerRecord::new(topic, "more"))
            .await
            .is_err()
    );
    producer.abort_transaction().await.unwrap();

    // The next transaction goes through (the refused batch's sequence
    // numbers are forgotten with a new epoch).
    producer.begin_transaction().unwrap();
    let sent = send_all(&producer, topic, "after", 5).await;
    producer.commit_transaction().await.unwrap();
    let after = acknowledged(sent).await;

    let mut reader = consumer(&bootstrap, IsolationLevel::ReadCommitted);
    reader.assign_topic(topic, Offset::Beginning).await.unwrap();
    assert_eq!(read(&mut reader, after.len()).await, after);
    let mut all_reader = consumer(&bootstrap, IsolationLevel::ReadUncommitted);
    all_reader
        .assign_topic(topic, Offset::Beginning)
        .await
        .unwrap();
    let everything: Vec<Placed> = written.into_iter().chain(after).collect();
    assert_eq!(read(&mut all_reader, everything.len()).await, everything);
    producer.close(WAIT).await.unwrap();
}

/// One raw call of the stray-batch test, answered or failing the test.
async fn raw_call<R: kafka_protocol::protocol::Encodable, T>(
    conn: &Connection,
    (key, version): (ApiKey, i16),
    request: &R,
    decode: impl FnOnce(&mut Reader) -> Result<T, weir_client::protocol::DecodeError>,
) -> T {
    let body = conn.call(key as i16, version, request).await.unwrap();
    conn.decode(body, decode).unwrap()
}

/// A transactional batch of `producer` for `topic`-0; its error code.
async fn produce_transactional(conn: &Connection, id: &str, (pid, epoch): (i64, i16)) -> i16 {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    let records = [NewRecord {
        key: None,
        value: Some(bytes::Bytes::from_static(b"stray")),
        timestamp_ms: 0,
    }];
    let batch = encode_transactional_batch(&records, pid, epoch).unwrap();
    let request = kafka_protocol::messages::ProduceRequest::default()
        .with_transactional_id(Some(TransactionalId(StrBytes::from_string(id.into()))))
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str("stray")))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(batch)),
                ]),
        ]);
    let key = (ApiKey::Produce, PRODUCE_VERSION);
    let response = raw_call(conn, key, &request, ProduceResponse::decode).await;
    response.responses[0].partition_responses[0].error_code
}

/// KIP-890 part 1: a transactional batch for a partition its transaction
/// never added — before the transaction, or late after it ended — is refused
/// with INVALID_TXN_STATE and writes nothing, so no hanging transaction holds
/// the last stable offset back; once added, the same batch goes in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_outside_its_transaction_is_refused_and_writes_nothing() {
    use kafka_protocol::messages::{EndTxnRequest, InitProducerIdRequest};
    let (broker, _dir) = broker();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "stray", 1).await;
    let conn = Connection::connect(&bootstrap, "stray-test", 1, WAIT)
        .await
        .unwrap();
    let id = "stray-txn";
    let init = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str(id))))
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let deadline = Instant::now() + WAIT;
    // The coordinator's topic is created by the first FindCoordinator.
    let find = kafka_protocol::messages::FindCoordinatorRequest::default()
        .with_key(StrBytes::from_static_str(id))
        .with_key_type(1);
    loop {
        let key = (ApiKey::FindCoordinator, FIND_COORDINATOR_VERSION);
        let r = raw_call(&conn, key, &find, FindCoordinatorResponse::decode).await;
        if r.error_code == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "FindCoordinator: error {}",
            r.error_code
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let producer = loop {
        let key = (ApiKey::InitProducerId, INIT_PRODUCER_ID_VERSION);
        let r = raw_call(&conn, key, &init, InitProducerIdResponse::decode).await;
        // Retried while the coordinator loads its partition.
        if r.error_code == 0 {
            break (r.producer_id, r.producer_epoch);
        }
        assert!(
            Instant::now() < deadline,
            "InitProducerId: error {}",
            r.error_code
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let cluster = weir_client::cluster::Cluster::new(ClientConfig::new(&bootstrap)).unwrap();
    let ends = || async {
        let committed = IsolationLevel::ReadCommitted;
        let uncommitted = IsolationLevel::ReadUncommitted;
        (
            list_offset_with(&cluster, "stray", 0, -1, uncommitted)
                .await
                .unwrap(),
            list_offset_with(&cluster, "stray", 0, -1, committed)
                .await
                .unwrap(),
        )
    };

    const INVALID_TXN_STATE: i16 = 48;
    assert_eq!(
        produce_transactional(&conn, id, producer).await,
        INVALID_TXN_STATE
    );
    assert_eq!(ends().await, (0, 0), "the refused batch wrote nothing");

    let add = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(StrBytes::from_static_str(id)))
        .with_v3_and_below_producer_id(ProducerId(producer.0))
        .with_v3_and_below_producer_epoch(producer.1)
        .with_v3_and_below_topics(vec![
            AddPartitionsToTxnTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("stray")))
                .with_partitions(vec![0]),
        ]);
    let key = (ApiKey::AddPartitionsToTxn, ADD_PARTITIONS_TO_TXN_VERSION);
    let added = raw_call(&conn, key, &add, AddPartitionsToTxnResponse::decode).await;
    let code = added.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code;
    assert_eq!(code, 0);
    assert_eq!(produce_transactional(&conn, id, producer).await, 0);
    assert_eq!(ends().await, (1, 0), "the open transaction holds the LSO");

    let end = EndTxnRequest::default()
        .with_transactional_id(TransactionalId(StrBytes::from_static_str(id)))
        .with_producer_id(ProducerId(producer.0))
        .with_producer_epoch(producer.1)
        .with_committed(true);
    let key = (ApiKey::EndTxn, END_TXN_VERSION);
    assert_eq!(
        raw_call(&conn, key, &end, EndTxnResponse::decode)
            .await
            .error_code,
        0
    );
    // The commit marker follows the record.
    assert_eq!(ends().await, (2, 2));

    // A late batch of the ended transaction cannot open a new one.
    assert_eq!(
        produce_transactional(&conn, id, producer).await,
        INVALID_TXN_STATE
    );
    assert_eq!(ends().await, (2, 2), "nothing hangs");
}
