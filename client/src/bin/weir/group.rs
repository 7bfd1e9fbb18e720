//! `weir group …`: consumer groups (list, describe, lag, offset resets, delete),
//! in the manner of kafka-consumer-groups.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use weir_client::admin::{Admin, OffsetReset, PartitionLag, ResetTo};
use weir_client::cluster::ClientConfig;

#[derive(Subcommand, Debug)]
pub enum GroupCommand {
    /// List every group with its state.
    List,
    /// A group's state, members and their assignments, and its lag.
    Describe { group: String },
    /// Committed offset, high watermark and lag per partition.
    Lag { group: String },
    /// Move a group's committed offsets (only while it has no members).
    ResetOffsets(ResetArgs),
    /// Delete groups (only empty ones).
    Delete { groups: Vec<String> },
}

#[derive(Args, Debug)]
pub struct ResetArgs {
    /// The group.
    group: String,
    /// Topic whose partitions are reset (repeatable).
    #[arg(long, short = 't', required = true)]
    topic: Vec<String>,
    /// To each partition's earliest offset.
    #[arg(long, group = "target")]
    to_earliest: bool,
    /// To each partition's high watermark.
    #[arg(long, group = "target")]
    to_latest: bool,
    /// To the first offset at or after this time (ms since the epoch).
    #[arg(long, group = "target", value_name = "MS")]
    to_datetime: Option<i64>,
    /// To this offset (clamped to each partition's range).
    #[arg(long, group = "target", value_name = "OFFSET")]
    to_offset: Option<i64>,
    /// Commit the new offsets (without it the plan is only printed).
    #[arg(long)]
    execute: bool,
}

impl ResetArgs {
    fn target(&self) -> anyhow::Result<ResetTo> {
        Ok(
            match (
                self.to_earliest,
                self.to_latest,
                self.to_datetime,
                self.to_offset,
            ) {
                (true, false, None, None) => ResetTo::Earliest,
                (false, true, None, None) => ResetTo::Latest,
                (false, false, Some(ms), None) => ResetTo::Timestamp(ms),
                (false, false, None, Some(offset)) => ResetTo::Offset(offset),
                _ => bail!(
                    "give exactly one of --to-earliest, --to-latest, --to-datetime, --to-offset"
                ),
            },
        )
    }
}

pub async fn run(bootstrap: &str, cmd: GroupCommand) -> anyhow::Result<()> {
    let admin = Admin::new(ClientConfig::new(bootstrap))?;
    match cmd {
        GroupCommand::List => {
            for g in admin.list_groups().await? {
                let kind = if g.protocol_type.is_empty() {
                    "-"
                } else {
                    &g.protocol_type
                };
                println!("{}\t{}\t{}", g.group_id, g.state, kind);
            }
        }
        GroupCommand::Describe { group } => {
            let d = admin
                .describe_groups(std::slice::from_ref(&group))
                .await?
                .into_iter()
                .next()
                .context("no answer")?
                .with_context(|| format!("describing {group}"))?;
            println!(
                "group {}  state {}  protocol-type {}  protocol {}  members {}",
                d.group_id,
                d.state,
                or_dash(&d.protocol_type),
                or_dash(&d.protocol),
                d.members.len()
            );
            for m in &d.members {
                println!(
                    "  member {}  client {}  host {}{}",
                    m.member_id,
                    m.client_id,
                    m.client_host,
                    m.group_instance_id
                        .as_ref()
                        .map(|i| format!("  instance {i}"))
                        .unwrap_or_default()
                );
                for (topic, partitions) in &m.assignment {
                    println!("    assigned {topic} {partitions:?}");
                }
            }
            let lag = admin
                .group_lag(&group)
                .await
                .with_context(|| format!("lag of {group}"))?;
            print_lag(&lag);
        }
        GroupCommand::Lag { group } => {
            let lag = admin
                .group_lag(&group)
                .await
                .with_context(|| format!("lag of {group}"))?;
            print_lag(&lag);
        }
        GroupCommand::ResetOffsets(args) => {
            let to = args.target()?;
            let plan = admin
                .reset_group_offsets(&args.group, &args.topic, to, args.execute)
                .await
                .with_context(|| format!("resetting the offsets of {}", args.group))?;
            print_plan(&plan);
            if args.execute {
                println!("committed new offsets of {} partitions", plan.len());
            } else {
                println!("dry run: nothing committed (add --execute to commit)");
            }
        }
        GroupCommand::Delete { groups } => {
            if groups.is_empty() {
                bail!("name at least one group");
            }
            for (group, r) in groups.iter().zip(admin.delete_groups(&groups).await?) {
                r.with_context(|| format!("deleting {group}"))?;
                println!("deleted {group}");
            }
        }
    }
    Ok(())
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

fn opt(v: Option<i64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// kafka-consumer-groups' offsets table, with the total lag.
fn print_lag(lag: &[PartitionLag]) {
    println!(
        "{:<24} {:>9} {:>14} {:>14} {:>8}  CONSUMER-ID",
        "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG"
    );
    for l in lag {
        println!(
            "{:<24} {:>9} {:>14} {:>14} {:>8}  {}",
            l.topic,
            l.partition,
            opt(l.committed),
            l.log_end_offset,
            opt(l.lag),
            l.member.as_ref().map_or("-", |(id, _, _)| id.as_str())
        );
    }
    let total: i64 = lag.iter().filter_map(|l| l.lag).sum();
    println!("total lag {total}");
}

fn print_plan(plan: &[OffsetReset]) {
    println!(
        "{:<24} {:>9} {:>14} {:>11}",
        "TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET"
    );
    for r in plan {
        println!(
            "{:<24} {:>9} {:>14} {:>11}",
            r.topic,
            r.partition,
            opt(r.current),
            r.target
        );
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: GroupCommand,
    }

    fn reset(args: &[&str]) -> anyhow::Result<ResetTo> {
        let cli = Cli::try_parse_from(
            ["weir", "reset-offsets", "g", "--topic", "t"]
                .iter()
                .chain(args),
        )?;
        match cli.cmd {
            GroupCommand::ResetOffsets(r) => r.target(),
            _ => bail!("not a reset"),
        }
    }

    #[test]
    fn exactly_one_reset_target() {
        assert_eq!(reset(&["--to-earliest"]).unwrap(), ResetTo::Earliest);
        assert_eq!(reset(&["--to-latest"]).unwrap(), ResetTo::Latest);
        assert_eq!(
            reset(&["--to-datetime", "1700000000000"]).unwrap(),
            ResetTo::Timestamp(1_700_000_000_000)
        );
        assert_eq!(reset(&["--to-offset", "7"]).unwrap(), ResetTo::Offset(7));
        assert!(reset(&[]).is_err());
        assert!(reset(&["--to-earliest", "--to-latest"]).is_err());
    }
}
