//! Seeded structure-aware mutations of valid requests for every served (api,
//! version), through decode AND dispatch to the handlers of a live in-process
//! broker. Nothing may panic, no partition actor may fail, and the broker must
//! still serve valid requests afterwards. Prints its seed; replay with
//! WEIR_FUZZ_SEED, scale with WEIR_FUZZ_DISPATCH_ITERS.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ractor::ActorRef;
use weir_actors::supervisor::SupervisorMsg;
use weir_broker::broker::Broker;
use weir_broker::config::BrokerConfig;
use weir_broker::wire::{BrokerCtx, Outcome, dispatch};
use weir_client::protocol::ApiKey;
use weir_client::protocol::testing::{SplitMix, fuzz_input, sample_request, sample_requests};

/// A handler still running after this is a parked long poll: dropped, not waited on.
const HANDLER_WAIT: Duration = Duration::from_millis(200);

async fn run(ctx: &Arc<BrokerCtx>, frame: Vec<u8>) -> Option<Outcome> {
    tokio::time::timeout(HANDLER_WAIT, dispatch(ctx, "PLAINTEXT", Bytes::from(frame)))
        .await
        .ok()
}

async fn partition_restarts(node_id: i32) -> u64 {
    let name = format!("weir.{node_id}.partitions");
    let Some(cell) = ractor::registry::where_is(name) else {
        return 0;
    };
    let supervisor: ActorRef<SupervisorMsg> = cell.into();
    let children = supervisor
        .call(|reply| SupervisorMsg::Children { reply }, None)
        .await
        .unwrap()
        .unwrap();
    children.iter().map(|c| c.restarts_total).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_mutations_through_dispatch() {
    let seed: u64 = std::env::var("WEIR_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let iterations: usize = std::env::var("WEIR_FUZZ_DISPATCH_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    eprintln!("WEIR_FUZZ_SEED={seed} WEIR_FUZZ_DISPATCH_ITERS={iterations}");
    let dir = tempfile::tempdir().unwrap();
    let node_id = 900;
    let config = BrokerConfig {
        node_id,
        listeners: vec!["127.0.0.1:0".parse().unwrap()],
        data_dir: dir.path().to_owned(),
        // Mutated CreateTopics must not make thousands of partition actors.
        max_partitions: 32,
        ..BrokerConfig::default()
    };
    let broker = Broker::start(config).await.unwrap();
    let ctx = broker.ctx().clone();
    let samples = sample_requests();
    // Give the sample topic some data first.
    assert!(
        run(&ctx, sample_request(ApiKey::Metadata, 4, 1).to_vec())
            .await
            .is_some()
    );
    let mut rng = SplitMix::new(seed);
    let (mut replied, mut closed, mut parked) = (0usize, 0usize, 0usize);
    for i in 0..iterations {
        match run(&ctx, fuzz_input(&mut rng, &samples, i)).await {
            Some(Outcome::Reply(_) | Outcome::Silent) => replied += 1,
            Some(Outcome::Close(_) | Outcome::ReplyThenClose(_)) => closed += 1,
            None => parked += 1,
        }
    }
    eprintln!("{iterations} inputs: {replied} answered, {closed} closed, {parked} parked");
    assert_eq!(
        partition_restarts(node_id).await,
        0,
        "no partition actor may fail on client input"
    );
    // Still serving: a valid produce and fetch work.
    for (key, v) in [
        (ApiKey::Produce, 3),
        (ApiKey::Fetch, 11),
        (ApiKey::ApiVersions, 3),
    ] {
        let outcome = run(&ctx, sample_request(key, v, 7).to_vec()).await;
        assert!(
            matches!(outcome, Some(Outcome::Reply(_))),
            "{key:?} v{v} after fuzzing: {outcome:?}"
        );
    }
    broker.shutdown().await;
}
