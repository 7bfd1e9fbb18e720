//! Supervisor behaviour: restarts, backoff, intensity, temporary children, spawn
//! failures, explicit stops.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use ractor::{Actor, ActorProcessingErr, ActorRef, ActorStatus};
use ractor_cluster_derive::RactorMessage;

use super::*;

/// What the test child does on each message.
#[derive(Debug, RactorMessage)]
enum ChildMsg {
    Panic,
    Fail,
    Stop,
}

/// Counts starts; fails `pre_start` while `fail_starts` is above zero.
#[derive(Clone, Default)]
struct Counters {
    starts: Arc<AtomicUsize>,
    fail_starts: Arc<AtomicUsize>,
    start_times: Arc<Mutex<Vec<Instant>>>,
}

struct TestChild;

impl Actor for TestChild {
    type Msg = ChildMsg;
    type State = ();
    type Arguments = Counters;

    async fn pre_start(
        &self,
        _me: ActorRef<ChildMsg>,
        c: Counters,
    ) -> Result<(), ActorProcessingErr> {
        c.start_times.lock().push(Instant::now());
        if c.fail_starts.load(Ordering::SeqCst) > 0 {
            c.fail_starts.fetch_sub(1, Ordering::SeqCst);
            return Err("refusing to start".into());
        }
        c.starts.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn handle(
        &self,
        me: ActorRef<ChildMsg>,
        msg: ChildMsg,
        _s: &mut (),
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
}

fn spec(name: &str, restart: Restart, c: &Counters) -> ChildSpec {
    let c = c.clone();
    ChildSpec::new(name, restart, move |sup, name| {
        let c = c.clone();
        async move {
            Actor::spawn_linked(Some(name), TestChild, c, sup)
                .await
                .map(|(a, _)| a.get_cell())
        }
    })
}

fn fast(policy: IntensityPolicy, max_restarts: usize) -> SupervisorArgs {
    SupervisorArgs {
        max_restarts,
        period: Duration::from_secs(5),
        backoff_initial: Duration::from_millis(5),
        backoff_max: Duration::from_millis(40),
        policy,
        children: Vec::new(),
    }
}

async fn start(sup: &ActorRef<SupervisorMsg>, spec: ChildSpec) -> Result<ActorCell, String> {
    sup.call(|reply| SupervisorMsg::StartChild { spec, reply }, None)
        .await
        .unwrap()
        .unwrap()
}

fn child(name: &str) -> Option<ActorRef<ChildMsg>> {
    ractor::registry::where_is(name).map(ActorRef::from)
}

/// Polls (bounded) until `cond` holds.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..400 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn status(sup: &ActorRef<SupervisorMsg>, name: &str) -> Option<ChildInfo> {
    let children = sup
        .call(|reply| SupervisorMsg::Children { reply }, None)
        .await
        .unwrap()
        .unwrap();
    children.into_iter().find(|c| c.name == name)
}

#[tokio::test]
async fn permanent_child_restarts_after_panic_err_and_stop_under_its_name() {
    let (sup, _) = Actor::spawn(None, Supervisor, fast(IntensityPolicy::Escalate, 10))
        .await
        .unwrap();
    let c = Counters::default();
    start(&sup, spec("t-perm", Restart::Permanent, &c))
        .await
        .unwrap();
    for (i, msg) in [ChildMsg::Panic, ChildMsg::Fail, ChildMsg::Stop]
        .into_iter()
        .enumerate()
    {
        child("t-perm").unwrap().cast(msg).unwrap();
        eventually("restart", || {
            c.starts.load(Ordering::SeqCst) == i + 2 && child("t-perm").is_some()
        })
        .await;
    }
    assert_eq!(status(&sup, "t-perm").await.unwrap().restarts_total, 3);
    sup.stop_and_wait(None, None).await.unwrap();
}

#[tokio::test]
async fn backoff_grows_between_restarts() {
    let (sup, _) = Actor::spawn(None, Supervisor, fast(IntensityPolicy::Escalate, 10))
        .await
        .unwrap();
    let c = Counters::default();
    start(&sup, spec("t-backoff", Restart::Permanent, &c))
        .await
        .unwrap();
    for n in 2..=5 {
        child("t-backoff").unwrap().cast(ChildMsg::Fail).unwrap();
        eventually("restart", || {
            c.starts.load(Ordering::SeqCst) == n && child("t-backoff").is_some()
        })
        .await;
    }
    let times = c.start_times.lock().clone();
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    // 5, 10, 20, 40 ms: the later gaps are at least the configured delay.
    assert!(gaps[2] >= Duration::from_millis(20), "{gaps:?}");
    assert!(gaps[3] >= Duration::from_millis(40), "{gaps:?}");
    sup.stop_and_wait(None, None).await.unwrap();
}

#[tokio::test]
async fn give_up_leaves_child_down_and_notifies() {
    let given_up = Arc::new(Mutex::new(Vec::new()));
    let seen = given_up.clone();
    let policy = IntensityPolicy::GiveUp(Arc::new(move |name: &str| {
        seen.lock().push(name.to_owned())
    }));
    let (sup, _) = Actor::spawn(None, Supervisor, fast(policy, 2))
        .await
        .unwrap();
    let c = Counters::default();
    start(&sup, spec("t-giveup", Restart::Permanent, &c))
        .await
        .unwrap();
    for n in 2..=3 {
        child("t-giveup").unwrap().cast(ChildMsg::Panic).unwrap();
        eventually("restart", || {
            c.starts.load(Ordering::SeqCst) == n && child("t-giveup").is_some()
        })
        .await;
    }
    child("t-giveup").unwrap().cast(ChildMsg::Panic).unwrap();
    eventually("give up", || !given_up.lock().is_empty()).await;
    assert_eq!(*given_up.lock(), vec!["t-giveup".to_string()]);
    assert_eq!(
        status(&sup, "t-giveup").await.unwrap().status,
        ChildStatus::GivenUp
    );
    assert!(child("t-giveup").is_none());
    assert_eq!(sup.get_status(), ActorStatus::Running);
    // An explicit start brings it back.
    start(&sup, spec("t-giveup", Restart::Permanent, &c))
        .await
        .unwrap();
    assert_eq!(
        status(&sup, "t-giveup").await.unwrap().status,
        ChildStatus::Running
    );
    sup.stop_and_wait(None, None).await.unwrap();
}

#[tokio::test]
async fn escalate_stops_the_supervisor() {
    let (sup, handle) = Actor::spawn(None, Supervisor, fast(IntensityPolicy::Escalate, 1))
        .await
        .unwrap();
    let c = Counters::default();
    start(&sup, spec("t-escalate", Restart::Permanent, &c))
        .await
        .unwrap();
    child("t-escalate").unwrap().cast(ChildMsg::Panic).unwrap();
    eventually("restart", || {
        c.starts.load(Ordering::SeqCst) == 2 && child("t-escalate").is_some()
    })
    .await;
    child("t-escalate").unwrap().cast(ChildMsg::Panic).unwrap();
    tokio::time::timeout(Duration::from_secs(2), handle)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sup.get_status(), ActorStatus::Stopped);
}

