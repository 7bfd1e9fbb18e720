//! `weir topic …` and `weir cluster`.

use anyhow::{Context, bail};
use clap::Subcommand;
use weir_client::admin::{Admin, NewTopic};
use weir_client::cluster::ClientConfig;

#[derive(Subcommand, Debug)]
pub enum TopicCommand {
    /// Create a topic.
    Create {
        name: String,
        /// Partitions (default: the broker's num.partitions).
        #[arg(long, short = 'p', default_value_t = -1)]
        partitions: i32,
        /// Replication factor (default: the broker's).
        #[arg(long, short = 'r', default_value_t = -1)]
        replication_factor: i16,
        /// Topic config, `key=value` (repeatable).
        #[arg(long = "config", short = 'c', value_parser = parse_kv)]
        configs: Vec<(String, String)>,
    },
    /// List topics.
    List {
        /// Include internal topics.
        #[arg(long)]
        internal: bool,
    },
    /// Show a topic's partitions and leaders.
    Describe { name: String },
    /// Delete topics.
    Delete { names: Vec<String> },
}

/// `key=value`.
pub fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected key=value, got {s:?}"))
}

pub async fn run(bootstrap: &str, cmd: TopicCommand) -> anyhow::Result<()> {
    let admin = Admin::new(ClientConfig::new(bootstrap))?;
    match cmd {
        TopicCommand::Create {
            name,
            partitions,
            replication_factor,
            configs,
        } => {
            let topic = NewTopic {
                name: name.clone(),
                partitions,
                replication_factor,
                configs,
            };
            let results = admin.create_topics(&[topic], false).await?;
            for r in results {
                r.with_context(|| format!("creating {name}"))?;
            }
            println!("created {name}");
        }
        TopicCommand::List { internal } => {
            for t in admin.list_topics().await? {
                if internal || !t.is_internal {
                    println!("{}\t{} partitions", t.name, t.partitions.len());
                }
            }
        }
        TopicCommand::Describe { name } => {
            let t = admin.describe_topic(&name).await?;
            println!("topic {}  partitions {}", t.name, t.partitions.len());
            for p in &t.partitions {
                println!(
                    "  partition {}  leader {}  epoch {}",
                    p.partition, p.leader, p.leader_epoch
                );
            }
        }
        TopicCommand::Delete { names } => {
            if names.is_empty() {
                bail!("name at least one topic");
            }
            let results = admin.delete_topics(&names).await?;
            for (name, r) in names.iter().zip(results) {
                r.with_context(|| format!("deleting {name}"))?;
                println!("deleted {name}");
            }
        }
    }
    Ok(())
}

pub async fn cluster_status(bootstrap: &str) -> anyhow::Result<()> {
    let admin = Admin::new(ClientConfig::new(bootstrap))?;
    let info = admin.cluster_info().await?;
    println!("cluster {}", info.cluster_id.as_deref().unwrap_or("-"));
    println!("controller {}", info.controller_id);
    for b in info.brokers {
        println!(
            "broker {}  {}{}",
            b.node_id,
            b.addr,
            b.rack.map(|r| format!("  rack {r}")).unwrap_or_default()
        );
    }
    Ok(())
}
