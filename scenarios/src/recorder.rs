//! The run's shared operation log: every producer, group member and reader task
//! appends to it through a cheap clone, and the driver reads counters from it while
//! the story runs (for `assert` steps) and hands the whole history to the checker.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use crate::history::{History, OpKind};

/// Appends events with the time since the run started.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Mutex<Inner>>,
    started: Instant,
}

struct Inner {
    history: History,
    /// Acknowledged sends per produce step, for `assert` checks.
    acked: HashMap<String, u64>,
    /// Records handed to the application per consume step.
    delivered: HashMap<String, u64>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    /// An empty log whose clock starts now.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                history: History::default(),
                acked: HashMap::new(),
                delivered: HashMap::new(),
            })),
            started: Instant::now(),
        }
    }

    /// Appends one event of `process`, counting it for `step`.
    pub fn record(&self, process: u32, step: &str, kind: OpKind) {
        let time_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let mut inner = self.inner.lock();
        match &kind {
            OpKind::SendOk { .. } => *inner.acked.entry(step.to_owned()).or_default() += 1,
            OpKind::Delivered { .. } => {
                *inner.delivered.entry(step.to_owned()).or_default() += 1;
            }
            _ => {}
        }
        inner.history.push(process, time_ms, kind);
    }

    /// Sends acknowledged so far by a produce step.
    pub fn acked(&self, step: &str) -> u64 {
        self.inner.lock().acked.get(step).copied().unwrap_or(0)
    }

    /// Records handed over so far by a consume step's members.
    pub fn delivered(&self, step: &str) -> u64 {
        self.inner.lock().delivered.get(step).copied().unwrap_or(0)
    }

    /// A copy of the log so far.
    pub fn history(&self) -> History {
        self.inner.lock().history.clone()
    }
}
