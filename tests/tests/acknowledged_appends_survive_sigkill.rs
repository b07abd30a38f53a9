//! nats-server killed with SIGKILL (twice) during thousands of 10-event appends and
//! restarted on the same store: every acknowledged append is still there, whole, in order,
//! with no gap, and appends resume on the same handle after the reconnect.
#![cfg(feature = "itest")]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aether_core::EventStore;
use aether_testkit::NatsServer;
use common::{actor, append_until_acked, assert_history, batch, connect, namespace, options};

const ACTORS: usize = 25;
const ROUNDS: usize = 200;
const EVENTS_PER_APPEND: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_appends_survive_sigkill_and_restart() {
    let server = Arc::new(NatsServer::start());
    let ns = namespace("kill");
    let store = Arc::new(connect(&server.url(), &ns, options()).await);
    let total = ACTORS * ROUNDS;
    let acked = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));

    let mut writers = Vec::new();
    for a in 0..ACTORS {
        let (store, acked, failures) = (store.clone(), acked.clone(), failures.clone());
        writers.push(tokio::spawn(async move {
            let id = actor(a);
            for r in 0..ROUNDS {
                let expected = (r * EVENTS_PER_APPEND) as u64;
                let (_, f) = append_until_acked(
                    &*store,
                    &id,
                    expected,
                    batch(a, r, EVENTS_PER_APPEND),
                    Duration::from_secs(60),
                )
                .await;
                failures.fetch_add(f, Ordering::Relaxed);
                acked.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }

    // Kill the server at a third and at two thirds of the appends, while they run.
    let mut acked_at_kill = Vec::new();
    for fraction in [1, 2] {
        let deadline = Instant::now() + Duration::from_secs(120);
        while acked.load(Ordering::Relaxed) < total * fraction / 3 {
            assert!(
                Instant::now() < deadline,
                "appends stalled before kill {fraction}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let s = server.clone();
        let at = tokio::task::spawn_blocking(move || {
            s.kill();
            std::thread::sleep(Duration::from_millis(300));
            s.restart();
        });
        acked_at_kill.push(acked.load(Ordering::Relaxed));
        at.await.expect("kill and restart");
    }
    for w in writers {
        w.await.expect("writer task");
    }
    assert_eq!(acked.load(Ordering::Relaxed), total);
    for at in &acked_at_kill {
        assert!(
            *at < total,
            "a kill came after the last append ({acked_at_kill:?} of {total})"
        );
    }
    eprintln!(
        "{total} appends of {EVENTS_PER_APPEND} acknowledged across 2 SIGKILLs \
         (acked at kills: {acked_at_kill:?}); {} failed attempts were retried",
        failures.load(Ordering::Relaxed)
    );

    // A fresh connection reads everything back from the restarted server.
    let fresh = connect(&server.url(), &ns, options()).await;
    for a in 0..ACTORS {
        assert_history(&fresh, a, ROUNDS, |_| EVENTS_PER_APPEND).await;
    }

    // Appends resume on the original handle.
    let v = (ROUNDS * EVENTS_PER_APPEND) as u64;
    let more = store
        .append(
            &actor(0),
            aether_core::ExpectedVersion::Exact(v),
            batch(0, ROUNDS, 3),
        )
        .await
        .expect("append after restarts");
    assert_eq!(more.version, v + 3);
    assert_eq!(
        fresh.latest_version(&actor(0)).await.expect("latest"),
        v + 3
    );
}
