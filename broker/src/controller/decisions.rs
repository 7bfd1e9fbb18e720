//! The active controller's decisions about brokers and leaders, as pure
//! functions of the image: which records fence a broker whose lease expired,
//! which unfence one that heartbeat again, and who leads a partition.
//!
//! Kafka's rules: a new leader comes from the ISR and is live; an out-of-sync
//! replica leads only with unclean election on; the last member of an ISR is
//! never removed from it (so it can lead again when it comes back); every
//! leader change bumps the leader epoch.
//!
//! Also preferred-leader election (the first replica leads when it is live and
//! in sync: on request, and automatically when a broker leads too few of the
//! partitions it is preferred for) and partition reassignment (KIP-455: the
//! target replicas are added, and the old ones dropped once every target
//! replica is in sync).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::image::{MetadataImage, PartitionImage};
use super::records::MetadataRecord;

/// Kafka's ElectLeaders election types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ElectionType {
    /// Move leadership to the first replica if it is live and in sync.
    Preferred,
    /// Elect a leader for a partition that has none, out-of-sync replicas
    /// included.
    Unclean,
}

/// Why one partition's election did not happen (each is a Kafka error code).
#[derive(Debug, Clone, Error, PartialEq, Eq, Serialize, Deserialize)]
pub enum ElectionError {
    /// The partition already has the leader asked for (ELECTION_NOT_NEEDED).
    #[error("leader election not needed")]
    NotNeeded,
    /// The preferred replica is down or out of sync
    /// (PREFERRED_LEADER_NOT_AVAILABLE).
    #[error("{0}")]
    PreferredLeaderNotAvailable(String),
    /// No replica may lead (ELIGIBLE_LEADERS_NOT_AVAILABLE).
    #[error("{0}")]
    EligibleLeadersNotAvailable(String),
    /// No such topic or partition.
    #[error("unknown topic or partition")]
    UnknownTopicOrPartition,
    /// No active controller answered in time.
    #[error("{0}")]
    Unavailable(String),
}

/// Why a reassignment of one partition was refused (each a Kafka error code).
#[derive(Debug, Clone, Error, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReassignmentError {
    /// No such topic or partition.
    #[error("unknown topic or partition")]
    UnknownTopicOrPartition,
    /// Empty, duplicate or unknown brokers (INVALID_REPLICA_ASSIGNMENT).
    #[error("{0}")]
    InvalidReplicaAssignment(String),
    /// A cancellation with nothing to cancel (NO_REASSIGNMENT_IN_PROGRESS).
    #[error("no partition reassignment is in progress")]
    NoReassignmentInProgress,
    /// No active controller answered in time.
    #[error("{0}")]
    Unavailable(String),
}

/// The leader `p` should have when `live` brokers are up: its current leader
/// if that one is live, else the first live replica (in replica order, so the
/// preferred leader wins) of the ISR, else with `unclean` the first live
/// replica at all, else none (-1).
pub fn choose_leader(p: &PartitionImage, live: &BTreeSet<i32>, unclean: bool) -> i32 {
    if p.leader >= 0 && live.contains(&p.leader) {
        return p.leader;
    }
    let in_isr = p
        .replicas
        .iter()
        .find(|r| live.contains(r) && p.isr.contains(r));
    let any = || p.replicas.iter().find(|r| live.contains(r));
    match (in_isr, unclean) {
        (Some(r), _) => *r,
        (None, true) => any().copied().unwrap_or(-1),
        (None, false) => -1,
    }
}

/// Records that fence `node_id`: it is marked fenced, it leaves the ISR of
/// every partition where another member remains, and the partitions it led
/// get a new leader (or none) with a bumped epoch.
pub fn fence(image: &MetadataImage, node_id: i32, unclean: bool) -> Vec<MetadataRecord> {
    let mut live: BTreeSet<i32> = image.live_brokers().into_iter().collect();
    live.remove(&node_id);
    let mut records = vec![MetadataRecord::BrokerFenced { node_id }];
    for topic in image.topics.values() {
        for p in topic
            .partitions
            .iter()
            .filter(|p| p.replicas.contains(&node_id))
        {
            let mut next = p.clone();
            if next.isr.len() > 1 {
                next.isr.retain(|r| *r != node_id);
            }
            next.leader = choose_leader(&next, &live, unclean);
            if unclean && next.leader >= 0 && !next.isr.contains(&next.leader) {
                next.isr = vec![next.leader];
            }
            records.extend(change(topic.topic_id, p, next));
        }
    }
    records
}

