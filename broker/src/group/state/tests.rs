//! Every transition of the group state machine, driven by hand with explicit time.

use bytes::Bytes;

use super::*;

const SESSION: i32 = 10_000;
const REBALANCE: i32 = 30_000;

fn limits() -> GroupLimits {
    GroupLimits {
        initial_rebalance_delay_ms: 100,
        ..GroupLimits::default()
    }
}

fn req(member_id: &str, meta: &'static [u8]) -> JoinRequest {
    JoinRequest {
        member_id: member_id.to_owned(),
        group_instance_id: None,
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: SESSION,
        rebalance_timeout_ms: REBALANCE,
        protocol_type: "consumer".into(),
        protocols: vec![
            ("range".into(), Bytes::from_static(meta)),
            ("roundrobin".into(), Bytes::from_static(meta)),
        ],
        require_known_member_id: false,
    }
}

fn joins(effects: &[Effect]) -> Vec<(&str, &JoinResponse)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Join(id, r) => Some((id.as_str(), r)),
            Effect::Sync(..) => None,
        })
        .collect()
}

fn syncs(effects: &[Effect]) -> Vec<(&str, &SyncResponse)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Sync(id, r) => Some((id.as_str(), r)),
            Effect::Join(..) => None,
        })
        .collect()
}

fn parked<T: std::fmt::Debug>(reply: Reply<T>) -> String {
    match reply {
        Reply::Parked(id) => id,
        Reply::Now(r) => panic!("expected a parked call, got {r:?}"),
    }
}

fn now<T: std::fmt::Debug>(reply: Reply<T>) -> T {
    match reply {
        Reply::Now(r) => r,
        Reply::Parked(id) => panic!("expected an answer, {id} was parked"),
    }
}

/// Two members join at t=0 and t=50, complete at the end of the initial delay,
/// the leader syncs: a Stable group at generation 1.
fn stable_pair() -> (Group, String, String) {
    let mut g = Group::new("g", limits());
    let a = parked(g.join(req("", b"a"), 0).0);
    let b = parked(g.join(req("", b"b"), 50).0);
    assert!(
        g.tick(120).is_empty(),
        "the initial delay was extended by the second member"
    );
    let effects = g.tick(150);
    let answers = joins(&effects);
    assert_eq!(answers.len(), 2);
    let leader = g.leader_id.clone().unwrap();
    let follower = if leader == a { b.clone() } else { a.clone() };
    for (id, r) in &answers {
        assert_eq!((r.error_code, r.generation_id), (codes::NONE, 1));
        assert_eq!(r.protocol_name.as_deref(), Some("range"));
        assert_eq!(
            r.members.len(),
            if *id == leader { 2 } else { 0 },
            "only the leader sees members"
        );
    }
    assert_eq!(g.state, GroupState::CompletingRebalance);
    parked(g.sync(&follower, 1, vec![], 160).0);
    let assignment = vec![
        (leader.clone(), Bytes::from_static(b"L")),
        (follower.clone(), Bytes::from_static(b"F")),
    ];
    let (reply, effects) = g.sync(&leader, 1, assignment, 170);
    assert_eq!(now(reply).assignment, Bytes::from_static(b"L"));
    assert_eq!(
        syncs(&effects),
        vec![(
            follower.as_str(),
            &SyncResponse {
                error_code: codes::NONE,
                protocol_type: Some("consumer".into()),
                protocol_name: Some("range".into()),
                assignment: Bytes::from_static(b"F"),
            }
        )]
    );
    assert_eq!(g.state, GroupState::Stable);
    (g, leader, follower)
}

#[test]
fn two_members_share_one_generation_and_get_their_assignments() {
    let (mut g, leader, follower) = stable_pair();
    assert_eq!(g.heartbeat(&leader, 1, 200), codes::NONE);
    assert_eq!(g.heartbeat(&follower, 1, 200), codes::NONE);
    // A Stable sync returns the stored assignment at once.
    assert_eq!(
        now(g.sync(&follower, 1, vec![], 210).0).assignment,
        Bytes::from_static(b"F")
    );
}

