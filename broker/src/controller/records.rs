//! Metadata records: the only way metadata changes. Stored as postcard inside a
//! versioned envelope; new variants go at the end of the enum so old logs still
//! decode.

use serde::{Deserialize, Serialize};

/// Envelope format written today.
pub const RECORD_FORMAT_VERSION: u16 = 1;

/// One metadata change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetadataRecord {
    /// The cluster got its id (the first record of a new data dir).
    ClusterCreated {
        /// Kafka-style cluster id string.
        cluster_id: String,
    },
    /// A topic was created.
    TopicCreated {
        /// Random 16-byte topic id.
        topic_id: [u8; 16],
        /// Topic name.
        name: String,
        /// Replica broker ids per partition, in partition order.
        partitions: Vec<Vec<i32>>,
        /// Topic config overrides.
        configs: Vec<(String, String)>,
    },
    /// A topic was deleted.
    TopicDeleted {
        /// The deleted topic's id.
        topic_id: [u8; 16],
    },
    /// Topic config overrides changed (`None` removes an override).
    TopicConfigsAltered {
        /// The topic's id.
        topic_id: [u8; 16],
        /// Overrides set or removed.
        changes: Vec<(String, Option<String>)>,
    },
    /// Partitions were added to a topic.
    PartitionsCreated {
        /// The topic's id.
        topic_id: [u8; 16],
        /// Replica broker ids per new partition.
        partitions: Vec<Vec<i32>>,
    },
    /// A block of producer ids was handed out: ids below `next` are never given
    /// again (Kafka's AllocateProducerIds). Producer state rebuilt from a log
    /// keys on these ids, so a reused id would inherit another producer's
    /// sequence numbers.
    ProducerIdsAllocated {
        /// First id not yet handed out.
        next: i64,
    },
    /// A broker (re)registered with the endpoints it serves; a later
    /// registration of the same id replaces the earlier one.
    BrokerRegistered {
        /// Broker id.
        node_id: i32,
        /// Where clients and brokers reach it, per listener.
        endpoints: Vec<Endpoint>,
        /// Rack, if configured.
        rack: Option<String>,
    },
    /// A broker's lease expired: it is left out of Metadata and placements,
    /// and leads nothing until it heartbeats again.
    BrokerFenced {
        /// Broker id.
        node_id: i32,
    },
    /// A fenced broker heartbeat again.
    BrokerUnfenced {
        /// Broker id.
        node_id: i32,
    },
    /// A partition's leader or ISR changed; the leader epoch is bumped with
    /// every leader change.
    PartitionChanged {
        /// The topic's id.
        topic_id: [u8; 16],
        /// Partition index.
        partition: i32,
        /// The new leader (-1: none).
        leader: i32,
        /// The new leader epoch.
        leader_epoch: i32,
        /// The new in-sync replicas.
        isr: Vec<i32>,
    },
    /// A partition's replica set changed (reassignment, KIP-455): the whole
    /// placement is restated, so a reassignment's steps each apply at once.
    /// While `adding` or `removing` is non-empty a reassignment is in
    /// progress and `replicas` is the union of the old and target sets
    /// (target first); when both are empty it is done.
    PartitionReplicasChanged {
        /// The topic's id.
        topic_id: [u8; 16],
        /// Partition index.
        partition: i32,
        /// The replica set (its first member is the preferred leader).
        replicas: Vec<i32>,
        /// Replicas being added (not yet all in sync).
        adding: Vec<i32>,
        /// Replicas to drop once every target replica is in sync.
        removing: Vec<i32>,
        /// The leader (-1: none).
        leader: i32,
        /// The leader epoch (bumped when the leader changes).
        leader_epoch: i32,
        /// The in-sync replicas.
        isr: Vec<i32>,
    },
}

/// One listener endpoint of a broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Listener name (`PLAINTEXT`, `INTERNAL`, ...).
    pub listener: String,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: u16,
}

/// What is written to the store: a format version and the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRecord {
    /// Envelope format (`RECORD_FORMAT_VERSION` when written).
    pub format: u16,
    /// The change.
    pub record: MetadataRecord,
}
