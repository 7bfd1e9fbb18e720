//! DescribeTransactions: each transactional id's state as its coordinator
//! holds it (asked of this broker, which must coordinate the id).

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    DescribeTransactionsResponse, ProducerId, TopicName, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::DescribeTransactionsRequest;

use super::dispatch::ResponseFuture;
use super::encode::reply;
use super::{BrokerCtx, txn_route};
use crate::txn::TxnMsg;
use crate::txn::state::codes;

pub fn start(
    ctx: &Arc<BrokerCtx>,
    header: RequestHeader,
    request: DescribeTransactionsRequest,
) -> ResponseFuture {
    let ctx = ctx.clone();
    Box::pin(async move {
        let mut states = Vec::with_capacity(request.transactional_ids.len());
        for id in request.transactional_ids {
            let asked = txn_route::ask(&ctx, &id, false, |reply| TxnMsg::Describe { reply }).await;
            let state = TransactionState::default()
                .with_transactional_id(TransactionalId(StrBytes::from_string(id)))
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1)
                .with_transaction_start_time_ms(-1);
            states.push(match asked {
                Ok(Some(m)) => {
                    let mut topics: BTreeMap<String, Vec<i32>> = BTreeMap::new();
                    for (topic, partition) in &m.partitions {
                        topics.entry(topic.clone()).or_default().push(*partition);
                    }
                    state
                        .with_transaction_state(StrBytes::from_static_str(m.status.kafka_name()))
                        .with_transaction_timeout_ms(m.timeout_ms)
                        .with_transaction_start_time_ms(m.txn_start_ms)
                        .with_producer_id(ProducerId(m.producer_id))
                        .with_producer_epoch(m.producer_epoch)
                        .with_topics(
                            topics
                                .into_iter()
                                .map(|(name, partitions)| {
                                    TopicData::default()
                                        .with_topic(TopicName(StrBytes::from_string(name)))
                                        .with_partitions(partitions)
                                })
                                .collect(),
                        )
                }
                Ok(None) | Err(codes::INVALID_PRODUCER_ID_MAPPING) => {
                    state.with_error_code(codes::TRANSACTIONAL_ID_NOT_FOUND)
                }
                Err(code) => state.with_error_code(code),
            });
        }
        reply(
            &header,
            &DescribeTransactionsResponse::default().with_transaction_states(states),
        )
    })
}
