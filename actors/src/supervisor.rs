//! A one-for-one supervisor actor with per-child restart policies.
//!
//! ractor has no restart strategies, and its default `handle_supervisor_evt` stops
//! the parent when any child exits. This supervisor keeps a [`ChildSpec`] per child
//! and matches exits by actor id:
//! - a `Permanent` child that stops (even normally) or fails is spawned again under
//!   the same name after an exponential backoff, at most `max_restarts` times within
//!   `period` ([`Intensity`]);
//! - a `Temporary` child is forgotten when it exits: never restarted, never counted;
//! - a spawn that fails (ractor does not tell a parent when a child's `pre_start`
//!   fails: `spawn_linked` just returns `Err`) is retried with the same backoff and
//!   counts toward the same limit.
//!
//! When a child exceeds its limit the [`IntensityPolicy`] decides: `Escalate` stops
//! the children and then the supervisor with an error (its own parent decides next,
//! as in OTP), or `GiveUp` leaves the child down, keeps the supervisor running and
//! reports [`GaveUp`] to the owner's callback (e.g. to mark a partition offline with
//! KAFKA_STORAGE_ERROR); a later `StartChild` with that name may bring it back.
//!
//! Restarts are delayed with `send_after`, never by sleeping in `handle`. A stopping
//! supervisor stops its children itself, temporary ones at once and permanent ones
//! one by one in reverse start order, within `shutdown_timeout`; ractor kills any
//! that are left once `post_stop` returns.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::rpc::CallResult;
use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SpawnErr,
    SupervisionEvent,
};
use ractor_cluster_derive::RactorMessage;

mod intensity;
mod spec;
#[cfg(test)]
mod tests;

pub use intensity::Intensity;
use intensity::RestartHistory;
pub use spec::{ChildSpec, Restart, SpawnFn, SpawnFuture};

/// Default restarts allowed per child within [`PERIOD_DEFAULT`].
pub const MAX_RESTARTS_DEFAULT: usize = 5;
/// Default window restarts are counted in.
pub const PERIOD_DEFAULT: Duration = Duration::from_secs(10);
/// Default delay before the first restart in a row.
pub const BACKOFF_INITIAL_DEFAULT: Duration = Duration::from_millis(10);
/// Default longest delay before a restart.
pub const BACKOFF_MAX_DEFAULT: Duration = Duration::from_secs(2);
/// Default time a stopping supervisor gives all its children to stop gracefully.
pub const SHUTDOWN_TIMEOUT_DEFAULT: Duration = Duration::from_secs(5);
/// Time `StopChild` gives a child to stop gracefully before killing it.
pub const STOP_CHILD_TIMEOUT: Duration = Duration::from_secs(5);
/// Respawns tried, uncounted, while a child's name is still registered. ractor
/// unregisters a name before the parent hears of the exit, so this only covers
/// another actor briefly holding the name.
pub const NAME_TAKEN_RETRIES_MAX: u32 = 20;
/// Delay between those respawns.
pub const NAME_TAKEN_RETRY_DELAY: Duration = Duration::from_millis(10);

const _: () = assert!(MAX_RESTARTS_DEFAULT > 0);
const _: () = assert!(BACKOFF_INITIAL_DEFAULT.as_nanos() <= BACKOFF_MAX_DEFAULT.as_nanos());
// The longest backoff fits in the window, or the limit could never be reached.
const _: () = assert!(BACKOFF_MAX_DEFAULT.as_nanos() < PERIOD_DEFAULT.as_nanos());

/// What happens when a permanent child restarts too often.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntensityPolicy {
    /// Stop every child, then the supervisor with an error; its parent decides.
    Escalate,
    /// Leave the child down, keep running, and report [`GaveUp`].
    GiveUp,
}

/// Reported when a child is left down under [`IntensityPolicy::GiveUp`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GaveUp {
    /// The child's registered name.
    pub name: String,
    /// Why its last incarnation went down (exit reason or spawn error).
    pub reason: String,
    /// Restarts since the child was first started.
    pub restarts_total: u64,
}

