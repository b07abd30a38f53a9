//! `cargo xtask bench actor`: the event-sourced actor runtime on the in-memory store.
//!
//! 1. **Activation.** 1,000 actors, each with a snapshot at version 100 and 100 later events
//!    (written by another writer); the first ask of a fresh system activates each one. Time
//!    and allocations per activation (less those of a warm ask), next to doing the same
//!    loading by hand (snapshot decode, stream, decode, apply).
//! 2. **Memory.** 100,000 actors activated (by a command that stores nothing, so the store
//!    holds nothing for them) and left idle: heap bytes per actor, measured with the
//!    counting allocator; then again after they are all passivated. The goal is <= 1 KiB.
//! 3. **Round trip.** One client task asks one actor `Add(1)` over and over: the command
//!    goes through the mailbox, is decided, its event is appended to the in-memory store and
//!    broadcast, and the reply comes back. The baseline is the bare minimum of a round trip
//!    between two tasks: a tokio `mpsc` send carrying a `oneshot` sender, answered at once.
//!    Both run on the same runtime, in alternating rounds, once on a current-thread runtime
//!    and once on a two-worker one; the median ratio of latencies (ask / raw) is reported,
//!    goal <= 5. On the current-thread runtime the ask's time is then split: the same asks
//!    against a store that keeps nothing, and bare appends of the same event to the
//!    in-memory store.
//! 4. **Throughput.** 1,000 actors, one client task each, asking in a loop, on a runtime with
//!    1 and then 2 worker threads; commands/s, next to the same load on 1,000 raw
//!    mpsc + oneshot tasks.
//!
//! 5. **Caller-supplied ids.** The round trip of part 3 with a caller-supplied UUID v7
//!    command id on every ask, against the same with the runtime's fresh ids, alternating;
//!    goal >= 0.95 on both runtimes.
//! 6. **Command-id lookups.** A retry whose command is 10, 10,000 and 1,000,000 events
//!    back (outside the window), and a new id from a client whose clock is 10 minutes
//!    behind (a lookup that finds nothing): latencies on the in-memory store.
//! 7. **Replies from the new state.** The round trip of part 3 (current-thread runtime) for
//!    an actor with a 10 KiB state, three ways: the reply computed in `decide` (the
//!    baseline), the reply taken from the new state by the `reply` hook (the runtime applies
//!    the events in place before appending, so the reply is stored with them), and the
//!    reply computed in `decide` on a clone of the state with the events applied (what
//!    storing a reply computed on a copy would cost). Ratios of rates against the baseline.
//!
//! Parts 1 and 2 count allocations (the testkit's counting allocator: bytes and calls);
//! the other parts run after counting is stopped, so both sides of their comparisons use
//! the plain system allocator.
//!
//! Options: `--rounds N` (default 7), `--asks N` per round-trip round (default 20,000),
//! `--idle N` actors for the memory part (default 100,000), `--part 1|2|3|4|5|6|7` to run one
//! part only. With `BENCH_ACTOR_CURRENT_THREAD` set, the round trip runs on the
//! current-thread runtime only (for profiling). Exits with an error after printing
//! everything when a goal is not met.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aether_actor::{ActorSystem, Actors};
use aether_benches::commands::{lookup_costs, Counter, CounterCommand, CounterEvent};
use aether_benches::{arg, lock, machine, median, rate, Rounds};
use aether_core::{codec, ActorId, EventStore, ExpectedVersion, Namespace, NewEvent};
use aether_store_mem::InMemoryEventStore;
use aether_testkit::alloc::{allocations, current_bytes, stop_counting};
use futures::StreamExt;
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};

// The testkit's counting allocator: bytes and allocation calls. The memory and activation
// parts run first, counting; then counting is stopped for good, so that the timed parts
// run both sides on the plain system allocator, as in production.
aether_testkit::counting_allocator!();

// ---------------------------------------------------------------------------------------
// The aggregate under test: a counter.
// ---------------------------------------------------------------------------------------

