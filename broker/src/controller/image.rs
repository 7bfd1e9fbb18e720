//! The immutable metadata image: what every actor reads. A new image is built by
//! applying records to the previous one and published as a fresh `Arc`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::records::{Endpoint, MetadataRecord};

/// One registered broker as clients and brokers reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerInfo {
    /// Broker id.
    pub node_id: i32,
    /// Advertised endpoints, one per listener.
    pub endpoints: Vec<Endpoint>,
    /// Rack, if configured.
    pub rack: Option<String>,
    /// Whether its lease expired (fenced brokers lead nothing and are left out
    /// of Metadata and placements).
    pub fenced: bool,
}

impl BrokerInfo {
    /// The endpoint of listener `name`.
    pub fn endpoint(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.listener == name)
    }
}

/// One partition's placement.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionImage {
    /// Partition index.
    pub partition: i32,
    /// Current leader.
    pub leader: i32,
    /// Leader epoch (bumped on every leader change).
    pub leader_epoch: i32,
    /// Replica broker ids.
    pub replicas: Vec<i32>,
    /// In-sync replica ids.
    pub isr: Vec<i32>,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicImage {
    /// Topic id.
    pub topic_id: [u8; 16],
    /// Topic name.
    pub name: String,
    /// Partitions in index order.
    pub partitions: Vec<PartitionImage>,
    /// Config overrides.
    pub configs: BTreeMap<String, String>,
}

/// Everything known about the cluster at one metadata offset.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MetadataImage {
    /// Records applied so far (0 for an empty log).
    pub version: u64,
    /// Cluster id.
    pub cluster_id: String,
    /// Id of the active controller (the quorum's leader; -1 while there is
    /// none). Not a record: the quorum sets it as leadership moves.
    pub controller_id: i32,
    /// Registered brokers by id.
    pub brokers: BTreeMap<i32, BrokerInfo>,
    /// Topics by name.
    pub topics: BTreeMap<String, Arc<TopicImage>>,
    /// Topic names by id.
    pub topic_names: HashMap<[u8; 16], String>,
    /// First producer id not yet handed out.
    pub next_producer_id: i64,
    /// Reassignments in progress, by (topic id, partition). Last, so an image
    /// serialized before reassignments existed still decodes
    /// ([`MetadataImage::decode`]).
    pub reassignments: BTreeMap<([u8; 16], i32), Reassignment>,
}

/// A partition reassignment in progress (KIP-455): the partition's replica
/// set is the union of the old and target sets until every target replica
/// is in sync.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reassignment {
    /// Target replicas not in the old set.
    pub adding: Vec<i32>,
    /// Old replicas not in the target set.
    pub removing: Vec<i32>,
    /// The replica set before the reassignment began (in order, so a
    /// cancellation restores the preferred leader).
    pub original: Vec<i32>,
}

impl Reassignment {
    /// The target replica set: the current replicas without those being
    /// removed, in order.
    pub fn target(&self, replicas: &[i32]) -> Vec<i32> {
        replicas
            .iter()
            .copied()
            .filter(|r| !self.removing.contains(r))
            .collect()
    }

    /// The replica set from before the reassignment.
    pub fn original(&self) -> &[i32] {
        &self.original
    }
}

/// The image as serialized before reassignments existed (snapshots written
/// then): the same fields up to `next_producer_id`.
#[derive(Deserialize)]
struct ImageV1 {
    version: u64,
    cluster_id: String,
    controller_id: i32,
    brokers: BTreeMap<i32, BrokerInfo>,
    topics: BTreeMap<String, Arc<TopicImage>>,
    topic_names: HashMap<[u8; 16], String>,
    next_producer_id: i64,
}

impl MetadataImage {
    /// Decodes a serialized (postcard) image, this version's or one written
    /// before reassignments existed (which has none).
    pub fn decode(bytes: &[u8]) -> Result<MetadataImage, postcard::Error> {
        match postcard::from_bytes::<MetadataImage>(bytes) {
            Ok(image) => Ok(image),
            Err(e) => {
                let Ok(old) = postcard::from_bytes::<ImageV1>(bytes) else {
                    return Err(e);
                };
                Ok(MetadataImage {
                    version: old.version,
                    cluster_id: old.cluster_id,
                    controller_id: old.controller_id,
                    brokers: old.brokers,
                    topics: old.topics,
                    topic_names: old.topic_names,
                    next_producer_id: old.next_producer_id,
                    reassignments: BTreeMap::new(),
                })
            }
        }
    }

    /// The reassignment in progress of `topic_id`'s `partition`, if any.
    pub fn reassignment(&self, topic_id: &[u8; 16], partition: i32) -> Option<&Reassignment> {
        self.reassignments.get(&(*topic_id, partition))
    }

