//! The broker's metrics, served as Prometheus text on the HTTP port's
//! `/metrics` ([`crate::http`]). Each broker owns its registry (several brokers
//! run in one test process), held in [`crate::context::BrokerCtx`].
//!
//! The request path touches atomics only, apart from the first request of an
//! API and the per-topic and per-error families (prometheus-client's family
//! map, a read lock): per-API series are looked up once and kept in
//! [`OnceLock`] slots, latencies go to [`LatencyHistogram`] (atomic buckets,
//! where prometheus-client's histogram takes a mutex), and per-partition values (log start and end, high
//! watermark, size) and the under-replicated count are read at scrape time
//! from the partition registry and the metadata image, costing nothing per
//! append. Names follow Kafka's JMX names where one exists.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use kafka_protocol::ResponseError;
use kafka_protocol::messages::ApiKey;
use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

mod scrape;

pub use scrape::{CommittedOffset, CommittedOffsets, PartitionView};

/// The `Content-Type` of `/metrics` (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// API keys with a slot (Kafka's keys are below this).
const API_SLOTS: usize = 128;

/// Labels naming a request type (`request="Produce"`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    request: String,
}

/// Labels naming a request type and an error (`error="NOT_LEADER_OR_FOLLOWER"`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    request: String,
    error: String,
}

/// Labels naming a topic.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TopicLabels {
    topic: String,
}

/// Labels naming a supervisor.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SupervisorLabels {
    supervisor: String,
}

/// Upper bounds of [`LatencyHistogram`]'s buckets, in ms: 0.05 ms doubling
/// to about 26 s (then +Inf).
const LATENCY_BOUNDS_MS: [f64; 20] = {
    let mut bounds = [0.0; 20];
    let mut i = 0;
    let mut bound = 0.05;
    while i < bounds.len() {
        bounds[i] = bound;
        bound *= 2.0;
        i += 1;
    }
    bounds
};

/// A histogram of durations in milliseconds, updated with atomics only.
#[derive(Debug, Clone, Default)]
pub struct LatencyHistogram(Arc<LatencyBuckets>);

#[derive(Debug)]
struct LatencyBuckets {
    /// Observations per bucket (not cumulative); the last is +Inf.
    counts: [AtomicU64; LATENCY_BOUNDS_MS.len() + 1],
    /// Sum of the observations in microseconds.
    sum_us: AtomicU64,
}

impl Default for LatencyBuckets {
    fn default() -> Self {
        Self {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_us: AtomicU64::new(0),
        }
    }
}

impl LatencyHistogram {
    /// Records one duration.
    pub fn observe(&self, took: Duration) {
        let ms = took.as_secs_f64() * 1000.0;
        let bucket = LATENCY_BOUNDS_MS
            .iter()
            .position(|&bound| ms <= bound)
            .unwrap_or(LATENCY_BOUNDS_MS.len());
        self.0.counts[bucket].fetch_add(1, Ordering::Relaxed);
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.0.sum_us.fetch_add(us, Ordering::Relaxed);
    }
}

impl TypedMetric for LatencyHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for LatencyHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let buckets: Vec<(f64, u64)> = LATENCY_BOUNDS_MS
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(&self.0.counts)
            .map(|(bound, count)| (bound, count.load(Ordering::Relaxed)))
            .collect();
        let count = buckets.iter().map(|(_, c)| c).sum();
        let sum_ms = self.0.sum_us.load(Ordering::Relaxed) as f64 / 1000.0;
        encoder.encode_histogram::<NoLabelSet>(sum_ms, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// One API's series, cloned out of the families once (clones share values).
#[derive(Clone)]
struct ApiSeries {
    name: String,
    requests: Counter,
    request_bytes: Counter,
    response_bytes: Counter,
    total_time_ms: LatencyHistogram,
}

/// A broker's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_bytes: Family<RequestLabels, Counter>,
    response_bytes: Family<RequestLabels, Counter>,
    total_time_ms: Family<RequestLabels, LatencyHistogram>,
    errors: Family<ErrorLabels, Counter>,
    apis: Vec<OnceLock<Option<ApiSeries>>>,
    connections: Gauge,
    messages_in: Family<TopicLabels, Counter>,
    bytes_in: Family<TopicLabels, Counter>,
    bytes_out: Family<TopicLabels, Counter>,
    messages_out: Family<TopicLabels, Counter>,
    flushes_ms: LatencyHistogram,
    /// Shared with the partition view; `None` without one.
    committed: Option<CommittedOffsets>,
    /// Children restarted (or, for coordinators, failed), by supervisor.
    actor_restarts: Family<SupervisorLabels, Counter>,
    /// Milliseconds per metadata proposal committed by this member (leader).
    raft_commits_ms: LatencyHistogram,
    /// ISR changes of partitions this broker leads, committed by the controller.
    isr_shrinks: Counter,
    isr_expands: Counter,
    /// Record-set bytes in and out over every topic (the console's chart).
    total_bytes_in: AtomicU64,
    total_bytes_out: AtomicU64,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(None)
    }
}