fn ns() -> Namespace {
    Namespace::new("bench").expect("a valid namespace")
}

fn id(s: String) -> ActorId {
    ActorId::new(s).expect("a valid actor id")
}

/// A current-thread runtime for 0 workers, else a multi-threaded one.
fn runtime_of(workers: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    if workers == 0 {
        return Ok(tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?);
    }
    runtime(workers)
}

/// How the runtime of `runtime_of(workers)` is named in headings.
fn flavour(workers: usize) -> String {
    match workers {
        0 => "current-thread runtime".to_owned(),
        n => format!("{n} worker threads"),
    }
}

fn runtime(workers: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?)
}

type RawRequest = (u64, oneshot::Sender<u64>);

/// A raw "actor": a task answering each request at once.
fn spawn_raw_server() -> mpsc::Sender<RawRequest> {
    let (tx, mut rx) = mpsc::channel::<RawRequest>(256);
    tokio::spawn(async move {
        let mut total = 0u64;
        while let Some((n, reply)) = rx.recv().await {
            total += n;
            let _ = reply.send(total);
        }
    });
    tx
}

async fn raw_ask(server: &mpsc::Sender<RawRequest>, n: u64) -> u64 {
    let (tx, rx) = oneshot::channel();
    server.send((n, tx)).await.expect("the server runs");
    rx.await.expect("the server answers")
}

// ---------------------------------------------------------------------------------------
// 1. Round trip
// ---------------------------------------------------------------------------------------

fn round_trip(workers: usize, rounds: usize, asks: u64) -> anyhow::Result<f64> {
    println!(
        "\n## 3. ask round trip vs raw mpsc + oneshot ({}, {asks} sequential asks per round)",
        flavour(workers)
    );
    let rt = runtime_of(workers)?;
    let system = ActorSystem::builder()
        .store(InMemoryEventStore::new(ns()))
        .build()?;
    let counters = system.actors::<Counter>();
    let mut r = Rounds::new("asks/s");
    for round in 0..rounds {
        let baseline = rt.block_on(async {
            let server = spawn_raw_server();
            tokio::spawn(async move {
                let start = Instant::now();
                for _ in 0..asks {
                    std::hint::black_box(raw_ask(&server, 1).await);
                }
                start.elapsed()
            })
            .await
        })?;
        let candidate = rt.block_on(sequential_asks(
            counters.clone(),
            id(format!("rt-{round}")),
            asks,
            false,
        ));
        r.record(rate(asks, baseline), rate(asks, candidate));
    }
    r.summary(0.2);
    let latency_ratio = 1.0 / r.median_ratio();
    println!(
        "median latency ratio ask / raw: {latency_ratio:.2}x (goal <= 5x: {})",
        if latency_ratio <= 5.0 {
            "met"
        } else {
            "NOT met"
        }
    );
    rt.block_on(system.shutdown());
    if workers == 0 {
        breakdown(&rt, rounds, asks)?;
    }
    Ok(latency_ratio)
}

/// Splits an ask's time: the same asks against a store that keeps nothing (the runtime's
/// own cost), and bare appends of the same events to the in-memory store.
fn breakdown(rt: &tokio::runtime::Runtime, rounds: usize, asks: u64) -> anyhow::Result<()> {
    let (mut runtime_only, mut appends) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let system = ActorSystem::builder().store(NullStore::default()).build()?;
        let counters = system.actors::<Counter>();
        let elapsed = rt.block_on(async move {
            let actor = id(format!("null-{round}"));
            tokio::spawn(async move {
                let start = Instant::now();
                for _ in 0..asks {
                    let reply = counters.ask(&actor, CounterCommand::Add(1)).await;
                    std::hint::black_box(reply.expect("no technical error").expect("accepted"));
                }
                start.elapsed()
            })
            .await
        })?;
        runtime_only.push(elapsed.as_secs_f64() * 1e6 / asks as f64);
        rt.block_on(system.shutdown());
        let store = InMemoryEventStore::new(ns());
        let elapsed = rt.block_on(async {
            let actor = id(format!("bare-{round}"));
            let start = Instant::now();
            for v in 0..asks {
                let e = NewEvent::encode("Added", &CounterEvent::Added(1))?;
                store
                    .append(&actor, ExpectedVersion::Exact(v), vec![e])
                    .await?;
            }
            Ok::<_, anyhow::Error>(start.elapsed())
        })?;
        appends.push(elapsed.as_secs_f64() * 1e6 / asks as f64);
    }
    println!(
        "breakdown: the same ask against a store that keeps nothing {:.2} us; a bare in-memory append of an encoded event {:.2} us (medians)",
        median(&runtime_only),
        median(&appends)
    );
    Ok(())
}

