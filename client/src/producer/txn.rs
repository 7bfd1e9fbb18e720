//! Transactions, run as Kafka's Java producer runs them (its
//! `TransactionManager`):
//!
//! - `init_transactions` finds the transactional id's coordinator
//!   (FindCoordinator, key type 1) and takes the id's producer id with a
//!   bumped epoch (InitProducerId), which fences every older producer with the
//!   same transactional id and has the coordinator abort what it left open.
//! - Inside a transaction every batch is transactional (attribute bit 0x10).
//!   Before the first batch of a partition is sent, the partition joins the
//!   transaction (AddPartitionsToTxn, one request for every partition that
//!   joined since the last): the sender holds the partition's batches until
//!   then.
//! - `send_offsets_to_transaction` adds the group's offsets partition
//!   (AddOffsetsToTxn) and commits the offsets to the group coordinator inside
//!   the transaction (TxnOffsetCommit).
//! - `commit_transaction` flushes, then ends the transaction (EndTxn); a
//!   transaction nothing joined ends locally. `abort_transaction` fails the
//!   batches not sent yet, waits for those in flight, and ends it (EndTxn
//!   abort); when a batch had failed for good (its partition's sequence
//!   numbers then have a gap) it bumps the epoch afterwards (KIP-360).
//!
//! Errors: a failed batch or request makes the transaction *abortable*
//! (`commit_transaction` returns the error; `abort_transaction` recovers);
//! fencing (PRODUCER_FENCED, INVALID_PRODUCER_EPOCH from a transaction API)
//! and the coordinator refusing the producer's state are *fatal*: every later
//! call returns that error. Every call is bounded by `max_block`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, EndTxnRequest, FindCoordinatorRequest,
    GroupId, InitProducerIdRequest, ProducerId, TopicName, TransactionalId, TxnOffsetCommitRequest,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{Inner, Producer, ProducerIdentity};
use crate::cluster::Cluster;
use crate::conn::Connection;
use crate::consumer::group::{ConsumerGroupMetadata, TopicPartition};
use crate::error::{ClientError, codes, is_retriable_code};
use crate::protocol::responses::{
    ADD_OFFSETS_TO_TXN_VERSION, ADD_PARTITIONS_TO_TXN_VERSION, AddOffsetsToTxnResponse,
    AddPartitionsToTxnResponse, END_TXN_VERSION, EndTxnResponse, FIND_COORDINATOR_VERSION,
    FindCoordinatorResponse, INIT_PRODUCER_ID_VERSION, InitProducerIdResponse,
    TXN_OFFSET_COMMIT_VERSION, TxnOffsetCommitResponse,
};
use crate::protocol::{ApiKey, DecodeError, Reader};

const FIND_COORDINATOR_KEY: i16 = ApiKey::FindCoordinator as i16;
const INIT_PRODUCER_ID_KEY: i16 = ApiKey::InitProducerId as i16;
const ADD_PARTITIONS_TO_TXN_KEY: i16 = ApiKey::AddPartitionsToTxn as i16;
const ADD_OFFSETS_TO_TXN_KEY: i16 = ApiKey::AddOffsetsToTxn as i16;
const END_TXN_KEY: i16 = ApiKey::EndTxn as i16;
const TXN_OFFSET_COMMIT_KEY: i16 = ApiKey::TxnOffsetCommit as i16;

/// FindCoordinator key types.
const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

/// Tries of one coordinator call (also bounded by `max_block`).
const CALL_ATTEMPTS_MAX: u64 = 60;

/// The wait before retry `attempt`: 20 ms (Java's wait after
/// CONCURRENT_TRANSACTIONS), growing to half a second.
fn backoff(attempt: u64) -> Duration {
    Duration::from_millis(20 * (attempt + 1).min(25))
}

/// Where the producer's transactions stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// `init_transactions` has not succeeded yet.
    Uninitialized,
    /// No transaction open.
    Ready,
    /// `begin_transaction` was called.
    InTransaction,
    /// `commit_transaction` started (a timed-out one is retried by calling it again).
    Committing,
    /// `abort_transaction` started (a timed-out one is retried by calling it again).
    Aborting,
}

/// The open transaction. Lock order: this, then the accumulator, then [`TxnErrors`].
pub(crate) struct TxnState {
    pub(crate) phase: Phase,
    /// Partitions the coordinator has in the open transaction, by topic (a
    /// snapshot the sender takes before it locks the accumulator).
    pub(crate) added: Arc<HashMap<String, HashSet<i32>>>,
    /// Partitions written to in this transaction and not added yet.
    pub(crate) pending: BTreeSet<TopicPartition>,
    /// An AddPartitionsToTxn is in flight.
    pub(crate) adding: bool,
    /// Partitions or offsets were added: the coordinator has the transaction open.
    pub(crate) started: bool,
    /// An Add request went out whose outcome is unknown: the coordinator may
    /// have the transaction open.
    pub(crate) maybe_started: bool,
}

impl TxnState {
    fn is_added(&self, topic: &str, partition: i32) -> bool {
        self.added
            .get(topic)
            .is_some_and(|ps| ps.contains(&partition))
    }

    /// A new transaction: nothing added.
    fn clear(&mut self) {
        self.added = Arc::new(HashMap::new());
        self.pending.clear();
        self.started = false;
        self.maybe_started = false;
    }
}

/// Errors of the open transaction, and the fatal one. A leaf lock: taken
/// under the accumulator's by the sender.
#[derive(Default)]
pub(crate) struct TxnErrors {
    /// The transaction can only be aborted (a batch or a request failed).
    abortable: Option<ClientError>,
    /// The producer cannot be used any more (fenced).
    fatal: Option<ClientError>,
    /// A batch failed for good: its partition's sequence numbers have a gap,
    /// so the epoch is bumped once the transaction is aborted.
    needs_bump: bool,
}

