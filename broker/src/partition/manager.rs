//! The PartitionManager actor: keeps one Partition actor per partition this broker
//! hosts, in line with the metadata image. Partition actors live under a
//! `weir-actors` supervisor (permanent, restarted with backoff); one that keeps
//! failing is given up on and its partition marked offline (KAFKA_STORAGE_ERROR)
//! without disturbing anything above it.
//!
//! It also keeps each partition's assignment (leader, epoch, replicas, ISR)
//! current, telling the actor when it changes, and one replica fetcher per
//! leader broker this broker follows partitions of.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use ractor_cluster_derive::RactorMessage;
use tokio::sync::watch;
use weir_actors::supervisor::{ChildSpec, Restart, Supervisor, SupervisorArgs, SupervisorMsg};

use super::actor::{Partition, PartitionArgs, PartitionMsg};
use super::registry::{PartitionEntry, PartitionRegistry, TopicPartition};
use super::replication::IsrChanges;
use crate::config::BrokerConfig;
use crate::controller::{MetadataImage, PartitionImage, TopicConfig};
use crate::limits::ACTOR_CALL_TIMEOUT_MS;
use crate::log::{FileSystem, FlusherHandle};
use crate::replica::{FetcherArgs, FetcherMsg, ReplicaFetcher};

/// Messages of the [`PartitionManager`].
#[derive(RactorMessage)]
pub enum PartitionManagerMsg {
    /// A new metadata image was published.
    ImageChanged(Arc<MetadataImage>),
    /// The supervisor gave up on a partition actor.
    GaveUp(String),
}

