//! Starting and stopping one broker: bind listeners, start the flusher, and spawn
//! the actor tree under the BrokerSupervisor.
//!
//! ```text
//! BrokerSupervisor
//! ├── Controller            requests → metadata quorum (openraft) → MetadataImage
//! ├── ControllerGateway     (clustered) Raft RPCs and forwarded requests from peers
//! ├── ClusterLink           (clustered) ractor_cluster node, links to every voter
//! ├── PartitionManager ── Supervisor ── Partition × partitions
//! │                    └─ ReplicaFetcher × leader brokers followed
//! ├── GroupManager ── GroupCoordinator × groups (started on demand)
//! ├── TxnManager ── TxnCoordinator × transactional ids (started on demand)
//! └── Listener × listeners ── Connection × clients (temporary)
//! ```
//!
//! A broker starts serving once it is registered with the active controller
//! (a quorum of one elects itself at once).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use parking_lot::Mutex;
use ractor::{Actor, ActorRef};
use tokio::sync::watch;
use weir_actors::supervisor::{ChildSpec, Restart, Supervisor, SupervisorArgs, SupervisorMsg};

use crate::cluster::{
    ClusterLink, ClusterLinkArgs, ControllerGateway, ControllerGatewayArgs, ControllerService,
};
use crate::config::BrokerConfig;
use crate::context::BrokerCtx;
use crate::controller::actor::GatewayService;
use crate::controller::quorum::{Quorum, QuorumArgs, SNAPSHOT_EVERY_ENTRIES};
use crate::controller::records::Endpoint;
use crate::controller::{
    Controller, ControllerArgs, ControllerMsg, ControllerReply, ControllerRequest, MetadataImage,
};
use crate::group::{GroupDirectory, GroupManager, GroupManagerArgs};
use crate::limits::{ACTOR_CALL_TIMEOUT_MS, CONTROLLED_SHUTDOWN_WAIT_MS, SHUTDOWN_GRACE_MS};
use crate::listener::{Listener, ListenerArgs, ListenerMsg};
use crate::log::{FileSystem, Flusher, RealFs};
use crate::metrics::{Metrics, PartitionView};
use crate::partition::{
    IsrChange, IsrChanges, PartitionManager, PartitionManagerArgs, PartitionRegistry,
};
use crate::txn::{TxnManager, TxnManagerArgs};

/// A running broker.
pub struct Broker {
    /// The root of the actor tree.
    supervisor: ActorRef<SupervisorMsg>,
    /// Ends when the root supervisor stops (on shutdown, or when a child
    /// exceeded its restart intensity and the failure escalated).
    supervisor_done: tokio::task::JoinHandle<()>,
    /// Bound listener addresses (ports resolved).
    listen_addrs: Vec<SocketAddr>,
    /// Registered names of the listener actors.
    listener_names: Vec<String>,
    /// Registered name of the partition manager.
    partitions_name: String,
    /// The flusher thread, joined at shutdown after the partitions stopped.
    flusher: Flusher,
    /// Shared handler context.
    ctx: Arc<BrokerCtx>,
    /// This broker's member of the metadata quorum.
    quorum: Quorum,
    /// Renews this broker's lease with the active controller.
    heartbeats: tokio::task::JoinHandle<()>,
    /// The HTTP port's address and server task, when it is on.
    http: Option<(SocketAddr, tokio::task::JoinHandle<()>)>,
}

impl Broker {
    /// Starts a broker with the real file system.
    pub async fn start(config: BrokerConfig) -> anyhow::Result<Self> {
        Self::start_with_fs(config, Arc::new(RealFs)).await
    }

