//! The registry of served APIs: key, version range and where flexible versions start.
//!
//! This table is the single source of truth: the request decoder dispatches on it and
//! the ApiVersions response is generated from it, so we advertise exactly what we
//! decode.

/// A served API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i16)]
pub enum ApiKey {
    Produce = 0,
    Fetch = 1,
    ListOffsets = 2,
    Metadata = 3,
    OffsetCommit = 8,
    OffsetFetch = 9,
    FindCoordinator = 10,
    JoinGroup = 11,
    Heartbeat = 12,
    LeaveGroup = 13,
    SyncGroup = 14,
    DescribeGroups = 15,
    ListGroups = 16,
    ApiVersions = 18,
    CreateTopics = 19,
    DeleteTopics = 20,
    DeleteRecords = 21,
    InitProducerId = 22,
    OffsetForLeaderEpoch = 23,
    AddPartitionsToTxn = 24,
    AddOffsetsToTxn = 25,
    EndTxn = 26,
    WriteTxnMarkers = 27,
    TxnOffsetCommit = 28,
    DescribeConfigs = 32,
    AlterConfigs = 33,
    CreatePartitions = 37,
    DeleteGroups = 42,
    ElectLeaders = 43,
    IncrementalAlterConfigs = 44,
    AlterPartitionReassignments = 45,
    ListPartitionReassignments = 46,
    OffsetDelete = 47,
    DescribeCluster = 60,
    DescribeProducers = 61,
    DescribeTransactions = 65,
    ListTransactions = 66,
}

impl ApiKey {
    /// The served API with this wire key, if any.
    pub fn from_i16(key: i16) -> Option<Self> {
        SUPPORTED_APIS
            .iter()
            .find(|s| s.key as i16 == key)
            .map(|s| s.key)
    }

    /// Kafka's name for the API (used in logs and metrics).
    pub fn name(self) -> &'static str {
        match self {
            Self::Produce => "Produce",
            Self::Fetch => "Fetch",
            Self::ListOffsets => "ListOffsets",
            Self::Metadata => "Metadata",
            Self::OffsetCommit => "OffsetCommit",
            Self::OffsetFetch => "OffsetFetch",
            Self::FindCoordinator => "FindCoordinator",
            Self::JoinGroup => "JoinGroup",
            Self::Heartbeat => "Heartbeat",
            Self::LeaveGroup => "LeaveGroup",
            Self::SyncGroup => "SyncGroup",
            Self::DescribeGroups => "DescribeGroups",
            Self::ListGroups => "ListGroups",
            Self::DeleteGroups => "DeleteGroups",
            Self::DescribeCluster => "DescribeCluster",
            Self::OffsetDelete => "OffsetDelete",
            Self::ApiVersions => "ApiVersions",
            Self::CreateTopics => "CreateTopics",
            Self::DeleteTopics => "DeleteTopics",
            Self::DescribeConfigs => "DescribeConfigs",
            Self::InitProducerId => "InitProducerId",
            Self::DeleteRecords => "DeleteRecords",
            Self::OffsetForLeaderEpoch => "OffsetForLeaderEpoch",
            Self::AlterConfigs => "AlterConfigs",
            Self::CreatePartitions => "CreatePartitions",
            Self::IncrementalAlterConfigs => "IncrementalAlterConfigs",
            Self::ElectLeaders => "ElectLeaders",
            Self::AlterPartitionReassignments => "AlterPartitionReassignments",
            Self::ListPartitionReassignments => "ListPartitionReassignments",
            Self::AddPartitionsToTxn => "AddPartitionsToTxn",
            Self::AddOffsetsToTxn => "AddOffsetsToTxn",
            Self::EndTxn => "EndTxn",
            Self::WriteTxnMarkers => "WriteTxnMarkers",
            Self::TxnOffsetCommit => "TxnOffsetCommit",
            Self::DescribeProducers => "DescribeProducers",
            Self::DescribeTransactions => "DescribeTransactions",
            Self::ListTransactions => "ListTransactions",
        }
    }
}