/// What the manager starts with.
#[derive(Clone)]
pub struct PartitionManagerArgs {
    /// Broker configuration.
    pub config: Arc<BrokerConfig>,
    /// Published metadata images.
    pub images: watch::Receiver<Arc<MetadataImage>>,
    /// The partition directory.
    pub registry: Arc<PartitionRegistry>,
    /// The broker's flusher.
    pub flusher: FlusherHandle,
    /// The file-system seam.
    pub fs: Arc<dyn FileSystem>,
    /// Prefix for registered actor names (several brokers may share a process).
    pub name_prefix: String,
    /// Where leaders propose ISR changes.
    pub isr_changes: IsrChanges,
    /// The broker's metrics (partition actor restarts).
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// The manager actor.
pub struct PartitionManager;

/// One hosted partition.
struct Hosted {
    /// Registered child name.
    child_name: String,
    /// The config it was started or last updated with.
    config: TopicConfig,
    /// Its assignment, shared with its actor.
    assignment: Arc<Mutex<PartitionImage>>,
}

/// The manager's state.
pub struct PartitionManagerState {
    /// Start arguments.
    args: PartitionManagerArgs,
    /// Supervisor of the partition actors.
    supervisor: ActorRef<SupervisorMsg>,
    /// Hosted partitions.
    hosted: HashMap<TopicPartition, Hosted>,
    /// Child name → partition, for give-up notices.
    by_child: HashMap<String, TopicPartition>,
    /// Forwards image changes into the mailbox.
    watcher: tokio::task::JoinHandle<()>,
    /// One fetcher per leader broker followed.
    fetchers: HashMap<i32, ActorRef<FetcherMsg>>,
    /// Followed partitions: (leader, leader epoch) each is followed under.
    following: BTreeMap<TopicPartition, (i32, i32)>,
    /// Whether the data dir was searched for stray partitions (once per start).
    strays_checked: bool,
}

impl Actor for PartitionManager {
    type Msg = PartitionManagerMsg;
    type State = PartitionManagerState;
    type Arguments = PartitionManagerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: PartitionManagerArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let notify = myself.clone();
        let supervisor_args = SupervisorArgs::give_up(move |child: &str| {
            let _ = notify.cast(PartitionManagerMsg::GaveUp(child.to_owned()));
        })
        .with_on_restart(args.metrics.restart_observer("partitions"));
        let (supervisor, _) = Actor::spawn_linked(
            Some(format!("{}partitions", args.name_prefix)),
            Supervisor,
            supervisor_args,
            myself.get_cell(),
        )
        .await?;
        let watcher = tokio::spawn(forward_images(args.images.clone(), myself.clone()));
        Ok(PartitionManagerState {
            args,
            supervisor,
            hosted: HashMap::new(),
            by_child: HashMap::new(),
            watcher,
            fetchers: HashMap::new(),
            following: BTreeMap::new(),
            strays_checked: false,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            PartitionManagerMsg::ImageChanged(image) => {
                state.reconcile(&image).await?;
                state.reconcile_fetchers(&myself, &image).await?;
            }
            PartitionManagerMsg::GaveUp(child) => {
                if let Some(tp) = state.by_child.get(&child) {
                    tracing::error!(partition = %tp, "partition keeps failing; marked offline");
                    state.args.registry.set(tp.clone(), PartitionEntry::Offline);
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        evt: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // A fetcher that died is started again by the next reconciliation,
        // which runs at once.
        let dead = match &evt {
            SupervisionEvent::ActorFailed(cell, _)
            | SupervisionEvent::ActorTerminated(cell, ..) => Some(cell.get_id()),
            _ => None,
        };
        if let Some(id) = dead
            && let Some(leader) = state
                .fetchers
                .iter()
                .find(|(_, f)| f.get_id() == id)
                .map(|(l, _)| *l)
        {
            state.fetchers.remove(&leader);
            state.following.retain(|_, (l, _)| *l != leader);
            tracing::warn!(leader, "replica fetcher stopped; restarting it");
            let image = state.args.images.borrow().clone();
            let _ = myself.cast(PartitionManagerMsg::ImageChanged(image));
            return Ok(());
        }
        // A fetcher stopped because it had nothing left to follow is done.
        if dead.is_some_and(|id| id != state.supervisor.get_id()) {
            return Ok(());
        }
        // If the partition supervisor dies, so do we, and our own supervisor
        // restarts us (and it) from the image.
        match evt {
            SupervisionEvent::ActorFailed(_, e) => {
                Err(format!("partition supervisor failed: {e}").into())
            }
            SupervisionEvent::ActorTerminated(..) => Err("partition supervisor stopped".into()),
            _ => Ok(()),
        }
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.watcher.abort();
        for fetcher in state.fetchers.values() {
            fetcher.stop(None);
        }
        // Partitions flush in their own post_stop.
        let grace = Some(Duration::from_millis(ACTOR_CALL_TIMEOUT_MS));
        state.supervisor.stop_and_wait(None, grace).await.ok();
        Ok(())
    }
}

async fn forward_images(
    mut images: watch::Receiver<Arc<MetadataImage>>,
    manager: ActorRef<PartitionManagerMsg>,
) {
    loop {
        let image = images.borrow_and_update().clone();
        if manager
            .cast(PartitionManagerMsg::ImageChanged(image))
            .is_err()
        {
            return;
        }
        if images.changed().await.is_err() {
            return;
        }
    }
}

impl PartitionManagerState {
    /// Starts, updates and stops partition actors to match `image`.
    async fn reconcile(&mut self, image: &MetadataImage) -> Result<(), ActorProcessingErr> {
        let node = self.args.config.node_id;
        let mut desired = HashMap::new();
        for topic in image.topics.values() {
            let config = TopicConfig::resolve(&self.args.config, &topic.configs);
            for p in topic
                .partitions
                .iter()
                .filter(|p| p.replicas.contains(&node))
            {
                desired.insert(
                    TopicPartition::new(&topic.name, p.partition),
                    (config.clone(), p.clone()),
                );
            }
        }
        let gone: Vec<TopicPartition> = self
            .hosted
            .keys()
            .filter(|tp| !desired.contains_key(*tp))
            .cloned()
            .collect();
        for tp in gone {
            self.remove(&tp).await?;
        }
        // The manager starts once this broker's registration is applied, so
        // the image holds every topic created before: a partition directory
        // it does not give this broker is a stray.
        if !self.strays_checked && image.brokers.contains_key(&node) {
            self.strays_checked = true;
            self.delete_strays(&desired).await;
        }
        for (tp, (config, assignment)) in desired {
            let Some(hosted) = self.hosted.get_mut(&tp) else {
                self.add(tp, config, assignment).await?;
                continue;
            };
            let handle = match self.args.registry.get(&tp) {
                Some(PartitionEntry::Online(handle)) => Some(handle),
                _ => None,
            };
            if hosted.config != config {
                hosted.config = config.clone();
                if let Some(handle) = &handle {
                    let _ = handle.actor.cast(PartitionMsg::ConfigChanged(config));
                }
            }
            let changed = {
                let mut current = hosted.assignment.lock();
                let changed = *current != assignment;
                *current = assignment;
                changed
            };
            if changed && let Some(handle) = &handle {
                let _ = handle.actor.cast(PartitionMsg::AssignmentChanged);
            }
        }
        self.args.registry.mark_reconciled(image.version);
        Ok(())
    }

    /// Deletes partition directories the metadata does not give this broker:
    /// copies left by a broker that was down when its replica moved away or
    /// its topic was deleted (Kafka's stray replicas).
    async fn delete_strays<V>(&self, desired: &HashMap<TopicPartition, V>) {
        let (fs, data_dir) = (self.args.fs.clone(), self.args.config.data_dir.clone());
        let entries = match fs.list_dir(&data_dir) {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the data dir for stray partitions");
                return;
            }
        };
        for path in entries {
            let Some(tp) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(partition_of_dir)
            else {
                continue;
            };
            if desired.contains_key(&tp) || self.hosted.contains_key(&tp) {
                continue;
            }
            let fs = fs.clone();
            let removed = tokio::task::spawn_blocking(move || fs.remove_dir_all(&path)).await;
            match removed {
                Ok(Ok(())) => tracing::info!(
                    partition = %tp,
                    "stray partition deleted (this broker is not one of its replicas)"
                ),
                Ok(Err(e)) => {
                    tracing::warn!(partition = %tp, error = %e, "stray partition not deleted")
                }
                Err(e) => tracing::warn!(partition = %tp, error = %e, "stray deletion task failed"),
            }
        }
    }

    fn partition_dir(&self, tp: &TopicPartition) -> PathBuf {
        self.args.config.data_dir.join(tp.to_string())
    }

    /// Follows every partition the image gives this broker as a follower
    /// with the fetcher of its leader, starting and stopping fetchers.
    async fn reconcile_fetchers(
        &mut self,
        myself: &ActorRef<PartitionManagerMsg>,
        image: &MetadataImage,
    ) -> Result<(), ActorProcessingErr> {
        let node = self.args.config.node_id;
        let mut desired = BTreeMap::new();
        for topic in image.topics.values() {
            for p in &topic.partitions {
                if p.leader >= 0 && p.leader != node && p.replicas.contains(&node) {
                    let tp = TopicPartition::new(&topic.name, p.partition);
                    desired.insert(tp, (p.leader, p.leader_epoch));
                }
            }
        }
        let dropped: Vec<(TopicPartition, i32)> = self
            .following
            .iter()
            .filter(|(tp, (leader, _))| desired.get(*tp).is_none_or(|(l, _)| l != leader))
            .map(|(tp, (leader, _))| (tp.clone(), *leader))
            .collect();
        for (tp, leader) in dropped {
            self.following.remove(&tp);
            if let Some(fetcher) = self.fetchers.get(&leader) {
                let _ = fetcher.cast(FetcherMsg::Unfollow(tp));
            }
        }
        for (tp, (leader, epoch)) in desired {
            if self.following.get(&tp) == Some(&(leader, epoch)) {
                continue;
            }
            let fetcher = match self.fetchers.get(&leader) {
                Some(f) => f.clone(),
                None => {
                    let args = FetcherArgs {
                        node_id: node,
                        leader,
                        listener: self.args.config.inter_broker_listener(),
                        images: self.args.images.clone(),
                        registry: self.args.registry.clone(),
                    };
                    let (fetcher, _) =
                        Actor::spawn_linked(None, ReplicaFetcher, args, myself.get_cell()).await?;
                    self.fetchers.insert(leader, fetcher.clone());
                    fetcher
                }
            };
            let _ = fetcher.cast(FetcherMsg::Follow {
                tp: tp.clone(),
                leader_epoch: epoch,
            });
            self.following.insert(tp, (leader, epoch));
        }
        let idle: Vec<i32> = self
            .fetchers
            .keys()
            .filter(|l| !self.following.values().any(|(leader, _)| leader == *l))
            .copied()
            .collect();
        for leader in idle {
            if let Some(fetcher) = self.fetchers.remove(&leader) {
                fetcher.stop(None);
            }
        }
        Ok(())
    }

    async fn add(
        &mut self,
        tp: TopicPartition,
        config: TopicConfig,
        assignment: PartitionImage,
    ) -> Result<(), ActorProcessingErr> {
        let child_name = format!("{}partition/{tp}", self.args.name_prefix);
        let assignment = Arc::new(Mutex::new(assignment));
        let partition_args = PartitionArgs {
            tp: tp.clone(),
            dir: self.partition_dir(&tp),
            config: config.clone(),
            fsync: self.args.config.fsync,
            flusher: self.args.flusher.clone(),
            fs: self.args.fs.clone(),
            registry: self.args.registry.clone(),
            retention_check_interval_ms: self.args.config.log_retention_check_interval_ms,
            node_id: self.args.config.node_id,
            assignment: assignment.clone(),
            replica_lag_time_max_ms: self.args.config.cluster.replica_lag_time_max_ms,
            isr_changes: self.args.isr_changes.clone(),
        };
        let spec = ChildSpec::new(
            child_name.clone(),
            Restart::Permanent,
            move |supervisor, name| {
                let args = partition_args.clone();
                async move {
                    Actor::spawn_linked(Some(name), Partition, args, supervisor)
                        .await
                        .map(|(a, _)| a.get_cell())
                }
            },
        );
        let started = self
            .supervisor
            .call(
                |reply| SupervisorMsg::StartChild { spec, reply },
                Some(Duration::from_millis(ACTOR_CALL_TIMEOUT_MS)),
            )
            .await?;
        if !matches!(started, ractor::rpc::CallResult::Success(Ok(_))) {
            // Spawn failures are retried by the supervisor; the partition stays
            // unregistered (clients retry) until it comes up or is given up on.
            tracing::warn!(partition = %tp, "partition did not start at once");
        }
        self.by_child.insert(child_name.clone(), tp.clone());
        self.hosted.insert(
            tp,
            Hosted {
                child_name,
                config,
                assignment,
            },
        );
        Ok(())
    }

    async fn remove(&mut self, tp: &TopicPartition) -> Result<(), ActorProcessingErr> {
        let Some(hosted) = self.hosted.remove(tp) else {
            return Ok(());
        };
        self.by_child.remove(&hosted.child_name);
        self.args.registry.remove(tp);
        let name = hosted.child_name;
        let _ = self
            .supervisor
            .call(
                |reply| SupervisorMsg::StopChild { name, reply },
                Some(Duration::from_millis(ACTOR_CALL_TIMEOUT_MS)),
            )
            .await?;
        let dir = self.partition_dir(tp);
        let fs = self.args.fs.clone();
        tokio::task::spawn_blocking(move || fs.remove_dir_all(&dir)).await??;
        tracing::info!(partition = %tp, "partition deleted");
        Ok(())
    }
}

/// The partition a data-dir entry named `topic-N` holds, if its name is one.
fn partition_of_dir(name: &str) -> Option<TopicPartition> {
    let (topic, partition) = name.rsplit_once('-')?;
    let partition: i32 = partition.parse().ok().filter(|p| *p >= 0)?;
    crate::controller::validate_topic_name(topic).ok()?;
    Some(TopicPartition::new(topic, partition))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_dirs_are_told_from_other_entries() {
        assert_eq!(
            partition_of_dir("my-topic-12"),
            Some(TopicPartition::new("my-topic", 12))
        );
        assert_eq!(
            partition_of_dir("__consumer_offsets-3"),
            Some(TopicPartition::new("__consumer_offsets", 3))
        );
        // ("orders--1" is topic "orders-", partition 1: a legal name.)
        assert_eq!(
            partition_of_dir("orders--1"),
            Some(TopicPartition::new("orders-", 1))
        );
        for other in [
            "__cluster_metadata",
            "orders",
            "orders-",
            "orders-x",
            "-3",
            "a b-1",
        ] {
            assert_eq!(partition_of_dir(other), None, "{other}");
        }
    }
}
