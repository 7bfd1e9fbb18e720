//! Every bound the protocol layer enforces, in one place.

/// Largest request frame accepted by default (Kafka's `socket.request.max.bytes`).
pub const FRAME_BYTES_MAX_DEFAULT: usize = 100 * 1024 * 1024;

/// Smallest frame we ever accept: api_key + api_version + correlation_id + client_id length.
pub const FRAME_BYTES_MIN: usize = 10;

/// Longest string field (client id, topic name, config name) a request may carry.
pub const STRING_BYTES_MAX: usize = i16::MAX as usize;

/// Longest group id a handler accepts; a longer one is answered INVALID_GROUP_ID.
pub const GROUP_ID_BYTES_MAX: usize = STRING_BYTES_MAX;

/// Longest group id the decoder reads (compact strings can be longer than classic
/// ones): up to this a too-long id is decoded so that it can be answered with
/// INVALID_GROUP_ID instead of a closed connection.
pub const GROUP_ID_DECODE_BYTES_MAX: usize = 1 << 20;

/// Most elements in any one array of a request; a real client never comes close.
pub const ARRAY_LEN_MAX: usize = 1 << 20;

/// Longest valid topic name (Kafka's limit).
pub const TOPIC_NAME_BYTES_MAX: usize = 249;

/// Length of a RecordBatch v2 header, up to and including recordCount.
pub const RECORD_BATCH_HEADER_BYTES: usize = 61;

/// Smallest encoded record: length, attributes, timestampDelta, offsetDelta, key
/// length, value length and header count, one byte each. Bounds recordCount of an
/// uncompressed batch by its size.
pub const RECORD_BYTES_MIN: usize = 7;

const _: () = assert!(FRAME_BYTES_MIN < FRAME_BYTES_MAX_DEFAULT);
const _: () = assert!(TOPIC_NAME_BYTES_MAX < STRING_BYTES_MAX);
const _: () = assert!(GROUP_ID_BYTES_MAX < GROUP_ID_DECODE_BYTES_MAX);
const _: () = assert!(RECORD_BATCH_HEADER_BYTES + RECORD_BYTES_MIN < FRAME_BYTES_MAX_DEFAULT);
