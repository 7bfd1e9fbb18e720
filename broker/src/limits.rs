//! Every bound the broker enforces, in one place, with the relations between them
//! checked at compile time.

pub use weir_client::protocol::limits::FRAME_BYTES_MAX_DEFAULT;

/// Largest record batch accepted by default (Kafka's `message.max.bytes`, ~1 MiB).
pub const MESSAGE_BYTES_MAX_DEFAULT: u32 = 1024 * 1024 + 12;

/// Concurrent client connections by default.
pub const CONNECTIONS_MAX_DEFAULT: usize = 4096;

/// Requests one connection may have in flight (decoded, not yet answered).
pub const INFLIGHT_REQUESTS_MAX_DEFAULT: usize = 64;

/// Most partitions one topic may have.
pub const PARTITIONS_PER_TOPIC_MAX: i32 = 10_000;

/// Partitions one broker hosts at most by default (each is an actor and open files).
pub const PARTITIONS_MAX_DEFAULT: usize = 100_000;

/// Smallest segment size allowed (Kafka's minimum is 14 bytes; this keeps file counts sane).
pub const SEGMENT_BYTES_MIN: u64 = 1024;

/// Longest a fetch may be parked, whatever the client asks.
pub const FETCH_WAIT_MS_MAX: u64 = 30_000;

/// Bytes read from the socket per read call.
pub const SOCKET_READ_BYTES: usize = 64 * 1024;

/// Responses the writer task coalesces into one socket write.
pub const WRITE_BATCH_RESPONSES_MAX: usize = 64;

/// Longest a request handler may wait on an actor RPC before answering with a timeout.
pub const ACTOR_CALL_TIMEOUT_MS: u64 = 30_000;

/// Longest a group request waits to be routed to its coordinator (held while the
/// offsets load) before it is answered COORDINATOR_LOAD_IN_PROGRESS.
pub const GROUP_ROUTE_WAIT_MS: u64 = 10_000;

/// Longest a CreateTopics/auto-create waits for new partitions to come online.
pub const TOPIC_READY_WAIT_MS: u64 = 10_000;

/// Appends a partition may have waiting for an fsync before it refuses more.
pub const PENDING_ACKS_MAX: usize = 100_000;

/// Interval at which unflushed appends are flushed under the default policy.
pub const FLUSH_INTERVAL_MS_DEFAULT: u64 = 50;

/// Graceful shutdown waits at most this long for in-flight requests.
pub const SHUTDOWN_GRACE_MS: u64 = 10_000;

const _: () = assert!(MESSAGE_BYTES_MAX_DEFAULT as usize <= FRAME_BYTES_MAX_DEFAULT);
const _: () = assert!(
    INFLIGHT_REQUESTS_MAX_DEFAULT >= 5,
    "Kafka clients pipeline 5 requests"
);
const _: () = assert!(WRITE_BATCH_RESPONSES_MAX <= INFLIGHT_REQUESTS_MAX_DEFAULT);

/// Distinct keys one compaction pass indexes at most (beyond, the pass is skipped
/// with a warning rather than growing memory without bound).
pub const COMPACTION_KEYS_MAX: usize = 4 << 20;

/// Bytes a compressed batch may decompress to for compaction (beyond, it is
/// kept whole).
pub const COMPACTION_DECOMPRESSED_BYTES_MAX: usize = 64 << 20;

/// Key bytes one compaction pass holds at most.
pub const COMPACTION_KEY_BYTES_MAX: usize = 256 << 20;

/// Producer ids a broker takes from the controller at a time. A restart skips
/// what was left of its block (ids are never reused), so this trades metadata
/// records against ids wasted per restart.
pub const PRODUCER_ID_BLOCK: i64 = 1000;

/// Idempotent producers remembered per partition. Beyond this the ones that
/// appended least recently are forgotten (their next batch is accepted with any
/// sequence, as after Kafka's producer id expiry).
pub const PRODUCERS_PER_PARTITION_MAX: usize = 100_000;

/// Batches remembered per producer for duplicate detection (Kafka: 5, matching
/// the in-flight requests an idempotent producer may have).
pub const PRODUCER_BATCHES_REMEMBERED: usize = 5;

/// Idle time after which a partition forgets an idempotent producer (Kafka's
/// `producer.id.expiration.ms` default, one day).
pub const PRODUCER_ID_EXPIRATION_MS: i64 = 86_400_000;

/// How long a broker that is not the active controller keeps trying to reach
/// one for a request (within the handlers' call timeout).
pub const CONTROLLER_FORWARD_WAIT_MS: u64 = 15_000;
const _: () = assert!(CONTROLLER_FORWARD_WAIT_MS < ACTOR_CALL_TIMEOUT_MS);

/// How long a broker tries to bring a heartbeat to the active controller.
pub const HEARTBEAT_FORWARD_WAIT_MS: u64 = 2_000;

/// Longest wait at shutdown for the controller to move this broker's
/// leaderships away (Kafka's controlled shutdown), then for the image to show it.
pub const CONTROLLED_SHUTDOWN_WAIT_MS: u64 = 10_000;
