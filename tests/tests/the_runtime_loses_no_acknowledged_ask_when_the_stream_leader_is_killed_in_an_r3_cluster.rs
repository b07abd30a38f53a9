//! The actor runtime on the JetStream store with 3 replicas on a 3-server cluster: the
//! server leading the event stream is killed with SIGKILL while asks with caller-supplied
//! command ids run. Every ask either succeeds or reports that it may have run (or that it
//! did not start); asks are acknowledged again once a new leader is elected; every
//! acknowledged ask's event is stored exactly once; the others, retried with their ids
//! (twice), run at most once.
#![cfg(feature = "itest")]

mod common;
mod runtime;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aether::{Actors, AskErrorKind};
use aether_testkit::NatsCluster;
use common::{connect, namespace, options, stream_leader};
use runtime::{
    assert_kept_and_retried_once, blocking, failure_kinds, system, Asked, Tally, Traffic,
};

const ACTORS: usize = 6;
const CLIENTS_PER_ACTOR: usize = 2;
/// The deadline of every ask: a quarter of the shortest stream leader election nats-server
/// holds (its minimum election timeout is 4 s), so the asks in flight at the kill fail.
const ASK_TIMEOUT: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtime_loses_no_acknowledged_ask_when_the_stream_leader_is_killed() {
    let cluster = Arc::new(NatsCluster::start(3));
    let ns = namespace("rt-r3");
    let store = connect(&cluster.url(), &ns, options().replicas(3)).await;
    let victim = stream_leader(&store).await;
    let sys = system(store, ASK_TIMEOUT);
    let tallies = sys.actors::<Tally>();
    let mut asked = kill_under_traffic(&cluster, &tallies, victim).await;
    sys.shutdown().await;

    // Through the survivors only, on a fresh system: every acknowledged ask is stored once,
    // the others at most once; retried twice, each of those runs once.
    let survivors: Vec<String> = (0..3)
        .filter(|&i| i != victim)
        .map(|i| cluster.server(i).url())
        .collect();
    let fresh_store = connect(&survivors.join(","), &ns, options().replicas(3)).await;
    let (ask_timeout, patience) = (Duration::from_secs(10), Duration::from_secs(60));
    assert_kept_and_retried_once(fresh_store, ACTORS, &mut asked, ask_timeout, patience).await;
}

/// Asks run; server `victim` is killed under them; asks are acknowledged again once a new
/// leader is elected; the failed ones are checked.
async fn kill_under_traffic(
    cluster: &Arc<NatsCluster>,
    tallies: &Actors<Tally>,
    victim: usize,
) -> Vec<Asked> {
    let pace = Duration::from_millis(10);
    let traffic = Traffic::start(tallies, ACTORS, CLIENTS_PER_ACTOR, pace, 0);
    traffic.wait_answered(100, Duration::from_secs(90)).await;
    let c = cluster.clone();
    blocking(move || c.kill(victim)).await;
    let killed = Instant::now();
    let at_kill = traffic.answered();
    // A new leader is elected (4-7 s on loopback) and asks are acknowledged again.
    traffic
        .wait_answered(at_kill + 100, Duration::from_secs(90))
        .await;
    let recovered = killed.elapsed();
    let asked = traffic.stop(3 * ASK_TIMEOUT).await;
    check_failures(&asked);
    eprintln!(
        "killed stream leader n{victim}: {} asks, {}; 100 more answered within {recovered:?}",
        asked.len(),
        failure_kinds(&asked)
    );
    asked
}

/// Every failed ask says it may have run, or that it did not start; and the kill hit asks.
fn check_failures(asked: &[Asked]) {
    let failed: Vec<_> = asked.iter().filter_map(|a| a.failure.as_ref()).collect();
    for f in &failed {
        assert!(
            f.may_have_run || matches!(f.kind, AskErrorKind::Timeout | AskErrorKind::Load),
            "an ask failed with {} (may have run: {}): {}",
            f.kind,
            f.may_have_run,
            f.message
        );
        assert!(f.retryable, "{}: {}", f.kind, f.message);
    }
    // No leader answers for at least 4 s after the kill: every client's ask then fails.
    assert!(
        failed.len() >= ACTORS * CLIENTS_PER_ACTOR,
        "only {} asks failed after the stream leader was killed",
        failed.len()
    );
}
