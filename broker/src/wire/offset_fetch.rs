//! OffsetFetch: committed offsets (-1 where nothing is committed); v2+ may ask for
//! every committed partition of the group.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use kafka_protocol::messages::{OffsetFetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::OffsetFetchRequest;

use super::dispatch::ResponseFuture;
use super::encode::reply;
use super::{BrokerCtx, GroupRoute, errors, send_to_group};
use crate::group::GroupMsg;
use crate::group::coordinator::FetchedOffsets;

/// UNSTABLE_OFFSET_COMMIT: a transaction with offsets for the partition is open.
const UNSTABLE_OFFSET_COMMIT: i16 = 88;
use crate::limits::ACTOR_CALL_TIMEOUT_MS;

pub fn start(
    ctx: &Arc<BrokerCtx>,
    header: RequestHeader,
    request: OffsetFetchRequest,
) -> ResponseFuture {
    let v = header.api_version;
    let partitions = request.topics.as_ref().map(|topics| {
        topics
            .iter()
            .flat_map(|(t, ps)| ps.iter().map(move |p| (t.clone(), *p)))
            .collect()
    });
    let requested: Vec<(String, i32)> = partitions.clone().unwrap_or_default();
    // Fetching offsets never creates a group; an unknown one has none.
    let require_stable = request.require_stable;
    let call = send_to_group(ctx, &request.group_id, GroupRoute::Existing, |reply| {
        GroupMsg::FetchOffsets {
            partitions,
            require_stable,
            reply,
        }
    });
    Box::pin(async move {
        let wait = Duration::from_millis(ACTOR_CALL_TIMEOUT_MS);
        let result = call.answer(wait).await;
        let (fetched, code) = match result {
            Ok(fetched) => (fetched, errors::NONE),
            Err(errors::GROUP_ID_NOT_FOUND) => (
                FetchedOffsets {
                    offsets: requested.into_iter().map(|key| (key, None)).collect(),
                    unstable: Vec::new(),
                },
                errors::NONE,
            ),
            Err(code) => (FetchedOffsets::default(), code),
        };
        let mut by_topic: BTreeMap<String, Vec<OffsetFetchResponsePartition>> = BTreeMap::new();
        for ((topic, partition), value) in fetched.offsets {
            let p = OffsetFetchResponsePartition::default().with_partition_index(partition);
            // KIP-447: an open transaction's offsets for it are not settled;
            // the consumer asks again (UNSTABLE_OFFSET_COMMIT is retriable).
            if fetched.unstable.contains(&(topic.clone(), partition)) {
                let p = p
                    .with_committed_offset(-1)
                    .with_metadata(Some(StrBytes::default()))
                    .with_error_code(UNSTABLE_OFFSET_COMMIT);
                by_topic.entry(topic).or_default().push(p);
                continue;
            }
            let p = match value {
                Some(value) => p
                    .with_committed_offset(value.offset)
                    .with_committed_leader_epoch(if v >= 5 { value.leader_epoch } else { -1 })
                    .with_metadata(value.metadata.map(StrBytes::from_string)),
                None => p
                    .with_committed_offset(-1)
                    .with_metadata(Some(StrBytes::default())),
            };
            by_topic.entry(topic).or_default().push(p);
        }
        let topics = by_topic
            .into_iter()
            .map(|(name, partitions)| {
                OffsetFetchResponseTopic::default()
                    .with_name(TopicName(StrBytes::from_string(name)))
                    .with_partitions(partitions)
            })
            .collect();
        let mut body = OffsetFetchResponse::default().with_topics(topics);
        if v >= 2 {
            body = body.with_error_code(code);
        }
        reply(&header, &body)
    })
}
