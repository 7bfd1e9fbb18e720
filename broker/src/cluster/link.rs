//! The ClusterLink actor: runs this broker's ractor_cluster node on its
//! CONTROLLER listener and keeps a link to every other voter (a broker-only
//! node links to every voter).
//!
//! ractor_cluster neither reconnects nor detects failures, so this actor does:
//! it learns from the node server's session events which peers are linked and
//! re-dials the missing ones with a capped exponential backoff. Of each pair of
//! brokers only the lower id dials (a broker-only node always dials), so a pair
//! never races two sessions.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use ractor_cluster::node::{NodeConnectionMode, NodeServerSessionInformation};
use ractor_cluster::{NodeEventSubscription, NodeServer, NodeServerMessage};
use ractor_cluster_derive::RactorMessage;

/// First pause before re-dialing a peer.
const REDIAL_BACKOFF_MS_MIN: u64 = 100;
/// Longest pause between dials of a peer.
const REDIAL_BACKOFF_MS_MAX: u64 = 2_000;
/// How often missing links are checked.
const TICK_MS: u64 = 100;

/// Messages of the [`ClusterLink`].
#[derive(RactorMessage)]
pub enum ClusterLinkMsg {
    /// Time to dial the peers that are due.
    Tick,
    /// A session with a named peer is ready to carry messages.
    Linked { node_name: String },
    /// A session ended.
    Unlinked { node_name: Option<String> },
    /// Which peers are linked now.
    Peers(ractor::RpcReplyPort<Vec<i32>>),
}

/// What the link starts with.
#[derive(Clone)]
pub struct ClusterLinkArgs {
    /// This broker's id.
    pub node_id: i32,
    /// Where this broker's node listens (the CONTROLLER listener).
    pub listen: SocketAddr,
    /// The host peers dial this broker at (its own voter entry's). It names the
    /// node in handshakes: ractor_cluster takes a peer whose `host:port` equals
    /// its own for itself, and every container binds 0.0.0.0:9094.
    pub host: String,
    /// Every voter: id and CONTROLLER endpoint, `host:port` (this broker's own
    /// entry included).
    pub voters: Vec<(i32, String)>,
    /// The shared secret of the cluster (`cluster.cookie`).
    pub cookie: String,
    /// Name prefix of this broker's actors.
    pub name_prefix: String,
}

/// The link actor.
pub struct ClusterLink;

/// One peer this broker dials.
struct Peer {
    /// `host:port`, resolved again at every dial (a restarted container may come
    /// back at another address under the same name).
    addr: String,
    next_dial: Instant,
    backoff_ms: u64,
}

/// The link's state.
pub struct ClusterLinkState {
    server: ActorRef<NodeServerMessage>,
    /// Peers this broker dials (higher ids), by id.
    dialed: BTreeMap<i32, Peer>,
    /// Peers with a ready session, by id.
    linked: BTreeMap<i32, String>,
    ticker: tokio::task::JoinHandle<()>,
}

/// The ractor_cluster node name of a broker.
pub fn node_name(node_id: i32) -> String {
    format!("weir-{node_id}")
}

/// The broker id in a session's peer name (`weir-<id>@<host>`).
fn peer_id(name: &str) -> Option<i32> {
    name.strip_prefix("weir-")?.split('@').next()?.parse().ok()
}

/// Turns node-server session events into link messages.
struct Events(ActorRef<ClusterLinkMsg>);

impl NodeEventSubscription for Events {
    fn node_session_opened(&self, _ses: NodeServerSessionInformation) {}

    fn node_session_disconnected(&self, ses: NodeServerSessionInformation) {
        let node_name = ses.peer_name.map(|n| n.name);
        let _ = self.0.cast(ClusterLinkMsg::Unlinked { node_name });
    }

    fn node_session_authenticated(&self, _ses: NodeServerSessionInformation) {}

    fn node_session_ready(&self, ses: NodeServerSessionInformation) {
        if let Some(name) = ses.peer_name {
            let _ = self.0.cast(ClusterLinkMsg::Linked {
                node_name: name.name,
            });
        }
    }
}

