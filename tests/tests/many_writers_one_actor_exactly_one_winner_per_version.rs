//! Many writers, each with its own connection, race to append to one actor at the same
//! expected version, round after round: exactly one wins each version, every loser gets a
//! version conflict naming the winner's version, and the history is contiguous with the
//! winners' events. On one server, and on a 3-server cluster with the writers connected to
//! different servers; ten times as many rounds with `AETHER_LONG=1`.
#![cfg(feature = "itest")]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aether_core::{Error, EventStore, EventStoreExt, ExpectedVersion, Namespace};
use aether_store_jetstream::{JetStreamEventStore, JetStreamStoreOptions};
use aether_testkit::{NatsCluster, NatsServer};
use common::{actor, batch, connect, event_id, namespace, options, repetitions};
use tokio::sync::Barrier;

/// What one writer saw in one round.
#[derive(Debug)]
enum Outcome {
    Won,
    Lost { actual: u64 },
}

/// Appends at `Exact(round)`; a transient failure leaves the outcome unknown, so the same
/// event is re-sent until the store answers with a win or a conflict.
async fn race(store: &JetStreamEventStore, writer: usize, round: usize) -> Outcome {
    let deadline = Instant::now() + Duration::from_secs(60);
    let id = actor(0);
    loop {
        match store
            .append(
                &id,
                ExpectedVersion::Exact(round as u64),
                batch(writer, round, 1),
            )
            .await
        {
            Ok(a) => {
                assert_eq!(a.version, round as u64 + 1, "writer {writer} round {round}");
                return Outcome::Won;
            }
            Err(Error::VersionConflict(c)) => {
                assert_eq!(c.expected, ExpectedVersion::Exact(round as u64));
                return Outcome::Lost { actual: c.actual };
            }
            Err(e) if e.is_transient() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("writer {writer} round {round}: {e}"),
        }
    }
}

async fn run(
    urls: Vec<String>,
    ns: Namespace,
    opts: JetStreamStoreOptions,
    writers: usize,
    rounds: usize,
) {
    let mut stores = Vec::new();
    for w in 0..writers {
        stores.push(Arc::new(
            connect(&urls[w % urls.len()], &ns, opts.clone()).await,
        ));
    }
    let barrier = Arc::new(Barrier::new(writers));
    let mut tasks = Vec::new();
    for (w, store) in stores.iter().enumerate() {
        let (store, barrier) = (store.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::with_capacity(rounds);
            for r in 0..rounds {
                barrier.wait().await;
                outcomes.push(race(&store, w, r).await);
            }
            outcomes
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.expect("writer task"));
    }

    let mut winners = Vec::with_capacity(rounds);
    for r in 0..rounds {
        let won: Vec<usize> = (0..writers)
            .filter(|&w| matches!(outcomes[w][r], Outcome::Won))
            .collect();
        assert_eq!(won.len(), 1, "round {r}: winners {won:?}");
        for (w, o) in outcomes.iter().enumerate() {
            if let Outcome::Lost { actual } = o[r] {
                assert_eq!(
                    actual,
                    r as u64 + 1,
                    "round {r}: writer {w} told the wrong actual version"
                );
            }
        }
        winners.push(won[0]);
    }
    let history = stores[0].read_all(&actor(0)).await.expect("read history");
    assert_eq!(history.len(), rounds, "one event per round");
    for (r, e) in history.iter().enumerate() {
        assert_eq!(e.version, r as u64 + 1, "contiguous versions");
        assert_eq!(
            e.id,
            event_id(winners[r], r, 0),
            "version {} holds round {r}'s winner",
            e.version
        );
    }
    for s in &stores {
        assert_eq!(
            s.latest_version(&actor(0)).await.expect("latest"),
            rounds as u64
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_writers_on_one_server_exactly_one_winner_per_version() {
    let server = NatsServer::start();
    let rounds = repetitions(150, 1_500);
    run(vec![server.url()], namespace("race"), options(), 8, rounds).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_writers_across_cluster_servers_exactly_one_winner_per_version() {
    let cluster = NatsCluster::start(3);
    run(
        cluster.urls(),
        namespace("race3"),
        options().replicas(3),
        6,
        repetitions(60, 600),
    )
    .await;
}
