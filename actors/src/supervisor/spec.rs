//! How to start a supervised child: its name, its restart policy and a spawn
//! function the supervisor calls for every incarnation.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use ractor::{Actor, ActorCell, SpawnErr};

/// What one call of a [`SpawnFn`] yields: the new incarnation, linked to the
/// supervisor, or why it did not start.
pub type SpawnFuture = Pin<Box<dyn Future<Output = Result<ActorCell, SpawnErr>> + Send>>;

/// Spawns one incarnation. Called with the supervisor's cell and the child's name;
/// it must `spawn_linked` under that cell with that name, or the supervisor never
/// hears of the child's exit.
pub type SpawnFn = Arc<dyn Fn(ActorCell, String) -> SpawnFuture + Send + Sync>;

/// Whether a child comes back after it exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// Restarted whenever it stops or fails, even normally (OTP "permanent"), with
    /// backoff and under the restart-intensity limit.
    Permanent,
    /// Never restarted and never counted: forgotten when it exits (connections).
    Temporary,
}

/// How to start, and restart, one child.
#[derive(Clone)]
pub struct ChildSpec {
    /// Registered name of every incarnation; also the child's key in its supervisor.
    pub(super) name: String,
    /// Whether it comes back after it exits.
    pub(super) restart: Restart,
    /// Starts one incarnation.
    pub(super) spawn: SpawnFn,
}

impl ChildSpec {
    /// A spec with a hand-written spawn function, e.g.
    /// `|sup, name| async move { Actor::spawn_linked(Some(name), A, args, sup).await.map(|(r, _)| r.get_cell()) }`.
    pub fn new<F, Fut>(name: impl Into<String>, restart: Restart, spawn: F) -> Self
    where
        F: Fn(ActorCell, String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<ActorCell, SpawnErr>> + Send + 'static,
    {
        Self {
            name: name.into(),
            restart,
            spawn: Arc::new(move |sup, name| Box::pin(spawn(sup, name))),
        }
    }

    /// A spec that spawns `actor` (cloned per incarnation) with fresh arguments
    /// from `args` each time, linked to the supervisor under `name`.
    pub fn linked<A, F>(name: impl Into<String>, restart: Restart, actor: A, args: F) -> Self
    where
        A: Actor + Clone,
        F: Fn() -> A::Arguments + Send + Sync + 'static,
    {
        Self::new(name, restart, move |sup, name| {
            let (actor, args) = (actor.clone(), args());
            async move {
                let (actor_ref, _join) = Actor::spawn_linked(Some(name), actor, args, sup).await?;
                Ok(actor_ref.get_cell())
            }
        })
    }

    /// The child's registered name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The child's restart policy.
    pub fn restart(&self) -> Restart {
        self.restart
    }
}

impl fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("name", &self.name)
            .field("restart", &self.restart)
            .finish_non_exhaustive()
    }
}
