//! The active controller's decisions about brokers and leaders, as pure
//! functions of the image: which records fence a broker whose lease expired,
//! which unfence one that heartbeat again, and who leads a partition.
//!
//! Kafka's rules: a new leader comes from the ISR and is live; an out-of-sync
//! replica leads only with unclean election on; the last member of an ISR is
//! never removed from it (so it can lead again when it comes back); every
//! leader change bumps the leader epoch.

use std::collections::BTreeSet;

use super::image::{MetadataImage, PartitionImage};
use super::records::MetadataRecord;

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
}