/// A transactional producer's state.
pub(crate) struct Txn {
    pub(crate) id: String,
    pub(crate) state: Mutex<TxnState>,
    errors: Mutex<TxnErrors>,
    /// One of init/commit/abort/send_offsets at a time.
    op: tokio::sync::Mutex<()>,
    /// The transaction coordinator, once found.
    coordinator: Mutex<Option<Arc<Connection>>>,
    /// Group coordinators, by group id.
    group_coordinators: Mutex<HashMap<String, Arc<Connection>>>,
    /// An AddPartitionsToTxn finished.
    added_notify: Notify,
}

/// Which coordinator a call goes to.
#[derive(Clone, Copy)]
enum Target<'a> {
    Transaction,
    Group(&'a str),
}

/// What an error of a transaction call leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handling {
    /// Try again (after a backoff).
    Retry,
    /// Find the coordinator again, then try again.
    Rediscover,
    /// The transaction must be aborted.
    Abortable,
    /// The producer cannot go on.
    Fatal,
}

/// How a transaction API's error code is handled (Java's handlers).
fn handling(code: i16) -> Handling {
    match code {
        codes::COORDINATOR_NOT_AVAILABLE | codes::NOT_COORDINATOR => Handling::Rediscover,
        codes::COORDINATOR_LOAD_IN_PROGRESS
        | codes::CONCURRENT_TRANSACTIONS
        | codes::REQUEST_TIMED_OUT
        | codes::UNKNOWN_TOPIC_OR_PARTITION
        | codes::OPERATION_NOT_ATTEMPTED => Handling::Retry,
        codes::PRODUCER_FENCED
        | codes::INVALID_PRODUCER_EPOCH
        | codes::INVALID_TXN_STATE
        | codes::INVALID_PRODUCER_ID_MAPPING
        | codes::INVALID_TRANSACTION_TIMEOUT
        | codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED
        | codes::TRANSACTIONAL_ID_NOT_FOUND
        // UNSUPPORTED_VERSION, UNSUPPORTED_FOR_MESSAGE_FORMAT.
        | 35
        | 43 => Handling::Fatal,
        c if is_retriable_code(c) => Handling::Retry,
        _ => Handling::Abortable,
    }
}

/// How an error of a transaction call is handled.
fn handling_of(error: &ClientError) -> Handling {
    match error {
        ClientError::Kafka { code, .. } => handling(*code),
        ClientError::Io { .. } | ClientError::Disconnected(_) | ClientError::Timeout(_) => {
            Handling::Rediscover
        }
        ClientError::UnsupportedVersion { .. } => Handling::Fatal,
        _ => Handling::Abortable,
    }
}

