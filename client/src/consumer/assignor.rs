//! Client-side partition assignors: the group leader runs one over every member's
//! subscription and sends the result back in SyncGroup.
//!
//! They are pure functions of their input, and order every tie by Kafka's member
//! order (static members by `group.instance.id`, then dynamic ones by member id),
//! so a group mixing our consumers and Java ones gets the assignment a Java
//! leader would compute for `range` and `roundrobin`.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// One member's JoinGroup subscription, as the leader sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberSubscription {
    /// The coordinator-assigned member id (unique in the group).
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
    /// Subscribed topics.
    pub topics: Vec<String>,
    /// Partitions the member owns now (cooperative protocol).
    pub owned_partitions: Vec<(String, i32)>,
    /// Generation in which it got them (-1 when unknown).
    pub generation_id: i32,
}

/// A partition assignment strategy, named as in `partition.assignment.strategy`.
pub trait Assignor: Send + Sync {
    /// The protocol name sent in JoinGroup.
    fn name(&self) -> &'static str;

    /// Assigns the partitions of the subscribed topics (those absent from
    /// `partitions_per_topic` have no partitions yet and are skipped). Every member
    /// appears in the result, with an empty list if it gets nothing; each list is
    /// sorted by topic, then partition.
    fn assign(
        &self,
        members: &[MemberSubscription],
        partitions_per_topic: &BTreeMap<String, i32>,
    ) -> BTreeMap<String, Vec<(String, i32)>>;
}

/// Kafka's member order (`AbstractPartitionAssignor.MemberInfo`): static members
/// first by instance id, then dynamic ones by member id; member id breaks ties.
fn member_order(a: &MemberSubscription, b: &MemberSubscription) -> Ordering {
    let by_instance = match (&a.group_instance_id, &b.group_instance_id) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    by_instance.then_with(|| a.member_id.cmp(&b.member_id))
}

/// `members` in Kafka's member order.
fn ranked(members: &[MemberSubscription]) -> Vec<&MemberSubscription> {
    let mut ranked: Vec<_> = members.iter().collect();
    ranked.sort_by(|a, b| member_order(a, b));
    ranked
}

/// Every member with an empty list.
fn empty_assignment(members: &[MemberSubscription]) -> BTreeMap<String, Vec<(String, i32)>> {
    members
        .iter()
        .map(|m| (m.member_id.clone(), Vec::new()))
        .collect()
}

fn sort_lists(assignment: &mut BTreeMap<String, Vec<(String, i32)>>) {
    for list in assignment.values_mut() {
        list.sort();
    }
}

/// Kafka's `range`: per topic, the subscribed members in member order get
/// contiguous ranges of partitions, the first `partitions % members` one extra.
/// Co-partitioned topics thus line up (partition i of each topic goes to the
/// same member).
#[derive(Debug, Clone, Copy, Default)]
pub struct RangeAssignor;

impl Assignor for RangeAssignor {
    fn name(&self) -> &'static str {
        "range"
    }

    fn assign(
        &self,
        members: &[MemberSubscription],
        partitions_per_topic: &BTreeMap<String, i32>,
    ) -> BTreeMap<String, Vec<(String, i32)>> {
        let mut assignment = empty_assignment(members);
        let ranked = ranked(members);
        for (topic, &count) in partitions_per_topic {
            let subscribers: Vec<_> = ranked.iter().filter(|m| m.topics.contains(topic)).collect();
            if subscribers.is_empty() || count <= 0 {
                continue;
            }
            let n = subscribers.len() as i32;
            let (per_member, extra) = (count / n, count % n);
            for (i, member) in (0i32..).zip(&subscribers) {
                let start = per_member * i + i.min(extra);
                let len = per_member + i32::from(i < extra);
                let list = assignment.entry(member.member_id.clone()).or_default();
                list.extend((start..start + len).map(|p| (topic.clone(), p)));
            }
        }
        sort_lists(&mut assignment);
        assignment
    }
}

/// Kafka's `roundrobin`: all subscribed partitions, sorted by topic then
/// partition, dealt one at a time over the members in member order, passing over
/// members not subscribed to the partition's topic.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundRobinAssignor;

impl Assignor for RoundRobinAssignor {
    fn name(&self) -> &'static str {
        "roundrobin"
    }

    fn assign(
        &self,
        members: &[MemberSubscription],
        partitions_per_topic: &BTreeMap<String, i32>,
    ) -> BTreeMap<String, Vec<(String, i32)>> {
        let mut assignment = empty_assignment(members);
        let ranked = ranked(members);
        let mut next = 0usize;
        for (topic, &count) in partitions_per_topic {
            // Only topics someone subscribes to: the scan below then terminates.
            if !ranked.iter().any(|m| m.topics.contains(topic)) {
                continue;
            }
            for p in 0..count.max(0) {
                while !ranked[next].topics.contains(topic) {
                    next = (next + 1) % ranked.len();
                }
                let list = assignment
                    .entry(ranked[next].member_id.clone())
                    .or_default();
                list.push((topic.clone(), p));
                next = (next + 1) % ranked.len();
            }
        }
        sort_lists(&mut assignment);
        assignment
    }
}

