//! Metadata response (v12).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// Metadata response: brokers, controller and topic layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataResponse {
    /// Quota throttle in milliseconds.
    pub throttle_time_ms: i32,
    /// The brokers in the cluster.
    pub brokers: Vec<MetadataResponseBroker>,
    /// The cluster id, if the broker has one.
    pub cluster_id: Option<String>,
    /// The controller's broker id (-1 when unknown).
    pub controller_id: i32,
    /// Each topic asked for (or every topic).
    pub topics: Vec<MetadataResponseTopic>,
}

/// One broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataResponseBroker {
    /// Broker id.
    pub node_id: i32,
    /// Host name.
    pub host: String,
    /// Port.
    pub port: i32,
    /// Rack, if assigned.
    pub rack: Option<String>,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataResponseTopic {
    /// Topic error, 0 if none.
    pub error_code: i16,
    /// Topic name; null for an unknown topic asked for by id.
    pub name: Option<String>,
    /// Topic id; zero for an unknown topic asked for by name.
    pub topic_id: [u8; 16],
    /// Whether the topic is internal.
    pub is_internal: bool,
    /// Each partition.
    pub partitions: Vec<MetadataResponsePartition>,
    /// ACL operations bitfield (i32::MIN when not asked for).
    pub topic_authorized_operations: i32,
}

/// One partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataResponsePartition {
    /// Partition error, 0 if none.
    pub error_code: i16,
    /// Partition index.
    pub partition_index: i32,
    /// Leader's broker id (-1 when leaderless).
    pub leader_id: i32,
    /// Leader epoch.
    pub leader_epoch: i32,
    /// All replicas.
    pub replica_nodes: Vec<i32>,
    /// In-sync replicas.
    pub isr_nodes: Vec<i32>,
    /// Offline replicas.
    pub offline_replicas: Vec<i32>,
}

impl MetadataResponse {
    /// Decodes a v12 body.
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let throttle_time_ms = r.i32()?;
        let brokers = r.array(true, 11, "brokers", |r| {
            let node_id = r.i32()?;
            let host = r.string(true, "host")?;
            let port = r.i32()?;
            let rack = r.nullable_string(true, "rack")?;
            r.tagged_fields(true)?;
            Ok(MetadataResponseBroker {
                node_id,
                host,
                port,
                rack,
            })
        })?;
        let cluster_id = r.nullable_string(true, "cluster_id")?;
        let controller_id = r.i32()?;
        let topics = r.array(true, 26, "topics", decode_topic)?;
        r.tagged_fields(true)?;
        r.finish()?;
        Ok(Self {
            throttle_time_ms,
            brokers,
            cluster_id,
            controller_id,
            topics,
        })
    }
}

fn decode_topic(r: &mut Reader) -> Result<MetadataResponseTopic, DecodeError> {
    let error_code = r.i16()?;
    let name = r.nullable_string(true, "topic name")?;
    let topic_id = r.uuid()?;
    let is_internal = r.bool()?;
    let partitions = r.array(true, 18, "partitions", |r| {
        let error_code = r.i16()?;
        let partition_index = r.i32()?;
        let leader_id = r.i32()?;
        let leader_epoch = r.i32()?;
        let replica_nodes = r.array(true, 4, "replica_nodes", Reader::i32)?;
        let isr_nodes = r.array(true, 4, "isr_nodes", Reader::i32)?;
        let offline_replicas = r.array(true, 4, "offline_replicas", Reader::i32)?;
        r.tagged_fields(true)?;
        Ok(MetadataResponsePartition {
            error_code,
            partition_index,
            leader_id,
            leader_epoch,
            replica_nodes,
            isr_nodes,
            offline_replicas,
        })
    })?;
    let topic_authorized_operations = r.i32()?;
    r.tagged_fields(true)?;
    Ok(MetadataResponseTopic {
        error_code,
        name,
        topic_id,
        is_internal,
        partitions,
        topic_authorized_operations,
    })
}
