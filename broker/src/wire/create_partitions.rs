//! CreatePartitions: the controller grows the topic (a durable PartitionsCreated
//! record); the answer comes once this broker's new partitions are online.

use std::sync::Arc;

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::CreatePartitionsRequest;

use super::dispatch::ResponseFuture;
use super::encode::reply;
use super::{BrokerCtx, errors};
use crate::controller::PartitionsSpec;

pub fn start(
    ctx: &Arc<BrokerCtx>,
    header: RequestHeader,
    request: CreatePartitionsRequest,
) -> ResponseFuture {
    let ctx = ctx.clone();
    Box::pin(async move {
        let specs = request
            .topics
            .iter()
            .map(|t| PartitionsSpec {
                name: t.name.clone(),
                count: t.count,
                // An empty list asks for no manual placement, like a null one.
                assignments: t.assignments.clone().filter(|a| !a.is_empty()),
            })
            .collect();
        let results = ctx.create_partitions(specs, request.validate_only).await;
        let results = request
            .topics
            .iter()
            .zip(results)
            .map(|(topic, result)| {
                let answer = CreatePartitionsTopicResult::default()
                    .with_name(TopicName(StrBytes::from_string(topic.name.clone())));
                match result {
                    Ok(()) => answer,
                    Err(e) => answer
                        .with_error_code(errors::topic_error_code(&e))
                        .with_error_message(Some(StrBytes::from_string(e.to_string()))),
                }
            })
            .collect();
        reply(
            &header,
            &CreatePartitionsResponse::default().with_results(results),
        )
    })
}