/// Kafka's `cooperative-sticky`: a balanced assignment that moves as few owned
/// partitions as possible, following the cooperative protocol.
///
/// Balanced means no member could give a partition (directly or along a chain of
/// hand-overs between eligible members) to one with two or more fewer: the most
/// even spread the subscriptions allow, so members with the same subscriptions
/// differ by at most one. A member keeps what it owns unless balance needs it
/// elsewhere. An owned partition is valid when its topic still exists and its
/// owner still subscribes; when members claim the same partition the highest
/// generation's claim wins, and a tie leaves it contested.
///
/// A partition headed to a member other than its current owner (even an owner
/// that no longer subscribes to it), and a contested one, is withheld for this
/// round: its owners see it missing from their assignment, revoke it and rejoin,
/// and the next rebalance hands it out. So two consumers never own a partition at
/// once. Claims from a lower generation than another claim on the same partition
/// are stale and do not count.
///
/// Uniform subscriptions (the common case) take a direct quota-based path; others
/// improve a greedy start along hand-over chains, each found by a 0-1 BFS over
/// the members, until no chain evens the loads out any further.
#[derive(Debug, Clone, Copy, Default)]
pub struct CooperativeStickyAssignor;

/// A cooperative-sticky result with the partitions it held back.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CooperativePlan {
    /// What each member gets now (every member present, lists sorted).
    pub assignment: BTreeMap<String, Vec<(String, i32)>>,
    /// Partitions withheld until their owners revoke them, with the member the
    /// balanced assignment meant them for.
    pub withheld: BTreeMap<(String, i32), String>,
}

impl CooperativeStickyAssignor {
    /// The assignment together with the partitions withheld for revocation.
    pub fn plan(
        &self,
        members: &[MemberSubscription],
        partitions_per_topic: &BTreeMap<String, i32>,
    ) -> CooperativePlan {
        plan_cooperative(members, partitions_per_topic, false)
    }
}

impl Assignor for CooperativeStickyAssignor {
    fn name(&self) -> &'static str {
        "cooperative-sticky"
    }

    fn assign(
        &self,
        members: &[MemberSubscription],
        partitions_per_topic: &BTreeMap<String, i32>,
    ) -> BTreeMap<String, Vec<(String, i32)>> {
        self.plan(members, partitions_per_topic).assignment
    }
}

/// The sticky problem with members, topics and partitions as dense indices.
struct Sticky<'a> {
    /// Members in member order; a member's index is its rank.
    members: Vec<&'a MemberSubscription>,
    /// Topics someone subscribes to that have partitions: (name, count).
    topics: Vec<(&'a str, i32)>,
    /// First partition index of each topic.
    offsets: Vec<usize>,
    /// Topic index of each partition.
    topic_of: Vec<usize>,
    /// Subscribers of each topic, by rank.
    subscribers: Vec<Vec<usize>>,
    /// `subscribed[m][t]`.
    subscribed: Vec<Vec<bool>>,
    /// Members whose claim on each partition is current (highest generation).
    claimants: Vec<Vec<usize>>,
    /// The single current claimant, if exactly one.
    owner: Vec<Option<usize>>,
}

impl<'a> Sticky<'a> {
    fn new(
        members: &'a [MemberSubscription],
        partitions_per_topic: &'a BTreeMap<String, i32>,
    ) -> Self {
        let members = ranked(members);
        let subscribed_topics: Vec<BTreeSet<&str>> = members
            .iter()
            .map(|m| m.topics.iter().map(String::as_str).collect())
            .collect();
        let topics: Vec<(&str, i32)> = partitions_per_topic
            .iter()
            .filter(|&(t, &count)| {
                count > 0 && subscribed_topics.iter().any(|s| s.contains(t.as_str()))
            })
            .map(|(t, &count)| (t.as_str(), count))
            .collect();
        let index: HashMap<&str, usize> = topics
            .iter()
            .enumerate()
            .map(|(i, &(t, _))| (t, i))
            .collect();
        let mut offsets = Vec::with_capacity(topics.len());
        let mut topic_of = Vec::new();
        for (t, &(_, count)) in topics.iter().enumerate() {
            offsets.push(topic_of.len());
            topic_of.extend(std::iter::repeat_n(t, count as usize));
        }
        let subscribed: Vec<Vec<bool>> = subscribed_topics
            .iter()
            .map(|s| topics.iter().map(|(t, _)| s.contains(t)).collect())
            .collect();
        let subscribers = (0..topics.len())
            .map(|t| (0..members.len()).filter(|&m| subscribed[m][t]).collect())
            .collect();
        let mut claimants: Vec<Vec<usize>> = vec![Vec::new(); topic_of.len()];
        let mut claim_generation = vec![i32::MIN; topic_of.len()];
        for (m, member) in members.iter().enumerate() {
            for (topic, p) in &member.owned_partitions {
                let Some(&t) = index.get(topic.as_str()) else {
                    continue;
                };
                if !(0..topics[t].1).contains(p) {
                    continue;
                }
                let pid = offsets[t] + *p as usize;
                let generation = member.generation_id;
                if claimants[pid].is_empty() || generation > claim_generation[pid] {
                    claimants[pid] = vec![m];
                    claim_generation[pid] = generation;
                } else if generation == claim_generation[pid] && !claimants[pid].contains(&m) {
                    claimants[pid].push(m);
                }
            }
        }
        let owner = claimants
            .iter()
            .map(|c| if c.len() == 1 { Some(c[0]) } else { None })
            .collect();
        Self {
            members,
            topics,
            offsets,
            topic_of,
            subscribers,
            subscribed,
            claimants,
            owner,
        }
    }

    fn partition_count(&self) -> usize {
        self.topic_of.len()
    }

    fn name_of(&self, pid: usize) -> (String, i32) {
        let t = self.topic_of[pid];
        (self.topics[t].0.to_owned(), (pid - self.offsets[t]) as i32)
    }

    /// The owner of `pid` if it may keep it (it still subscribes to the topic).
    fn keeper(&self, pid: usize) -> Option<usize> {
        self.owner[pid].filter(|&m| self.subscribed[m][self.topic_of[pid]])
    }

    /// Members that subscribe to at least one assignable topic.
    fn active(&self) -> Vec<usize> {
        (0..self.members.len())
            .filter(|&m| self.subscribed[m].iter().any(|&s| s))
            .collect()
    }

