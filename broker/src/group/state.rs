//! The classic consumer-group state machine, as pure code: no actors, no clock
//! (every call takes `now_ms`), no I/O. The coordinator actor feeds it requests
//! and timer ticks and delivers the [`Effect`]s it returns to waiting clients.
//!
//! States follow Kafka: `Empty` → `PreparingRebalance` (members (re)join) →
//! `CompletingRebalance` (waiting for the leader's assignment) → `Stable`; `Dead`
//! once deleted. Where Kafka-compatible peers are known to go wrong this one
//! differs on purpose: members that were only handed a member id (JoinGroup v4+
//! MEMBER_ID_REQUIRED) never hold a rebalance back, and a member that rejoins
//! with unchanged metadata in a stable group gets the current generation back
//! instead of triggering a rebalance.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// Kafka error codes (kept with every other code in the wire layer's one mapping place).
pub use crate::errors as codes;

/// Group-wide limits, from broker config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupLimits {
    /// Smallest session timeout accepted (`group.min.session.timeout.ms`).
    pub min_session_timeout_ms: i32,
    /// Largest session timeout accepted (`group.max.session.timeout.ms`).
    pub max_session_timeout_ms: i32,
    /// Members one group may have (`group.max.size`).
    pub max_size: usize,
    /// How long the first rebalance of an empty group waits for more members
    /// (`group.initial.rebalance.delay.ms`); each new member extends it once more,
    /// up to three delays in all.
    pub initial_rebalance_delay_ms: i64,
}

impl Default for GroupLimits {
    fn default() -> Self {
        Self {
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            max_size: 1_000,
            initial_rebalance_delay_ms: 100,
        }
    }
}

/// Where a group is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// No members (offsets may still be stored).
    Empty,
    /// Members are (re)joining.
    PreparingRebalance,
    /// Joined; waiting for the leader's SyncGroup.
    CompletingRebalance,
    /// Assignment handed out; members heartbeat.
    Stable,
    /// Deleted.
    Dead,
}

impl GroupState {
    /// Kafka's name (DescribeGroups, ListGroups).
    pub fn name(self) -> &'static str {
        match self {
            Self::Empty => "Empty",
            Self::PreparingRebalance => "PreparingRebalance",
            Self::CompletingRebalance => "CompletingRebalance",
            Self::Stable => "Stable",
            Self::Dead => "Dead",
        }
    }
}

/// A JoinGroup request as the state machine needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    /// Empty for a new member.
    pub member_id: String,
    /// Static membership id (v5+).
    pub group_instance_id: Option<String>,
    /// Client id, for the member id and DescribeGroups.
    pub client_id: String,
    /// Client host, for DescribeGroups.
    pub client_host: String,
    /// Session timeout.
    pub session_timeout_ms: i32,
    /// Rebalance timeout (v1+; the session timeout before).
    pub rebalance_timeout_ms: i32,
    /// e.g. "consumer".
    pub protocol_type: String,
    /// (name, metadata) in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+: a new member must first get an id (MEMBER_ID_REQUIRED).
    pub require_known_member_id: bool,
}

/// One member as the leader sees it in its JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinMember {
    /// Member id.
    pub member_id: String,
    /// Static id.
    pub group_instance_id: Option<String>,
    /// Metadata for the chosen protocol.
    pub metadata: Bytes,
}

/// A JoinGroup answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResponse {
    /// Kafka error code.
    pub error_code: i16,
    /// Generation joined (-1 on error).
    pub generation_id: i32,
    /// Chosen protocol type.
    pub protocol_type: Option<String>,
    /// Chosen protocol name.
    pub protocol_name: Option<String>,
    /// Leader's member id.
    pub leader: String,
    /// This member's id.
    pub member_id: String,
    /// Every member, for the leader only.
    pub members: Vec<JoinMember>,
}

impl JoinResponse {
    fn error(error_code: i16, member_id: &str) -> Self {
        Self {
            error_code,
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.to_owned(),
            members: Vec::new(),
        }
    }
}

/// A SyncGroup answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResponse {
    /// Kafka error code.
    pub error_code: i16,
    /// Protocol type (v5+).
    pub protocol_type: Option<String>,
    /// Protocol name (v5+).
    pub protocol_name: Option<String>,
    /// This member's assignment.
    pub assignment: Bytes,
}