/// A store that accepts every append and keeps nothing but each actor's version.
#[derive(Default)]
struct NullStore {
    versions: std::sync::Mutex<std::collections::HashMap<ActorId, u64>>,
}

#[aether_core::async_trait]
impl EventStore for NullStore {
    fn namespace(&self) -> &Namespace {
        static NS: std::sync::OnceLock<Namespace> = std::sync::OnceLock::new();
        NS.get_or_init(ns)
    }
    async fn append(
        &self,
        actor: &ActorId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> aether_core::Result<aether_core::Appended> {
        let mut versions = lock(&self.versions);
        let v = versions.entry(actor.clone()).or_default();
        if !expected.matches(*v) {
            return Err(aether_core::Error::conflict(actor.clone(), expected, *v));
        }
        let first = *v + 1;
        *v += events.len() as u64;
        Ok(aether_core::Appended::new(
            first,
            *v,
            aether_core::StorePosition(*v),
            Some(aether_core::OffsetDateTime::now_utc()),
        ))
    }
    async fn read(
        &self,
        _: &ActorId,
        _: u64,
        _: u64,
        _: usize,
    ) -> aether_core::Result<Vec<aether_core::Event>> {
        Ok(Vec::new())
    }
    fn read_stream(&self, _: &ActorId, _: u64, _: u64) -> aether_core::EventStream {
        Box::pin(futures::stream::empty())
    }
    async fn latest_version(&self, actor: &ActorId) -> aether_core::Result<u64> {
        let versions = lock(&self.versions);
        Ok(versions.get(actor).copied().unwrap_or(0))
    }
    async fn save_snapshot(&self, _: aether_core::ActorSnapshot) -> aether_core::Result<()> {
        Ok(())
    }
    async fn load_snapshot(
        &self,
        _: &ActorId,
        _: Option<u64>,
    ) -> aether_core::Result<Option<aether_core::ActorSnapshot>> {
        Ok(None)
    }
}

// ---------------------------------------------------------------------------------------
// 2. Throughput over 1,000 actors
// ---------------------------------------------------------------------------------------

const ACTORS: usize = 1_000;

fn throughput(workers: usize, rounds: usize, per_actor: u64) -> anyhow::Result<()> {
    println!(
        "\n## 4. throughput: {ACTORS} actors, one client task each, {per_actor} asks each, {workers} worker thread(s)"
    );
    let rt = runtime(workers)?;
    let system = ActorSystem::builder()
        .store(InMemoryEventStore::new(ns()))
        .build()?;
    let counters = system.actors::<Counter>();
    let total = ACTORS as u64 * per_actor;
    let mut r = Rounds::new("cmd/s");
    for round in 0..rounds {
        let baseline = rt.block_on(raw_throughput(per_actor));
        let candidate = rt.block_on(ask_throughput(&counters, round, per_actor));
        r.record(rate(total, baseline), rate(total, candidate));
    }
    // No ratio goal here: commands/s is the figure.
    r.summary(0.0);
    rt.block_on(system.shutdown());
    Ok(())
}

/// `ACTORS` raw servers, one client task each asking `per_actor` times: the elapsed time.
async fn raw_throughput(per_actor: u64) -> Duration {
    let servers: Vec<_> = (0..ACTORS).map(|_| spawn_raw_server()).collect();
    let start = Instant::now();
    let clients: Vec<_> = servers
        .into_iter()
        .map(|s| {
            tokio::spawn(async move {
                for _ in 0..per_actor {
                    std::hint::black_box(raw_ask(&s, 1).await);
                }
            })
        })
        .collect();
    for c in clients {
        c.await.expect("client");
    }
    start.elapsed()
}

/// `ACTORS` actors (activated first, untimed: this part measures steady-state commands),
/// one client task each asking `Add(1)` `per_actor` times: the elapsed time.
async fn ask_throughput(counters: &Actors<Counter>, round: usize, per_actor: u64) -> Duration {
    let ids: Vec<_> = (0..ACTORS).map(|i| id(format!("tp-{round}-{i}"))).collect();
    for a in &ids {
        counters
            .ask(a, CounterCommand::Peek)
            .await
            .expect("ask")
            .expect("ok");
    }
    let start = Instant::now();
    let clients: Vec<_> = ids
        .into_iter()
        .map(|a| {
            let counters: Actors<Counter> = counters.clone();
            tokio::spawn(async move {
                for _ in 0..per_actor {
                    let reply = counters.ask(&a, CounterCommand::Add(1)).await;
                    std::hint::black_box(reply.expect("no technical error").expect("ok"));
                }
            })
        })
        .collect();
    for c in clients {
        c.await.expect("client");
    }
    start.elapsed()
}

// ---------------------------------------------------------------------------------------
// 3. Activation
// ---------------------------------------------------------------------------------------

fn activation(actors: usize) -> anyhow::Result<()> {
    println!(
        "\n## 1. activation: {actors} actors, each a snapshot at version 100 plus 100 later events"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let store = InMemoryEventStore::new(ns());
        let ids: Vec<_> = (0..actors).map(|i| id(format!("act-{i}"))).collect();
        write_activation_history(&store, &ids).await?;
        let reader = ActorSystem::builder()
            .store(store.clone())
            .snapshot_every(0)
            .never_passivate()
            .build()?;
        let counters = reader.actors::<Counter>();
        let (cold, warm) = first_asks(&counters, &ids).await;
        let by_hand = load_by_hand(&store, &ids).await?;
        let add = warm_adds(&counters, &ids).await;
        let n = actors as f64;
        println!(
            "activation + first ask: median {:.1} us, {:.0} allocations; a warm ask: median {:.1} us, {:.0} allocations",
            median(&cold.micros),
            cold.allocs as f64 / n,
            median(&warm.micros),
            warm.allocs as f64 / n
        );
        println!(
            "activation alone (difference): {:.1} us, {:.0} allocations; loading by hand: median {:.1} us, {:.0} allocations",
            median(&cold.micros) - median(&warm.micros),
            (cold.allocs - warm.allocs) as f64 / n,
            median(&by_hand.micros),
            by_hand.allocs as f64 / n
        );
        println!(
            "for reference, a warm ask that stores one event: median {:.1} us, {:.0} allocations",
            median(&add.micros),
            add.allocs as f64 / n
        );
        reader.shutdown().await;
        Ok::<_, anyhow::Error>(())
    })
}

