//! ListTransactions: the transactional ids this broker coordinates, filtered
//! by state, producer id and (v1) how long their transaction has run.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{ListTransactionsResponse, ProducerId, TransactionalId};
use kafka_protocol::protocol::StrBytes;
use ractor::ActorRef;
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::ListTransactionsRequest;

use super::dispatch::ResponseFuture;
use super::encode::reply;
use super::{BrokerCtx, errors};
use crate::group::coordinator::now_ms;
use crate::limits::ACTOR_CALL_TIMEOUT_MS;
use crate::txn::TxnManagerMsg;
use crate::txn::state::{TxnStatus, codes};

/// Every state Kafka names (unknown filters are echoed back).
const STATES: [TxnStatus; 6] = [
    TxnStatus::Empty,
    TxnStatus::Ongoing,
    TxnStatus::PrepareCommit,
    TxnStatus::PrepareAbort,
    TxnStatus::CompleteCommit,
    TxnStatus::CompleteAbort,
];

pub fn start(
    ctx: &Arc<BrokerCtx>,
    header: RequestHeader,
    request: ListTransactionsRequest,
) -> ResponseFuture {
    let ctx = ctx.clone();
    Box::pin(async move {
        let unknown: Vec<StrBytes> = request
            .state_filters
            .iter()
            .filter(|f| !STATES.iter().any(|s| s.kafka_name() == f.as_str()))
            .map(|f| StrBytes::from_string(f.clone()))
            .collect();
        let listed = match ractor::registry::where_is(ctx.txn_manager_name.clone()) {
            Some(manager) => {
                let manager: ActorRef<TxnManagerMsg> = manager.into();
                let wait = Some(Duration::from_millis(ACTOR_CALL_TIMEOUT_MS));
                match manager
                    .call(|reply| TxnManagerMsg::List { reply }, wait)
                    .await
                {
                    Ok(ractor::rpc::CallResult::Success(all)) => Ok(all),
                    _ => Err(codes::COORDINATOR_NOT_AVAILABLE),
                }
            }
            None => Err(codes::COORDINATOR_NOT_AVAILABLE),
        };
        let now = now_ms();
        let body = match listed {
            Ok(all) => {
                let states = all
                    .into_iter()
                    .filter(|(_, m)| {
                        request.state_filters.is_empty()
                            || request
                                .state_filters
                                .iter()
                                .any(|f| f == m.status.kafka_name())
                    })
                    .filter(|(_, m)| {
                        request.producer_id_filters.is_empty()
                            || request.producer_id_filters.contains(&m.producer_id)
                    })
                    // v1 (KIP-994): only transactions running longer than this.
                    .filter(|(_, m)| {
                        request.duration_filter < 0
                            || (m.status == TxnStatus::Ongoing
                                && now - m.txn_start_ms > request.duration_filter)
                    })
                    .map(|(id, m)| {
                        TransactionState::default()
                            .with_transactional_id(TransactionalId(StrBytes::from_string(id)))
                            .with_producer_id(ProducerId(m.producer_id))
                            .with_transaction_state(StrBytes::from_static_str(
                                m.status.kafka_name(),
                            ))
                    })
                    .collect();
                ListTransactionsResponse::default()
                    .with_error_code(errors::NONE)
                    .with_transaction_states(states)
            }
            Err(code) => ListTransactionsResponse::default().with_error_code(code),
        };
        reply(&header, &body.with_unknown_state_filters(unknown))
    })
}
