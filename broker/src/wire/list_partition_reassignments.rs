//! ListPartitionReassignments: the reassignments in progress, read from this
//! broker's metadata image (it lags the active controller's by at most the
//! time the records take to reach it). Partitions named that are unknown or
//! not being reassigned are left out, as Kafka does.

use std::sync::Arc;

use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{BrokerId, ListPartitionReassignmentsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::ListPartitionReassignmentsRequest;

use super::BrokerCtx;
use super::dispatch::ResponseFuture;
use super::encode::reply;

pub fn start(
    ctx: &Arc<BrokerCtx>,
    header: RequestHeader,
    request: ListPartitionReassignmentsRequest,
) -> ResponseFuture {
    let image = ctx.image();
    let ids = |ids: &[i32]| ids.iter().copied().map(BrokerId).collect::<Vec<_>>();
    let mut topics: Vec<OngoingTopicReassignment> = Vec::new();
    for ((topic_id, partition), r) in &image.reassignments {
        let Some(name) = image.topic_names.get(topic_id) else {
            continue;
        };
        let wanted = match &request.topics {
            None => true,
            Some(asked) => asked
                .iter()
                .any(|t| &t.name == name && t.partition_indexes.contains(partition)),
        };
        let Some(p) = image.partition(name, *partition).filter(|_| wanted) else {
            continue;
        };
        let ongoing = OngoingPartitionReassignment::default()
            .with_partition_index(*partition)
            .with_replicas(ids(&p.replicas))
            .with_adding_replicas(ids(&r.adding))
            .with_removing_replicas(ids(&r.removing));
        match topics.iter_mut().find(|t| t.name.0.as_str() == name) {
            Some(t) => t.partitions.push(ongoing),
            None => topics.push(
                OngoingTopicReassignment::default()
                    .with_name(TopicName(StrBytes::from_string(name.clone())))
                    .with_partitions(vec![ongoing]),
            ),
        }
    }
    let body = ListPartitionReassignmentsResponse::default().with_topics(topics);
    Box::pin(std::future::ready(reply(&header, &body)))
}
