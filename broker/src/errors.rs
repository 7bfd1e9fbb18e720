//! The one place where Weir's errors become Kafka error codes.

use kafka_protocol::ResponseError;
use weir_client::protocol::requests::offset_for_leader_epoch::NO_LEADER_EPOCH;

use crate::controller::{ElectionError, MetadataImage, ReassignmentError, TopicError};
use crate::partition::PartitionError;

/// No error.
pub const NONE: i16 = 0;
/// OFFSET_OUT_OF_RANGE: DeleteRecords beyond the high watermark.
pub const OFFSET_OUT_OF_RANGE: i16 = 1;
/// UNKNOWN_TOPIC_OR_PARTITION.
pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
/// REQUEST_TIMED_OUT, for a group call or commit that got no answer in time.
pub const REQUEST_TIMED_OUT: i16 = 7;
/// OFFSET_METADATA_TOO_LARGE: commit metadata over `offset.metadata.max.bytes`.
pub const OFFSET_METADATA_TOO_LARGE: i16 = 12;
/// COORDINATOR_LOAD_IN_PROGRESS: the group's offsets are still being loaded.
pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
/// COORDINATOR_NOT_AVAILABLE.
pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
/// MISMATCHED_ENDPOINT_TYPE: DescribeCluster asked a broker for controllers.
pub const MISMATCHED_ENDPOINT_TYPE: i16 = 114;
/// NOT_COORDINATOR: the group's offsets partition is led by another broker.
pub const NOT_COORDINATOR: i16 = 16;
/// NOT_LEADER_OR_FOLLOWER: the partition is not led by this broker.
pub const NOT_LEADER_OR_FOLLOWER: i16 = 6;
/// A new leader does not yet know its committed end (ListOffsets, retriable).
pub const OFFSET_NOT_AVAILABLE: i16 = 78;
/// INVALID_TOPIC_EXCEPTION: also DeleteRecords on an internal topic.
pub const INVALID_TOPIC_EXCEPTION: i16 = 17;
/// ILLEGAL_GENERATION.
pub const ILLEGAL_GENERATION: i16 = 22;
/// INCONSISTENT_GROUP_PROTOCOL.
pub const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
/// INVALID_GROUP_ID (empty or overlong group id).
pub const INVALID_GROUP_ID: i16 = 24;
/// UNKNOWN_MEMBER_ID.
pub const UNKNOWN_MEMBER_ID: i16 = 25;
/// INVALID_SESSION_TIMEOUT.
pub const INVALID_SESSION_TIMEOUT: i16 = 26;
/// REBALANCE_IN_PROGRESS.
pub const REBALANCE_IN_PROGRESS: i16 = 27;
/// FENCED_LEADER_EPOCH: the asker's current leader epoch is older than the
/// partition's.
pub const FENCED_LEADER_EPOCH: i16 = 74;
/// UNKNOWN_LEADER_EPOCH: the asker's current leader epoch is newer than the
/// partition's in this broker's metadata (retriable: ours is behind).
pub const UNKNOWN_LEADER_EPOCH: i16 = 75;
/// NON_EMPTY_GROUP: DeleteGroups on a group with members.
pub const NON_EMPTY_GROUP: i16 = 68;
/// GROUP_ID_NOT_FOUND.
pub const GROUP_ID_NOT_FOUND: i16 = 69;
/// MEMBER_ID_REQUIRED (JoinGroup v4+ first join).
pub const MEMBER_ID_REQUIRED: i16 = 79;
/// GROUP_MAX_SIZE_REACHED.
pub const GROUP_MAX_SIZE_REACHED: i16 = 81;
/// FENCED_INSTANCE_ID: an older incarnation of a static member.
pub const FENCED_INSTANCE_ID: i16 = 82;
/// GROUP_SUBSCRIBED_TO_TOPIC: OffsetDelete of a topic the group consumes.
pub const GROUP_SUBSCRIBED_TO_TOPIC: i16 = 86;
/// INVALID_REQUEST: a well-formed request Weir does not serve (transactions), or
/// a malformed admin request (duplicate resources, unknown resource types).
pub const INVALID_REQUEST: i16 = 42;
/// INVALID_PARTITIONS: CreatePartitions that does not grow the topic.
pub const INVALID_PARTITIONS: i16 = 37;
/// INVALID_REPLICA_ASSIGNMENT: a manual assignment that cannot be used.
pub const INVALID_REPLICA_ASSIGNMENT: i16 = 39;
/// INVALID_CONFIG: unknown config, bad value, or a config that cannot be
/// altered (Weir's broker configs are static).
pub const INVALID_CONFIG: i16 = 40;

