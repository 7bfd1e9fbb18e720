//! Weir's Kafka client: the sans-io wire layer shared with the broker
//! ([`protocol`]), and (feature `client`) an async producer, consumer and admin.
pub mod protocol;

#[cfg(feature = "client")]
pub mod admin;
#[cfg(feature = "client")]
pub mod cluster;
#[cfg(feature = "client")]
pub mod conn;
#[cfg(feature = "client")]
pub mod consumer;
#[cfg(feature = "client")]
pub mod error;
#[cfg(feature = "client")]
pub mod producer;