#[test]
fn member_id_required_then_join_and_pending_ids_never_block() {
    let mut g = Group::new("g", limits());
    let mut r = req("", b"a");
    r.require_known_member_id = true;
    let first = now(g.join(r.clone(), 0).0);
    assert_eq!(first.error_code, codes::MEMBER_ID_REQUIRED);
    assert!(!first.member_id.is_empty());
    // Another client takes an id and never comes back: it must not hold the group.
    let ghost = now(g.join(r.clone(), 0).0);
    assert_eq!(ghost.error_code, codes::MEMBER_ID_REQUIRED);
    r.member_id = first.member_id.clone();
    let id = parked(g.join(r.clone(), 10).0);
    assert_eq!(id, first.member_id);
    let effects = g.tick(110);
    assert_eq!(joins(&effects).len(), 1, "completed without the ghost");
    // A client that rejoins without its id is tolerated: it simply gets a new one.
    r.member_id.clear();
    assert_eq!(now(g.join(r, 120).0).error_code, codes::MEMBER_ID_REQUIRED);
    // Pending ids expire after a session timeout.
    g.tick(120 + i64::from(SESSION) + 1);
    assert!(g.pending_members.is_empty());
}

#[test]
fn a_new_member_triggers_a_rebalance_and_everyone_rejoins() {
    let (mut g, leader, follower) = stable_pair();
    let c = parked(g.join(req("", b"c"), 1_000).0);
    assert_eq!(g.state, GroupState::PreparingRebalance);
    assert_eq!(g.heartbeat(&leader, 1, 1_010), codes::REBALANCE_IN_PROGRESS);
    parked(g.join(req(&leader, b"a"), 1_020).0);
    let (reply, effects) = g.join(req(&follower, b"b"), 1_030);
    let mut answers = joins(&effects);
    if let Reply::Now(r) = &reply {
        answers.push((follower.as_str(), r));
    }
    assert_eq!(answers.len(), 3, "the last rejoin completes the rebalance");
    assert!(answers.iter().all(|(_, r)| r.generation_id == 2));
    assert!(g.members.contains_key(&c));
    assert_eq!(
        g.leader_id.as_deref(),
        Some(leader.as_str()),
        "the leader stays leader"
    );
}

#[test]
fn rejoin_with_unchanged_metadata_in_a_stable_group_does_not_rebalance() {
    let (mut g, _leader, follower) = stable_pair();
    let r = now(g.join(req(&follower, b"b"), 500).0);
    assert_eq!((r.error_code, r.generation_id), (codes::NONE, 1));
    assert_eq!(g.state, GroupState::Stable);
    // Changed metadata does rebalance.
    parked(g.join(req(&follower, b"changed"), 600).0);
    assert_eq!(g.state, GroupState::PreparingRebalance);
}

/// Two members joined with metadata "a" and "b", waiting for the leader's sync:
/// (group, leader, follower, the leader's metadata).
fn completing_pair() -> (Group, String, String, &'static [u8]) {
    let mut g = Group::new("g", limits());
    let a = parked(g.join(req("", b"a"), 0).0);
    let b = parked(g.join(req("", b"b"), 10).0);
    g.tick(200);
    assert_eq!(g.state, GroupState::CompletingRebalance);
    let leader = g.leader_id.clone().unwrap();
    if leader == a {
        (g, a, b, b"a")
    } else {
        (g, b, a, b"b")
    }
}

#[test]
fn a_leader_rejoining_unchanged_while_completing_gets_the_generation_back() {
    let (mut g, leader, _follower, leader_meta) = completing_pair();
    let r = now(g.join(req(&leader, leader_meta), 300).0);
    assert_eq!((r.error_code, r.generation_id), (codes::NONE, 1));
    assert_eq!(r.members.len(), 2, "the leader gets the member list again");
    assert_eq!(g.state, GroupState::CompletingRebalance);
}

#[test]
fn a_member_leaving_mid_rebalance_completes_it() {
    let (mut g, leader, follower) = stable_pair();
    parked(g.join(req("", b"c"), 1_000).0);
    parked(g.join(req(&leader, b"a"), 1_010).0);
    // The follower leaves instead of rejoining: everyone left has joined.
    let (code, effects) = g.leave(&follower, None, 1_020);
    assert_eq!(code, codes::NONE);
    assert_eq!(joins(&effects).len(), 2);
    assert_eq!(g.generation_id, 2);
    assert!(!g.members.contains_key(&follower));
}

