//! Request logging: every request at debug level (peer, client id, API,
//! version, correlation id, latency, response size), and a warning for one
//! slower than `request.slow.threshold.ms`. APIs that wait by design — Fetch
//! long polls, JoinGroup and SyncGroup waiting for a rebalance — are never
//! warned of: their latency is the client's `max.wait.ms` or the group's.

use std::net::SocketAddr;
use std::time::Duration;

use weir_client::protocol::ApiKey;

/// Longest client id logged (the rest is cut).
const CLIENT_ID_LOGGED_MAX: usize = 128;

/// What a request's header says, read leniently from its frame (a frame too
/// short to hold a field logs it as missing; the dispatcher judges the frame).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
    pub client_id: String,
}

impl RequestHead {
    /// Reads the header fields every request version shares.
    pub fn read(frame: &[u8]) -> Self {
        let i16_at = |at: usize| {
            frame
                .get(at..at + 2)
                .map(|b| i16::from_be_bytes([b[0], b[1]]))
        };
        let correlation_id = frame
            .get(4..8)
            .map_or(-1, |b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        let client_id = match i16_at(8) {
            Some(len) if len >= 0 => {
                let end = 10 + (len as usize).min(CLIENT_ID_LOGGED_MAX);
                frame
                    .get(10..end.min(frame.len()))
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default()
            }
            _ => String::new(),
        };
        Self {
            api_key: i16_at(0).unwrap_or(-1),
            api_version: i16_at(2).unwrap_or(-1),
            correlation_id,
            client_id,
        }
    }

    fn api_name(&self) -> &'static str {
        ApiKey::from_i16(self.api_key).map_or("Unknown", ApiKey::name)
    }

    /// Whether the API waits by design (long polls, rebalances).
    fn waits_by_design(&self) -> bool {
        [ApiKey::Fetch, ApiKey::JoinGroup, ApiKey::SyncGroup]
            .iter()
            .any(|k| *k as i16 == self.api_key)
    }
}

/// Logs a finished request; `slow` is the warning threshold (`None`: off).
pub fn finished(
    peer: SocketAddr,
    head: &RequestHead,
    took: Duration,
    response_bytes: usize,
    slow: Option<Duration>,
) {
    let latency_ms = took.as_secs_f64() * 1_000.0;
    if slow.is_some_and(|slow| took > slow) && !head.waits_by_design() {
        tracing::warn!(
            %peer,
            client_id = %head.client_id,
            api = head.api_name(),
            api_version = head.api_version,
            correlation_id = head.correlation_id,
            latency_ms,
            response_bytes,
            "slow request"
        );
    } else {
        tracing::debug!(
            %peer,
            client_id = %head.client_id,
            api = head.api_name(),
            api_version = head.api_version,
            correlation_id = head.correlation_id,
            latency_ms,
            response_bytes,
            "request"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_shared_header_fields_and_survives_short_frames() {
        let mut frame = vec![0, 3, 0, 12, 0, 0, 0, 42, 0, 5];
        frame.extend_from_slice(b"rdkafka");
        let head = RequestHead::read(&frame);
        assert_eq!(
            head,
            RequestHead {
                api_key: 3,
                api_version: 12,
                correlation_id: 42,
                client_id: "rdkaf".into(),
            }
        );
        assert_eq!(head.api_name(), "Metadata");
        // A length past the frame, a null client id, a frame of two bytes.
        let head = RequestHead::read(&[0, 1, 0, 4, 0, 0, 0, 1, 0x7f, 0x7f, b'x']);
        assert_eq!(head.client_id, "x");
        assert!(head.waits_by_design());
        assert_eq!(
            RequestHead::read(&[0, 1, 0, 4, 0, 0, 0, 1, 0xff, 0xff]).client_id,
            ""
        );
        let head = RequestHead::read(&[0, 18]);
        assert_eq!(
            (head.api_key, head.api_version, head.correlation_id),
            (18, -1, -1)
        );
    }
}
