//! An exactly-once pipeline (consume-transform-produce): read `input` in a
//! group with read_committed, transform each record, and write the results to
//! `output` in a transaction that also commits the input offsets
//! (`send_offsets_to_transaction`), one transaction per polled batch. The
//! outputs and the offsets count together or not at all, so a read_committed
//! reader of `output` sees every input record's result exactly once, whatever
//! crashes, however often the pipeline restarts.
//!
//! On a failed transaction the pipeline aborts it and rewinds to the committed
//! offsets (the batch is processed again); a fenced producer (another instance
//! took over the transactional id) stops it. A restarted instance with the
//! same transactional id fences the old one and aborts what it left open.
//!
//! Processing here upper-cases values (not UTF-8: passed on unchanged).
//!
//! `cargo run --release -p weir-client --example exactly_once_pipeline -- 127.0.0.1:9092 input output`

use std::collections::HashMap;
use std::time::Duration;

use weir_client::consumer::group::{DeliveryMode, GroupConfig, GroupConsumer};
use weir_client::consumer::{ConsumerRecord, IsolationLevel, Offset};
use weir_client::error::ClientError;
use weir_client::producer::{Producer, ProducerConfig, ProducerRecord};

/// The transformation: the value upper-cased, key and headers kept.
pub fn transform(record: &ConsumerRecord, output: &str) -> ProducerRecord {
    let value = record.value.as_ref().map(|v| match std::str::from_utf8(v) {
        Ok(text) => text.to_uppercase().into(),
        Err(_) => v.clone(),
    });
    ProducerRecord {
        topic: output.to_owned(),
        key: record.key.clone(),
        value,
        headers: record
            .headers
            .iter()
            .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), v.clone()))
            .collect(),
        ..Default::default()
    }
}

/// The group consumer's and the transactional producer's settings.
pub fn configs(
    bootstrap: &str,
    group: &str,
    transactional_id: &str,
) -> (GroupConfig, ProducerConfig) {
    let mut consumer = GroupConfig::new(bootstrap, group);
    // Only committed inputs (an upstream transactional producer's aborted
    // records are never processed).
    consumer.consumer.isolation_level = IsolationLevel::ReadCommitted;
    consumer.consumer.auto_offset_reset = Offset::Beginning;
    // Offsets are committed by the producer's transactions only.
    consumer.delivery = DeliveryMode::AtLeastOnce;
    consumer.auto_commit = false;
    let mut producer = ProducerConfig::new(bootstrap);
    producer.transactional_id = Some(transactional_id.to_owned());
    (consumer, producer)
}

/// One pipeline instance.
pub struct Pipeline {
    pub consumer: GroupConsumer,
    pub producer: Producer,
    pub output: String,
}

impl Pipeline {
    /// Subscribes to `input` and registers the transactional id (fencing an
    /// older instance with the same id).
    pub async fn start(
        consumer: GroupConfig,
        producer: ProducerConfig,
        input: &str,
        output: &str,
    ) -> Result<Self, ClientError> {
        let mut consumer = GroupConsumer::new(consumer)?;
        consumer.subscribe([input])?;
        let producer = Producer::new(producer).await?;
        producer.init_transactions().await?;
        Ok(Self {
            consumer,
            producer,
            output: output.to_owned(),
        })
    }

    /// Polls once and, if records came, opens a transaction with their
    /// results and their offsets, not yet committed. Returns how many.
    pub async fn begin_batch(
        &mut self,
        max: usize,
        timeout: Duration,
    ) -> Result<usize, ClientError> {
        let records = self.consumer.poll(max, timeout).await?;
        if records.is_empty() {
            return Ok(0);
        }
        self.producer.begin_transaction()?;
        let mut next: HashMap<(String, i32), i64> = HashMap::new();
        for r in &records {
            // Its outcome comes with the commit: a record that cannot be
            // written fails the commit, and the batch is processed again.
            let _delivery = self.producer.send(transform(r, &self.output)).await?;
            next.insert((r.topic.to_string(), r.partition), r.offset + 1);
        }
        let group = self.consumer.group_metadata();
        self.producer
            .send_offsets_to_transaction(&next, &group)
            .await?;
        Ok(records.len())
    }

    /// One batch in one transaction. On a failure other than fencing the
    /// transaction is aborted and the consumer rewound to the committed
    /// offsets, so the batch comes again; the error is returned either way.
    pub async fn step(&mut self, max: usize, timeout: Duration) -> Result<usize, ClientError> {
        let done = match self.begin_batch(max, timeout).await {
            Ok(0) => return Ok(0),
            Ok(n) => self.producer.commit_transaction().await.map(|()| n),
            Err(e) => Err(e),
        };
        if let Err(e) = &done
            && !e.is_fenced()
            && self.producer.abort_transaction().await.is_ok()
        {
            self.consumer.rewind_to_committed();
        }
        done
    }

    /// Leaves the group (nothing is committed outside transactions).
    pub async fn close(self) -> Result<(), ClientError> {
        self.consumer.close().await?;
        self.producer.close(Duration::from_secs(10)).await
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let bootstrap = args.next().unwrap_or_else(|| "127.0.0.1:9092".into());
    let input = args.next().unwrap_or_else(|| "input".into());
    let output = args.next().unwrap_or_else(|| "output".into());
    let group = format!("{input}-to-{output}");
    // One transactional id per instance and input; a restart reuses it.
    let (consumer, producer) = configs(&bootstrap, &group, &format!("{group}-0"));
    let mut pipeline = Pipeline::start(consumer, producer, &input, &output).await?;
    let (mut idle, mut failures) = (0, 0);
    while idle < 10 {
        match pipeline.step(1_000, Duration::from_secs(1)).await {
            Ok(0) => idle += 1,
            Ok(n) => {
                (idle, failures) = (0, 0);
                println!("{n} records moved in one transaction");
            }
            Err(e) if e.is_fenced() || failures >= 5 => return Err(e.into()),
            Err(e) => {
                failures += 1;
                eprintln!("transaction aborted, the batch comes again: {e}");
            }
        }
    }
    pipeline.close().await?;
    Ok(())
}
