//! OffsetDelete: drops committed offsets of partitions the group does not consume
//! (GROUP_SUBSCRIBED_TO_TOPIC for those it does).

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::OffsetDeleteRequest;

use super::dispatch::ResponseFuture;
use super::encode::reply;
use super::{BrokerCtx, GroupRoute, errors, send_to_group};
use crate::group::GroupMsg;
use crate::limits::ACTOR_CALL_TIMEOUT_MS;

pub fn start(
    ctx: &Arc<BrokerCtx>,
    header: RequestHeader,
    request: OffsetDeleteRequest,
) -> ResponseFuture {
    let partitions: Vec<(String, i32)> = request
        .topics
        .iter()
        .flat_map(|(t, ps)| ps.iter().map(move |p| (t.clone(), *p)))
        .collect();
    let call = send_to_group(ctx, &request.group_id, GroupRoute::Existing, |reply| {
        GroupMsg::DeleteOffsets { partitions, reply }
    });
    Box::pin(async move {
        let wait = Duration::from_millis(ACTOR_CALL_TIMEOUT_MS);
        let result = call.answer(wait).await.and_then(|codes| codes);
        let body = match result {
            Ok(codes) => {
                let mut codes = codes.into_iter();
                let topics = request
                    .topics
                    .into_iter()
                    .map(|(name, ps)| {
                        let partitions = ps
                            .into_iter()
                            .map(|p| {
                                OffsetDeleteResponsePartition::default()
                                    .with_partition_index(p)
                                    .with_error_code(codes.next().unwrap_or(errors::NONE))
                            })
                            .collect();
                        OffsetDeleteResponseTopic::default()
                            .with_name(TopicName(StrBytes::from_string(name)))
                            .with_partitions(partitions)
                    })
                    .collect();
                OffsetDeleteResponse::default().with_topics(topics)
            }
            Err(code) => OffsetDeleteResponse::default().with_error_code(code),
        };
        reply(&header, &body)
    })
}
