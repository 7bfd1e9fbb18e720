//! Cluster settings, by Kafka's names for a combined-mode KRaft node: the
//! quorum's voters, which listener is which, replication defaults and the
//! liveness timings.

use std::collections::BTreeMap;
use std::str::FromStr;

/// One voter of the metadata quorum (`id@host:port`, its CONTROLLER endpoint).
/// The host may be a name (`broker-1` in a compose network): it is resolved each
/// time the broker dials the voter, so a peer that comes back at another address
/// is found again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voter {
    /// The voter's broker id.
    pub node_id: i32,
    /// Host name or IP address of its CONTROLLER listener.
    pub host: String,
    /// Port of its CONTROLLER listener.
    pub port: u16,
}

impl Voter {
    /// `host:port`, with an IPv6 address in brackets, as a dialer takes it.
    pub fn endpoint(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl FromStr for Voter {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (id, addr) = s
            .split_once('@')
            .ok_or_else(|| format!("voter `{s}` is not id@host:port"))?;
        let node_id = id
            .trim()
            .parse()
            .map_err(|e| format!("voter id `{id}`: {e}"))?;
        let (host, port) = addr
            .trim()
            .rsplit_once(':')
            .ok_or_else(|| format!("voter address `{addr}` has no port"))?;
        let port = port
            .parse()
            .map_err(|e| format!("voter address `{addr}`: {e}"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.chars().any(char::is_whitespace) {
            return Err(format!("voter address `{addr}` has no valid host"));
        }
        Ok(Self {
            node_id,
            host: host.to_owned(),
            port,
        })
    }
}

/// Parses `controller.quorum.voters`: comma-separated `id@host:port`.
pub fn parse_voters(s: &str) -> Result<Vec<Voter>, String> {
    let voters: Vec<Voter> = s
        .split(',')
        .filter(|v| !v.trim().is_empty())
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let mut ids: Vec<i32> = voters.iter().map(|v| v.node_id).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() != voters.len() {
        return Err("a voter id is listed twice".into());
    }
    Ok(voters)
}

/// One advertised endpoint (`NAME://host:port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvertisedListener {
    /// Listener name.
    pub name: String,
    /// Host clients of this listener connect to.
    pub host: String,
    /// Port clients of this listener connect to.
    pub port: u16,
}

impl FromStr for AdvertisedListener {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, rest) = match s.split_once("://") {
            Some((name, rest)) => (name.to_ascii_uppercase(), rest),
            None => ("PLAINTEXT".to_string(), s),
        };
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| format!("advertised listener `{s}` has no port"))?;
        let port = port
            .parse()
            .map_err(|e| format!("advertised listener `{s}`: {e}"))?;
        Ok(Self {
            name,
            host: host.trim_matches(['[', ']']).to_string(),
            port,
        })
    }
}

/// Parses `listener.security.protocol.map`: `NAME:PROTOCOL,...`.
pub fn parse_protocol_map(s: &str) -> Result<BTreeMap<String, String>, String> {
    s.split(',')
        .filter(|e| !e.trim().is_empty())
        .map(|entry| {
            let (name, protocol) = entry
                .split_once(':')
                .ok_or_else(|| format!("`{entry}` is not NAME:PROTOCOL"))?;
            let protocol = protocol.trim().to_ascii_uppercase();
            if protocol != "PLAINTEXT" {
                return Err(format!(
                    "security protocol {protocol} is not available yet (PLAINTEXT only)"
                ));
            }
            Ok((name.trim().to_ascii_uppercase(), protocol))
        })
        .collect()
}

