//! One actor per client TCP connection, with a reader task feeding it frames and
//! a writer task sending responses strictly in request order.

pub mod actor;
mod reader;
mod request_log;
mod writer;

#[cfg(test)]
mod tests;

pub use actor::{Connection, ConnectionArgs, ConnectionMsg};
