//! Metadata: brokers, topics and partition leaders, with topic auto-creation.

use std::sync::Arc;

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::MetadataRequest;

use super::dispatch::ResponseFuture;
use super::encode::reply;
use super::{BrokerCtx, errors};
use crate::controller::actor::validate_topic_name;
use crate::controller::{MetadataImage, TopicImage};
use crate::partition::PartitionEntry;

pub fn start(
    ctx: &Arc<BrokerCtx>,
    listener: &str,
    header: RequestHeader,
    request: MetadataRequest,
) -> ResponseFuture {
    let ctx = ctx.clone();
    let listener = listener.to_owned();
    Box::pin(async move {
        let names = request.topics.as_ref().map(|topics| {
            topics
                .iter()
                .filter_map(|t| t.name.clone())
                .collect::<Vec<_>>()
        });
        if let Some(names) = &names {
            let missing = missing_creatable(&ctx.image(), names);
            if !missing.is_empty()
                && request.allow_auto_topic_creation
                && ctx.config.auto_create_topics
            {
                ctx.auto_create(missing).await;
            }
        }
        let image = ctx.image();
        let topics = match names {
            None => image
                .topics
                .values()
                .map(|t| topic_response(&ctx, t))
                .collect(),
            Some(names) => names.iter().map(|n| named_topic(&ctx, &image, n)).collect(),
        };
        let body = MetadataResponse::default()
            .with_brokers(brokers(&image, &listener))
            .with_cluster_id(Some(StrBytes::from_string(image.cluster_id.clone())))
            .with_controller_id(BrokerId(image.controller_id))
            .with_topics(topics);
        reply(&header, &body)
    })
}

fn missing_creatable(image: &MetadataImage, names: &[String]) -> Vec<String> {
    names
        .iter()
        .filter(|n| image.topic(n).is_none() && validate_topic_name(n).is_ok())
        .cloned()
        .collect()
}

/// Every live (unfenced) broker with its endpoint on `listener` (as Kafka
/// does, a broker without that listener is left out).
fn brokers(image: &MetadataImage, listener: &str) -> Vec<MetadataResponseBroker> {
    image
        .brokers
        .values()
        .filter(|b| !b.fenced)
        .filter_map(|b| {
            let endpoint = b.endpoint(listener)?;
            Some(
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(b.node_id))
                    .with_host(StrBytes::from_string(endpoint.host.clone()))
                    .with_port(i32::from(endpoint.port))
                    .with_rack(b.rack.clone().map(StrBytes::from_string)),
            )
        })
        .collect()
}

fn named_topic(ctx: &BrokerCtx, image: &MetadataImage, name: &str) -> MetadataResponseTopic {
    if let Some(topic) = image.topic(name) {
        return topic_response(ctx, topic);
    }
    let code = match validate_topic_name(name) {
        Ok(()) => errors::unknown_topic_or_partition(),
        Err(_) => kafka_protocol::ResponseError::InvalidTopicException.code(),
    };
    MetadataResponseTopic::default()
        .with_error_code(code)
        .with_name(Some(TopicName(StrBytes::from_string(name.to_owned()))))
}

fn topic_response(ctx: &BrokerCtx, topic: &TopicImage) -> MetadataResponseTopic {
    let partitions = topic
        .partitions
        .iter()
        .map(|p| {
            // This broker knows only its own partitions' state; one led
            // elsewhere is answered as the image has it, one with no leader
            // (its replicas fenced) as LEADER_NOT_AVAILABLE.
            let error_code = if p.leader < 0 {
                errors::leader_not_available()
            } else if p.leader != ctx.config.node_id {
                errors::NONE
            } else {
                match ctx.partitions.lookup(&topic.name, p.partition) {
                    Some(PartitionEntry::Online(_)) => errors::NONE,
                    Some(PartitionEntry::Offline) => errors::storage_error(),
                    None => errors::leader_not_available(),
                }
            };
            MetadataResponsePartition::default()
                .with_error_code(error_code)
                .with_partition_index(p.partition)
                .with_leader_id(BrokerId(p.leader))
                .with_leader_epoch(p.leader_epoch)
                .with_replica_nodes(p.replicas.iter().map(|&r| BrokerId(r)).collect())
                .with_isr_nodes(p.isr.iter().map(|&r| BrokerId(r)).collect())
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
        .with_topic_id(Uuid::from_bytes(topic.topic_id))
        .with_is_internal(topic.name.starts_with("__"))
        .with_partitions(partitions)
}
