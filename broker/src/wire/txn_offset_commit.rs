//! TxnOffsetCommit: a transactional producer commits a consumer group's
//! offsets as part of its transaction (consume-transform-produce). The group
//! coordinator writes them to the group's offsets partition inside the
//! transaction; they count once its COMMIT marker lands there.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::TopicName;
use kafka_protocol::messages::TxnOffsetCommitResponse;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::protocol::StrBytes;
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::TxnOffsetCommitRequest;

use super::dispatch::ResponseFuture;
use super::encode::reply;
use super::{BrokerCtx, GroupRoute, errors, send_to_group};
use crate::group::GroupMsg;
use crate::group::coordinator::now_ms;
use crate::group::offsets::OffsetValue;
use crate::limits::ACTOR_CALL_TIMEOUT_MS;
use crate::txn::state::codes;

pub fn start(
    ctx: &Arc<BrokerCtx>,
    header: RequestHeader,
    request: TxnOffsetCommitRequest,
) -> ResponseFuture {
    let image = ctx.image();
    let now = now_ms();
    // As OffsetCommit: offsets of partitions that do not exist are refused
    // alone; the others are committed.
    let mut codes_by_partition: BTreeMap<(String, i32), i16> = BTreeMap::new();
    let mut offsets = Vec::new();
    for topic in &request.topics {
        for p in &topic.partitions {
            let key = (topic.name.clone(), p.partition_index);
            if image.partition(&topic.name, p.partition_index).is_none() {
                codes_by_partition.insert(key, errors::UNKNOWN_TOPIC_OR_PARTITION);
                continue;
            }
            offsets.push((
                key,
                OffsetValue {
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata.clone(),
                    commit_timestamp_ms: now,
                },
            ));
        }
    }
    let keys: Vec<(String, i32)> = offsets.iter().map(|(k, _)| k.clone()).collect();
    let call = (!offsets.is_empty()).then(|| {
        send_to_group(ctx, &request.group_id, GroupRoute::Create, |reply| {
            GroupMsg::TxnCommit {
                producer: (request.producer_id, request.producer_epoch),
                generation_id: request.generation_id,
                member_id: request.member_id.clone(),
                group_instance_id: request.group_instance_id.clone(),
                offsets,
                reply,
            }
        })
    });
    let v = header.api_version;
    Box::pin(async move {
        if let Some(call) = call {
            let wait = Duration::from_millis(ACTOR_CALL_TIMEOUT_MS);
            let code = call.answer(wait).await.unwrap_or_else(|code| code);
            // A fenced producer's batch is refused by the offsets partition;
            // KIP-588 clients (v3+) know PRODUCER_FENCED.
            let code = match code {
                codes::INVALID_PRODUCER_EPOCH if v >= 3 => codes::PRODUCER_FENCED,
                code => code,
            };
            for key in keys {
                codes_by_partition.insert(key, code);
            }
        }
        let mut topics: BTreeMap<String, Vec<TxnOffsetCommitResponsePartition>> = BTreeMap::new();
        for ((topic, partition), code) in codes_by_partition {
            topics.entry(topic).or_default().push(
                TxnOffsetCommitResponsePartition::default()
                    .with_partition_index(partition)
                    .with_error_code(code),
            );
        }
        let body = TxnOffsetCommitResponse::default().with_topics(
            topics
                .into_iter()
                .map(|(name, partitions)| {
                    TxnOffsetCommitResponseTopic::default()
                        .with_name(TopicName(StrBytes::from_string(name)))
                        .with_partitions(partitions)
                })
                .collect(),
        );
        reply(&header, &body)
    })
}
