//! Kafka wire layer shared by broker and client.
pub mod protocol;
