//! Produce: appends are cast to partition actors during dispatch (request order is
//! kept per partition), replies are awaited in the spawned phase.

use std::sync::Arc;
use std::time::Duration;

use bytes::BufMut;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::ProduceResponse;
use kafka_protocol::messages::TopicName;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::protocol::StrBytes;
use ractor::RpcReplyPort;
use ractor::concurrency::{OneshotReceiver, oneshot};
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::ProduceRequest;

use super::dispatch::{Outcome, ResponseFuture};
use super::encode::{begin_frame, finish_frame, put_string, reply};
use super::{BrokerCtx, errors, txn_verify};
use crate::limits::ACTOR_CALL_TIMEOUT_MS;
use crate::metrics::record_count;
use crate::partition::{AppendOutcome, PartitionEntry, PartitionError, PartitionMsg, TxnCheck};
use crate::txn::state::Producer;

/// Produce's API key.
const API_KEY: i16 = 0;

/// First Produce version kafka-protocol can encode; older ones are written by hand.
const FIRST_ENCODABLE_VERSION: i16 = 3;

/// One partition's answer, before it is encoded for the request's version.
struct PartitionResult {
    /// Partition index.
    index: i32,
    /// Kafka error code.
    error_code: i16,
    /// Offset of the first appended record, or -1.
    base_offset: i64,
    /// Broker append time for LogAppendTime topics, else -1.
    log_append_time_ms: i64,
    /// The partition's log start offset, or -1.
    log_start_offset: i64,
    /// Human-readable detail (v8+).
    error_message: Option<String>,
}

impl PartitionResult {
    fn error(index: i32, error_code: i16, message: Option<String>) -> Self {
        Self {
            index,
            error_code,
            base_offset: -1,
            log_append_time_ms: -1,
            log_start_offset: -1,
            error_message: message,
        }
    }

    fn from_append(index: i32, result: Result<AppendOutcome, PartitionError>) -> Self {
        match result {
            Ok(ok) => Self {
                index,
                error_code: errors::NONE,
                base_offset: ok.base_offset,
                log_append_time_ms: ok.log_append_time_ms,
                log_start_offset: ok.log_start_offset,
                error_message: None,
            },
            Err(e) => Self::error(index, errors::partition_error_code(&e), Some(e.to_string())),
        }
    }
}

/// A partition's answer: known now, or awaited from its actor.
enum Pending {
    Ready(PartitionResult),
    Waiting(i32, OneshotReceiver<Result<AppendOutcome, PartitionError>>),
}

/// What an append needs to be sent again after its transaction is verified.
struct Retry {
    transactional_id: Option<String>,
    records: bytes::Bytes,
    acks: i16,
}

/// Rounds of verification one batch may take: a second guard means a marker
/// ended the transaction meanwhile, and the producer retries.
const VERIFICATION_ROUNDS: usize = 2;

pub fn start(
    ctx: &Arc<BrokerCtx>,
    header: RequestHeader,
    request: ProduceRequest,
) -> ResponseFuture {
    let acks = request.acks;
    let refusal = refusal(&request);
    let check = if ctx.config.transaction_partition_verification_enable {
        TxnCheck::Required
    } else {
        TxnCheck::Off
    };
    let transactional_id = request.transactional_id.clone();
    let image = ctx.image();
    let mut unknown_topics = Vec::new();
    let mut topics = Vec::with_capacity(request.topic_data.len());
    for topic in request.topic_data {
        let known = image.topic(&topic.name).is_some();
        if !known && ctx.config.auto_create_topics {
            unknown_topics.push(topic.name.clone());
        }
        let pending = topic
            .partition_data
            .into_iter()
            .map(|p| match (refusal, p.records) {
                (Some(code), _) => (
                    Pending::Ready(PartitionResult::error(p.index, code, None)),
                    (0, 0),
                    None,
                ),
                (None, None) => (
                    Pending::Ready(PartitionResult::error(
                        p.index,
                        ResponseError::CorruptMessage.code(),
                        Some("null record set".into()),
                    )),
                    (0, 0),
                    None,
                ),
                (None, Some(records)) => {
                    // Counted once the append succeeds.
                    let appended = (record_count(&records), records.len() as u64);
                    let retry = Retry {
                        transactional_id: transactional_id.clone(),
                        records: records.clone(),
                        acks,
                    };
                    let pending =
                        cast_append(ctx, &topic.name, known, p.index, (records, acks), check);
                    (pending, appended, Some(retry))
                }
            })
            .collect::<Vec<_>>();
        topics.push((topic.name, pending));
    }
    let ctx = ctx.clone();
    Box::pin(async move {
        if !unknown_topics.is_empty() {
            // Answered UNKNOWN_TOPIC_OR_PARTITION now (retriable); the client's
            // retry finds the topic.
            let ctx = ctx.clone();
            tokio::spawn(async move { ctx.auto_create(unknown_topics).await });
        }
        let mut results = Vec::with_capacity(topics.len());
        for (name, pending) in topics {
            let mut partitions = Vec::with_capacity(pending.len());
            for (p, (records, bytes), retry) in pending {
                let result = resolve(&ctx, &name, p, retry).await;
                if result.error_code == errors::NONE {
                    ctx.metrics.produced(&name, records, bytes);
                } else {
                    ctx.metrics.error(API_KEY, result.error_code);
                }
                partitions.push(result);
            }
            results.push((name, partitions));
        }
        respond(&header, acks, results)
    })
}

