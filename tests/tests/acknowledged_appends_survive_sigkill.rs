//! nats-server killed with SIGKILL (twice; ten times with `AETHER_LONG=1`) during thousands
//! of 10-event appends and restarted on the same store: every kill hits appends in flight;
//! every acknowledged append is still there, whole, in order, with no gap, and appends
//! resume on the same handle after the reconnect.
#![cfg(feature = "itest")]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aether_core::EventStore;
use aether_store_jetstream::JetStreamEventStore;
use aether_testkit::NatsServer;
use common::{
    actor, append_until_acked, assert_history, batch, connect, namespace, options, repetitions,
    KillLog,
};

const ACTORS: usize = 25;
const EVENTS_PER_APPEND: usize = 10;

/// Appends `rounds` batches to each of [`ACTORS`] actors, each retried until acknowledged;
/// returns the number of failed attempts.
fn spawn_writers(
    store: &Arc<JetStreamEventStore>,
    rounds: usize,
    acked: &Arc<AtomicUsize>,
    kills: &Arc<KillLog>,
) -> Vec<tokio::task::JoinHandle<usize>> {
    (0..ACTORS)
        .map(|a| {
            let (store, acked, kills) = (store.clone(), acked.clone(), kills.clone());
            tokio::spawn(async move {
                let id = actor(a);
                let mut failures = 0;
                for r in 0..rounds {
                    let expected = (r * EVENTS_PER_APPEND) as u64;
                    let events = batch(a, r, EVENTS_PER_APPEND);
                    let mark = kills.started();
                    let patience = Duration::from_secs(60);
                    let (_, f) = append_until_acked(&*store, &id, expected, events, patience).await;
                    kills.finished(mark);
                    failures += f;
                    acked.fetch_add(1, Ordering::Relaxed);
                }
                failures
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_appends_survive_sigkill_and_restart() {
    let (kill_count, rounds) = (repetitions(2, 10), repetitions(200, 2_000));
    let server = Arc::new(NatsServer::start());
    let ns = namespace("kill");
    let store = Arc::new(connect(&server.url(), &ns, options()).await);
    let total = ACTORS * rounds;
    let acked = Arc::new(AtomicUsize::new(0));
    let kills = Arc::new(KillLog::new(kill_count));
    let writers = spawn_writers(&store, rounds, &acked, &kills);

    // Kill the server at even fractions of the appends, while they run.
    let mut acked_at_kill = Vec::new();
    for k in 1..=kill_count {
        let deadline = Instant::now() + Duration::from_secs(120);
        while acked.load(Ordering::Relaxed) < total * k / (kill_count + 1) {
            assert!(Instant::now() < deadline, "appends stalled before kill {k}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        acked_at_kill.push(acked.load(Ordering::Relaxed));
        let (s, kills) = (server.clone(), kills.clone());
        tokio::task::spawn_blocking(move || {
            kills.kill(|| s.kill());
            std::thread::sleep(Duration::from_millis(300));
            s.restart();
        })
        .await
        .expect("kill and restart");
    }
    let mut failures = 0;
    for w in writers {
        failures += w.await.expect("writer task");
    }
    assert_eq!(acked.load(Ordering::Relaxed), total);
    kills.assert_every_kill_hit("appends");
    eprintln!(
        "{total} appends of {EVENTS_PER_APPEND} acknowledged across {kill_count} SIGKILLs \
         (acked at kills: {acked_at_kill:?}; appends in flight at each kill: {:?}); \
         {failures} failed attempts were retried",
        kills.hits()
    );

    // A fresh connection reads everything back from the restarted server.
    let fresh = connect(&server.url(), &ns, options()).await;
    for a in 0..ACTORS {
        assert_history(&fresh, a, rounds, |_| EVENTS_PER_APPEND).await;
    }

    // Appends resume on the original handle.
    let v = (rounds * EVENTS_PER_APPEND) as u64;
    let more = store
        .append(
            &actor(0),
            aether_core::ExpectedVersion::Exact(v),
            batch(0, rounds, 3),
        )
        .await
        .expect("append after restarts");
    assert_eq!(more.version, v + 3);
    assert_eq!(
        fresh.latest_version(&actor(0)).await.expect("latest"),
        v + 3
    );
}
