//! Our own response types for the Weir client, one module per API, each at the one
//! version the client pins.
//!
//! kafka-protocol's decoders trust wire counts (they go straight into
//! `Vec::with_capacity`), so a hostile or broken broker could abort the client; these
//! read through the bounded [`Reader`] instead. Names follow Kafka's schemas verbatim;
//! each `decode` reads exactly its version's fields, skips unknown tagged fields and
//! requires the body to end where the last field does.

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
pub mod describe_configs;
pub mod describe_groups;
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
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod sync_group;
pub mod txn_offset_commit;
pub mod write_txn_markers;

pub use add_offsets_to_txn::AddOffsetsToTxnResponse;
pub use add_partitions_to_txn::AddPartitionsToTxnResponse;
pub use alter_configs::AlterConfigsResponse;
pub use alter_partition_reassignments::AlterPartitionReassignmentsResponse;
pub use api_versions::ApiVersionsResponse;
pub use create_partitions::CreatePartitionsResponse;
pub use create_topics::CreateTopicsResponse;
pub use delete_groups::DeleteGroupsResponse;
pub use delete_records::DeleteRecordsResponse;
pub use delete_topics::DeleteTopicsResponse;
pub use describe_configs::DescribeConfigsResponse;
pub use describe_groups::DescribeGroupsResponse;
pub use elect_leaders::ElectLeadersResponse;
pub use end_txn::EndTxnResponse;
pub use fetch::FetchResponse;
pub use find_coordinator::FindCoordinatorResponse;
pub use heartbeat::HeartbeatResponse;
pub use incremental_alter_configs::IncrementalAlterConfigsResponse;
pub use init_producer_id::InitProducerIdResponse;
pub use join_group::JoinGroupResponse;
pub use leave_group::LeaveGroupResponse;
pub use list_groups::ListGroupsResponse;
pub use list_offsets::ListOffsetsResponse;
pub use list_partition_reassignments::ListPartitionReassignmentsResponse;
pub use metadata::MetadataResponse;
pub use offset_commit::OffsetCommitResponse;
pub use offset_delete::OffsetDeleteResponse;
pub use offset_fetch::OffsetFetchResponse;
pub use offset_for_leader_epoch::OffsetForLeaderEpochResponse;
pub use produce::ProduceResponse;
pub use sync_group::SyncGroupResponse;
pub use txn_offset_commit::TxnOffsetCommitResponse;
pub use write_txn_markers::WriteTxnMarkersResponse;

use super::error::DecodeError;
use super::reader::Reader;

// The versions the client sends, hence the only ones these modules decode.
pub const PRODUCE_VERSION: i16 = 9;
pub const FETCH_VERSION: i16 = 12;
pub const LIST_OFFSETS_VERSION: i16 = 6;
pub const METADATA_VERSION: i16 = 12;
pub const OFFSET_COMMIT_VERSION: i16 = 8;
pub const OFFSET_FETCH_VERSION: i16 = 7;
pub const FIND_COORDINATOR_VERSION: i16 = 3;
pub const JOIN_GROUP_VERSION: i16 = 7;
pub const HEARTBEAT_VERSION: i16 = 4;
pub const LEAVE_GROUP_VERSION: i16 = 4;
pub const SYNC_GROUP_VERSION: i16 = 5;
pub const DESCRIBE_GROUPS_VERSION: i16 = 5;
pub const LIST_GROUPS_VERSION: i16 = 4;
pub const API_VERSIONS_VERSION: i16 = 3;
pub const CREATE_TOPICS_VERSION: i16 = 7;
pub const DELETE_TOPICS_VERSION: i16 = 6;
pub const DELETE_RECORDS_VERSION: i16 = 2;
pub const OFFSET_FOR_LEADER_EPOCH_VERSION: i16 = 4;
pub const INIT_PRODUCER_ID_VERSION: i16 = 4;
pub const DESCRIBE_CONFIGS_VERSION: i16 = 4;
pub const ALTER_CONFIGS_VERSION: i16 = 2;
pub const CREATE_PARTITIONS_VERSION: i16 = 3;
pub const DELETE_GROUPS_VERSION: i16 = 2;
pub const INCREMENTAL_ALTER_CONFIGS_VERSION: i16 = 1;
pub const OFFSET_DELETE_VERSION: i16 = 0;
pub const ELECT_LEADERS_VERSION: i16 = 2;
pub const ALTER_PARTITION_REASSIGNMENTS_VERSION: i16 = 0;
pub const LIST_PARTITION_REASSIGNMENTS_VERSION: i16 = 0;
// Transactions: the client's AddPartitionsToTxn form is v0–3 (v4+ is the batched
// broker-to-broker form); WriteTxnMarkers is what the broker's marker sender sends.
pub const ADD_PARTITIONS_TO_TXN_VERSION: i16 = 3;
pub const ADD_OFFSETS_TO_TXN_VERSION: i16 = 4;
pub const END_TXN_VERSION: i16 = 4;
pub const WRITE_TXN_MARKERS_VERSION: i16 = 1;
pub const TXN_OFFSET_COMMIT_VERSION: i16 = 4;

