//! A broker is ready (`/readyz`, `weir-broker health`) only while the active
//! controller takes its heartbeats: cut off from the quorum — here the two
//! other brokers are stopped with SIGSTOP, so their sockets stay open and
//! nothing closes — it turns not ready within the session timeout, though its
//! own metadata still lists it, and ready again once they resume.

mod support;

use support::cluster::{LocalCluster, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_cut_off_from_the_quorum_is_not_ready_until_it_is_back() {
    let cluster = LocalCluster::start(3, &[]);
    for i in 0..3 {
        eventually(&format!("broker {} ready", i + 1), || async {
            cluster.health(i).0.then_some(())
        })
        .await;
    }
    let (_, ready) = cluster.health(0);
    assert!(ready.contains("ready: broker 1"), "{ready}");

    cluster.signal(1, "STOP");
    cluster.signal(2, "STOP");
    let reason = eventually("broker 1 not ready", || async {
        let (ok, text) = cluster.health(0);
        (!ok).then_some(text)
    })
    .await;
    eprintln!("cut off: {reason}");
    assert!(
        reason.contains("broker 1") && reason.contains("heartbeat"),
        "{reason}"
    );

    cluster.signal(1, "CONT");
    cluster.signal(2, "CONT");
    for i in 0..3 {
        eventually(&format!("broker {} ready again", i + 1), || async {
            cluster.health(i).0.then_some(())
        })
        .await;
    }
}
