//! `weir topic …` and `weir cluster`.

use anyhow::{Context, bail};
use clap::Subcommand;
use weir_client::admin::{Admin, AlterConfigOp, ConfigResource, ConfigSource, NewTopic};
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
    /// Show a topic's partitions, leaders and configs.
    Describe { name: String },
    /// Delete topics.
    Delete { names: Vec<String> },
    /// Change a topic's configs (set and delete overrides, applied together).
    Alter {
        name: String,
        /// Set a config, `key=value` (repeatable).
        #[arg(long = "config", short = 'c', value_parser = parse_kv)]
        configs: Vec<(String, String)>,
        /// Remove an override, back to the default (repeatable).
        #[arg(long = "delete-config")]
        delete_configs: Vec<String>,
    },
    /// Grow a topic to a new total partition count.
    AddPartitions {
        name: String,
        /// The new total partition count (like kafka-topics --alter --partitions).
        #[arg(long)]
        count: i32,
    },
    /// Delete a partition's records below an offset (its new low watermark).
    DeleteRecords {
        name: String,
        /// Partition.
        #[arg(long, short = 'p')]
        partition: i32,
        /// Records below this offset go; -1 deletes all (up to the high watermark).
        #[arg(long, short = 'o', allow_negative_numbers = true)]
        offset: i64,
    },
    /// Move partitions to new replica sets (Kafka's partition reassignment):
    /// the new replicas are added and catch up, then the old ones are
    /// dropped and delete their copy; a progress bar follows it to the end.
    Reassign {
        name: String,
        /// Target replicas per partition, `partition:broker,broker;...`
        /// (e.g. "0:1,2,3;1:2,3,1"); the first broker is the preferred leader.
        #[arg(long)]
        replicas: String,
        /// Cancel the reassignments of these partitions instead (`--replicas
        /// "0;1"`; broker lists after `partition:` are ignored).
        #[arg(long)]
        cancel: bool,
        /// Return once the reassignment is recorded, without waiting.
        #[arg(long)]
        no_wait: bool,
        /// Give up waiting after this many seconds (the move goes on).
        #[arg(long, default_value_t = 3600)]
        timeout_secs: u64,
    },
    /// List the partition reassignments in progress.
    Reassignments {
        /// Only this topic's.
        name: Option<String>,
    },
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
                    "  partition {}  leader {}  epoch {}  replicas {:?}  isr {:?}{}",
                    p.partition,
                    p.leader,
                    p.leader_epoch,
                    p.replicas,
                    p.isr,
                    if p.isr.len() < p.replicas.len() {
                        "  (under-replicated)"
                    } else {
                        ""
                    }
                );
            }
            let configs = admin
                .describe_topic_configs(&name)
                .await
                .with_context(|| format!("describing the configs of {name}"))?;
            println!("configs");
            for c in configs {
                let value = c.value.as_deref().unwrap_or("(sensitive)");
                let marker = if c.source == ConfigSource::DynamicTopic {
                    "  (override)"
                } else {
                    ""
                };
                println!("  {}={}  {}{}", c.name, value, c.source.name(), marker);
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
        TopicCommand::Alter {
            name,
            configs,
            delete_configs,
        } => {
            let ops = alter_ops(&configs, &delete_configs)?;
            admin
                .alter_configs(&ConfigResource::Topic(name.clone()), &ops, false)
                .await
                .with_context(|| format!("altering {name}"))?;
            for (k, v) in &configs {
                println!("set {k}={v} on {name}");
            }
            for k in &delete_configs {
                println!("deleted {k} override on {name}");
            }
        }
        TopicCommand::AddPartitions { name, count } => {
            let results = admin
                .create_partitions(&[(name.clone(), count)], false)
                .await?;
            for r in results {
                r.with_context(|| format!("growing {name} to {count} partitions"))?;
            }
            println!("{name} now has {count} partitions");
        }
        TopicCommand::DeleteRecords {
            name,
            partition,
            offset,
        } => {
            let results = admin
                .delete_records(&[(name.clone(), partition, offset)])
                .await?;
            for r in results {
                let low = r.with_context(|| format!("deleting records of {name}-{partition}"))?;
                println!("{name}-{partition} low watermark {low}");
            }
        }
        TopicCommand::Reassign {
            name,
            replicas,
            cancel,
            no_wait,
            timeout_secs,
        } => {
            let parse = if cancel {
                crate::placement::parse_partitions
            } else {
                crate::placement::parse_replicas
            };
            let targets = parse(&replicas).map_err(|e| anyhow::anyhow!("--replicas: {e}"))?;
            let timeout = std::time::Duration::from_secs(timeout_secs);
            crate::placement::reassign(&admin, name, targets, cancel, !no_wait, timeout).await?;
        }
        TopicCommand::Reassignments { name } => {
            crate::placement::list_reassignments(&admin, name).await?;
        }
    }
    Ok(())
}

/// The IncrementalAlterConfigs operations of `weir topic alter`.
fn alter_ops(set: &[(String, String)], delete: &[String]) -> anyhow::Result<Vec<AlterConfigOp>> {
    if set.is_empty() && delete.is_empty() {
        bail!("give at least one --config key=value or --delete-config key");
    }
    if let Some(k) = delete.iter().find(|k| set.iter().any(|(s, _)| s == *k)) {
        bail!("{k} is both set and deleted");
    }
    Ok(set
        .iter()
        .map(|(k, v)| AlterConfigOp::Set(k.clone(), v.clone()))
        .chain(delete.iter().map(|k| AlterConfigOp::Delete(k.clone())))
        .collect())
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
    let mut under = Vec::new();
    let mut offline = Vec::new();
    let topics = admin.list_topics().await?;
    for t in &topics {
        for p in &t.partitions {
            let name = format!("{}-{}", t.name, p.partition);
            if p.leader < 0 {
                offline.push(name);
            } else if p.isr.len() < p.replicas.len() {
                under.push(format!("{name} (isr {:?} of {:?})", p.isr, p.replicas));
            }
        }
    }
    let partitions: usize = topics.iter().map(|t| t.partitions.len()).sum();
    println!(
        "partitions {partitions}  under-replicated {}  offline {}",
        under.len(),
        offline.len()
    );
    for p in under {
        println!("  under-replicated {p}");
    }
    for p in offline {
        println!("  offline {p}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alter_sets_then_deletes_and_refuses_nothing_or_both() {
        let set = vec![("retention.ms".to_string(), "1000".to_string())];
        let delete = vec!["segment.bytes".to_string()];
        assert_eq!(
            alter_ops(&set, &delete).unwrap(),
            vec![
                AlterConfigOp::Set("retention.ms".into(), "1000".into()),
                AlterConfigOp::Delete("segment.bytes".into()),
            ]
        );
        assert!(alter_ops(&[], &[]).is_err());
        assert!(alter_ops(&set, &["retention.ms".to_string()]).is_err());
    }
}
