//! Supervisor behaviour with real actors: restarts under the same name, backoff,
//! intensity (give up, escalate), temporary children, spawn failures, explicit
//! stops, initial children and shutdown order.
//!
//! The registry is process-global and tests run in parallel, so every test uses
//! its own name prefix. Waits are bounded polls; nothing here is randomised.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use ractor::{Actor, ActorProcessingErr, ActorRef, ActorStatus, SupervisionEvent};
use ractor_cluster_derive::RactorMessage;

use super::*;

/// Answer timeout for calls to the supervisor.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// Poll step and count of `eventually` (2 s at most).
const POLL_STEP: Duration = Duration::from_millis(5);
const POLLS_MAX: usize = 400;

/// What the test child does on each message.
#[derive(Debug, RactorMessage)]
enum ChildMsg {
    Panic,
    Fail,
    Stop,
}

/// Shared between the test and every incarnation of a test child.
#[derive(Clone, Default)]
struct Counters {
    /// Successful starts.
    starts: Arc<AtomicUsize>,
    /// `pre_start` fails while this is above zero (and decrements it).
    fail_starts: Arc<AtomicUsize>,
    /// When each `pre_start` ran, failed or not.
    start_times: Arc<Mutex<Vec<Instant>>>,
    /// Names of children whose `post_stop` ran, in order.
    stopped: Arc<Mutex<Vec<String>>>,
}

#[derive(Clone)]
struct TestChild;

impl Actor for TestChild {
    type Msg = ChildMsg;
    type State = Counters;
    type Arguments = Counters;

    async fn pre_start(
        &self,
        _me: ActorRef<ChildMsg>,
        c: Counters,
    ) -> Result<Counters, ActorProcessingErr> {
        c.start_times.lock().push(Instant::now());
        if c.fail_starts.load(Ordering::SeqCst) > 0 {
            c.fail_starts.fetch_sub(1, Ordering::SeqCst);
            return Err("refusing to start".into());
        }
        c.starts.fetch_add(1, Ordering::SeqCst);
        Ok(c)
    }

    async fn handle(
        &self,
        me: ActorRef<ChildMsg>,
        msg: ChildMsg,
        _c: &mut Counters,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ChildMsg::Panic => panic!("test panic"),
            ChildMsg::Fail => Err("test failure".into()),
            ChildMsg::Stop => {
                me.stop(None);
                Ok(())
            }
        }
    }

    async fn post_stop(
        &self,
        me: ActorRef<ChildMsg>,
        c: &mut Counters,
    ) -> Result<(), ActorProcessingErr> {
        c.stopped.lock().push(me.get_name().unwrap_or_default());
        Ok(())
    }
}

/// Stands in for the supervisor's own parent: records what it hears.
struct Watcher;

#[derive(RactorMessage)]
enum WatcherMsg {}

impl Actor for Watcher {
    type Msg = WatcherMsg;
    type State = Arc<Mutex<Vec<String>>>;
    type Arguments = Arc<Mutex<Vec<String>>>;

    async fn pre_start(
        &self,
        _me: ActorRef<WatcherMsg>,
        log: Self::State,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(log)
    }

    async fn handle_supervisor_evt(
        &self,
        _me: ActorRef<WatcherMsg>,
        evt: SupervisionEvent,
        log: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match evt {
            SupervisionEvent::ActorFailed(_, e) => log.lock().push(format!("failed: {e}")),
            SupervisionEvent::ActorTerminated(..) => log.lock().push("terminated".into()),
            _ => {}
        }
        Ok(())
    }
}

fn spec(name: &str, restart: Restart, c: &Counters) -> ChildSpec {
    let c = c.clone();
    ChildSpec::linked(name, restart, TestChild, move || c.clone())
}

fn fast(policy: IntensityPolicy, max_restarts: usize) -> SupervisorArgs {
    SupervisorArgs {
        intensity: Intensity {
            max_restarts,
            period: Duration::from_secs(5),
            backoff_initial: Duration::from_millis(5),
            backoff_max: Duration::from_millis(40),
        },
        shutdown_timeout: Duration::from_secs(1),
        ..SupervisorArgs::new(policy)
    }
}

