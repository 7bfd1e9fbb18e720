//! Broker configuration: built-in defaults < TOML file (`--config`) < `WEIR_*`
//! environment < command-line flags.
//!
//! The TOML file uses Kafka's property names where Kafka has one
//! (`log.segment.bytes = 1073741824`, dotted keys or nested tables alike); clap
//! reads each flag's `WEIR_*` variable itself, which puts the environment between
//! the file and the flags.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use clap::Parser;
use thiserror::Error;

use crate::limits;
use crate::log::FsyncPolicy;

pub mod cluster;

pub use cluster::{AdvertisedListener, ClusterConfig, Voter};

/// A configuration problem, reported before anything starts.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("config file {path} is not valid TOML: {message}")]
    Parse { path: PathBuf, message: String },
    /// A key the broker does not know (a typo would otherwise pass silently).
    #[error("unknown config key `{key}`")]
    UnknownKey { key: String },
    /// A value of the wrong type or out of range.
    #[error("invalid value for `{key}`: {message}")]
    Invalid { key: String, message: String },
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("expected text or json, got {other}")),
        }
    }
}

/// One named listener. Only plaintext exists today; TLS and SASL listeners will be
/// further entries with their own protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// Listener name (`PLAINTEXT` unless given as `NAME://host:port`).
    pub name: String,
    /// Address to bind.
    pub addr: SocketAddr,
}

impl FromStr for ListenerConfig {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, addr) = match s.split_once("://") {
            Some((name, addr)) => (name.to_ascii_uppercase(), addr),
            None => ("PLAINTEXT".to_string(), s),
        };
        Ok(Self {
            name,
            addr: bind_addr(addr)?,
        })
    }
}

/// Where the HTTP port binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpListener {
    /// Bind address.
    pub addr: SocketAddr,
    /// Whether it was configured (a configured port that cannot be bound stops
    /// the broker; the default one, taken by another broker on the same host,
    /// only turns the port off, with a warning).
    pub explicit: bool,
}

/// `http.listener`'s default.
pub const HTTP_LISTENER_DEFAULT: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9644);

/// A listener's bind address: an IP address with its port, or a host name
/// resolved once, at start (as Kafka binds `PLAINTEXT://broker-1:9092` to the
/// address the name has then).
fn bind_addr(addr: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = addr.parse() {
        return Ok(addr);
    }
    if addr
        .rsplit_once(':')
        .is_none_or(|(host, _)| host.is_empty())
    {
        return Err(format!("listener address `{addr}` is not host:port"));
    }
    std::net::ToSocketAddrs::to_socket_addrs(addr)
        .map_err(|e| format!("listener address `{addr}`: {e}"))?
        .next()
        .ok_or_else(|| format!("listener address `{addr}` resolves to nothing"))
}