/// Records that unfence `node_id`: it is marked live, and every partition
/// left without a leader that it may lead (it is in the ISR, or unclean
/// election is on) gets it as leader with a bumped epoch. The first record is
/// always `BrokerUnfenced` (a registration puts its own record there).
pub fn unfence(image: &MetadataImage, node_id: i32, unclean: bool) -> Vec<MetadataRecord> {
    let mut live: BTreeSet<i32> = image.live_brokers().into_iter().collect();
    live.insert(node_id);
    let mut records = vec![MetadataRecord::BrokerUnfenced { node_id }];
    for topic in image.topics.values() {
        for p in topic
            .partitions
            .iter()
            .filter(|p| p.leader < 0 && p.replicas.contains(&node_id))
        {
            let mut next = p.clone();
            next.leader = choose_leader(&next, &live, unclean);
            if next.leader >= 0 && !next.isr.contains(&next.leader) {
                next.isr = vec![next.leader];
            }
            records.extend(change(topic.topic_id, p, next));
        }
    }
    records
}

/// A leader's ISR change (Kafka's AlterPartition), checked against the
/// image: the proposer must still lead under `leader_epoch` (which fences a
/// zombie leader), the ISR must still be `expected` (changes apply in order),
/// and the new ISR holds the leader and only live replicas. `Ok(None)` when
/// the image already has it.
pub fn alter_isr(
    image: &MetadataImage,
    topic: &str,
    partition: i32,
    leader: i32,
    leader_epoch: i32,
    expected: &[i32],
    new_isr: &[i32],
) -> Result<Option<MetadataRecord>, String> {
    let t = image
        .topic(topic)
        .ok_or_else(|| format!("unknown topic {topic}"))?;
    let p = t
        .partitions
        .get(usize::try_from(partition).unwrap_or(usize::MAX))
        .ok_or_else(|| format!("unknown partition {topic}-{partition}"))?;
    if p.leader != leader || p.leader_epoch != leader_epoch {
        return Err(format!(
            "{topic}-{partition} is led by {} in epoch {}, not {leader} in epoch {leader_epoch}",
            p.leader, p.leader_epoch
        ));
    }
    let same = |a: &[i32], b: &[i32]| a.len() == b.len() && a.iter().all(|r| b.contains(r));
    if same(&p.isr, new_isr) {
        return Ok(None);
    }
    if !same(&p.isr, expected) {
        return Err(format!(
            "{topic}-{partition}'s ISR is {:?}, not {expected:?}",
            p.isr
        ));
    }
    let live: BTreeSet<i32> = image.live_brokers().into_iter().collect();
    if !new_isr.contains(&leader) {
        return Err("the ISR must hold its leader".into());
    }
    if let Some(bad) = new_isr
        .iter()
        .find(|r| !p.replicas.contains(r) || (!p.isr.contains(r) && !live.contains(r)))
    {
        return Err(format!(
            "broker {bad} cannot join the ISR of {topic}-{partition}"
        ));
    }
    let mut next = p.clone();
    next.isr = p
        .replicas
        .iter()
        .copied()
        .filter(|r| new_isr.contains(r))
        .collect();
    Ok(change(t.topic_id, p, next))
}