/// TxnOffsetCommit: a member no longer in the generation cannot commit
/// (Java's CommitFailedException, abortable).
fn offset_commit_handling(error: &ClientError) -> Handling {
    match error.code() {
        Some(codes::UNKNOWN_MEMBER_ID | codes::ILLEGAL_GENERATION | codes::FENCED_INSTANCE_ID) => {
            Handling::Abortable
        }
        _ => handling_of(error),
    }
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

fn state_error(message: &str) -> ClientError {
    ClientError::TransactionState(message.to_owned())
}

impl Txn {
    pub(crate) fn new(id: String) -> Self {
        Self {
            id,
            state: Mutex::new(TxnState {
                phase: Phase::Uninitialized,
                added: Arc::new(HashMap::new()),
                pending: BTreeSet::new(),
                adding: false,
                started: false,
                maybe_started: false,
            }),
            errors: Mutex::new(TxnErrors::default()),
            op: tokio::sync::Mutex::new(()),
            coordinator: Mutex::new(None),
            group_coordinators: Mutex::new(HashMap::new()),
            added_notify: Notify::new(),
        }
    }

    /// The fatal error, if the producer has one.
    fn fatal(&self) -> Option<ClientError> {
        self.errors.lock().fatal.clone()
    }

    fn check_fatal(&self) -> Result<(), ClientError> {
        self.fatal().map_or(Ok(()), Err)
    }

    /// The error that stops the open transaction (fatal first), if any.
    pub(crate) fn error(&self) -> Option<ClientError> {
        let errors = self.errors.lock();
        errors.fatal.clone().or_else(|| errors.abortable.clone())
    }

    /// Makes `error` the producer's fatal error (the first one stays) and
    /// returns it, worded so the application knows the producer is done.
    fn set_fatal(&self, error: &ClientError) -> ClientError {
        let mut errors = self.errors.lock();
        if errors.fatal.is_none() {
            let (code, message) = match error {
                ClientError::Kafka { code, message } => (*code, message.clone()),
                other => (-1, Some(other.to_string())),
            };
            let what = if error.is_fenced() {
                "fenced by a newer producer with the same transactional id"
            } else {
                "in a state the transaction coordinator refuses"
            };
            let detail = message.map(|m| format!(" ({m})")).unwrap_or_default();
            tracing::warn!(transactional_id = %self.id, error = %error, "transactional producer failed for good");
            errors.fatal = Some(ClientError::Kafka {
                code,
                message: Some(format!(
                    "transactional producer {:?} is {what}{detail}; it cannot be used any more, close it",
                    self.id
                )),
            });
        }
        errors.fatal.clone().unwrap_or_else(|| error.clone())
    }

    /// Makes the open transaction abortable with `error` (the first one stays).
    fn set_abortable(&self, error: &ClientError) {
        let mut errors = self.errors.lock();
        if errors.abortable.is_none() {
            tracing::debug!(transactional_id = %self.id, error = %error, "transaction must be aborted");
            errors.abortable = Some(error.clone());
        }
    }

    /// A failed call's error, recorded as `handling` says; returns what the
    /// application gets.
    fn escalate(&self, error: ClientError, handling: Handling) -> ClientError {
        match handling {
            Handling::Fatal => self.set_fatal(&error),
            Handling::Abortable => {
                self.set_abortable(&error);
                error
            }
            Handling::Retry | Handling::Rediscover => error,
        }
    }

    /// A batch of the open transaction failed for good.
    pub(crate) fn batch_failed(&self, error: &ClientError) {
        if error.code() == Some(codes::PRODUCER_FENCED) {
            self.set_fatal(error);
            return;
        }
        let mut errors = self.errors.lock();
        errors.needs_bump = true;
        if errors.abortable.is_none() {
            errors.abortable = Some(error.clone());
        }
    }

    /// Refuses a send outside an open, healthy transaction.
    pub(crate) fn check_send(&self, state: &TxnState) -> Result<(), ClientError> {
        if let Some(e) = self.error() {
            return Err(e);
        }
        match state.phase {
            Phase::InTransaction => Ok(()),
            Phase::Uninitialized => Err(state_error(
                "a transactional producer sends only after init_transactions",
            )),
            Phase::Ready => Err(state_error(
                "a transactional producer sends only inside a transaction (begin_transaction)",
            )),
            Phase::Committing | Phase::Aborting => Err(state_error(
                "the transaction is being completed: no more records can join it",
            )),
        }
    }

    /// Notes the partition of a record appended in the open transaction.
    pub(crate) fn note_partition(state: &mut TxnState, topic: &str, partition: i32) {
        if !state.is_added(topic, partition) {
            state.pending.insert((topic.to_owned(), partition));
        }
    }

    async fn find(
        &self,
        cluster: &Cluster,
        target: Target<'_>,
    ) -> Result<Arc<Connection>, ClientError> {
        let (key, key_type, apis): (&str, i8, &[(i16, &'static str, i16)]) = match target {
            Target::Transaction => (
                &self.id,
                KEY_TYPE_TRANSACTION,
                &[
                    (
                        INIT_PRODUCER_ID_KEY,
                        "InitProducerId",
                        INIT_PRODUCER_ID_VERSION,
                    ),
                    (
                        ADD_PARTITIONS_TO_TXN_KEY,
                        "AddPartitionsToTxn",
                        ADD_PARTITIONS_TO_TXN_VERSION,
                    ),
                    (
                        ADD_OFFSETS_TO_TXN_KEY,
                        "AddOffsetsToTxn",
                        ADD_OFFSETS_TO_TXN_VERSION,
                    ),
                    (END_TXN_KEY, "EndTxn", END_TXN_VERSION),
                ],
            ),
            Target::Group(group) => (
                group,
                KEY_TYPE_GROUP,
                &[(
                    TXN_OFFSET_COMMIT_KEY,
                    "TxnOffsetCommit",
                    TXN_OFFSET_COMMIT_VERSION,
                )],
            ),
        };
        let conn = find_coordinator(cluster, key, key_type).await?;
        for &(api, name, version) in apis {
            conn.check_version(api, name, version)?;
        }
        Ok(conn)
    }

    /// The coordinator's connection, found if need be.
    async fn connection(
        &self,
        cluster: &Cluster,
        target: Target<'_>,
    ) -> Result<Arc<Connection>, ClientError> {
        let cached = match target {
            Target::Transaction => self.coordinator.lock().clone(),
            Target::Group(g) => self.group_coordinators.lock().get(g).cloned(),
        };
        if let Some(c) = cached
            && !c.is_closed()
        {
            return Ok(c);
        }
        let conn = self.find(cluster, target).await?;
        match target {
            Target::Transaction => *self.coordinator.lock() = Some(conn.clone()),
            Target::Group(g) => {
                self.group_coordinators
                    .lock()
                    .insert(g.to_owned(), conn.clone());
            }
        }
        Ok(conn)
    }

    fn forget(&self, target: Target<'_>) {
        match target {
            Target::Transaction => *self.coordinator.lock() = None,
            Target::Group(g) => {
                self.group_coordinators.lock().remove(g);
            }
        }
    }

    /// One request to a coordinator, retried (bounded by `deadline` and
    /// [`CALL_ATTEMPTS_MAX`]) while `classify` says so. Returns the answer
    /// whose `code_of` is 0, or the last error with its handling.
    #[allow(clippy::too_many_arguments)]
    async fn call<R: Encodable, T>(
        &self,
        cluster: &Cluster,
        target: Target<'_>,
        api: (i16, i16),
        request: &R,
        decode: impl Fn(&mut Reader) -> Result<T, DecodeError>,
        code_of: impl Fn(&T) -> i16,
        classify: impl Fn(&ClientError) -> Handling,
        deadline: Instant,
    ) -> Result<T, (ClientError, Handling)> {
        let (key, version) = api;
        let mut attempt = 0u64;
        loop {
            let answer = async {
                let conn = self.connection(cluster, target).await?;
                let remaining = deadline.saturating_duration_since(Instant::now());
                let body = tokio::time::timeout(remaining, conn.call(key, version, request))
                    .await
                    .map_err(|_| ClientError::Timeout(remaining))??;
                let response = conn.decode(body, &decode)?;
                match ClientError::from_code(code_of(&response), None) {
                    Some(e) => Err(e),
                    None => Ok(response),
                }
            }
            .await;
            let error = match answer {
                Ok(response) => return Ok(response),
                Err(e) => e,
            };
            let handling = classify(&error);
            match handling {
                Handling::Rediscover => self.forget(target),
                Handling::Retry => {}
                Handling::Abortable | Handling::Fatal => return Err((error, handling)),
            }
            let pause = backoff(attempt);
            attempt += 1;
            if attempt >= CALL_ATTEMPTS_MAX || Instant::now() + pause >= deadline {
                tracing::debug!(transactional_id = %self.id, api = key, error = %error, attempt, "transaction call gave up");
                return Err((error, handling));
            }
            tracing::debug!(transactional_id = %self.id, api = key, error = %error, attempt, "transaction call retried");
            tokio::time::sleep(pause).await;
        }
    }
}

/// The connection to the coordinator of `key` (key type 0: a group, 1: a
/// transactional id), as FindCoordinator v3 names it. One try: the caller
/// retries what is retriable.
pub(crate) async fn find_coordinator(
    cluster: &Cluster,
    key: &str,
    key_type: i8,
) -> Result<Arc<Connection>, ClientError> {
    let any = cluster.any().await?;
    any.check_version(
        FIND_COORDINATOR_KEY,
        "FindCoordinator",
        FIND_COORDINATOR_VERSION,
    )?;
    let request = FindCoordinatorRequest::default()
        .with_key(str_bytes(key))
        .with_key_type(key_type);
    let body = any
        .call(FIND_COORDINATOR_KEY, FIND_COORDINATOR_VERSION, &request)
        .await?;
    let response = any.decode(body, FindCoordinatorResponse::decode)?;
    any.throttle(response.throttle_time_ms);
    if let Some(e) = ClientError::from_code(response.error_code, response.error_message) {
        return Err(e);
    }
    let addr = if response.host.contains(':') {
        format!("[{}]:{}", response.host, response.port)
    } else {
        format!("{}:{}", response.host, response.port)
    };
    tracing::debug!(key, key_type, node = response.node_id, %addr, "found the coordinator");
    cluster.connection(&addr).await
}

/// InitProducerId for a transactional id (`current`: the producer's id and
/// epoch, to bump them, KIP-360).
pub(crate) fn init_request(
    transactional_id: &str,
    timeout_ms: i32,
    current: Option<ProducerIdentity>,
) -> InitProducerIdRequest {
    InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(str_bytes(transactional_id))))
        .with_transaction_timeout_ms(timeout_ms)
        .with_producer_id(ProducerId(current.map_or(-1, |c| c.id)))
        .with_producer_epoch(current.map_or(-1, |c| c.epoch))
}

/// AddPartitionsToTxn (the client's v0–3 form) for `partitions`.
pub(crate) fn add_partitions_request(
    transactional_id: &str,
    identity: ProducerIdentity,
    partitions: &[TopicPartition],
) -> AddPartitionsToTxnRequest {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, partition) in partitions {
        by_topic.entry(topic).or_default().push(*partition);
    }
    AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(str_bytes(transactional_id)))
        .with_v3_and_below_producer_id(ProducerId(identity.id))
        .with_v3_and_below_producer_epoch(identity.epoch)
        .with_v3_and_below_topics(
            by_topic
                .into_iter()
                .map(|(topic, partitions)| {
                    AddPartitionsToTxnTopic::default()
                        .with_name(TopicName(str_bytes(topic)))
                        .with_partitions(partitions)
                })
                .collect(),
        )
}

