//! DeleteTopics: by name, or by id (v6+).

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::DeleteTopicsRequest;

use super::dispatch::ResponseFuture;
use super::encode::reply;
use super::{BrokerCtx, errors};

pub fn start(
    ctx: &Arc<BrokerCtx>,
    header: RequestHeader,
    request: DeleteTopicsRequest,
) -> ResponseFuture {
    let ctx = ctx.clone();
    Box::pin(async move {
        let image = ctx.image();
        // Resolve ids to names; an unknown id keeps its own error.
        let targets: Vec<(Option<String>, [u8; 16])> = request
            .topics
            .iter()
            .map(|t| match &t.name {
                Some(name) => (Some(name.clone()), t.topic_id),
                None => (image.topic_names.get(&t.topic_id).cloned(), t.topic_id),
            })
            .collect();
        let names: Vec<String> = targets.iter().filter_map(|(n, _)| n.clone()).collect();
        let mut results = ctx.delete_topics(names).await.into_iter();
        let responses = targets
            .into_iter()
            .map(|(name, id)| {
                let result = DeletableTopicResult::default()
                    .with_name(name.clone().map(|n| TopicName(StrBytes::from_string(n))))
                    .with_topic_id(Uuid::from_bytes(id));
                match (name, results.next()) {
                    (None, _) => result.with_error_code(ResponseError::UnknownTopicId.code()),
                    (Some(_), Some(Ok(()))) => result,
                    (Some(_), Some(Err(e))) => result
                        .with_error_code(errors::topic_error_code(&e))
                        .with_error_message(Some(StrBytes::from_string(e.to_string()))),
                    (Some(_), None) => {
                        result.with_error_code(ResponseError::UnknownServerError.code())
                    }
                }
            })
            .collect();
        reply(
            &header,
            &DeleteTopicsResponse::default().with_responses(responses),
        )
    })
}