/// PREFERRED_LEADER_NOT_AVAILABLE: the preferred replica is down or out of sync.
pub const PREFERRED_LEADER_NOT_AVAILABLE: i16 = 80;
/// ELIGIBLE_LEADERS_NOT_AVAILABLE: no replica may lead.
pub const ELIGIBLE_LEADERS_NOT_AVAILABLE: i16 = 83;
/// ELECTION_NOT_NEEDED: the partition already has the leader asked for.
pub const ELECTION_NOT_NEEDED: i16 = 84;
/// NO_REASSIGNMENT_IN_PROGRESS: a cancellation with nothing to cancel.
pub const NO_REASSIGNMENT_IN_PROGRESS: i16 = 85;

/// The Kafka error code of one partition's election that did not happen.
pub fn election_error_code(e: &ElectionError) -> i16 {
    match e {
        ElectionError::NotNeeded => ELECTION_NOT_NEEDED,
        ElectionError::PreferredLeaderNotAvailable(_) => PREFERRED_LEADER_NOT_AVAILABLE,
        ElectionError::EligibleLeadersNotAvailable(_) => ELIGIBLE_LEADERS_NOT_AVAILABLE,
        ElectionError::UnknownTopicOrPartition => UNKNOWN_TOPIC_OR_PARTITION,
        ElectionError::Unavailable(_) => REQUEST_TIMED_OUT,
    }
}

/// The Kafka error code of one partition's refused reassignment.
pub fn reassignment_error_code(e: &ReassignmentError) -> i16 {
    match e {
        ReassignmentError::UnknownTopicOrPartition => UNKNOWN_TOPIC_OR_PARTITION,
        ReassignmentError::InvalidReplicaAssignment(_) => INVALID_REPLICA_ASSIGNMENT,
        ReassignmentError::NoReassignmentInProgress => NO_REASSIGNMENT_IN_PROGRESS,
        ReassignmentError::Unavailable(_) => REQUEST_TIMED_OUT,
    }
}

/// The Kafka error code for a topic change failure.
pub fn topic_error_code(e: &TopicError) -> i16 {
    match e {
        TopicError::AlreadyExists(_) => ResponseError::TopicAlreadyExists.code(),
        TopicError::InvalidName(_) => ResponseError::InvalidTopicException.code(),
        TopicError::InvalidPartitions(_) => ResponseError::InvalidPartitions.code(),
        TopicError::InvalidReplicationFactor(_) => ResponseError::InvalidReplicationFactor.code(),
        TopicError::InvalidConfig(_) => ResponseError::InvalidConfig.code(),
        TopicError::UnknownTopic(_) => ResponseError::UnknownTopicOrPartition.code(),
        TopicError::InvalidReplicaAssignment(_) => INVALID_REPLICA_ASSIGNMENT,
        TopicError::InvalidRequest(_) => INVALID_REQUEST,
        TopicError::Storage(_) => ResponseError::KafkaStorageError.code(),
        TopicError::Unavailable(_) => ResponseError::RequestTimedOut.code(),
    }
}