#[tokio::test]
async fn temporary_children_are_never_restarted_or_counted() {
    let (sup, _) = Actor::spawn(None, Supervisor, fast(IntensityPolicy::Escalate, 1))
        .await
        .unwrap();
    let c = Counters::default();
    for i in 0..3 {
        let name = format!("t-temp-{i}");
        start(&sup, spec(&name, Restart::Temporary, &c))
            .await
            .unwrap();
        child(&name).unwrap().cast(ChildMsg::Panic).unwrap();
    }
    let sup2 = sup.clone();
    eventually("temporary children forgotten", || temp_children_gone(&sup2)).await;
    // Three failures with max_restarts 1 would have escalated if they counted.
    assert_eq!(sup.get_status(), ActorStatus::Running);
    assert_eq!(c.starts.load(Ordering::SeqCst), 3);
    sup.stop_and_wait(None, None).await.unwrap();
}

fn temp_children_gone(_sup: &ActorRef<SupervisorMsg>) -> bool {
    ["t-temp-0", "t-temp-1", "t-temp-2"]
        .iter()
        .all(|n| child(n).is_none())
}

#[tokio::test]
async fn spawn_failures_are_retried_with_backoff_then_given_up() {
    let given_up = Arc::new(AtomicUsize::new(0));
    let g = given_up.clone();
    let policy = IntensityPolicy::GiveUp(Arc::new(move |_: &str| {
        g.fetch_add(1, Ordering::SeqCst);
    }));
    let (sup, _) = Actor::spawn(None, Supervisor, fast(policy, 3))
        .await
        .unwrap();
    // Fails twice, then starts: retried in the background.
    let c = Counters::default();
    c.fail_starts.store(2, Ordering::SeqCst);
    assert!(
        start(&sup, spec("t-spawn", Restart::Permanent, &c))
            .await
            .is_err()
    );
    eventually("retried start", || c.starts.load(Ordering::SeqCst) == 1).await;
    // Never starts: given up after the intensity limit.
    let d = Counters::default();
    d.fail_starts.store(usize::MAX / 2, Ordering::SeqCst);
    assert!(
        start(&sup, spec("t-never", Restart::Permanent, &d))
            .await
            .is_err()
    );
    eventually("given up", || given_up.load(Ordering::SeqCst) == 1).await;
    assert_eq!(d.start_times.lock().len(), 4, "first attempt + 3 restarts");
    sup.stop_and_wait(None, None).await.unwrap();
}

#[tokio::test]
async fn stop_child_stops_without_restart() {
    let (sup, _) = Actor::spawn(None, Supervisor, fast(IntensityPolicy::Escalate, 5))
        .await
        .unwrap();
    let c = Counters::default();
    start(&sup, spec("t-stop", Restart::Permanent, &c))
        .await
        .unwrap();
    let existed = sup
        .call(
            |reply| SupervisorMsg::StopChild {
                name: "t-stop".into(),
                reply,
            },
            None,
        )
        .await
        .unwrap()
        .unwrap();
    assert!(existed);
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert!(child("t-stop").is_none());
    assert_eq!(c.starts.load(Ordering::SeqCst), 1);
    assert!(status(&sup, "t-stop").await.is_none());
    sup.stop_and_wait(None, None).await.unwrap();
}