/// Called, inside the supervisor's handler, when it gives up on a child. Keep it
/// short: cast a message to the owner rather than doing the work here.
pub type GaveUpFn = Arc<dyn Fn(GaveUp) + Send + Sync>;

/// Called, inside the supervisor's handler, with a child's name each time a
/// restart of it is scheduled (metrics); keep it short.
pub type RestartFn = Arc<dyn Fn(&str) + Send + Sync>;

/// Supervisor settings and initial children.
#[derive(Clone)]
pub struct SupervisorArgs {
    /// Restart limit and backoff, per child.
    pub intensity: Intensity,
    /// What to do when a child exceeds `intensity`.
    pub policy: IntensityPolicy,
    /// Told about children given up on (only under `GiveUp`).
    pub on_gave_up: Option<GaveUpFn>,
    /// Told about every restart scheduled.
    pub on_restart: Option<RestartFn>,
    /// Time the children get, all together, to stop when the supervisor stops.
    pub shutdown_timeout: Duration,
    /// Children started in `pre_start`, in order; if one fails to start, so does
    /// the supervisor (and ractor kills those already started).
    pub children: Vec<ChildSpec>,
}

impl SupervisorArgs {
    /// The default limits with `policy`, no callback and no initial children.
    pub fn new(policy: IntensityPolicy) -> Self {
        Self {
            intensity: Intensity {
                max_restarts: MAX_RESTARTS_DEFAULT,
                period: PERIOD_DEFAULT,
                backoff_initial: BACKOFF_INITIAL_DEFAULT,
                backoff_max: BACKOFF_MAX_DEFAULT,
            },
            policy,
            on_gave_up: None,
            on_restart: None,
            shutdown_timeout: SHUTDOWN_TIMEOUT_DEFAULT,
            children: Vec::new(),
        }
    }

    /// The default limits with `Escalate`.
    pub fn escalate() -> Self {
        Self::new(IntensityPolicy::Escalate)
    }

    /// The default limits with `GiveUp`, calling `on_gave_up(child_name)`. For the
    /// reason and restart count too, set [`Self::on_gave_up`] instead.
    pub fn give_up(on_gave_up: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Self {
            on_gave_up: Some(Arc::new(move |g: GaveUp| on_gave_up(&g.name))),
            ..Self::new(IntensityPolicy::GiveUp)
        }
    }

    /// The same settings, telling `on_restart(child_name)` of every restart.
    pub fn with_on_restart(self, on_restart: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Self {
            on_restart: Some(Arc::new(on_restart)),
            ..self
        }
    }

    /// The same settings with these initial children.
    pub fn with_children(self, children: Vec<ChildSpec>) -> Self {
        Self { children, ..self }
    }
}

impl fmt::Debug for SupervisorArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SupervisorArgs")
            .field("intensity", &self.intensity)
            .field("policy", &self.policy)
            .field("on_gave_up", &self.on_gave_up.is_some())
            .field("on_restart", &self.on_restart.is_some())
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("children", &self.children)
            .finish()
    }
}

/// A child's state as reported by [`SupervisorMsg::Children`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildStatus {
    /// An incarnation is running.
    Running,
    /// Down; a restart is scheduled.
    Restarting,
    /// Down for good, until an explicit `StartChild` (intensity exceeded).
    GivenUp,
}

/// One child as reported by [`SupervisorMsg::Children`], for status and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildInfo {
    /// Registered name.
    pub name: String,
    /// Restart policy.
    pub restart: Restart,
    /// Current state.
    pub status: ChildStatus,
    /// Restarts since the child was first started, failed spawns included; kept
    /// when a given-up child is started again.
    pub restarts_total: u64,
    /// Restarts counted against the limit in the current window.
    pub restarts_in_window: usize,
}

