//! `cargo xtask bench mem`: append throughput of [`InMemoryEventStore`].
//!
//! Two tasks on a two-worker runtime append 1-event batches round-robin over their half
//! of 1,000 actors, each with the exact expected version (tracked locally). The baseline
//! does the same work without a store: it builds the same `NewEvent`, turns it into the
//! same `Event` (actor, version, timestamp) inside an awaited `async fn`, and pushes it into
//! a `Mutex<HashMap<String, Vec<Event>>>`. Rounds alternate baseline and candidate (the
//! order flips every round); each round starts from empty storage. Prints every round and
//! the median ratio of candidate to baseline throughput; the goal is >= 0.7.
//!
//! Options: `--rounds N` (default 7), `--events N` per round (default: enough for about
//! half a second of candidate appends, measured in a warm-up).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aether_benches::{alternate, arg, lock, machine, rate, Rounds};
use aether_core::{
    ActorId, Bytes, Event, EventStore, ExpectedVersion, Namespace, NewEvent, OffsetDateTime,
};
use aether_store_mem::InMemoryEventStore;

const ACTORS: usize = 1_000;
const TASKS: usize = 2;
const GOAL: f64 = 0.7;

type Baseline = Mutex<HashMap<String, Vec<Event>>>;

/// The event both sides build for each append: a fresh id and a freshly allocated payload,
/// as `NewEvent::encode` gives.
fn new_event(payload: &Bytes) -> NewEvent {
    NewEvent::new("MoneyDeposited", payload.to_vec())
}

/// The baseline's "append": the same `Event` the store builds, pushed into a map.
async fn baseline_append(map: &Baseline, actor: &ActorId, version: u64, event: NewEvent) {
    let event = Event::from_new(actor.clone(), version, event, OffsetDateTime::now_utc());
    let mut map = lock(map);
    match map.get_mut(actor.as_str()) {
        Some(events) => events.push(event),
        None => {
            map.insert(actor.as_str().to_owned(), vec![event]);
        }
    }
}

fn actors() -> Vec<ActorId> {
    (0..ACTORS)
        .map(|i| ActorId::new(format!("acc-{i:04}")).expect("a valid actor id"))
        .collect()
}

/// The actors of task `t`: its half of them.
fn share(actors: &[ActorId], t: usize) -> Vec<ActorId> {
    let per = actors.len() / TASKS;
    actors[t * per..(t + 1) * per].to_vec()
}

async fn run_baseline(actors: &[ActorId], events: u64, payload: &Bytes) -> Duration {
    let map: Arc<Baseline> = Arc::new(Mutex::new(HashMap::with_capacity(ACTORS)));
    let start = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let mine = share(actors, t);
            let map = map.clone();
            let payload = payload.clone();
            tokio::spawn(async move {
                let mut versions = vec![0u64; mine.len()];
                for i in 0..events / TASKS as u64 {
                    let k = i as usize % mine.len();
                    versions[k] += 1;
                    baseline_append(&map, &mine[k], versions[k], new_event(&payload)).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("baseline task");
    }
    let elapsed = start.elapsed();
    let stored: usize = lock(&map).values().map(Vec::len).sum();
    assert_eq!(stored as u64, events / TASKS as u64 * TASKS as u64);
    elapsed
}

async fn run_candidate(actors: &[ActorId], events: u64, payload: &Bytes) -> Duration {
    let store = InMemoryEventStore::new(Namespace::new("bench").expect("a valid namespace"));
    let start = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let mine = share(actors, t);
            let store = store.clone();
            let payload = payload.clone();
            tokio::spawn(async move {
                let mut versions = vec![0u64; mine.len()];
                for i in 0..events / TASKS as u64 {
                    let k = i as usize % mine.len();
                    let done = store
                        .append(
                            &mine[k],
                            ExpectedVersion::Exact(versions[k]),
                            vec![new_event(&payload)],
                        )
                        .await
                        .expect("append");
                    versions[k] = done.version;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("candidate task");
    }
    let elapsed = start.elapsed();
    let mut stored = 0;
    for a in actors {
        stored += store.latest_version(a).await.expect("latest version");
    }
    assert_eq!(stored, events / TASKS as u64 * TASKS as u64);
    elapsed
}

fn main() -> anyhow::Result<()> {
    let rounds: usize = arg("rounds")?.unwrap_or(7).max(3);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(TASKS)
        .enable_all()
        .build()?;
    let actors = actors();
    // A small MessagePack payload, copied into a new buffer for every event.
    let payload = Bytes::from_static(b"\x82\xa6amount\xcd\x03\xe8\xa4note\xa3tip");

    runtime.block_on(async {
        let events = match arg::<u64>("events")? {
            Some(n) => n,
            None => {
                let warm = 200_000;
                run_baseline(&actors, warm, &payload).await;
                let t = run_candidate(&actors, warm, &payload).await;
                ((rate(warm, t) * 0.5) as u64 / 1_000 * 1_000).clamp(100_000, 5_000_000)
            }
        };
        println!("bench mem: 1-event appends over {ACTORS} actors from {TASKS} tasks, {events} events per round");
        println!("machine: {}", machine());
        let mut results = Rounds::new("events/s");
        let (baseline, candidate) = alternate!(
            rounds,
            _r,
            rate(events, run_baseline(&actors, events, &payload).await),
            rate(events, run_candidate(&actors, events, &payload).await)
        );
        for (b, c) in baseline.into_iter().zip(candidate) {
            results.record(b, c);
        }
        if !results.summary(GOAL) {
            anyhow::bail!("the median ratio is below the goal of {GOAL}");
        }
        anyhow::Ok(())
    })
}
