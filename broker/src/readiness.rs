//! Whether this broker is ready to serve, as `/readyz` and `weir-broker
//! health` report it: its client listeners are open, its metadata names an
//! active controller, it is registered and not fenced, and — the part only
//! the broker itself can know — the active controller took one of its
//! heartbeats within the broker session timeout. A broker cut off from the
//! quorum still lists itself in its own (stale) metadata; the heartbeats are
//! what show it is out.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use crate::context::BrokerCtx;

/// What the broker records as it comes up and runs.
#[derive(Debug)]
pub struct Readiness {
    /// When the broker started (heartbeat times count from here).
    started: Instant,
    /// The client listeners are accepting.
    listeners_open: AtomicBool,
    /// When the active controller last took a heartbeat, in ms since
    /// `started` plus one (0: never).
    heartbeat_taken_ms: AtomicU64,
}

impl Default for Readiness {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            listeners_open: AtomicBool::new(false),
            heartbeat_taken_ms: AtomicU64::new(0),
        }
    }
}

impl Readiness {
    /// The client listeners accept connections.
    pub fn listeners_opened(&self) {
        self.listeners_open.store(true, Ordering::Relaxed);
    }

    /// The active controller took a heartbeat (renewed the lease) just now.
    pub fn heartbeat_taken(&self) {
        let ms = self.started.elapsed().as_millis() as u64 + 1;
        self.heartbeat_taken_ms.store(ms, Ordering::Relaxed);
    }

    /// Milliseconds since the last heartbeat taken, `None` before the first.
    fn since_heartbeat_ms(&self) -> Option<u64> {
        match self.heartbeat_taken_ms.load(Ordering::Relaxed) {
            0 => None,
            at => Some((self.started.elapsed().as_millis() as u64 + 1).saturating_sub(at)),
        }
    }
}

/// `Ok` when ready, else why not (one line, for people and logs).
pub fn check(ctx: &BrokerCtx) -> Result<(), String> {
    let readiness = &ctx.readiness;
    if !readiness.listeners_open.load(Ordering::Relaxed) {
        return Err("the client listeners are not open yet".into());
    }
    let image = ctx.image();
    let node_id = ctx.config.node_id;
    match image.brokers.get(&node_id) {
        None => return Err(format!("broker {node_id} is not registered")),
        Some(b) if b.fenced => return Err(format!("broker {node_id} is fenced")),
        Some(_) => {}
    }
    if image.controller_id < 0 {
        return Err("no active controller is known".into());
    }
    let session_ms = ctx.config.cluster.broker_session_timeout_ms;
    match readiness.since_heartbeat_ms() {
        None => Err("no heartbeat taken by the active controller yet".into()),
        Some(ms) if ms > session_ms => Err(format!(
            "no heartbeat taken by the active controller for {ms} ms \
             (broker.session.timeout.ms {session_ms}): cut off from the quorum"
        )),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_age_counts_from_the_last_one_taken() {
        let r = Readiness::default();
        assert_eq!(r.since_heartbeat_ms(), None);
        r.heartbeat_taken();
        assert!(r.since_heartbeat_ms().is_some_and(|ms| ms < 1_000));
        let old = Readiness {
            started: Instant::now() - std::time::Duration::from_secs(10),
            ..Readiness::default()
        };
        old.heartbeat_taken_ms.store(1, Ordering::Relaxed);
        assert!(old.since_heartbeat_ms().is_some_and(|ms| ms >= 9_000));
    }
}
