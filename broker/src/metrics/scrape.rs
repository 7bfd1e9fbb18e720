//! The series read at scrape time, costing nothing per request: per-partition
//! values from the partition registry, cluster and Raft gauges from the
//! metadata image and the quorum, consumer groups by state and their lag.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::watch;

use crate::controller::MetadataImage;
use crate::group::GroupDirectory;
use crate::partition::{PartitionEntry, PartitionRegistry};

/// Labels naming a group state.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

/// Group states always listed (0 when no group is in them).
const GROUP_STATES: [&str; 5] = [
    "Empty",
    "PreparingRebalance",
    "CompletingRebalance",
    "Stable",
    "Dead",
];

/// Labels naming a partition.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartitionLabels {
    topic: String,
    partition: String,
}

/// Labels naming a group's partition.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GroupPartitionLabels {
    group: String,
    topic: String,
    partition: String,
}

/// A group's committed offset for one partition, as the last scrape gathered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub group: String,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// The committed offsets the HTTP handler gathers before each scrape (group
/// coordinators are actors, asked asynchronously; a collector encodes
/// synchronously).
pub type CommittedOffsets = Arc<parking_lot::Mutex<Vec<CommittedOffset>>>;

/// What the scrape-time series are read from.
pub struct PartitionView {
    /// This broker's node id (a partition it leads counts as under-replicated).
    pub node_id: i32,
    /// The partitions.
    pub partitions: Arc<PartitionRegistry>,
    /// The metadata image.
    pub images: watch::Receiver<Arc<MetadataImage>>,
    /// The consumer groups this broker coordinates.
    pub groups: Arc<GroupDirectory>,
    /// Whether to emit per-partition series.
    pub per_partition: bool,
    /// The groups' committed offsets, refreshed before each scrape.
    pub committed: CommittedOffsets,
    /// The broker's `min.insync.replicas` (topics may override it).
    pub default_min_isr: i32,
    /// This broker's member of the metadata quorum.
    pub quorum: Option<crate::controller::quorum::Quorum>,
}

impl std::fmt::Debug for PartitionView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionView")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

impl Collector for PartitionView {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let image = self.images.borrow().clone();
        let under_replicated = image
            .topics
            .values()
            .flat_map(|t| t.partitions.iter())
            .filter(|p| p.leader == self.node_id && p.isr.len() < p.replicas.len())
            .count();
        let gauge = Gauge::<i64, std::sync::atomic::AtomicI64>::default();
        gauge.set(under_replicated as i64);
        gauge.encode(encoder.encode_descriptor(
            "kafka_server_replicamanager_underreplicatedpartitions",
            "Partitions this broker leads whose ISR is smaller than their replica set.",
            None,
            MetricType::Gauge,
        )?)?;
        self.encode_cluster_gauges(&image, &mut encoder)?;
        let groups = Family::<StateLabels, Gauge>::default();
        for state in GROUP_STATES {
            groups
                .get_or_create(&StateLabels {
                    state: state.to_owned(),
                })
                .set(0);
        }
        for (_, listing) in self.groups.list() {
            groups
                .get_or_create(&StateLabels {
                    state: listing.state.to_owned(),
                })
                .inc();
        }
        groups.encode(encoder.encode_descriptor(
            "kafka_coordinator_group_groupmetadatamanager_numgroups",
            "Consumer groups this broker coordinates (running or dormant), by state.",
            None,
            MetricType::Gauge,
        )?)?;
        if !self.per_partition {
            return Ok(());
        }
        let start = Family::<PartitionLabels, Gauge>::default();
        let end = Family::<PartitionLabels, Gauge>::default();
        let high_watermark = Family::<PartitionLabels, Gauge>::default();
        let size = Family::<PartitionLabels, Gauge<u64, AtomicU64>>::default();
        let producer_ids = Family::<PartitionLabels, Gauge>::default();
        let follower_lag = Family::<PartitionLabels, Gauge>::default();
        let mut keys = self.partitions.keys();
        keys.sort();
        for tp in keys {
            let Some(PartitionEntry::Online(handle)) = self.partitions.get(&tp) else {
                continue;
            };
            let labels = PartitionLabels {
                topic: tp.topic.to_string(),
                partition: tp.partition.to_string(),
            };
            start
                .get_or_create(&labels)
                .set(handle.reader.log_start_offset());
            end.get_or_create(&labels)
                .set(handle.reader.log_end_offset());
            high_watermark
                .get_or_create(&labels)
                .set(*handle.high_watermark.borrow());
            size.get_or_create(&labels).set(handle.reader.size_bytes());
            producer_ids
                .get_or_create(&labels)
                .set(handle.stats.producer_ids.load(Ordering::Relaxed) as i64);
            let lag = handle.stats.max_follower_lag.load(Ordering::Relaxed);
            if lag >= 0 {
                follower_lag.get_or_create(&labels).set(lag);
            }
        }
        start.encode(encoder.encode_descriptor(
            "kafka_log_log_logstartoffset",
            "A partition's log start offset.",
            None,
            MetricType::Gauge,
        )?)?;
        end.encode(encoder.encode_descriptor(
            "kafka_log_log_logendoffset",
            "A partition's log end offset.",
            None,
            MetricType::Gauge,
        )?)?;
        high_watermark.encode(encoder.encode_descriptor(
            "kafka_cluster_partition_highwatermark",
            "A partition's high watermark.",
            None,
            MetricType::Gauge,
        )?)?;
        size.encode(encoder.encode_descriptor(
            "kafka_log_log_size",
            "A partition's log size in bytes.",
            None,
            MetricType::Gauge,
        )?)?;
        producer_ids.encode(encoder.encode_descriptor(
            "weir_partition_producer_ids",
            "Producer ids whose state (sequences, epoch) a partition keeps.",
            None,
            MetricType::Gauge,
        )?)?;
        follower_lag.encode(encoder.encode_descriptor(
            "weir_partition_max_follower_lag",
            "Partitions this broker leads: offsets the furthest-behind follower lacks of the log end.",
            None,
            MetricType::Gauge,
        )?)?;
        self.encode_group_offsets(&mut encoder)
    }
}