/// The first partition error of an AddPartitionsToTxn answer (v3 and below).
fn add_partitions_code(response: &AddPartitionsToTxnResponse) -> i16 {
    let codes = response
        .results_by_topic_v3_and_below
        .iter()
        .flat_map(|t| t.results_by_partition.iter())
        .map(|p| p.partition_error_code)
        .filter(|&c| c != 0);
    // OPERATION_NOT_ATTEMPTED only says another partition failed: name that one.
    let mut first = 0;
    for code in codes {
        if code != codes::OPERATION_NOT_ATTEMPTED {
            return code;
        }
        first = code;
    }
    first
}

/// TxnOffsetCommit for `offsets` in `group`'s generation.
pub(crate) fn txn_offset_commit_request(
    transactional_id: &str,
    identity: ProducerIdentity,
    group: &ConsumerGroupMetadata,
    offsets: &BTreeMap<TopicPartition, i64>,
) -> TxnOffsetCommitRequest {
    let mut topics: Vec<TxnOffsetCommitRequestTopic> = Vec::new();
    for ((topic, partition), offset) in offsets {
        let p = TxnOffsetCommitRequestPartition::default()
            .with_partition_index(*partition)
            .with_committed_offset(*offset)
            .with_committed_leader_epoch(-1)
            .with_committed_metadata(Some(StrBytes::from_static_str("")));
        match topics.last_mut() {
            Some(t) if t.name.0.as_str() == topic => t.partitions.push(p),
            _ => topics.push(
                TxnOffsetCommitRequestTopic::default()
                    .with_name(TopicName(str_bytes(topic)))
                    .with_partitions(vec![p]),
            ),
        }
    }
    TxnOffsetCommitRequest::default()
        .with_transactional_id(TransactionalId(str_bytes(transactional_id)))
        .with_group_id(GroupId(str_bytes(&group.group_id)))
        .with_producer_id(ProducerId(identity.id))
        .with_producer_epoch(identity.epoch)
        .with_generation_id(group.generation_id)
        .with_member_id(str_bytes(&group.member_id))
        .with_group_instance_id(group.group_instance_id.as_deref().map(str_bytes))
        .with_topics(topics)
}

