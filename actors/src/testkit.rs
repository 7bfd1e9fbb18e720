//! Probe actors for tests: a stand-in for any peer that records every message it
//! receives and answers from a script, so one actor can be unit-tested with its
//! peers mocked. Compiled always (not only under `cfg(test)`) so other crates'
//! tests can use it.
//!
//! The script gets each message by value after it is recorded, so it can answer an
//! RPC at once, later (move the `RpcReplyPort` into a task), or never (the caller's
//! `call` then times out, which is how a stuck peer is simulated).
//!
//! ```
//! # use ractor::{RpcReplyPort, Actor};
//! # use weir_actors::testkit::Probe;
//! #[derive(Debug, ractor_cluster_derive::RactorMessage)]
//! enum PeerMsg { Ping(u32, RpcReplyPort<u32>), Note(String) }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let probe = Probe::spawn(|msg: PeerMsg| {
//!     if let PeerMsg::Ping(n, reply) = msg { let _ = reply.send(n + 1); }
//! }).await;
//! let got = probe.actor().call(|r| PeerMsg::Ping(41, r), None).await.unwrap();
//! assert_eq!(got.unwrap(), 42);
//! probe.actor().cast(PeerMsg::Note("hi".into())).unwrap();
//! let seen = probe.wait_for(2, std::time::Duration::from_secs(1)).await.unwrap();
//! assert!(seen[1].contains("hi"));
//! # }
//! ```
//!
//! A peer that answers late, so replies come back in another order than requests:
//!
//! ```
//! # use std::time::Duration;
//! # use ractor::RpcReplyPort;
//! # use weir_actors::testkit::Probe;
//! # #[derive(Debug, ractor_cluster_derive::RactorMessage)]
//! # enum PeerMsg { Ping(u32, RpcReplyPort<u32>) }
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let slow = Probe::spawn(|msg: PeerMsg| {
//!     let PeerMsg::Ping(n, reply) = msg;
//!     tokio::spawn(async move {
//!         tokio::time::sleep(Duration::from_millis(20)).await;
//!         let _ = reply.send(n);
//!     });
//! }).await;
//! let answer = slow.actor().call(|r| PeerMsg::Ping(7, r), Some(Duration::from_secs(1))).await;
//! assert_eq!(answer.unwrap().unwrap(), 7);
//! # }
//! ```

use std::fmt::Debug;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use ractor::{Actor, ActorProcessingErr, ActorRef, Message, SpawnErr};
use tokio::sync::Notify;

/// Longest any `wait_for` may be asked to wait.
pub const PROBE_WAIT_MAX: Duration = Duration::from_secs(30);

/// What the probe saw: the `Debug` form of every message, in arrival order.
#[derive(Default)]
struct Journal {
    /// Messages seen.
    entries: Mutex<Vec<String>>,
    /// Woken on every new entry.
    changed: Notify,
}

/// A running probe actor and its journal.
pub struct Probe<M: Message + Debug> {
    /// The probe's address, to hand to the actor under test.
    actor: ActorRef<M>,
    /// Shared with the actor.
    journal: Arc<Journal>,
}

/// The probe's actor type.
pub struct ProbeActor<M>(PhantomData<fn() -> M>);

/// Boxed script: receives each message by value (so it can answer RPCs).
type Script<M> = Box<dyn FnMut(M) + Send + 'static>;

/// State of the probe actor.
pub struct ProbeState<M> {
    /// The script.
    script: Script<M>,
    /// Where messages are recorded.
    journal: Arc<Journal>,
}

impl<M: Message + Debug> Actor for ProbeActor<M> {
    type Msg = M;
    type State = ProbeState<M>;
    type Arguments = ProbeState<M>;

    async fn pre_start(
        &self,
        _myself: ActorRef<M>,
        args: ProbeState<M>,
    ) -> Result<ProbeState<M>, ActorProcessingErr> {
        Ok(args)
    }

    async fn handle(
        &self,
        _myself: ActorRef<M>,
        msg: M,
        state: &mut ProbeState<M>,
    ) -> Result<(), ActorProcessingErr> {
        state.journal.entries.lock().push(format!("{msg:?}"));
        state.journal.changed.notify_waiters();
        (state.script)(msg);
        Ok(())
    }
}

/// Why a wait ended without enough messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("probe saw {seen:?} before the timeout, wanted {wanted}")]
pub struct WaitTimeout {
    /// Messages seen so far.
    pub seen: Vec<String>,
    /// How many were wanted.
    pub wanted: usize,
}

impl<M: Message + Debug> Probe<M> {
    /// Spawns an unnamed probe that hands every message to `script` after
    /// recording it. The script may reply at once, later (move the port into a
    /// task), or never.
    pub async fn spawn(script: impl FnMut(M) + Send + 'static) -> Self {
        Self::start(None, Box::new(script))
            .await
            .expect("an unnamed probe always spawns")
    }

    /// Like [`Self::spawn`], registered under `name` for code that finds its peer
    /// in the registry. Names are process-global: prefix them per test.
    pub async fn spawn_named(
        name: impl Into<String>,
        script: impl FnMut(M) + Send + 'static,
    ) -> Result<Self, SpawnErr> {
        Self::start(Some(name.into()), Box::new(script)).await
    }

    async fn start(name: Option<String>, script: Script<M>) -> Result<Self, SpawnErr> {
        let journal = Arc::new(Journal::default());
        let state = ProbeState {
            script,
            journal: journal.clone(),
        };
        let (actor, _) = Actor::spawn(name, ProbeActor(PhantomData), state).await?;
        Ok(Self { actor, journal })
    }

    /// A probe that only records.
    pub async fn silent() -> Self {
        Self::spawn(|_msg: M| {}).await
    }

    /// The probe's address.
    pub fn actor(&self) -> &ActorRef<M> {
        &self.actor
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<String> {
        self.journal.entries.lock().clone()
    }

    /// How many messages arrived.
    pub fn count(&self) -> usize {
        self.journal.entries.lock().len()
    }

    /// Waits until at least `n` messages arrived (bounded by `timeout`, itself
    /// capped at [`PROBE_WAIT_MAX`]).
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Result<Vec<String>, WaitTimeout> {
        let deadline = tokio::time::Instant::now() + timeout.min(PROBE_WAIT_MAX);
        loop {
            let changed = self.journal.changed.notified();
            let seen = self.received();
            if seen.len() >= n {
                return Ok(seen);
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return Err(WaitTimeout {
                    seen: self.received(),
                    wanted: n,
                });
            }
        }
    }

    /// Stops the probe (a peer going away: casts to it then fail).
    pub fn stop(&self) {
        self.actor.stop(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ractor::RpcReplyPort;

    #[derive(Debug, ractor_cluster_derive::RactorMessage)]
    enum Msg {
        Get(u32, RpcReplyPort<u32>),
    }

    #[tokio::test]
    async fn delayed_replies_can_come_back_out_of_order() {
        // The first request is answered after the second: a script may hold ports.
        let probe = Probe::spawn(|msg: Msg| {
            let Msg::Get(n, reply) = msg;
            let delay = if n == 1 { 50 } else { 0 };
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(delay)).await;
                let _ = reply.send(n * 10);
            });
        })
        .await;
        let a = probe.actor().call(|r| Msg::Get(1, r), None);
        let b = probe.actor().call(|r| Msg::Get(2, r), None);
        let (a, b) = tokio::join!(a, b);
        assert_eq!((a.unwrap().unwrap(), b.unwrap().unwrap()), (10, 20));
        assert_eq!(probe.count(), 2);
    }

    #[tokio::test]
    async fn records_every_message_and_keeps_script_state() {
        let mut answered = 0;
        let probe = Probe::spawn(move |msg: Msg| {
            let Msg::Get(n, reply) = msg;
            answered += 1;
            let _ = reply.send(n + answered);
        })
        .await;
        for n in [10, 20] {
            probe.actor().call(|r| Msg::Get(n, r), None).await.unwrap();
        }
        let seen = probe.wait_for(2, Duration::from_secs(1)).await.unwrap();
        assert!(
            seen[0].starts_with("Get(10") && seen[1].starts_with("Get(20"),
            "{seen:?}"
        );
        let third = probe.actor().call(|r| Msg::Get(0, r), None).await.unwrap();
        assert_eq!(third.unwrap(), 3, "the script's own state carried over");
    }

    #[tokio::test]
    async fn a_script_that_never_replies_makes_the_call_time_out() {
        // Holding the port (not dropping it) is what a stuck peer looks like.
        let mut held = Vec::new();
        let probe = Probe::spawn(move |msg: Msg| held.push(msg)).await;
        let timeout = Some(Duration::from_millis(20));
        let answer = probe.actor().call(|r| Msg::Get(1, r), timeout).await;
        assert!(matches!(answer, Ok(ractor::rpc::CallResult::Timeout)));
        assert_eq!(probe.count(), 1);
    }

    #[tokio::test]
    async fn named_probes_are_found_in_the_registry_and_names_are_unique() {
        let probe = Probe::spawn_named("testkit-named", |_msg: Msg| {})
            .await
            .unwrap();
        assert!(ractor::registry::where_is("testkit-named").is_some());
        assert!(
            Probe::spawn_named("testkit-named", |_msg: Msg| {})
                .await
                .is_err()
        );
        probe.stop();
    }

    #[tokio::test]
    async fn wait_for_times_out_with_what_it_saw() {
        let probe: Probe<Msg> = Probe::silent().await;
        let err = probe
            .wait_for(1, Duration::from_millis(20))
            .await
            .unwrap_err();
        assert!(err.seen.is_empty());
    }
}