/// Everything the broker is configured with, resolved.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// This broker's id (`node.id`).
    pub node_id: i32,
    /// Listeners to bind (`listeners`, comma separated).
    pub listeners: Vec<ListenerConfig>,
    /// Host clients should connect to (`advertised.host`); defaults to the bind host.
    pub advertised_host: Option<String>,
    /// Port clients should connect to (`advertised.port`, as Kafka's old
    /// setting); defaults to the bound port. For a proxy or NAT in front.
    pub advertised_port: Option<u16>,
    /// Where logs and metadata live (`log.dir`).
    pub data_dir: PathBuf,
    /// When appends are fsynced (`log.fsync`: default|always|never|<ms>).
    pub fsync: FsyncPolicy,
    /// Partitions of an auto-created or defaulted topic (`num.partitions`).
    pub num_partitions: i32,
    /// Create unknown topics on Metadata/Produce (`auto.create.topics.enable`).
    pub auto_create_topics: bool,
    /// Segment size before a roll (`log.segment.bytes`).
    pub log_segment_bytes: u64,
    /// Segment age before a roll (`log.roll.ms`).
    pub log_roll_ms: u64,
    /// Time retention, -1 for none (`log.retention.ms`).
    pub log_retention_ms: i64,
    /// Size retention per partition, -1 for none (`log.retention.bytes`).
    pub log_retention_bytes: i64,
    /// How often retention runs (`log.retention.check.interval.ms`).
    pub log_retention_check_interval_ms: u64,
    /// Largest record batch accepted (`message.max.bytes`).
    pub message_max_bytes: u32,
    /// Largest request frame (`socket.request.max.bytes`).
    pub frame_bytes_max: usize,
    /// Concurrent client connections (`max.connections`).
    pub max_connections: usize,
    /// Requests in flight per connection (`max.inflight.requests`).
    pub max_inflight_requests: usize,
    /// Partitions this broker hosts at most, over all topics (`max.partitions`).
    pub max_partitions: usize,
    /// Partitions of `__consumer_offsets` (`offsets.topic.num.partitions`).
    pub offsets_topic_num_partitions: i32,
    /// Segment size of `__consumer_offsets` (`offsets.topic.segment.bytes`; small,
    /// so compaction gets sealed segments to work on soon).
    pub offsets_topic_segment_bytes: u64,
    /// Partitions of `__transaction_state` (`transaction.state.log.num.partitions`;
    /// 10 here as for the offsets topic, Kafka's 50 being many actors for a
    /// small broker).
    pub transaction_state_log_num_partitions: i32,
    /// Segment size of `__transaction_state` (`transaction.state.log.segment.bytes`).
    pub transaction_state_log_segment_bytes: u64,
    /// Largest `transaction.timeout.ms` a producer may ask for
    /// (`transaction.max.timeout.ms`).
    pub transaction_max_timeout_ms: i32,
    /// A transactional id idle this long is forgotten
    /// (`transactional.id.expiration.ms`).
    pub transactional_id_expiration_ms: i64,
    /// A batch opening a transaction on a partition is verified with the
    /// coordinator first (KIP-890, `transaction.partition.verification.enable`).
    pub transaction_partition_verification_enable: bool,
    /// How often expired transactions are looked for
    /// (`transaction.abort.timed.out.transaction.cleanup.interval.ms`).
    pub transaction_abort_timed_out_transaction_cleanup_interval_ms: u64,
    /// Offsets of a group that has been empty this long are deleted
    /// (`offsets.retention.minutes`, Kafka's 7 days by default).
    pub offsets_retention_minutes: i64,
    /// How often offset expiry is checked (`offsets.retention.check.interval.ms`).
    pub offsets_retention_check_interval_ms: u64,
    /// Smallest consumer session timeout (`group.min.session.timeout.ms`).
    pub group_min_session_timeout_ms: i32,
    /// Largest consumer session timeout (`group.max.session.timeout.ms`).
    pub group_max_session_timeout_ms: i32,
    /// How long a group's first rebalance waits for more members
    /// (`group.initial.rebalance.delay.ms`; Kafka's 3 s default makes every
    /// first join slow, so Weir waits 100 ms, extended twice by new members).
    pub group_initial_rebalance_delay_ms: i64,
    /// Log output format (`log.format`).
    pub log_format: LogFormat,
    /// The HTTP port for /healthz and /readyz (`http.listener`, host:port;
    /// empty turns it off).
    pub http_listener: Option<HttpListener>,
    /// Whether `/metrics` has per-partition series (log start and end
    /// offsets, high watermark, size) (`http.metrics.partition.series`).
    pub http_metrics_partition_series: bool,
    /// Whether the web console may create topics (`http.console.write`).
    pub http_console_write: bool,
    /// A request slower than this is logged as a warning
    /// (`request.slow.threshold.ms`; 0 turns the warning off).
    pub request_slow_threshold_ms: u64,
    /// Cluster settings (quorum voters, listener roles, replication).
    pub cluster: ClusterConfig,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            node_id: 0,
            listeners: vec![ListenerConfig {
                name: "PLAINTEXT".into(),
                addr: SocketAddr::from(([127, 0, 0, 1], 9092)),
            }],
            advertised_host: None,
            advertised_port: None,
            data_dir: PathBuf::from("weir-data"),
            fsync: FsyncPolicy::default(),
            num_partitions: 1,
            auto_create_topics: true,
            log_segment_bytes: 1 << 30,
            log_roll_ms: 7 * 24 * 3600 * 1000,
            log_retention_ms: 7 * 24 * 3600 * 1000,
            log_retention_bytes: -1,
            log_retention_check_interval_ms: 5 * 60 * 1000,
            message_max_bytes: limits::MESSAGE_BYTES_MAX_DEFAULT,
            frame_bytes_max: limits::FRAME_BYTES_MAX_DEFAULT,
            max_connections: limits::CONNECTIONS_MAX_DEFAULT,
            max_inflight_requests: limits::INFLIGHT_REQUESTS_MAX_DEFAULT,
            max_partitions: limits::PARTITIONS_MAX_DEFAULT,
            offsets_topic_num_partitions: 10,
            offsets_topic_segment_bytes: 100 * 1024 * 1024,
            transaction_state_log_num_partitions: 10,
            transaction_state_log_segment_bytes: 100 * 1024 * 1024,
            transaction_max_timeout_ms: 900_000,
            transactional_id_expiration_ms: 7 * 24 * 3600 * 1000,
            transaction_partition_verification_enable: true,
            transaction_abort_timed_out_transaction_cleanup_interval_ms: 10_000,
            offsets_retention_minutes: 7 * 24 * 60,
            offsets_retention_check_interval_ms: 600_000,
            group_min_session_timeout_ms: 6_000,
            group_max_session_timeout_ms: 1_800_000,
            group_initial_rebalance_delay_ms: 100,
            log_format: LogFormat::Text,
            http_listener: Some(HttpListener {
                addr: HTTP_LISTENER_DEFAULT,
                explicit: false,
            }),
            http_metrics_partition_series: true,
            http_console_write: false,
            request_slow_threshold_ms: 1_000,
            cluster: ClusterConfig::default(),
        }
    }
}

