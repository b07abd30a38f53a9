//! The actor runtime on the JetStream store and a real nats-server that is paused (SIGSTOP)
//! five times (twenty with `AETHER_LONG=1`) while dozens of asks with caller-supplied
//! command ids are in flight: every ask either succeeds or answers `OutcomeUnknown` (it was
//! running) or `Timeout` (it was still queued) once its deadline passes; after the server
//! resumes, asking every command again with its id is answered (the original reply for
//! those answered before), and every command id caused exactly one stored event.
#![cfg(feature = "itest")]

mod common;
mod runtime;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aether::{Actors, AskErrorKind};
use aether_testkit::NatsServer;
use common::{connect, namespace, options, repetitions};
use runtime::{
    assert_each_ran_once, blocking, failure_kinds, retry_all, system, Asked, Tally, Traffic,
};

const ACTORS: usize = 8;
const CLIENTS_PER_ACTOR: usize = 3;
/// The deadline of every ask: a third of the pause, so every ask sent during it fails.
const ASK_TIMEOUT: Duration = Duration::from_secs(1);
const PAUSE: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtime_on_a_paused_server_runs_every_retried_command_once() {
    let rounds = repetitions(5, 20);
    let server = Arc::new(NatsServer::start());
    let ns = namespace("rt-pause");
    // The store waits out the pause (its retry deadline is far longer): the asks' own
    // deadlines are what ends them.
    let store = connect(&server.url(), &ns, options()).await;
    let sys = system(store.clone(), ASK_TIMEOUT);
    let tallies = sys.actors::<Tally>();
    let mut all = Vec::new();
    for round in 0..rounds {
        all.extend(one_pause(&server, &tallies, round).await);
    }
    sys.shutdown().await;

    // Read back on a fresh connection: one event per command id, replies as stored.
    let fresh = connect(&server.url(), &ns, options()).await;
    assert_each_ran_once(&fresh, &all).await;
}

/// One round: asks run, the server is paused under them and resumed; the asks that failed
/// are checked, then every ask of the round is asked again with its id until answered.
async fn one_pause(server: &Arc<NatsServer>, tallies: &Actors<Tally>, round: usize) -> Vec<Asked> {
    let started = Instant::now();
    let pace = Duration::from_millis(20);
    let traffic = Traffic::start(tallies, ACTORS, CLIENTS_PER_ACTOR, pace, round);
    traffic.wait_answered(50, Duration::from_secs(30)).await;
    let s = server.clone();
    blocking(move || s.pause()).await;
    tokio::time::sleep(PAUSE).await;
    let s = server.clone();
    blocking(move || {
        s.resume();
        s.wait_ready(Duration::from_secs(10));
    })
    .await;
    let resumed = traffic.answered();
    traffic
        .wait_answered(resumed + 50, Duration::from_secs(30))
        .await;
    let mut asked = traffic.stop(3 * ASK_TIMEOUT).await;

    let failed: Vec<_> = asked.iter().filter_map(|a| a.failure.clone()).collect();
    for f in &failed {
        assert!(
            matches!(f.kind, AskErrorKind::OutcomeUnknown | AskErrorKind::Timeout),
            "round {round}: an ask during a pause failed with {}: {}",
            f.kind,
            f.message
        );
    }
    // Every client sent at least one ask during the pause, and none can be answered
    // within its deadline while the server is stopped.
    assert!(
        failed.len() >= ACTORS * CLIENTS_PER_ACTOR,
        "round {round}: only {} asks failed during a {PAUSE:?} pause",
        failed.len()
    );
    let retried = retry_all(tallies, &mut asked, Duration::from_secs(30)).await;
    eprintln!(
        "round {round}: {} asks, {} failed during the pause {}, \
         {retried} retries failed again; {:?}",
        asked.len(),
        failed.len(),
        failure_kinds(&asked),
        started.elapsed()
    );
    asked
}
