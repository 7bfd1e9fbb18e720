//! OffsetCommit: made durable in `__consumer_offsets` by the group's coordinator.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::OffsetCommitRequest;

use super::dispatch::ResponseFuture;
use super::encode::reply;
use super::{BrokerCtx, GroupRoute, errors, send_to_group};
use crate::group::GroupMsg;
use crate::group::offsets::OffsetValue;
use crate::limits::ACTOR_CALL_TIMEOUT_MS;

pub fn start(
    ctx: &Arc<BrokerCtx>,
    header: RequestHeader,
    request: OffsetCommitRequest,
) -> ResponseFuture {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    // As Kafka: a partition that does not exist is answered
    // UNKNOWN_TOPIC_OR_PARTITION and nothing is stored for it.
    let image = ctx.image();
    let exists = |topic: &str, partition: i32| image.partition(topic, partition).is_some();
    let offsets: Vec<_> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .filter(|p| exists(&t.name, p.partition_index))
                .map(move |p| {
                    let value = OffsetValue {
                        offset: p.committed_offset,
                        leader_epoch: p.committed_leader_epoch,
                        metadata: p.committed_metadata.clone(),
                        commit_timestamp_ms: now,
                    };
                    ((t.name.clone(), p.partition_index), value)
                })
        })
        .collect();
    let unknown: Vec<(String, i32)> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .filter(|p| !exists(&t.name, p.partition_index))
                .map(|p| (t.name.clone(), p.partition_index))
        })
        .collect();
    let (generation_id, member_id) = (request.generation_id, request.member_id.clone());
    let group_instance_id = request.group_instance_id.clone();
    // Nothing left to commit: the group is not asked (Kafka answers at once).
    let call = (!offsets.is_empty() || unknown.is_empty()).then(|| {
        send_to_group(ctx, &request.group_id, GroupRoute::Create, |reply| {
            GroupMsg::Commit {
                generation_id,
                member_id,
                group_instance_id,
                offsets,
                reply,
            }
        })
    });
    let metrics = ctx.metrics.clone();
    Box::pin(async move {
        let wait = Duration::from_millis(ACTOR_CALL_TIMEOUT_MS);
        let code = match call {
            Some(call) => call.answer(wait).await.unwrap_or_else(|code| code),
            None => errors::NONE,
        };
        metrics.error(header.api_key, code);
        let unknown_code = errors::unknown_topic_or_partition();
        for _ in &unknown {
            metrics.error(header.api_key, unknown_code);
        }
        let topics = request
            .topics
            .into_iter()
            .map(|t| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        let missing = unknown.contains(&(t.name.clone(), p.partition_index));
                        OffsetCommitResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(if missing { unknown_code } else { code })
                    })
                    .collect();
                OffsetCommitResponseTopic::default()
                    .with_name(TopicName(StrBytes::from_string(t.name)))
                    .with_partitions(partitions)
            })
            .collect();
        reply(
            &header,
            &OffsetCommitResponse::default().with_topics(topics),
        )
    })
}