/// The first flexible version of every API in Kafka's schemas (as of
/// kafka-protocol 0.18), `None` for APIs that never became flexible.
fn first_flexible_version(api_key: i16) -> Option<i16> {
    match api_key {
        // Produce, Fetch, ListOffsets, Metadata.
        0 => Some(9),
        1 => Some(12),
        2 => Some(6),
        3 => Some(9),
        // OffsetCommit, OffsetFetch, FindCoordinator, JoinGroup.
        8 => Some(8),
        9 => Some(6),
        10 => Some(3),
        11 => Some(6),
        // Heartbeat, LeaveGroup, SyncGroup, DescribeGroups, ListGroups.
        12..=14 => Some(4),
        15 => Some(5),
        16 => Some(3),
        // CreateTopics, DeleteTopics, DeleteRecords, InitProducerId.
        19 => Some(5),
        20 => Some(4),
        21 | 22 => Some(2),
        // OffsetForLeaderEpoch, the transaction APIs.
        23 => Some(4),
        24..=26 | 28 => Some(3),
        27 => Some(1),
        // ACLs, configs, log dirs, SASL authenticate, partitions, tokens,
        // DeleteGroups, ElectLeaders; DescribeConfigs.
        29..=31 | 33..=43 => Some(2),
        32 => Some(4),
        // IncrementalAlterConfigs, client quotas, Begin/EndQuorumEpoch.
        44 | 48 | 49 | 53 | 54 => Some(1),
        // Every later API is flexible from v0.
        45 | 46 | 50..=52 | 55..=87 | 90..=92 => Some(0),
        // SaslHandshake (17), ApiVersions (18), OffsetDelete (47), unknown keys.
        _ => None,
    }
}

/// The response header version for a request of `api_key` at `api_version`: 1
/// (correlation id and tagged fields) for flexible versions, else 0. ApiVersions is
/// always 0 so that a client can read the answer before knowing what the broker
/// supports.
pub fn response_header_version(api_key: i16, api_version: i16) -> i16 {
    match first_flexible_version(api_key) {
        Some(first) if api_version >= first => 1,
        _ => 0,
    }
}

/// Reads a response header of `header_version` (0 or 1) and returns its
/// correlation id.
pub fn decode_response_header(
    reader: &mut Reader,
    header_version: i16,
) -> Result<i32, DecodeError> {
    let correlation_id = reader.i32()?;
    match header_version {
        0 => {}
        1 => reader.tagged_fields(true)?,
        _ => {
            return Err(DecodeError::InvalidValue {
                what: "response header version",
            });
        }
    }
    Ok(correlation_id)
}
