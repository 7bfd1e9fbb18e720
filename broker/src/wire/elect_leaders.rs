//! ElectLeaders: the active controller elects preferred (or, for partitions
//! with none, unclean) leaders; one result per partition asked for, or, for a
//! null list, per partition where an election was needed.

use std::sync::Arc;

use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::ElectLeadersRequest;
use weir_client::protocol::requests::elect_leaders::{
    ELECTION_TYPE_PREFERRED, ELECTION_TYPE_UNCLEAN,
};

use super::dispatch::ResponseFuture;
use super::encode::reply;
use super::{BrokerCtx, errors};
use crate::controller::{ControllerReply, ControllerRequest, ElectionError, ElectionType};

pub fn start(
    ctx: &Arc<BrokerCtx>,
    header: RequestHeader,
    request: ElectLeadersRequest,
) -> ResponseFuture {
    let ctx = ctx.clone();
    Box::pin(async move {
        let kind = match request.election_type {
            ELECTION_TYPE_PREFERRED => ElectionType::Preferred,
            ELECTION_TYPE_UNCLEAN => ElectionType::Unclean,
            _ => {
                let body = ElectLeadersResponse::default().with_error_code(errors::INVALID_REQUEST);
                return reply(&header, &body);
            }
        };
        let partitions: Option<Vec<(String, i32)>> = request.topic_partitions.as_ref().map(|t| {
            t.iter()
                .flat_map(|t| t.partitions.iter().map(|&p| (t.topic.clone(), p)))
                .collect()
        });
        let asked = partitions.clone().unwrap_or_default();
        let results = match ctx
            .controller_request(ControllerRequest::ElectLeaders { kind, partitions })
            .await
        {
            ControllerReply::Elections(results) => results,
            other => {
                let why = match other {
                    ControllerReply::Unavailable(why) => why,
                    other => format!("unexpected controller answer {other:?}"),
                };
                asked
                    .into_iter()
                    .map(|(t, p)| (t, p, Err(ElectionError::Unavailable(why.clone()))))
                    .collect()
            }
        };
        ctx.await_reconciled().await;
        reply(&header, &response(results))
    })
}

/// Results grouped by topic, in the order topics first appear.
fn response(results: Vec<(String, i32, Result<(), ElectionError>)>) -> ElectLeadersResponse {
    let mut topics: Vec<ReplicaElectionResult> = Vec::new();
    for (topic, partition, result) in results {
        let mut answer = PartitionResult::default().with_partition_id(partition);
        if let Err(e) = &result {
            answer = answer
                .with_error_code(errors::election_error_code(e))
                .with_error_message(Some(StrBytes::from_string(e.to_string())));
        }
        match topics.iter_mut().find(|t| t.topic.0.as_str() == topic) {
            Some(t) => t.partition_result.push(answer),
            None => topics.push(
                ReplicaElectionResult::default()
                    .with_topic(TopicName(StrBytes::from_string(topic)))
                    .with_partition_result(vec![answer]),
            ),
        }
    }
    ElectLeadersResponse::default().with_replica_election_results(topics)
}
