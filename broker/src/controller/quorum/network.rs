//! Raft RPCs over the broker link: each RPC is postcard bytes carried to the
//! target broker's controller gateway by ractor_cluster, answered with the
//! encoded result. A broker with no link yet is unreachable (openraft backs off).

use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, Raft, RaftNetwork, RaftNetworkFactory};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::types::TypeConfig;
use crate::cluster::{ControllerGatewayMsg, controller_gateway};

/// One Raft RPC as it travels.
#[derive(Serialize, Deserialize)]
pub enum RaftRpc {
    /// Log replication and heartbeats.
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    /// An election.
    Vote(VoteRequest<u64>),
    /// A snapshot chunk.
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
}

type AppendResult = Result<AppendEntriesResponse<u64>, RaftError<u64>>;
type VoteResult = Result<VoteResponse<u64>, RaftError<u64>>;
type SnapshotResult = Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>>;

/// Answers one encoded RPC with this node's Raft; bytes that do not decode get
/// an empty answer, which the sender reads as a network error.
pub async fn serve(raft: &Raft<TypeConfig>, bytes: &[u8]) -> Vec<u8> {
    let Ok(rpc) = postcard::from_bytes::<RaftRpc>(bytes) else {
        tracing::warn!(bytes = bytes.len(), "undecodable Raft RPC dropped");
        return Vec::new();
    };
    let encoded = match rpc {
        RaftRpc::AppendEntries(req) => postcard::to_stdvec(&raft.append_entries(req).await),
        RaftRpc::Vote(req) => postcard::to_stdvec(&raft.vote(req).await),
        RaftRpc::InstallSnapshot(req) => postcard::to_stdvec(&raft.install_snapshot(req).await),
    };
    encoded.unwrap_or_default()
}

/// Makes a client per target broker.
pub struct NetworkFactory;

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: u64, _node: &BasicNode) -> PeerClient {
        PeerClient { target }
    }
}

/// Sends RPCs to one broker.
pub struct PeerClient {
    target: u64,
}

fn network_error(message: String) -> NetworkError {
    NetworkError::new(&std::io::Error::other(message))
}

impl PeerClient {
    async fn call<T: DeserializeOwned, E: std::error::Error>(
        &self,
        rpc: &RaftRpc,
        timeout: Duration,
    ) -> Result<Result<T, E>, RPCError<u64, BasicNode, E>>
    where
        Result<T, E>: DeserializeOwned,
    {
        let target = self.target as i32;
        let Some(gateway) = controller_gateway(target) else {
            let why = std::io::Error::other(format!("no link to broker {target}"));
            return Err(RPCError::Unreachable(Unreachable::new(&why)));
        };
        let bytes = postcard::to_stdvec(rpc)
            .map_err(|e| RPCError::Network(network_error(e.to_string())))?;
        let answer = gateway
            .call(
                |reply| ControllerGatewayMsg::Raft(bytes, reply),
                Some(timeout),
            )
            .await;
        match answer {
            Ok(ractor::rpc::CallResult::Success(bytes)) => postcard::from_bytes(&bytes)
                .map_err(|e| RPCError::Network(network_error(format!("bad Raft answer: {e}")))),
            Ok(ractor::rpc::CallResult::Timeout) => Err(RPCError::Network(network_error(format!(
                "Raft RPC to broker {target} timed out"
            )))),
            Ok(ractor::rpc::CallResult::SenderError) | Err(_) => {
                let why = std::io::Error::other(format!("broker {target}'s gateway is gone"));
                Err(RPCError::Unreachable(Unreachable::new(&why)))
            }
        }
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        let answer: AppendResult = self
            .call(&RaftRpc::AppendEntries(rpc), option.hard_ttl())
            .await?;
        answer.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>,
    > {
        let answer: SnapshotResult = self
            .call(&RaftRpc::InstallSnapshot(rpc), option.hard_ttl())
            .await?;
        answer.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        let answer: VoteResult = self.call(&RaftRpc::Vote(rpc), option.hard_ttl()).await?;
        answer.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}