/// The record of one election of `topic_id`'s partition `p` (Kafka's rules):
/// a preferred election moves leadership to the first replica when it does
/// not lead and is live and in sync; an unclean one elects a leader only
/// when there is none, from the ISR if possible, else any live replica (its
/// ISR becomes the new leader alone). The epoch goes up with the leader.
pub fn elect(
    image: &MetadataImage,
    topic_id: [u8; 16],
    p: &PartitionImage,
    kind: ElectionType,
) -> Result<MetadataRecord, ElectionError> {
    let live: BTreeSet<i32> = image.live_brokers().into_iter().collect();
    let mut next = p.clone();
    match kind {
        ElectionType::Preferred => {
            let Some(&preferred) = p.replicas.first() else {
                return Err(ElectionError::PreferredLeaderNotAvailable(
                    "the partition has no replicas".into(),
                ));
            };
            if p.leader == preferred {
                return Err(ElectionError::NotNeeded);
            }
            if !live.contains(&preferred) || !p.isr.contains(&preferred) {
                return Err(ElectionError::PreferredLeaderNotAvailable(format!(
                    "preferred leader {preferred} is not live and in sync (ISR {:?})",
                    p.isr
                )));
            }
            next.leader = preferred;
        }
        ElectionType::Unclean => {
            if p.leader >= 0 && live.contains(&p.leader) {
                return Err(ElectionError::NotNeeded);
            }
            next.leader = choose_leader(p, &live, true);
            if next.leader < 0 {
                return Err(ElectionError::EligibleLeadersNotAvailable(format!(
                    "no replica of {:?} is live",
                    p.replicas
                )));
            }
            if !next.isr.contains(&next.leader) {
                next.isr = vec![next.leader];
            }
        }
    }
    change(topic_id, p, next).ok_or(ElectionError::NotNeeded)
}

/// Kafka's automatic preferred-leader balancing
/// (`auto.leader.rebalance.enable`): for every live broker, the partitions
/// it is the preferred leader of but does not lead; when they are more than
/// `imbalance_percentage` % of the partitions it is preferred for, each of
/// them whose preferred replica is live and in sync gets it back as leader.
/// Partitions being reassigned are left alone.
pub fn rebalance_leaders(image: &MetadataImage, imbalance_percentage: u32) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for broker in image.live_brokers() {
        let mut preferred = 0u64;
        let mut not_led = Vec::new();
        for topic in image.topics.values() {
            for p in &topic.partitions {
                if p.replicas.first() != Some(&broker)
                    || image.reassignment(&topic.topic_id, p.partition).is_some()
                {
                    continue;
                }
                preferred += 1;
                if p.leader != broker {
                    not_led.push((topic.topic_id, p));
                }
            }
        }
        // Kafka: imbalance ratio > percentage / 100.
        let imbalanced = preferred > 0
            && (not_led.len() as u64) * 100 > u64::from(imbalance_percentage) * preferred;
        if !imbalanced {
            continue;
        }
        records.extend(
            not_led
                .into_iter()
                .filter_map(|(id, p)| elect(image, id, p, ElectionType::Preferred).ok()),
        );
    }
    records
}