/// A `GiveUp` supervisor args and the log its callback writes.
fn give_up(max_restarts: usize) -> (SupervisorArgs, Arc<Mutex<Vec<GaveUp>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    let args = SupervisorArgs {
        on_gave_up: Some(Arc::new(move |g| seen.lock().push(g))),
        ..fast(IntensityPolicy::GiveUp, max_restarts)
    };
    (args, log)
}

async fn supervisor(args: SupervisorArgs) -> ActorRef<SupervisorMsg> {
    Actor::spawn(None, Supervisor, args).await.unwrap().0
}

async fn start(
    sup: &ActorRef<SupervisorMsg>,
    spec: ChildSpec,
) -> Result<ActorCell, SupervisorError> {
    start_child(sup, spec, CALL_TIMEOUT).await
}

fn child(name: &str) -> Option<ActorRef<ChildMsg>> {
    ractor::registry::where_is(name).map(ActorRef::from)
}

/// Polls until `cond` holds, for at most `POLLS_MAX * POLL_STEP`.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..POLLS_MAX {
        if cond() {
            return;
        }
        tokio::time::sleep(POLL_STEP).await;
    }
    panic!("timed out waiting for {what}");
}

async fn info(sup: &ActorRef<SupervisorMsg>, name: &str) -> Option<ChildInfo> {
    let all = children(sup, CALL_TIMEOUT).await.unwrap();
    all.into_iter().find(|c| c.name == name)
}

/// Sends `msg` to the child and waits for incarnation `starts` to be registered.
async fn crash_and_wait(name: &str, c: &Counters, msg: ChildMsg, starts: usize) {
    child(name).unwrap().cast(msg).unwrap();
    eventually("restart", || {
        c.starts.load(Ordering::SeqCst) == starts && child(name).is_some()
    })
    .await;
}

#[tokio::test]
async fn permanent_child_restarts_after_panic_err_and_normal_stop_under_its_name() {
    let sup = supervisor(fast(IntensityPolicy::Escalate, 10)).await;
    let c = Counters::default();
    let first = start(&sup, spec("perm-a", Restart::Permanent, &c))
        .await
        .unwrap();
    let mut ids = vec![first.get_id()];
    for (i, msg) in [ChildMsg::Panic, ChildMsg::Fail, ChildMsg::Stop]
        .into_iter()
        .enumerate()
    {
        crash_and_wait("perm-a", &c, msg, i + 2).await;
        ids.push(child("perm-a").unwrap().get_id());
    }
    ids.dedup();
    assert_eq!(ids.len(), 4, "every restart is a new incarnation");
    let info = info(&sup, "perm-a").await.unwrap();
    assert_eq!(
        (info.status, info.restarts_total),
        (ChildStatus::Running, 3)
    );
    assert_eq!(info.restarts_in_window, 3);
    sup.stop_and_wait(None, None).await.unwrap();
}

#[tokio::test]
async fn every_scheduled_restart_is_reported() {
    let restarts = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = restarts.clone();
    let args = fast(IntensityPolicy::Escalate, 10)
        .with_on_restart(move |name: &str| seen.lock().push(name.to_owned()));
    let sup = supervisor(args).await;
    let c = Counters::default();
    start(&sup, spec("reported-a", Restart::Permanent, &c))
        .await
        .unwrap();
    crash_and_wait("reported-a", &c, ChildMsg::Panic, 2).await;
    crash_and_wait("reported-a", &c, ChildMsg::Fail, 3).await;
    assert_eq!(*restarts.lock(), vec!["reported-a", "reported-a"]);
    sup.stop_and_wait(None, None).await.unwrap();
}