/// Command-line flags; each also reads its `WEIR_*` environment variable.
#[derive(Debug, Default, Parser)]
#[command(
    name = "weir-broker",
    version,
    about = "Weir: a Kafka-protocol streaming broker"
)]
pub struct Cli {
    /// TOML config file with Kafka property names.
    #[arg(long, env = "WEIR_CONFIG")]
    pub config: Option<PathBuf>,
    /// This broker's id.
    #[arg(long, env = "WEIR_NODE_ID")]
    pub node_id: Option<i32>,
    /// Listeners, comma separated: `host:port` or `NAME://host:port`.
    #[arg(long, env = "WEIR_LISTEN", value_delimiter = ',')]
    pub listen: Option<Vec<ListenerConfig>>,
    /// Host advertised to clients in Metadata.
    #[arg(long, env = "WEIR_ADVERTISED_HOST")]
    pub advertised_host: Option<String>,
    /// Port advertised to clients in Metadata (default: the bound port).
    #[arg(long, env = "WEIR_ADVERTISED_PORT")]
    pub advertised_port: Option<u16>,
    /// Data directory.
    #[arg(long, env = "WEIR_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// fsync policy: default, always, never, or an interval in ms.
    #[arg(long, env = "WEIR_FSYNC")]
    pub fsync: Option<FsyncPolicy>,
    /// Default partition count for new topics.
    #[arg(long, env = "WEIR_NUM_PARTITIONS")]
    pub num_partitions: Option<i32>,
    /// Auto-create unknown topics (true/false).
    #[arg(long, env = "WEIR_AUTO_CREATE_TOPICS")]
    pub auto_create_topics: Option<bool>,
    /// Segment size in bytes.
    #[arg(long, env = "WEIR_LOG_SEGMENT_BYTES")]
    pub log_segment_bytes: Option<u64>,
    /// Retention time in ms (-1: none).
    #[arg(long, env = "WEIR_LOG_RETENTION_MS", allow_negative_numbers = true)]
    pub log_retention_ms: Option<i64>,
    /// Retention size in bytes per partition (-1: none).
    #[arg(long, env = "WEIR_LOG_RETENTION_BYTES", allow_negative_numbers = true)]
    pub log_retention_bytes: Option<i64>,
    /// Largest record batch in bytes.
    #[arg(long, env = "WEIR_MESSAGE_MAX_BYTES")]
    pub message_max_bytes: Option<u32>,
    /// Maximum concurrent connections.
    #[arg(long, env = "WEIR_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Maximum requests in flight per connection.
    #[arg(long, env = "WEIR_MAX_INFLIGHT_REQUESTS")]
    pub max_inflight_requests: Option<usize>,
    /// Log output format.
    #[arg(long, env = "WEIR_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Any property by its Kafka name, as `name=value` (Kafka's
    /// `--override`); repeat for several. Applied after the file.
    #[arg(long = "override", value_name = "NAME=VALUE")]
    pub overrides: Vec<String>,
    /// A command other than running the broker (with none, the broker runs).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What `weir-broker` does instead of running a broker.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Exit 0 if the broker this configuration describes is ready (listening,
    /// metadata loaded, registered and unfenced, a controller known), else 1:
    /// a container health check.
    Health(crate::health::HealthArgs),
}

