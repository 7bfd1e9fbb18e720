//! Our own request types, one module per API, and the dispatch from a frame to them.
//!
//! Each decoder reads exactly the fields of its served versions through the bounded
//! [`Reader`]; names follow Kafka's schemas verbatim.

pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod alter_configs;
pub mod alter_partition_reassignments;
pub mod api_versions;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_producers;
pub mod describe_transactions;
pub mod elect_leaders;
pub mod end_txn;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod list_partition_reassignments;
pub mod list_transactions;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod sync_group;
pub mod txn_offset_commit;
pub mod write_txn_markers;

use bytes::Bytes;

pub use add_offsets_to_txn::AddOffsetsToTxnRequest;
pub use add_partitions_to_txn::AddPartitionsToTxnRequest;
pub use alter_configs::AlterConfigsRequest;
pub use alter_partition_reassignments::AlterPartitionReassignmentsRequest;
pub use api_versions::ApiVersionsRequest;
pub use create_partitions::CreatePartitionsRequest;
pub use create_topics::CreateTopicsRequest;
pub use delete_groups::DeleteGroupsRequest;
pub use delete_records::DeleteRecordsRequest;
pub use delete_topics::DeleteTopicsRequest;
pub use describe_cluster::DescribeClusterRequest;
pub use describe_configs::DescribeConfigsRequest;
pub use describe_groups::DescribeGroupsRequest;
pub use describe_producers::DescribeProducersRequest;
pub use describe_transactions::DescribeTransactionsRequest;
pub use elect_leaders::ElectLeadersRequest;
pub use end_txn::EndTxnRequest;
pub use fetch::FetchRequest;
pub use find_coordinator::FindCoordinatorRequest;
pub use heartbeat::HeartbeatRequest;
pub use incremental_alter_configs::IncrementalAlterConfigsRequest;
pub use init_producer_id::InitProducerIdRequest;
pub use join_group::JoinGroupRequest;
pub use leave_group::LeaveGroupRequest;
pub use list_groups::ListGroupsRequest;
pub use list_offsets::ListOffsetsRequest;
pub use list_partition_reassignments::ListPartitionReassignmentsRequest;
pub use list_transactions::ListTransactionsRequest;
pub use metadata::MetadataRequest;
pub use offset_commit::OffsetCommitRequest;
pub use offset_delete::OffsetDeleteRequest;
pub use offset_fetch::OffsetFetchRequest;
pub use offset_for_leader_epoch::OffsetForLeaderEpochRequest;
pub use produce::ProduceRequest;
pub use sync_group::SyncGroupRequest;
pub use txn_offset_commit::TxnOffsetCommitRequest;
pub use write_txn_markers::WriteTxnMarkersRequest;

use super::api::{ApiKey, api_spec};
use super::error::DecodeError;
use super::header::RequestHeader;
use super::reader::Reader;

/// A decoded request body.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Produce(ProduceRequest),
    Fetch(FetchRequest),
    ListOffsets(ListOffsetsRequest),
    Metadata(MetadataRequest),
    ApiVersions(ApiVersionsRequest),
    CreateTopics(CreateTopicsRequest),
    DeleteTopics(DeleteTopicsRequest),
    DescribeConfigs(DescribeConfigsRequest),
    OffsetCommit(OffsetCommitRequest),
    OffsetFetch(OffsetFetchRequest),
    FindCoordinator(FindCoordinatorRequest),
    JoinGroup(JoinGroupRequest),
    Heartbeat(HeartbeatRequest),
    LeaveGroup(LeaveGroupRequest),
    SyncGroup(SyncGroupRequest),
    DescribeGroups(DescribeGroupsRequest),
    ListGroups(ListGroupsRequest),
    DeleteGroups(DeleteGroupsRequest),
    OffsetDelete(OffsetDeleteRequest),
    InitProducerId(InitProducerIdRequest),
    DeleteRecords(DeleteRecordsRequest),
    OffsetForLeaderEpoch(OffsetForLeaderEpochRequest),
    AlterConfigs(AlterConfigsRequest),
    CreatePartitions(CreatePartitionsRequest),
    IncrementalAlterConfigs(IncrementalAlterConfigsRequest),
    DescribeCluster(DescribeClusterRequest),
    ElectLeaders(ElectLeadersRequest),
    AlterPartitionReassignments(AlterPartitionReassignmentsRequest),
    ListPartitionReassignments(ListPartitionReassignmentsRequest),
    AddPartitionsToTxn(AddPartitionsToTxnRequest),
    AddOffsetsToTxn(AddOffsetsToTxnRequest),
    EndTxn(EndTxnRequest),
    WriteTxnMarkers(WriteTxnMarkersRequest),
    TxnOffsetCommit(TxnOffsetCommitRequest),
    DescribeProducers(DescribeProducersRequest),
    DescribeTransactions(DescribeTransactionsRequest),
    ListTransactions(ListTransactionsRequest),
}

/// Decodes a whole frame body: the header, then the body for a served (api, version).
///
/// On `UnknownApi`/`UnsupportedVersion` the header is still returned so the caller can
/// answer with the right correlation id.
pub fn decode_request(
    frame: Bytes,
) -> Result<(RequestHeader, Request), (Option<RequestHeader>, DecodeError)> {
    let mut reader = Reader::new(frame);
    let header = RequestHeader::decode(&mut reader).map_err(|e| (None, e))?;
    match decode_body(&header, &mut reader) {
        Ok(request) => Ok((header, request)),
        Err(e) => Err((Some(header), e)),
    }
}

