//! The actor runtime on the JetStream store and a real nats-server killed with SIGKILL
//! three times (ten with `AETHER_LONG=1`) under ask traffic and restarted on its store:
//! after the restarts every acknowledged ask's event is stored exactly once; the asks that
//! were not acknowledged, retried with their command ids (twice), run at most once: the
//! second retry gets the first retry's reply and stores nothing.
#![cfg(feature = "itest")]

mod common;
mod runtime;

use std::sync::Arc;
use std::time::Duration;

use aether::{Actors, AskErrorKind};
use aether_testkit::NatsServer;
use common::{connect, namespace, options, repetitions};
use runtime::{
    assert_kept_and_retried_once, blocking, failure_kinds, system, Asked, Tally, Traffic,
};

const ACTORS: usize = 6;
const CLIENTS_PER_ACTOR: usize = 2;
/// The deadline of every ask: a third of the outage, so every ask sent during it fails.
const ASK_TIMEOUT: Duration = Duration::from_secs(1);
/// How long the server stays dead.
const DOWN: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtime_keeps_every_acknowledged_ask_across_a_killed_and_restarted_server() {
    let kills = repetitions(3, 10);
    let server = Arc::new(NatsServer::start());
    let ns = namespace("rt-kill");
    let store = connect(&server.url(), &ns, options()).await;
    let sys = system(store, ASK_TIMEOUT);
    let tallies = sys.actors::<Tally>();
    let mut asked = Vec::new();
    for kill in 0..kills {
        asked.extend(one_kill(&server, &tallies, kill).await);
    }
    sys.shutdown().await;

    // On a fresh system and connection: every acknowledged ask is stored once, the others
    // at most once; retried twice, each of those runs once.
    let fresh_store = connect(&server.url(), &ns, options()).await;
    let (ask_timeout, patience) = (Duration::from_secs(5), Duration::from_secs(30));
    assert_kept_and_retried_once(fresh_store, ACTORS, &mut asked, ask_timeout, patience).await;
}

/// One round: asks run, the server is killed under them, stays down for [`DOWN`] and is
/// restarted; asks are acknowledged again; the failed ones are checked.
async fn one_kill(server: &Arc<NatsServer>, tallies: &Actors<Tally>, kill: usize) -> Vec<Asked> {
    let pace = Duration::from_millis(10);
    let traffic = Traffic::start(tallies, ACTORS, CLIENTS_PER_ACTOR, pace, kill);
    traffic.wait_answered(100, Duration::from_secs(60)).await;
    let s = server.clone();
    blocking(move || s.kill()).await;
    tokio::time::sleep(DOWN).await;
    let s = server.clone();
    blocking(move || s.restart()).await;
    let restarted = traffic.answered();
    // Asks are acknowledged again after the restart (the runtime reconnects).
    traffic
        .wait_answered(restarted + 100, Duration::from_secs(60))
        .await;
    let round = traffic.stop(3 * ASK_TIMEOUT).await;
    let failed = check_failures(kill, &round);
    eprintln!(
        "kill {kill}: {} asks, {failed} not answered: {}",
        round.len(),
        failure_kinds(&round)
    );
    round
}

/// Checks the asks of one kill that failed: each is an unknown outcome or a withdrawn
/// command (while the connection is down the runtime names the outage: a transient `Load`
/// error, not run, or a `Store` error that may have run). Returns how many failed.
fn check_failures(kill: usize, round: &[Asked]) -> usize {
    let failed: Vec<_> = round.iter().filter_map(|a| a.failure.as_ref()).collect();
    for f in &failed {
        assert!(
            match f.kind {
                AskErrorKind::OutcomeUnknown | AskErrorKind::Timeout => true,
                AskErrorKind::Load => f.retryable && !f.may_have_run,
                AskErrorKind::Store => f.retryable && f.may_have_run,
                _ => false,
            },
            "kill {kill}: an ask failed with {}: {}",
            f.kind,
            f.message
        );
    }
    // Every client had an ask in flight or sent one while the server was dead, and none
    // can be answered within its deadline then.
    assert!(
        failed.len() >= ACTORS * CLIENTS_PER_ACTOR,
        "kill {kill}: only {} asks failed while the server was down for {DOWN:?}",
        failed.len()
    );
    failed.len()
}