/// A request-wide reason to refuse every partition.
fn refusal(request: &ProduceRequest) -> Option<i16> {
    if !(-1..=1).contains(&request.acks) {
        return Some(ResponseError::InvalidRequiredAcks.code());
    }
    None
}

fn cast_append(
    ctx: &BrokerCtx,
    topic: &str,
    topic_known: bool,
    index: i32,
    (records, acks): (bytes::Bytes, i16),
    check: TxnCheck,
) -> Pending {
    // Only the leader the image names takes writes: a broker fenced while
    // paused must not append to a partition it no longer leads.
    let led_elsewhere = ctx
        .image()
        .partition(topic, index)
        .is_some_and(|p| p.leader != ctx.config.node_id);
    if led_elsewhere {
        return Pending::Ready(PartitionResult::error(
            index,
            ResponseError::NotLeaderOrFollower.code(),
            None,
        ));
    }
    let handle = match ctx.partitions.lookup(topic, index) {
        Some(PartitionEntry::Online(handle)) => handle,
        Some(PartitionEntry::Offline) => {
            return Pending::Ready(PartitionResult::error(index, errors::storage_error(), None));
        }
        None if topic_known && partition_exists(ctx, topic, index) => {
            return Pending::Ready(PartitionResult::error(
                index,
                ResponseError::NotLeaderOrFollower.code(),
                None,
            ));
        }
        None => {
            return Pending::Ready(PartitionResult::error(
                index,
                errors::unknown_topic_or_partition(),
                None,
            ));
        }
    };
    let (tx, rx) = oneshot();
    let msg = PartitionMsg::Append {
        records,
        acks,
        check,
        reply: RpcReplyPort::from(tx),
    };
    match handle.actor.cast(msg) {
        Ok(()) => Pending::Waiting(index, rx),
        Err(_) => Pending::Ready(PartitionResult::error(
            index,
            ResponseError::NotLeaderOrFollower.code(),
            None,
        )),
    }
}

fn partition_exists(ctx: &BrokerCtx, topic: &str, index: i32) -> bool {
    ctx.image()
        .topic(topic)
        .is_some_and(|t| index >= 0 && (index as usize) < t.partitions.len())
}

/// Awaits an append; one whose batch would open a transaction is verified
/// with the transaction's coordinator and sent again under its guard.
async fn resolve(
    ctx: &Arc<BrokerCtx>,
    topic: &str,
    mut pending: Pending,
    retry: Option<Retry>,
) -> PartitionResult {
    let mut rounds = 0;
    loop {
        let (index, result) = match answer(pending).await {
            Ok(answer) => answer,
            Err(done) => return done,
        };
        let Err(PartitionError::NeedsVerification {
            producer_id,
            epoch,
            guard,
        }) = result
        else {
            return PartitionResult::from_append(index, result);
        };
        rounds += 1;
        let retry = match retry.as_ref() {
            Some(retry) if rounds <= VERIFICATION_ROUNDS => retry,
            _ => {
                return PartitionResult::error(
                    index,
                    ResponseError::NotEnoughReplicas.code(),
                    Some("the transaction ended while the batch was verified".into()),
                );
            }
        };
        let Some(transactional_id) = retry.transactional_id.as_deref() else {
            // Kafka refuses transactional records without a transactional id.
            return PartitionResult::error(
                index,
                ResponseError::TransactionalIdAuthorizationFailed.code(),
                Some("transactional records need a transactional id".into()),
            );
        };
        let producer = Producer {
            id: producer_id,
            epoch,
        };
        let code = txn_verify::partition(ctx, transactional_id, producer, topic, index).await;
        if code != errors::NONE {
            tracing::debug!(
                topic,
                partition = index,
                producer_id,
                code,
                "transactional batch refused by its coordinator"
            );
            let message = (code == ResponseError::InvalidTxnState.code())
                .then(|| "Partition was not added to the transaction".to_owned());
            return PartitionResult::error(index, code, message);
        }
        let records = (retry.records.clone(), retry.acks);
        pending = cast_append(ctx, topic, true, index, records, TxnCheck::Verified(guard));
    }
}