#[tokio::test]
async fn backoff_grows_between_restarts() {
    let sup = supervisor(fast(IntensityPolicy::Escalate, 10)).await;
    let c = Counters::default();
    start(&sup, spec("backoff-a", Restart::Permanent, &c))
        .await
        .unwrap();
    for n in 2..=5 {
        crash_and_wait("backoff-a", &c, ChildMsg::Fail, n).await;
    }
    let times = c.start_times.lock().clone();
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    // Delays are 5, 10, 20, 40 ms; each gap is at least its delay.
    for (gap, delay_ms) in gaps.iter().zip([5, 10, 20, 40]) {
        assert!(*gap >= Duration::from_millis(delay_ms), "{gaps:?}");
    }
    sup.stop_and_wait(None, None).await.unwrap();
}

#[tokio::test]
async fn give_up_leaves_child_down_notifies_and_start_child_revives_it() {
    let (args, gave_up) = give_up(2);
    let sup = supervisor(args).await;
    let c = Counters::default();
    start(&sup, spec("giveup-a", Restart::Permanent, &c))
        .await
        .unwrap();
    crash_and_wait("giveup-a", &c, ChildMsg::Panic, 2).await;
    crash_and_wait("giveup-a", &c, ChildMsg::Panic, 3).await;
    child("giveup-a").unwrap().cast(ChildMsg::Fail).unwrap();
    eventually("give up", || !gave_up.lock().is_empty()).await;
    let report = gave_up.lock()[0].clone();
    assert_eq!(
        (report.name.as_str(), report.restarts_total),
        ("giveup-a", 2)
    );
    assert!(report.reason.contains("test failure"), "{report:?}");
    assert_eq!(
        info(&sup, "giveup-a").await.unwrap().status,
        ChildStatus::GivenUp
    );
    assert!(child("giveup-a").is_none());
    assert_eq!(sup.get_status(), ActorStatus::Running);

    start(&sup, spec("giveup-a", Restart::Permanent, &c))
        .await
        .unwrap();
    let info = info(&sup, "giveup-a").await.unwrap();
    assert_eq!(
        (info.status, info.restarts_total),
        (ChildStatus::Running, 2)
    );
    assert_eq!(
        info.restarts_in_window, 0,
        "a fresh start has a fresh window"
    );
    sup.stop_and_wait(None, None).await.unwrap();
}

#[tokio::test]
async fn escalate_stops_the_children_then_the_supervisor_with_an_error() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let (watcher, _) = Actor::spawn(None, Watcher, log.clone()).await.unwrap();
    let args = fast(IntensityPolicy::Escalate, 1);
    let (sup, handle) = Actor::spawn_linked(None, Supervisor, args, watcher.get_cell())
        .await
        .unwrap();
    let (c, sibling) = (Counters::default(), Counters::default());
    start(&sup, spec("escalate-sibling", Restart::Permanent, &sibling))
        .await
        .unwrap();
    start(&sup, spec("escalate-a", Restart::Permanent, &c))
        .await
        .unwrap();
    crash_and_wait("escalate-a", &c, ChildMsg::Panic, 2).await;
    child("escalate-a").unwrap().cast(ChildMsg::Panic).unwrap();
    tokio::time::timeout(CALL_TIMEOUT, handle)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sup.get_status(), ActorStatus::Stopped);
    assert_eq!(*sibling.stopped.lock(), vec!["escalate-sibling".to_owned()]);
    eventually("parent told", || !log.lock().is_empty()).await;
    let told = log.lock()[0].clone();
    assert!(
        told.starts_with("failed:") && told.contains("escalate-a"),
        "{told}"
    );
    watcher.stop(None);
}

#[tokio::test]
async fn temporary_children_are_never_restarted_or_counted() {
    let sup = supervisor(fast(IntensityPolicy::Escalate, 1)).await;
    let c = Counters::default();
    let names = ["temp-0", "temp-1", "temp-2"];
    for (name, msg) in names
        .iter()
        .zip([ChildMsg::Panic, ChildMsg::Fail, ChildMsg::Stop])
    {
        start(&sup, spec(name, Restart::Temporary, &c))
            .await
            .unwrap();
        child(name).unwrap().cast(msg).unwrap();
    }
    eventually("children gone", || names.iter().all(|n| child(n).is_none())).await;
    let sup2 = sup.clone();
    let forgotten = async move { children(&sup2, CALL_TIMEOUT).await.unwrap().is_empty() };
    assert!(forgotten.await);
    // Three exits with max_restarts 1 would have escalated had they counted.
    assert_eq!(sup.get_status(), ActorStatus::Running);
    assert_eq!(c.starts.load(Ordering::SeqCst), 3);
    sup.stop_and_wait(None, None).await.unwrap();
}