/// Per-operation latencies (us) and the allocation calls of all the operations together.
#[derive(Default)]
struct Costs {
    micros: Vec<f64>,
    allocs: u64,
}

/// Each actor: 100 events through the runtime, snapshotted at 100, then 100 more appended
/// by another writer.
async fn write_activation_history(
    store: &InMemoryEventStore,
    ids: &[ActorId],
) -> anyhow::Result<()> {
    let writer = ActorSystem::builder()
        .store(store.clone())
        .snapshot_every(100)
        .build()?;
    let counters = writer.actors::<Counter>();
    for a in ids {
        for _ in 0..100 {
            counters
                .ask(a, CounterCommand::Add(1))
                .await
                .expect("ask")
                .expect("ok");
        }
    }
    for a in ids {
        let events = (0..100)
            .map(|_| NewEvent::encode("Added", &CounterEvent::Added(1)))
            .collect::<Result<Vec<_>, _>>()?;
        store.append(a, ExpectedVersion::Exact(100), events).await?;
    }
    Ok(())
}

/// Each actor's first ask (which activates it) and a second, warm one.
async fn first_asks(counters: &Actors<Counter>, ids: &[ActorId]) -> (Costs, Costs) {
    let (mut cold, mut warm) = (Costs::default(), Costs::default());
    for a in ids {
        let n0 = allocations();
        let t0 = Instant::now();
        let v = counters
            .ask(a, CounterCommand::Peek)
            .await
            .expect("ask")
            .expect("ok");
        let t1 = Instant::now();
        let n1 = allocations();
        counters
            .ask(a, CounterCommand::Peek)
            .await
            .expect("ask")
            .expect("ok");
        let t2 = Instant::now();
        let n2 = allocations();
        assert_eq!(v, 200);
        cold.micros.push((t1 - t0).as_secs_f64() * 1e6);
        warm.micros.push((t2 - t1).as_secs_f64() * 1e6);
        cold.allocs += n1 - n0;
        warm.allocs += n2 - n1;
    }
    (cold, warm)
}