/// Decodes the body that follows `header`.
pub fn decode_body(header: &RequestHeader, reader: &mut Reader) -> Result<Request, DecodeError> {
    let spec = api_spec(header.api_key).ok_or(DecodeError::UnknownApi {
        api_key: header.api_key,
    })?;
    let v = header.api_version;
    if !spec.range.contains(v) {
        return Err(DecodeError::UnsupportedVersion {
            api_key: header.api_key,
            api_version: v,
        });
    }
    let request = match spec.key {
        ApiKey::Produce => Request::Produce(ProduceRequest::decode(reader, v)?),
        ApiKey::Fetch => Request::Fetch(FetchRequest::decode(reader, v)?),
        ApiKey::ListOffsets => Request::ListOffsets(ListOffsetsRequest::decode(reader, v)?),
        ApiKey::Metadata => Request::Metadata(MetadataRequest::decode(reader, v)?),
        ApiKey::ApiVersions => Request::ApiVersions(ApiVersionsRequest::decode(reader, v)?),
        ApiKey::CreateTopics => Request::CreateTopics(CreateTopicsRequest::decode(reader, v)?),
        ApiKey::DeleteTopics => Request::DeleteTopics(DeleteTopicsRequest::decode(reader, v)?),
        ApiKey::DescribeConfigs => {
            Request::DescribeConfigs(DescribeConfigsRequest::decode(reader, v)?)
        }
        ApiKey::OffsetCommit => Request::OffsetCommit(OffsetCommitRequest::decode(reader, v)?),
        ApiKey::OffsetFetch => Request::OffsetFetch(OffsetFetchRequest::decode(reader, v)?),
        ApiKey::FindCoordinator => {
            Request::FindCoordinator(FindCoordinatorRequest::decode(reader, v)?)
        }
        ApiKey::JoinGroup => Request::JoinGroup(JoinGroupRequest::decode(reader, v)?),
        ApiKey::Heartbeat => Request::Heartbeat(HeartbeatRequest::decode(reader, v)?),
        ApiKey::LeaveGroup => Request::LeaveGroup(LeaveGroupRequest::decode(reader, v)?),
        ApiKey::SyncGroup => Request::SyncGroup(SyncGroupRequest::decode(reader, v)?),
        ApiKey::DescribeGroups => {
            Request::DescribeGroups(DescribeGroupsRequest::decode(reader, v)?)
        }
        ApiKey::ListGroups => Request::ListGroups(ListGroupsRequest::decode(reader, v)?),
        ApiKey::DeleteGroups => Request::DeleteGroups(DeleteGroupsRequest::decode(reader, v)?),
        ApiKey::OffsetDelete => Request::OffsetDelete(OffsetDeleteRequest::decode(reader, v)?),
        ApiKey::InitProducerId => {
            Request::InitProducerId(InitProducerIdRequest::decode(reader, v)?)
        }
        ApiKey::DeleteRecords => Request::DeleteRecords(DeleteRecordsRequest::decode(reader, v)?),
        ApiKey::OffsetForLeaderEpoch => {
            Request::OffsetForLeaderEpoch(OffsetForLeaderEpochRequest::decode(reader, v)?)
        }
        ApiKey::AlterConfigs => Request::AlterConfigs(AlterConfigsRequest::decode(reader, v)?),
        ApiKey::CreatePartitions => {
            Request::CreatePartitions(CreatePartitionsRequest::decode(reader, v)?)
        }
        ApiKey::DescribeCluster => {
            Request::DescribeCluster(DescribeClusterRequest::decode(reader, v)?)
        }
        ApiKey::IncrementalAlterConfigs => {
            Request::IncrementalAlterConfigs(IncrementalAlterConfigsRequest::decode(reader, v)?)
        }
        ApiKey::ElectLeaders => Request::ElectLeaders(ElectLeadersRequest::decode(reader, v)?),
        ApiKey::AlterPartitionReassignments => Request::AlterPartitionReassignments(
            AlterPartitionReassignmentsRequest::decode(reader, v)?,
        ),
        ApiKey::ListPartitionReassignments => Request::ListPartitionReassignments(
            ListPartitionReassignmentsRequest::decode(reader, v)?,
        ),
        ApiKey::AddPartitionsToTxn => {
            Request::AddPartitionsToTxn(AddPartitionsToTxnRequest::decode(reader, v)?)
        }
        ApiKey::AddOffsetsToTxn => {
            Request::AddOffsetsToTxn(AddOffsetsToTxnRequest::decode(reader, v)?)
        }
        ApiKey::EndTxn => Request::EndTxn(EndTxnRequest::decode(reader, v)?),
        ApiKey::WriteTxnMarkers => {
            Request::WriteTxnMarkers(WriteTxnMarkersRequest::decode(reader, v)?)
        }
        ApiKey::TxnOffsetCommit => {
            Request::TxnOffsetCommit(TxnOffsetCommitRequest::decode(reader, v)?)
        }
        ApiKey::DescribeProducers => {
            Request::DescribeProducers(DescribeProducersRequest::decode(reader, v)?)
        }
        ApiKey::DescribeTransactions => {
            Request::DescribeTransactions(DescribeTransactionsRequest::decode(reader, v)?)
        }
        ApiKey::ListTransactions => {
            Request::ListTransactions(ListTransactionsRequest::decode(reader, v)?)
        }
    };
    // Like Kafka's own parsers, ignore bytes after the last field: librdkafka
    // sends a few in some flexible versions, and Kafka accepts them.
    Ok(request)
}