    /// Whether every active member subscribes to the same topics (hence to all).
    fn uniform(&self, active: &[usize]) -> bool {
        active
            .iter()
            .all(|&m| self.subscribed[m].iter().all(|&s| s))
    }

    /// Uniform subscriptions: quotas of ⌊n/k⌋ or ⌈n/k⌉. The members owning the
    /// most get the larger quotas and keep owned partitions up to their quota;
    /// the rest are dealt round-robin to members under quota.
    fn assign_uniform(&self, active: &[usize]) -> Vec<Option<usize>> {
        let n = self.partition_count();
        let k = active.len();
        let (min_quota, mut larger_quotas) = (n / k, n % k);
        let mut owned: Vec<Vec<usize>> = vec![Vec::new(); self.members.len()];
        for pid in 0..n {
            if let Some(m) = self.keeper(pid) {
                owned[m].push(pid);
            }
        }
        let mut by_owned = active.to_vec();
        by_owned.sort_by_key(|&m| (std::cmp::Reverse(owned[m].len()), m));
        let mut holder = vec![None; n];
        let mut load = vec![0usize; self.members.len()];
        for &m in &by_owned {
            let quota = min_quota + usize::from(larger_quotas > 0);
            let keep = owned[m].len().min(quota);
            if keep > min_quota {
                larger_quotas -= 1;
            }
            for &pid in &owned[m][..keep] {
                holder[pid] = Some(m);
            }
            load[m] = keep;
        }
        let free: Vec<usize> = (0..n).filter(|&pid| holder[pid].is_none()).collect();
        let mut free = free.into_iter();
        // Fill everyone to the smaller quota, one partition per member per pass.
        loop {
            let mut gave = false;
            for &m in active {
                if load[m] < min_quota {
                    let Some(pid) = free.next() else { break };
                    holder[pid] = Some(m);
                    load[m] += 1;
                    gave = true;
                }
            }
            if !gave {
                break;
            }
        }
        // What is left goes to members still allowed the larger quota.
        for &m in active {
            if larger_quotas == 0 {
                break;
            }
            if load[m] == min_quota {
                let Some(pid) = free.next() else { break };
                holder[pid] = Some(m);
                load[m] += 1;
                larger_quotas -= 1;
            }
        }
        debug_assert!(free.next().is_none());
        holder
    }

    /// Any subscriptions: owned partitions stay put, free ones go to the least
    /// loaded eligible member, then improving hand-over chains even the loads out.
    fn assign_general(&self) -> Vec<Option<usize>> {
        let n = self.partition_count();
        let mut state = General {
            holder: vec![None; n],
            load: vec![0; self.members.len()],
            held: vec![BTreeMap::new(); self.members.len()],
        };
        let mut free = Vec::new();
        for pid in 0..n {
            match self.keeper(pid) {
                Some(m) => state.give(self, pid, m),
                None => free.push(pid),
            }
        }
        // Most constrained topics first, so they get the members only they can use.
        free.sort_by_key(|&pid| (self.subscribers[self.topic_of[pid]].len(), pid));
        for pid in free {
            let least = self.subscribers[self.topic_of[pid]]
                .iter()
                .copied()
                .min_by_key(|&m| (state.load[m], m))
                .expect("assignable topics have subscribers");
            state.give(self, pid, least);
        }
        while let Some(path) = state.improving_path(self) {
            state.apply(self, &path);
        }
        state.holder
    }
}

/// Mutable state of the general assignment.
struct General {
    /// Member holding each partition.
    holder: Vec<Option<usize>>,
    /// Partitions held by each member.
    load: Vec<usize>,
    /// Each member's partitions by topic.
    held: Vec<BTreeMap<usize, BTreeSet<usize>>>,
}

/// One hand-over of a partition of `topic` from `from` to `to`.
struct Step {
    from: usize,
    to: usize,
    topic: usize,
}

impl General {
    fn give(&mut self, sticky: &Sticky<'_>, pid: usize, to: usize) {
        let t = sticky.topic_of[pid];
        if let Some(from) = self.holder[pid] {
            self.load[from] -= 1;
            let set = self.held[from].get_mut(&t).expect("holder holds it");
            set.remove(&pid);
            if set.is_empty() {
                self.held[from].remove(&t);
            }
        }
        self.holder[pid] = Some(to);
        self.load[to] += 1;
        self.held[to].entry(t).or_default().insert(pid);
    }

    /// Cost of handing a partition of `topic` away from `from`: 0 if it holds one
    /// it does not own, else 1 (an owned partition moves and must be withheld).
    fn step_cost(&self, sticky: &Sticky<'_>, from: usize, topic: usize) -> u32 {
        let foreign = self.held[from][&topic]
            .iter()
            .any(|&pid| sticky.owner[pid] != Some(from));
        u32::from(!foreign)
    }