impl BrokerConfig {
    /// Resolves defaults < file < environment < flags.
    pub fn resolve(cli: &Cli) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        if let Some(path) = &cli.config {
            config.apply_file(path)?;
        }
        for entry in &cli.overrides {
            let (key, value) = entry.split_once('=').ok_or_else(|| ConfigError::Invalid {
                key: entry.clone(),
                message: "an override is name=value".into(),
            })?;
            config.apply_property(key.trim(), &toml::Value::String(value.trim().into()))?;
        }
        config.apply_cli(cli);
        config.validate()?;
        Ok(config)
    }

    /// Applies a TOML file's settings.
    pub fn apply_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::Parse {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
        let mut flat = BTreeMap::new();
        flatten("", toml::Value::Table(table), &mut flat);
        for (key, value) in flat {
            self.apply_property(&key, &value)?;
        }
        Ok(())
    }

    /// Applies one Kafka-named property.
    pub fn apply_property(&mut self, key: &str, value: &toml::Value) -> Result<(), ConfigError> {
        let v = Value { key, value };
        match key {
            "node.id" | "broker.id" => self.node_id = v.parse()?,
            "listeners" => {
                self.listeners = v
                    .string()?
                    .split(',')
                    .map(|s| s.trim().parse().map_err(|m| v.invalid(m)))
                    .collect::<Result<_, _>>()?;
            }
            "advertised.host" => self.advertised_host = Some(v.string()?),
            "advertised.port" => self.advertised_port = Some(v.parse()?),
            "log.dir" | "log.dirs" | "data.dir" => self.data_dir = v.string()?.into(),
            "log.fsync" => self.fsync = v.parse()?,
            "num.partitions" => self.num_partitions = v.parse()?,
            "auto.create.topics.enable" => self.auto_create_topics = v.parse()?,
            "log.segment.bytes" => self.log_segment_bytes = v.parse()?,
            "log.roll.ms" => self.log_roll_ms = v.parse()?,
            "log.retention.ms" => self.log_retention_ms = v.parse()?,
            "log.retention.bytes" => self.log_retention_bytes = v.parse()?,
            "log.retention.check.interval.ms" => {
                self.log_retention_check_interval_ms = v.parse()?
            }
            "message.max.bytes" => self.message_max_bytes = v.parse()?,
            "socket.request.max.bytes" => self.frame_bytes_max = v.parse()?,
            "max.connections" => self.max_connections = v.parse()?,
            "max.inflight.requests" => self.max_inflight_requests = v.parse()?,
            "max.partitions" => self.max_partitions = v.parse()?,
            "offsets.topic.num.partitions" => self.offsets_topic_num_partitions = v.parse()?,
            "offsets.topic.segment.bytes" => self.offsets_topic_segment_bytes = v.parse()?,
            "offsets.retention.minutes" => self.offsets_retention_minutes = v.parse()?,
            "transaction.state.log.num.partitions" => {
                self.transaction_state_log_num_partitions = v.parse()?
            }
            "transaction.state.log.segment.bytes" => {
                self.transaction_state_log_segment_bytes = v.parse()?
            }
            "transaction.max.timeout.ms" => self.transaction_max_timeout_ms = v.parse()?,
            "transactional.id.expiration.ms" => self.transactional_id_expiration_ms = v.parse()?,
            "transaction.partition.verification.enable" => {
                self.transaction_partition_verification_enable = v.parse()?
            }
            "transaction.abort.timed.out.transaction.cleanup.interval.ms" => {
                self.transaction_abort_timed_out_transaction_cleanup_interval_ms = v.parse()?
            }
            "offsets.retention.check.interval.ms" => {
                self.offsets_retention_check_interval_ms = v.parse()?
            }
            "group.min.session.timeout.ms" => self.group_min_session_timeout_ms = v.parse()?,
            "group.max.session.timeout.ms" => self.group_max_session_timeout_ms = v.parse()?,
            "group.initial.rebalance.delay.ms" => {
                self.group_initial_rebalance_delay_ms = v.parse()?
            }
            "log.format" => self.log_format = v.parse()?,
            "http.listener" => {
                let addr = v.string()?;
                self.http_listener = match addr.trim() {
                    "" => None,
                    addr => Some(HttpListener {
                        addr: bind_addr(addr).map_err(|m| v.invalid(m))?,
                        explicit: true,
                    }),
                };
            }
            "http.metrics.partition.series" => self.http_metrics_partition_series = v.parse()?,
            "request.slow.threshold.ms" => self.request_slow_threshold_ms = v.parse()?,
            "http.console.write" => self.http_console_write = v.parse()?,
            _ => return self.apply_cluster_property(key, &v),
        }
        Ok(())
    }

    /// Applies one of the cluster's Kafka-named properties.
    fn apply_cluster_property(&mut self, key: &str, v: &Value<'_>) -> Result<(), ConfigError> {
        let c = &mut self.cluster;
        match key {
            "controller.quorum.voters" => {
                c.voters = cluster::parse_voters(&v.string()?).map_err(|m| v.invalid(m))?
            }
            "controller.listener.names" => c.controller_listener_names = names(&v.string()?),
            "inter.broker.listener.name" => {
                c.inter_broker_listener_name = Some(v.string()?.to_ascii_uppercase())
            }
            "advertised.listeners" => {
                c.advertised_listeners = v
                    .string()?
                    .split(',')
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| s.trim().parse().map_err(|m| v.invalid(m)))
                    .collect::<Result<_, _>>()?
            }
            "listener.security.protocol.map" => {
                c.security_protocol_map =
                    cluster::parse_protocol_map(&v.string()?).map_err(|m| v.invalid(m))?
            }
            "cluster.cookie" => c.cookie = v.string()?,
            "default.replication.factor" => c.default_replication_factor = v.parse()?,
            "min.insync.replicas" => c.min_insync_replicas = v.parse()?,
            "offsets.topic.replication.factor" => c.offsets_topic_replication_factor = v.parse()?,
            "transaction.state.log.replication.factor" => {
                c.transaction_state_log_replication_factor = v.parse()?
            }
            "unclean.leader.election.enable" => c.unclean_leader_election = v.parse()?,
            "replica.lag.time.max.ms" => c.replica_lag_time_max_ms = v.parse()?,
            "controller.quorum.heartbeat.interval.ms" => {
                c.quorum_heartbeat_interval_ms = v.parse()?
            }
            "controller.quorum.election.timeout.ms" => c.quorum_election_timeout_ms = v.parse()?,
            "broker.heartbeat.interval.ms" => c.broker_heartbeat_interval_ms = v.parse()?,
            "broker.session.timeout.ms" => c.broker_session_timeout_ms = v.parse()?,
            "auto.leader.rebalance.enable" => c.auto_leader_rebalance_enable = v.parse()?,
            "leader.imbalance.per.broker.percentage" => {
                c.leader_imbalance_per_broker_percentage = v.parse()?
            }
            "leader.imbalance.check.interval.seconds" => {
                let seconds: u64 = v.parse()?;
                c.leader_imbalance_check_interval_ms = seconds.saturating_mul(1000)
            }
            "leader.imbalance.check.interval.ms" => {
                c.leader_imbalance_check_interval_ms = v.parse()?
            }
            "process.roles" => {
                let roles = names(&v.string()?);
                if roles.iter().any(|r| r != "BROKER" && r != "CONTROLLER") {
                    return Err(v.invalid("roles are broker and controller"));
                }
                // Every node serves clients; a controller-only node does not exist here.
                if !roles.iter().any(|r| r == "BROKER") {
                    return Err(v.invalid(
                        "controller-only nodes are not supported: use broker or broker,controller",
                    ));
                }
                c.broker_only_role = !roles.iter().any(|r| r == "CONTROLLER");
            }
            _ => return Err(ConfigError::UnknownKey { key: key.into() }),
        }
        Ok(())
    }

    fn apply_cli(&mut self, cli: &Cli) {
        fn set<T: Clone>(slot: &mut T, value: &Option<T>) {
            if let Some(v) = value {
                *slot = v.clone();
            }
        }
        set(&mut self.node_id, &cli.node_id);
        set(&mut self.listeners, &cli.listen);
        if cli.advertised_host.is_some() {
            self.advertised_host = cli.advertised_host.clone();
        }
        if cli.advertised_port.is_some() {
            self.advertised_port = cli.advertised_port;
        }
        set(&mut self.data_dir, &cli.data_dir);
        set(&mut self.fsync, &cli.fsync);
        set(&mut self.num_partitions, &cli.num_partitions);
        set(&mut self.auto_create_topics, &cli.auto_create_topics);
        set(&mut self.log_segment_bytes, &cli.log_segment_bytes);
        set(&mut self.log_retention_ms, &cli.log_retention_ms);
        set(&mut self.log_retention_bytes, &cli.log_retention_bytes);
        set(&mut self.message_max_bytes, &cli.message_max_bytes);
        set(&mut self.max_connections, &cli.max_connections);
        set(&mut self.max_inflight_requests, &cli.max_inflight_requests);
        set(&mut self.log_format, &cli.log_format);
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, message: &str| ConfigError::Invalid {
            key: key.into(),
            message: message.into(),
        };
        if self.listeners.is_empty() {
            return Err(bad("listeners", "at least one listener is needed"));
        }
        if !(1..=limits::PARTITIONS_PER_TOPIC_MAX).contains(&self.num_partitions) {
            return Err(bad("num.partitions", "out of range"));
        }
        if self.log_segment_bytes < limits::SEGMENT_BYTES_MIN {
            return Err(bad("log.segment.bytes", "below the minimum segment size"));
        }
        if !(1..=limits::PARTITIONS_PER_TOPIC_MAX).contains(&self.offsets_topic_num_partitions) {
            return Err(bad("offsets.topic.num.partitions", "out of range"));
        }
        if self.offsets_topic_segment_bytes < limits::SEGMENT_BYTES_MIN {
            return Err(bad(
                "offsets.topic.segment.bytes",
                "below the minimum segment size",
            ));
        }
        if !(1..=limits::PARTITIONS_PER_TOPIC_MAX)
            .contains(&self.transaction_state_log_num_partitions)
        {
            return Err(bad("transaction.state.log.num.partitions", "out of range"));
        }
        if self.transaction_state_log_segment_bytes < limits::SEGMENT_BYTES_MIN {
            return Err(bad(
                "transaction.state.log.segment.bytes",
                "below the minimum segment size",
            ));
        }
        if self.transaction_max_timeout_ms < 1 {
            return Err(bad("transaction.max.timeout.ms", "must be at least 1"));
        }
        if self.offsets_retention_minutes < 1 {
            return Err(bad("offsets.retention.minutes", "must be at least 1"));
        }
        if self.max_connections == 0 || self.max_inflight_requests == 0 {
            return Err(bad("max.connections", "limits must be positive"));
        }
        if (self.message_max_bytes as usize) > self.frame_bytes_max {
            return Err(bad(
                "message.max.bytes",
                "larger than socket.request.max.bytes",
            ));
        }
        self.validate_cluster()
    }

    /// A clustered voter's CONTROLLER listener is its voter endpoint; a
    /// clustered broker that is not a voter is broker-only; every listener
    /// has a name the map knows.
    fn validate_cluster(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, message: String| ConfigError::Invalid {
            key: key.into(),
            message,
        };
        let c = &self.cluster;
        if self.client_listeners().next().is_none() {
            return Err(bad("listeners", "no listener for clients".into()));
        }
        if !c.security_protocol_map.is_empty()
            && let Some(l) = self
                .listeners
                .iter()
                .find(|l| !c.security_protocol_map.contains_key(&l.name))
        {
            return Err(bad(
                "listener.security.protocol.map",
                format!("listener {} has no security protocol", l.name),
            ));
        }
        if let Some(name) = &c.inter_broker_listener_name
            && !self.client_listeners().any(|l| &l.name == name)
        {
            return Err(bad(
                "inter.broker.listener.name",
                format!("no listener is named {name}"),
            ));
        }
        if c.default_replication_factor < 1 || c.offsets_topic_replication_factor < 1 {
            return Err(bad(
                "default.replication.factor",
                "must be at least 1".into(),
            ));
        }
        if c.min_insync_replicas < 1 {
            return Err(bad("min.insync.replicas", "must be at least 1".into()));
        }
        // A new active controller gives brokers half a session to heartbeat.
        if c.broker_heartbeat_interval_ms.saturating_mul(2) > c.broker_session_timeout_ms / 2 {
            return Err(bad(
                "broker.session.timeout.ms",
                "must be at least four times broker.heartbeat.interval.ms".into(),
            ));
        }
        if c.leader_imbalance_check_interval_ms == 0 {
            return Err(bad(
                "leader.imbalance.check.interval.seconds",
                "must be positive".into(),
            ));
        }
        if c.quorum_election_timeout_ms <= c.quorum_heartbeat_interval_ms {
            return Err(bad(
                "controller.quorum.election.timeout.ms",
                "must exceed controller.quorum.heartbeat.interval.ms".into(),
            ));
        }
        if !c.is_clustered() {
            return Ok(());
        }
        let me = c.voters.iter().find(|v| v.node_id == self.node_id);
        if me.is_some() && c.broker_only_role {
            return Err(bad(
                "process.roles",
                format!(
                    "node.id {} is one of controller.quorum.voters, so its roles are broker,controller",
                    self.node_id
                ),
            ));
        }
        // A broker-only node (not a voter) still links to the voters from
        // its CONTROLLER listener; it is a learner of the quorum.
        let Some(me) = me else {
            return match self.controller_listener() {
                Some(_) => Ok(()),
                None => Err(bad(
                    "listeners",
                    "a clustered broker needs a CONTROLLER listener (controller.listener.names) for the broker link".into(),
                )),
            };
        };
        match self.controller_listener() {
            Some(l) if l.addr.port() == me.port => Ok(()),
            Some(l) => Err(bad(
                "listeners",
                format!(
                    "the controller listener {} is not this voter's {}",
                    l.addr,
                    me.endpoint()
                ),
            )),
            None => Err(bad(
                "listeners",
                "a clustered broker needs a CONTROLLER listener (controller.listener.names)".into(),
            )),
        }
    }

    /// The listeners Kafka clients and followers connect to.
    pub fn client_listeners(&self) -> impl Iterator<Item = &ListenerConfig> {
        self.listeners
            .iter()
            .filter(|l| !self.cluster.is_controller_listener(&l.name))
    }

    /// The listener followers fetch from: `inter.broker.listener.name`, else
    /// the first client listener (Kafka's default is the PLAINTEXT one).
    pub fn inter_broker_listener(&self) -> String {
        match &self.cluster.inter_broker_listener_name {
            Some(name) => name.clone(),
            None => self
                .client_listeners()
                .next()
                .map(|l| l.name.clone())
                .unwrap_or_else(|| "PLAINTEXT".into()),
        }
    }

    /// The listener where brokers link and the quorum runs.
    pub fn controller_listener(&self) -> Option<&ListenerConfig> {
        self.listeners
            .iter()
            .find(|l| self.cluster.is_controller_listener(&l.name))
    }

    /// The endpoint advertised for `listener` (bound on `bound_port`) in
    /// Metadata responses: its `advertised.listeners` entry, else
    /// `advertised.host` (or the bound host) with `advertised.port` for the
    /// first client listener (or the bound port).
    pub fn advertised_endpoint(&self, listener: &ListenerConfig, bound_port: u16) -> (String, u16) {
        if let Some(a) = self.cluster.advertised(&listener.name) {
            return (a.host.clone(), a.port);
        }
        let host = match &self.advertised_host {
            Some(host) => host.clone(),
            None => listener.addr.ip().to_string(),
        };
        let first = self.client_listeners().next().map(|l| &l.name);
        let port = match self.advertised_port {
            Some(port) if first == Some(&listener.name) => port,
            _ => bound_port,
        };
        (host, port)
    }
}