    /// Starts a broker on a given file-system seam (tests inject faults).
    pub async fn start_with_fs(
        config: BrokerConfig,
        fs: Arc<dyn FileSystem>,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
        let (sockets, listen_addrs) = bind_listeners(&config)?;
        let http_socket = crate::http::bind(&config)?;
        let config = Arc::new(config);
        let prefix = format!("weir.{}.", config.node_id);
        let endpoints = endpoints(&config, &listen_addrs);
        let empty = MetadataImage {
            controller_id: -1,
            ..MetadataImage::default()
        };
        let (images_tx, images) = watch::channel(Arc::new(empty));
        let metadata_dir = config.data_dir.join("__cluster_metadata");
        let quorum = Quorum::start(QuorumArgs {
            node_id: config.node_id,
            voters: config
                .cluster
                .voters
                .iter()
                .map(|v| (v.node_id, v.endpoint()))
                .collect(),
            dir: metadata_dir.clone(),
            heartbeat_interval_ms: config.cluster.quorum_heartbeat_interval_ms,
            election_timeout_ms: config.cluster.quorum_election_timeout_ms,
            snapshot_every_entries: SNAPSHOT_EVERY_ENTRIES,
            images: images_tx,
        })
        .await
        .context("starting the metadata quorum")?;
        let registry = Arc::new(PartitionRegistry::new());
        let groups: Arc<GroupDirectory> = Default::default();
        let metrics = Arc::new(Metrics::new(Some(PartitionView {
            node_id: config.node_id,
            partitions: registry.clone(),
            images: images.clone(),
            groups: groups.clone(),
            per_partition: config.http_metrics_partition_series,
            committed: Default::default(),
            default_min_isr: config.cluster.min_insync_replicas,
            quorum: Some(quorum.clone()),
        })));
        quorum.observe_commits(Box::new(metrics.raft_commit_observer()));
        let flusher = Flusher::spawn_observed(Some(Box::new(metrics.fsync_observer())))
            .context("starting the flusher thread")?;
        let ctx = Arc::new(BrokerCtx {
            config: config.clone(),
            images: images.clone(),
            controller_name: format!("{prefix}controller"),
            partitions: registry.clone(),
            group_manager_name: format!("{prefix}group-manager"),
            txn_manager_name: format!("{prefix}txn-manager"),
            groups,
            producer_ids: Default::default(),
            readiness: Default::default(),
            metrics,
            peers: Default::default(),
        });
        let (supervisor, supervisor_done) = Actor::spawn(
            Some(format!("{prefix}supervisor")),
            Supervisor,
            SupervisorArgs::escalate().with_on_restart(ctx.metrics.restart_observer("broker")),
        )
        .await
        .context("starting the broker supervisor")?;
        let controller_args = ControllerArgs {
            config: config.clone(),
            quorum: quorum.clone(),
            images: images.clone(),
            legacy_store: Some(metadata_dir.join("records.log")),
            link_name: config
                .cluster
                .is_clustered()
                .then(|| format!("{prefix}cluster-link")),
        };
        let mut specs = vec![ChildSpec::new(
            ctx.controller_name.clone(),
            Restart::Permanent,
            move |sup, name| {
                let args = controller_args.clone();
                async move {
                    Actor::spawn_linked(Some(name), Controller, args, sup)
                        .await
                        .map(|(a, _)| a.get_cell())
                }
            },
        )];
        if config.cluster.is_clustered() {
            specs.extend(cluster_specs(&config, &prefix, &quorum, &ctx)?);
        }
        for spec in specs.drain(..) {
            start_child(&supervisor, spec).await?;
        }
        // Partitions, groups and clients come after the registration: they
        // need this broker in the image (a cluster waits here for its quorum).
        register(&ctx, endpoints).await;
        let heartbeats = tokio::spawn(heartbeat(ctx.clone()));
        let partitions_name = format!("{prefix}partition-manager");
        let manager_args = PartitionManagerArgs {
            config: config.clone(),
            images,
            registry,
            flusher: flusher.handle(),
            fs,
            name_prefix: prefix.clone(),
            isr_changes: isr_changes(&ctx),
            metrics: ctx.metrics.clone(),
        };
        specs.push(ChildSpec::new(
            partitions_name.clone(),
            Restart::Permanent,
            move |sup, name| {
                let args = manager_args.clone();
                async move {
                    Actor::spawn_linked(Some(name), PartitionManager, args, sup)
                        .await
                        .map(|(a, _)| a.get_cell())
                }
            },
        ));
        let group_args = GroupManagerArgs { ctx: ctx.clone() };
        specs.push(ChildSpec::new(
            ctx.group_manager_name.clone(),
            Restart::Permanent,
            move |sup, name| {
                let args = group_args.clone();
                async move {
                    Actor::spawn_linked(Some(name), GroupManager, args, sup)
                        .await
                        .map(|(a, _)| a.get_cell())
                }
            },
        ));
        let txn_args = TxnManagerArgs { ctx: ctx.clone() };
        specs.push(ChildSpec::new(
            ctx.txn_manager_name.clone(),
            Restart::Permanent,
            move |sup, name| {
                let args = txn_args.clone();
                async move {
                    Actor::spawn_linked(Some(name), TxnManager, args, sup)
                        .await
                        .map(|(a, _)| a.get_cell())
                }
            },
        ));
        let mut listener_names = Vec::new();
        let listener_configs: Vec<String> =
            config.client_listeners().map(|l| l.name.clone()).collect();
        for (i, (socket, listener)) in sockets.into_iter().zip(listener_configs).enumerate() {
            let name = format!("{prefix}listener.{i}");
            let socket = Arc::new(Mutex::new(Some(socket)));
            let ctx = ctx.clone();
            listener_names.push(name.clone());
            specs.push(ChildSpec::new(
                name,
                Restart::Permanent,
                move |sup, name| {
                    let args = ListenerArgs {
                        socket: socket.clone(),
                        listener: listener.clone(),
                        ctx: ctx.clone(),
                    };
                    async move {
                        Actor::spawn_linked(Some(name), Listener, args, sup)
                            .await
                            .map(|(a, _)| a.get_cell())
                    }
                },
            ));
        }
        for spec in specs {
            start_child(&supervisor, spec).await?;
        }
        ctx.readiness.listeners_opened();
        let http = match http_socket {
            Some(socket) => {
                let (addr, task) = crate::http::serve(socket, ctx.clone())?;
                tracing::info!(%addr, "HTTP port: /healthz, /readyz, /metrics");
                Some((addr, task))
            }
            None => None,
        };
        Ok(Self {
            http,
            supervisor,
            supervisor_done,
            listen_addrs,
            listener_names,
            partitions_name,
            flusher,
            ctx,
            quorum,
            heartbeats,
        })
    }