/// Why a child could not be started, or the supervisor could not be asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SupervisorError {
    /// A child of that name is running or restarting.
    #[error("child {name} already exists")]
    AlreadyExists {
        /// The child's name.
        name: String,
    },
    /// The first spawn failed. A permanent child is retried in the background
    /// (`retrying`), a temporary one is forgotten.
    #[error("child {name} failed to start: {reason}")]
    SpawnFailed {
        /// The child's name.
        name: String,
        /// The spawn error.
        reason: String,
        /// Whether the supervisor keeps trying.
        retrying: bool,
    },
    /// The supervisor did not answer: stopped, or the call timed out.
    #[error("supervisor unreachable: {reason}")]
    Unreachable {
        /// What the call reported.
        reason: String,
    },
}

/// Messages of the [`Supervisor`].
#[derive(RactorMessage)]
pub enum SupervisorMsg {
    /// Start a child, or start again one that was given up on. Replies once its
    /// `pre_start` is done (the supervisor waits for it).
    StartChild {
        /// How to start it.
        spec: ChildSpec,
        /// The running child, or why it is not running.
        reply: RpcReplyPort<Result<ActorCell, SupervisorError>>,
    },
    /// Stop a child and forget it, without restarting it. Replies once it stopped
    /// (killed after [`STOP_CHILD_TIMEOUT`]); `false` if no such child. The stop is
    /// awaited outside the handler, so a `StartChild` of the same name sent before
    /// this reply may find the name still taken (then it is retried like any
    /// failed spawn): wait for the reply first.
    StopChild {
        /// The child's name.
        name: String,
        /// Whether the child existed.
        reply: RpcReplyPort<bool>,
    },
    /// Every child, in start order.
    Children {
        /// The children's states.
        reply: RpcReplyPort<Vec<ChildInfo>>,
    },
    /// Internal: a scheduled restart is due. Ignored unless `token` is the child's
    /// current restart token.
    RestartDue {
        /// The child's name.
        name: String,
        /// Identifies the restart this message was scheduled for.
        token: u64,
    },
}

/// The supervisor actor (no configuration: it is all in [`SupervisorArgs`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Supervisor;

/// One supervised child.
struct Child {
    /// How to start it.
    spec: ChildSpec,
    /// Start order, for shutdown in reverse and for listings.
    seq: u64,
    /// The running incarnation.
    cell: Option<ActorCell>,
    /// Current state.
    status: ChildStatus,
    /// Restarts in the current window and the backoff step.
    history: RestartHistory,
    /// When the current (or last attempted) incarnation was spawned.
    started_at: Instant,
    /// Token of the pending restart; a `RestartDue` with another one is stale.
    token: u64,
    /// Uncounted respawns tried for the pending restart because the name was taken.
    name_taken_retries: u32,
    /// Restarts since the child was first started.
    restarts_total: u64,
    /// Why the last incarnation went down.
    last_reason: String,
}

/// The supervisor's state.
pub struct SupervisorState {
    /// Settings (initial children taken out).
    args: SupervisorArgs,
    /// Children by name.
    children: HashMap<String, Child>,
    /// Names of running incarnations by actor id, to match exits.
    by_id: HashMap<ActorId, String>,
    /// Last start order handed out.
    seq_last: u64,
    /// Last restart token handed out; unique for the supervisor's life.
    token_last: u64,
    /// Set once the supervisor stops its children: exits are then expected.
    stopping: bool,
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<SupervisorMsg>,
        mut args: SupervisorArgs,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        args.intensity.check()?;
        let initial = std::mem::take(&mut args.children);
        let mut state = SupervisorState::new(args);
        for spec in initial {
            // ractor kills the children already started if this fails.
            state.on_start_child(&myself, spec).await??;
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<SupervisorMsg>,
        msg: SupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SupervisorMsg::StartChild { spec, reply } => {
                let result = state.on_start_child(&myself, spec).await?;
                let _ = reply.send(result);
            }
            SupervisorMsg::StopChild { name, reply } => state.on_stop_child(&name, reply),
            SupervisorMsg::Children { reply } => {
                let _ = reply.send(state.children_info());
            }
            SupervisorMsg::RestartDue { name, token } => {
                state.on_restart_due(&myself, &name, token).await?;
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupervisorMsg>,
        evt: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match evt {
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                let reason = reason.unwrap_or_else(|| "stopped".into());
                state.on_child_exit(&myself, cell, reason, false).await
            }
            SupervisionEvent::ActorFailed(cell, error) => {
                state
                    .on_child_exit(&myself, cell, error.to_string(), true)
                    .await
            }
            _ => Ok(()),
        }
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        state.stop_all_children("supervisor stopping").await;
        Ok(())
    }
}

