//! One TCP connection to a broker, pipelined: requests are written in order,
//! and because a Kafka broker answers in request order, responses are matched
//! to a FIFO of waiting callers (the correlation id is checked, not searched).
//!
//! A writer lock covers "register the waiter, write the frame", so the FIFO and
//! the socket agree on order. A reader task owns the read half. At most
//! `max_in_flight` requests wait for answers at once.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::protocol::Encodable;
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::error::ClientError;
use crate::protocol::ApiKey;
use crate::protocol::Reader;
use crate::protocol::responses::{
    API_VERSIONS_VERSION, ApiVersionsResponse, decode_response_header, response_header_version,
};

/// Largest response frame accepted (a fetch answers at most `fetch.max.bytes`
/// plus overhead; this bounds what a broken broker can make us allocate).
pub const RESPONSE_FRAME_BYTES_MAX: usize = 256 << 20;

/// ApiVersions' key.
const API_VERSIONS_KEY: i16 = ApiKey::ApiVersions as i16;

/// A waiting caller.
struct Waiter {
    correlation_id: i32,
    header_version: i16,
    reply: oneshot::Sender<Result<Bytes, ClientError>>,
}

/// State shared by callers and the reader task.
struct Shared {
    addr: String,
    waiters: Mutex<VecDeque<Waiter>>,
    closed: AtomicBool,
}

impl Shared {
    /// Marks the connection dead and fails every waiter.
    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        for w in self.waiters.lock().drain(..) {
            let _ = w
                .reply
                .send(Err(ClientError::Disconnected(self.addr.clone())));
        }
    }
}

/// The write side: socket, next correlation id, a reusable frame buffer.
struct Writer {
    socket: OwnedWriteHalf,
    next_correlation_id: i32,
    buf: BytesMut,
}

/// A connection to one broker.
pub struct Connection {
    shared: Arc<Shared>,
    writer: tokio::sync::Mutex<Writer>,
    in_flight: Arc<Semaphore>,
    client_id: String,
    request_timeout: Duration,
    /// What the broker serves: api key → (min, max).
    versions: HashMap<i16, (i16, i16)>,
    /// No request is written before this (the broker asked us to back off with
    /// `throttle_time_ms`, KIP-219).
    throttled_until: Mutex<Option<tokio::time::Instant>>,
}

impl Connection {
    /// Connects, and negotiates: fails unless the broker serves the versions
    /// this client pins.
    pub async fn connect(
        addr: &str,
        client_id: &str,
        max_in_flight: usize,
        request_timeout: Duration,
    ) -> Result<Connection, ClientError> {
        let io = |e: std::io::Error| ClientError::Io {
            addr: addr.to_owned(),
            message: e.to_string(),
        };
        let stream = tokio::time::timeout(request_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ClientError::Timeout(request_timeout))?
            .map_err(io)?;
        stream.set_nodelay(true).map_err(io)?;
        let (read, write) = stream.into_split();
        let shared = Arc::new(Shared {
            addr: addr.to_owned(),
            waiters: Mutex::new(VecDeque::new()),
            closed: AtomicBool::new(false),
        });
        tokio::spawn(read_responses(read, shared.clone()));
        let mut conn = Connection {
            shared,
            writer: tokio::sync::Mutex::new(Writer {
                socket: write,
                next_correlation_id: 1,
                buf: BytesMut::with_capacity(64 * 1024),
            }),
            in_flight: Arc::new(Semaphore::new(max_in_flight.max(1))),
            client_id: client_id.to_owned(),
            request_timeout,
            versions: HashMap::new(),
            throttled_until: Mutex::new(None),
        };
        let request = kafka_protocol::messages::ApiVersionsRequest::default()
            .with_client_software_name(kafka_protocol::protocol::StrBytes::from_static_str(
                "weir-client",
            ))
            .with_client_software_version(kafka_protocol::protocol::StrBytes::from_static_str(
                env!("CARGO_PKG_VERSION"),
            ));
        let body = conn
            .call(API_VERSIONS_KEY, API_VERSIONS_VERSION, &request)
            .await?;
        let response = conn.decode(body, ApiVersionsResponse::decode)?;
        if let Some(e) = ClientError::from_code(response.error_code, None) {
            return Err(e);
        }
        conn.versions = response
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        Ok(conn)
    }

    /// The broker's address.
    pub fn addr(&self) -> &str {
        &self.shared.addr
    }

    /// Whether the connection died.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Honours a response's `throttle_time_ms`: requests written after this wait
    /// until it has passed.
    pub fn throttle(&self, throttle_time_ms: i32) {
        if throttle_time_ms <= 0 {
            return;
        }
        let until = tokio::time::Instant::now() + Duration::from_millis(throttle_time_ms as u64);
        let mut t = self.throttled_until.lock();
        *t = Some(t.map_or(until, |old| old.max(until)));
    }

    /// Fails unless the broker serves `api` at `version`.
    pub fn check_version(
        &self,
        api: i16,
        name: &'static str,
        version: i16,
    ) -> Result<(), ClientError> {
        match self.versions.get(&api) {
            Some(&(min, max)) if (min..=max).contains(&version) => Ok(()),
            other => {
                let (min, max) = other.copied().unwrap_or((-1, -1));
                Err(ClientError::UnsupportedVersion {
                    addr: self.addr().to_owned(),
                    api: name,
                    version,
                    min,
                    max,
                })
            }
        }
    }

    /// Sends a request and returns the response body (after the header).
    pub async fn call<R: Encodable>(
        &self,
        api_key: i16,
        version: i16,
        body: &R,
    ) -> Result<Bytes, ClientError> {
        self.start_call(api_key, version, body).await?.wait().await
    }