fn end_txn_request(
    transactional_id: &str,
    identity: ProducerIdentity,
    commit: bool,
) -> EndTxnRequest {
    EndTxnRequest::default()
        .with_transactional_id(TransactionalId(str_bytes(transactional_id)))
        .with_producer_id(ProducerId(identity.id))
        .with_producer_epoch(identity.epoch)
        .with_committed(commit)
}

impl Inner {
    fn txn(&self) -> Result<&Txn, ClientError> {
        self.txn.as_ref().ok_or_else(|| {
            ClientError::Config("the producer has no transactional id (transactional.id)".into())
        })
    }

    fn transaction_timeout_ms(&self) -> i32 {
        self.config
            .transaction_timeout
            .as_millis()
            .min(i32::MAX as u128) as i32
    }

    fn current_identity(&self) -> Result<ProducerIdentity, ClientError> {
        (*self.identity.lock())
            .ok_or_else(|| state_error("the producer has no producer id (init_transactions)"))
    }

    /// InitProducerId through the coordinator; `current` bumps that epoch.
    async fn init_producer_id(
        &self,
        txn: &Txn,
        current: Option<ProducerIdentity>,
        deadline: Instant,
    ) -> Result<ProducerIdentity, ClientError> {
        let request = init_request(&txn.id, self.transaction_timeout_ms(), current);
        let response = txn
            .call(
                &self.cluster,
                Target::Transaction,
                (INIT_PRODUCER_ID_KEY, INIT_PRODUCER_ID_VERSION),
                &request,
                InitProducerIdResponse::decode,
                |r| r.error_code,
                handling_of,
                deadline,
            )
            .await
            .map_err(|(e, handling)| txn.escalate(e, handling))?;
        Ok(ProducerIdentity {
            id: response.producer_id,
            epoch: response.producer_epoch,
        })
    }

    /// Takes `identity` and numbers every partition from sequence 0 again.
    fn take_identity(&self, identity: ProducerIdentity) {
        self.renumber(identity);
        *self.identity.lock() = Some(identity);
    }

    /// EndTxn, retried as the coordinator allows.
    async fn end_txn(
        &self,
        txn: &Txn,
        commit: bool,
        deadline: Instant,
    ) -> Result<(), (ClientError, Handling)> {
        let identity = self
            .current_identity()
            .map_err(|e| (e, Handling::Abortable))?;
        let request = end_txn_request(&txn.id, identity, commit);
        txn.call(
            &self.cluster,
            Target::Transaction,
            (END_TXN_KEY, END_TXN_VERSION),
            &request,
            EndTxnResponse::decode,
            |r| r.error_code,
            handling_of,
            deadline,
        )
        .await
        .map(|_| ())
    }

    /// Waits until no AddPartitionsToTxn is in flight.
    async fn await_adds(&self, txn: &Txn, deadline: Instant) -> Result<(), ClientError> {
        loop {
            let notified = txn.added_notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !txn.state.lock().adding {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(ClientError::Timeout(self.config.max_block));
            }
        }
    }
}

/// Adds `partitions` to the open transaction (spawned by the sender, which
/// holds their batches until then).
pub(crate) async fn add_partitions(inner: Arc<Inner>, partitions: Vec<TopicPartition>) {
    let Some(txn) = inner.txn.as_ref() else {
        return;
    };
    let result = match inner.current_identity() {
        Ok(identity) => {
            let request = add_partitions_request(&txn.id, identity, &partitions);
            let deadline = Instant::now() + inner.config.max_block;
            txn.call(
                &inner.cluster,
                Target::Transaction,
                (ADD_PARTITIONS_TO_TXN_KEY, ADD_PARTITIONS_TO_TXN_VERSION),
                &request,
                AddPartitionsToTxnResponse::decode,
                add_partitions_code,
                handling_of,
                deadline,
            )
            .await
            .map(|_| ())
        }
        Err(e) => Err((e, Handling::Abortable)),
    };
    {
        let mut state = txn.state.lock();
        state.adding = false;
        match &result {
            Ok(()) => {
                let added = Arc::make_mut(&mut state.added);
                for (topic, partition) in &partitions {
                    added.entry(topic.clone()).or_default().insert(*partition);
                }
                state.started = true;
            }
            Err((e, handling)) => {
                // Given up on (or refused): the transaction cannot commit.
                let handling = match handling {
                    Handling::Fatal => Handling::Fatal,
                    _ => Handling::Abortable,
                };
                drop(state);
                txn.escalate(e.clone(), handling);
            }
        }
    }
    if let Ok(()) = &result {
        tracing::debug!(transactional_id = %txn.id, partitions = partitions.len(), "partitions joined the transaction");
    }
    txn.added_notify.notify_waiters();
    inner.wake.notify_one();
}

/// The sender's part, before each drain: fails what an errored transaction
/// holds back, and adds new partitions to the open transaction.
pub(crate) fn tick(inner: &Arc<Inner>) {
    let Some(txn) = inner.txn.as_ref() else {
        return;
    };
    if let Some(error) = txn.error() {
        inner.abort_undrained(&error);
        return;
    }
    let mut state = txn.state.lock();
    if state.adding
        || state.pending.is_empty()
        || !matches!(state.phase, Phase::InTransaction | Phase::Committing)
    {
        return;
    }
    state.adding = true;
    state.maybe_started = true;
    let partitions: Vec<TopicPartition> = std::mem::take(&mut state.pending).into_iter().collect();
    drop(state);
    tokio::spawn(add_partitions(inner.clone(), partitions));
}

/// The sender's view of which partitions may be sent: `None` for a producer
/// that is not transactional.
pub(crate) fn sendable(inner: &Inner) -> Option<Arc<HashMap<String, HashSet<i32>>>> {
    inner.txn.as_ref().map(|t| t.state.lock().added.clone())
}

