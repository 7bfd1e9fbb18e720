//! Kafka request handling: dispatch by API key, one handler file per API, and the
//! one place ([`errors`]) that maps Weir's errors to Kafka error codes.
//!
//! A handler runs in two phases. Its synchronous part runs inside the connection
//! actor's `handle`, so casts it makes (appends) reach each partition in request
//! order. It returns a future, spawned by the connection, that finishes the work
//! (awaiting replies, long polls) and yields the encoded response; the connection's
//! writer sends responses strictly in request order.

pub mod api_versions;
pub mod context;
pub mod create_topics;
pub mod delete_topics;
pub mod describe_configs;
pub mod dispatch;
pub mod encode;
pub mod errors;
pub mod fetch;
pub mod list_offsets;
pub mod metadata;
pub mod produce;

pub use context::BrokerCtx;
pub use dispatch::{Outcome, ResponseFuture, dispatch};
