//! A consumer in a group: prints its assignment on every rebalance and the
//! records it gets; offsets are committed automatically (at-least-once).
//! Start several to watch the partitions spread; stop with Ctrl-C.
//!
//! `cargo run --release -p weir-client --example group_consumer -- 127.0.0.1:9092 demo my-group`

use std::time::Duration;

use weir_client::consumer::Offset;
use weir_client::consumer::group::{GroupConfig, GroupConsumer, RebalanceListener, TopicPartition};

struct Print;

impl RebalanceListener for Print {
    fn on_assigned(&mut self, partitions: &[TopicPartition]) {
        println!("assigned {partitions:?}");
    }
    fn on_revoked(&mut self, partitions: &[TopicPartition]) {
        println!("revoked {partitions:?}");
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let bootstrap = args.next().unwrap_or_else(|| "127.0.0.1:9092".into());
    let topic = args.next().unwrap_or_else(|| "demo".into());
    let group = args.next().unwrap_or_else(|| "demo-group".into());
    let mut config = GroupConfig::new(&bootstrap, group);
    config.consumer.auto_offset_reset = Offset::Beginning;
    let mut consumer = GroupConsumer::new(config)?;
    consumer.set_listener(Print);
    consumer.subscribe([topic])?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            records = consumer.poll(500, Duration::from_secs(1)) => {
                for r in records? {
                    let value = r.value.as_deref().map(String::from_utf8_lossy);
                    println!("{}-{}@{} {value:?}", r.topic, r.partition, r.offset);
                }
            }
        }
    }
    // Commits what was handed out and leaves the group (a quick rebalance).
    consumer.close().await?;
    Ok(())
}
