//! InitProducerId: a fresh producer id (epoch 0) for an idempotent producer.
//!
//! As in Kafka, a producer without a transactional id always gets a new id, also
//! when it names its current one (v3+, KIP-360): its partitions then see a new
//! producer and accept its first sequence. Transactions are not served.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{InitProducerIdResponse, ProducerId};
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::InitProducerIdRequest;

use super::dispatch::ResponseFuture;
use super::encode::reply;
use super::{BrokerCtx, errors};

pub fn start(
    ctx: &Arc<BrokerCtx>,
    header: RequestHeader,
    request: InitProducerIdRequest,
) -> ResponseFuture {
    let ctx = ctx.clone();
    Box::pin(async move {
        let answer = |error_code, producer_id| {
            InitProducerIdResponse::default()
                .with_error_code(error_code)
                .with_producer_id(ProducerId(producer_id))
                .with_producer_epoch(if producer_id >= 0 { 0 } else { -1 })
        };
        let body = if request.transactional_id.is_some() {
            tracing::debug!(transactional_id = ?request.transactional_id, "transactions are not supported");
            answer(errors::INVALID_REQUEST, -1)
        } else {
            match ctx.next_producer_id().await {
                Some(id) => answer(errors::NONE, id),
                None => answer(ResponseError::CoordinatorNotAvailable.code(), -1),
            }
        };
        reply(&header, &body)
    })
}