impl Producer {
    fn txn(&self) -> Result<&Txn, ClientError> {
        self.inner.txn()
    }

    /// The `transactional.id`, for a transactional producer.
    pub fn transactional_id(&self) -> Option<&str> {
        self.inner.txn.as_ref().map(|t| t.id.as_str())
    }

    /// Registers the transactional id with its coordinator: takes its producer
    /// id with a new epoch, which fences every older producer using the same
    /// transactional id (their transaction calls fail with PRODUCER_FENCED)
    /// and aborts what they left open. Call once, before the first
    /// transaction; a failure other than fencing may be retried.
    pub async fn init_transactions(&self) -> Result<(), ClientError> {
        let inner = &self.inner;
        let txn = self.txn()?;
        let _op = txn.op.lock().await;
        txn.check_fatal()?;
        if txn.state.lock().phase != Phase::Uninitialized {
            return Err(state_error("init_transactions was already called"));
        }
        let deadline = Instant::now() + inner.config.max_block;
        let identity = inner.init_producer_id(txn, None, deadline).await?;
        inner.take_identity(identity);
        txn.state.lock().phase = Phase::Ready;
        tracing::debug!(transactional_id = %txn.id, producer_id = identity.id, epoch = identity.epoch, "transactions initialised");
        Ok(())
    }

    /// Opens a transaction: records sent from now on are part of it until
    /// `commit_transaction` or `abort_transaction`. Local: nothing is sent
    /// before the first record or offsets.
    pub fn begin_transaction(&self) -> Result<(), ClientError> {
        let txn = self.txn()?;
        txn.check_fatal()?;
        let mut state = txn.state.lock();
        match state.phase {
            Phase::Ready => {
                state.clear();
                state.phase = Phase::InTransaction;
                Ok(())
            }
            Phase::Uninitialized => Err(state_error("call init_transactions first")),
            Phase::InTransaction => Err(state_error("a transaction is already open")),
            Phase::Committing => Err(state_error(
                "the last commit_transaction did not finish: call it again",
            )),
            Phase::Aborting => Err(state_error(
                "the last abort_transaction did not finish: call it again",
            )),
        }
    }

    /// Commits consumer offsets as part of the open transaction
    /// (consume-transform-produce): they count for `group` only if the
    /// transaction commits. `offsets` are the next offsets to read, per
    /// partition; `group` comes from [`GroupConsumer::group_metadata`], so the
    /// coordinator refuses them from a member that left the generation.
    ///
    /// [`GroupConsumer::group_metadata`]: crate::consumer::group::GroupConsumer::group_metadata
    pub async fn send_offsets_to_transaction(
        &self,
        offsets: &HashMap<TopicPartition, i64>,
        group: &ConsumerGroupMetadata,
    ) -> Result<(), ClientError> {
        let inner = &self.inner;
        let txn = self.txn()?;
        let _op = txn.op.lock().await;
        {
            let state = txn.state.lock();
            txn.check_send(&state)?;
        }
        if group.group_id.is_empty() {
            return Err(ClientError::Config("group.id must not be empty".into()));
        }
        if offsets.is_empty() {
            return Ok(());
        }
        let identity = inner.current_identity()?;
        let deadline = Instant::now() + inner.config.max_block;
        let request = AddOffsetsToTxnRequest::default()
            .with_transactional_id(TransactionalId(str_bytes(&txn.id)))
            .with_producer_id(ProducerId(identity.id))
            .with_producer_epoch(identity.epoch)
            .with_group_id(GroupId(str_bytes(&group.group_id)));
        txn.state.lock().maybe_started = true;
        let added = txn
            .call(
                &inner.cluster,
                Target::Transaction,
                (ADD_OFFSETS_TO_TXN_KEY, ADD_OFFSETS_TO_TXN_VERSION),
                &request,
                AddOffsetsToTxnResponse::decode,
                |r| r.error_code,
                handling_of,
                deadline,
            )
            .await;
        if let Err((e, handling)) = added {
            return Err(txn.escalate(e, at_least_abortable(handling)));
        }
        txn.state.lock().started = true;
        let offsets: BTreeMap<TopicPartition, i64> =
            offsets.iter().map(|(k, v)| (k.clone(), *v)).collect();
        let request = txn_offset_commit_request(&txn.id, identity, group, &offsets);
        let committed = txn
            .call(
                &inner.cluster,
                Target::Group(&group.group_id),
                (TXN_OFFSET_COMMIT_KEY, TXN_OFFSET_COMMIT_VERSION),
                &request,
                TxnOffsetCommitResponse::decode,
                |r| {
                    r.topics
                        .iter()
                        .flat_map(|t| t.partitions.iter())
                        .map(|p| p.error_code)
                        .find(|&c| c != 0)
                        .unwrap_or(0)
                },
                offset_commit_handling,
                deadline,
            )
            .await;
        if let Err((e, handling)) = committed {
            return Err(txn.escalate(e, at_least_abortable(handling)));
        }
        Ok(())
    }