    /// The image after applying `record` (the record is at offset `self.version`).
    pub fn apply(&self, record: &MetadataRecord) -> MetadataImage {
        let mut next = self.clone();
        next.version += 1;
        match record {
            MetadataRecord::ClusterCreated { cluster_id } => next.cluster_id = cluster_id.clone(),
            MetadataRecord::TopicCreated {
                topic_id,
                name,
                partitions,
                configs,
            } => {
                let topic = TopicImage {
                    topic_id: *topic_id,
                    name: name.clone(),
                    partitions: partition_images(0, partitions),
                    configs: configs.iter().cloned().collect(),
                };
                next.topic_names.insert(*topic_id, name.clone());
                next.topics.insert(name.clone(), Arc::new(topic));
            }
            MetadataRecord::TopicDeleted { topic_id } => {
                if let Some(name) = next.topic_names.remove(topic_id) {
                    next.topics.remove(&name);
                }
                next.reassignments.retain(|(id, _), _| id != topic_id);
            }
            MetadataRecord::TopicConfigsAltered { topic_id, changes } => {
                next.update_topic(topic_id, |topic| {
                    for (key, value) in changes {
                        match value {
                            Some(value) => topic.configs.insert(key.clone(), value.clone()),
                            None => topic.configs.remove(key),
                        };
                    }
                });
            }
            MetadataRecord::PartitionsCreated {
                topic_id,
                partitions,
            } => {
                next.update_topic(topic_id, |topic| {
                    let first = topic.partitions.len() as i32;
                    topic.partitions.extend(partition_images(first, partitions));
                });
            }
            MetadataRecord::ProducerIdsAllocated { next: id } => {
                next.next_producer_id = next.next_producer_id.max(*id);
            }
            MetadataRecord::BrokerRegistered {
                node_id,
                endpoints,
                rack,
            } => {
                let info = BrokerInfo {
                    node_id: *node_id,
                    endpoints: endpoints.clone(),
                    rack: rack.clone(),
                    fenced: false,
                };
                next.brokers.insert(*node_id, info);
            }
            MetadataRecord::BrokerFenced { node_id } => {
                if let Some(b) = next.brokers.get_mut(node_id) {
                    b.fenced = true;
                }
            }
            MetadataRecord::BrokerUnfenced { node_id } => {
                if let Some(b) = next.brokers.get_mut(node_id) {
                    b.fenced = false;
                }
            }
            MetadataRecord::PartitionChanged {
                topic_id,
                partition,
                leader,
                leader_epoch,
                isr,
            } => {
                next.update_topic(topic_id, |topic| {
                    if let Some(p) = topic.partitions.get_mut(*partition as usize) {
                        p.leader = *leader;
                        p.leader_epoch = *leader_epoch;
                        p.isr = isr.clone();
                    }
                });
            }
            MetadataRecord::PartitionReplicasChanged {
                topic_id,
                partition,
                replicas,
                adding,
                removing,
                leader,
                leader_epoch,
                isr,
            } => {
                let key = (*topic_id, *partition);
                let mut found = None;
                next.update_topic(topic_id, |topic| {
                    if let Some(p) = topic.partitions.get_mut(*partition as usize) {
                        found = Some(std::mem::replace(&mut p.replicas, replicas.clone()));
                        p.leader = *leader;
                        p.leader_epoch = *leader_epoch;
                        p.isr = isr.clone();
                    }
                });
                if let Some(before) = found
                    && !(adding.is_empty() && removing.is_empty())
                {
                    // A new target keeps the replicas from before the first.
                    let original = match next.reassignments.get(&key) {
                        Some(r) => r.original.clone(),
                        None => before,
                    };
                    let reassignment = Reassignment {
                        adding: adding.clone(),
                        removing: removing.clone(),
                        original,
                    };
                    next.reassignments.insert(key, reassignment);
                } else {
                    next.reassignments.remove(&key);
                }
            }
        }
        next
    }

    fn update_topic(&mut self, topic_id: &[u8; 16], change: impl FnOnce(&mut TopicImage)) {
        let Some(name) = self.topic_names.get(topic_id) else {
            return;
        };
        if let Some(topic) = self.topics.get_mut(name) {
            change(Arc::make_mut(topic));
        }
    }

    /// A topic by name.
    pub fn topic(&self, name: &str) -> Option<&Arc<TopicImage>> {
        self.topics.get(name)
    }