#[test]
fn a_member_timing_out_during_completing_rebalance_restarts_it() {
    let (mut g, leader, follower, _) = completing_pair();
    parked(g.sync(&follower, 1, vec![], 300).0);
    // The leader never syncs; the follower keeps its session alive meanwhile.
    g.heartbeat(&follower, 1, 5_000);
    let effects = g.tick(200 + i64::from(SESSION) + 2);
    assert!(
        !g.members.contains_key(&leader),
        "the silent leader expired"
    );
    assert_eq!(
        syncs(&effects),
        vec![(
            follower.as_str(),
            &SyncResponse::error(codes::REBALANCE_IN_PROGRESS)
        )]
    );
    assert_eq!(g.state, GroupState::PreparingRebalance);
    let r = now(g.join(req(&follower, b"b"), 10_300).0);
    assert_eq!((r.generation_id, r.leader.as_str()), (2, follower.as_str()));
}

#[test]
fn session_timeout_in_a_stable_group_removes_the_member() {
    let (mut g, leader, follower) = stable_pair();
    for t in (1_000..=12_000).step_by(1_000) {
        g.heartbeat(&leader, 1, t);
    }
    let effects = g.tick(12_000);
    assert!(!g.members.contains_key(&follower));
    assert!(effects.is_empty());
    assert_eq!(g.state, GroupState::PreparingRebalance);
    assert_eq!(g.heartbeat(&follower, 1, 12_001), codes::UNKNOWN_MEMBER_ID);
}

#[test]
fn members_that_do_not_rejoin_are_dropped_at_the_rebalance_deadline() {
    let (mut g, leader, follower) = stable_pair();
    parked(g.join(req(&leader, b"changed"), 1_000).0);
    // The follower keeps heartbeating but never rejoins.
    for t in (2_000..=30_000).step_by(2_000) {
        assert_eq!(g.heartbeat(&follower, 1, t), codes::REBALANCE_IN_PROGRESS);
    }
    let effects = g.tick(1_000 + i64::from(REBALANCE));
    assert_eq!(joins(&effects).len(), 1);
    assert!(!g.members.contains_key(&follower));
    assert_eq!(g.generation_id, 2);
}

#[test]
fn static_member_replaced_by_a_new_instance_is_fenced_without_rebalance() {
    let mut g = Group::new("g", limits());
    let mut r = req("", b"s");
    r.group_instance_id = Some("instance-1".into());
    let old = parked(g.join(r.clone(), 0).0);
    g.tick(200);
    now(g
        .sync(&old, 1, vec![(old.clone(), Bytes::from_static(b"A"))], 210)
        .0);
    assert_eq!(g.state, GroupState::Stable);
    // The process restarts: same instance id, no member id.
    let fresh = now(g.join(r.clone(), 1_000).0);
    assert_eq!(
        (fresh.error_code, fresh.generation_id),
        (codes::NONE, 1),
        "no rebalance"
    );
    assert_ne!(fresh.member_id, old);
    assert_eq!(g.state, GroupState::Stable);
    assert_eq!(
        now(g.sync(&fresh.member_id, 1, vec![], 1_010).0).assignment,
        Bytes::from_static(b"A")
    );
    // The old incarnation is fenced.
    r.member_id = old.clone();
    assert_eq!(
        now(g.join(r, 1_020).0).error_code,
        codes::FENCED_INSTANCE_ID
    );
    // Its heartbeats, syncs and commits name the instance: fenced (the
    // coordinator answers FENCED_INSTANCE_ID before the state is consulted).
    assert!(g.is_fenced(&old, Some("instance-1")));
    assert!(!g.is_fenced(&fresh.member_id, Some("instance-1")));
    assert!(
        !g.is_fenced(&old, None),
        "without an instance id it is just unknown"
    );
    assert!(!g.is_fenced(&old, Some("another-instance")));
    assert_eq!(g.heartbeat(&old, 1, 1_030), codes::UNKNOWN_MEMBER_ID);
    assert_eq!(g.leave("", Some("instance-1"), 1_040).0, codes::NONE);
    assert_eq!(g.state, GroupState::Empty, "the only member left");
}

