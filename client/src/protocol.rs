//! Sans-io Kafka wire protocol shared by the broker and the client.
//!
//! Requests are decoded by our own bounded decoders ([`reader::Reader`] checks every
//! length against the bytes that remain before anything is allocated), because
//! kafka-protocol's decoders abort the process on hostile input. Responses are
//! encoded with kafka-protocol's typed structs where it supports the version, and by
//! hand where it does not. The ApiVersions table is generated from the decoder
//! registry in [`api`], so we advertise exactly what we decode.

pub mod api;
pub mod batch_encoder;
#[cfg(feature = "compression")]
pub mod compression;
pub mod consumer_protocol;
pub mod error;
pub mod frame;
pub mod header;
pub mod limits;
pub mod reader;
pub mod records;
pub mod requests;
pub mod responses;
#[cfg(feature = "testing")]
pub mod testing;

pub use api::{ApiKey, ApiRange, SUPPORTED_APIS};
pub use error::DecodeError;
pub use header::RequestHeader;
pub use reader::Reader;
pub use requests::{Request, decode_request};
