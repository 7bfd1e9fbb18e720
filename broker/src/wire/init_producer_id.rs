//! InitProducerId: a fresh producer id (epoch 0) for an idempotent producer.
//!
//! As in Kafka, a producer without a transactional id always gets a new id, also
//! when it names its current one (v3+, KIP-360): its partitions then see a new
//! producer and accept its first sequence. A transactional producer asks its
//! transaction coordinator, which bumps the id's epoch (fencing older
//! instances) and aborts a transaction they left open.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{InitProducerIdResponse, ProducerId};
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::InitProducerIdRequest;

use super::dispatch::ResponseFuture;
use super::encode::reply;
use super::{BrokerCtx, errors, txn_route};
use crate::txn::TxnMsg;
use crate::txn::state::{Producer, codes};

/// PRODUCER_FENCED as a request version can carry it.
fn fenced_for(version: i16, code: i16) -> i16 {
    if code == codes::PRODUCER_FENCED && version < 4 {
        codes::INVALID_PRODUCER_EPOCH
    } else {
        code
    }
}

pub fn start(
    ctx: &Arc<BrokerCtx>,
    header: RequestHeader,
    request: InitProducerIdRequest,
) -> ResponseFuture {
    let ctx = ctx.clone();
    Box::pin(async move {
        let answer = |error_code, (producer_id, producer_epoch): (i64, i16)| {
            InitProducerIdResponse::default()
                .with_error_code(error_code)
                .with_producer_id(ProducerId(producer_id))
                .with_producer_epoch(producer_epoch)
        };
        let body = if let Some(transactional_id) = &request.transactional_id {
            let asker = (request.producer_id >= 0).then_some(Producer {
                id: request.producer_id,
                epoch: request.producer_epoch,
            });
            let timeout_ms = request.transaction_timeout_ms;
            let asked = txn_route::ask(&ctx, transactional_id, true, |reply| {
                TxnMsg::InitProducerId {
                    timeout_ms,
                    asker,
                    reply,
                }
            })
            .await
            .and_then(|answer| answer);
            match asked {
                Ok(producer) => answer(errors::NONE, producer),
                // KIP-588: clients before InitProducerId v4 know only
                // INVALID_PRODUCER_EPOCH.
                Err(code) => answer(fenced_for(header.api_version, code), (-1, -1)),
            }
        } else {
            match ctx.next_producer_id().await {
                Some(id) => answer(errors::NONE, (id, 0)),
                None => answer(ResponseError::CoordinatorNotAvailable.code(), (-1, -1)),
            }
        };
        ctx.metrics.error(header.api_key, body.error_code);
        reply(&header, &body)
    })
}
