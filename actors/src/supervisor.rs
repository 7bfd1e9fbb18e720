//! A supervisor actor with per-child restart policies.
//!
//! ractor has no restart strategies, and its default `handle_supervisor_evt` stops
//! the parent when any child exits. This supervisor keeps a [`ChildSpec`] per child
//! and, one-for-one:
//! - restarts a `Permanent` child that stopped or failed, under the same name, after
//!   an exponential backoff, at most `max_restarts` times within `period`;
//! - forgets a `Temporary` child when it exits (never restarted, never counted);
//! - retries a spawn that failed (ractor does not tell a parent when a child's
//!   `pre_start` fails) with the same backoff and the same count.
//!
//! When a child exceeds its restart intensity the [`IntensityPolicy`] decides:
//! `Escalate` stops the supervisor with an error (its own parent decides next), or
//! `GiveUp` leaves the child down, keeps running, and calls the `on_give_up`
//! callback so the owner can e.g. mark a partition offline.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SpawnErr,
    SupervisionEvent,
};
use ractor_cluster_derive::RactorMessage;

#[cfg(test)]
mod tests;

/// Default restarts allowed per child within [`PERIOD_DEFAULT`].
pub const MAX_RESTARTS_DEFAULT: usize = 5;
/// Default intensity window.
pub const PERIOD_DEFAULT: Duration = Duration::from_secs(10);
/// First restart delay.
pub const BACKOFF_INITIAL_DEFAULT: Duration = Duration::from_millis(10);
/// Longest restart delay.
pub const BACKOFF_MAX_DEFAULT: Duration = Duration::from_secs(2);
/// Attempts to respawn under a name still registered (ractor unregisters on exit,
/// but a race with the exit notification is possible).
const NAME_TAKEN_RETRIES_MAX: u32 = 20;

/// What a child's future spawn yields.
pub type SpawnFuture = Pin<Box<dyn Future<Output = Result<ActorCell, SpawnErr>> + Send>>;

/// Spawns one incarnation of a child linked to the supervisor cell, under the name.
pub type SpawnFn = Arc<dyn Fn(ActorCell, String) -> SpawnFuture + Send + Sync>;

/// Whether a child comes back after it exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// Restarted whenever it stops or fails (with backoff and an intensity limit).
    Permanent,
    /// Never restarted and never counted (e.g. TCP connections).
    Temporary,
}

/// What happens when a child restarts too often.
#[derive(Clone)]
pub enum IntensityPolicy {
    /// The supervisor stops with an error; its parent decides.
    Escalate,
    /// The child stays down; the supervisor goes on and calls this with its name.
    GiveUp(Arc<dyn Fn(&str) + Send + Sync>),
}

impl fmt::Debug for IntensityPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Escalate => f.write_str("Escalate"),
            Self::GiveUp(_) => f.write_str("GiveUp"),
        }
    }
}

/// How to start (and restart) one child.
#[derive(Clone)]
pub struct ChildSpec {
    /// Registered name; also the child's key in this supervisor.
    name: String,
    /// Restart policy.
    restart: Restart,
    /// Spawns one incarnation.
    spawn: SpawnFn,
}

impl fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("name", &self.name)
            .field("restart", &self.restart)
            .finish()
    }
}

impl ChildSpec {
    /// A spec whose `spawn(supervisor, name)` must `spawn_linked` under `supervisor`
    /// with `name`, e.g. `Actor::spawn_linked(Some(name), MyActor, args, sup)`.
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

    /// The child's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The child's restart policy.
    pub fn restart(&self) -> Restart {
        self.restart
    }
}

/// Supervisor settings.
#[derive(Debug, Clone)]
pub struct SupervisorArgs {
    /// Restarts allowed per child within `period`.
    pub max_restarts: usize,
    /// The intensity window.
    pub period: Duration,
    /// First restart delay (doubles per consecutive restart).
    pub backoff_initial: Duration,
    /// Longest restart delay.
    pub backoff_max: Duration,
    /// What to do when a child restarts too often.
    pub policy: IntensityPolicy,
    /// Children started in `pre_start`, in order.
    pub children: Vec<ChildSpec>,
}

impl SupervisorArgs {
    /// Defaults with `Escalate`.
    pub fn escalate() -> Self {
        Self {
            max_restarts: MAX_RESTARTS_DEFAULT,
            period: PERIOD_DEFAULT,
            backoff_initial: BACKOFF_INITIAL_DEFAULT,
            backoff_max: BACKOFF_MAX_DEFAULT,
            policy: IntensityPolicy::Escalate,
            children: Vec::new(),
        }
    }

    /// Defaults with `GiveUp`, calling `on_give_up(child_name)`.
    pub fn give_up(on_give_up: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Self {
            policy: IntensityPolicy::GiveUp(Arc::new(on_give_up)),
            ..Self::escalate()
        }
    }
}

