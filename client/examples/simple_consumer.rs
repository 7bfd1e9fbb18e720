//! Reads every partition of a topic from the beginning and prints each record
//! until nothing new arrives for two seconds.
//!
//! `cargo run --release -p weir-client --example simple_consumer -- 127.0.0.1:9092 demo`

use std::time::Duration;

use weir_client::consumer::{Consumer, ConsumerConfig, Offset};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let bootstrap = args.next().unwrap_or_else(|| "127.0.0.1:9092".into());
    let topic = args.next().unwrap_or_else(|| "demo".into());
    let mut consumer = Consumer::new(ConsumerConfig::new(&bootstrap))?;
    consumer.assign_topic(&topic, Offset::Beginning).await?;
    loop {
        let records = consumer.poll(500, Duration::from_secs(2)).await?;
        if records.is_empty() {
            break;
        }
        for r in records {
            let key = r.key.as_deref().map(String::from_utf8_lossy);
            let value = r.value.as_deref().map(String::from_utf8_lossy);
            println!(
                "{}-{}@{} key={key:?} value={value:?}",
                r.topic, r.partition, r.offset
            );
        }
    }
    Ok(())
}
