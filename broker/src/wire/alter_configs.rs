//! AlterConfigs (legacy: a resource's whole override set is replaced), and what
//! IncrementalAlterConfigs shares with it: topic changes go to the controller
//! (durable TopicConfigsAltered records, pushed to the partitions live); broker
//! configs are static on Weir and answered INVALID_CONFIG, as Kafka answers for
//! broker configs that cannot be altered dynamically.

use std::collections::HashMap;
use std::sync::Arc;

use kafka_protocol::messages::AlterConfigsResponse;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::protocol::StrBytes;
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::AlterConfigsRequest;
use weir_client::protocol::requests::describe_configs::{
    RESOURCE_TYPE_BROKER, RESOURCE_TYPE_TOPIC,
};

use super::dispatch::ResponseFuture;
use super::encode::reply;
use super::{BrokerCtx, errors};
use crate::controller::ConfigAlteration;

/// One resource of an alter request, as both APIs name it.
pub struct Resource {
    /// Resource type (2 topic, 4 broker).
    pub resource_type: i8,
    /// Topic name or broker id.
    pub resource_name: String,
    /// What to do to a topic's overrides.
    pub alteration: ConfigAlteration,
}

/// One resource's answer: (error code, message).
pub type Outcome = (i16, Option<String>);

pub fn start(
    ctx: &Arc<BrokerCtx>,
    header: RequestHeader,
    request: AlterConfigsRequest,
) -> ResponseFuture {
    let ctx = ctx.clone();
    Box::pin(async move {
        let resources: Vec<Resource> = request
            .resources
            .into_iter()
            .map(|r| Resource {
                resource_type: r.resource_type,
                resource_name: r.resource_name,
                alteration: ConfigAlteration::Replace(
                    r.configs.into_iter().map(|c| (c.name, c.value)).collect(),
                ),
            })
            .collect();
        let outcomes = alter(&ctx, &resources, request.validate_only).await;
        let responses = resources
            .iter()
            .zip(outcomes)
            .map(|(r, (code, message))| {
                AlterConfigsResourceResponse::default()
                    .with_error_code(code)
                    .with_error_message(message.map(StrBytes::from_string))
                    .with_resource_type(r.resource_type)
                    .with_resource_name(StrBytes::from_string(r.resource_name.clone()))
            })
            .collect();
        reply(
            &header,
            &AlterConfigsResponse::default().with_responses(responses),
        )
    })
}

/// Alters `resources`; one outcome per resource, in order.
pub async fn alter(ctx: &BrokerCtx, resources: &[Resource], validate_only: bool) -> Vec<Outcome> {
    let mut outcomes: Vec<Option<Outcome>> = resources
        .iter()
        .map(|r| refusal(&ctx.config.node_id.to_string(), r))
        .collect();
    // Kafka refuses a resource named twice in one request, every time it is named.
    let mut counts = HashMap::new();
    for r in resources {
        *counts
            .entry((r.resource_type, r.resource_name.as_str()))
            .or_insert(0) += 1;
    }
    for (r, outcome) in resources.iter().zip(outcomes.iter_mut()) {
        if counts[&(r.resource_type, r.resource_name.as_str())] > 1 {
            *outcome = Some((errors::INVALID_REQUEST, Some("duplicate resource".into())));
        }
    }
    let topics: Vec<(usize, (String, ConfigAlteration))> = resources
        .iter()
        .enumerate()
        .filter(|(i, _)| outcomes[*i].is_none())
        .map(|(i, r)| (i, (r.resource_name.clone(), r.alteration.clone())))
        .collect();
    if !topics.is_empty() {
        let (at, changes): (Vec<usize>, Vec<_>) = topics.into_iter().unzip();
        let results = ctx.alter_topic_configs(changes, validate_only).await;
        for (i, result) in at.into_iter().zip(results) {
            outcomes[i] = Some(match result {
                Ok(()) => (errors::NONE, None),
                Err(e) => (errors::topic_error_code(&e), Some(e.to_string())),
            });
        }
    }
    outcomes
        .into_iter()
        .map(|o| o.unwrap_or((errors::NONE, None)))
        .collect()
}

/// The answer to a resource that is not a topic (`None` for topics, which the
/// controller decides on).
fn refusal(node_id: &str, r: &Resource) -> Option<Outcome> {
    let refuse = |code, message: &str| Some((code, Some(message.to_owned())));
    match r.resource_type {
        RESOURCE_TYPE_TOPIC => None,
        RESOURCE_TYPE_BROKER if r.resource_name.is_empty() || r.resource_name == node_id => refuse(
            errors::INVALID_CONFIG,
            "broker configs cannot be altered dynamically on Weir: set them in the config file or flags and restart",
        ),
        RESOURCE_TYPE_BROKER => refuse(errors::INVALID_REQUEST, "not this broker's id"),
        _ => refuse(
            errors::INVALID_REQUEST,
            "only topic and broker configs can be altered",
        ),
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::ResponseError;

    use super::*;

    fn resource(resource_type: i8, name: &str) -> Resource {
        Resource {
            resource_type,
            resource_name: name.into(),
            alteration: ConfigAlteration::Replace(Vec::new()),
        }
    }

    #[test]
    fn only_topics_reach_the_controller() {
        assert_eq!(refusal("1", &resource(RESOURCE_TYPE_TOPIC, "t")), None);
        for name in ["1", ""] {
            let got = refusal("1", &resource(RESOURCE_TYPE_BROKER, name));
            assert_eq!(got.map(|o| o.0), Some(errors::INVALID_CONFIG), "{name:?}");
        }
        let other_broker = refusal("1", &resource(RESOURCE_TYPE_BROKER, "2"));
        assert_eq!(other_broker.map(|o| o.0), Some(errors::INVALID_REQUEST));
        // 8 is BROKER_LOGGER, 3 GROUP.
        for kind in [3, 8] {
            let got = refusal("1", &resource(kind, "x"));
            assert_eq!(got.map(|o| o.0), Some(errors::INVALID_REQUEST));
        }
    }

    #[test]
    fn named_codes_are_kafkas() {
        assert_eq!(errors::INVALID_CONFIG, ResponseError::InvalidConfig.code());
        assert_eq!(
            errors::INVALID_REQUEST,
            ResponseError::InvalidRequest.code()
        );
        assert_eq!(
            errors::INVALID_PARTITIONS,
            ResponseError::InvalidPartitions.code()
        );
        assert_eq!(
            errors::INVALID_REPLICA_ASSIGNMENT,
            ResponseError::InvalidReplicaAssignment.code()
        );
        assert_eq!(
            errors::OFFSET_OUT_OF_RANGE,
            ResponseError::OffsetOutOfRange.code()
        );
        assert_eq!(
            errors::UNKNOWN_TOPIC_OR_PARTITION,
            ResponseError::UnknownTopicOrPartition.code()
        );
        assert_eq!(
            errors::INVALID_TOPIC_EXCEPTION,
            ResponseError::InvalidTopicException.code()
        );
    }
}