#[test]
fn stale_generation_and_unknown_members_are_refused() {
    let (mut g, leader, _) = stable_pair();
    assert_eq!(g.heartbeat(&leader, 0, 300), codes::ILLEGAL_GENERATION);
    assert_eq!(g.heartbeat("nobody", 1, 300), codes::UNKNOWN_MEMBER_ID);
    assert_eq!(
        now(g.sync(&leader, 7, vec![], 300).0).error_code,
        codes::ILLEGAL_GENERATION
    );
    assert_eq!(
        now(g.join(req("nobody", b"x"), 300).0).error_code,
        codes::UNKNOWN_MEMBER_ID
    );
    assert_eq!(g.leave("nobody", None, 300).0, codes::UNKNOWN_MEMBER_ID);
}

#[test]
fn bad_session_timeouts_and_protocols_are_refused() {
    let (mut g, _, _) = stable_pair();
    let mut r = req("", b"x");
    r.session_timeout_ms = 10;
    assert_eq!(
        now(g.join(r, 0).0).error_code,
        codes::INVALID_SESSION_TIMEOUT
    );
    let mut r = req("", b"x");
    r.protocols = vec![("cooperative-sticky".into(), Bytes::new())];
    assert_eq!(
        now(g.join(r, 0).0).error_code,
        codes::INCONSISTENT_GROUP_PROTOCOL
    );
    let mut r = req("", b"x");
    r.protocol_type = "connect".into();
    assert_eq!(
        now(g.join(r, 0).0).error_code,
        codes::INCONSISTENT_GROUP_PROTOCOL
    );
}

#[test]
fn last_member_leaving_empties_the_group_and_delete_answers_parked_calls() {
    let (mut g, leader, follower) = stable_pair();
    g.leave(&leader, None, 300);
    assert_eq!(g.state, GroupState::PreparingRebalance);
    // The only member left rejoins: nothing to wait for, it becomes the leader.
    let r = now(g.join(req(&follower, b"b"), 310).0);
    assert_eq!((r.generation_id, r.leader.as_str()), (2, follower.as_str()));
    g.leave(&follower, None, 320);
    assert_eq!(g.state, GroupState::Empty);
    let p = parked(g.join(req("", b"z"), 400).0);
    let effects = g.delete();
    assert_eq!(
        joins(&effects),
        vec![(
            p.as_str(),
            &JoinResponse::error(codes::COORDINATOR_NOT_AVAILABLE, &p)
        )]
    );
    assert_eq!(g.state, GroupState::Dead);
}

#[test]
fn protocol_selection_follows_member_preferences() {
    let mut g = Group::new("g", limits());
    let mut a = req("", b"a");
    a.protocols = vec![
        ("roundrobin".into(), Bytes::new()),
        ("range".into(), Bytes::new()),
    ];
    let mut b = req("", b"b");
    b.protocols = vec![
        ("range".into(), Bytes::new()),
        ("roundrobin".into(), Bytes::new()),
    ];
    let mut c = req("", b"c");
    c.protocols = vec![("range".into(), Bytes::new())];
    g.join(a, 0);
    g.join(b, 0);
    g.join(c, 0);
    g.tick(1_000);
    assert_eq!(g.protocol_name.as_deref(), Some("range"));
}

#[test]
fn a_stable_group_restored_from_its_snapshot_keeps_members_and_generation() {
    let (g, leader, follower) = stable_pair();
    let snapshot = g.snapshot().expect("stable groups are stored");
    assert_eq!(snapshot.members.len(), 2);
    let mut back = Group::restore("g", limits(), &snapshot, 10_000);
    assert_eq!((back.state, back.generation_id), (GroupState::Stable, 1));
    assert_eq!(back.leader_id.as_deref(), Some(leader.as_str()));
    assert_eq!(back.heartbeat(&follower, 1, 10_100), codes::NONE);
    assert_eq!(
        back.members[&follower].assignment,
        g.members[&follower].assignment
    );
    // The next rebalance continues the generation count.
    parked(back.join(req("", b"c"), 10_200).0);
    assert_eq!(back.state, GroupState::PreparingRebalance);
    // Members that never come back expire after their session timeout.
    let mut alone = Group::restore("g", limits(), &snapshot, 0);
    alone.tick(i64::from(SESSION) + 1);
    assert!(alone.members.is_empty());
    // Mid-rebalance there is nothing to store.
    let (mid, ..) = completing_pair();
    assert!(mid.snapshot().is_none());
}