/// The same loading as an activation, by hand, without the runtime: snapshot decode,
/// stream, decode, apply.
async fn load_by_hand(store: &InMemoryEventStore, ids: &[ActorId]) -> anyhow::Result<Costs> {
    #[derive(Deserialize)]
    struct Envelope {
        state: u64,
    }
    let mut costs = Costs::default();
    for a in ids {
        let n0 = allocations();
        let t0 = Instant::now();
        let snap = store.load_snapshot(a, None).await?.expect("a snapshot");
        let mut total = codec::from_slice::<Envelope>(&snap.state)?.state;
        let mut events = store.read_after_snapshot(&snap);
        while let Some(e) = events.next().await {
            let CounterEvent::Added(n) = e?.decode()?;
            total += n;
        }
        costs.micros.push(t0.elapsed().as_secs_f64() * 1e6);
        costs.allocs += allocations() - n0;
        assert_eq!(total, 200);
    }
    Ok(costs)
}

/// A warm command that stores an event, for reference.
async fn warm_adds(counters: &Actors<Counter>, ids: &[ActorId]) -> Costs {
    let mut costs = Costs::default();
    for a in ids {
        let n0 = allocations();
        let t0 = Instant::now();
        counters
            .ask(a, CounterCommand::Add(1))
            .await
            .expect("ask")
            .expect("ok");
        costs.micros.push(t0.elapsed().as_secs_f64() * 1e6);
        costs.allocs += allocations() - n0;
    }
    costs
}

// ---------------------------------------------------------------------------------------
// 4. Memory per idle actor
// ---------------------------------------------------------------------------------------

