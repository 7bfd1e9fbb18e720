//! The directory of known groups on this broker, shared by the manager, the
//! coordinators and the ListGroups handler: each group's listed state and, for a
//! group with no running coordinator ("dormant"), its committed offsets and
//! stored metadata.
//!
//! A coordinator publishes its state as it changes and, when it stops while idle,
//! parks what it holds here; the manager hands it to the next coordinator of that
//! group, so a group is never replayed from the log twice.
//!
//! Everything here belongs to one leadership of an offsets partition (its leader
//! epoch): when this broker stops leading a partition, the partition's groups are
//! forgotten, and a coordinator of an older leadership can neither park nor
//! publish. A broker that leads the partition again replays it, so it never
//! serves the view it had before another leader took commits.

use std::collections::{BTreeMap, HashMap, HashSet};

use parking_lot::Mutex;

use super::offsets::{GroupOffsets, LoadedGroup, PartitionGroups};

/// What ListGroups shows of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    /// Kafka's state name (`Empty`, `Stable`, …).
    pub state: &'static str,
    /// Protocol type ("consumer" for Kafka consumers; empty when unknown).
    pub protocol_type: String,
}

/// A dormant group's committed offset: (group, topic, partition, offset).
pub type DormantOffset = (String, String, i32, i64);

/// The shared directory.
#[derive(Debug, Default)]
pub struct GroupDirectory {
    /// Guarded state; held only for map operations, never across an await.
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Every known group.
    listings: BTreeMap<String, GroupListing>,
    /// Offsets and metadata of dormant groups, and since when they have been
    /// dormant (ms).
    dormant: HashMap<String, (LoadedGroup, i64)>,
    /// Offsets partitions this broker leads, with their leader epoch.
    led: HashMap<i32, i32>,
    /// Offsets partitions replayed into `dormant`.
    loaded_partitions: HashSet<i32>,
    /// Groups whose coordinator failed: their offsets are only in the log now.
    replay: HashSet<String>,
}

/// What a new coordinator starts from.
#[derive(Debug, Clone, PartialEq)]
pub enum StartingGroup {
    /// This state (possibly nothing: the group's partition was loaded and had none).
    Known(LoadedGroup),
    /// Not known here: replay the group's offsets partition.
    Unknown,
}

/// One leadership of an offsets partition: what a coordinator's state belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leadership {
    /// The offsets partition.
    pub partition: i32,
    /// Its leader epoch when this broker took the lead.
    pub epoch: i32,
}

const EMPTY: &str = "Empty";
const STABLE: &str = "Stable";

impl GroupDirectory {
    /// This broker leads offsets partition `lead.partition` from `lead.epoch`.
    pub fn lead(&self, lead: Leadership) {
        self.inner.lock().led.insert(lead.partition, lead.epoch);
    }

    /// The leadership of `partition` this broker holds, if any.
    pub fn leadership(&self, partition: i32) -> Option<Leadership> {
        let epoch = *self.inner.lock().led.get(&partition)?;
        Some(Leadership { partition, epoch })
    }

    /// This broker no longer leads offsets partition `partition`: forgets its
    /// groups (`of_partition` tells a group's partition), so a later leadership
    /// replays them from the log.
    pub fn resign(&self, partition: i32, of_partition: impl Fn(&str) -> i32) {
        let mut inner = self.inner.lock();
        inner.led.remove(&partition);
        inner.loaded_partitions.remove(&partition);
        inner.listings.retain(|g, _| of_partition(g) != partition);
        inner.dormant.retain(|g, _| of_partition(g) != partition);
        inner.replay.retain(|g| of_partition(g) != partition);
    }

    /// Records the groups replayed from an offsets partition as dormant, unless
    /// the leadership they were read under has ended.
    pub fn load(&self, lead: Leadership, groups: PartitionGroups, now_ms: i64) {
        let mut inner = self.inner.lock();
        if inner.led.get(&lead.partition) != Some(&lead.epoch) {
            return;
        }
        let partition = lead.partition;
        for (group_id, loaded) in groups {
            let listing = GroupListing {
                state: if loaded
                    .snapshot
                    .as_ref()
                    .is_some_and(|s| !s.members.is_empty())
                {
                    STABLE
                } else {
                    EMPTY
                },
                protocol_type: loaded
                    .snapshot
                    .as_ref()
                    .and_then(|s| s.protocol_type.clone())
                    .unwrap_or_default(),
            };
            inner.listings.entry(group_id.clone()).or_insert(listing);
            inner.dormant.entry(group_id).or_insert((loaded, now_ms));
        }
        inner.loaded_partitions.insert(partition);
    }

    /// Forgets everything (a restarted manager replays the log again: the log,
    /// not this cache, is the truth).
    pub fn reset(&self) {
        *self.inner.lock() = Inner::default();
    }