/// The record that starts, changes or (with `target` `None`) cancels the
/// reassignment of `topic`'s `partition`, as Kafka does (KIP-455). Against
/// the replicas from before any reassignment in progress, the replica set
/// becomes the target followed by the old replicas not in it, and those
/// being added and removed are recorded. A replica that an earlier target
/// was adding and this one does not name leaves at once (with the ISR and,
/// if it led, the leadership); cancelling restores the replicas from
/// before. `Ok(None)`: nothing to change. Completion comes later
/// ([`complete_reassignment`]).
pub fn reassign(
    image: &MetadataImage,
    topic: &str,
    partition: i32,
    target: Option<&[i32]>,
) -> Result<Option<MetadataRecord>, ReassignmentError> {
    let t = image
        .topic(topic)
        .ok_or(ReassignmentError::UnknownTopicOrPartition)?;
    let p = image
        .partition(topic, partition)
        .ok_or(ReassignmentError::UnknownTopicOrPartition)?;
    let current = image.reassignment(&t.topic_id, partition);
    let original = current.map_or_else(|| p.replicas.clone(), |c| c.original().to_vec());
    let target = match target {
        Some(target) => {
            check_target(image, target)?;
            target.to_vec()
        }
        None if current.is_some() => original.clone(),
        None => return Err(ReassignmentError::NoReassignmentInProgress),
    };
    let adding: Vec<i32> = target
        .iter()
        .copied()
        .filter(|r| !original.contains(r))
        .collect();
    let removing: Vec<i32> = original
        .iter()
        .copied()
        .filter(|r| !target.contains(r))
        .collect();
    let replicas: Vec<i32> = target.iter().chain(&removing).copied().collect();
    let unchanged = replicas == p.replicas
        && match current {
            Some(c) => c.adding == adding && c.removing == removing,
            None => adding.is_empty() && removing.is_empty(),
        };
    if unchanged {
        return Ok(None);
    }
    let live: BTreeSet<i32> = image.live_brokers().into_iter().collect();
    let mut next = p.clone();
    next.replicas = replicas;
    next.isr.retain(|r| next.replicas.contains(r));
    if next.isr.is_empty() {
        return Err(ReassignmentError::InvalidReplicaAssignment(format!(
            "none of {:?} is in sync (ISR {:?})",
            next.replicas, p.isr
        )));
    }
    if !next.replicas.contains(&next.leader) {
        next.leader = -1;
    }
    next.leader = choose_leader(&next, &live, false);
    Ok(Some(replicas_changed(
        t.topic_id, p, next, adding, removing,
    )))
}

/// Kafka's checks of a reassignment target: not empty, no duplicates, only
/// registered brokers.
fn check_target(image: &MetadataImage, target: &[i32]) -> Result<(), ReassignmentError> {
    let invalid = |why: String| Err(ReassignmentError::InvalidReplicaAssignment(why));
    if target.is_empty() {
        return invalid("the replica list is empty".into());
    }
    let distinct: BTreeSet<i32> = target.iter().copied().collect();
    if distinct.len() != target.len() {
        return invalid(format!("duplicate brokers in {target:?}"));
    }
    if let Some(unknown) = target.iter().find(|b| !image.brokers.contains_key(b)) {
        return invalid(format!("broker {unknown} is not registered"));
    }
    Ok(())
}

/// The record finishing the reassignment of `topic_id`'s `partition` once
/// every target replica is in sync: the replica set becomes the target, the
/// removed replicas leave the ISR, and if the leader is one of them (or is
/// down) the first live in-sync target replica takes over with a bumped
/// epoch. `None` while it must wait (or when nothing is in progress).
pub fn complete_reassignment(
    image: &MetadataImage,
    topic_id: [u8; 16],
    partition: i32,
) -> Option<MetadataRecord> {
    let reassignment = image.reassignment(&topic_id, partition)?;
    let name = image.topic_names.get(&topic_id)?;
    let p = image.partition(name, partition)?;
    let target = reassignment.target(&p.replicas);
    if target.is_empty() || !target.iter().all(|r| p.isr.contains(r)) {
        return None;
    }
    let live: BTreeSet<i32> = image.live_brokers().into_iter().collect();
    let mut next = p.clone();
    next.replicas = target;
    next.isr = next.replicas.clone();
    if !next.replicas.contains(&next.leader) {
        next.leader = -1;
    }
    next.leader = choose_leader(&next, &live, false);
    if next.leader < 0 {
        return None;
    }
    Some(replicas_changed(topic_id, p, next, Vec::new(), Vec::new()))
}

/// Every reassignment that can complete now.
pub fn complete_reassignments(image: &MetadataImage) -> Vec<MetadataRecord> {
    image
        .reassignments
        .keys()
        .filter_map(|(id, partition)| complete_reassignment(image, *id, *partition))
        .collect()
}

/// A `PartitionReplicasChanged` turning `before` into `after` with
/// `adding` and `removing` in progress (both empty: none); the epoch goes up
/// with the leader.
fn replicas_changed(
    topic_id: [u8; 16],
    before: &PartitionImage,
    after: PartitionImage,
    adding: Vec<i32>,
    removing: Vec<i32>,
) -> MetadataRecord {
    let leader_epoch = if before.leader == after.leader {
        before.leader_epoch
    } else {
        before.leader_epoch + 1
    };
    MetadataRecord::PartitionReplicasChanged {
        topic_id,
        partition: before.partition,
        replicas: after.replicas,
        adding,
        removing,
        leader: after.leader,
        leader_epoch,
        isr: after.isr,
    }
}

