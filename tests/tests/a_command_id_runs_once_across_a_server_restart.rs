//! The actor runtime on the JetStream store and a real nats-server: commands with
//! caller-supplied ids are retried with the same id through a SIGKILL and restart of the
//! server until answered; afterwards every id, retried again from a fresh `ActorSystem` on a
//! fresh connection (far outside the remembered window), gets its original reply, and each
//! id stored exactly one command.
#![cfg(feature = "itest")]

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aether::{ActorSystem, Aggregate, AskErrorKind, DescribeAggregate, EventStoreExt, Uuid};
use aether_core::ActorId;
use aether_testkit::NatsServer;
use common::{connect, namespace, options};
use serde::{Deserialize, Serialize};

#[derive(Default)]
struct Tally;

#[derive(Debug, Clone, Serialize, Deserialize)]
enum TallyCommand {
    Add(u64),
}

#[derive(Serialize, Deserialize)]
enum TallyEvent {
    Added(u64),
}

impl DescribeAggregate for Tally {
    const TYPE_NAME: &'static str = "Tally";
    fn command_names() -> &'static [&'static str] {
        &["Add"]
    }
    fn event_names() -> &'static [&'static str] {
        &["Added"]
    }
}

impl Aggregate for Tally {
    type Command = TallyCommand;
    type Event = TallyEvent;
    type State = u64;
    type Reply = u64;
    type Error = ();
    fn event_type(_: &TallyEvent) -> &'static str {
        "Added"
    }
    fn decide(
        &self,
        total: &u64,
        TallyCommand::Add(n): &TallyCommand,
    ) -> Result<(Vec<TallyEvent>, u64), ()> {
        Ok((vec![TallyEvent::Added(*n)], total + n))
    }
    fn apply(total: &mut u64, TallyEvent::Added(n): &TallyEvent) {
        *total += n;
    }
}

const ACTORS: usize = 4;
const COMMANDS: usize = 300;

fn system(store: aether_store_jetstream::JetStreamEventStore) -> ActorSystem {
    ActorSystem::builder()
        .store(store)
        .recent_command_ids(4)
        .snapshot_every(10)
        .ask_timeout(Duration::from_secs(2))
        .build()
        .expect("a system")
}

/// Asks `Add(n)` with `id` until it is answered, retrying every technical failure with the
/// same id; returns the reply and how many attempts failed.
async fn ask_until_answered(
    tallies: &aether::Actors<Tally>,
    actor: &ActorId,
    n: u64,
    id: Uuid,
) -> (u64, usize) {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut failures = 0;
    loop {
        match tallies
            .ask(actor, TallyCommand::Add(n))
            .command_id(id)
            .await
        {
            Ok(reply) => return (reply.expect("accepted"), failures),
            Err(e) => {
                assert!(
                    !matches!(
                        e.kind(),
                        AskErrorKind::CommandIdReused | AskErrorKind::WrongAggregateType
                    ),
                    "{actor}: {e}"
                );
                failures += 1;
                assert!(Instant::now() < deadline, "{actor} still failing: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_command_ids_run_once_across_a_server_restart() {
    let server = Arc::new(NatsServer::start());
    let ns = namespace("cmdids");
    let store = connect(&server.url(), &ns, options()).await;
    let sys = system(store.clone());
    let tallies = sys.actors::<Tally>();

    let answered_count = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for a in 0..ACTORS {
        let tallies = tallies.clone();
        let answered_count = answered_count.clone();
        clients.push(tokio::spawn(async move {
            let actor = ActorId::new(format!("tally-{a}")).unwrap();
            let mut answered = Vec::new();
            let mut failures = 0;
            for i in 0..COMMANDS {
                let id = aether::new_id();
                let n = (a * 1_000 + i) as u64;
                let (reply, f) = ask_until_answered(&tallies, &actor, n, id).await;
                failures += f;
                answered.push((id, n, reply));
                answered_count.fetch_add(1, Ordering::Relaxed);
            }
            (actor, answered, failures)
        }));
    }
    // Kill the server while the commands run (a quarter answered), and restart it.
    let waiting = Instant::now() + Duration::from_secs(60);
    while answered_count.load(Ordering::Relaxed) < ACTORS * COMMANDS / 4 {
        assert!(Instant::now() < waiting, "asks stalled before the kill");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let s = server.clone();
    tokio::task::spawn_blocking(move || {
        s.kill();
        std::thread::sleep(Duration::from_millis(500));
        s.restart();
    })
    .await
    .unwrap();
    let mut results = Vec::new();
    let mut failures = 0;
    for c in clients {
        let (actor, answered, f) = c.await.expect("client");
        failures += f;
        results.push((actor, answered));
    }
    assert!(failures > 0, "the kill hit asks in flight");
    eprintln!("{failures} asks failed during the outage and were retried with their ids");
    sys.shutdown().await;

    // A fresh system on a fresh connection: every id, far outside the window now, is
    // answered with its original reply and runs nothing.
    let fresh_store = connect(&server.url(), &ns, options()).await;
    let fresh = system(fresh_store.clone());
    let tallies = fresh.actors::<Tally>();
    for (actor, answered) in &results {
        let before = fresh_store.count_events(actor).await.unwrap();
        assert_eq!(before, COMMANDS as u64, "{actor}: one event per command");
        for (id, n, reply) in answered {
            let again = tallies
                .ask(actor, TallyCommand::Add(*n))
                .command_id(*id)
                .await
                .expect("answered");
            assert_eq!(again, Ok(*reply), "{actor}: the original reply for {id}");
        }
        let events = fresh_store.read_all(actor).await.unwrap();
        assert_eq!(events.len(), COMMANDS, "{actor}: retries stored nothing");
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
    assert!(fresh.stats().command_lookups > 0, "{:?}", fresh.stats());
    fresh.shutdown().await;
}