/// A child's state as reported by [`SupervisorMsg::Children`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildStatus {
    /// Running.
    Running,
    /// Down, a restart is scheduled.
    Restarting,
    /// Down for good (intensity exceeded under `GiveUp`).
    GivenUp,
}

/// One child as reported by [`SupervisorMsg::Children`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildInfo {
    /// Registered name.
    pub name: String,
    /// Current state.
    pub status: ChildStatus,
    /// Restarts since the child was first started (for metrics).
    pub restarts_total: u64,
}

/// Messages of the [`Supervisor`].
#[derive(RactorMessage)]
pub enum SupervisorMsg {
    /// Start a child (replacing a given-up child of the same name). Replies with
    /// the cell once running, or the spawn error (a permanent child's spawn is then
    /// retried in the background).
    StartChild {
        spec: ChildSpec,
        reply: RpcReplyPort<Result<ActorCell, String>>,
    },
    /// Stop a child without restarting it, and forget it; replies whether it existed.
    StopChild {
        name: String,
        reply: RpcReplyPort<bool>,
    },
    /// Every child and its state.
    Children { reply: RpcReplyPort<Vec<ChildInfo>> },
    /// Internal: a scheduled restart is due.
    RestartDue { name: String, generation: u64 },
}

/// One supervised child.
struct Child {
    /// How to start it.
    spec: ChildSpec,
    /// The running incarnation.
    cell: Option<ActorCell>,
    /// Current state.
    status: ChildStatus,
    /// Times of recent restarts, within the intensity window.
    recent: VecDeque<Instant>,
    /// Consecutive restarts (drives the backoff; reset when it runs a full period).
    consecutive: u32,
    /// When the current incarnation started.
    started_at: Instant,
    /// Bumped on every (re)start, so a stale RestartDue is ignored.
    generation: u64,
    /// Restarts since the child was first started.
    restarts_total: u64,
}

/// The supervisor actor.
pub struct Supervisor;

/// The supervisor's state.
pub struct SupervisorState {
    /// Settings.
    args: SupervisorArgs,
    /// Children by name.
    children: HashMap<String, Child>,
    /// Child names by running actor id.
    by_id: HashMap<ActorId, String>,
    /// Set while stopping: exits are then expected.
    stopping: bool,
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        mut args: SupervisorArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let initial = std::mem::take(&mut args.children);
        let mut state = SupervisorState {
            args,
            children: HashMap::new(),
            by_id: HashMap::new(),
            stopping: false,
        };
        for spec in initial {
            state
                .start_child(&myself, spec)
                .await
                .map_err(|e| format!("initial child failed: {e}"))?;
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SupervisorMsg::StartChild { spec, reply } => {
                let result = state.start_child(&myself, spec).await;
                let _ = reply.send(result);
            }
            SupervisorMsg::StopChild { name, reply } => {
                let existed = state.stop_child(&name).await;
                let _ = reply.send(existed);
            }
            SupervisorMsg::Children { reply } => {
                let _ = reply.send(state.children_info());
            }
            SupervisorMsg::RestartDue { name, generation } => {
                state.on_restart_due(&myself, &name, generation).await?
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        evt: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, reason) = match evt {
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                (cell, reason.unwrap_or_else(|| "stopped".into()))
            }
            SupervisionEvent::ActorFailed(cell, error) => (cell, format!("failed: {error}")),
            _ => return Ok(()),
        };
        state.on_child_exit(&myself, cell.get_id(), reason)
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.stopping = true;
        // Stop children in reverse start order would need an order; stop all and wait.
        let cells: Vec<ActorCell> = state
            .children
            .values()
            .filter_map(|c| c.cell.clone())
            .collect();
        for cell in cells {
            cell.stop_and_wait(None, Some(BACKOFF_MAX_DEFAULT * 5))
                .await
                .ok();
        }
        Ok(())
    }
}

impl SupervisorState {
    async fn start_child(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        spec: ChildSpec,
    ) -> Result<ActorCell, String> {
        let name = spec.name.clone();
        if self
            .children
            .get(&name)
            .is_some_and(|c| c.status != ChildStatus::GivenUp)
        {
            return Err(format!("child {name} already exists"));
        }
        let mut child = Child {
            spec,
            cell: None,
            status: ChildStatus::Restarting,
            recent: VecDeque::new(),
            consecutive: 0,
            started_at: Instant::now(),
            generation: 0,
            restarts_total: 0,
        };
        let result = spawn_with_name(myself, &child.spec).await;
        match &result {
            Ok(cell) => {
                child.status = ChildStatus::Running;
                child.cell = Some(cell.clone());
                self.by_id.insert(cell.get_id(), name.clone());
            }
            Err(e) => tracing::warn!(child = %name, error = %e, "child failed to start"),
        }
        let permanent = child.spec.restart == Restart::Permanent;
        self.children.insert(name.clone(), child);
        if result.is_err() {
            if permanent {
                self.schedule_restart(myself, &name)
                    .map_err(|e| e.to_string())?;
            } else {
                self.children.remove(&name);
            }
        }
        result.map_err(|e| e.to_string())
    }

