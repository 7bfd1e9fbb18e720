//! Connections from this broker to the other brokers' inter-broker listeners,
//! kept open and shared by the requests a broker sends another on a client's
//! behalf (KIP-890 produce verification). Replica fetchers and marker writers
//! keep their own: they are long-lived and ordered.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use weir_client::conn::Connection;

use crate::controller::MetadataImage;

/// Requests in flight on one peer connection.
const PEER_IN_FLIGHT: usize = 16;

/// One connection per peer broker, opened on first use and again after it dies.
#[derive(Default)]
pub struct PeerConnections {
    conns: Mutex<HashMap<i32, Arc<Connection>>>,
}

impl PeerConnections {
    /// A live connection to `broker`'s `listener`, or `None` when it cannot be
    /// reached within `timeout`.
    pub async fn get(
        &self,
        image: &MetadataImage,
        (node_id, broker): (i32, i32),
        listener: &str,
        timeout: Duration,
    ) -> Option<Arc<Connection>> {
        if let Some(conn) = self.conns.lock().get(&broker).filter(|c| !c.is_closed()) {
            return Some(conn.clone());
        }
        let addr = image
            .brokers
            .get(&broker)
            .and_then(|b| b.endpoint(listener))
            .map(|e| format!("{}:{}", e.host, e.port))?;
        let client_id = format!("weir-broker-{node_id}");
        match Connection::connect(&addr, &client_id, PEER_IN_FLIGHT, timeout).await {
            Ok(conn) => {
                let conn = Arc::new(conn);
                // Two racing connects: the later one wins, the other is dropped
                // when its callers finish.
                self.conns.lock().insert(broker, conn.clone());
                Some(conn)
            }
            Err(e) => {
                tracing::debug!(broker, error = %e, "cannot reach a peer broker");
                None
            }
        }
    }

    /// Forgets `broker`'s connection after a failed call.
    pub fn drop_connection(&self, broker: i32) {
        self.conns.lock().remove(&broker);
    }
}