    /// The group's coordinator failed with its offsets: the next one replays them.
    pub fn mark_for_replay(&self, group_id: &str) {
        self.inner.lock().replay.insert(group_id.to_owned());
    }

    /// Whether offsets partition `partition` has been replayed.
    pub fn is_loaded(&self, partition: i32) -> bool {
        self.inner.lock().loaded_partitions.contains(&partition)
    }

    /// Takes a dormant group's offsets and metadata for its new coordinator.
    pub fn take(&self, group_id: &str, partition: i32) -> StartingGroup {
        let mut inner = self.inner.lock();
        if inner.replay.remove(group_id) {
            inner.dormant.remove(group_id);
            return StartingGroup::Unknown;
        }
        match inner.dormant.remove(group_id) {
            Some((loaded, _)) => StartingGroup::Known(loaded),
            None if inner.loaded_partitions.contains(&partition) => {
                StartingGroup::Known(LoadedGroup::default())
            }
            None => StartingGroup::Unknown,
        }
    }

    /// Parks a stopping coordinator's state; a group with nothing left is
    /// forgotten, and so is the state of a leadership that has ended.
    pub fn park(&self, group_id: &str, lead: Leadership, loaded: LoadedGroup, now_ms: i64) {
        let mut inner = self.inner.lock();
        if inner.led.get(&lead.partition) != Some(&lead.epoch) {
            return;
        }
        if loaded.is_empty() {
            inner.listings.remove(group_id);
            return;
        }
        let protocol_type = inner
            .listings
            .get(group_id)
            .map(|l| l.protocol_type.clone())
            .unwrap_or_default();
        inner.listings.insert(
            group_id.to_owned(),
            GroupListing {
                state: EMPTY,
                protocol_type,
            },
        );
        inner.dormant.insert(group_id.to_owned(), (loaded, now_ms));
    }

    /// A transaction's marker reached an offsets partition: dormant groups
    /// of `in_partition` settle their offsets of that transaction.
    pub fn complete_txn(
        &self,
        producer_id: i64,
        commit: bool,
        in_partition: impl Fn(&str) -> bool,
    ) {
        let mut inner = self.inner.lock();
        for (group_id, (loaded, _)) in inner.dormant.iter_mut() {
            if in_partition(group_id) {
                loaded.complete_txn(producer_id, commit);
            }
        }
    }

    /// Publishes a running group's state (not once its leadership has ended).
    pub fn publish(&self, group_id: &str, lead: Leadership, listing: GroupListing) {
        let mut inner = self.inner.lock();
        if inner.led.get(&lead.partition) != Some(&lead.epoch) {
            return;
        }
        if inner.listings.get(group_id) != Some(&listing) {
            inner.listings.insert(group_id.to_owned(), listing);
        }
    }

    /// Forgets a group (deleted).
    pub fn remove(&self, group_id: &str) {
        let mut inner = self.inner.lock();
        inner.listings.remove(group_id);
        inner.dormant.remove(group_id);
    }

