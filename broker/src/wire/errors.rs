//! The one place where Weir's errors become Kafka error codes.

use kafka_protocol::ResponseError;

use crate::controller::TopicError;
use crate::partition::PartitionError;

/// No error.
pub const NONE: i16 = 0;
/// INVALID_GROUP_ID (empty group id).
pub const INVALID_GROUP_ID: i16 = 24;
/// REQUEST_TIMED_OUT, for a group call that got no answer in time.
pub const REQUEST_TIMED_OUT: i16 = 7;

/// The Kafka error code for a topic change failure.
pub fn topic_error_code(e: &TopicError) -> i16 {
    match e {
        TopicError::AlreadyExists(_) => ResponseError::TopicAlreadyExists.code(),
        TopicError::InvalidName(_) => ResponseError::InvalidTopicException.code(),
        TopicError::InvalidPartitions(_) => ResponseError::InvalidPartitions.code(),
        TopicError::InvalidReplicationFactor(_) => ResponseError::InvalidReplicationFactor.code(),
        TopicError::InvalidConfig(_) => ResponseError::InvalidConfig.code(),
        TopicError::UnknownTopic(_) => ResponseError::UnknownTopicOrPartition.code(),
        TopicError::Storage(_) => ResponseError::KafkaStorageError.code(),
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