fn memory(actors: usize) -> anyhow::Result<f64> {
    println!("\n## 2. memory: {actors} activated idle actors (nothing stored for them)");
    let rt = runtime(2)?;
    rt.block_on(async {
        let store = InMemoryEventStore::new(ns());
        let system = ActorSystem::builder()
            .store(store.clone())
            .passivate_after(Duration::from_secs(3600))
            .build()?;
        let counters = system.actors::<Counter>();
        let ids: Arc<Vec<ActorId>> =
            Arc::new((0..actors).map(|i| id(format!("idle-{i:06}"))).collect());
        // Warm up the runtime's own structures with one actor.
        let warm = id("warm-up".into());
        counters.ask(&warm, CounterCommand::Peek).await.expect("ask").expect("ok");
        counters.passivate(&warm).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let before = current_bytes();
        activate_all(&counters, &ids).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let active = current_bytes();
        assert_eq!(counters.active_count(), actors);
        let per_actor = (active as f64 - before as f64) / actors as f64;
        println!(
            "heap: {} bytes before, {} with {actors} idle actors => {per_actor:.0} bytes per idle actor (goal <= 1024: {})",
            before,
            active,
            if per_actor <= 1024.0 { "met" } else { "NOT met" }
        );
        for a in ids.iter() {
            counters.passivate(a).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(counters.active_count(), 0);
        let after = current_bytes();
        println!(
            "after passivating them all: {after} bytes => {:.1} bytes per passivated actor (their store holds nothing)",
            (after as f64 - before as f64) / actors as f64
        );
        system.shutdown().await;
        Ok(per_actor)
    })
}

async fn activate_all(counters: &Actors<Counter>, ids: &Arc<Vec<ActorId>>) {
    const CLIENTS: usize = 8;
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let counters = counters.clone();
            let ids = ids.clone();
            tokio::spawn(async move {
                for a in ids.iter().skip(c).step_by(CLIENTS) {
                    counters
                        .ask(a, CounterCommand::Peek)
                        .await
                        .expect("ask")
                        .expect("ok");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("client");
    }
}

// ---------------------------------------------------------------------------------------
// 5. Caller-supplied command ids
// ---------------------------------------------------------------------------------------

/// Sequential asks of one actor, each with a caller-supplied UUID v7 id (`caller_ids`) or
/// with the runtime's own; the elapsed time.
async fn sequential_asks(
    counters: Actors<Counter>,
    actor: ActorId,
    asks: u64,
    caller_ids: bool,
) -> Duration {
    tokio::spawn(async move {
        counters
            .ask(&actor, CounterCommand::Peek)
            .await
            .expect("ask")
            .expect("ok");
        let start = Instant::now();
        for _ in 0..asks {
            let ask = counters.ask(&actor, CounterCommand::Add(1));
            let ask = if caller_ids {
                ask.command_id(aether_core::new_id())
            } else {
                ask
            };
            std::hint::black_box(ask.await.expect("no technical error").expect("accepted"));
        }
        start.elapsed()
    })
    .await
    .expect("client")
}

/// The ask round trip with caller-supplied v7 ids against the same with the runtime's
/// fresh ids; goal >= 0.95 (within 5 %). Returns the median ratio.
fn caller_ids(workers: usize, rounds: usize, asks: u64) -> anyhow::Result<f64> {
    println!(
        "\n## 5. ask round trip, caller-supplied v7 ids vs fresh ids ({}, {asks} asks per round)",
        flavour(workers)
    );
    let rt = runtime_of(workers)?;
    let system = ActorSystem::builder()
        .store(InMemoryEventStore::new(ns()))
        .build()?;
    let counters = system.actors::<Counter>();
    let mut r = Rounds::new("asks/s");
    for round in 0..rounds {
        let (fresh, caller) = aether_benches::alternate!(
            1,
            _k,
            rt.block_on(sequential_asks(
                counters.clone(),
                id(format!("fresh-{round}")),
                asks,
                false
            )),
            rt.block_on(sequential_asks(
                counters.clone(),
                id(format!("caller-{round}")),
                asks,
                true
            ))
        );
        r.record(rate(asks, fresh[0]), rate(asks, caller[0]));
    }
    let met = r.summary(0.95);
    println!(
        "command-id lookups during the caller-id rounds: {} (of {} asks)",
        system.stats().command_lookups,
        asks * rounds as u64
    );
    rt.block_on(system.shutdown());
    if !met {
        println!("(caller-supplied ids cost the fingerprint: one encoding and one XXH3 hash of the command)");
    }
    Ok(r.median_ratio())
}

// ---------------------------------------------------------------------------------------
// 6. Command-id lookups
// ---------------------------------------------------------------------------------------

/// What a retry costs when its command is `late` events back and outside the window, and
/// what a new id from a client whose clock is 10 minutes behind costs, on the in-memory
/// store: the command's events at version 1, then `late` events of other commands.
fn lookups() -> anyhow::Result<()> {
    println!(
        "\n## 6. command-id lookups (in-memory store; window 0, so every caller id is looked up)"
    );
    let rt = runtime(2)?;
    for late in [10u64, 10_000, 1_000_000] {
        let store: Arc<dyn EventStore> = Arc::new(InMemoryEventStore::new(ns()));
        let (retry, behind) = rt.block_on(lookup_costs(store, late, 1_000, 5, 3))?;
        println!(
            "{late:>9} events late: a retry answered in {retry:>10.0} us (median of 5); a new id 10 min behind runs after {behind:>10.0} us (median of 3)"
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// 7. Replies from the new state
// ---------------------------------------------------------------------------------------

/// How [`Ledger`] computes its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReplyFrom {
    /// Arithmetic in `decide`, as an aggregate without the hook does.
    Decide,
    /// The `reply` hook reads the new state.
    Hook,
    /// `decide` clones the state and applies the events to the clone.
    Clone,
}

/// An actor with a 10 KiB state: 1,280 counters and their total.
#[derive(aether_macros::DescribeAggregate)]
#[aether(
    crate = "aether_core",
    type_name = "Ledger",
    command = LedgerAdd,
    event = LedgerAdded
)]
struct Ledger {
    from: ReplyFrom,
}

#[derive(Debug, serde::Serialize, Deserialize, aether_macros::CommandNames)]
#[aether(crate = "aether_core")]
struct LedgerAdd(u64);

#[derive(serde::Serialize, Deserialize, aether_macros::EventNames)]
#[aether(crate = "aether_core")]
struct LedgerAdded(u64);

#[derive(Clone, serde::Serialize, Deserialize)]
struct LedgerState {
    counters: Vec<u64>,
    total: u64,
}

impl Default for LedgerState {
    fn default() -> Self {
        LedgerState {
            counters: vec![0; 1_280],
            total: 0,
        }
    }
}

impl aether_actor::Aggregate for Ledger {
    type Command = LedgerAdd;
    type Event = LedgerAdded;
    type State = LedgerState;
    type Reply = u64;
    type Error = ();

    fn decide(
        &self,
        s: &LedgerState,
        LedgerAdd(n): &LedgerAdd,
    ) -> Result<(Vec<LedgerAdded>, u64), ()> {
        let events = vec![LedgerAdded(*n)];
        let reply = match self.from {
            ReplyFrom::Decide => s.total + n,
            ReplyFrom::Hook => 0,
            ReplyFrom::Clone => {
                let mut copy = s.clone();
                for e in &events {
                    Self::apply(&mut copy, e);
                }
                copy.total
            }
        };
        Ok((events, reply))
    }
    fn apply(s: &mut LedgerState, LedgerAdded(n): &LedgerAdded) {
        let i = (*n as usize) % s.counters.len();
        s.counters[i] += 1;
        s.total += n;
    }
    fn reply(&self, s: &LedgerState, decided: u64) -> u64 {
        match self.from {
            ReplyFrom::Hook => s.total,
            ReplyFrom::Decide | ReplyFrom::Clone => decided,
        }
    }
}

/// Asks `Add(i)` of one ledger `asks` times; the time it took.
async fn ledger_asks(ledgers: Actors<Ledger>, actor: ActorId, asks: u64) -> Duration {
    tokio::spawn(async move {
        let start = Instant::now();
        for i in 0..asks {
            let reply = ledgers.ask(&actor, LedgerAdd(i)).await;
            std::hint::black_box(reply.expect("no technical error").expect("accepted"));
        }
        start.elapsed()
    })
    .await
    .expect("client")
}

/// Part 7: the round trip with a 10 KiB state, the reply from `decide`, from the hook and
/// from a clone, in alternating rounds on the current-thread runtime.
fn replies_from_the_new_state(rounds: usize, asks: u64) -> anyhow::Result<()> {
    println!("\n## 7. ask round trip with a 10 KiB state: reply from decide (baseline) vs from the reply hook vs from a clone ({}, {asks} asks per round)", flavour(0));
    let rt = runtime_of(0)?;
    let systems: Vec<(ActorSystem, Actors<Ledger>)> =
        [ReplyFrom::Decide, ReplyFrom::Hook, ReplyFrom::Clone]
            .into_iter()
            .map(|from| {
                let system = ActorSystem::builder()
                    .store(InMemoryEventStore::new(ns()))
                    .build()?;
                let ledgers = system.register(Ledger { from })?;
                Ok((system, ledgers))
            })
            .collect::<anyhow::Result<_>>()?;
    let (mut hook, mut clone) = (Rounds::new("asks/s"), Rounds::new("asks/s"));
    for round in 0..rounds {
        let mut rates = [0.0; 3];
        for (i, (_, ledgers)) in systems.iter().enumerate() {
            let took = rt.block_on(ledger_asks(
                ledgers.clone(),
                id(format!("ledger-{round}")),
                asks,
            ));
            rates[i] = rate(asks, took);
        }
        println!(
            "round {:>2}: decide {:.0}  hook {:.0}  clone {:.0} asks/s",
            round + 1,
            rates[0],
            rates[1],
            rates[2]
        );
        hook.record(rates[0], rates[1]);
        clone.record(rates[0], rates[2]);
    }
    println!("reply hook vs reply from decide:");
    hook.summary(0.95);
    println!("reply from a clone vs reply from decide:");
    clone.summary(0.95);
    for (system, _) in systems {
        rt.block_on(system.shutdown());
    }
    Ok(())
}

/// Part 3 on the current-thread runtime and on two workers (the current-thread one only
/// with `BENCH_ACTOR_CURRENT_THREAD` set); the goals missed.
fn round_trips(rounds: usize, asks: u64) -> anyhow::Result<Vec<String>> {
    let flavours: &[usize] = if std::env::var_os("BENCH_ACTOR_CURRENT_THREAD").is_some() {
        &[0]
    } else {
        &[0, 2]
    };
    let mut unmet = Vec::new();
    for &workers in flavours {
        let ratio = round_trip(workers, rounds, asks)?;
        if ratio > 5.0 {
            unmet.push(format!(
                "ask round trip is {ratio:.1}x the raw one ({} runtime; goal <= 5x)",
                if workers == 0 {
                    "current-thread".to_owned()
                } else {
                    format!("{workers}-worker")
                }
            ));
        }
    }
    Ok(unmet)
}

/// Part 5 on the current-thread runtime and on two workers; the goals missed.
fn caller_id_parts(rounds: usize, asks: u64) -> anyhow::Result<Vec<String>> {
    let mut unmet = Vec::new();
    for workers in [0, 2] {
        let ratio = caller_ids(workers, rounds, asks)?;
        if ratio < 0.95 {
            unmet.push(format!(
                "caller-supplied ids at {ratio:.3} of fresh ids ({workers} workers; goal >= 0.95)"
            ));
        }
    }
    Ok(unmet)
}

fn main() -> anyhow::Result<()> {
    let rounds: usize = arg("rounds")?.unwrap_or(7);
    let asks: u64 = arg("asks")?.unwrap_or(20_000);
    let idle: usize = arg("idle")?.unwrap_or(100_000);
    let part: Option<u32> = arg("part")?;
    let run = |p: u32| part.is_none_or(|only| only == p);
    println!("bench actor — {}", machine());
    let mut unmet: Vec<String> = Vec::new();
    if run(1) {
        activation(1_000)?;
    }
    if run(2) {
        let bytes = memory(idle)?;
        if bytes > 1024.0 {
            unmet.push(format!("{bytes:.0} bytes per idle actor (goal <= 1024)"));
        }
    }
    stop_counting();
    if run(3) {
        unmet.extend(round_trips(rounds, asks)?);
    }
    if run(4) {
        for workers in [1, 2] {
            throughput(workers, rounds.clamp(3, 5), 50)?;
        }
    }
    if run(5) {
        unmet.extend(caller_id_parts(rounds, asks)?);
    }
    if run(6) {
        lookups()?;
    }
    if run(7) {
        replies_from_the_new_state(rounds, asks)?;
    }
    if !unmet.is_empty() {
        anyhow::bail!("goals not met: {}", unmet.join("; "));
    }
    Ok(())
}