    /// Writes a request (waiting for an in-flight slot) and returns the wait
    /// for its answer: requests started one after another are written in that
    /// order, however their answers are awaited.
    pub async fn start_call<R: Encodable>(
        &self,
        api_key: i16,
        version: i16,
        body: &R,
    ) -> Result<PendingResponse, ClientError> {
        let permit = self
            .in_flight
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ClientError::Closed)?;
        let (tx, rx) = oneshot::channel();
        self.write(api_key, version, body, Some(tx)).await?;
        Ok(PendingResponse {
            rx,
            _permit: permit,
            shared: self.shared.clone(),
            timeout: self.request_timeout,
        })
    }

    /// Sends a request that gets no response (Produce with acks=0).
    pub async fn send_only<R: Encodable>(
        &self,
        api_key: i16,
        version: i16,
        body: &R,
    ) -> Result<(), ClientError> {
        self.write(api_key, version, body, None).await
    }

    /// Decodes a response body with `f`.
    pub fn decode<T>(
        &self,
        body: Bytes,
        f: impl FnOnce(&mut Reader) -> Result<T, crate::protocol::DecodeError>,
    ) -> Result<T, ClientError> {
        f(&mut Reader::new(body)).map_err(|error| ClientError::Decode {
            addr: self.addr().to_owned(),
            error,
        })
    }

    async fn write<R: Encodable>(
        &self,
        api_key: i16,
        version: i16,
        body: &R,
        reply: Option<oneshot::Sender<Result<Bytes, ClientError>>>,
    ) -> Result<(), ClientError> {
        if self.is_closed() {
            return Err(ClientError::Disconnected(self.addr().to_owned()));
        }
        let mut w = self.writer.lock().await;
        // Under the writer lock, so requests keep their order across the wait.
        let throttled = *self.throttled_until.lock();
        if let Some(until) = throttled {
            tokio::time::sleep_until(until).await;
        }
        let correlation_id = w.next_correlation_id;
        w.next_correlation_id = w.next_correlation_id.wrapping_add(1);
        let header_version = response_header_version(api_key, version);
        let flexible = header_version == 1 || (api_key == API_VERSIONS_KEY && version >= 3);
        let mut buf = std::mem::take(&mut w.buf);
        buf.clear();
        buf.put_i32(0);
        buf.put_i16(api_key);
        buf.put_i16(version);
        buf.put_i32(correlation_id);
        buf.put_i16(self.client_id.len() as i16);
        buf.put_slice(self.client_id.as_bytes());
        if flexible {
            buf.put_u8(0);
        }
        let encoded = body.encode(&mut buf, version);
        if let Err(e) = encoded {
            w.buf = buf;
            return Err(ClientError::Config(format!(
                "cannot encode the request: {e}"
            )));
        }
        let len = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&len.to_be_bytes());
        if let Some(reply) = reply {
            self.shared.waiters.lock().push_back(Waiter {
                correlation_id,
                header_version,
                reply,
            });
        }
        let written = w.socket.write_all(&buf).await;
        // Keep the buffer unless a huge request grew it.
        if buf.capacity() <= 4 << 20 {
            w.buf = buf;
        }
        if let Err(e) = written {
            self.shared.close();
            return Err(ClientError::Io {
                addr: self.addr().to_owned(),
                message: e.to_string(),
            });
        }
        Ok(())
    }
}

/// The answer to a written request.
pub struct PendingResponse {
    rx: oneshot::Receiver<Result<Bytes, ClientError>>,
    _permit: OwnedSemaphorePermit,
    shared: Arc<Shared>,
    timeout: Duration,
}

impl PendingResponse {
    /// Waits (up to the request timeout) for the response body.
    pub async fn wait(self) -> Result<Bytes, ClientError> {
        match tokio::time::timeout(self.timeout, self.rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ClientError::Disconnected(self.shared.addr.clone())),
            Err(_) => {
                // A late answer would desynchronise the FIFO: give up the
                // connection, as Kafka clients do after a request timeout.
                self.shared.close();
                Err(ClientError::Timeout(self.timeout))
            }
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.shared.close();
    }
}

/// The reader task: frames in, matched to waiters in order.
async fn read_responses(read: OwnedReadHalf, shared: Arc<Shared>) {
    let mut read = BufReader::with_capacity(256 * 1024, read);
    loop {
        if shared.closed.load(Ordering::Acquire) {
            break;
        }
        let len = match read.read_i32().await {
            Ok(len) => len,
            Err(_) => break,
        };
        if len < 4 || len as usize > RESPONSE_FRAME_BYTES_MAX {
            tracing::warn!(addr = %shared.addr, len, "response frame length out of bounds; closing");
            break;
        }
        let mut frame = BytesMut::zeroed(len as usize);
        if read.read_exact(&mut frame).await.is_err() {
            break;
        }
        let Some(waiter) = shared.waiters.lock().pop_front() else {
            // A connection given up after a request timeout still receives the
            // late answers already on their way: only a live one is out of step.
            if !shared.closed.load(Ordering::Acquire) {
                tracing::warn!(addr = %shared.addr, "response with no request; closing");
            }
            break;
        };
        let mut reader = Reader::new(frame.freeze());
        match decode_response_header(&mut reader, waiter.header_version) {
            Ok(id) if id == waiter.correlation_id => {
                let remaining = reader.remaining();
                let body = reader.take(remaining).unwrap_or_default();
                let _ = waiter.reply.send(Ok(body));
            }
            _ => {
                tracing::warn!(addr = %shared.addr, expected = waiter.correlation_id, "response out of order; closing");
                let _ = waiter
                    .reply
                    .send(Err(ClientError::Disconnected(shared.addr.clone())));
                break;
            }
        }
    }
    shared.close();
}