    /// Waits until the actor tree has stopped by itself (a failure escalated to
    /// the root). A broker in that state cannot serve and should exit.
    pub async fn stopped(&mut self) {
        let _ = (&mut self.supervisor_done).await;
    }

    /// Where the listeners are bound.
    pub fn listen_addrs(&self) -> &[SocketAddr] {
        &self.listen_addrs
    }

    /// Where the HTTP port is bound, when it is on.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(|(addr, _)| *addr)
    }

    /// Shared handler context (tests inspect the image and registry).
    pub fn ctx(&self) -> &Arc<BrokerCtx> {
        &self.ctx
    }

    /// Graceful shutdown: in a cluster, first hand this broker's leaderships
    /// to other in-sync replicas (controlled shutdown); then stop accepting,
    /// let connections finish in-flight requests, stop partitions (which
    /// flush), stop the rest, join the flusher.
    pub async fn shutdown(self) {
        if let Some((_, task)) = &self.http {
            task.abort();
        }
        if self.ctx.config.cluster.is_clustered() {
            self.heartbeats.abort();
            controlled_shutdown(&self.ctx).await;
        }
        let grace = Some(Duration::from_millis(SHUTDOWN_GRACE_MS));
        for name in &self.listener_names {
            if let Some(cell) = ractor::registry::where_is(name.clone()) {
                let listener: ActorRef<ListenerMsg> = cell.clone().into();
                let _ = listener.cast(ListenerMsg::StopAccepting);
            }
        }
        for name in self.listener_names.iter().chain([&self.partitions_name]) {
            let stop = self.supervisor.call(
                |reply| SupervisorMsg::StopChild {
                    name: name.clone(),
                    reply,
                },
                grace.map(|g| g * 2),
            );
            if stop.await.is_err() {
                tracing::warn!(name, "child did not stop in time");
            }
        }
        self.heartbeats.abort();
        let _ = self.supervisor.stop_and_wait(None, grace).await;
        self.quorum.shutdown().await;
        self.flusher.shutdown();
    }
}

