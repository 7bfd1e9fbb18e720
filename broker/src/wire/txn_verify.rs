//! KIP-890 part 1: before a transactional batch opens a transaction on a
//! partition, its leader asks the transaction's coordinator whether the
//! partition is in the producer's ongoing transaction — directly when this
//! broker coordinates the id, otherwise with AddPartitionsToTxn v4
//! `verify_only` over the inter-broker listener, as Kafka's
//! `AddPartitionsToTxnManager` does.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, ProducerId, TopicName, TransactionalId};
use kafka_protocol::protocol::StrBytes;
use weir_client::protocol::ApiKey;
use weir_client::protocol::responses::AddPartitionsToTxnResponse;

use super::{BrokerCtx, txn_route};
use crate::txn::TxnMsg;
use crate::txn::log::{TXN_STATE_TOPIC, partition_for};
use crate::txn::state::{Producer, TxnStatus, codes};

/// The batched, broker-to-broker AddPartitionsToTxn version (Kafka 3.9's).
const VERIFY_VERSION: i16 = 4;
/// A coordinator's answer is given up on after this.
const VERIFY_TIMEOUT_MS: u64 = 5_000;

/// Whether `partitions` are in `producer`'s ongoing transaction at
/// `transactional_id`'s coordinator: NONE, INVALID_TXN_STATE, or the
/// coordinator's error.
pub async fn local(
    ctx: &BrokerCtx,
    transactional_id: &str,
    producer: Producer,
    partitions: &[(String, i32)],
) -> i16 {
    match txn_route::ask(ctx, transactional_id, false, |reply| TxnMsg::Describe {
        reply,
    })
    .await
    {
        Ok(Some(m))
            if m.producer_id == producer.id
                && m.producer_epoch == producer.epoch
                && m.status == TxnStatus::Ongoing
                && partitions.iter().all(|p| m.partitions.contains(p)) =>
        {
            codes::NONE
        }
        Ok(_) => codes::INVALID_TXN_STATE,
        Err(code) => code,
    }
}

/// The produce path's verification of one partition, wherever the
/// coordinator is. Errors are as a producer must see them: INVALID_TXN_STATE
/// when the partition is not in the transaction, and NOT_ENOUGH_REPLICAS
/// (retriable for every client, as Kafka answers) when the coordinator could
/// not be asked.
pub async fn partition(
    ctx: &Arc<BrokerCtx>,
    transactional_id: &str,
    producer: Producer,
    topic: &str,
    index: i32,
) -> i16 {
    let partitions = [(topic.to_owned(), index)];
    let image = ctx.image();
    let Some(txn_topic) = image.topic(TXN_STATE_TOPIC) else {
        // No coordinator has ever run: there is no transaction to be in.
        return codes::INVALID_TXN_STATE;
    };
    let txn_partition = partition_for(transactional_id, txn_topic.partitions.len() as i32);
    let coordinator = txn_topic
        .partitions
        .get(txn_partition as usize)
        .map(|p| p.leader)
        .unwrap_or(-1);
    let code = if coordinator == ctx.config.node_id {
        local(ctx, transactional_id, producer, &partitions).await
    } else if coordinator >= 0 {
        remote(ctx, coordinator, transactional_id, producer, &partitions).await
    } else {
        codes::COORDINATOR_NOT_AVAILABLE
    };
    match code {
        codes::NONE
        | codes::INVALID_TXN_STATE
        | codes::INVALID_PRODUCER_EPOCH
        | codes::PRODUCER_FENCED => code,
        other => {
            tracing::debug!(
                transactional_id,
                code = other,
                "transaction verification not answered"
            );
            kafka_protocol::ResponseError::NotEnoughReplicas.code()
        }
    }
}

/// Asks `coordinator` with AddPartitionsToTxn v4 `verify_only`.
async fn remote(
    ctx: &Arc<BrokerCtx>,
    coordinator: i32,
    transactional_id: &str,
    producer: Producer,
    partitions: &[(String, i32)],
) -> i16 {
    let timeout = Duration::from_millis(VERIFY_TIMEOUT_MS);
    let listener = ctx.config.inter_broker_listener();
    let image = ctx.image();
    let node = (ctx.config.node_id, coordinator);
    let Some(conn) = ctx.peers.get(&image, node, &listener, timeout).await else {
        return codes::COORDINATOR_NOT_AVAILABLE;
    };
    let topics = partitions
        .iter()
        .map(|(topic, index)| {
            AddPartitionsToTxnTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.clone())))
                .with_partitions(vec![*index])
        })
        .collect();
    let request = AddPartitionsToTxnRequest::default().with_transactions(vec![
        AddPartitionsToTxnTransaction::default()
            .with_transactional_id(TransactionalId(StrBytes::from_string(
                transactional_id.to_owned(),
            )))
            .with_producer_id(ProducerId(producer.id))
            .with_producer_epoch(producer.epoch)
            .with_verify_only(true)
            .with_topics(topics),
    ]);
    let key = ApiKey::AddPartitionsToTxn as i16;
    let call = conn.call(key, VERIFY_VERSION, &request);
    let answer = match tokio::time::timeout(timeout, call).await {
        Ok(Ok(body)) => conn.decode(body, |r| {
            AddPartitionsToTxnResponse::decode_version(r, VERIFY_VERSION)
        }),
        Ok(Err(e)) => Err(e),
        Err(_) => {
            ctx.peers.drop_connection(coordinator);
            return codes::COORDINATOR_NOT_AVAILABLE;
        }
    };
    let response = match answer {
        Ok(response) => response,
        Err(e) => {
            tracing::debug!(coordinator, error = %e, "AddPartitionsToTxn verification failed");
            ctx.peers.drop_connection(coordinator);
            return codes::COORDINATOR_NOT_AVAILABLE;
        }
    };
    if response.error_code != codes::NONE {
        return response.error_code;
    }
    // Every partition asked about must be answered NONE.
    let codes_found: Vec<i16> = response
        .results_by_transaction
        .iter()
        .flat_map(|t| &t.topic_results)
        .flat_map(|t| &t.results_by_partition)
        .map(|p| p.partition_error_code)
        .collect();
    match codes_found.iter().find(|&&c| c != codes::NONE) {
        Some(&code) => code,
        None if codes_found.len() == partitions.len() => codes::NONE,
        None => codes::INVALID_TXN_STATE,
    }
}
