//! The actor runtime on the JetStream store and a real nats-server: commands with
//! caller-supplied ids are retried with the same id through a SIGKILL and restart of the
//! server (four of them with `AETHER_LONG=1`), each kill hitting asks in flight, until
//! answered; afterwards every id, retried again from a fresh `ActorSystem` on a fresh
//! connection (far outside the remembered window), gets its original reply, and each id
//! stored exactly one command.
#![cfg(feature = "itest")]

mod common;
mod runtime;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aether::{ActorSystem, EventStoreExt, Uuid};
use aether_testkit::NatsServer;
use common::{connect, namespace, options, repetitions, KillLog};
use runtime::{ask_until_answered, tally, Tally, TallyCommand};

const ACTORS: usize = 4;

fn system(store: aether_store_jetstream::JetStreamEventStore) -> ActorSystem {
    ActorSystem::builder()
        .store(store)
        .recent_command_ids(4)
        .snapshot_every(10)
        .ask_timeout(Duration::from_secs(2))
        .build()
        .expect("a system")
}

/// What one client asked: the actor, and each command's id, amount and reply.
type Answered = (aether_core::ActorId, Vec<(Uuid, u64, u64)>);

/// One client per actor, asking `commands` commands with fresh ids, each retried until
/// answered; each returns what it asked and how many attempts failed.
fn spawn_clients(
    tallies: &aether::Actors<Tally>,
    commands: usize,
    answered_count: &Arc<AtomicUsize>,
    kills: &Arc<KillLog>,
) -> Vec<tokio::task::JoinHandle<(Answered, usize)>> {
    (0..ACTORS)
        .map(|a| {
            let (tallies, answered_count) = (tallies.clone(), answered_count.clone());
            let kills = kills.clone();
            tokio::spawn(async move {
                let actor = tally(a);
                let (mut answered, mut failures) = (Vec::new(), 0);
                for i in 0..commands {
                    let (id, n) = (aether::new_id(), (a * 100_000 + i) as u64);
                    let mark = kills.started();
                    let patience = Duration::from_secs(90);
                    let (reply, f) = ask_until_answered(&tallies, &actor, n, id, patience).await;
                    kills.finished(mark);
                    failures += f;
                    answered.push((id, n, reply));
                    answered_count.fetch_add(1, Ordering::Relaxed);
                }
                ((actor, answered), failures)
            })
        })
        .collect()
}

/// Kills the server with SIGKILL at even fractions of the `total` asks, restarting it each
/// time after half a second.
async fn kill_while_asking(
    server: &Arc<NatsServer>,
    kills: &Arc<KillLog>,
    kill_count: usize,
    answered_count: &AtomicUsize,
    total: usize,
) {
    for k in 1..=kill_count {
        let waiting = Instant::now() + Duration::from_secs(60);
        while answered_count.load(Ordering::Relaxed) < total * k / (kill_count + 1) {
            assert!(Instant::now() < waiting, "asks stalled before kill {k}");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let (s, kills) = (server.clone(), kills.clone());
        tokio::task::spawn_blocking(move || {
            kills.kill(|| s.kill());
            std::thread::sleep(Duration::from_millis(500));
            s.restart();
        })
        .await
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_command_ids_run_once_across_a_server_restart() {
    let (kill_count, commands) = (repetitions(1, 4), repetitions(300, 600));
    let server = Arc::new(NatsServer::start());
    let ns = namespace("cmdids");
    let store = connect(&server.url(), &ns, options()).await;
    let sys = system(store.clone());
    let answered_count = Arc::new(AtomicUsize::new(0));
    let kills = Arc::new(KillLog::new(kill_count));
    let clients = spawn_clients(&sys.actors::<Tally>(), commands, &answered_count, &kills);
    let total = ACTORS * commands;
    kill_while_asking(&server, &kills, kill_count, &answered_count, total).await;
    let (mut results, mut failures) = (Vec::new(), 0);
    for c in clients {
        let (answered, f) = c.await.expect("client");
        failures += f;
        results.push(answered);
    }
    kills.assert_every_kill_hit("asks");
    eprintln!(
        "{total} asks across {kill_count} SIGKILLs; asks in flight at each kill: {:?}; {failures} \
         failed attempts were retried with their ids",
        kills.hits()
    );
    sys.shutdown().await;

    // A fresh system on a fresh connection: every id, far outside the window now, is
    // answered with its original reply and runs nothing.
    let fresh_store = connect(&server.url(), &ns, options()).await;
    let fresh = system(fresh_store.clone());
    for answered in &results {
        assert_answered_once(&fresh, &fresh_store, answered, commands).await;
    }
    assert!(fresh.stats().command_lookups > 0, "{:?}", fresh.stats());
    fresh.shutdown().await;
}

/// Every command of `answered`, asked again with its id on `system`, gets its original reply
/// and stores nothing; each id stored exactly one event; the replies are the running totals.
async fn assert_answered_once(
    system: &ActorSystem,
    store: &aether_store_jetstream::JetStreamEventStore,
    (actor, answered): &Answered,
    commands: usize,
) {
    let tallies = system.actors::<Tally>();
    let before = store.count_events(actor).await.unwrap();
    assert_eq!(before, commands as u64, "{actor}: one event per command");
    for (id, n, reply) in answered {
        let again = tallies
            .ask(actor, TallyCommand::Add(*n))
            .command_id(*id)
            .await
            .expect("answered");
        assert_eq!(again, Ok(*reply), "{actor}: the original reply for {id}");
    }
    let events = store.read_all(actor).await.unwrap();
    assert_eq!(events.len(), commands, "{actor}: retries stored nothing");
    let mut per_id: HashMap<Uuid, usize> = HashMap::new();
    for e in &events {
        *per_id.entry(e.metadata.causation_id.unwrap()).or_default() += 1;
        assert_eq!(e.aggregate_type(), Some("Tally"));
    }
    for (id, ..) in answered {
        assert_eq!(
            per_id.get(id),
            Some(&1),
            "{actor}: command {id} stored once"
        );
    }
    // Replies are the running totals: each command ran once, in order.
    let mut total = 0;
    for (_, n, reply) in answered {
        total += n;
        assert_eq!(*reply, total);
    }
}
