//! What a client knows of the cluster: brokers, topic metadata (fetched lazily
//! per topic, refreshed when a broker says a leader moved), and one reused
//! connection per broker.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use parking_lot::RwLock;

use crate::conn::Connection;
use crate::error::{ClientError, codes};
use crate::protocol::ApiKey;
use crate::protocol::responses::{METADATA_VERSION, MetadataResponse};

/// Metadata's key.
const METADATA_KEY: i16 = ApiKey::Metadata as i16;

/// Connection settings shared by producer, consumer and admin.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `host:port` of brokers to bootstrap from.
    pub bootstrap: Vec<String>,
    /// Sent in every request header.
    pub client_id: String,
    /// How long one request may wait for its answer.
    pub request_timeout: Duration,
    /// Requests in flight per connection (Kafka: 5 with idempotence).
    pub max_in_flight: usize,
    /// Whether Metadata may auto-create topics (Kafka's
    /// `allow.auto.create.topics`).
    pub allow_auto_create_topics: bool,
}

impl ClientConfig {
    /// Defaults for `bootstrap` (comma separated `host:port` list).
    pub fn new(bootstrap: &str) -> Self {
        Self {
            bootstrap: bootstrap
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
            client_id: "weir".into(),
            request_timeout: Duration::from_secs(30),
            max_in_flight: 5,
            allow_auto_create_topics: true,
        }
    }
}

/// One partition's placement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// Partition index.
    pub partition: i32,
    /// Leader broker id (-1 if none).
    pub leader: i32,
    /// Leader epoch.
    pub leader_epoch: i32,
    /// Error for this partition (0 if none).
    pub error_code: i16,
    /// Replica broker ids.
    pub replicas: Vec<i32>,
    /// In-sync replica broker ids.
    pub isr: Vec<i32>,
}

/// One topic's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Topic name.
    pub name: String,
    /// Topic id.
    pub topic_id: [u8; 16],
    /// Partitions in index order.
    pub partitions: Vec<PartitionInfo>,
    /// Internal topic (`__consumer_offsets`).
    pub is_internal: bool,
}

/// A broker as Metadata names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    /// Broker id.
    pub node_id: i32,
    /// `host:port`.
    pub addr: String,
    /// Rack.
    pub rack: Option<String>,
}

/// Cluster-wide facts from the last Metadata answer.
#[derive(Debug, Clone, Default)]
pub struct ClusterInfo {
    /// Cluster id.
    pub cluster_id: Option<String>,
    /// Controller broker id.
    pub controller_id: i32,
    /// Brokers by id.
    pub brokers: Vec<BrokerInfo>,
}

/// Brokers, topics and connections.
pub struct Cluster {
    config: ClientConfig,
    brokers: RwLock<HashMap<i32, String>>,
    topics: RwLock<HashMap<String, Arc<TopicInfo>>>,
    info: RwLock<ClusterInfo>,
    conns: tokio::sync::Mutex<HashMap<String, Arc<Connection>>>,
}

impl Cluster {
    /// A cluster reached through `config.bootstrap` (nothing is connected yet).
    pub fn new(config: ClientConfig) -> Result<Arc<Self>, ClientError> {
        if config.bootstrap.is_empty() {
            return Err(ClientError::Config("no bootstrap servers".into()));
        }
        Ok(Arc::new(Self {
            config,
            brokers: RwLock::new(HashMap::new()),
            topics: RwLock::new(HashMap::new()),
            info: RwLock::new(ClusterInfo::default()),
            conns: tokio::sync::Mutex::new(HashMap::new()),
        }))
    }

    /// The settings.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The connection to `addr`, made (or remade, if it died) on demand.
    pub async fn connection(&self, addr: &str) -> Result<Arc<Connection>, ClientError> {
        let mut conns = self.conns.lock().await;
        if let Some(c) = conns.get(addr)
            && !c.is_closed()
        {
            return Ok(c.clone());
        }
        let c = Arc::new(
            Connection::connect(
                addr,
                &self.config.client_id,
                self.config.max_in_flight,
                self.config.request_timeout,
            )
            .await?,
        );
        conns.insert(addr.to_owned(), c.clone());
        Ok(c)
    }

    /// The connection to broker `node_id`.
    pub async fn broker(&self, node_id: i32) -> Result<Arc<Connection>, ClientError> {
        let addr = self.brokers.read().get(&node_id).cloned();
        match addr {
            Some(addr) => self.connection(&addr).await,
            None => Err(ClientError::Kafka {
                code: codes::LEADER_NOT_AVAILABLE,
                message: Some(format!("broker {node_id} is not in the metadata")),
            }),
        }
    }