    async fn stop_child(&mut self, name: &str) -> bool {
        let Some(child) = self.children.remove(name) else {
            return false;
        };
        if let Some(cell) = child.cell {
            self.by_id.remove(&cell.get_id());
            cell.stop_and_wait(None, Some(BACKOFF_MAX_DEFAULT * 5))
                .await
                .ok();
        }
        true
    }

    fn children_info(&self) -> Vec<ChildInfo> {
        let mut info: Vec<ChildInfo> = self
            .children
            .iter()
            .map(|(name, c)| ChildInfo {
                name: name.clone(),
                status: c.status,
                restarts_total: c.restarts_total,
            })
            .collect();
        info.sort_by(|a, b| a.name.cmp(&b.name));
        info
    }

    fn on_child_exit(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        id: ActorId,
        reason: String,
    ) -> Result<(), ActorProcessingErr> {
        let Some(name) = self.by_id.remove(&id) else {
            return Ok(()); // a child we already stopped and forgot
        };
        let Some(child) = self.children.get_mut(&name) else {
            return Ok(());
        };
        child.cell = None;
        if self.stopping {
            return Ok(());
        }
        if child.spec.restart == Restart::Temporary {
            tracing::debug!(child = %name, reason, "temporary child exited");
            self.children.remove(&name);
            return Ok(());
        }
        tracing::warn!(child = %name, reason, "permanent child exited; restarting");
        self.schedule_restart(myself, &name)
    }

    /// Counts a restart against the intensity limit and schedules it after the
    /// backoff, or applies the policy when the limit is exceeded.
    fn schedule_restart(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        name: &str,
    ) -> Result<(), ActorProcessingErr> {
        let (max_restarts, period) = (self.args.max_restarts, self.args.period);
        let Some(child) = self.children.get_mut(name) else {
            return Ok(());
        };
        let now = Instant::now();
        while child
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > period)
        {
            child.recent.pop_front();
        }
        if now.duration_since(child.started_at) > period {
            child.consecutive = 0;
        }
        if child.recent.len() >= max_restarts {
            return self.intensity_exceeded(name);
        }
        child.recent.push_back(now);
        child.consecutive += 1;
        child.restarts_total += 1;
        child.generation += 1;
        child.status = ChildStatus::Restarting;
        let delay = backoff(
            self.args.backoff_initial,
            self.args.backoff_max,
            child.consecutive,
        );
        let (name, generation) = (name.to_owned(), child.generation);
        myself.send_after(delay, move || SupervisorMsg::RestartDue {
            name,
            generation,
        });
        Ok(())
    }

    fn intensity_exceeded(&mut self, name: &str) -> Result<(), ActorProcessingErr> {
        match &self.args.policy {
            IntensityPolicy::Escalate => {
                tracing::error!(child = %name, "restart intensity exceeded; escalating");
                Err(format!("child {name} exceeded its restart intensity").into())
            }
            IntensityPolicy::GiveUp(on_give_up) => {
                tracing::error!(child = %name, "restart intensity exceeded; giving up on it");
                if let Some(child) = self.children.get_mut(name) {
                    child.status = ChildStatus::GivenUp;
                }
                on_give_up(name);
                Ok(())
            }
        }
    }

    async fn on_restart_due(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        name: &str,
        generation: u64,
    ) -> Result<(), ActorProcessingErr> {
        let Some(child) = self.children.get(name) else {
            return Ok(());
        };
        if child.generation != generation || child.status != ChildStatus::Restarting {
            return Ok(());
        }
        let spec = child.spec.clone();
        match spawn_with_name(myself, &spec).await {
            Ok(cell) => {
                self.by_id.insert(cell.get_id(), name.to_owned());
                if let Some(child) = self.children.get_mut(name) {
                    child.cell = Some(cell);
                    child.status = ChildStatus::Running;
                    child.started_at = Instant::now();
                }
                tracing::info!(child = %name, "child restarted");
                Ok(())
            }
            Err(e) => {
                tracing::warn!(child = %name, error = %e, "child restart failed");
                self.schedule_restart(myself, name)
            }
        }
    }
}

/// Spawns a child under its name, retrying briefly while the old incarnation's
/// name is still registered.
async fn spawn_with_name(
    myself: &ActorRef<SupervisorMsg>,
    spec: &ChildSpec,
) -> Result<ActorCell, SpawnErr> {
    let mut attempt = 0;
    loop {
        match (spec.spawn)(myself.get_cell(), spec.name.clone()).await {
            Err(SpawnErr::ActorAlreadyRegistered(_)) if attempt < NAME_TAKEN_RETRIES_MAX => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            other => return other,
        }
    }
}

/// `initial * 2^(n-1)`, capped.
fn backoff(initial: Duration, max: Duration, consecutive: u32) -> Duration {
    let factor = 1u32 << consecutive.saturating_sub(1).min(16);
    initial.saturating_mul(factor).min(max)
}
