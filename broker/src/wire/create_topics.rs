//! CreateTopics: validated and recorded by the controller.

use std::sync::Arc;

use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::{CreateTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::CreateTopicsRequest;

use super::dispatch::ResponseFuture;
use super::encode::reply;
use super::{BrokerCtx, errors};
use crate::controller::TopicError;
use crate::controller::TopicSpec;

pub fn start(
    ctx: &Arc<BrokerCtx>,
    header: RequestHeader,
    request: CreateTopicsRequest,
) -> ResponseFuture {
    let ctx = ctx.clone();
    Box::pin(async move {
        let specs: Vec<TopicSpec> = request
            .topics
            .iter()
            .map(|t| TopicSpec {
                name: t.name.clone(),
                num_partitions: (t.num_partitions != -1).then_some(t.num_partitions),
                replication_factor: (t.replication_factor != -1).then_some(t.replication_factor),
                configs: t
                    .configs
                    .iter()
                    .map(|c| (c.name.clone(), c.value.clone()))
                    .collect(),
            })
            .collect();
        let manual: Vec<bool> = request
            .topics
            .iter()
            .map(|t| !t.assignments.is_empty())
            .collect();
        let results = ctx
            .create_topics(specs.clone(), request.validate_only)
            .await;
        let image = ctx.image();
        let topics = specs
            .iter()
            .zip(results)
            .zip(manual)
            .map(|((spec, result), manual)| {
                // Manual replica assignment is not supported yet: say so clearly.
                let result = if manual && result.is_ok() {
                    Err(TopicError::InvalidConfig(
                        "manual replica assignment is not supported".into(),
                    ))
                } else {
                    result
                };
                let topic = CreatableTopicResult::default()
                    .with_name(TopicName(StrBytes::from_string(spec.name.clone())));
                match result {
                    Ok(()) => {
                        let created = image.topic(&spec.name);
                        topic
                            .with_error_message(None)
                            .with_topic_id(
                                created
                                    .map(|t| Uuid::from_bytes(t.topic_id))
                                    .unwrap_or_default(),
                            )
                            .with_num_partitions(
                                spec.num_partitions.unwrap_or(ctx.config.num_partitions),
                            )
                            .with_replication_factor(spec.replication_factor.unwrap_or(1))
                    }
                    Err(e) => topic
                        .with_error_code(errors::topic_error_code(&e))
                        .with_error_message(Some(StrBytes::from_string(e.to_string()))),
                }
            })
            .collect();
        reply(
            &header,
            &CreateTopicsResponse::default().with_topics(topics),
        )
    })
}
