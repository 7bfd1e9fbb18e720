//! WriteTxnMarkers: a transaction coordinator (on another broker) has this
//! broker, the partitions' leader, write COMMIT or ABORT markers.

use std::sync::Arc;

use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{ProducerId, TopicName, WriteTxnMarkersResponse};
use kafka_protocol::protocol::StrBytes;
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::WriteTxnMarkersRequest;

use super::BrokerCtx;
use super::dispatch::ResponseFuture;
use super::encode::reply;
use crate::partition::txns::Marker;
use crate::txn::markers::{MarkerJob, write_local};

pub fn start(
    ctx: &Arc<BrokerCtx>,
    header: RequestHeader,
    request: WriteTxnMarkersRequest,
) -> ResponseFuture {
    let ctx = ctx.clone();
    Box::pin(async move {
        let mut markers = Vec::with_capacity(request.markers.len());
        for m in request.markers {
            let job = MarkerJob {
                producer_id: m.producer_id,
                producer_epoch: m.producer_epoch,
                marker: if m.transaction_result {
                    Marker::Commit
                } else {
                    Marker::Abort
                },
                coordinator_epoch: m.coordinator_epoch,
                partitions: Default::default(),
            };
            let mut topics = Vec::with_capacity(m.topics.len());
            for t in m.topics {
                let mut partitions = Vec::with_capacity(t.partition_indexes.len());
                for p in t.partition_indexes {
                    let code = write_local(&ctx, &t.name, p, &job).await;
                    partitions.push(
                        WritableTxnMarkerPartitionResult::default()
                            .with_partition_index(p)
                            .with_error_code(code),
                    );
                }
                topics.push(
                    WritableTxnMarkerTopicResult::default()
                        .with_name(TopicName(StrBytes::from_string(t.name)))
                        .with_partitions(partitions),
                );
            }
            markers.push(
                WritableTxnMarkerResult::default()
                    .with_producer_id(ProducerId(m.producer_id))
                    .with_topics(topics),
            );
        }
        reply(
            &header,
            &WriteTxnMarkersResponse::default().with_markers(markers),
        )
    })
}