/// Starts one child under the root supervisor.
async fn start_child(supervisor: &ActorRef<SupervisorMsg>, spec: ChildSpec) -> anyhow::Result<()> {
    let name = spec.name().to_owned();
    let started = supervisor
        .call(
            |reply| SupervisorMsg::StartChild { spec, reply },
            Some(Duration::from_millis(ACTOR_CALL_TIMEOUT_MS)),
        )
        .await
        .with_context(|| format!("starting {name}"))?;
    match started {
        ractor::rpc::CallResult::Success(Ok(_)) => Ok(()),
        other => anyhow::bail!("{name} failed to start: {other:?}"),
    }
}

/// The children only a clustered broker has: the gateway peers reach its
/// quorum member and controller through, and the link to the other voters.
fn cluster_specs(
    config: &Arc<BrokerConfig>,
    prefix: &str,
    quorum: &Quorum,
    ctx: &Arc<BrokerCtx>,
) -> anyhow::Result<Vec<ChildSpec>> {
    let listen = config
        .controller_listener()
        .context("a clustered broker needs a CONTROLLER listener")?
        .addr;
    let service: Arc<dyn ControllerService> = Arc::new(GatewayService {
        quorum: quorum.clone(),
        controller_name: ctx.controller_name.clone(),
    });
    let gateway_args = ControllerGatewayArgs {
        node_id: config.node_id,
        service,
    };
    let host = config
        .cluster
        .voters
        .iter()
        .find(|v| v.node_id == config.node_id)
        .map_or_else(|| listen.ip().to_string(), |v| v.host.clone());
    let link_args = ClusterLinkArgs {
        node_id: config.node_id,
        listen,
        host,
        voters: config
            .cluster
            .voters
            .iter()
            .map(|v| (v.node_id, v.endpoint()))
            .collect(),
        cookie: config.cluster.cookie.clone(),
        name_prefix: prefix.to_owned(),
    };
    Ok(vec![
        ChildSpec::new(
            format!("{prefix}controller-gateway"),
            Restart::Permanent,
            move |sup, name| {
                let args = gateway_args.clone();
                async move {
                    Actor::spawn_linked(Some(name), ControllerGateway, args, sup)
                        .await
                        .map(|(a, _)| a.get_cell())
                }
            },
        ),
        ChildSpec::new(
            format!("{prefix}cluster-link"),
            Restart::Permanent,
            move |sup, name| {
                let args = link_args.clone();
                async move {
                    Actor::spawn_linked(Some(name), ClusterLink, args, sup)
                        .await
                        .map(|(a, _)| a.get_cell())
                }
            },
        ),
    ])
}

/// This broker's advertised endpoint on each client listener.
fn endpoints(config: &BrokerConfig, bound: &[SocketAddr]) -> Vec<Endpoint> {
    config
        .client_listeners()
        .zip(bound)
        .map(|(listener, addr)| {
            let (host, port) = config.advertised_endpoint(listener, addr.port());
            Endpoint {
                listener: listener.name.clone(),
                host,
                port,
            }
        })
        .collect()
}

