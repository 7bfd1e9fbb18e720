//! Producer load and read-back for the multi-process tests: acks=all,
//! idempotent writes whose acknowledged values are read back exactly once.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use weir_client::consumer::{Consumer, ConsumerConfig, Offset};
use weir_client::producer::{Producer, ProducerConfig, ProducerRecord};

/// Record `i` of a load, with the value the read-back compares.
pub type MakeRecord = fn(u32) -> (String, ProducerRecord);

/// Produces `indexes` and waits for every ack; returns the values.
pub async fn produce(
    bootstrap: &str,
    indexes: std::ops::Range<u32>,
    make: impl Fn(u32) -> (String, ProducerRecord),
) -> BTreeSet<String> {
    let producer = Producer::new(ProducerConfig::new(bootstrap)).await.unwrap();
    let mut sends = Vec::new();
    for i in indexes {
        let (value, record) = make(i);
        sends.push((value, producer.send(record).await.unwrap()));
    }
    producer.flush(Duration::from_secs(30)).await.unwrap();
    let mut acked = BTreeSet::new();
    for (value, send) in sends {
        send.await.unwrap();
        acked.insert(value);
    }
    acked
}

/// Produces from `first` on (at most `max` records) while `running`, in
/// awaited bursts of `burst`; returns the values acknowledged.
pub async fn produce_while(
    bootstrap: String,
    first: u32,
    max: u32,
    burst: u32,
    running: Arc<AtomicBool>,
    make: MakeRecord,
) -> BTreeSet<String> {
    let producer = Producer::new(ProducerConfig::new(&bootstrap))
        .await
        .unwrap();
    let mut acked = BTreeSet::new();
    let mut i = first;
    while running.load(Ordering::Relaxed) && i < first + max {
        let mut sends = Vec::new();
        for _ in 0..burst {
            let (value, record) = make(i);
            sends.push((value, producer.send(record).await.unwrap()));
            i += 1;
        }
        for (value, send) in sends {
            if send.await.is_ok() {
                acked.insert(value);
            }
        }
    }
    producer.flush(Duration::from_secs(30)).await.ok();
    acked
}

/// Reads `topic` from the beginning until `count` distinct values came
/// (bounded: 60 s), checking no value comes twice.
pub async fn read_all(bootstrap: &str, topic: &str, count: usize) -> BTreeSet<String> {
    let mut consumer = Consumer::new(ConsumerConfig::new(bootstrap)).unwrap();
    consumer
        .assign_topic(topic, Offset::Beginning)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut values = BTreeSet::new();
    while values.len() < count && Instant::now() < deadline {
        for r in consumer
            .poll(10_000, Duration::from_millis(200))
            .await
            .unwrap()
        {
            let value = String::from_utf8(r.value.unwrap_or_default().to_vec()).unwrap();
            let short = &value[..value.len().min(8)];
            assert!(values.insert(value.clone()), "{short} read twice");
        }
    }
    values
}
