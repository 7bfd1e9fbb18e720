//! AddOffsetsToTxn: a group's offsets partition joins the transaction, so the
//! transaction's end settles the offsets it commits there (TxnOffsetCommit).

use std::sync::Arc;

use kafka_protocol::messages::AddOffsetsToTxnResponse;
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::AddOffsetsToTxnRequest;

use super::dispatch::ResponseFuture;
use super::encode::reply;
use super::{BrokerCtx, errors, txn_route, valid_group_id};
use crate::group::offsets::{OFFSETS_TOPIC, partition_for};
use crate::txn::TxnMsg;
use crate::txn::state::Producer;

pub fn start(
    ctx: &Arc<BrokerCtx>,
    header: RequestHeader,
    request: AddOffsetsToTxnRequest,
) -> ResponseFuture {
    let ctx = ctx.clone();
    Box::pin(async move {
        let code = if valid_group_id(&request.group_id) {
            let partition =
                partition_for(&request.group_id, ctx.config.offsets_topic_num_partitions);
            let producer = Producer {
                id: request.producer_id,
                epoch: request.producer_epoch,
            };
            let kip588 = header.api_version >= 2;
            txn_route::ask(&ctx, &request.transactional_id, false, |reply| {
                TxnMsg::AddPartitions {
                    producer,
                    partitions: vec![(OFFSETS_TOPIC.to_owned(), partition)],
                    kip588,
                    reply,
                }
            })
            .await
            .unwrap_or_else(|code| code)
        } else {
            errors::INVALID_GROUP_ID
        };
        ctx.metrics.error(header.api_key, code);
        reply(
            &header,
            &AddOffsetsToTxnResponse::default().with_error_code(code),
        )
    })
}