    /// Commits the open transaction: flushes its records (every one must be
    /// acknowledged), then has the coordinator commit it. On an error the
    /// transaction is not committed: after a timeout call this again (it
    /// resumes), after any other error call `abort_transaction` (or, for a
    /// fatal one, drop the producer).
    pub async fn commit_transaction(&self) -> Result<(), ClientError> {
        let inner = &self.inner;
        let txn = self.txn()?;
        let _op = txn.op.lock().await;
        txn.check_fatal()?;
        {
            let mut state = txn.state.lock();
            match state.phase {
                Phase::InTransaction | Phase::Committing => {}
                Phase::Aborting => {
                    return Err(state_error(
                        "the last abort_transaction did not finish: call it again",
                    ));
                }
                _ => return Err(state_error("no transaction is open (begin_transaction)")),
            }
            if let Some(e) = txn.error() {
                state.phase = Phase::InTransaction;
                return Err(e);
            }
            state.phase = Phase::Committing;
        }
        let deadline = Instant::now() + inner.config.max_block;
        let flushed = self.flush(inner.config.max_block).await;
        let flushed = match flushed {
            Ok(()) => self.inner.await_adds(txn, deadline).await,
            Err(e) => Err(e),
        };
        if let Some(e) = txn.error() {
            // A record or a partition could not join: abort is all that is left.
            txn.state.lock().phase = Phase::InTransaction;
            return Err(e);
        }
        flushed?;
        let started = txn.state.lock().started;
        if started {
            match inner.end_txn(txn, true, deadline).await {
                Ok(()) => {}
                Err((e, Handling::Fatal)) => return Err(txn.set_fatal(&e)),
                Err((e, Handling::Abortable)) => {
                    txn.set_abortable(&e);
                    txn.state.lock().phase = Phase::InTransaction;
                    return Err(e);
                }
                // Given up on in time: calling commit again resumes.
                Err((e, _)) => return Err(e),
            }
        }
        let mut state = txn.state.lock();
        state.clear();
        state.phase = Phase::Ready;
        Ok(())
    }

    /// Aborts the open transaction: records not sent yet are failed (their
    /// futures resolve to an error), those in flight are waited for, and the
    /// coordinator aborts what was written (read_committed consumers never see
    /// it). After a timeout call this again.
    pub async fn abort_transaction(&self) -> Result<(), ClientError> {
        let inner = &self.inner;
        let txn = self.txn()?;
        let _op = txn.op.lock().await;
        txn.check_fatal()?;
        {
            let mut state = txn.state.lock();
            match state.phase {
                Phase::InTransaction | Phase::Aborting => {}
                Phase::Committing if txn.error().is_some() => {}
                Phase::Committing => {
                    return Err(state_error(
                        "the last commit_transaction did not finish: call it again",
                    ));
                }
                _ => return Err(state_error("no transaction is open (begin_transaction)")),
            }
            state.phase = Phase::Aborting;
            state.pending.clear();
        }
        let deadline = Instant::now() + inner.config.max_block;
        inner.abort_undrained(&state_error(
            "the transaction was aborted before the record was sent",
        ));
        self.flush(inner.config.max_block).await?;
        inner.await_adds(txn, deadline).await?;
        txn.check_fatal()?;
        let (started, maybe_started) = {
            let state = txn.state.lock();
            (state.started, state.maybe_started)
        };
        if started || maybe_started {
            match inner.end_txn(txn, false, deadline).await {
                Ok(()) => {}
                // An Add whose answer was lost may not have opened anything.
                Err((e, _)) if !started && e.code() == Some(codes::INVALID_TXN_STATE) => {}
                Err((e, Handling::Fatal)) => return Err(txn.set_fatal(&e)),
                // Calling abort again resumes.
                Err((e, _)) => return Err(e),
            }
        }
        let needs_bump = txn.errors.lock().needs_bump;
        if needs_bump {
            let current = inner.current_identity()?;
            let identity = inner.init_producer_id(txn, Some(current), deadline).await?;
            inner.take_identity(identity);
            tracing::debug!(transactional_id = %txn.id, epoch = identity.epoch, "epoch bumped after a failed batch");
        }
        {
            let mut errors = txn.errors.lock();
            errors.abortable = None;
            errors.needs_bump = false;
        }
        let mut state = txn.state.lock();
        state.clear();
        state.phase = Phase::Ready;
        Ok(())
    }
}