/// An append's answer from its actor, or the result that stands for it.
async fn answer(
    pending: Pending,
) -> Result<(i32, Result<AppendOutcome, PartitionError>), PartitionResult> {
    match pending {
        Pending::Ready(result) => Err(result),
        Pending::Waiting(index, rx) => {
            let wait = tokio::time::timeout(Duration::from_millis(ACTOR_CALL_TIMEOUT_MS), rx).await;
            match wait {
                Ok(Ok(result)) => Ok((index, result)),
                // The partition actor died with our reply port (it is restarting).
                Ok(Err(_)) => Err(PartitionResult::error(
                    index,
                    ResponseError::NotLeaderOrFollower.code(),
                    None,
                )),
                Err(_) => Err(PartitionResult::error(
                    index,
                    ResponseError::RequestTimedOut.code(),
                    None,
                )),
            }
        }
    }
}

fn respond(
    header: &RequestHeader,
    acks: i16,
    results: Vec<(String, Vec<PartitionResult>)>,
) -> Outcome {
    if acks == 0 {
        // No response exists for acks=0; a failure closes the connection so the
        // client notices and refreshes metadata.
        let failed = results
            .iter()
            .flat_map(|(_, ps)| ps)
            .find(|p| p.error_code != errors::NONE);
        return match failed {
            Some(p) => Outcome::Close(format!("acks=0 produce failed with error {}", p.error_code)),
            None => Outcome::Silent,
        };
    }
    if header.api_version < FIRST_ENCODABLE_VERSION {
        return respond_legacy(header, &results);
    }
    let responses = results
        .into_iter()
        .map(|(name, partitions)| {
            TopicProduceResponse::default()
                .with_name(TopicName(StrBytes::from_string(name)))
                .with_partition_responses(
                    partitions
                        .into_iter()
                        .map(encode_partition(header.api_version))
                        .collect(),
                )
        })
        .collect();
    reply(
        header,
        &ProduceResponse::default().with_responses(responses),
    )
}

fn encode_partition(version: i16) -> impl Fn(PartitionResult) -> PartitionProduceResponse {
    move |p| {
        let message = if version >= 8 {
            p.error_message.map(StrBytes::from_string)
        } else {
            None
        };
        PartitionProduceResponse::default()
            .with_index(p.index)
            .with_error_code(p.error_code)
            .with_base_offset(p.base_offset)
            .with_log_append_time_ms(p.log_append_time_ms)
            .with_log_start_offset(if version >= 5 { p.log_start_offset } else { -1 })
            .with_error_message(message)
    }
}

/// Produce response v0–2, which kafka-protocol 0.18 cannot encode.
fn respond_legacy(header: &RequestHeader, results: &[(String, Vec<PartitionResult>)]) -> Outcome {
    let v = header.api_version;
    let mut out = begin_frame(header.correlation_id, false);
    out.put_i32(results.len() as i32);
    for (name, partitions) in results {
        put_string(&mut out, name);
        out.put_i32(partitions.len() as i32);
        for p in partitions {
            out.put_i32(p.index);
            out.put_i16(p.error_code);
            out.put_i64(p.base_offset);
            if v >= 2 {
                out.put_i64(p.log_append_time_ms);
            }
        }
    }
    if v >= 1 {
        out.put_i32(0); // throttle_time_ms
    }
    finish_frame(&mut out);
    Outcome::Reply(out)
}