impl SyncResponse {
    pub(crate) fn error(error_code: i16) -> Self {
        Self {
            error_code,
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

/// What the caller must deliver after a transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Answer this member's parked JoinGroup.
    Join(String, JoinResponse),
    /// Answer this member's parked SyncGroup.
    Sync(String, SyncResponse),
}

/// How a JoinGroup or SyncGroup call went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply<T> {
    /// Answer now.
    Now(T),
    /// Parked: the answer comes later as an [`Effect`] for this member id.
    Parked(String),
}

/// One member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Member id.
    pub member_id: String,
    /// Static id.
    pub group_instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Session timeout.
    pub session_timeout_ms: i32,
    /// Rebalance timeout.
    pub rebalance_timeout_ms: i32,
    /// (name, metadata) in preference order.
    pub protocols: Vec<(String, Bytes)>,
    /// Assignment from the last sync.
    pub assignment: Bytes,
    /// Has a JoinGroup parked.
    pub awaiting_join: bool,
    /// Has a SyncGroup parked.
    pub awaiting_sync: bool,
    /// Last sign of life (join, sync, heartbeat).
    pub last_heartbeat_ms: i64,
}

/// What a group's metadata record stores: enough to bring a Stable (or Empty)
/// group back after a restart, so members keep their generation and need not
/// rejoin (Kafka's GroupMetadataValue).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSnapshot {
    /// Protocol type.
    pub protocol_type: Option<String>,
    /// Generation.
    pub generation_id: i32,
    /// Chosen protocol.
    pub protocol_name: Option<String>,
    /// Leader's member id.
    pub leader_id: Option<String>,
    /// Members with their assignments (none for an Empty group).
    pub members: Vec<StoredMember>,
}

/// A member in a [`GroupSnapshot`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMember {
    /// Member id.
    pub member_id: String,
    /// Static id.
    pub group_instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Session timeout.
    pub session_timeout_ms: i32,
    /// Rebalance timeout.
    pub rebalance_timeout_ms: i32,
    /// (name, metadata) in preference order.
    pub protocols: Vec<(String, Vec<u8>)>,
    /// Assignment of the stored generation.
    pub assignment: Vec<u8>,
}

/// One consumer group.
#[derive(Debug, Clone)]
pub struct Group {
    /// Group id.
    pub group_id: String,
    /// Current state.
    pub state: GroupState,
    /// Generation (bumped by every completed rebalance).
    pub generation_id: i32,
    /// Protocol type shared by all members.
    pub protocol_type: Option<String>,
    /// Protocol chosen for this generation.
    pub protocol_name: Option<String>,
    /// Leader's member id.
    pub leader_id: Option<String>,
    /// Members by id.
    pub members: BTreeMap<String, Member>,
    /// Static instance id → member id.
    pub static_members: HashMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, with when they expire.
    pub pending_members: HashMap<String, i64>,
    /// When the current PreparingRebalance completes at the latest.
    pub rebalance_deadline_ms: Option<i64>,
    /// A rebalance out of `Empty` waits until then for more members.
    initial_delay_until_ms: Option<i64>,
    /// Initial-delay extensions left for the current first rebalance.
    initial_delay_extensions: u8,
    /// Limits.
    limits: GroupLimits,
    /// Source of unique member id suffixes.
    next_member_seq: u64,
}

impl Group {
    /// A new, empty group.
    pub fn new(group_id: impl Into<String>, limits: GroupLimits) -> Self {
        Self {
            group_id: group_id.into(),
            state: GroupState::Empty,
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader_id: None,
            members: BTreeMap::new(),
            static_members: HashMap::new(),
            pending_members: HashMap::new(),
            rebalance_deadline_ms: None,
            initial_delay_until_ms: None,
            initial_delay_extensions: 0,
            limits,
            next_member_seq: 0,
        }
    }

    fn new_member_id(&mut self, client_id: &str, instance: Option<&str>) -> String {
        self.next_member_seq += 1;
        let prefix = instance.unwrap_or(client_id);
        format!(
            "{prefix}-{}-{:016x}",
            self.next_member_seq,
            rand_suffix(&self.group_id, self.next_member_seq)
        )
    }