#[tokio::test]
async fn spawn_failures_are_retried_with_backoff_then_given_up() {
    let (args, gave_up) = give_up(3);
    let sup = supervisor(args).await;
    // Fails twice, then starts: retried in the background.
    let c = Counters::default();
    c.fail_starts.store(2, Ordering::SeqCst);
    let err = start(&sup, spec("spawn-a", Restart::Permanent, &c))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SupervisorError::SpawnFailed { retrying: true, .. }),
        "{err}"
    );
    eventually("retried start", || c.starts.load(Ordering::SeqCst) == 1).await;
    assert_eq!(info(&sup, "spawn-a").await.unwrap().restarts_total, 2);

    // Never starts: given up after the limit.
    let d = Counters::default();
    d.fail_starts.store(usize::MAX / 2, Ordering::SeqCst);
    assert!(
        start(&sup, spec("spawn-b", Restart::Permanent, &d))
            .await
            .is_err()
    );
    eventually("given up", || gave_up.lock().len() == 1).await;
    assert!(gave_up.lock()[0].reason.contains("refusing to start"));
    let times = d.start_times.lock().clone();
    assert_eq!(times.len(), 4, "first attempt and 3 restarts");
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    for (gap, delay_ms) in gaps.iter().zip([5, 10, 20]) {
        assert!(*gap >= Duration::from_millis(delay_ms), "{gaps:?}");
    }
    sup.stop_and_wait(None, None).await.unwrap();
}

#[tokio::test]
async fn temporary_spawn_failure_is_reported_and_forgotten() {
    let sup = supervisor(fast(IntensityPolicy::Escalate, 1)).await;
    let c = Counters::default();
    c.fail_starts.store(1, Ordering::SeqCst);
    let err = start(&sup, spec("tempfail-a", Restart::Temporary, &c))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SupervisorError::SpawnFailed {
                retrying: false,
                ..
            }
        ),
        "{err}"
    );
    assert!(info(&sup, "tempfail-a").await.is_none());
    sup.stop_and_wait(None, None).await.unwrap();
}

#[tokio::test]
async fn stop_child_stops_it_gracefully_without_restart() {
    let sup = supervisor(fast(IntensityPolicy::Escalate, 5)).await;
    let c = Counters::default();
    start(&sup, spec("stop-a", Restart::Permanent, &c))
        .await
        .unwrap();
    assert!(stop_child(&sup, "stop-a", CALL_TIMEOUT).await.unwrap());
    // The reply comes after the child stopped.
    assert_eq!(*c.stopped.lock(), vec!["stop-a".to_owned()]);
    assert!(child("stop-a").is_none());
    // Longer than the backoff: a restart would have happened by now.
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(c.starts.load(Ordering::SeqCst), 1);
    assert!(info(&sup, "stop-a").await.is_none());
    assert!(!stop_child(&sup, "stop-a", CALL_TIMEOUT).await.unwrap());
    sup.stop_and_wait(None, None).await.unwrap();
}

#[tokio::test]
async fn a_second_child_with_the_same_name_is_refused() {
    let sup = supervisor(fast(IntensityPolicy::Escalate, 5)).await;
    let c = Counters::default();
    start(&sup, spec("dup-a", Restart::Permanent, &c))
        .await
        .unwrap();
    let err = start(&sup, spec("dup-a", Restart::Temporary, &c))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        SupervisorError::AlreadyExists {
            name: "dup-a".into()
        }
    );
    sup.stop_and_wait(None, None).await.unwrap();
}

