//! DescribeConfigs: topic configs (overrides over broker defaults) and broker configs.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::DescribeConfigsResponse;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::protocol::StrBytes;
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::DescribeConfigsRequest;
use weir_client::protocol::requests::describe_configs::{
    DescribeConfigsResource, RESOURCE_TYPE_BROKER, RESOURCE_TYPE_TOPIC,
};

use super::dispatch::ResponseFuture;
use super::encode::reply;
use super::{BrokerCtx, errors};
use crate::config::BrokerConfig;
use crate::controller::topic_config::{ConfigEntry, ConfigSource, TopicConfig};

pub fn start(
    ctx: &Arc<BrokerCtx>,
    header: RequestHeader,
    request: DescribeConfigsRequest,
) -> ResponseFuture {
    let results = request.resources.iter().map(|r| describe(ctx, r)).collect();
    let body = DescribeConfigsResponse::default().with_results(results);
    Box::pin(std::future::ready(reply(&header, &body)))
}

fn describe(ctx: &BrokerCtx, resource: &DescribeConfigsResource) -> DescribeConfigsResult {
    let result = DescribeConfigsResult::default()
        .with_resource_type(resource.resource_type)
        .with_resource_name(StrBytes::from_string(resource.resource_name.clone()));
    let entries = match resource.resource_type {
        RESOURCE_TYPE_TOPIC => match ctx.image().topic(&resource.resource_name) {
            Some(topic) => TopicConfig::describe(&ctx.config, &topic.configs),
            None => {
                return result
                    .with_error_code(errors::unknown_topic_or_partition())
                    .with_error_message(Some(StrBytes::from_static_str("unknown topic")));
            }
        },
        RESOURCE_TYPE_BROKER
            if resource.resource_name.is_empty()
                || resource.resource_name == ctx.config.node_id.to_string() =>
        {
            broker_entries(&ctx.config)
        }
        RESOURCE_TYPE_BROKER => {
            return result
                .with_error_code(ResponseError::InvalidRequest.code())
                .with_error_message(Some(StrBytes::from_static_str("not this broker's id")));
        }
        _ => {
            return result
                .with_error_code(ResponseError::InvalidRequest.code())
                .with_error_message(Some(StrBytes::from_static_str("unsupported resource type")));
        }
    };
    let wanted = resource.configuration_keys.as_ref();
    let configs = entries
        .into_iter()
        .filter(|e| wanted.is_none_or(|keys| keys.contains(&e.name)))
        .map(|e| {
            DescribeConfigsResourceResult::default()
                .with_name(StrBytes::from_string(e.name))
                .with_value(Some(StrBytes::from_string(e.value)))
                .with_read_only(e.read_only)
                .with_config_source(e.source as i8)
        })
        .collect();
    result.with_configs(configs)
}

fn broker_entries(config: &BrokerConfig) -> Vec<ConfigEntry> {
    // Topic-level defaults as the broker's `log.*` settings, then broker settings.
    let defaults = TopicConfig::resolve(config, &BTreeMap::new());
    let mut entries: Vec<ConfigEntry> = [
        ("log.retention.ms", defaults.retention_ms.to_string()),
        ("log.retention.bytes", defaults.retention_bytes.to_string()),
        ("log.segment.bytes", defaults.segment_bytes.to_string()),
        ("log.roll.ms", defaults.segment_ms.to_string()),
        ("message.max.bytes", defaults.max_message_bytes.to_string()),
        ("num.partitions", config.num_partitions.to_string()),
        (
            "auto.create.topics.enable",
            config.auto_create_topics.to_string(),
        ),
        ("node.id", config.node_id.to_string()),
        (
            "socket.request.max.bytes",
            config.frame_bytes_max.to_string(),
        ),
        ("max.connections", config.max_connections.to_string()),
    ]
    .into_iter()
    .map(|(name, value)| ConfigEntry {
        name: name.into(),
        value,
        source: ConfigSource::StaticBroker,
        read_only: true,
    })
    .collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    entries
}