impl SupervisorState {
    fn new(args: SupervisorArgs) -> Self {
        Self {
            args,
            children: HashMap::new(),
            by_id: HashMap::new(),
            seq_last: 0,
            token_last: 0,
            stopping: false,
        }
    }

    /// Starts a new child (or one given up on). The outer `Err` means the
    /// supervisor escalates; the inner one is the caller's answer.
    async fn on_start_child(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        spec: ChildSpec,
    ) -> Result<Result<ActorCell, SupervisorError>, ActorProcessingErr> {
        let name = spec.name.clone();
        let restarts_total = match self.children.get(&name) {
            Some(old) if old.status != ChildStatus::GivenUp => {
                return Ok(Err(SupervisorError::AlreadyExists { name }));
            }
            Some(old) => old.restarts_total,
            None => 0,
        };
        self.seq_last += 1;
        let child = Child::new(spec, self.seq_last, restarts_total);
        let (spawn, restart) = (child.spec.spawn.clone(), child.spec.restart);
        self.children.insert(name.clone(), child);
        match spawn(myself.get_cell(), name.clone()).await {
            Ok(cell) => {
                self.on_spawned(&name, cell.clone());
                Ok(Ok(cell))
            }
            Err(e) => {
                let reason = e.to_string();
                tracing::warn!(child = %name, error = %reason, "child failed to start");
                let retrying = restart == Restart::Permanent;
                if retrying {
                    self.on_down(myself, &name, reason.clone()).await?;
                } else {
                    self.children.remove(&name);
                }
                let err = SupervisorError::SpawnFailed {
                    name,
                    reason,
                    retrying,
                };
                Ok(Err(err))
            }
        }
    }

    /// Forgets the child at once (so its exit is not restarted) and replies from a
    /// task once it stopped, so a slow child does not block the supervisor.
    fn on_stop_child(&mut self, name: &str, reply: RpcReplyPort<bool>) {
        let Some(child) = self.children.remove(name) else {
            let _ = reply.send(false);
            return;
        };
        let Some(cell) = child.cell else {
            let _ = reply.send(true);
            return;
        };
        self.by_id.remove(&cell.get_id());
        tokio::spawn(async move {
            let reason = Some("stopped by its supervisor".to_owned());
            if cell
                .stop_and_wait(reason, Some(STOP_CHILD_TIMEOUT))
                .await
                .is_err()
            {
                cell.kill();
            }
            let _ = reply.send(true);
        });
    }

    fn children_info(&self) -> Vec<ChildInfo> {
        let mut children: Vec<&Child> = self.children.values().collect();
        children.sort_by_key(|c| c.seq);
        children
            .into_iter()
            .map(|c| ChildInfo {
                name: c.spec.name.clone(),
                restart: c.spec.restart,
                status: c.status,
                restarts_total: c.restarts_total,
                restarts_in_window: c.history.in_window(),
            })
            .collect()
    }

