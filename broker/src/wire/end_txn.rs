//! EndTxn: commit or abort the producer's open transaction. Answered once
//! the decision is stored; the markers follow.

use std::sync::Arc;

use kafka_protocol::messages::EndTxnResponse;
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::EndTxnRequest;

use super::dispatch::ResponseFuture;
use super::encode::reply;
use super::{BrokerCtx, txn_route};
use crate::txn::TxnMsg;
use crate::txn::state::Producer;

pub fn start(
    ctx: &Arc<BrokerCtx>,
    header: RequestHeader,
    request: EndTxnRequest,
) -> ResponseFuture {
    let ctx = ctx.clone();
    Box::pin(async move {
        let producer = Producer {
            id: request.producer_id,
            epoch: request.producer_epoch,
        };
        let (commit, kip588) = (request.committed, header.api_version >= 2);
        let code = txn_route::ask(&ctx, &request.transactional_id, false, |reply| {
            TxnMsg::EndTxn {
                producer,
                commit,
                kip588,
                reply,
            }
        })
        .await
        .unwrap_or_else(|code| code);
        ctx.metrics.error(header.api_key, code);
        reply(&header, &EndTxnResponse::default().with_error_code(code))
    })
}