impl Actor for ClusterLink {
    type Msg = ClusterLinkMsg;
    type State = ClusterLinkState;
    type Arguments = ClusterLinkArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: ClusterLinkArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let node = NodeServer::new(
            args.listen.port(),
            args.cookie.clone(),
            node_name(args.node_id),
            args.host.clone(),
            None,
            // Every broker links to the voters itself; no gossip of peers' peers.
            Some(NodeConnectionMode::Isolated),
        )
        .with_listen_addr(args.listen.ip());
        let (server, _) = Actor::spawn_linked(
            Some(format!("{}cluster-node", args.name_prefix)),
            node,
            (),
            myself.get_cell(),
        )
        .await?;
        server.cast(NodeServerMessage::SubscribeToEvents {
            id: "cluster-link".into(),
            subscription: Box::new(Events(myself.clone())),
        })?;
        let now = Instant::now();
        // A broker-only node (not a voter) dials every voter; voters never
        // dial it (they do not know its address) and it links to no other
        // broker-only node (replication goes over Kafka Fetch, not the link).
        let voter = args.voters.iter().any(|(id, _)| *id == args.node_id);
        let dialed = args
            .voters
            .iter()
            .filter(|(id, _)| *id > args.node_id || (!voter && *id != args.node_id))
            .map(|(id, addr)| {
                let peer = Peer {
                    addr: addr.clone(),
                    next_dial: now,
                    backoff_ms: REDIAL_BACKOFF_MS_MIN,
                };
                (*id, peer)
            })
            .collect();
        let tick = myself.clone();
        let ticker = tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_millis(TICK_MS));
            loop {
                interval.tick().await;
                if tick.cast(ClusterLinkMsg::Tick).is_err() {
                    return;
                }
            }
        });
        tracing::info!(listen = %args.listen, voters = args.voters.len(), "cluster node listening");
        Ok(ClusterLinkState {
            server,
            dialed,
            linked: BTreeMap::new(),
            ticker,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ClusterLinkMsg::Tick => state.dial_due().await,
            ClusterLinkMsg::Linked { node_name } => {
                if let Some(id) = peer_id(&node_name) {
                    tracing::info!(peer = id, "linked to broker");
                    state.linked.insert(id, node_name);
                    if let Some(peer) = state.dialed.get_mut(&id) {
                        peer.backoff_ms = REDIAL_BACKOFF_MS_MIN;
                    }
                }
            }
            ClusterLinkMsg::Unlinked { node_name } => {
                let id = node_name.as_deref().and_then(peer_id);
                if let Some(id) = id
                    && state.linked.remove(&id).is_some()
                {
                    tracing::warn!(peer = id, "link to broker lost");
                }
            }
            ClusterLinkMsg::Peers(reply) => {
                let _ = reply.send(state.linked.keys().copied().collect());
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<Self::Msg>,
        evt: SupervisionEvent,
        _state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // The node server is our only linked child: without it there is no
        // link, so fail and let our supervisor start both again.
        match evt {
            SupervisionEvent::ActorFailed(_, e) => Err(format!("cluster node failed: {e}").into()),
            SupervisionEvent::ActorTerminated(..) => Err("cluster node stopped".into()),
            _ => Ok(()),
        }
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.ticker.abort();
        state.server.stop(None);
        Ok(())
    }
}

impl ClusterLinkState {
    /// Dials every unlinked peer whose backoff has passed. A dial that fails
    /// at once, or a session that never becomes ready, doubles the backoff.
    async fn dial_due(&mut self) {
        let now = Instant::now();
        for (id, peer) in &mut self.dialed {
            if self.linked.contains_key(id) || peer.next_dial > now {
                continue;
            }
            peer.next_dial = now + Duration::from_millis(peer.backoff_ms);
            peer.backoff_ms = (peer.backoff_ms * 2).min(REDIAL_BACKOFF_MS_MAX);
            let dial = ractor_cluster::client_connect(&self.server, peer.addr.as_str());
            match tokio::time::timeout(Duration::from_millis(REDIAL_BACKOFF_MS_MAX), dial).await {
                Ok(Ok(())) => tracing::debug!(peer = id, addr = %peer.addr, "dialed broker"),
                Ok(Err(e)) => {
                    tracing::debug!(peer = id, addr = %peer.addr, error = %e, "dial failed")
                }
                Err(_) => tracing::debug!(peer = id, addr = %peer.addr, "dial timed out"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_names_carry_broker_ids() {
        assert_eq!(peer_id(&format!("{}@127.0.0.1", node_name(3))), Some(3));
        assert_eq!(peer_id("other@host"), None);
    }
}