    async fn on_child_exit(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        cell: ActorCell,
        reason: String,
        failed: bool,
    ) -> Result<(), ActorProcessingErr> {
        // Unknown ids are children already stopped and forgotten.
        let Some(name) = self.by_id.remove(&cell.get_id()) else {
            return Ok(());
        };
        let Some(restart) = self.children.get(&name).map(|c| c.spec.restart) else {
            return Ok(());
        };
        if self.stopping {
            return Ok(());
        }
        if failed {
            tracing::warn!(child = %name, ?restart, reason, "child failed");
        }
        match restart {
            Restart::Temporary => {
                tracing::debug!(child = %name, reason, "temporary child exited");
                self.children.remove(&name);
                Ok(())
            }
            Restart::Permanent => {
                tracing::info!(child = %name, reason, "permanent child down; restarting");
                self.on_down(myself, &name, reason).await
            }
        }
    }

    /// A permanent child is down (exited or failed to spawn): schedule its restart
    /// after the backoff, or apply the policy if that would exceed the limit.
    async fn on_down(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        name: &str,
        reason: String,
    ) -> Result<(), ActorProcessingErr> {
        self.token_last += 1;
        let token = self.token_last;
        let intensity = self.args.intensity;
        let Some(child) = self.children.get_mut(name) else {
            return Ok(());
        };
        child.cell = None;
        child.last_reason = reason;
        let Some(delay) = child
            .history
            .on_down(&intensity, Instant::now(), child.started_at)
        else {
            return self.on_intensity_exceeded(name).await;
        };
        child.status = ChildStatus::Restarting;
        child.restarts_total += 1;
        child.token = token;
        child.name_taken_retries = 0;
        if let Some(on_restart) = &self.args.on_restart {
            on_restart(name);
        }
        schedule_restart(myself, delay, name, token);
        Ok(())
    }

    async fn on_intensity_exceeded(&mut self, name: &str) -> Result<(), ActorProcessingErr> {
        let limit = self.args.intensity.max_restarts;
        match self.args.policy {
            IntensityPolicy::Escalate => {
                tracing::error!(child = %name, limit, "restart intensity exceeded; escalating");
                self.stop_all_children("supervisor escalating").await;
                Err(format!("child {name} restarted more than {limit} times in its period").into())
            }
            IntensityPolicy::GiveUp => {
                tracing::error!(child = %name, limit, "restart intensity exceeded; giving up");
                let Some(child) = self.children.get_mut(name) else {
                    return Ok(());
                };
                child.status = ChildStatus::GivenUp;
                let gave_up = GaveUp {
                    name: name.to_owned(),
                    reason: child.last_reason.clone(),
                    restarts_total: child.restarts_total,
                };
                if let Some(on_gave_up) = &self.args.on_gave_up {
                    on_gave_up(gave_up);
                }
                Ok(())
            }
        }
    }

    async fn on_restart_due(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        name: &str,
        token: u64,
    ) -> Result<(), ActorProcessingErr> {
        let Some(child) = self.children.get_mut(name) else {
            return Ok(());
        };
        if child.token != token || child.status != ChildStatus::Restarting {
            return Ok(());
        }
        child.started_at = Instant::now();
        let spawn = child.spec.spawn.clone();
        match spawn(myself.get_cell(), name.to_owned()).await {
            Ok(cell) => {
                tracing::info!(child = %name, "child restarted");
                self.on_spawned(name, cell);
                Ok(())
            }
            Err(SpawnErr::ActorAlreadyRegistered(_))
                if self
                    .children
                    .get(name)
                    .is_some_and(|c| c.name_taken_retries < NAME_TAKEN_RETRIES_MAX) =>
            {
                tracing::debug!(child = %name, "name still registered; retrying");
                child_mut(&mut self.children, name).name_taken_retries += 1;
                schedule_restart(myself, NAME_TAKEN_RETRY_DELAY, name, token);
                Ok(())
            }
            Err(e) => {
                tracing::warn!(child = %name, error = %e, "child restart failed");
                self.on_down(myself, name, e.to_string()).await
            }
        }
    }

    fn on_spawned(&mut self, name: &str, cell: ActorCell) {
        self.by_id.insert(cell.get_id(), name.to_owned());
        let child = child_mut(&mut self.children, name);
        child.cell = Some(cell);
        child.status = ChildStatus::Running;
    }