/// The Kafka error code for a failed append or read.
pub fn partition_error_code(e: &PartitionError) -> i16 {
    match e {
        PartitionError::CorruptMessage(_) => ResponseError::CorruptMessage.code(),
        PartitionError::MessageTooLarge { .. } => ResponseError::MessageTooLarge.code(),
        PartitionError::UnsupportedMessageFormat => {
            ResponseError::UnsupportedForMessageFormat.code()
        }
        PartitionError::InvalidRecord(_) => ResponseError::InvalidRecord.code(),
        PartitionError::Storage(_) => ResponseError::KafkaStorageError.code(),
        PartitionError::NotAvailable => ResponseError::NotLeaderOrFollower.code(),
        PartitionError::Timeout => ResponseError::RequestTimedOut.code(),
        PartitionError::OffsetOutOfRange => ResponseError::OffsetOutOfRange.code(),
        PartitionError::OutOfOrderSequence(_) => ResponseError::OutOfOrderSequenceNumber.code(),
        PartitionError::InvalidProducerEpoch(_) => ResponseError::InvalidProducerEpoch.code(),
        PartitionError::NotLeader => ResponseError::NotLeaderOrFollower.code(),
        PartitionError::NotEnoughReplicas { .. } => ResponseError::NotEnoughReplicas.code(),
        PartitionError::NotEnoughReplicasAfterAppend { .. } => {
            ResponseError::NotEnoughReplicasAfterAppend.code()
        }
        PartitionError::FencedLeaderEpoch { .. } => ResponseError::FencedLeaderEpoch.code(),
        PartitionError::UnknownLeaderEpoch { .. } => ResponseError::UnknownLeaderEpoch.code(),
        // Only seen by the produce path, which verifies; never a client's.
        PartitionError::NeedsVerification { .. } => ResponseError::InvalidTxnState.code(),
    }
}

/// The code for a partition this broker does not host: NOT_LEADER_OR_FOLLOWER
/// when the image places it on another broker (the client refreshes its
/// metadata and goes there), UNKNOWN_TOPIC_OR_PARTITION when it does not exist.
pub fn missing_partition(image: &MetadataImage, node_id: i32, topic: &str, partition: i32) -> i16 {
    let placed_elsewhere = image
        .topic(topic)
        .and_then(|t| t.partitions.get(partition as usize))
        .is_some_and(|p| p.leader != node_id);
    if placed_elsewhere {
        NOT_LEADER_OR_FOLLOWER
    } else {
        unknown_topic_or_partition()
    }
}

/// Kafka's fencing of a request's `current_leader_epoch` against the
/// partition's `leader_epoch`: none when the request names none (-1) or the
/// same one; FENCED_LEADER_EPOCH when the asker is behind, UNKNOWN_LEADER_EPOCH
/// when this broker is.
pub fn leader_epoch_fencing(current_leader_epoch: i32, leader_epoch: i32) -> Option<i16> {
    use std::cmp::Ordering;
    if current_leader_epoch == NO_LEADER_EPOCH {
        return None;
    }
    match current_leader_epoch.cmp(&leader_epoch) {
        Ordering::Less => Some(FENCED_LEADER_EPOCH),
        Ordering::Greater => Some(UNKNOWN_LEADER_EPOCH),
        Ordering::Equal => None,
    }
}

/// UNKNOWN_TOPIC_OR_PARTITION.
pub fn unknown_topic_or_partition() -> i16 {
    ResponseError::UnknownTopicOrPartition.code()
}

/// KAFKA_STORAGE_ERROR (partition offline).
pub fn storage_error() -> i16 {
    ResponseError::KafkaStorageError.code()
}

/// LEADER_NOT_AVAILABLE (partition still loading).
pub fn leader_not_available() -> i16 {
    ResponseError::LeaderNotAvailable.code()
}

/// UNSUPPORTED_VERSION.
pub fn unsupported_version() -> i16 {
    ResponseError::UnsupportedVersion.code()
}
