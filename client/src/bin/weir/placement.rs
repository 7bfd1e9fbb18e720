//! `weir cluster elect-leaders`, `weir cluster decommission`, `weir topic
//! reassign` and `weir topic reassignments`: leadership and replica
//! placement.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use weir_client::admin::{Admin, ELECTION_NOT_NEEDED, ElectionType, decommission_plan};
use weir_client::cluster::ClientConfig;

/// How often `weir topic reassign` looks at the reassignment's progress.
const POLL_INTERVAL_MS: u64 = 500;

/// `weir cluster elect-leaders`: preferred (or unclean) leader election of
/// one partition, a topic's partitions, or every partition.
pub async fn elect_leaders(
    bootstrap: &str,
    topic: Option<String>,
    partition: Option<i32>,
    unclean: bool,
) -> anyhow::Result<()> {
    let admin = Admin::new(ClientConfig::new(bootstrap))?;
    let partitions: Option<Vec<(String, i32)>> = match (topic, partition) {
        (None, Some(_)) => bail!("--partition needs --topic"),
        (None, None) => None,
        (Some(t), Some(p)) => Some(vec![(t, p)]),
        (Some(t), None) => {
            let info = admin.describe_topic(&t).await?;
            Some(
                info.partitions
                    .iter()
                    .map(|p| (t.clone(), p.partition))
                    .collect(),
            )
        }
    };
    let kind = if unclean {
        ElectionType::Unclean
    } else {
        ElectionType::Preferred
    };
    let results = admin.elect_leaders(kind, partitions.as_deref()).await?;
    let mut failed = 0;
    for r in &results {
        let name = format!("{}-{}", r.topic, r.partition);
        match &r.error {
            None => println!("{name}: leader elected"),
            Some(e) if e.code() == Some(ELECTION_NOT_NEEDED) => {
                println!("{name}: no election needed")
            }
            Some(e) => {
                failed += 1;
                println!("{name}: {e}");
            }
        }
    }
    if results.is_empty() {
        println!("no election needed");
    }
    if failed > 0 {
        bail!("{failed} election(s) failed");
    }
    Ok(())
}

/// Parses `partition:broker,broker;partition:broker,...`.
pub fn parse_replicas(spec: &str) -> Result<Vec<(i32, Vec<i32>)>, String> {
    let mut out: Vec<(i32, Vec<i32>)> = Vec::new();
    for entry in spec.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let (partition, brokers) = entry
            .split_once(':')
            .ok_or_else(|| format!("expected partition:broker,broker in {entry:?}"))?;
        let partition: i32 = partition
            .trim()
            .parse()
            .map_err(|_| format!("bad partition {partition:?} in {entry:?}"))?;
        let brokers = brokers
            .split(',')
            .map(|b| {
                b.trim()
                    .parse::<i32>()
                    .map_err(|_| format!("bad broker id {b:?} in {entry:?}"))
            })
            .collect::<Result<Vec<i32>, String>>()?;
        if out.iter().any(|(p, _)| *p == partition) {
            return Err(format!("partition {partition} is named twice"));
        }
        out.push((partition, brokers));
    }
    if out.is_empty() {
        return Err("no partitions given".into());
    }
    Ok(out)
}

/// Parses the partitions of `partition[:brokers];...` (brokers ignored),
/// for `--cancel`.
pub fn parse_partitions(spec: &str) -> Result<Vec<(i32, Vec<i32>)>, String> {
    let mut out: Vec<(i32, Vec<i32>)> = Vec::new();
    for entry in spec.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let partition = entry.split(':').next().unwrap_or_default().trim();
        let partition: i32 = partition
            .parse()
            .map_err(|_| format!("bad partition {partition:?} in {entry:?}"))?;
        if !out.iter().any(|(p, _)| *p == partition) {
            out.push((partition, Vec::new()));
        }
    }
    if out.is_empty() {
        return Err("no partitions given".into());
    }
    Ok(out)
}