#[tokio::test]
async fn initial_children_start_in_order_and_stop_in_reverse() {
    let c = Counters::default();
    let specs = vec![
        spec("order-a", Restart::Permanent, &c),
        spec("order-b", Restart::Permanent, &c),
        spec("order-c", Restart::Permanent, &c),
    ];
    let sup = supervisor(fast(IntensityPolicy::Escalate, 5).with_children(specs)).await;
    let names: Vec<String> = children(&sup, CALL_TIMEOUT)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, ["order-a", "order-b", "order-c"]);
    start(&sup, spec("order-temp", Restart::Temporary, &c))
        .await
        .unwrap();
    sup.stop_and_wait(None, Some(CALL_TIMEOUT)).await.unwrap();
    // Temporary children are stopped first, together; then permanent ones in reverse.
    let stopped = c.stopped.lock().clone();
    assert_eq!(stopped, ["order-temp", "order-c", "order-b", "order-a"]);
}

#[tokio::test]
async fn a_failing_initial_child_fails_the_supervisor() {
    let (ok, bad) = (Counters::default(), Counters::default());
    bad.fail_starts.store(1, Ordering::SeqCst);
    let specs = vec![
        spec("initfail-ok", Restart::Permanent, &ok),
        spec("initfail-bad", Restart::Permanent, &bad),
    ];
    let args = fast(IntensityPolicy::Escalate, 5).with_children(specs);
    let err = Actor::spawn(None, Supervisor, args).await.unwrap_err();
    assert!(err.to_string().contains("initfail-bad"), "{err}");
    eventually("started child cleaned up", || {
        child("initfail-ok").is_none()
    })
    .await;
}

#[tokio::test]
async fn a_restart_waits_while_another_actor_holds_the_name() {
    let args = SupervisorArgs {
        intensity: Intensity {
            backoff_initial: Duration::from_millis(20),
            ..fast(IntensityPolicy::Escalate, 5).intensity
        },
        ..fast(IntensityPolicy::Escalate, 5)
    };
    let sup = supervisor(args).await;
    let (c, squatter) = (Counters::default(), Counters::default());
    start(&sup, spec("taken-a", Restart::Permanent, &c))
        .await
        .unwrap();
    child("taken-a").unwrap().cast(ChildMsg::Fail).unwrap();
    eventually("name free", || child("taken-a").is_none()).await;
    // Takes the name before the 20 ms backoff ends and keeps it for 60 ms.
    let (held, _) = Actor::spawn(Some("taken-a".into()), TestChild, squatter)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(
        info(&sup, "taken-a").await.unwrap().status,
        ChildStatus::Restarting
    );
    held.stop_and_wait(None, None).await.unwrap();
    eventually("restart", || c.starts.load(Ordering::SeqCst) == 2).await;
    let info = info(&sup, "taken-a").await.unwrap();
    assert_eq!(
        (info.status, info.restarts_total),
        (ChildStatus::Running, 1)
    );
    sup.stop_and_wait(None, None).await.unwrap();
}

#[tokio::test]
async fn a_hand_written_spawn_fn_and_a_nested_supervisor_work_too() {
    let c = Counters::default();
    let counters = c.clone();
    let leaf = ChildSpec::new("nested-leaf", Restart::Permanent, move |sup, name| {
        let c = counters.clone();
        async move {
            let (actor, _) = Actor::spawn_linked(Some(name), TestChild, c, sup).await?;
            Ok(actor.get_cell())
        }
    });
    let inner_args = fast(IntensityPolicy::Escalate, 5).with_children(vec![leaf]);
    let inner = ChildSpec::linked("nested-inner", Restart::Permanent, Supervisor, move || {
        inner_args.clone()
    });
    let outer = supervisor(fast(IntensityPolicy::Escalate, 5).with_children(vec![inner])).await;
    crash_and_wait("nested-leaf", &c, ChildMsg::Panic, 2).await;
    outer.stop_and_wait(None, Some(CALL_TIMEOUT)).await.unwrap();
    // The panicked incarnation skipped post_stop; the restarted one was stopped
    // gracefully through both supervisors.
    assert_eq!(*c.stopped.lock(), ["nested-leaf"]);
    assert!(child("nested-leaf").is_none());
}