impl PartitionView {
    /// Under-min-ISR partitions led here; on the active controller, the
    /// offline partitions of the cluster; the active controller's id.
    fn encode_cluster_gauges(
        &self,
        image: &MetadataImage,
        encoder: &mut DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        let mut under_min_isr = 0i64;
        let mut offline = 0i64;
        for topic in image.topics.values() {
            let min_isr = topic
                .configs
                .get("min.insync.replicas")
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(self.default_min_isr.max(1) as usize);
            for p in &topic.partitions {
                if p.leader == self.node_id && p.isr.len() < min_isr {
                    under_min_isr += 1;
                }
                if p.leader < 0 {
                    offline += 1;
                }
            }
        }
        let controller = image.controller_id == self.node_id;
        let raft = self.quorum.as_ref().map(|q| q.state());
        let raft_gauges = raft.into_iter().flat_map(|r| {
            [
                (
                    "kafka_server_raftmetrics_current_epoch",
                    "The metadata quorum's term as this member sees it (one more per election).",
                    r.term as i64,
                ),
                (
                    "kafka_server_raftmetrics_current_leader",
                    "The metadata quorum's leader (the active controller), -1 while there is none.",
                    i64::from(r.leader),
                ),
                (
                    "kafka_server_raftmetrics_log_end_offset",
                    "Index of the last entry of this member's metadata log.",
                    r.last_log_index as i64,
                ),
                (
                    "kafka_server_raftmetrics_last_applied_offset",
                    "Index of the last metadata log entry applied to this broker's image.",
                    r.last_applied_index as i64,
                ),
            ]
        });
        for (name, help, value) in raft_gauges.chain([
            (
                "kafka_server_replicamanager_underminisrpartitioncount",
                "Partitions this broker leads whose ISR is smaller than min.insync.replicas.",
                under_min_isr,
            ),
            (
                "kafka_controller_kafkacontroller_offlinepartitionscount",
                "Partitions without a leader (reported by the active controller; 0 elsewhere).",
                if controller { offline } else { 0 },
            ),
            (
                "kafka_controller_kafkacontroller_activecontrollercount",
                "1 on the active controller (the metadata quorum's leader), else 0.",
                i64::from(controller),
            ),
        ]) {
            let gauge = Gauge::<i64, std::sync::atomic::AtomicI64>::default();
            gauge.set(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)?;
        }
        Ok(())
    }

    /// Committed offsets of the groups coordinated here, and their lag where
    /// this broker holds the partition (high watermark minus committed).
    fn encode_group_offsets(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let committed = Family::<GroupPartitionLabels, Gauge>::default();
        let lag = Family::<GroupPartitionLabels, Gauge>::default();
        for c in self.committed.lock().iter() {
            let labels = GroupPartitionLabels {
                group: c.group.clone(),
                topic: c.topic.clone(),
                partition: c.partition.to_string(),
            };
            committed.get_or_create(&labels).set(c.offset);
            if let Some(PartitionEntry::Online(handle)) =
                self.partitions.lookup(&c.topic, c.partition)
            {
                let high_watermark = *handle.high_watermark.borrow();
                lag.get_or_create(&labels)
                    .set((high_watermark - c.offset).max(0));
            }
        }
        committed.encode(encoder.encode_descriptor(
            "kafka_consumergroup_committed_offset",
            "A group's committed offset for a partition (groups coordinated by this broker).",
            None,
            MetricType::Gauge,
        )?)?;
        lag.encode(encoder.encode_descriptor(
            "kafka_consumergroup_lag",
            "High watermark minus the group's committed offset, where this broker holds the partition.",
            None,
            MetricType::Gauge,
        )?)?;
        Ok(())
    }
}