/// `weir topic reassign`: asks for new replica sets (or cancels), then
/// shows a progress bar until no partition of the topic is being
/// reassigned any more (or `timeout` passes).
pub async fn reassign(
    admin: &Admin,
    topic: String,
    targets: Vec<(i32, Vec<i32>)>,
    cancel: bool,
    wait: bool,
    timeout: Duration,
) -> anyhow::Result<()> {
    let changes: Vec<(String, i32, Option<Vec<i32>>)> = targets
        .iter()
        .map(|(p, r)| (topic.clone(), *p, (!cancel).then(|| r.clone())))
        .collect();
    let results = admin.alter_partition_reassignments(&changes).await?;
    for ((_, p, target), r) in changes.iter().zip(results) {
        r.with_context(|| format!("reassigning {topic}-{p}"))?;
        match target {
            Some(t) => println!("{topic}-{p}: reassigning to {t:?}"),
            None => println!("{topic}-{p}: reassignment cancelled"),
        }
    }
    if !wait || cancel {
        return Ok(());
    }
    let watched: Vec<(String, i32)> = targets.iter().map(|(p, _)| (topic.clone(), *p)).collect();
    let bar = ProgressBar::new(watched.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} partitions  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let deadline = started + timeout;
    loop {
        let ongoing = admin.list_partition_reassignments(Some(&watched)).await?;
        bar.set_position((watched.len() - ongoing.len().min(watched.len())) as u64);
        if ongoing.is_empty() {
            break;
        }
        let info = admin.describe_topic(&topic).await?;
        let waiting: Vec<String> = ongoing
            .iter()
            .map(|r| {
                let isr = info
                    .partitions
                    .iter()
                    .find(|p| p.partition == r.partition)
                    .map(|p| p.isr.clone())
                    .unwrap_or_default();
                let synced = r.adding.iter().filter(|b| isr.contains(b)).count();
                format!(
                    "p{} adding {synced}/{} in sync",
                    r.partition,
                    r.adding.len()
                )
            })
            .collect();
        bar.set_message(waiting.join(", "));
        if Instant::now() >= deadline {
            bar.abandon();
            bail!("still reassigning after {timeout:?}; `weir topic reassignments` shows progress");
        }
        tokio::time::sleep(Duration::from_millis(POLL_INTERVAL_MS)).await;
    }
    bar.finish_with_message("done");
    let info = admin.describe_topic(&topic).await?;
    for (p, _) in &targets {
        if let Some(p) = info.partitions.iter().find(|i| i.partition == *p) {
            println!(
                "{topic}-{}: replicas {:?}  isr {:?}  leader {}",
                p.partition, p.replicas, p.isr, p.leader
            );
        }
    }
    println!("reassigned in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// `weir topic reassignments`: what is being reassigned.
pub async fn list_reassignments(admin: &Admin, topic: Option<String>) -> anyhow::Result<()> {
    let all = admin.list_partition_reassignments(None).await?;
    let shown: Vec<_> = all
        .iter()
        .filter(|r| topic.as_ref().is_none_or(|t| &r.topic == t))
        .collect();
    if shown.is_empty() {
        println!("no reassignment in progress");
    }
    for r in shown {
        println!(
            "{}-{}  replicas {:?}  adding {:?}  removing {:?}",
            r.topic, r.partition, r.replicas, r.adding, r.removing
        );
    }
    Ok(())
}

/// Rounds of `weir cluster decommission`: a topic created while replicas
/// move may be placed on the broker again, so it looks again after each.
const DECOMMISSION_ROUNDS: usize = 5;

/// `weir cluster decommission`: moves every replica on `broker` (internal
/// topics included) to other live brokers by partition reassignment, then
/// waits (up to `timeout`) until it holds and leads nothing.
pub async fn decommission(
    bootstrap: &str,
    broker: i32,
    dry_run: bool,
    wait: bool,
    timeout: Duration,
) -> anyhow::Result<()> {
    let admin = Admin::new(ClientConfig::new(bootstrap))?;
    let started = Instant::now();
    let deadline = started + timeout;
    let mut moved = 0;
    for _ in 0..DECOMMISSION_ROUNDS {
        let live: Vec<i32> = admin
            .cluster_info()
            .await?
            .brokers
            .iter()
            .map(|b| b.node_id)
            .collect();
        if moved == 0 && !live.contains(&broker) {
            println!("broker {broker} is not live (stopped, fenced or unknown)");
        }
        let placements = placements(&admin).await?;
        let plan = decommission_plan(&placements, broker, &live)?;
        if plan.is_empty() {
            break;
        }
        if dry_run {
            for (topic, partition, target) in &plan {
                println!("{topic}-{partition}: would reassign to {target:?}");
            }
            return Ok(());
        }
        let results = admin
            .alter_partition_reassignments(&plan_changes(&plan))
            .await?;
        for ((topic, partition, _), r) in plan.iter().zip(results) {
            r.with_context(|| format!("reassigning {topic}-{partition}"))?;
        }
        moved += plan.len();
        println!(
            "moving {} partition replica(s) off broker {broker}",
            plan.len()
        );
        if !wait {
            println!("`weir topic reassignments` shows progress");
            return Ok(());
        }
        let watched: Vec<(String, i32)> = plan.iter().map(|(t, p, _)| (t.clone(), *p)).collect();
        wait_for_reassignments(&admin, &watched, deadline, timeout).await?;
    }
    let left: Vec<String> = placements(&admin)
        .await?
        .into_iter()
        .filter(|(_, _, r)| r.contains(&broker))
        .map(|(t, p, _)| format!("{t}-{p}"))
        .collect();
    if !left.is_empty() {
        bail!(
            "broker {broker} still holds {} replica(s) (e.g. {}): topics keep being placed on it; run again",
            left.len(),
            left[0]
        );
    }
    if moved == 0 {
        println!("broker {broker} holds no replicas");
    } else {
        println!(
            "moved {moved} partition replica(s) off broker {broker} in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    println!(
        "broker {broker} leads and holds nothing: it can be stopped (it leaves Metadata once fenced)"
    );
    Ok(())
}

/// Every partition's replica set as a reassignment in progress will leave
/// it (its target), as `(topic, partition, replicas)`.
async fn placements(admin: &Admin) -> anyhow::Result<Vec<(String, i32, Vec<i32>)>> {
    let ongoing = admin.list_partition_reassignments(None).await?;
    let topics = admin.list_topics().await?;
    Ok(topics
        .iter()
        .flat_map(|t| {
            let ongoing = &ongoing;
            t.partitions.iter().map(move |p| {
                let removing = ongoing
                    .iter()
                    .find(|r| r.topic == t.name && r.partition == p.partition)
                    .map(|r| r.removing.clone())
                    .unwrap_or_default();
                let target = p
                    .replicas
                    .iter()
                    .copied()
                    .filter(|b| !removing.contains(b))
                    .collect();
                (t.name.clone(), p.partition, target)
            })
        })
        .collect())
}

fn plan_changes(plan: &[(String, i32, Vec<i32>)]) -> Vec<(String, i32, Option<Vec<i32>>)> {
    plan.iter()
        .map(|(t, p, r)| (t.clone(), *p, Some(r.clone())))
        .collect()
}

/// A progress bar until none of `watched` is being reassigned (or the
/// deadline passes: an error, the moves go on).
async fn wait_for_reassignments(
    admin: &Admin,
    watched: &[(String, i32)],
    deadline: Instant,
    timeout: Duration,
) -> anyhow::Result<()> {
    let bar = ProgressBar::new(watched.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} partitions  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    loop {
        let ongoing = admin.list_partition_reassignments(Some(watched)).await?;
        bar.set_position((watched.len() - ongoing.len().min(watched.len())) as u64);
        if ongoing.is_empty() {
            break;
        }
        if let Some(r) = ongoing.first() {
            bar.set_message(format!(
                "{}-{} adding {:?}, removing {:?}",
                r.topic, r.partition, r.adding, r.removing
            ));
        }
        if Instant::now() >= deadline {
            bar.abandon();
            bail!("still reassigning after {timeout:?}; `weir topic reassignments` shows progress");
        }
        tokio::time::sleep(Duration::from_millis(POLL_INTERVAL_MS)).await;
    }
    bar.finish_with_message("done");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_specs_parse_and_bad_ones_are_refused() {
        assert_eq!(
            parse_replicas("0:1,2,3; 1:2,3,1").unwrap(),
            vec![(0, vec![1, 2, 3]), (1, vec![2, 3, 1])]
        );
        assert_eq!(parse_replicas("2:3;").unwrap(), vec![(2, vec![3])]);
        for bad in ["", "0", "0:", "x:1", "0:1,y", "0:1;0:2"] {
            assert!(parse_replicas(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_partitions("0;1:2,3;0").unwrap(),
            vec![(0, vec![]), (1, vec![])]
        );
        assert!(parse_partitions("x").is_err());
    }
}
