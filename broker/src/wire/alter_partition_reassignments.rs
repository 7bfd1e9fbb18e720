//! AlterPartitionReassignments: the active controller starts, changes or
//! cancels each partition's reassignment (KIP-455); the answer comes once it
//! is recorded, not when the data has moved (ListPartitionReassignments
//! shows that).

use std::sync::Arc;

use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::{AlterPartitionReassignmentsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::AlterPartitionReassignmentsRequest;

use super::dispatch::ResponseFuture;
use super::encode::reply;
use super::{BrokerCtx, errors};
use crate::controller::{ControllerReply, ControllerRequest, ReassignmentError};

pub fn start(
    ctx: &Arc<BrokerCtx>,
    header: RequestHeader,
    request: AlterPartitionReassignmentsRequest,
) -> ResponseFuture {
    let ctx = ctx.clone();
    Box::pin(async move {
        let partitions: Vec<(String, i32, Option<Vec<i32>>)> = request
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|p| (t.name.clone(), p.partition_index, p.replicas.clone()))
            })
            .collect();
        let count = partitions.len();
        let results = if count == 0 {
            Vec::new()
        } else {
            let request = ControllerRequest::AlterPartitionReassignments { partitions };
            match ctx.controller_request(request).await {
                ControllerReply::Reassignments(results) if results.len() == count => results,
                ControllerReply::Unavailable(why) => {
                    vec![Err(ReassignmentError::Unavailable(why)); count]
                }
                other => {
                    let why = format!("unexpected controller answer {other:?}");
                    vec![Err(ReassignmentError::Unavailable(why)); count]
                }
            }
        };
        ctx.await_reconciled().await;
        let mut results = results.into_iter();
        let responses = request
            .topics
            .iter()
            .map(|t| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        let answer = ReassignablePartitionResponse::default()
                            .with_partition_index(p.partition_index);
                        match results.next() {
                            Some(Ok(())) => answer,
                            Some(Err(e)) => answer
                                .with_error_code(errors::reassignment_error_code(&e))
                                .with_error_message(Some(StrBytes::from_string(e.to_string()))),
                            None => answer.with_error_code(errors::REQUEST_TIMED_OUT),
                        }
                    })
                    .collect();
                ReassignableTopicResponse::default()
                    .with_name(TopicName(StrBytes::from_string(t.name.clone())))
                    .with_partitions(partitions)
            })
            .collect();
        reply(
            &header,
            &AlterPartitionReassignmentsResponse::default().with_responses(responses),
        )
    })
}