impl Metrics {
    /// A fresh registry; `partitions` adds the scrape-time partition series.
    pub fn new(partitions: Option<PartitionView>) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "kafka_network_requestmetrics_requests",
            "Requests received, by API",
            requests.clone(),
        );
        let errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "kafka_network_requestmetrics_errors",
            "Error codes answered (per partition where the API answers per partition), by API and error; CONNECTION_CLOSED counts requests answered by closing the connection",
            errors.clone(),
        );
        let total_time_ms = Family::<RequestLabels, LatencyHistogram>::default();
        registry.register(
            "kafka_network_requestmetrics_totaltimems",
            "Milliseconds from a request's dispatch until its response is ready, by API",
            total_time_ms.clone(),
        );
        let request_bytes = Family::<RequestLabels, Counter>::default();
        registry.register(
            "kafka_network_requestmetrics_requestbytes",
            "Request bytes received (frames without the size prefix), by API",
            request_bytes.clone(),
        );
        let response_bytes = Family::<RequestLabels, Counter>::default();
        registry.register(
            "kafka_network_requestmetrics_responsebytes",
            "Response bytes sent (with the size prefix), by API",
            response_bytes.clone(),
        );
        let connections = Gauge::default();
        registry.register(
            "kafka_server_socketservermetrics_connection_count",
            "Open client connections",
            connections.clone(),
        );
        let messages_in = Family::<TopicLabels, Counter>::default();
        registry.register(
            "kafka_server_brokertopicmetrics_messagesin",
            "Records appended by Produce, by topic",
            messages_in.clone(),
        );
        let bytes_in = Family::<TopicLabels, Counter>::default();
        registry.register(
            "kafka_server_brokertopicmetrics_bytesin",
            "Record-set bytes appended by Produce, by topic",
            bytes_in.clone(),
        );
        let bytes_out = Family::<TopicLabels, Counter>::default();
        registry.register(
            "kafka_server_brokertopicmetrics_bytesout",
            "Record-set bytes returned by Fetch (consumers and followers), by topic",
            bytes_out.clone(),
        );
        let messages_out = Family::<TopicLabels, Counter>::default();
        registry.register(
            "weir_brokertopicmetrics_messagesout",
            "Records returned by Fetch (consumers and followers; whole batches, as sent), by topic",
            messages_out.clone(),
        );
        let flushes_ms = LatencyHistogram::default();
        registry.register(
            "kafka_log_logflushstats_logflushrateandtimems",
            "Milliseconds per fsync of a log file or directory by the flusher",
            flushes_ms.clone(),
        );
        let raft_commits_ms = LatencyHistogram::default();
        registry.register(
            "kafka_server_raftmetrics_commit_latency_ms",
            "Milliseconds from proposing a metadata record batch until it is committed and applied here (on the active controller)",
            raft_commits_ms.clone(),
        );
        let actor_restarts = Family::<SupervisorLabels, Counter>::default();
        registry.register(
            "weir_actor_restarts",
            "Actors that went down and are restarted, by supervisor (broker, partitions; group and transaction coordinators restart on their next request)",
            actor_restarts.clone(),
        );
        let isr_shrinks = Counter::default();
        registry.register(
            "kafka_server_replicamanager_isrshrinks",
            "Replicas removed from the ISR of partitions this broker leads (committed changes)",
            isr_shrinks.clone(),
        );
        let isr_expands = Counter::default();
        registry.register(
            "kafka_server_replicamanager_isrexpands",
            "Replicas added to the ISR of partitions this broker leads (committed changes)",
            isr_expands.clone(),
        );
        let committed = partitions.as_ref().map(|view| view.committed.clone());
        if let Some(view) = partitions {
            registry.register_collector(Box::new(view));
        }
        Self {
            registry,
            requests,
            request_bytes,
            response_bytes,
            total_time_ms,
            errors,
            apis: (0..API_SLOTS).map(|_| OnceLock::new()).collect(),
            connections,
            messages_in,
            bytes_in,
            bytes_out,
            messages_out,
            flushes_ms,
            committed,
            raft_commits_ms,
            actor_restarts,
            isr_shrinks,
            isr_expands,
            total_bytes_in: AtomicU64::new(0),
            total_bytes_out: AtomicU64::new(0),
        }
    }

    /// What the metadata quorum calls with each commit's latency.
    pub fn raft_commit_observer(&self) -> impl Fn(Duration) + Send + Sync + 'static {
        let histogram = self.raft_commits_ms.clone();
        move |took| histogram.observe(took)
    }

    /// A child of `supervisor` went down and is restarted.
    pub fn actor_restarted(&self, supervisor: &str) {
        self.actor_restarts
            .get_or_create(&SupervisorLabels {
                supervisor: supervisor.to_owned(),
            })
            .inc();
    }

    /// What a supervisor calls on each restart it schedules.
    pub fn restart_observer(
        self: &Arc<Self>,
        supervisor: &'static str,
    ) -> impl Fn(&str) + Send + Sync + 'static {
        let metrics = self.clone();
        move |_child: &str| metrics.actor_restarted(supervisor)
    }

    /// The controller committed an ISR change from `before` to `after`.
    pub fn isr_changed(&self, before: &[i32], after: &[i32]) {
        let removed = before.iter().filter(|r| !after.contains(r)).count();
        let added = after.iter().filter(|r| !before.contains(r)).count();
        self.isr_shrinks.inc_by(removed as u64);
        self.isr_expands.inc_by(added as u64);
    }

    /// Record-set bytes appended and fetched since the start, over every topic.
    pub fn total_bytes(&self) -> (u64, u64) {
        (
            self.total_bytes_in.load(Ordering::Relaxed),
            self.total_bytes_out.load(Ordering::Relaxed),
        )
    }

    /// Whether the next render wants the groups' committed offsets.
    pub fn wants_committed_offsets(&self) -> bool {
        self.committed.is_some()
    }

    /// The committed offsets the next render reports (and computes lag from).
    pub fn set_committed_offsets(&self, offsets: Vec<CommittedOffset>) {
        if let Some(committed) = &self.committed {
            *committed.lock() = offsets;
        }
    }

    /// Renders every series as Prometheus text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        {
            tracing::warn!(error = %e, "rendering metrics failed");
        }
        out
    }

    /// The series of API `api_key`, `None` for keys Kafka does not define.
    fn api(&self, api_key: i16) -> Option<&ApiSeries> {
        let slot = self.apis.get(usize::try_from(api_key).ok()?)?;
        slot.get_or_init(|| {
            let api = ApiKey::try_from(api_key).ok()?;
            let labels = RequestLabels {
                request: format!("{api:?}"),
            };
            Some(ApiSeries {
                name: labels.request.clone(),
                requests: self.requests.get_or_create(&labels).clone(),
                request_bytes: self.request_bytes.get_or_create(&labels).clone(),
                response_bytes: self.response_bytes.get_or_create(&labels).clone(),
                total_time_ms: self.total_time_ms.get_or_create(&labels).clone(),
            })
        })
        .as_ref()
    }

    /// A request frame (without its size prefix) arrived; its API key is read
    /// from its first two bytes.
    pub fn request_started(&self, frame: &[u8]) -> RequestTimer {
        let api_key = match frame {
            [a, b, ..] => i16::from_be_bytes([*a, *b]),
            _ => -1,
        };
        if let Some(api) = self.api(api_key) {
            api.requests.inc();
            api.request_bytes.inc_by(frame.len() as u64);
        }
        RequestTimer {
            api_key,
            started: Instant::now(),
        }
    }

    /// The request `timer` was started for has its response ready:
    /// `response_bytes` of it (0 when none is sent), `closed` when the
    /// connection is closed instead of (or after) answering.
    pub fn request_finished(&self, timer: RequestTimer, response_bytes: usize, closed: bool) {
        let Some(api) = self.api(timer.api_key) else {
            return;
        };
        api.total_time_ms.observe(timer.started.elapsed());
        api.response_bytes.inc_by(response_bytes as u64);
        if closed {
            self.count_error_named(&api.name, "CONNECTION_CLOSED");
        }
    }

    /// An error code answered to API `api_key` (NONE is not counted).
    pub fn error(&self, api_key: i16, code: i16) {
        if code == 0 {
            return;
        }
        let Some(api) = self.api(api_key) else {
            return;
        };
        let error = match ResponseError::try_from_code(code) {
            Some(e) => screaming_snake(&format!("{e:?}")),
            None => format!("CODE_{code}"),
        };
        self.count_error_named(&api.name, &error);
    }

    fn count_error_named(&self, request: &str, error: &str) {
        let labels = ErrorLabels {
            request: request.to_owned(),
            error: error.to_owned(),
        };
        self.errors.get_or_create(&labels).inc();
    }

    /// A client connection opened; the guard counts it until dropped.
    pub fn connection_opened(self: &Arc<Self>) -> ConnectionGuard {
        self.connections.inc();
        ConnectionGuard(self.connections.clone())
    }

    /// Produce appended `records` records in `bytes` bytes to `topic`.
    pub fn produced(&self, topic: &str, records: u64, bytes: u64) {
        let labels = TopicLabels {
            topic: topic.to_owned(),
        };
        self.messages_in.get_or_create(&labels).inc_by(records);
        self.bytes_in.get_or_create(&labels).inc_by(bytes);
        self.total_bytes_in.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Fetch returned `bytes` bytes holding `records` records of `topic`.
    pub fn fetched(&self, topic: &str, records: u64, bytes: u64) {
        if bytes == 0 {
            return;
        }
        let labels = TopicLabels {
            topic: topic.to_owned(),
        };
        self.bytes_out.get_or_create(&labels).inc_by(bytes);
        self.messages_out.get_or_create(&labels).inc_by(records);
        self.total_bytes_out.fetch_add(bytes, Ordering::Relaxed);
    }

    /// What the flusher calls after each fsync.
    pub fn fsync_observer(&self) -> impl Fn(Duration) + Send + Sync + 'static {
        let histogram = self.flushes_ms.clone();
        move |took| histogram.observe(took)
    }
}