    /// Dormant groups whose stored generation has members (their sessions must be
    /// tracked by a running coordinator).
    pub fn dormant_with_members(&self) -> Vec<String> {
        let inner = self.inner.lock();
        let mut ids: Vec<String> = inner
            .dormant
            .iter()
            .filter(|(_, (loaded, _))| {
                loaded
                    .snapshot
                    .as_ref()
                    .is_some_and(|s| !s.members.is_empty())
            })
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// The ids of the running groups (their offsets are with their
    /// coordinators), and the dormant groups' committed offsets as
    /// (group, topic, partition, offset).
    pub fn offsets_view(&self) -> (Vec<String>, Vec<DormantOffset>) {
        let inner = self.inner.lock();
        let running = inner
            .listings
            .keys()
            .filter(|id| !inner.dormant.contains_key(*id))
            .cloned()
            .collect();
        let dormant = inner
            .dormant
            .iter()
            .flat_map(|(group, (loaded, _))| {
                loaded.offsets.iter().map(|((topic, partition), value)| {
                    (group.clone(), topic.clone(), *partition, value.offset)
                })
            })
            .collect();
        (running, dormant)
    }

    /// Whether the group is known (running or dormant).
    pub fn contains(&self, group_id: &str) -> bool {
        self.inner.lock().listings.contains_key(group_id)
    }

    /// Every known group, by id.
    pub fn list(&self) -> Vec<(String, GroupListing)> {
        let inner = self.inner.lock();
        inner
            .listings
            .iter()
            .map(|(id, l)| (id.clone(), l.clone()))
            .collect()
    }

    /// Removes and returns the dormant offsets past retention, by group, keeping
    /// the rest (`expired` decides per group from its offsets and dormant time).
    pub fn expire(
        &self,
        mut expired: impl FnMut(&GroupOffsets, i64) -> Vec<(String, i32)>,
    ) -> Vec<(String, Vec<(String, i32)>)> {
        let mut inner = self.inner.lock();
        let mut out = Vec::new();
        let mut emptied = Vec::new();
        for (group_id, (loaded, since_ms)) in inner.dormant.iter_mut() {
            let keys = expired(&loaded.offsets, *since_ms);
            if keys.is_empty() {
                continue;
            }
            for key in &keys {
                loaded.offsets.remove(key);
            }
            if loaded.is_empty() {
                emptied.push(group_id.clone());
            }
            out.push((group_id.clone(), keys));
        }
        for group_id in emptied {
            inner.dormant.remove(&group_id);
            inner.listings.remove(&group_id);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::offsets::OffsetValue;

    fn offsets(n: i64) -> LoadedGroup {
        let mut o = GroupOffsets::new();
        o.insert(
            ("t".into(), 0),
            OffsetValue {
                offset: n,
                leader_epoch: -1,
                metadata: None,
                commit_timestamp_ms: 0,
            },
        );
        LoadedGroup {
            offsets: o,
            snapshot: None,
            ..LoadedGroup::default()
        }
    }

    const P0: Leadership = Leadership {
        partition: 0,
        epoch: 1,
    };

    #[test]
    fn loaded_groups_are_listed_taken_once_and_parked_again() {
        let d = GroupDirectory::default();
        assert_eq!(d.take("a", 0), StartingGroup::Unknown);
        d.lead(P0);
        d.load(P0, PartitionGroups::from([("a".into(), offsets(3))]), 0);
        assert!(d.contains("a") && d.is_loaded(0));
        assert_eq!(d.list()[0].1.state, "Empty");
        assert_eq!(d.take("a", 0), StartingGroup::Known(offsets(3)));
        assert_eq!(d.take("a", 0), StartingGroup::Known(LoadedGroup::default()));
        d.park("a", P0, offsets(4), 10);
        assert_eq!(d.take("a", 0), StartingGroup::Known(offsets(4)));
        d.park("a", P0, LoadedGroup::default(), 10);
        assert!(!d.contains("a"), "a group without offsets is forgotten");
        d.mark_for_replay("a");
        assert_eq!(d.take("a", 0), StartingGroup::Unknown, "after a failure");
        assert_eq!(d.take("a", 0), StartingGroup::Known(LoadedGroup::default()));
    }

    #[test]
    fn a_resigned_partition_is_forgotten_and_its_old_leadership_ignored() {
        let d = GroupDirectory::default();
        let p1 = Leadership {
            partition: 1,
            epoch: 1,
        };
        let of_partition = |g: &str| if g.starts_with('a') { 0 } else { 1 };
        d.lead(P0);
        d.lead(p1);
        d.load(P0, PartitionGroups::from([("a".into(), offsets(3))]), 0);
        d.load(p1, PartitionGroups::from([("b".into(), offsets(5))]), 0);
        d.resign(0, of_partition);
        assert!(!d.contains("a") && d.contains("b") && !d.is_loaded(0));
        assert_eq!(d.leadership(0), None);
        assert_eq!(
            d.take("a", 0),
            StartingGroup::Unknown,
            "replayed, not stale"
        );
        // A coordinator of the ended leadership parks and publishes nothing.
        d.park("a2", P0, offsets(4), 10);
        d.publish(
            "a3",
            P0,
            GroupListing {
                state: STABLE,
                protocol_type: "consumer".into(),
            },
        );
        assert!(!d.contains("a2") && !d.contains("a3"));
        // Led again, at a later epoch: a late load of the old one is dropped.
        let again = Leadership {
            partition: 0,
            epoch: 3,
        };
        d.lead(again);
        d.load(P0, PartitionGroups::from([("a".into(), offsets(3))]), 0);
        assert!(!d.is_loaded(0));
        d.load(again, PartitionGroups::from([("a".into(), offsets(9))]), 0);
        assert_eq!(d.take("a", 0), StartingGroup::Known(offsets(9)));
    }

    #[test]
    fn expiry_removes_offsets_and_forgets_emptied_groups() {
        let d = GroupDirectory::default();
        d.lead(P0);
        d.park("old", P0, offsets(1), 0);
        d.park("new", P0, offsets(1), 100);
        let gone = d.expire(|_, since| {
            if since < 50 {
                vec![("t".into(), 0)]
            } else {
                vec![]
            }
        });
        assert_eq!(gone, vec![("old".to_string(), vec![("t".to_string(), 0)])]);
        assert!(!d.contains("old") && d.contains("new"));
    }
}