    /// The partitions of `topic` that `node_id` leads, with their leader
    /// epochs (the internal topics' coordinators follow these).
    pub fn led_partitions(
        &self,
        topic: &str,
        node_id: i32,
    ) -> std::collections::BTreeMap<i32, i32> {
        self.topic(topic)
            .map(|t| {
                (0..)
                    .zip(&t.partitions)
                    .filter(|(_, p)| p.leader == node_id)
                    .map(|(i, p)| (i, p.leader_epoch))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A partition by topic name and index.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionImage> {
        let index = usize::try_from(partition).ok()?;
        self.topics.get(topic)?.partitions.get(index)
    }

    /// Ids of the registered brokers that are not fenced.
    pub fn live_brokers(&self) -> Vec<i32> {
        self.brokers
            .values()
            .filter(|b| !b.fenced)
            .map(|b| b.node_id)
            .collect()
    }
}

fn partition_images(first: i32, replicas: &[Vec<i32>]) -> Vec<PartitionImage> {
    replicas
        .iter()
        .enumerate()
        .map(|(i, replicas)| PartitionImage {
            partition: first + i as i32,
            leader: replicas.first().copied().unwrap_or(-1),
            leader_epoch: 0,
            replicas: replicas.clone(),
            isr: replicas.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_alter_extend_delete() {
        let id = [7u8; 16];
        let records = [
            MetadataRecord::TopicCreated {
                topic_id: id,
                name: "t".into(),
                partitions: vec![vec![0], vec![0]],
                configs: vec![("retention.ms".into(), "1".into())],
            },
            MetadataRecord::TopicConfigsAltered {
                topic_id: id,
                changes: vec![("retention.ms".into(), None)],
            },
            MetadataRecord::PartitionsCreated {
                topic_id: id,
                partitions: vec![vec![0]],
            },
        ];
        let image = records
            .iter()
            .fold(MetadataImage::default(), |image, r| image.apply(r));
        let topic = image.topic("t").unwrap();
        assert_eq!(topic.partitions.len(), 3);
        assert_eq!(topic.partitions[2].partition, 2);
        assert!(topic.configs.is_empty());
        assert_eq!(image.version, 3);
        let image = image.apply(&MetadataRecord::TopicDeleted { topic_id: id });
        assert!(image.topic("t").is_none() && image.topic_names.is_empty());
    }

    /// A snapshot written before reassignments existed (the image without
    /// its last field) still decodes; today's round-trips with them.
    #[test]
    fn snapshots_from_before_reassignments_decode() {
        #[derive(Serialize)]
        struct Before<'a> {
            version: u64,
            cluster_id: &'a str,
            controller_id: i32,
            brokers: &'a BTreeMap<i32, BrokerInfo>,
            topics: &'a BTreeMap<String, Arc<TopicImage>>,
            topic_names: &'a HashMap<[u8; 16], String>,
            next_producer_id: i64,
        }
        let id = [7u8; 16];
        let mut image = MetadataImage::default().apply(&MetadataRecord::TopicCreated {
            topic_id: id,
            name: "t".into(),
            partitions: vec![vec![1, 2]],
            configs: Vec::new(),
        });
        image.next_producer_id = 42;
        let old = postcard::to_stdvec(&Before {
            version: image.version,
            cluster_id: "c",
            controller_id: 3,
            brokers: &image.brokers,
            topics: &image.topics,
            topic_names: &image.topic_names,
            next_producer_id: image.next_producer_id,
        })
        .unwrap();
        let decoded = MetadataImage::decode(&old).unwrap();
        assert_eq!(decoded.partition("t", 0), image.partition("t", 0));
        assert_eq!(
            (decoded.next_producer_id, decoded.cluster_id.as_str()),
            (42, "c")
        );
        assert!(decoded.reassignments.is_empty());

        let moving = image.apply(&MetadataRecord::PartitionReplicasChanged {
            topic_id: id,
            partition: 0,
            replicas: vec![2, 3, 1],
            adding: vec![3],
            removing: vec![1],
            leader: 1,
            leader_epoch: 0,
            isr: vec![1, 2],
        });
        let bytes = postcard::to_stdvec(&moving).unwrap();
        let decoded = MetadataImage::decode(&bytes).unwrap();
        assert_eq!(decoded.reassignments, moving.reassignments);
        let r = decoded.reassignment(&id, 0).unwrap();
        assert_eq!(
            (r.target(&[2, 3, 1]), r.original()),
            (vec![2, 3], &[1, 2][..])
        );
        assert!(MetadataImage::decode(&bytes[..bytes.len() / 2]).is_err());
        // Deleting the topic ends its reassignments.
        let gone = moving.apply(&MetadataRecord::TopicDeleted { topic_id: id });
        assert!(gone.reassignments.is_empty());
    }
}