/// When a request started, and which API it is.
#[derive(Debug, Clone, Copy)]
pub struct RequestTimer {
    api_key: i16,
    started: Instant,
}

/// Counts one open connection until dropped.
pub struct ConnectionGuard(Gauge);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// `UnknownTopicOrPartition` → `UNKNOWN_TOPIC_OR_PARTITION` (Kafka's names).
fn screaming_snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 8);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Number of records in a record set of v2 batches (the batch headers' record
/// counts; a malformed tail is ignored).
pub fn record_count(records: &[u8]) -> u64 {
    // baseOffset(8) batchLength(4) ... recordsCount at byte 57 of the batch.
    const COUNT_AT: usize = 57;
    let mut position = 0;
    let mut count = 0u64;
    while let Some(length) = records.get(position + 8..position + 12) {
        let length = i32::from_be_bytes([length[0], length[1], length[2], length[3]]);
        let Ok(length) = usize::try_from(length) else {
            break;
        };
        let total = 12 + length;
        if let Some(c) = records.get(position + COUNT_AT..position + COUNT_AT + 4) {
            count += u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
        }
        position += total;
        if position >= records.len() {
            break;
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_are_kafkas() {
        assert_eq!(
            screaming_snake("UnknownTopicOrPartition"),
            "UNKNOWN_TOPIC_OR_PARTITION"
        );
    }

    #[test]
    fn counts_requests_and_renders() {
        let metrics = Metrics::default();
        // Produce (key 0), version 9.
        let timer = metrics.request_started(&[0, 0, 0, 9, 0, 0, 0, 1]);
        metrics.request_finished(timer, 20, false);
        metrics.error(0, ResponseError::NotLeaderOrFollower.code());
        metrics.produced("t", 3, 300);
        let text = metrics.render();
        assert!(
            text.contains("kafka_network_requestmetrics_requests_total{request=\"Produce\"} 1")
        );
        assert!(
            text.contains("kafka_network_requestmetrics_totaltimems_count{request=\"Produce\"} 1")
        );
        assert!(text.contains("error=\"NOT_LEADER_OR_FOLLOWER\""));
        assert!(text.contains("kafka_server_brokertopicmetrics_messagesin_total{topic=\"t\"} 3"));
    }

    #[test]
    fn latency_histogram_buckets_are_cumulative() {
        let histogram = LatencyHistogram::default();
        histogram.observe(Duration::from_micros(30));
        histogram.observe(Duration::from_millis(3));
        histogram.observe(Duration::from_secs(100));
        let mut registry = Registry::default();
        registry.register("t", "test", histogram);
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).unwrap();
        assert!(text.contains("t_bucket{le=\"0.05\"} 1\n"), "{text}");
        assert!(text.contains("t_bucket{le=\"3.2\"} 2\n"), "{text}");
        assert!(text.contains("t_bucket{le=\"+Inf\"} 3\n"), "{text}");
        assert!(text.contains("t_count 3\n"), "{text}");
        assert!(text.contains("t_sum 100003.03\n"), "{text}");
        assert_eq!(text.matches("+Inf").count(), 1, "{text}");
    }

    #[test]
    fn record_count_reads_batch_headers() {
        let mut batch = vec![0u8; 61];
        batch[8..12].copy_from_slice(&49i32.to_be_bytes());
        batch[57..61].copy_from_slice(&5u32.to_be_bytes());
        let mut two = batch.clone();
        two.extend_from_slice(&batch);
        assert_eq!(record_count(&batch), 5);
        assert_eq!(record_count(&two), 10);
        assert_eq!(record_count(&[]), 0);
    }
}
