//! Weir broker library: everything the `weir-broker` binary wires together.

pub mod broker;
pub mod cluster;
pub mod config;
pub mod conn;
pub mod console;
pub mod context;
pub mod controller;
pub mod errors;
pub mod group;
pub mod health;
pub mod http;
pub mod limits;
pub mod listener;
pub mod log;
pub mod metrics;
pub mod partition;
pub mod peers;
pub mod readiness;
pub mod replica;
pub mod txn;
pub mod wire;