    /// The cheapest chain of hand-overs from a member with load L to one with at
    /// most L - 2 (cheapest: fewest owned partitions moved), if any. Without one
    /// the loads are as even as the subscriptions allow (the optimality condition
    /// of semi-matchings: no cost-reducing path).
    fn improving_path(&self, sticky: &Sticky<'_>) -> Option<Vec<Step>> {
        let members = sticky.members.len();
        let levels: BTreeSet<usize> = (0..members)
            .filter(|&m| sticky.subscribed[m].iter().any(|&s| s))
            .map(|m| self.load[m])
            .collect();
        let lowest = *levels.first()?;
        let mut best: Option<(u32, Vec<Step>)> = None;
        for &level in levels.iter().rev().take_while(|&&l| l >= lowest + 2) {
            // 0-1 BFS from every member at this level at once.
            let mut dist = vec![u32::MAX; members];
            let mut via: Vec<Option<(usize, usize)>> = vec![None; members];
            let mut queue = VecDeque::new();
            for m in (0..members).filter(|&m| self.load[m] == level) {
                dist[m] = 0;
                queue.push_back(m);
            }
            while let Some(u) = queue.pop_front() {
                for &t in self.held[u].keys() {
                    let cost = self.step_cost(sticky, u, t);
                    let d = dist[u] + cost;
                    for &v in &sticky.subscribers[t] {
                        if v != u && d < dist[v] {
                            dist[v] = d;
                            via[v] = Some((u, t));
                            if cost == 0 {
                                queue.push_front(v);
                            } else {
                                queue.push_back(v);
                            }
                        }
                    }
                }
            }
            let target = (0..members)
                .filter(|&m| dist[m] != u32::MAX && self.load[m] + 2 <= level)
                .min_by_key(|&m| (dist[m], self.load[m], m));
            let Some(target) = target else { continue };
            let cost = dist[target];
            if best.as_ref().is_some_and(|(c, _)| *c <= cost) {
                continue;
            }
            let mut path = Vec::new();
            let mut at = target;
            while let Some((from, topic)) = via[at] {
                path.push(Step {
                    from,
                    to: at,
                    topic,
                });
                at = from;
            }
            path.reverse();
            if cost == 0 {
                return Some(path);
            }
            best = Some((cost, path));
        }
        best.map(|(_, path)| path)
    }

    /// Applies a chain from its far end, so every member hands over a partition it
    /// held before the chain began (the kind the cost assumed).
    fn apply(&mut self, sticky: &Sticky<'_>, path: &[Step]) {
        for step in path.iter().rev() {
            let candidates = &self.held[step.from][&step.topic];
            // Back to its owner first, then any not owned by the giver.
            let pick = |p: &&usize| sticky.owner[**p] == Some(step.to);
            let pid = candidates
                .iter()
                .find(pick)
                .or_else(|| {
                    candidates
                        .iter()
                        .find(|&&p| sticky.owner[p] != Some(step.from))
                })
                .or_else(|| candidates.iter().next())
                .copied()
                .expect("a step's giver holds a partition of its topic");
            self.give(sticky, pid, step.to);
        }
    }
}

/// The cooperative-sticky plan; `force_general` runs the general algorithm even
/// for uniform subscriptions (tests compare the two).
fn plan_cooperative(
    members: &[MemberSubscription],
    partitions_per_topic: &BTreeMap<String, i32>,
    force_general: bool,
) -> CooperativePlan {
    let mut plan = CooperativePlan {
        assignment: empty_assignment(members),
        withheld: BTreeMap::new(),
    };
    let sticky = Sticky::new(members, partitions_per_topic);
    let active = sticky.active();
    if active.is_empty() || sticky.partition_count() == 0 {
        return plan;
    }
    let holder = if sticky.uniform(&active) && !force_general {
        sticky.assign_uniform(&active)
    } else {
        sticky.assign_general()
    };
    for (pid, holder) in holder.into_iter().enumerate() {
        let m = holder.expect("every assignable partition is placed");
        let member_id = sticky.members[m].member_id.clone();
        let claimants = &sticky.claimants[pid];
        if claimants.is_empty() || claimants == &[m] {
            plan.assignment
                .entry(member_id)
                .or_default()
                .push(sticky.name_of(pid));
        } else {
            plan.withheld.insert(sticky.name_of(pid), member_id);
        }
    }
    sort_lists(&mut plan.assignment);
    plan
}