/// An inclusive version range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiRange {
    /// Oldest version served.
    pub min: i16,
    /// Newest version served.
    pub max: i16,
}

impl ApiRange {
    /// Whether `version` is served.
    pub fn contains(self, version: i16) -> bool {
        (self.min..=self.max).contains(&version)
    }
}

/// One served API.
#[derive(Debug, Clone, Copy)]
pub struct ApiSpec {
    /// Wire key.
    pub key: ApiKey,
    /// Versions we decode and answer.
    pub range: ApiRange,
    /// First flexible (compact strings, tagged fields, header v2) version.
    pub flexible_min: i16,
}

const fn spec(key: ApiKey, min: i16, max: i16, flexible_min: i16) -> ApiSpec {
    ApiSpec {
        key,
        range: ApiRange { min, max },
        flexible_min,
    }
}

/// Every served API. Floors follow librdkafka's feature checks (Produce from v0).
pub const SUPPORTED_APIS: &[ApiSpec] = &[
    spec(ApiKey::Produce, 0, 9, 9),
    spec(ApiKey::Fetch, 4, 12, 12),
    spec(ApiKey::ListOffsets, 1, 6, 6),
    spec(ApiKey::Metadata, 0, 12, 9),
    spec(ApiKey::OffsetCommit, 2, 8, 8),
    spec(ApiKey::OffsetFetch, 1, 7, 6),
    spec(ApiKey::FindCoordinator, 0, 3, 3),
    spec(ApiKey::JoinGroup, 0, 7, 6),
    spec(ApiKey::Heartbeat, 0, 4, 4),
    spec(ApiKey::LeaveGroup, 0, 4, 4),
    spec(ApiKey::SyncGroup, 0, 5, 4),
    spec(ApiKey::DescribeGroups, 0, 5, 5),
    spec(ApiKey::ListGroups, 0, 5, 3),
    spec(ApiKey::ApiVersions, 0, 3, 3),
    spec(ApiKey::CreateTopics, 2, 7, 5),
    spec(ApiKey::DeleteTopics, 1, 6, 4),
    spec(ApiKey::DescribeConfigs, 1, 4, 4),
    spec(ApiKey::DeleteGroups, 0, 2, 2),
    spec(ApiKey::OffsetDelete, 0, 0, i16::MAX),
    spec(ApiKey::InitProducerId, 0, 4, 2),
    spec(ApiKey::DeleteRecords, 0, 2, 2),
    spec(ApiKey::OffsetForLeaderEpoch, 0, 4, 4),
    spec(ApiKey::AlterConfigs, 0, 2, 2),
    spec(ApiKey::CreatePartitions, 0, 3, 2),
    spec(ApiKey::IncrementalAlterConfigs, 0, 1, 1),
    spec(ApiKey::DescribeCluster, 0, 1, 0),
    spec(ApiKey::ElectLeaders, 0, 2, 2),
    spec(ApiKey::AlterPartitionReassignments, 0, 0, 0),
    spec(ApiKey::ListPartitionReassignments, 0, 0, 0),
    spec(ApiKey::AddPartitionsToTxn, 0, 5, 3),
    spec(ApiKey::AddOffsetsToTxn, 0, 4, 3),
    spec(ApiKey::EndTxn, 0, 4, 3),
    spec(ApiKey::WriteTxnMarkers, 1, 1, 1),
    spec(ApiKey::TxnOffsetCommit, 0, 4, 3),
    spec(ApiKey::DescribeProducers, 0, 0, 0),
    spec(ApiKey::DescribeTransactions, 0, 0, 0),
    spec(ApiKey::ListTransactions, 0, 1, 0),
];

/// The spec of a served API by wire key.
pub fn api_spec(key: i16) -> Option<&'static ApiSpec> {
    SUPPORTED_APIS.iter().find(|s| s.key as i16 == key)
}