/// A failed Add or offset commit leaves the transaction abortable at least.
fn at_least_abortable(handling: Handling) -> Handling {
    match handling {
        Handling::Fatal => Handling::Fatal,
        _ => Handling::Abortable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::requests;

    fn encoded<R: Encodable>(r: &R, version: i16) -> Reader {
        let mut buf = bytes::BytesMut::new();
        r.encode(&mut buf, version).unwrap();
        Reader::new(buf.freeze())
    }

    const IDENTITY: ProducerIdentity = ProducerIdentity { id: 42, epoch: 3 };

    #[test]
    fn errors_are_handled_as_the_java_client_does() {
        assert_eq!(handling(codes::CONCURRENT_TRANSACTIONS), Handling::Retry);
        assert_eq!(
            handling(codes::COORDINATOR_LOAD_IN_PROGRESS),
            Handling::Retry
        );
        assert_eq!(handling(codes::NOT_COORDINATOR), Handling::Rediscover);
        assert_eq!(
            handling(codes::COORDINATOR_NOT_AVAILABLE),
            Handling::Rediscover
        );
        assert_eq!(handling(codes::PRODUCER_FENCED), Handling::Fatal);
        assert_eq!(handling(codes::INVALID_PRODUCER_EPOCH), Handling::Fatal);
        assert_eq!(handling(codes::INVALID_TXN_STATE), Handling::Fatal);
        // TOPIC_AUTHORIZATION_FAILED, GROUP_AUTHORIZATION_FAILED.
        assert_eq!(handling(29), Handling::Abortable);
        assert_eq!(handling(30), Handling::Abortable);
        assert_eq!(
            handling_of(&ClientError::Disconnected("x".into())),
            Handling::Rediscover
        );
        let generation = ClientError::Kafka {
            code: codes::ILLEGAL_GENERATION,
            message: None,
        };
        assert_eq!(offset_commit_handling(&generation), Handling::Abortable);
        assert!(
            ClientError::Kafka {
                code: codes::PRODUCER_FENCED,
                message: None
            }
            .is_fenced()
        );
    }

    #[test]
    fn a_fatal_error_sticks_and_says_so() {
        let txn = Txn::new("t-1".into());
        let fenced = ClientError::Kafka {
            code: codes::PRODUCER_FENCED,
            message: None,
        };
        let e = txn.escalate(fenced.clone(), Handling::Fatal);
        assert_eq!(e.code(), Some(codes::PRODUCER_FENCED));
        assert!(e.to_string().contains("fenced"), "{e}");
        assert!(e.to_string().contains("t-1"), "{e}");
        // Later errors do not replace it.
        txn.set_fatal(&ClientError::Kafka {
            code: codes::INVALID_TXN_STATE,
            message: None,
        });
        assert_eq!(txn.check_fatal().unwrap_err().code(), Some(90));
        let state = txn.state.lock();
        assert_eq!(txn.check_send(&state).unwrap_err().code(), Some(90));
    }

    #[test]
    fn sends_need_an_open_transaction() {
        let txn = Txn::new("t".into());
        let mut state = txn.state.lock();
        assert!(matches!(
            txn.check_send(&state),
            Err(ClientError::TransactionState(_))
        ));
        state.phase = Phase::InTransaction;
        assert!(txn.check_send(&state).is_ok());
        Txn::note_partition(&mut state, "a", 1);
        Txn::note_partition(&mut state, "a", 1);
        Arc::make_mut(&mut state.added)
            .entry("b".into())
            .or_default()
            .insert(0);
        Txn::note_partition(&mut state, "b", 0);
        assert_eq!(
            state.pending.iter().cloned().collect::<Vec<_>>(),
            vec![("a".to_string(), 1)]
        );
        drop(state);
        txn.batch_failed(&ClientError::Timeout(Duration::from_secs(1)));
        let state = txn.state.lock();
        assert!(matches!(
            txn.check_send(&state),
            Err(ClientError::Timeout(_))
        ));
        assert!(txn.errors.lock().needs_bump);
    }

    #[test]
    fn requests_encode_at_the_pinned_versions() {
        let init = init_request("tx", 60_000, Some(IDENTITY));
        let got = requests::init_producer_id::InitProducerIdRequest::decode(
            &mut encoded(&init, INIT_PRODUCER_ID_VERSION),
            INIT_PRODUCER_ID_VERSION,
        )
        .unwrap();
        assert_eq!(got.transactional_id.as_deref(), Some("tx"));
        assert_eq!(
            (
                got.transaction_timeout_ms,
                got.producer_id,
                got.producer_epoch
            ),
            (60_000, 42, 3)
        );

        let add = add_partitions_request(
            "tx",
            IDENTITY,
            &[("b".into(), 1), ("a".into(), 2), ("a".into(), 0)],
        );
        let got = requests::add_partitions_to_txn::AddPartitionsToTxnRequest::decode(
            &mut encoded(&add, ADD_PARTITIONS_TO_TXN_VERSION),
            ADD_PARTITIONS_TO_TXN_VERSION,
        )
        .unwrap();
        assert_eq!(got.transactions.len(), 1);
        let t = &got.transactions[0];
        assert_eq!(
            (t.transactional_id.as_str(), t.producer_id, t.producer_epoch),
            ("tx", 42, 3)
        );
        let topics: Vec<(String, Vec<i32>)> = t
            .topics
            .iter()
            .map(|t| (t.name.clone(), t.partitions.clone()))
            .collect();
        assert_eq!(
            topics,
            vec![("a".to_string(), vec![2, 0]), ("b".to_string(), vec![1])]
        );

        let group = ConsumerGroupMetadata {
            group_id: "g".into(),
            generation_id: 5,
            member_id: "m-1".into(),
            group_instance_id: Some("i".into()),
        };
        let offsets: BTreeMap<TopicPartition, i64> = [
            (("a".into(), 1), 10),
            (("a".into(), 0), 5),
            (("b".into(), 3), 7),
        ]
        .into();
        let commit = txn_offset_commit_request("tx", IDENTITY, &group, &offsets);
        let got = requests::txn_offset_commit::TxnOffsetCommitRequest::decode(
            &mut encoded(&commit, TXN_OFFSET_COMMIT_VERSION),
            TXN_OFFSET_COMMIT_VERSION,
        )
        .unwrap();
        assert_eq!(
            (
                got.transactional_id.as_str(),
                got.group_id.as_str(),
                got.producer_id,
                got.producer_epoch
            ),
            ("tx", "g", 42, 3)
        );
        assert_eq!(
            (
                got.generation_id,
                got.member_id.as_str(),
                got.group_instance_id.as_deref()
            ),
            (5, "m-1", Some("i"))
        );
        let flat: Vec<(String, i32, i64)> = got
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|p| (t.name.clone(), p.partition_index, p.committed_offset))
            })
            .collect();
        assert_eq!(
            flat,
            vec![("a".into(), 0, 5), ("a".into(), 1, 10), ("b".into(), 3, 7)]
        );

        let end = end_txn_request("tx", IDENTITY, true);
        let got = requests::end_txn::EndTxnRequest::decode(
            &mut encoded(&end, END_TXN_VERSION),
            END_TXN_VERSION,
        )
        .unwrap();
        assert_eq!(
            (
                got.transactional_id.as_str(),
                got.producer_id,
                got.producer_epoch,
                got.committed
            ),
            ("tx", 42, 3, true)
        );
    }
}