/// Settings of a broker in a cluster. With no voters the broker is a quorum of
/// one: today's single broker, same code.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// The metadata quorum's voters (`controller.quorum.voters`); empty for a
    /// single broker.
    pub voters: Vec<Voter>,
    /// Listener(s) where brokers link and Raft runs (`controller.listener.names`).
    pub controller_listener_names: Vec<String>,
    /// Listener followers fetch from (`inter.broker.listener.name`).
    pub inter_broker_listener_name: Option<String>,
    /// What each listener advertises (`advertised.listeners`).
    pub advertised_listeners: Vec<AdvertisedListener>,
    /// Security protocol per listener name (`listener.security.protocol.map`).
    pub security_protocol_map: BTreeMap<String, String>,
    /// Shared secret of the broker link (`cluster.cookie`).
    pub cookie: String,
    /// Replicas of a topic created without a factor (`default.replication.factor`).
    pub default_replication_factor: i16,
    /// Replicas that must have a record before acks=all answers (`min.insync.replicas`).
    pub min_insync_replicas: i32,
    /// Replicas of `__consumer_offsets` (`offsets.topic.replication.factor`,
    /// capped by the live brokers).
    pub offsets_topic_replication_factor: i16,
    /// Replicas of `__transaction_state`, capped by the live brokers
    /// (`transaction.state.log.replication.factor`).
    pub transaction_state_log_replication_factor: i16,
    /// Whether an out-of-sync replica may become leader
    /// (`unclean.leader.election.enable`).
    pub unclean_leader_election: bool,
    /// A follower this far behind leaves the ISR (`replica.lag.time.max.ms`).
    pub replica_lag_time_max_ms: u64,
    /// Raft leader heartbeats (`controller.quorum.heartbeat.interval.ms`).
    pub quorum_heartbeat_interval_ms: u64,
    /// Raft election timeout, lower bound; the upper is 1.5 times it
    /// (`controller.quorum.election.timeout.ms`).
    pub quorum_election_timeout_ms: u64,
    /// How often a broker renews its lease (`broker.heartbeat.interval.ms`).
    pub broker_heartbeat_interval_ms: u64,
    /// A broker whose lease is this old is fenced (`broker.session.timeout.ms`).
    pub broker_session_timeout_ms: u64,
    /// The active controller moves leadership back to preferred replicas
    /// (`auto.leader.rebalance.enable`).
    pub auto_leader_rebalance_enable: bool,
    /// A broker leading fewer of the partitions it is preferred for than
    /// this share (%) allows gets them back
    /// (`leader.imbalance.per.broker.percentage`).
    pub leader_imbalance_per_broker_percentage: u32,
    /// How often the imbalance is checked
    /// (`leader.imbalance.check.interval.seconds`, or `.ms` for tests).
    pub leader_imbalance_check_interval_ms: u64,
    /// `process.roles` is `broker` alone: this node must not be a voter.
    pub broker_only_role: bool,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            broker_only_role: false,
            voters: Vec::new(),
            controller_listener_names: vec!["CONTROLLER".into()],
            inter_broker_listener_name: None,
            advertised_listeners: Vec::new(),
            security_protocol_map: BTreeMap::new(),
            cookie: "weir".into(),
            default_replication_factor: 1,
            min_insync_replicas: 1,
            offsets_topic_replication_factor: 3,
            transaction_state_log_replication_factor: 3,
            unclean_leader_election: false,
            replica_lag_time_max_ms: 10_000,
            // Timings that hold on two starved cores: Kafka's 1 s election
            // timeout and a lease between 2 and 3 s.
            quorum_heartbeat_interval_ms: 250,
            quorum_election_timeout_ms: 1_000,
            broker_heartbeat_interval_ms: 500,
            broker_session_timeout_ms: 2_500,
            // Kafka's defaults.
            auto_leader_rebalance_enable: true,
            leader_imbalance_per_broker_percentage: 10,
            leader_imbalance_check_interval_ms: 300_000,
        }
    }
}

impl ClusterConfig {
    /// Whether this broker is part of a multi-voter quorum.
    pub fn is_clustered(&self) -> bool {
        !self.voters.is_empty()
    }

    /// Whether broker `node_id` is a voter of the metadata quorum (a
    /// clustered broker that is not is broker-only: a Raft learner).
    pub fn is_voter(&self, node_id: i32) -> bool {
        self.voters.iter().any(|v| v.node_id == node_id)
    }

    /// Whether `name` is a controller listener (not served to Kafka clients).
    pub fn is_controller_listener(&self, name: &str) -> bool {
        self.controller_listener_names.iter().any(|n| n == name)
    }

    /// The advertised endpoint of listener `name`, if one is configured.
    pub fn advertised(&self, name: &str) -> Option<&AdvertisedListener> {
        self.advertised_listeners.iter().find(|l| l.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voters_and_endpoints_parse() {
        let voters = parse_voters("1@127.0.0.1:9094, 2@127.0.0.1:19094").unwrap();
        assert_eq!(voters.len(), 2);
        assert_eq!(voters[1].node_id, 2);
        assert_eq!(voters[1].port, 19094);
        let named = parse_voters("1@broker-1:9094,2@[::1]:9095").unwrap();
        assert_eq!(named[0].endpoint(), "broker-1:9094");
        assert_eq!(named[1].endpoint(), "[::1]:9095");
        assert!(parse_voters("1@:9094").is_err());
        assert!(parse_voters("1@broker-1").is_err());
        assert!(parse_voters("1@broker-1:x").is_err());
        assert!(parse_voters("1@127.0.0.1:9094,1@127.0.0.1:9095").is_err());
        assert!(parse_voters("127.0.0.1:9094").is_err());
        let l: AdvertisedListener = "internal://broker-1:9093".parse().unwrap();
        assert_eq!(
            (l.name.as_str(), l.host.as_str(), l.port),
            ("INTERNAL", "broker-1", 9093)
        );
        let map = parse_protocol_map("PLAINTEXT:PLAINTEXT,controller:plaintext").unwrap();
        assert_eq!(map["CONTROLLER"], "PLAINTEXT");
        assert!(parse_protocol_map("SSL:SSL").is_err());
    }
}
