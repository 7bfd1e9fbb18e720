//! The directory of known groups on this broker, shared by the manager, the
//! coordinators and the ListGroups handler: each group's listed state and, for a
//! group with no running coordinator ("dormant"), its committed offsets and
//! stored metadata.
//!
//! A coordinator publishes its state as it changes and, when it stops while idle,
//! parks what it holds here; the manager hands it to the next coordinator of that
//! group, so a group is never replayed from the log twice.

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

const EMPTY: &str = "Empty";
const STABLE: &str = "Stable";

impl GroupDirectory {
    /// Records the groups replayed from offsets partition `partition` as dormant.
    pub fn load(&self, partition: i32, groups: PartitionGroups, now_ms: i64) {
        let mut inner = self.inner.lock();
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

    /// Parks a stopping coordinator's state; a group with nothing left is forgotten.
    pub fn park(&self, group_id: &str, loaded: LoadedGroup, now_ms: i64) {
        let mut inner = self.inner.lock();
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

    /// Publishes a running group's state.
    pub fn publish(&self, group_id: &str, listing: GroupListing) {
        let mut inner = self.inner.lock();
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
        }
    }

    #[test]
    fn loaded_groups_are_listed_taken_once_and_parked_again() {
        let d = GroupDirectory::default();
        assert_eq!(d.take("a", 0), StartingGroup::Unknown);
        d.load(0, PartitionGroups::from([("a".into(), offsets(3))]), 0);
        assert!(d.contains("a") && d.is_loaded(0));
        assert_eq!(d.list()[0].1.state, "Empty");
        assert_eq!(d.take("a", 0), StartingGroup::Known(offsets(3)));
        assert_eq!(d.take("a", 0), StartingGroup::Known(LoadedGroup::default()));
        d.park("a", offsets(4), 10);
        assert_eq!(d.take("a", 0), StartingGroup::Known(offsets(4)));
        d.park("a", LoadedGroup::default(), 10);
        assert!(!d.contains("a"), "a group without offsets is forgotten");
        d.mark_for_replay("a");
        assert_eq!(d.take("a", 0), StartingGroup::Unknown, "after a failure");
        assert_eq!(d.take("a", 0), StartingGroup::Known(LoadedGroup::default()));
    }

    #[test]
    fn expiry_removes_offsets_and_forgets_emptied_groups() {
        let d = GroupDirectory::default();
        d.park("old", offsets(1), 0);
        d.park("new", offsets(1), 100);
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
