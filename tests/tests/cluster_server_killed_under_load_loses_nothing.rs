//! A 3-server cluster with 3 replicas: the server leading the event stream is killed with
//! SIGKILL under load. No acknowledged append is lost, the store keeps accepting appends
//! through the surviving servers (the client fails over to the servers the cluster
//! announced when its own server is the one killed), and the restarted server catches up.
#![cfg(feature = "itest")]

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aether_store_jetstream::async_nats::jetstream;
use aether_testkit::NatsCluster;
use common::{actor, append_until_acked, assert_history, batch, connect, namespace, options};

const ACTORS: usize = 12;
/// Appends before the kill, and appends that must be acknowledged after it.
const BEFORE: usize = 400;
const AFTER: usize = 400;

/// Append `r` of every actor has 1 to 4 events.
fn size(r: usize) -> usize {
    1 + r % 4
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_server_killed_under_load_loses_nothing() {
    let cluster = Arc::new(NatsCluster::start(3));
    let ns = namespace("r3kill");
    let store = Arc::new(connect(&cluster.server(0).url(), &ns, options().replicas(3)).await);

    // The server leading the event stream is the one to kill.
    let js = jetstream::new(store.client().clone());
    let info = js
        .get_stream(store.events_stream())
        .await
        .expect("event stream")
        .info()
        .await
        .expect("stream info")
        .clone();
    assert_eq!(info.config.num_replicas, 3);
    let leader = info.cluster.and_then(|c| c.leader).expect("stream leader");
    let victim: usize = leader
        .trim_start_matches('n')
        .parse()
        .expect("leader name nX");

    let acked = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for a in 0..ACTORS {
        let (store, acked, stop) = (store.clone(), acked.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let id = actor(a);
            let mut version = 0u64;
            let mut rounds = 0;
            while !stop.load(Ordering::Relaxed) {
                let events = batch(a, rounds, size(rounds));
                let n = events.len() as u64;
                append_until_acked(&*store, &id, version, events, Duration::from_secs(60)).await;
                version += n;
                rounds += 1;
                acked.fetch_add(1, Ordering::Relaxed);
            }
            rounds
        }));
    }

    let wait_for = |target: usize| {
        let acked = acked.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(120);
            while acked.load(Ordering::Relaxed) < target {
                assert!(
                    Instant::now() < deadline,
                    "fewer than {target} appends acknowledged in time"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    wait_for(BEFORE).await;
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.kill(victim))
        .await
        .expect("kill");
    let at_kill = acked.load(Ordering::Relaxed);
    let killed_at = Instant::now();
    wait_for(at_kill + AFTER).await;
    let recovery = killed_at.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut rounds = Vec::new();
    for w in writers {
        rounds.push(w.await.expect("writer task"));
    }
    eprintln!(
        "killed stream leader n{victim} after {at_kill} appends; {AFTER} more acknowledged \
         within {recovery:?}; {} appends in all",
        rounds.iter().sum::<usize>()
    );

    // Read everything back through a surviving server only.
    let survivor = (victim + 1) % 3;
    let fresh = connect(&cluster.server(survivor).url(), &ns, options().replicas(3)).await;
    for (a, &r) in rounds.iter().enumerate() {
        assert!(r > 0, "actor {a} made no progress");
        assert_history(&fresh, a, r, size).await;
    }

    // The killed server comes back, catches up, and serves the same history.
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.restart(victim))
        .await
        .expect("restart");
    let back = connect(&cluster.server(victim).url(), &ns, options().replicas(3)).await;
    for (a, &r) in rounds.iter().enumerate() {
        assert_history(&back, a, r, size).await;
    }
}