    /// Stops every running child within `shutdown_timeout`: temporary children all
    /// at once, permanent ones one by one in reverse start order (later children
    /// may depend on earlier ones). Kills those that do not stop in time.
    async fn stop_all_children(&mut self, reason: &str) {
        self.stopping = true;
        let deadline = tokio::time::Instant::now() + self.args.shutdown_timeout;
        let mut running: Vec<(&Child, ActorCell)> = self
            .children
            .values()
            .filter_map(|c| c.cell.clone().map(|cell| (c, cell)))
            .collect();
        running.sort_by_key(|(c, _)| Reverse(c.seq));
        let (temporary, permanent): (Vec<_>, Vec<_>) = running
            .into_iter()
            .partition(|(c, _)| c.spec.restart == Restart::Temporary);
        for (_, cell) in &temporary {
            cell.stop(Some(reason.to_owned()));
        }
        for (_, cell) in permanent {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if cell
                .stop_and_wait(Some(reason.to_owned()), Some(left))
                .await
                .is_err()
            {
                cell.kill();
            }
        }
        for (_, cell) in temporary {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if cell.wait(Some(left)).await.is_err() {
                cell.kill();
            }
        }
    }
}

impl Child {
    fn new(spec: ChildSpec, seq: u64, restarts_total: u64) -> Self {
        Self {
            spec,
            seq,
            cell: None,
            status: ChildStatus::Restarting,
            history: RestartHistory::default(),
            started_at: Instant::now(),
            token: 0,
            name_taken_retries: 0,
            restarts_total,
            last_reason: String::new(),
        }
    }
}

/// The child of that name, which the caller knows exists.
fn child_mut<'a>(children: &'a mut HashMap<String, Child>, name: &str) -> &'a mut Child {
    children
        .get_mut(name)
        .expect("caller checked the child exists")
}

fn schedule_restart(myself: &ActorRef<SupervisorMsg>, delay: Duration, name: &str, token: u64) {
    let name = name.to_owned();
    // A send to a stopped supervisor fails, which is what we want then.
    let _timer = myself.send_after(delay, move || SupervisorMsg::RestartDue { name, token });
}

/// Asks `sup` to start `spec` and waits at most `timeout` for the answer.
pub async fn start_child(
    sup: &ActorRef<SupervisorMsg>,
    spec: ChildSpec,
    timeout: Duration,
) -> Result<ActorCell, SupervisorError> {
    let call = sup.call(
        |reply| SupervisorMsg::StartChild { spec, reply },
        Some(timeout),
    );
    call_result(call.await)?
}

/// Asks `sup` to stop and forget the child `name`; `Ok(false)` if it had none.
pub async fn stop_child(
    sup: &ActorRef<SupervisorMsg>,
    name: &str,
    timeout: Duration,
) -> Result<bool, SupervisorError> {
    let name = name.to_owned();
    let call = sup.call(
        |reply| SupervisorMsg::StopChild { name, reply },
        Some(timeout),
    );
    call_result(call.await)
}

/// Asks `sup` for its children, in start order.
pub async fn children(
    sup: &ActorRef<SupervisorMsg>,
    timeout: Duration,
) -> Result<Vec<ChildInfo>, SupervisorError> {
    let call = sup.call(|reply| SupervisorMsg::Children { reply }, Some(timeout));
    call_result(call.await)
}

fn call_result<T, E: fmt::Display>(result: Result<CallResult<T>, E>) -> Result<T, SupervisorError> {
    let reason = match result {
        Ok(CallResult::Success(value)) => return Ok(value),
        Ok(CallResult::Timeout) => "call timed out".to_owned(),
        Ok(CallResult::SenderError) => "reply port dropped".to_owned(),
        Err(e) => e.to_string(),
    };
    Err(SupervisorError::Unreachable { reason })
}