#[cfg(test)]
mod tests {
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    fn member(id: &str, topics: &[&str]) -> MemberSubscription {
        MemberSubscription {
            member_id: id.to_owned(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            generation_id: -1,
            ..Default::default()
        }
    }

    fn owning(
        mut m: MemberSubscription,
        generation: i32,
        owned: &[(&str, i32)],
    ) -> MemberSubscription {
        m.generation_id = generation;
        m.owned_partitions = owned.iter().map(|&(t, p)| (t.to_owned(), p)).collect();
        m
    }

    fn topics(counts: &[(&str, i32)]) -> BTreeMap<String, i32> {
        counts.iter().map(|&(t, n)| (t.to_owned(), n)).collect()
    }

    fn tps(list: &[(&str, i32)]) -> Vec<(String, i32)> {
        list.iter().map(|&(t, p)| (t.to_owned(), p)).collect()
    }

    fn expect(pairs: &[(&str, &[(&str, i32)])]) -> BTreeMap<String, Vec<(String, i32)>> {
        pairs
            .iter()
            .map(|&(m, list)| (m.to_owned(), tps(list)))
            .collect()
    }

    #[test]
    fn names() {
        assert_eq!(RangeAssignor.name(), "range");
        assert_eq!(RoundRobinAssignor.name(), "roundrobin");
        assert_eq!(CooperativeStickyAssignor.name(), "cooperative-sticky");
    }

    /// The example in Kafka's `RangeAssignor` javadoc.
    #[test]
    fn range_javadoc_example() {
        let members = [member("C0", &["t0", "t1"]), member("C1", &["t0", "t1"])];
        let got = RangeAssignor.assign(&members, &topics(&[("t0", 3), ("t1", 3)]));
        assert_eq!(
            got,
            expect(&[
                ("C0", &[("t0", 0), ("t0", 1), ("t1", 0), ("t1", 1)]),
                ("C1", &[("t0", 2), ("t1", 2)]),
            ])
        );
    }

    /// The first example in Kafka's `RoundRobinAssignor` javadoc.
    #[test]
    fn roundrobin_javadoc_example() {
        let members = [member("C0", &["t0", "t1"]), member("C1", &["t0", "t1"])];
        let got = RoundRobinAssignor.assign(&members, &topics(&[("t0", 3), ("t1", 3)]));
        assert_eq!(
            got,
            expect(&[
                ("C0", &[("t0", 0), ("t0", 2), ("t1", 1)]),
                ("C1", &[("t0", 1), ("t1", 0), ("t1", 2)]),
            ])
        );
    }

    /// The second (uneven subscriptions) example in the `RoundRobinAssignor` javadoc.
    #[test]
    fn roundrobin_javadoc_uneven_example() {
        let members = [
            member("C0", &["t0"]),
            member("C1", &["t0", "t1"]),
            member("C2", &["t0", "t1", "t2"]),
        ];
        let got = RoundRobinAssignor.assign(&members, &topics(&[("t0", 1), ("t1", 2), ("t2", 3)]));
        assert_eq!(
            got,
            expect(&[
                ("C0", &[("t0", 0)]),
                ("C1", &[("t1", 0)]),
                ("C2", &[("t1", 1), ("t2", 0), ("t2", 1), ("t2", 2)]),
            ])
        );
    }

    #[test]
    fn range_uneven_subscriptions_and_extras() {
        // t0 (7 partitions) shared by three; t1 (2) only by C2; C3 subscribes to
        // nothing that exists.
        let members = [
            member("C2", &["t0", "t1"]),
            member("C0", &["t0"]),
            member("C1", &["t0"]),
            member("C3", &["missing"]),
            member("C4", &[]),
        ];
        let got = RangeAssignor.assign(&members, &topics(&[("t0", 7), ("t1", 2), ("unused", 4)]));
        assert_eq!(
            got,
            expect(&[
                ("C0", &[("t0", 0), ("t0", 1), ("t0", 2)]),
                ("C1", &[("t0", 3), ("t0", 4)]),
                ("C2", &[("t0", 5), ("t0", 6), ("t1", 0), ("t1", 1)]),
                ("C3", &[]),
                ("C4", &[]),
            ])
        );
    }

    #[test]
    fn static_members_sort_first_by_instance_id() {
        let mut a = member("zzz", &["t"]);
        a.group_instance_id = Some("instance-b".into());
        let mut b = member("yyy", &["t"]);
        b.group_instance_id = Some("instance-a".into());
        let c = member("aaa", &["t"]);
        let got = RangeAssignor.assign(&[a, b, c], &topics(&[("t", 3)]));
        // Order: yyy (instance-a), zzz (instance-b), then dynamic aaa.
        assert_eq!(
            got,
            expect(&[
                ("yyy", &[("t", 0)]),
                ("zzz", &[("t", 1)]),
                ("aaa", &[("t", 2)])
            ])
        );
    }

    #[test]
    fn no_members_or_no_partitions() {
        let t = topics(&[("t", 3)]);
        for assignor in [
            &RangeAssignor as &dyn Assignor,
            &RoundRobinAssignor,
            &CooperativeStickyAssignor,
        ] {
            assert!(assignor.assign(&[], &t).is_empty());
            let members = [member("a", &["t"]), member("b", &["other"])];
            let got = assignor.assign(&members, &topics(&[("t", 0), ("other", -1)]));
            assert_eq!(
                got,
                expect(&[("a", &[]), ("b", &[])]),
                "{}",
                assignor.name()
            );
        }
    }

    #[test]
    fn roundrobin_skips_members_not_subscribed() {
        let members = [
            member("a", &["x"]),
            member("b", &["x", "y"]),
            member("c", &["y"]),
        ];
        let got = RoundRobinAssignor.assign(&members, &topics(&[("x", 4), ("y", 4)]));
        assert_eq!(
            got,
            expect(&[
                ("a", &[("x", 0), ("x", 2)]),
                ("b", &[("x", 1), ("x", 3), ("y", 1), ("y", 3)]),
                ("c", &[("y", 0), ("y", 2)]),
            ])
        );
    }

    fn all_partitions(
        members: &[MemberSubscription],
        partitions: &BTreeMap<String, i32>,
    ) -> BTreeSet<(String, i32)> {
        partitions
            .iter()
            .filter(|(t, _)| members.iter().any(|m| m.topics.contains(t)))
            .flat_map(|(t, &n)| (0..n.max(0)).map(move |p| (t.clone(), p)))
            .collect()
    }

    #[test]
    fn range_and_roundrobin_assign_everything_once() {
        let mut rng = SmallRng::seed_from_u64(7);
        for _ in 0..200 {
            let (members, partitions) = random_group(&mut rng, false);
            for assignor in [&RangeAssignor as &dyn Assignor, &RoundRobinAssignor] {
                let got = assignor.assign(&members, &partitions);
                assert_eq!(got.len(), members.len());
                let mut seen = BTreeSet::new();
                for (m, list) in &got {
                    let sub = &members.iter().find(|x| &x.member_id == m).unwrap().topics;
                    for tp in list {
                        assert!(sub.contains(&tp.0));
                        assert!(seen.insert(tp.clone()), "{tp:?} twice");
                    }
                }
                assert_eq!(seen, all_partitions(&members, &partitions));
            }
        }
    }

    // --- cooperative-sticky ---

    fn plan(members: &[MemberSubscription], partitions: &BTreeMap<String, i32>) -> CooperativePlan {
        CooperativeStickyAssignor.plan(members, partitions)
    }

    /// Each member's owned partitions become its current assignment (what a
    /// member reports after revoking what it was not given), next generation.
    fn next_round(
        members: &[MemberSubscription],
        plan: &CooperativePlan,
    ) -> Vec<MemberSubscription> {
        members
            .iter()
            .map(|m| MemberSubscription {
                owned_partitions: plan.assignment[&m.member_id].clone(),
                generation_id: m.generation_id.max(0) + 1,
                ..m.clone()
            })
            .collect()
    }

    fn counts(plan: &CooperativePlan, intended: bool) -> BTreeMap<String, usize> {
        let mut counts: BTreeMap<String, usize> = plan
            .assignment
            .iter()
            .map(|(m, l)| (m.clone(), l.len()))
            .collect();
        if intended {
            for m in plan.withheld.values() {
                *counts.get_mut(m).unwrap() += 1;
            }
        }
        counts
    }

    #[test]
    fn fresh_group_is_balanced_and_nothing_is_withheld() {
        let members = [
            member("a", &["t", "u"]),
            member("b", &["t", "u"]),
            member("c", &["t", "u"]),
        ];
        let p = plan(&members, &topics(&[("t", 4), ("u", 3)]));
        assert!(p.withheld.is_empty());
        let c = counts(&p, false);
        assert_eq!(c.values().sum::<usize>(), 7);
        assert!(c.values().all(|&n| n == 2 || n == 3), "{c:?}");
    }

    #[test]
    fn balanced_owned_assignment_is_kept_exactly() {
        let members = [
            owning(member("a", &["t"]), 3, &[("t", 0), ("t", 3)]),
            owning(member("b", &["t"]), 3, &[("t", 1), ("t", 4)]),
            owning(member("c", &["t"]), 3, &[("t", 2)]),
        ];
        let p = plan(&members, &topics(&[("t", 5)]));
        assert!(p.withheld.is_empty());
        assert_eq!(
            p.assignment,
            expect(&[
                ("a", &[("t", 0), ("t", 3)]),
                ("b", &[("t", 1), ("t", 4)]),
                ("c", &[("t", 2)]),
            ])
        );
    }

    #[test]
    fn a_leaving_member_only_moves_its_own_partitions() {
        // c left; a and b keep theirs and split c's two.
        let members = [
            owning(member("a", &["t"]), 3, &[("t", 0), ("t", 3)]),
            owning(member("b", &["t"]), 3, &[("t", 1), ("t", 4)]),
        ];
        let p = plan(&members, &topics(&[("t", 6)]));
        assert!(
            p.withheld.is_empty(),
            "c's partitions have no current owner"
        );
        for (m, kept) in [("a", [("t", 0), ("t", 3)]), ("b", [("t", 1), ("t", 4)])] {
            assert_eq!(p.assignment[m].len(), 3);
            assert!(tps(&kept).iter().all(|tp| p.assignment[m].contains(tp)));
        }
    }

    #[test]
    fn a_joining_member_waits_for_revocation() {
        let partitions = topics(&[("t", 4)]);
        let all: Vec<(&str, i32)> = (0..4).map(|p| ("t", p)).collect();
        let members = [owning(member("a", &["t"]), 5, &all), member("b", &["t"])];
        let p1 = plan(&members, &partitions);
        // a keeps two; the two meant for b are withheld until a revokes them.
        assert_eq!(p1.assignment["a"].len(), 2);
        assert_eq!(p1.assignment["b"], vec![]);
        assert_eq!(p1.withheld.len(), 2);
        assert!(p1.withheld.values().all(|m| m == "b"));
        assert!(
            p1.withheld
                .keys()
                .all(|tp| !p1.assignment["a"].contains(tp))
        );
        // Next round: a owns only its two, b gets the rest.
        let p2 = plan(&next_round(&members, &p1), &partitions);
        assert!(p2.withheld.is_empty());
        assert_eq!(p2.assignment["a"], p1.assignment["a"]);
        assert_eq!(
            p2.assignment["b"].iter().cloned().collect::<BTreeSet<_>>(),
            p1.withheld.keys().cloned().collect()
        );
    }

    #[test]
    fn highest_generation_claim_wins() {
        let partitions = topics(&[("t", 2)]);
        // b's claim on t-0 is stale (generation 4 < 5); a keeps it.
        let members = [
            owning(member("a", &["t"]), 5, &[("t", 0)]),
            owning(member("b", &["t"]), 4, &[("t", 0), ("t", 1)]),
        ];
        let p = plan(&members, &partitions);
        assert_eq!(
            p.assignment,
            expect(&[("a", &[("t", 0)]), ("b", &[("t", 1)])])
        );
        assert!(p.withheld.is_empty());
        // Order of members in the input does not matter.
        let reversed = [members[1].clone(), members[0].clone()];
        assert_eq!(plan(&reversed, &partitions), p);
    }

    #[test]
    fn same_generation_claims_leave_a_partition_contested_and_withheld() {
        let partitions = topics(&[("t", 2)]);
        let members = [
            owning(member("a", &["t"]), 5, &[("t", 0)]),
            owning(member("b", &["t"]), 5, &[("t", 0)]),
        ];
        let p1 = plan(&members, &partitions);
        // Both claim t-0: neither may keep it, nobody gets it until both revoke.
        assert_eq!(p1.withheld.len(), 1);
        assert!(p1.withheld.contains_key(&("t".to_owned(), 0)));
        assert!(
            p1.assignment
                .values()
                .all(|l| !l.contains(&("t".to_owned(), 0)))
        );
        let p2 = plan(&next_round(&members, &p1), &partitions);
        assert!(p2.withheld.is_empty());
        assert_eq!(
            counts(&p2, false).values().copied().collect::<Vec<_>>(),
            [1, 1]
        );
    }

    #[test]
    fn invalid_claims_are_not_kept() {
        let partitions = topics(&[("t", 2), ("u", 2)]);
        // a unsubscribed from u but still reports u-0: it is not kept, and not
        // given to b before a revokes it. Claims on missing topics and partitions
        // are ignored.
        let members = [
            owning(
                member("a", &["t"]),
                2,
                &[("u", 0), ("t", 9), ("gone", 0), ("t", -1)],
            ),
            member("b", &["u"]),
        ];
        let p = plan(&members, &partitions);
        assert_eq!(
            p.assignment,
            expect(&[("a", &[("t", 0), ("t", 1)]), ("b", &[("u", 1)])])
        );
        assert_eq!(p.withheld, [(("u".to_owned(), 0), "b".to_owned())].into());
    }

    #[test]
    fn uneven_subscriptions_are_as_balanced_as_they_allow() {
        // Kafka's sticky javadoc: C0 subscribes t0; C1 t0, t1; C2 t0, t1, t2 (1, 2
        // and 3 partitions). Only C2 can take t2, so the best is C0 1, C1 2, C2 3.
        let members = [
            member("C0", &["t0"]),
            member("C1", &["t0", "t1"]),
            member("C2", &["t0", "t1", "t2"]),
        ];
        let p = plan(&members, &topics(&[("t0", 1), ("t1", 2), ("t2", 3)]));
        assert_eq!(
            p.assignment,
            expect(&[
                ("C0", &[("t0", 0)]),
                ("C1", &[("t1", 0), ("t1", 1)]),
                ("C2", &[("t2", 0), ("t2", 1), ("t2", 2)]),
            ])
        );
        // C0 leaves, as in that javadoc: C1 and C2 keep theirs, C1 takes t0-0.
        let round2 = [
            owning(members[1].clone(), 1, &[("t1", 0), ("t1", 1)]),
            owning(members[2].clone(), 1, &[("t2", 0), ("t2", 1), ("t2", 2)]),
        ];
        let p2 = plan(&round2, &topics(&[("t0", 1), ("t1", 2), ("t2", 3)]));
        assert!(p2.withheld.is_empty());
        assert_eq!(counts(&p2, false)["C1"], 3);
        assert_eq!(counts(&p2, false)["C2"], 3);
    }

    #[test]
    fn balance_reaches_through_chains_of_members() {
        // a can only take x; b takes x and y; c only y. c owns all of y, a owns
        // nothing: the even result (2, 2, 2) needs b to take a y partition and
        // give an x partition to a.
        let members = [
            member("a", &["x"]),
            owning(member("b", &["x", "y"]), 1, &[("x", 0), ("x", 1)]),
            owning(
                member("c", &["y"]),
                1,
                &[("y", 0), ("y", 1), ("y", 2), ("y", 3)],
            ),
        ];
        let p = plan(&members, &topics(&[("x", 2), ("y", 4)]));
        assert_eq!(
            counts(&p, true).values().copied().collect::<Vec<_>>(),
            [2, 2, 2]
        );
        // a can only have x, so both x partitions move to a and two y partitions
        // to b; c keeps two. All four moves wait for revocation.
        assert_eq!(p.assignment["a"], vec![]);
        assert_eq!(p.assignment["b"], vec![]);
        assert_eq!(p.assignment["c"].len(), 2);
        assert_eq!(p.withheld.len(), 4);
        assert_eq!(p.withheld[&("x".to_owned(), 0)], "a");
        assert_eq!(p.withheld[&("x".to_owned(), 1)], "a");
    }

    /// The least sum of squared member loads over every full assignment, by brute
    /// force (tiny inputs only).
    fn best_sum_of_squares(
        members: &[MemberSubscription],
        partitions: &BTreeMap<String, i32>,
    ) -> usize {
        let all: Vec<(String, i32)> = all_partitions(members, partitions).into_iter().collect();
        let eligible: Vec<Vec<usize>> = all
            .iter()
            .map(|(t, _)| {
                (0..members.len())
                    .filter(|&m| members[m].topics.contains(t))
                    .collect()
            })
            .collect();
        fn search(i: usize, eligible: &[Vec<usize>], load: &mut Vec<usize>, best: &mut usize) {
            if i == eligible.len() {
                *best = (*best).min(load.iter().map(|l| l * l).sum());
                return;
            }
            for &m in &eligible[i] {
                load[m] += 1;
                search(i + 1, eligible, load, best);
                load[m] -= 1;
            }
        }
        let mut best = usize::MAX;
        search(0, &eligible, &mut vec![0; members.len()], &mut best);
        if all.is_empty() { 0 } else { best }
    }

    /// A random group: up to 6 members over up to 4 topics, random (possibly
    /// empty) subscriptions, and with `owned` random claims, some conflicting or
    /// invalid, at random generations.
    fn random_group(
        rng: &mut SmallRng,
        owned: bool,
    ) -> (Vec<MemberSubscription>, BTreeMap<String, i32>) {
        let topic_count = rng.random_range(1..=4);
        let partitions: BTreeMap<String, i32> = (0..topic_count)
            .map(|t| (format!("t{t}"), rng.random_range(0..=6)))
            .collect();
        let uniform = rng.random_bool(0.4);
        let shared: Vec<String> = partitions
            .keys()
            .filter(|_| rng.random_bool(0.7))
            .cloned()
            .collect();
        let member_count = rng.random_range(1..=6);
        let members = (0..member_count)
            .map(|i| {
                let mut topics: Vec<String> = if uniform {
                    shared.clone()
                } else {
                    partitions
                        .keys()
                        .filter(|_| rng.random_bool(0.5))
                        .cloned()
                        .collect()
                };
                if rng.random_bool(0.1) {
                    topics.push("missing".into());
                }
                let owned_partitions = if owned {
                    (0..rng.random_range(0..=5))
                        .map(|_| {
                            let t = rng.random_range(0..=topic_count);
                            (format!("t{t}"), rng.random_range(-1..=6))
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                MemberSubscription {
                    member_id: format!("m{i}"),
                    group_instance_id: rng
                        .random_bool(0.3)
                        .then(|| format!("i{}", rng.random_range(0..100))),
                    topics,
                    owned_partitions,
                    generation_id: rng.random_range(-1..=3),
                }
            })
            .collect();
        (members, partitions)
    }

    /// Checks one plan; returns the intended sum of squared loads.
    fn check_plan(
        members: &[MemberSubscription],
        partitions: &BTreeMap<String, i32>,
        p: &CooperativePlan,
    ) -> usize {
        let all = all_partitions(members, partitions);
        assert_eq!(p.assignment.len(), members.len(), "every member present");
        let subscription = |id: &str| &members.iter().find(|m| m.member_id == id).unwrap().topics;
        let mut seen = BTreeSet::new();
        for (m, list) in &p.assignment {
            for tp in list {
                assert!(
                    subscription(m).contains(&tp.0),
                    "{m} got {tp:?} unsubscribed"
                );
                assert!(seen.insert(tp.clone()), "{tp:?} assigned twice");
            }
        }
        for (tp, m) in &p.withheld {
            assert!(subscription(m).contains(&tp.0));
            assert!(seen.insert(tp.clone()), "{tp:?} both assigned and withheld");
        }
        assert_eq!(seen, all, "intended assignment covers every partition once");
        // Balance: members with the same (effective) subscriptions differ by ≤ 1.
        let counts = counts(p, true);
        let mut by_subscription: BTreeMap<BTreeSet<&String>, Vec<usize>> = BTreeMap::new();
        for m in members {
            let effective = m
                .topics
                .iter()
                .filter(|t| partitions.get(*t).is_some_and(|&n| n > 0))
                .collect();
            by_subscription
                .entry(effective)
                .or_default()
                .push(counts[&m.member_id]);
        }
        for loads in by_subscription.values() {
            let (min, max) = (loads.iter().min().unwrap(), loads.iter().max().unwrap());
            assert!(max - min <= 1, "unbalanced {loads:?}");
        }
        counts.values().map(|c| c * c).sum()
    }

    fn property_loop(force_general: bool) {
        let mut rng = SmallRng::seed_from_u64(0x5eed + u64::from(force_general));
        for case in 0..400 {
            let (members, partitions) = random_group(&mut rng, true);
            let p1 = plan_cooperative(&members, &partitions, force_general);
            let squares = check_plan(&members, &partitions, &p1);
            if all_partitions(&members, &partitions).len() <= 7 && members.len() <= 4 {
                assert_eq!(
                    squares,
                    best_sum_of_squares(&members, &partitions),
                    "case {case}: not optimal"
                );
            }
            // Owners revoke what they were not given; the next round hands out the
            // withheld partitions and moves nothing else.
            let round2 = next_round(&members, &p1);
            let p2 = plan_cooperative(&round2, &partitions, force_general);
            check_plan(&round2, &partitions, &p2);
            assert!(
                p2.withheld.is_empty(),
                "case {case}: round 2 withheld {:?}",
                p2.withheld
            );
            for (m, list) in &p1.assignment {
                assert!(
                    list.iter().all(|tp| p2.assignment[m].contains(tp)),
                    "case {case}: {m} lost a partition"
                );
            }
            for tp in p1.withheld.keys() {
                assert!(p2.assignment.values().any(|l| l.contains(tp)));
            }
            // Deterministic, whatever the input order.
            let mut shuffled = members.clone();
            shuffled.reverse();
            assert_eq!(plan_cooperative(&shuffled, &partitions, force_general), p1);
        }
    }

    #[test]
    fn cooperative_sticky_properties_hold_on_random_groups() {
        property_loop(false);
    }

    #[test]
    fn general_algorithm_properties_hold_on_random_groups() {
        property_loop(true);
    }

    #[test]
    fn uniform_and_general_algorithms_agree_on_balance_and_stickiness() {
        let mut rng = SmallRng::seed_from_u64(99);
        for _ in 0..200 {
            let (mut members, partitions) = random_group(&mut rng, true);
            let topics: Vec<String> = partitions.keys().cloned().collect();
            for m in &mut members {
                m.topics = topics.clone();
            }
            let fast = plan_cooperative(&members, &partitions, false);
            let general = plan_cooperative(&members, &partitions, true);
            let loads = |p: &CooperativePlan| {
                let mut v: Vec<usize> = counts(p, true).into_values().collect();
                v.sort();
                v
            };
            assert_eq!(loads(&fast), loads(&general));
            assert_eq!(fast.withheld.len(), general.withheld.len(), "{members:?}");
        }
    }

    #[test]
    fn larger_group_is_fast_enough() {
        // 60 members over 3 topics of 200 partitions, half the members owning
        // everything; a second round then settles.
        let partitions = topics(&[("a", 200), ("b", 200), ("c", 200)]);
        let mut members: Vec<MemberSubscription> = (0..60)
            .map(|i| {
                member(
                    &format!("m{i:02}"),
                    if i % 3 == 0 {
                        &["a", "b"]
                    } else {
                        &["a", "b", "c"]
                    },
                )
            })
            .collect();
        for (i, (t, n)) in partitions.iter().enumerate() {
            for p in 0..*n {
                let owner = &mut members[(p as usize * 7 + i) % 30];
                owner.owned_partitions.push((t.clone(), p));
                owner.generation_id = 1;
            }
        }
        let p1 = plan(&members, &partitions);
        check_plan(&members, &partitions, &p1);
        let round2 = next_round(&members, &p1);
        let p2 = plan(&round2, &partitions);
        assert!(p2.withheld.is_empty());
    }
}
