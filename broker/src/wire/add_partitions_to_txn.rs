//! AddPartitionsToTxn: a producer's partitions join its open transaction.
//! v0–3 carry one transaction from a client; v4+ the broker-side batched form
//! (KIP-890), whose `verify_only` entries ask whether the partitions are
//! already in the transaction without adding them.

use std::sync::Arc;

use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnResponse, TopicName, TransactionalId};
use kafka_protocol::protocol::StrBytes;
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::AddPartitionsToTxnRequest;
use weir_client::protocol::requests::add_partitions_to_txn::AddPartitionsToTxnTransaction;

use super::dispatch::ResponseFuture;
use super::encode::reply;
use super::{BrokerCtx, errors, txn_route, txn_verify};
use crate::txn::TxnMsg;
use crate::txn::state::{Producer, codes};

pub fn start(
    ctx: &Arc<BrokerCtx>,
    header: RequestHeader,
    request: AddPartitionsToTxnRequest,
) -> ResponseFuture {
    let ctx = ctx.clone();
    Box::pin(async move {
        let v = header.api_version;
        let mut results = Vec::with_capacity(request.transactions.len());
        for txn in &request.transactions {
            results.push((txn.transactional_id.clone(), add(&ctx, txn, v >= 2).await));
        }
        let body = if request.v3_and_below {
            let topics = results.pop().map(|(_, t)| t).unwrap_or_default();
            AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(topics)
        } else {
            AddPartitionsToTxnResponse::default()
                .with_error_code(errors::NONE)
                .with_results_by_transaction(
                    results
                        .into_iter()
                        .map(|(id, topics)| {
                            AddPartitionsToTxnResult::default()
                                .with_transactional_id(TransactionalId(StrBytes::from_string(id)))
                                .with_topic_results(topics)
                        })
                        .collect(),
                )
        };
        reply(&header, &body)
    })
}

/// One transaction's partitions: every one gets the same answer, except that
/// unknown partitions fail alone and the others are then not attempted.
async fn add(
    ctx: &Arc<BrokerCtx>,
    txn: &AddPartitionsToTxnTransaction,
    kip588: bool,
) -> Vec<AddPartitionsToTxnTopicResult> {
    let image = ctx.image();
    let partitions: Vec<(String, i32)> = txn
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|&p| (t.name.clone(), p)))
        .collect();
    let unknown: Vec<&(String, i32)> = partitions
        .iter()
        .filter(|(topic, p)| image.partition(topic, *p).is_none())
        .collect();
    let code = if unknown.is_empty() {
        let producer = Producer {
            id: txn.producer_id,
            epoch: txn.producer_epoch,
        };
        if txn.verify_only {
            txn_verify::local(ctx, &txn.transactional_id, producer, &partitions).await
        } else {
            let list = partitions.clone();
            txn_route::ask(ctx, &txn.transactional_id, false, |reply| {
                TxnMsg::AddPartitions {
                    producer,
                    partitions: list,
                    kip588,
                    reply,
                }
            })
            .await
            .unwrap_or_else(|code| code)
        }
    } else {
        codes::OPERATION_NOT_ATTEMPTED
    };
    let code_of = |tp: &(String, i32)| {
        if unknown.contains(&tp) {
            codes::UNKNOWN_TOPIC_OR_PARTITION
        } else {
            code
        }
    };
    txn.topics
        .iter()
        .map(|t| {
            AddPartitionsToTxnTopicResult::default()
                .with_name(TopicName(StrBytes::from_string(t.name.clone())))
                .with_results_by_partition(
                    t.partitions
                        .iter()
                        .map(|&p| {
                            AddPartitionsToTxnPartitionResult::default()
                                .with_partition_index(p)
                                .with_partition_error_code(code_of(&(t.name.clone(), p)))
                        })
                        .collect(),
                )
        })
        .collect()
}
