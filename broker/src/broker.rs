//! Starting and stopping one broker: bind listeners, start the flusher, and spawn
//! the actor tree under the BrokerSupervisor.
//!
//! ```text
//! BrokerSupervisor
//! ├── Controller            metadata records → MetadataImage
//! ├── PartitionManager ── Supervisor ── Partition × partitions
//! ├── GroupManager ── GroupCoordinator × groups (started on demand)
//! └── Listener × listeners ── Connection × clients (temporary)
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use parking_lot::Mutex;
use ractor::{Actor, ActorRef};
use tokio::sync::watch;
use weir_actors::supervisor::{ChildSpec, Restart, Supervisor, SupervisorArgs, SupervisorMsg};

use crate::config::BrokerConfig;
use crate::controller::image::BrokerInfo;
use crate::controller::store::{FileStore, MetadataStore};
use crate::controller::{Controller, ControllerArgs, MetadataImage};
use crate::group::{GroupManager, GroupManagerArgs};
use crate::limits::{ACTOR_CALL_TIMEOUT_MS, SHUTDOWN_GRACE_MS};
use crate::listener::{Listener, ListenerArgs, ListenerMsg};
use crate::log::{FileSystem, Flusher, RealFs};
use crate::partition::{PartitionManager, PartitionManagerArgs, PartitionRegistry};
use crate::wire::BrokerCtx;

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
        let config = Arc::new(config);
        let prefix = format!("weir.{}.", config.node_id);
        let first = &config.listeners[0];
        let broker_info = BrokerInfo {
            node_id: config.node_id,
            host: config.advertised_host_for(first),
            port: i32::from(config.advertised_port.unwrap_or(listen_addrs[0].port())),
            rack: None,
        };
        let (images_tx, images) = watch::channel(Arc::new(MetadataImage::default()));
        let registry = Arc::new(PartitionRegistry::new());
        let flusher = Flusher::spawn().context("starting the flusher thread")?;
        let ctx = Arc::new(BrokerCtx {
            config: config.clone(),
            images: images.clone(),
            controller_name: format!("{prefix}controller"),
            partitions: registry.clone(),
            group_manager_name: format!("{prefix}group-manager"),
            groups: Default::default(),
            producer_ids: Default::default(),
        });
        let (supervisor, supervisor_done) = Actor::spawn(
            Some(format!("{prefix}supervisor")),
            Supervisor,
            SupervisorArgs::escalate(),
        )
        .await
        .context("starting the broker supervisor")?;
        let store: Box<dyn MetadataStore> = Box::new(FileStore::new(&config.data_dir));
        let controller_args = ControllerArgsFactory {
            config: config.clone(),
            store: Arc::new(Mutex::new(store)),
            broker: broker_info,
            images: images_tx,
        };
        let mut specs = vec![ChildSpec::new(
            ctx.controller_name.clone(),
            Restart::Permanent,
            move |sup, name| {
                let args = controller_args.args();
                async move {
                    Actor::spawn_linked(Some(name), Controller, args, sup)
                        .await
                        .map(|(a, _)| a.get_cell())
                }
            },
        )];
        let partitions_name = format!("{prefix}partition-manager");
        let manager_args = PartitionManagerArgs {
            config: config.clone(),
            images,
            registry,
            flusher: flusher.handle(),
            fs,
            name_prefix: prefix.clone(),
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
        let mut listener_names = Vec::new();
        for (i, socket) in sockets.into_iter().enumerate() {
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
            let name = spec.name().to_owned();
            let started = supervisor
                .call(
                    |reply| SupervisorMsg::StartChild { spec, reply },
                    Some(Duration::from_millis(ACTOR_CALL_TIMEOUT_MS)),
                )
                .await
                .with_context(|| format!("starting {name}"))?;
            match started {
                ractor::rpc::CallResult::Success(Ok(_)) => {}
                other => anyhow::bail!("{name} failed to start: {other:?}"),
            }
        }
        Ok(Self {
            supervisor,
            supervisor_done,
            listen_addrs,
            listener_names,
            partitions_name,
            flusher,
            ctx,
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

    /// Shared handler context (tests inspect the image and registry).
    pub fn ctx(&self) -> &Arc<BrokerCtx> {
        &self.ctx
    }

    /// Graceful shutdown: stop accepting, let connections finish in-flight
    /// requests, stop partitions (which flush), stop the rest, join the flusher.
    pub async fn shutdown(self) {
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
        let _ = self.supervisor.stop_and_wait(None, grace).await;
        self.flusher.shutdown();
    }
}

/// Builds controller arguments for each incarnation, sharing one store slot.
#[derive(Clone)]
struct ControllerArgsFactory {
    config: Arc<BrokerConfig>,
    store: Arc<Mutex<Box<dyn MetadataStore>>>,
    broker: BrokerInfo,
    images: watch::Sender<Arc<MetadataImage>>,
}

impl ControllerArgsFactory {
    fn args(&self) -> ControllerArgs {
        ControllerArgs {
            config: self.config.clone(),
            store: self.store.clone(),
            broker: self.broker.clone(),
            images: self.images.clone(),
        }
    }
}

fn bind_listeners(
    config: &BrokerConfig,
) -> anyhow::Result<(Vec<std::net::TcpListener>, Vec<SocketAddr>)> {
    let mut sockets = Vec::new();
    let mut addrs = Vec::new();
    for listener in &config.listeners {
        let socket = std::net::TcpListener::bind(listener.addr)
            .with_context(|| format!("binding listener {} on {}", listener.name, listener.addr))?;
        addrs.push(socket.local_addr()?);
        sockets.push(socket);
    }
    Ok((sockets, addrs))
}
