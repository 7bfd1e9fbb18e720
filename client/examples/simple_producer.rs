//! Sends ten keyed records and prints where each landed.
//!
//! `cargo run --release -p weir-client --example simple_producer -- 127.0.0.1:9092 demo`

use std::time::Duration;

use weir_client::producer::{Producer, ProducerConfig, ProducerRecord};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let bootstrap = args.next().unwrap_or_else(|| "127.0.0.1:9092".into());
    let topic = args.next().unwrap_or_else(|| "demo".into());
    // Idempotent, acks=all, 5 ms linger: the defaults.
    let producer = Producer::new(ProducerConfig::new(&bootstrap)).await?;
    let mut deliveries = Vec::new();
    for i in 0..10 {
        let record = ProducerRecord::new(&topic, format!("hello {i}"))
            .key(format!("user-{}", i % 3))
            .header("source", "simple_producer");
        deliveries.push(producer.send(record).await?);
    }
    for delivery in deliveries {
        let meta = delivery.await?;
        println!("partition {} offset {}", meta.partition, meta.offset);
    }
    producer.close(Duration::from_secs(10)).await?;
    Ok(())
}