/// Registers this broker with the active controller, retrying until the
/// controller has committed this registration and the local image has
/// applied it: a restarted broker's image may still show the leaderships it
/// had before it died (and its old registration), and acting on those would
/// make it a stale leader for a moment.
async fn register(ctx: &Arc<BrokerCtx>, endpoints: Vec<Endpoint>) {
    let node_id = ctx.config.node_id;
    let started = std::time::Instant::now();
    let mut logged_s = 0;
    let mut committed_at: Option<(u64, std::time::Instant)> = None;
    loop {
        if let Some((version, at)) = committed_at {
            if ctx.image().version >= version {
                break;
            }
            // Applied in time unless the quorum changed under us: ask again.
            if at.elapsed() < Duration::from_secs(10) {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            committed_at = None;
        }
        let request = ControllerRequest::RegisterBroker {
            node_id,
            endpoints: endpoints.clone(),
            rack: None,
        };
        let answer = match ractor::registry::where_is(ctx.controller_name.clone()) {
            Some(cell) => {
                let controller: ActorRef<ControllerMsg> = cell.into();
                controller
                    .call(
                        |reply| ControllerMsg::Request { request, reply },
                        Some(Duration::from_millis(ACTOR_CALL_TIMEOUT_MS)),
                    )
                    .await
                    .ok()
            }
            None => None,
        };
        if let Some(ractor::rpc::CallResult::Success(ControllerReply::RegisteredAt { version })) =
            answer
        {
            committed_at = Some((version, std::time::Instant::now()));
            continue;
        }
        let waited_s = started.elapsed().as_secs();
        if waited_s >= logged_s + 5 {
            logged_s = waited_s;
            tracing::info!(
                waited_s,
                "waiting for the metadata quorum to register this broker"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tracing::info!(node_id, "broker registered");
}

/// Asks the active controller to move this broker's leaderships away and
/// waits (bounded) until the image shows it leads nothing another in-sync
/// replica could lead, so clients move before this broker goes.
async fn controlled_shutdown(ctx: &Arc<BrokerCtx>) {
    let started = std::time::Instant::now();
    let node_id = ctx.config.node_id;
    let request = ControllerRequest::ControlledShutdown { node_id };
    let answer = tokio::time::timeout(
        Duration::from_millis(CONTROLLED_SHUTDOWN_WAIT_MS),
        ctx.controller_request(request),
    )
    .await;
    if !matches!(answer, Ok(ControllerReply::Altered)) {
        tracing::warn!(answer = ?answer.ok(), "controlled shutdown not taken; stopping anyway");
        return;
    }
    let leads_movable = |image: &MetadataImage| {
        image.topics.values().any(|t| {
            t.partitions
                .iter()
                .any(|p| p.leader == node_id && p.isr.iter().any(|r| *r != node_id))
        })
    };
    let mut images = ctx.images.clone();
    // The Ref `wait_for` returns is dropped at once: holding it would block
    // the image's publisher.
    let moved = async move { images.wait_for(|image| !leads_movable(image)).await.is_ok() };
    let moved = tokio::time::timeout(Duration::from_millis(CONTROLLED_SHUTDOWN_WAIT_MS), moved)
        .await
        .unwrap_or(false);
    tracing::info!(
        moved,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "controlled shutdown"
    );
}

/// ISR changes of this broker's leaders go to the controller (forwarded to
/// the active one).
fn isr_changes(ctx: &Arc<BrokerCtx>) -> IsrChanges {
    let ctx = ctx.clone();
    Arc::new(move |change: IsrChange| {
        let ctx = ctx.clone();
        Box::pin(async move {
            let request = ControllerRequest::AlterPartition {
                topic: change.tp.topic.to_string(),
                partition: change.tp.partition,
                leader: change.leader,
                leader_epoch: change.leader_epoch,
                expected_isr: change.expected_isr.clone(),
                new_isr: change.new_isr.clone(),
            };
            match ctx.controller_request(request).await {
                ControllerReply::Altered => {
                    ctx.metrics
                        .isr_changed(&change.expected_isr, &change.new_isr);
                    Ok(())
                }
                ControllerReply::Refused(why) => Err(why),
                other => Err(format!("{other:?}")),
            }
        })
    })
}

/// Renews this broker's lease every `broker.heartbeat.interval.ms`, one
/// heartbeat at a time (each bounded), for as long as the broker runs.
async fn heartbeat(ctx: Arc<BrokerCtx>) {
    let interval = Duration::from_millis(ctx.config.cluster.broker_heartbeat_interval_ms.max(1));
    let node_id = ctx.config.node_id;
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        ticks.tick().await;
        let answer = ctx
            .controller_request(ControllerRequest::BrokerHeartbeat { node_id })
            .await;
        match answer {
            ControllerReply::Registered if failing => {
                ctx.readiness.heartbeat_taken();
                failing = false;
                tracing::info!("heartbeats reach the active controller again");
            }
            ControllerReply::Registered => ctx.readiness.heartbeat_taken(),
            other if !failing => {
                failing = true;
                tracing::warn!(answer = ?other, "heartbeat not taken");
            }
            _ => {}
        }
    }
}

fn bind_listeners(
    config: &BrokerConfig,
) -> anyhow::Result<(Vec<std::net::TcpListener>, Vec<SocketAddr>)> {
    let mut sockets = Vec::new();
    let mut addrs = Vec::new();
    for listener in config.client_listeners() {
        let socket = std::net::TcpListener::bind(listener.addr)
            .with_context(|| format!("binding listener {} on {}", listener.name, listener.addr))?;
        addrs.push(socket.local_addr()?);
        sockets.push(socket);
    }
    Ok((sockets, addrs))
}