    /// A connection to any broker: known ones first, then the bootstrap list.
    pub async fn any(&self) -> Result<Arc<Connection>, ClientError> {
        let mut candidates: Vec<String> = self.brokers.read().values().cloned().collect();
        candidates.sort();
        candidates.extend(self.config.bootstrap.iter().cloned());
        let mut last = ClientError::Config("no bootstrap servers".into());
        for addr in candidates {
            match self.connection(&addr).await {
                Ok(c) => return Ok(c),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Cached metadata of `topic`, if any.
    pub fn cached(&self, topic: &str) -> Option<Arc<TopicInfo>> {
        self.topics.read().get(topic).cloned()
    }

    /// Cluster id, controller and brokers from the last refresh.
    pub fn info(&self) -> ClusterInfo {
        self.info.read().clone()
    }

    /// Metadata of `topic`: cached, else fetched. Retries (bounded) while the
    /// topic is being created or has no leader yet.
    pub async fn topic(&self, topic: &str) -> Result<Arc<TopicInfo>, ClientError> {
        if let Some(t) = self.cached(topic) {
            return Ok(t);
        }
        let mut last = ClientError::UnknownTopic(topic.to_owned());
        for attempt in 0..20u64 {
            match self.refresh(Some(&[topic.to_owned()])).await {
                Ok(()) => {
                    if let Some(t) = self.cached(topic)
                        && t.partitions.iter().all(|p| p.leader >= 0)
                    {
                        return Ok(t);
                    }
                }
                Err(e) if !e.is_retriable() => return Err(e),
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(50 * (attempt + 1).min(10))).await;
        }
        Err(last)
    }

    /// Fetches metadata for `topics` (all topics for `None`) and updates the
    /// caches. Topics the broker does not know are dropped from the cache.
    pub async fn refresh(&self, topics: Option<&[String]>) -> Result<(), ClientError> {
        let conn = self.any().await?;
        let request = MetadataRequest::default()
            .with_topics(topics.map(|ts| {
                ts.iter()
                    .map(|t| {
                        MetadataRequestTopic::default()
                            .with_name(Some(TopicName(StrBytes::from_string(t.clone()))))
                    })
                    .collect()
            }))
            .with_allow_auto_topic_creation(self.config.allow_auto_create_topics);
        let body = conn.call(METADATA_KEY, METADATA_VERSION, &request).await?;
        let response = conn.decode(body, MetadataResponse::decode)?;
        self.apply(response);
        Ok(())
    }

    fn apply(&self, response: MetadataResponse) {
        let brokers: Vec<BrokerInfo> = response
            .brokers
            .iter()
            .map(|b| BrokerInfo {
                node_id: b.node_id,
                addr: format!("{}:{}", b.host, b.port),
                rack: b.rack.clone(),
            })
            .collect();
        {
            let mut map = self.brokers.write();
            for b in &brokers {
                map.insert(b.node_id, b.addr.clone());
            }
        }
        *self.info.write() = ClusterInfo {
            cluster_id: response.cluster_id.clone(),
            controller_id: response.controller_id,
            brokers,
        };
        let mut topics = self.topics.write();
        for t in response.topics {
            let Some(name) = t.name else { continue };
            if t.error_code != 0 {
                topics.remove(&name);
                continue;
            }
            let mut partitions: Vec<PartitionInfo> = t
                .partitions
                .iter()
                .map(|p| PartitionInfo {
                    partition: p.partition_index,
                    leader: p.leader_id,
                    leader_epoch: p.leader_epoch,
                    error_code: p.error_code,
                    replicas: p.replica_nodes.clone(),
                    isr: p.isr_nodes.clone(),
                })
                .collect();
            partitions.sort_by_key(|p| p.partition);
            topics.insert(
                name.clone(),
                Arc::new(TopicInfo {
                    name,
                    topic_id: t.topic_id,
                    partitions,
                    is_internal: t.is_internal,
                }),
            );
        }
    }

    /// Every cached topic.
    pub fn all_topics(&self) -> Vec<Arc<TopicInfo>> {
        self.topics.read().values().cloned().collect()
    }

    /// Forgets `topic`'s metadata (a broker said its leader moved).
    pub fn invalidate(&self, topic: &str) {
        self.topics.write().remove(topic);
    }
}
