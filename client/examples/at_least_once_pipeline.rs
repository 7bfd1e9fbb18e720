//! An at-least-once pipeline: read `input` in a group, process each record
//! with bounded retries, write results to `output` and records that keep
//! failing to `output.dlq` (with the error in a header), and commit the input
//! offsets only after every output of the batch is acknowledged. A crash
//! anywhere redelivers, never loses; the idempotent producer keeps retries of
//! one run from writing twice.
//!
//! Processing here upper-cases UTF-8 values and fails on anything else.
//!
//! `cargo run --release -p weir-client --example at_least_once_pipeline -- 127.0.0.1:9092 input output`

use std::collections::HashMap;
use std::time::Duration;

use weir_client::consumer::group::{DeliveryMode, GroupConfig, GroupConsumer};
use weir_client::consumer::{ConsumerRecord, Offset};
use weir_client::producer::{Producer, ProducerConfig, ProducerRecord};

/// Attempts per record before it goes to the dead-letter topic.
const ATTEMPTS: u32 = 3;

fn process(record: &ConsumerRecord) -> Result<String, String> {
    let value = record.value.as_deref().ok_or("a null value")?;
    let text = std::str::from_utf8(value).map_err(|e| format!("not UTF-8: {e}"))?;
    Ok(text.to_uppercase())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let bootstrap = args.next().unwrap_or_else(|| "127.0.0.1:9092".into());
    let input = args.next().unwrap_or_else(|| "input".into());
    let output = args.next().unwrap_or_else(|| "output".into());
    let dlq = format!("{output}.dlq");

    let mut config = GroupConfig::new(&bootstrap, format!("{input}-to-{output}"));
    config.consumer.auto_offset_reset = Offset::Beginning;
    config.delivery = DeliveryMode::AtLeastOnce;
    config.auto_commit = false; // commit only once the outputs are acknowledged
    let mut consumer = GroupConsumer::new(config)?;
    consumer.subscribe([input])?;
    let producer = Producer::new(ProducerConfig::new(&bootstrap)).await?;

    let mut idle = 0;
    while idle < 10 {
        let records = consumer.poll(1_000, Duration::from_secs(1)).await?;
        if records.is_empty() {
            idle += 1;
            continue;
        }
        idle = 0;
        let mut deliveries = Vec::with_capacity(records.len());
        let mut next: HashMap<(String, i32), i64> = HashMap::new();
        for r in &records {
            let mut outcome = Err(String::new());
            for attempt in 1..=ATTEMPTS {
                outcome = process(r);
                if outcome.is_ok() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10 * u64::from(attempt))).await;
            }
            let out = match outcome {
                Ok(value) => ProducerRecord {
                    topic: output.clone(),
                    key: r.key.clone(),
                    value: Some(value.into()),
                    ..Default::default()
                },
                Err(error) => ProducerRecord {
                    topic: dlq.clone(),
                    key: r.key.clone(),
                    value: r.value.clone(),
                    headers: vec![
                        ("error".into(), Some(error.into())),
                        (
                            "source".into(),
                            Some(format!("{}-{}@{}", r.topic, r.partition, r.offset).into()),
                        ),
                    ],
                    ..Default::default()
                },
            };
            deliveries.push(producer.send(out).await?);
            next.insert((r.topic.to_string(), r.partition), r.offset + 1);
        }
        for d in deliveries {
            d.await?; // an output that cannot be written stops the pipeline uncommitted
        }
        consumer.commit_offsets(&next).await?;
        println!("{} records processed, offsets committed", records.len());
    }
    consumer.close().await?;
    producer.close(Duration::from_secs(10)).await?;
    Ok(())
}
