//! From a request frame to its response: decode, route to the API's handler.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use weir_client::protocol::{DecodeError, Request, decode_request};

use super::encode::{begin_frame, finish_frame};
use super::{
    api_versions, create_topics, delete_groups, delete_topics, describe_configs, describe_groups,
    errors, fetch, find_coordinator, heartbeat, init_producer_id, join_group, leave_group,
    list_groups, list_offsets, metadata, offset_commit, offset_delete, offset_fetch, produce,
    sync_group,
};
use crate::context::BrokerCtx;

/// What the connection does with a finished request.
#[derive(Debug)]
pub enum Outcome {
    /// Send this framed response.
    Reply(BytesMut),
    /// Send nothing (acks=0 produce).
    Silent,
    /// Send this framed response, then close the connection.
    ReplyThenClose(BytesMut),
    /// Close the connection without answering (garbage, or an acks=0 failure the
    /// client must notice).
    Close(String),
}

/// The second phase of a handler; spawned by the connection.
pub type ResponseFuture = Pin<Box<dyn Future<Output = Outcome> + Send + 'static>>;

/// Decodes `frame` and starts its handler. Runs inside the connection actor's
/// `handle`: whatever a handler casts here reaches its target in request order.
/// `listener` names the listener the request arrived on (answers that name
/// brokers give their endpoints on it).
pub fn dispatch(ctx: &Arc<BrokerCtx>, listener: &str, frame: Bytes) -> ResponseFuture {
    let raw = frame.clone();
    let (header, request) = match decode_request(frame) {
        Ok(decoded) => decoded,
        Err((header, error)) => {
            tracing::debug!(frame_len = raw.len(), prefix = ?&raw[..raw.len().min(64)], "undecodable request");
            return Box::pin(std::future::ready(refuse(header, error)));
        }
    };
    match request {
        Request::ApiVersions(r) => api_versions::start(ctx, header, r),
        Request::Metadata(r) => metadata::start(ctx, listener, header, r),
        Request::Produce(r) => produce::start(ctx, header, r),
        Request::Fetch(r) => fetch::start(ctx, header, r),
        Request::ListOffsets(r) => list_offsets::start(ctx, header, r),
        Request::CreateTopics(r) => create_topics::start(ctx, header, r),
        Request::DeleteTopics(r) => delete_topics::start(ctx, header, r),
        Request::DescribeConfigs(r) => describe_configs::start(ctx, header, r),
        Request::FindCoordinator(r) => find_coordinator::start(ctx, listener, header, r),
        Request::JoinGroup(r) => join_group::start(ctx, header, r),
        Request::SyncGroup(r) => sync_group::start(ctx, header, r),
        Request::Heartbeat(r) => heartbeat::start(ctx, header, r),
        Request::LeaveGroup(r) => leave_group::start(ctx, header, r),
        Request::OffsetCommit(r) => offset_commit::start(ctx, header, r),
        Request::OffsetFetch(r) => offset_fetch::start(ctx, header, r),
        Request::DescribeGroups(r) => describe_groups::start(ctx, header, r),
        Request::ListGroups(r) => list_groups::start(ctx, header, r),
        Request::DeleteGroups(r) => delete_groups::start(ctx, header, r),
        Request::OffsetDelete(r) => offset_delete::start(ctx, header, r),
        Request::InitProducerId(r) => init_producer_id::start(ctx, header, r),
        Request::DeleteRecords(r) => super::delete_records::start(ctx, header, r),
        Request::OffsetForLeaderEpoch(r) => super::offset_for_leader_epoch::start(ctx, header, r),
        Request::AlterConfigs(r) => super::alter_configs::start(ctx, header, r),
        Request::CreatePartitions(r) => super::create_partitions::start(ctx, header, r),
        Request::DescribeCluster(r) => super::describe_cluster::start(ctx, listener, header, r),
        Request::IncrementalAlterConfigs(r) => {
            super::incremental_alter_configs::start(ctx, header, r)
        }
        Request::ElectLeaders(r) => super::elect_leaders::start(ctx, header, r),
        Request::AlterPartitionReassignments(r) => {
            super::alter_partition_reassignments::start(ctx, header, r)
        }
        Request::ListPartitionReassignments(r) => {
            super::list_partition_reassignments::start(ctx, header, r)
        }
        Request::AddPartitionsToTxn(r) => super::add_partitions_to_txn::start(ctx, header, r),
        Request::AddOffsetsToTxn(r) => super::add_offsets_to_txn::start(ctx, header, r),
        Request::EndTxn(r) => super::end_txn::start(ctx, header, r),
        Request::WriteTxnMarkers(r) => super::write_txn_markers::start(ctx, header, r),
        Request::TxnOffsetCommit(r) => super::txn_offset_commit::start(ctx, header, r),
        Request::DescribeProducers(r) => super::describe_producers::start(ctx, header, r),
        Request::DescribeTransactions(r) => super::describe_transactions::start(ctx, header, r),
        Request::ListTransactions(r) => super::list_transactions::start(ctx, header, r),
    }
}

/// Answers a request that did not decode.
///
/// An unsupported ApiVersions version gets a v0 body with UNSUPPORTED_VERSION and the
/// full table (KIP-511). Any other unsupported version gets the correlation id and
/// UNSUPPORTED_VERSION, then the connection is closed: the client broke version
/// negotiation and no body layout of that version can be trusted. Malformed bodies
/// and unknown APIs close the connection, as Kafka does.
fn refuse(header: Option<weir_client::protocol::RequestHeader>, error: DecodeError) -> Outcome {
    let Some(header) = header else {
        return Outcome::Close(format!("unreadable request header: {error}"));
    };
    match error {
        DecodeError::UnsupportedVersion { api_key, .. } if api_key == api_versions::API_KEY => {
            api_versions::unsupported_version(&header)
        }
        DecodeError::UnsupportedVersion { .. } => {
            let mut out = begin_frame(header.correlation_id, false);
            out.put_i16(errors::unsupported_version());
            finish_frame(&mut out);
            tracing::info!(api_key = header.api_key, api_version = header.api_version, client_id = ?header.client_id, "unsupported version, closing");
            Outcome::ReplyThenClose(out)
        }
        other => {
            tracing::info!(api_key = header.api_key, api_version = header.api_version, client_id = ?header.client_id, error = %other, "bad request, closing");
            Outcome::Close(other.to_string())
        }
    }
}