/// The record turning `before` into `after`, if they differ; the leader
/// epoch goes up when the leader changes.
fn change(
    topic_id: [u8; 16],
    before: &PartitionImage,
    after: PartitionImage,
) -> Option<MetadataRecord> {
    if before.leader == after.leader && before.isr == after.isr {
        return None;
    }
    let leader_epoch = if before.leader == after.leader {
        before.leader_epoch
    } else {
        before.leader_epoch + 1
    };
    Some(MetadataRecord::PartitionChanged {
        topic_id,
        partition: before.partition,
        leader: after.leader,
        leader_epoch,
        isr: after.isr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::records::Endpoint;

    fn image(brokers: &[i32], partitions: Vec<Vec<i32>>) -> MetadataImage {
        let mut records: Vec<MetadataRecord> = brokers
            .iter()
            .map(|&node_id| MetadataRecord::BrokerRegistered {
                node_id,
                endpoints: vec![Endpoint {
                    listener: "PLAINTEXT".into(),
                    host: "h".into(),
                    port: 1,
                }],
                rack: None,
            })
            .collect();
        records.push(MetadataRecord::TopicCreated {
            topic_id: [1; 16],
            name: "t".into(),
            partitions,
            configs: Vec::new(),
        });
        records
            .iter()
            .fold(MetadataImage::default(), |i, r| i.apply(r))
    }

    fn apply(image: &MetadataImage, records: &[MetadataRecord]) -> MetadataImage {
        records.iter().fold(image.clone(), |i, r| i.apply(r))
    }

    fn partition(image: &MetadataImage, p: i32) -> PartitionImage {
        image.partition("t", p).unwrap().clone()
    }

    #[test]
    fn leaders_come_from_the_live_isr_in_replica_order() {
        let p = PartitionImage {
            partition: 0,
            leader: 1,
            leader_epoch: 4,
            replicas: vec![1, 2, 3],
            isr: vec![1, 3],
        };
        let live = |ids: &[i32]| ids.iter().copied().collect::<BTreeSet<i32>>();
        assert_eq!(
            choose_leader(&p, &live(&[1, 2, 3]), false),
            1,
            "a live leader stays"
        );
        assert_eq!(
            choose_leader(&p, &live(&[2, 3]), false),
            3,
            "2 is not in sync"
        );
        assert_eq!(
            choose_leader(&p, &live(&[2]), false),
            -1,
            "unclean election is off"
        );
        assert_eq!(
            choose_leader(&p, &live(&[2]), true),
            2,
            "unclean election is on"
        );
        assert_eq!(choose_leader(&p, &live(&[]), true), -1);
    }

    #[test]
    fn fencing_moves_leadership_within_the_isr_and_bumps_epochs() {
        let before = image(&[1, 2, 3], vec![vec![1, 2, 3], vec![2, 3, 1], vec![1]]);
        let after = apply(&before, &fence(&before, 1, false));
        assert!(after.brokers[&1].fenced);
        assert_eq!(after.live_brokers(), vec![2, 3]);
        let p0 = partition(&after, 0);
        assert_eq!(
            (p0.leader, p0.leader_epoch, p0.isr.clone()),
            (2, 1, vec![2, 3])
        );
        let p1 = partition(&after, 1);
        assert_eq!(
            (p1.leader, p1.leader_epoch, p1.isr.clone()),
            (2, 0, vec![2, 3]),
            "only the ISR shrank"
        );
        let p2 = partition(&after, 2);
        assert_eq!(
            (p2.leader, p2.leader_epoch, p2.isr.clone()),
            (-1, 1, vec![1]),
            "the last ISR member stays"
        );

        // Back again: it leads what nobody else could, with a new epoch.
        let back = apply(&after, &unfence(&after, 1, false));
        assert!(!back.brokers[&1].fenced);
        let p2 = partition(&back, 2);
        assert_eq!((p2.leader, p2.leader_epoch), (1, 2));
        assert_eq!(
            partition(&back, 0).leader,
            2,
            "a live leader is not moved back"
        );
    }

    #[test]
    fn an_out_of_sync_replica_leads_only_with_unclean_election() {
        let mut before = image(&[1, 2], vec![vec![1, 2]]);
        let shrink = MetadataRecord::PartitionChanged {
            topic_id: [1; 16],
            partition: 0,
            leader: 1,
            leader_epoch: 0,
            isr: vec![1],
        };
        before = before.apply(&shrink);
        let clean = apply(&before, &fence(&before, 1, false));
        assert_eq!(partition(&clean, 0).leader, -1);
        let unclean = apply(&before, &fence(&before, 1, true));
        let p = partition(&unclean, 0);
        assert_eq!((p.leader, p.isr.clone()), (2, vec![2]));
    }

    #[test]
    fn an_isr_change_needs_the_current_leader_epoch_and_isr() {
        let img = image(&[1, 2, 3], vec![vec![1, 2, 3]]);
        let p = &img.topic("t").unwrap().partitions[0];
        let (leader, epoch) = (p.leader, p.leader_epoch);
        let shrink = alter_isr(&img, "t", 0, leader, epoch, &[1, 2, 3], &[1, 2]).unwrap();
        assert!(
            matches!(&shrink, Some(MetadataRecord::PartitionChanged { isr, leader_epoch, .. }) if *isr == vec![1, 2] && *leader_epoch == epoch),
            "{shrink:?}"
        );
        // A zombie leader (older epoch) and a stale ISR are refused.
        assert!(alter_isr(&img, "t", 0, leader, epoch - 1, &[1, 2, 3], &[1, 2]).is_err());
        assert!(alter_isr(&img, "t", 0, 2, epoch, &[1, 2, 3], &[2, 3]).is_err());
        assert!(alter_isr(&img, "t", 0, leader, epoch, &[1, 2], &[1]).is_err());
        // The leader stays in; strangers never get in; a no-op is fine.
        assert!(alter_isr(&img, "t", 0, leader, epoch, &[1, 2, 3], &[2, 3]).is_err());
        assert!(alter_isr(&img, "t", 0, leader, epoch, &[1, 2, 3], &[1, 2, 3, 4]).is_err());
        assert_eq!(
            alter_isr(&img, "t", 0, leader, epoch, &[1, 2], &[3, 2, 1]),
            Ok(None)
        );
        assert!(alter_isr(&img, "nope", 0, leader, epoch, &[1], &[1]).is_err());
    }

    fn isr_of(image: &MetadataImage, p: i32, isr: Vec<i32>) -> MetadataRecord {
        let current = partition(image, p);
        MetadataRecord::PartitionChanged {
            topic_id: [1; 16],
            partition: p,
            leader: current.leader,
            leader_epoch: current.leader_epoch,
            isr,
        }
    }

    fn led_by(image: &MetadataImage, p: i32, leader: i32) -> MetadataRecord {
        let current = partition(image, p);
        MetadataRecord::PartitionChanged {
            topic_id: [1; 16],
            partition: p,
            leader,
            leader_epoch: current.leader_epoch + 1,
            isr: current.isr,
        }
    }

    fn elect_in(
        image: &MetadataImage,
        p: i32,
        kind: ElectionType,
    ) -> Result<MetadataRecord, ElectionError> {
        elect(image, [1; 16], &partition(image, p), kind)
    }

    #[test]
    fn preferred_election_needs_the_first_replica_live_and_in_sync() {
        let before = image(&[1, 2, 3], vec![vec![1, 2, 3]]);
        assert_eq!(
            elect_in(&before, 0, ElectionType::Preferred),
            Err(ElectionError::NotNeeded)
        );
        // 1 dies: 2 leads; 1 comes back out of sync: it cannot lead yet.
        let away = apply(&before, &fence(&before, 1, false));
        let back = apply(&away, &unfence(&away, 1, false));
        assert_eq!(partition(&back, 0).leader, 2);
        assert!(matches!(
            elect_in(&back, 0, ElectionType::Preferred),
            Err(ElectionError::PreferredLeaderNotAvailable(_))
        ));
        // In sync again: it takes leadership back under a new epoch.
        let synced = back.apply(&isr_of(&back, 0, vec![1, 2, 3]));
        let record = elect_in(&synced, 0, ElectionType::Preferred).unwrap();
        let p = partition(&synced.apply(&record), 0);
        assert_eq!((p.leader, p.leader_epoch, p.isr), (1, 2, vec![1, 2, 3]));
        // In sync but fenced: not available either.
        let fenced = synced.apply(&MetadataRecord::BrokerFenced { node_id: 1 });
        assert!(matches!(
            elect_in(&fenced, 0, ElectionType::Preferred),
            Err(ElectionError::PreferredLeaderNotAvailable(_))
        ));
    }

    #[test]
    fn unclean_election_only_fills_a_missing_leader() {
        let mut before = image(&[1, 2], vec![vec![1, 2]]);
        before = before.apply(&isr_of(&before, 0, vec![1]));
        assert_eq!(
            elect_in(&before, 0, ElectionType::Unclean),
            Err(ElectionError::NotNeeded)
        );
        let leaderless = apply(&before, &fence(&before, 1, false));
        assert_eq!(partition(&leaderless, 0).leader, -1);
        let record = elect_in(&leaderless, 0, ElectionType::Unclean).unwrap();
        let p = partition(&leaderless.apply(&record), 0);
        assert_eq!((p.leader, p.leader_epoch, p.isr), (2, 2, vec![2]));
        let nobody = apply(&leaderless, &fence(&leaderless, 2, false));
        assert!(matches!(
            elect_in(&nobody, 0, ElectionType::Unclean),
            Err(ElectionError::EligibleLeadersNotAvailable(_))
        ));
    }

    #[test]
    fn automatic_rebalance_waits_for_more_than_the_imbalance_percentage() {
        let mut img = image(&[1, 2], vec![vec![1, 2]; 10]);
        img = img.apply(&led_by(&img, 0, 2));
        assert!(
            rebalance_leaders(&img, 10).is_empty(),
            "1 of 10 (10 %) is not above 10 %"
        );
        assert_eq!(rebalance_leaders(&img, 0).len(), 1);
        img = img.apply(&led_by(&img, 1, 2));
        let records = rebalance_leaders(&img, 10);
        assert_eq!(records.len(), 2, "2 of 10 is above 10 %");
        let balanced = apply(&img, &records);
        assert!(
            (0..10).all(|p| partition(&balanced, p).leader == 1),
            "leadership is back on the preferred replica"
        );
        assert_eq!(partition(&balanced, 0).leader_epoch, 2);
        assert!(rebalance_leaders(&balanced, 10).is_empty());
        // A preferred replica out of sync is left alone.
        let mut lagging = img.apply(&isr_of(&img, 0, vec![2]));
        lagging = lagging.apply(&isr_of(&lagging, 1, vec![2]));
        assert!(rebalance_leaders(&lagging, 10).is_empty());
    }

    #[test]
    fn a_reassignment_adds_first_and_drops_once_the_target_is_in_sync() {
        let before = image(&[1, 2, 3], vec![vec![1, 2]]);
        let start = reassign(&before, "t", 0, Some(&[2, 3])).unwrap().unwrap();
        let moving = before.apply(&start);
        let p = partition(&moving, 0);
        assert_eq!(
            (p.replicas.clone(), p.leader, p.leader_epoch),
            (vec![2, 3, 1], 1, 0)
        );
        let r = moving.reassignment(&[1; 16], 0).unwrap();
        assert_eq!((r.adding.clone(), r.removing.clone()), (vec![3], vec![1]));
        assert_eq!(
            reassign(&moving, "t", 0, Some(&[2, 3])),
            Ok(None),
            "same target"
        );
        // A new target counts from the replicas from before, [1, 2].
        let retarget = moving.apply(&reassign(&moving, "t", 0, Some(&[3, 1])).unwrap().unwrap());
        let r = retarget.reassignment(&[1; 16], 0).unwrap();
        assert_eq!(partition(&retarget, 0).replicas, vec![3, 1, 2]);
        assert_eq!((r.adding.clone(), r.removing.clone()), (vec![3], vec![2]));
        let same_as_before = reassign(&moving, "t", 0, Some(&[1, 2])).unwrap().unwrap();
        assert_eq!(
            same_as_before,
            reassign(&moving, "t", 0, None).unwrap().unwrap()
        );
        assert_eq!(
            complete_reassignment(&moving, [1; 16], 0),
            None,
            "3 is not in sync"
        );
        assert!(complete_reassignments(&moving).is_empty());

        // 3 caught up: 1 (the leader) is dropped, 2 leads under a new epoch.
        let synced = moving.apply(&isr_of(&moving, 0, vec![1, 2, 3]));
        let records = complete_reassignments(&synced);
        assert_eq!(records.len(), 1);
        let done = apply(&synced, &records);
        let p = partition(&done, 0);
        assert_eq!(
            (p.replicas, p.isr, p.leader, p.leader_epoch),
            (vec![2, 3], vec![2, 3], 2, 1)
        );
        assert!(done.reassignments.is_empty());
        assert_eq!(
            reassign(&done, "t", 0, None),
            Err(ReassignmentError::NoReassignmentInProgress)
        );
    }

    #[test]
    fn a_cancelled_reassignment_reverts() {
        let before = image(&[1, 2, 3], vec![vec![1, 2]]);
        let moving = before.apply(&reassign(&before, "t", 0, Some(&[3, 2])).unwrap().unwrap());
        assert_eq!(partition(&moving, 0).replicas, vec![3, 2, 1]);
        let synced = moving.apply(&isr_of(&moving, 0, vec![1, 2, 3]));
        let cancelled = synced.apply(&reassign(&synced, "t", 0, None).unwrap().unwrap());
        let p = partition(&cancelled, 0);
        assert_eq!(
            (p.replicas, p.isr, p.leader, p.leader_epoch),
            (vec![1, 2], vec![1, 2], 1, 0),
            "the order from before: 1 is preferred again"
        );
        assert!(cancelled.reassignments.is_empty());
        // Reordering alone applies at once; the same order changes nothing.
        let reordered = before.apply(&reassign(&before, "t", 0, Some(&[2, 1])).unwrap().unwrap());
        assert_eq!(partition(&reordered, 0).replicas, vec![2, 1]);
        assert!(reordered.reassignments.is_empty());
        assert_eq!(reassign(&before, "t", 0, Some(&[1, 2])), Ok(None));
        // Shrinking completes as soon as it is checked.
        let shrink = before.apply(&reassign(&before, "t", 0, Some(&[2])).unwrap().unwrap());
        let done = apply(&shrink, &complete_reassignments(&shrink));
        let p = partition(&done, 0);
        assert_eq!((p.replicas, p.leader, p.leader_epoch), (vec![2], 2, 1));
    }

    #[test]
    fn bad_reassignments_are_refused() {
        let img = image(&[1, 2, 3], vec![vec![1, 2]]);
        for (topic, partition, target) in
            [("nope", 0, vec![1]), ("t", 1, vec![1]), ("t", -1, vec![1])]
        {
            assert_eq!(
                reassign(&img, topic, partition, Some(&target)),
                Err(ReassignmentError::UnknownTopicOrPartition)
            );
        }
        for target in [vec![], vec![2, 2], vec![1, 9]] {
            assert!(
                matches!(
                    reassign(&img, "t", 0, Some(&target)),
                    Err(ReassignmentError::InvalidReplicaAssignment(_))
                ),
                "{target:?}"
            );
        }
        assert_eq!(
            reassign(&img, "t", 0, None),
            Err(ReassignmentError::NoReassignmentInProgress)
        );
    }
}
