//! Links to the other brokers: a ractor_cluster node on the CONTROLLER listener
//! ([`link`]) and the remotable gateway actors reached through it ([`gateway`]).
//! Only the control plane rides this link (Raft messages, forwarded controller
//! requests); bulk data never does, since the link has no backpressure.

pub mod gateway;
pub mod link;

pub use gateway::{
    ControllerGateway, ControllerGatewayArgs, ControllerGatewayMsg, ControllerService,
    controller_gateway,
};
pub use link::{ClusterLink, ClusterLinkArgs, ClusterLinkMsg};