    /// The group as its metadata record stores it, when it is in a state worth
    /// storing (Stable, or Empty after members left); `None` mid-rebalance.
    pub fn snapshot(&self) -> Option<GroupSnapshot> {
        if !matches!(self.state, GroupState::Stable | GroupState::Empty) {
            return None;
        }
        let members = self
            .members
            .values()
            .map(|m| StoredMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                session_timeout_ms: m.session_timeout_ms,
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                protocols: m
                    .protocols
                    .iter()
                    .map(|(name, md)| (name.clone(), md.to_vec()))
                    .collect(),
                assignment: m.assignment.to_vec(),
            })
            .collect();
        Some(GroupSnapshot {
            protocol_type: self.protocol_type.clone(),
            generation_id: self.generation_id,
            protocol_name: self.protocol_name.clone(),
            leader_id: self.leader_id.clone(),
            members,
        })
    }

    /// A group brought back from its metadata record at `now_ms`: Stable with the
    /// stored members (each gets a fresh session to heartbeat in), or Empty.
    pub fn restore(
        group_id: impl Into<String>,
        limits: GroupLimits,
        snapshot: &GroupSnapshot,
        now_ms: i64,
    ) -> Self {
        let mut group = Self::new(group_id, limits);
        group.generation_id = snapshot.generation_id;
        group.protocol_type = snapshot.protocol_type.clone();
        if snapshot.members.is_empty() {
            return group;
        }
        group.state = GroupState::Stable;
        group.protocol_name = snapshot.protocol_name.clone();
        group.leader_id = snapshot.leader_id.clone();
        for m in &snapshot.members {
            if let Some(instance) = &m.group_instance_id {
                group
                    .static_members
                    .insert(instance.clone(), m.member_id.clone());
            }
            let member = Member {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                session_timeout_ms: m.session_timeout_ms,
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                protocols: m
                    .protocols
                    .iter()
                    .map(|(name, md)| (name.clone(), Bytes::from(md.clone())))
                    .collect(),
                assignment: Bytes::from(m.assignment.clone()),
                awaiting_join: false,
                awaiting_sync: false,
                last_heartbeat_ms: now_ms,
            };
            group.members.insert(m.member_id.clone(), member);
        }
        group
    }

    /// Handles JoinGroup.
    pub fn join(&mut self, req: JoinRequest, now_ms: i64) -> (Reply<JoinResponse>, Vec<Effect>) {
        if let Some(code) = self.join_precheck(&req) {
            return (
                Reply::Now(JoinResponse::error(code, &req.member_id)),
                Vec::new(),
            );
        }
        if let Some(instance) = req.group_instance_id.clone() {
            return self.join_static(req, instance, now_ms);
        }
        if req.member_id.is_empty() {
            let member_id = self.new_member_id(&req.client_id, None);
            if req.require_known_member_id {
                let expiry = now_ms + i64::from(req.session_timeout_ms);
                self.pending_members.insert(member_id.clone(), expiry);
                return (
                    Reply::Now(JoinResponse::error(codes::MEMBER_ID_REQUIRED, &member_id)),
                    Vec::new(),
                );
            }
            return self.add_member(member_id, req, now_ms);
        }
        if self.pending_members.remove(&req.member_id).is_some() {
            let member_id = req.member_id.clone();
            return self.add_member(member_id, req, now_ms);
        }
        if !self.members.contains_key(&req.member_id) {
            return (
                Reply::Now(JoinResponse::error(
                    codes::UNKNOWN_MEMBER_ID,
                    &req.member_id,
                )),
                Vec::new(),
            );
        }
        self.rejoin(req, now_ms)
    }

    fn join_precheck(&self, req: &JoinRequest) -> Option<i16> {
        if self.state == GroupState::Dead {
            return Some(codes::COORDINATOR_NOT_AVAILABLE);
        }
        let timeout = req.session_timeout_ms;
        if timeout < self.limits.min_session_timeout_ms
            || timeout > self.limits.max_session_timeout_ms
        {
            return Some(codes::INVALID_SESSION_TIMEOUT);
        }
        if req.protocols.is_empty() || req.protocol_type.is_empty() {
            return Some(codes::INCONSISTENT_GROUP_PROTOCOL);
        }
        if !self.members.is_empty() && !self.accepts_protocols(req) {
            return Some(codes::INCONSISTENT_GROUP_PROTOCOL);
        }
        let known = self.members.contains_key(&req.member_id)
            || req
                .group_instance_id
                .as_ref()
                .is_some_and(|i| self.static_members.contains_key(i));
        if !known && self.members.len() >= self.limits.max_size {
            return Some(codes::GROUP_MAX_SIZE_REACHED);
        }
        None
    }

    /// Same protocol type, and at least one protocol every other member supports.
    fn accepts_protocols(&self, req: &JoinRequest) -> bool {
        if self
            .protocol_type
            .as_deref()
            .is_some_and(|t| t != req.protocol_type)
        {
            return false;
        }
        req.protocols.iter().any(|(name, _)| {
            self.members
                .values()
                .filter(|m| m.member_id != req.member_id)
                .all(|m| m.protocols.iter().any(|(n, _)| n == name))
        })
    }

    fn join_static(
        &mut self,
        req: JoinRequest,
        instance: String,
        now_ms: i64,
    ) -> (Reply<JoinResponse>, Vec<Effect>) {
        let Some(old_id) = self.static_members.get(&instance).cloned() else {
            if !req.member_id.is_empty() && !self.members.contains_key(&req.member_id) {
                return (
                    Reply::Now(JoinResponse::error(
                        codes::UNKNOWN_MEMBER_ID,
                        &req.member_id,
                    )),
                    Vec::new(),
                );
            }
            let member_id = self.new_member_id(&req.client_id, Some(&instance));
            self.static_members.insert(instance, member_id.clone());
            return self.add_member(member_id, req, now_ms);
        };
        if !req.member_id.is_empty() && req.member_id != old_id {
            // An older incarnation of this instance: it has been replaced.
            return (
                Reply::Now(JoinResponse::error(
                    codes::FENCED_INSTANCE_ID,
                    &req.member_id,
                )),
                Vec::new(),
            );
        }
        if req.member_id == old_id {
            return self.rejoin(req, now_ms);
        }
        // A new incarnation (unknown member id): it takes over the old member's
        // place and assignment; the old one is fenced.
        let new_id = self.new_member_id(&req.client_id, Some(&instance));
        let mut effects = Vec::new();
        if let Some(mut member) = self.members.remove(&old_id) {
            if member.awaiting_join {
                effects.push(Effect::Join(
                    old_id.clone(),
                    JoinResponse::error(codes::FENCED_INSTANCE_ID, &old_id),
                ));
            }
            if member.awaiting_sync {
                effects.push(Effect::Sync(
                    old_id.clone(),
                    SyncResponse::error(codes::FENCED_INSTANCE_ID),
                ));
            }
            member.member_id = new_id.clone();
            member.awaiting_join = false;
            member.awaiting_sync = false;
            self.members.insert(new_id.clone(), member);
        }
        if self.leader_id.as_deref() == Some(old_id.as_str()) {
            self.leader_id = Some(new_id.clone());
        }
        self.static_members.insert(instance, new_id.clone());
        let unchanged = self
            .members
            .get(&new_id)
            .is_some_and(|m| m.protocols == req.protocols);
        if self.state == GroupState::Stable && unchanged {
            if let Some(m) = self.members.get_mut(&new_id) {
                m.last_heartbeat_ms = now_ms;
            }
            let response = self.current_join_response(&new_id);
            return (Reply::Now(response), effects);
        }
        let (reply, more) = self.rejoin(
            JoinRequest {
                member_id: new_id,
                ..req
            },
            now_ms,
        );
        effects.extend(more);
        (reply, effects)
    }

    fn add_member(
        &mut self,
        member_id: String,
        req: JoinRequest,
        now_ms: i64,
    ) -> (Reply<JoinResponse>, Vec<Effect>) {
        let member = Member {
            member_id: member_id.clone(),
            group_instance_id: req.group_instance_id,
            client_id: req.client_id,
            client_host: req.client_host,
            session_timeout_ms: req.session_timeout_ms,
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            protocols: req.protocols,
            assignment: Bytes::new(),
            awaiting_join: true,
            awaiting_sync: false,
            last_heartbeat_ms: now_ms,
        };
        self.members.insert(member_id.clone(), member);
        if self.protocol_type.is_none() {
            self.protocol_type = Some(req.protocol_type);
        }
        let mut effects = self.prepare_rebalance(now_ms, true);
        effects.extend(self.maybe_complete_join(now_ms));
        (self.parked_or_answered(&member_id, &mut effects), effects)
    }

    fn rejoin(&mut self, req: JoinRequest, now_ms: i64) -> (Reply<JoinResponse>, Vec<Effect>) {
        let member_id = req.member_id.clone();
        let Some(member) = self.members.get_mut(&member_id) else {
            return (
                Reply::Now(JoinResponse::error(codes::UNKNOWN_MEMBER_ID, &member_id)),
                Vec::new(),
            );
        };
        let unchanged = member.protocols == req.protocols;
        member.protocols = req.protocols;
        member.session_timeout_ms = req.session_timeout_ms;
        member.rebalance_timeout_ms = req.rebalance_timeout_ms;
        member.last_heartbeat_ms = now_ms;
        let is_leader = self.leader_id.as_deref() == Some(member_id.as_str());
        let mut effects = Vec::new();
        match self.state {
            // Nothing changed: answer with the current generation (as Kafka does;
            // only a leader rejoining a stable group forces a rebalance, so it can
            // pick up metadata changes it noticed).
            GroupState::CompletingRebalance if unchanged => {
                return (Reply::Now(self.current_join_response(&member_id)), effects);
            }
            GroupState::Stable if unchanged && !is_leader => {
                return (Reply::Now(self.current_join_response(&member_id)), effects);
            }
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty => {
                effects.extend(self.prepare_rebalance(now_ms, false));
            }
            GroupState::PreparingRebalance | GroupState::Dead => {}
        }
        if let Some(member) = self.members.get_mut(&member_id) {
            if member.awaiting_join {
                // A duplicate join replaces the parked one.
                effects.push(Effect::Join(
                    member_id.clone(),
                    JoinResponse::error(codes::REBALANCE_IN_PROGRESS, &member_id),
                ));
            }
            member.awaiting_join = true;
        }
        effects.extend(self.maybe_complete_join(now_ms));
        (self.parked_or_answered(&member_id, &mut effects), effects)
    }

    /// A parked join whose completion effect is already in `effects` is
    /// answered now instead.
    fn parked_or_answered(
        &self,
        member_id: &str,
        effects: &mut Vec<Effect>,
    ) -> Reply<JoinResponse> {
        let position = effects
            .iter()
            .rposition(|e| matches!(e, Effect::Join(id, r) if id == member_id && r.error_code != codes::REBALANCE_IN_PROGRESS));
        match position {
            Some(i) => match effects.remove(i) {
                Effect::Join(_, response) => Reply::Now(response),
                Effect::Sync(..) => unreachable!("matched a join effect"),
            },
            None => Reply::Parked(member_id.to_owned()),
        }
    }

    /// The JoinGroup answer for the current generation, for `member_id`.
    fn current_join_response(&self, member_id: &str) -> JoinResponse {
        let is_leader = self.leader_id.as_deref() == Some(member_id);
        JoinResponse {
            error_code: codes::NONE,
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader_id.clone().unwrap_or_default(),
            member_id: member_id.to_owned(),
            members: if is_leader {
                self.join_members()
            } else {
                Vec::new()
            },
        }
    }

    fn join_members(&self) -> Vec<JoinMember> {
        let protocol = self.protocol_name.as_deref().unwrap_or_default();
        self.members
            .values()
            .map(|m| JoinMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                metadata: m
                    .protocols
                    .iter()
                    .find(|(n, _)| n == protocol)
                    .map(|(_, meta)| meta.clone())
                    .unwrap_or_default(),
            })
            .collect()
    }

    /// Enters PreparingRebalance; parked syncs are told a rebalance started.
    fn prepare_rebalance(&mut self, now_ms: i64, new_member: bool) -> Vec<Effect> {
        let mut effects = Vec::new();
        for m in self.members.values_mut() {
            if m.awaiting_sync {
                m.awaiting_sync = false;
                effects.push(Effect::Sync(
                    m.member_id.clone(),
                    SyncResponse::error(codes::REBALANCE_IN_PROGRESS),
                ));
            }
        }
        let rebalance_timeout = self
            .members
            .values()
            .map(|m| i64::from(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0);
        let delay = self
            .limits
            .initial_rebalance_delay_ms
            .min(rebalance_timeout);
        match self.state {
            GroupState::Empty => {
                // Out of Empty: wait briefly so members starting together share one
                // generation instead of rebalancing once per member.
                self.initial_delay_until_ms = Some(now_ms + delay);
                self.initial_delay_extensions = 2;
            }
            GroupState::PreparingRebalance
                if new_member
                    && self.initial_delay_until_ms.is_some()
                    && self.initial_delay_extensions > 0 =>
            {
                self.initial_delay_extensions -= 1;
                self.initial_delay_until_ms = Some(now_ms + delay);
            }
            _ => {}
        }
        if self.state != GroupState::PreparingRebalance {
            self.rebalance_deadline_ms = Some(now_ms + rebalance_timeout);
        }
        self.state = GroupState::PreparingRebalance;
        effects
    }

    /// Completes the join phase when every member has rejoined (and no initial
    /// delay is running), or when the rebalance deadline passed.
    fn maybe_complete_join(&mut self, now_ms: i64) -> Vec<Effect> {
        if self.state != GroupState::PreparingRebalance {
            return Vec::new();
        }
        let deadline_passed = self.rebalance_deadline_ms.is_some_and(|d| now_ms >= d);
        let all_joined = self.members.values().all(|m| m.awaiting_join);
        let delaying = self.initial_delay_until_ms.is_some_and(|t| now_ms < t);
        if !(deadline_passed || all_joined && !delaying) {
            return Vec::new();
        }
        self.complete_join(now_ms)
    }

    fn complete_join(&mut self, now_ms: i64) -> Vec<Effect> {
        // Members that did not rejoin in time are out.
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.awaiting_join)
            .map(|m| m.member_id.clone())
            .collect();
        for id in gone {
            self.remove_member(&id);
        }
        self.generation_id += 1;
        self.rebalance_deadline_ms = None;
        self.initial_delay_until_ms = None;
        self.initial_delay_extensions = 0;
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.protocol_name = None;
            self.leader_id = None;
            return Vec::new();
        }
        self.protocol_name = self.select_protocol();
        if self
            .leader_id
            .as_ref()
            .is_none_or(|l| !self.members.contains_key(l))
        {
            self.leader_id = self.members.keys().next().cloned();
        }
        self.state = GroupState::CompletingRebalance;
        let ids: Vec<String> = self.members.keys().cloned().collect();
        let mut effects = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(m) = self.members.get_mut(&id) {
                m.awaiting_join = false;
                m.last_heartbeat_ms = now_ms;
            }
            effects.push(Effect::Join(id.clone(), self.current_join_response(&id)));
        }
        effects
    }

    /// The protocol most members rank best among those all support.
    fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let candidates: Vec<&String> = first
            .protocols
            .iter()
            .map(|(n, _)| n)
            .filter(|n| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(p, _)| p == *n))
            })
            .collect();
        candidates
            .iter()
            .max_by_key(|name| {
                let votes = self
                    .members
                    .values()
                    .filter(|m| {
                        m.protocols
                            .iter()
                            .find(|(p, _)| candidates.contains(&p))
                            .is_some_and(|(p, _)| p == **name)
                    })
                    .count();
                // Ties go to the first member's preference (max_by_key keeps the last max).
                (
                    votes,
                    std::cmp::Reverse(candidates.iter().position(|c| c == *name)),
                )
            })
            .map(|n| (*n).clone())
    }

    fn remove_member(&mut self, member_id: &str) -> Option<Member> {
        let member = self.members.remove(member_id)?;
        if let Some(instance) = &member.group_instance_id
            && self
                .static_members
                .get(instance)
                .is_some_and(|id| id == member_id)
        {
            self.static_members.remove(instance);
        }
        if self.leader_id.as_deref() == Some(member_id) {
            self.leader_id = None;
        }
        if self.members.is_empty() {
            self.protocol_type = None;
        }
        Some(member)
    }

    /// Handles SyncGroup; the leader's call carries every member's assignment.
    pub fn sync(
        &mut self,
        member_id: &str,
        generation_id: i32,
        assignments: Vec<(String, Bytes)>,
        now_ms: i64,
    ) -> (Reply<SyncResponse>, Vec<Effect>) {
        let Some(member) = self.members.get_mut(member_id) else {
            return (
                Reply::Now(SyncResponse::error(codes::UNKNOWN_MEMBER_ID)),
                Vec::new(),
            );
        };
        if generation_id != self.generation_id {
            return (
                Reply::Now(SyncResponse::error(codes::ILLEGAL_GENERATION)),
                Vec::new(),
            );
        }
        member.last_heartbeat_ms = now_ms;
        match self.state {
            GroupState::PreparingRebalance | GroupState::Empty | GroupState::Dead => (
                Reply::Now(SyncResponse::error(codes::REBALANCE_IN_PROGRESS)),
                Vec::new(),
            ),
            GroupState::Stable => (Reply::Now(self.sync_response(member_id)), Vec::new()),
            GroupState::CompletingRebalance => {
                member.awaiting_sync = true;
                if self.leader_id.as_deref() != Some(member_id) {
                    return (Reply::Parked(member_id.to_owned()), Vec::new());
                }
                let mut effects = self.complete_sync(assignments);
                let reply = match effects
                    .iter()
                    .position(|e| matches!(e, Effect::Sync(id, _) if id == member_id))
                {
                    Some(i) => match effects.remove(i) {
                        Effect::Sync(_, r) => Reply::Now(r),
                        Effect::Join(..) => unreachable!("matched a sync effect"),
                    },
                    None => Reply::Now(self.sync_response(member_id)),
                };
                (reply, effects)
            }
        }
    }

    fn complete_sync(&mut self, assignments: Vec<(String, Bytes)>) -> Vec<Effect> {
        let mut assigned: HashMap<String, Bytes> = assignments.into_iter().collect();
        for m in self.members.values_mut() {
            m.assignment = assigned.remove(&m.member_id).unwrap_or_default();
        }
        self.state = GroupState::Stable;
        let waiting: Vec<String> = self
            .members
            .values()
            .filter(|m| m.awaiting_sync)
            .map(|m| m.member_id.clone())
            .collect();
        waiting
            .into_iter()
            .map(|id| {
                if let Some(m) = self.members.get_mut(&id) {
                    m.awaiting_sync = false;
                }
                let response = self.sync_response(&id);
                Effect::Sync(id, response)
            })
            .collect()
    }

    fn sync_response(&self, member_id: &str) -> SyncResponse {
        SyncResponse {
            error_code: codes::NONE,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            assignment: self
                .members
                .get(member_id)
                .map(|m| m.assignment.clone())
                .unwrap_or_default(),
        }
    }

    /// Whether `member_id` names a static instance that another member has
    /// taken over since (Kafka answers FENCED_INSTANCE_ID, so the old
    /// incarnation stops instead of rejoining and taking the id back).
    pub fn is_fenced(&self, member_id: &str, group_instance_id: Option<&str>) -> bool {
        group_instance_id
            .and_then(|instance| self.static_members.get(instance))
            .is_some_and(|current| current != member_id)
    }

    /// Handles Heartbeat; returns the Kafka error code.
    pub fn heartbeat(&mut self, member_id: &str, generation_id: i32, now_ms: i64) -> i16 {
        let state = self.state;
        let generation = self.generation_id;
        let Some(member) = self.members.get_mut(member_id) else {
            return codes::UNKNOWN_MEMBER_ID;
        };
        if generation_id != generation {
            return codes::ILLEGAL_GENERATION;
        }
        member.last_heartbeat_ms = now_ms;
        match state {
            GroupState::PreparingRebalance => codes::REBALANCE_IN_PROGRESS,
            GroupState::CompletingRebalance | GroupState::Stable => codes::NONE,
            GroupState::Empty | GroupState::Dead => codes::UNKNOWN_MEMBER_ID,
        }
    }

    /// Handles LeaveGroup for one member (by member id, or by static instance id
    /// when `member_id` is empty); returns its error code and effects.
    pub fn leave(
        &mut self,
        member_id: &str,
        group_instance_id: Option<&str>,
        now_ms: i64,
    ) -> (i16, Vec<Effect>) {
        let id = match (member_id.is_empty(), group_instance_id) {
            (true, Some(instance)) => match self.static_members.get(instance) {
                Some(id) => id.clone(),
                None => return (codes::UNKNOWN_MEMBER_ID, Vec::new()),
            },
            (_, Some(instance))
                if self
                    .static_members
                    .get(instance)
                    .is_some_and(|id| id != member_id) =>
            {
                return (codes::FENCED_INSTANCE_ID, Vec::new());
            }
            _ => member_id.to_owned(),
        };
        if self.pending_members.remove(&id).is_some() {
            return (codes::NONE, Vec::new());
        }
        let Some(member) = self.remove_member(&id) else {
            return (codes::UNKNOWN_MEMBER_ID, Vec::new());
        };
        let mut effects = Vec::new();
        if member.awaiting_join {
            effects.push(Effect::Join(
                id.clone(),
                JoinResponse::error(codes::UNKNOWN_MEMBER_ID, &id),
            ));
        }
        effects.extend(self.members_changed(now_ms));
        (codes::NONE, effects)
    }

    /// After members left or expired: rebalance, or finish the one in progress.
    fn members_changed(&mut self, now_ms: i64) -> Vec<Effect> {
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                let mut effects = self.prepare_rebalance(now_ms, false);
                effects.extend(self.maybe_complete_join(now_ms));
                effects
            }
            GroupState::PreparingRebalance => self.maybe_complete_join(now_ms),
            GroupState::Empty | GroupState::Dead => Vec::new(),
        }
    }

    /// Timer tick: expires members whose session ran out (never a member whose
    /// JoinGroup is parked: its answer is the rebalance), completes a rebalance
    /// whose deadline passed, drops stale pending member ids.
    pub fn tick(&mut self, now_ms: i64) -> Vec<Effect> {
        self.pending_members.retain(|_, expiry| *expiry > now_ms);
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| {
                !m.awaiting_join && now_ms - m.last_heartbeat_ms > i64::from(m.session_timeout_ms)
            })
            .map(|m| m.member_id.clone())
            .collect();
        let mut effects = Vec::new();
        for id in &expired {
            if let Some(member) = self.remove_member(id)
                && member.awaiting_sync
            {
                effects.push(Effect::Sync(
                    id.clone(),
                    SyncResponse::error(codes::UNKNOWN_MEMBER_ID),
                ));
            }
        }
        if !expired.is_empty() {
            effects.extend(self.members_changed(now_ms));
        }
        effects.extend(self.maybe_complete_join(now_ms));
        effects
    }

    /// When the next `tick` could change something.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        let sessions = self
            .members
            .values()
            .filter(|m| !m.awaiting_join)
            .map(|m| m.last_heartbeat_ms + i64::from(m.session_timeout_ms) + 1);
        sessions
            .chain(self.rebalance_deadline_ms)
            .chain(self.initial_delay_until_ms)
            .min()
    }

    /// Marks the group deleted; parked calls are answered with errors.
    pub fn delete(&mut self) -> Vec<Effect> {
        let mut effects = Vec::new();
        for m in self.members.values() {
            if m.awaiting_join {
                effects.push(Effect::Join(
                    m.member_id.clone(),
                    JoinResponse::error(codes::COORDINATOR_NOT_AVAILABLE, &m.member_id),
                ));
            }
            if m.awaiting_sync {
                effects.push(Effect::Sync(
                    m.member_id.clone(),
                    SyncResponse::error(codes::COORDINATOR_NOT_AVAILABLE),
                ));
            }
        }
        self.members.clear();
        self.static_members.clear();
        self.state = GroupState::Dead;
        effects
    }
}

/// A cheap, deterministic per-group suffix (member ids need uniqueness within the
/// group, which the sequence number gives; the suffix only makes them unguessable
/// across groups and restarts).
fn rand_suffix(group_id: &str, seq: u64) -> u64 {
    let mut h = crc32c::crc32c(group_id.as_bytes()) as u64;
    h ^= seq.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    h ^= std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    h
}

#[cfg(test)]
mod tests;