/// Upper-cased names of a comma-separated list.
fn names(s: &str) -> Vec<String> {
    s.split(',')
        .map(|n| n.trim().to_ascii_uppercase())
        .filter(|n| !n.is_empty())
        .collect()
}

/// Flattens nested tables into dotted keys, so `[log] segment.bytes = 1` and
/// `log.segment.bytes = 1` mean the same.
fn flatten(prefix: &str, value: toml::Value, out: &mut BTreeMap<String, toml::Value>) {
    match value {
        toml::Value::Table(table) => {
            for (k, v) in table {
                let key = if prefix.is_empty() {
                    k
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        other => {
            out.insert(prefix.to_owned(), other);
        }
    }
}

/// One property's value with its key, for error messages.
struct Value<'a> {
    key: &'a str,
    value: &'a toml::Value,
}

impl Value<'_> {
    fn invalid(&self, message: impl ToString) -> ConfigError {
        ConfigError::Invalid {
            key: self.key.into(),
            message: message.to_string(),
        }
    }

    fn string(&self) -> Result<String, ConfigError> {
        match self.value {
            toml::Value::String(s) => Ok(s.clone()),
            toml::Value::Integer(i) => Ok(i.to_string()),
            toml::Value::Boolean(b) => Ok(b.to_string()),
            toml::Value::Float(f) => Ok(f.to_string()),
            _ => Err(self.invalid("expected a string, number or boolean")),
        }
    }

    /// Parses numbers, booleans and strings alike through `FromStr`.
    fn parse<T: FromStr>(&self) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        self.string()?.parse().map_err(|e: T::Err| self.invalid(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_flags_layering() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("weir.toml");
        std::fs::write(
            &path,
            "num.partitions = 3\n[log]\nsegment.bytes = 2097152\nfsync = \"always\"\n",
        )
        .unwrap();
        let cli = Cli::try_parse_from([
            "weir-broker",
            "--config",
            path.to_str().unwrap(),
            "--num-partitions",
            "5",
        ])
        .unwrap();
        let config = BrokerConfig::resolve(&cli).unwrap();
        assert_eq!(config.num_partitions, 5, "flag beats file");
        assert_eq!(
            config.log_segment_bytes,
            2 * 1024 * 1024,
            "nested table key"
        );
        assert_eq!(config.fsync, FsyncPolicy::Always);
    }

    #[test]
    fn process_roles_and_broker_only_nodes() {
        let resolve = |node: &str, roles: Option<&str>| {
            let mut args = vec![
                "weir-broker".to_owned(),
                "--node-id".into(),
                node.into(),
                "--listen".into(),
                "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9094".into(),
                "--override".into(),
                "controller.quorum.voters=1@127.0.0.1:9094,2@127.0.0.1:19094".into(),
            ];
            if let Some(r) = roles {
                args.extend(["--override".into(), format!("process.roles={r}")]);
            }
            BrokerConfig::resolve(&Cli::try_parse_from(args).unwrap())
        };
        assert!(resolve("1", None).is_ok());
        assert!(resolve("1", Some("broker,controller")).is_ok());
        // Not a voter: broker-only, with or without the role said.
        assert!(resolve("4", None).is_ok());
        let c = resolve("4", Some("broker")).unwrap();
        assert!(!c.cluster.is_voter(4) && c.cluster.is_voter(1));
        // A voter cannot be broker-only; controller-only is not supported.
        assert!(resolve("1", Some("broker")).is_err());
        assert!(resolve("4", Some("controller")).is_err());
        assert!(resolve("4", Some("broker,gateway")).is_err());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let mut config = BrokerConfig::default();
        let err = config.apply_property("log.segmnet.bytes", &toml::Value::Integer(1));
        assert!(matches!(err, Err(ConfigError::UnknownKey { .. })));
        let err = config.apply_property("num.partitions", &toml::Value::String("x".into()));
        assert!(matches!(err, Err(ConfigError::Invalid { .. })));
    }

    #[test]
    fn named_listeners_parse() {
        let l: ListenerConfig = "internal://127.0.0.1:9093".parse().unwrap();
        assert_eq!(l.name, "INTERNAL");
        assert_eq!(l.addr.port(), 9093);
        let l: ListenerConfig = "127.0.0.1:0".parse().unwrap();
        assert_eq!(l.name, "PLAINTEXT");
        let l: ListenerConfig = "CONTROLLER://localhost:9094".parse().unwrap();
        assert!(l.addr.ip().is_loopback(), "a host name resolves: {l:?}");
        assert!("PLAINTEXT://:9092".parse::<ListenerConfig>().is_err());
        assert!("PLAINTEXT://localhost".parse::<ListenerConfig>().is_err());
    }
}
