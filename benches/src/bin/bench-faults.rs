//! `cargo xtask bench faults`: how fast Aether recovers from server faults, on real
//! nats-server processes.
//!
//! * **restarts**: a single server is killed (SIGKILL) under a steady append load, kept
//!   down for 0.3 s, 2 s or 10 s, and started again. Each sample is the time from the
//!   moment the restarted server first answers `/healthz?js-enabled-only=true` to the first
//!   acknowledged append (negative when an append is acknowledged before the health check
//!   sees the server ready). Goal: every sample at most 0.5 s.
//! * **leader**: in a 3-server cluster with an R3 event stream, the stream's leader is
//!   killed and an ask is sent at once with the runtime's default deadline. Goal: at least
//!   19 of 20 asks succeed within it.
//!
//! Every sample is printed, then the maximum (restarts) or the count (leader).
//!
//! Options: `--part restarts|leader|all` (default all), `--restarts N` (per outage, default
//! 20), `--outages 0.3,2,10` (seconds), `--trials N` (leader, default 20), `--appenders N`
//! (default 4), `--ask-timeout S` (leader: instead of the default deadline, to see how
//! long recovery takes), `--request-timeout S` (the store's, instead of its default).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aether_actor::{ActorSystem, Actors};
use aether_benches::commands::{Counter, CounterCommand};
use aether_benches::{lock, median};
use aether_core::{ActorId, EventStore, ExpectedVersion, Namespace, NewEvent};
use aether_store_jetstream::{JetStreamEventStore, JetStreamStoreOptions};
use aether_testkit::{NatsCluster, NatsServer};

struct Args {
    part: String,
    restarts: usize,
    outages: Vec<f64>,
    trials: usize,
    appenders: usize,
    ask_timeout: Option<f64>,
    request_timeout: Option<f64>,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        part: "all".into(),
        restarts: 20,
        outages: vec![0.3, 2.0, 10.0],
        trials: 20,
        appenders: 4,
        ask_timeout: None,
        request_timeout: None,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--part" => a.part = value()?,
            "--restarts" => a.restarts = value()?.parse()?,
            "--trials" => a.trials = value()?.parse()?,
            "--appenders" => a.appenders = value()?.parse()?,
            "--ask-timeout" => a.ask_timeout = Some(value()?.parse()?),
            "--request-timeout" => a.request_timeout = Some(value()?.parse()?),
            "--outages" => {
                a.outages = value()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            other => anyhow::bail!("unknown option {other}"),
        }
    }
    Ok(a)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let a = args()?;
    println!(
        "bench faults: nats-server {}, {} cores",
        aether_testkit::server::server_bin().display(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    if a.part == "all" || a.part == "restarts" {
        restarts(&a).await?;
    }
    if a.part == "all" || a.part == "leader" {
        leader(&a).await?;
    }
    Ok(())
}

fn store_options(a: &Args) -> JetStreamStoreOptions {
    let o = JetStreamStoreOptions::new();
    match a.request_timeout {
        Some(s) => o.request_timeout(Duration::from_secs_f64(s)),
        None => o,
    }
}

/// Acknowledgement times of the appenders.
type Acks = Arc<Mutex<Vec<Instant>>>;

async fn restarts(a: &Args) -> anyhow::Result<()> {
    let server = Arc::new(NatsServer::start());
    let store = JetStreamEventStore::connect(
        &server.url(),
        Namespace::new(format!("faults{}", std::process::id()))?,
        store_options(a),
    )
    .await?;
    let acks: Acks = Arc::default();
    let load: Vec<_> = (0..a.appenders)
        .map(|i| tokio::spawn(append_forever(store.clone(), i, Arc::clone(&acks))))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut all = Vec::new();
    println!(
        "\n== restart to first acknowledged append (goal: <= 0.5 s), {} appenders ==",
        a.appenders
    );
    for &outage in &a.outages {
        let mut samples = Vec::new();
        for r in 0..a.restarts {
            let s = one_restart(&server, Duration::from_secs_f64(outage), &acks).await?;
            println!("  outage {outage:>4} s, restart {r:>2}: {s:>7.3} s");
            samples.push(s);
        }
        let max = samples.iter().copied().fold(f64::MIN, f64::max);
        println!(
            "outage {outage} s: {} restarts, median {:.3} s, max {max:.3} s",
            samples.len(),
            median(&samples)
        );
        all.extend(samples);
    }
    let max = all.iter().copied().fold(f64::MIN, f64::max);
    let health = store.health();
    println!(
        "restarts: {} samples, max {max:.3} s (goal <= 0.5 s: {}); store health now: {health}",
        all.len(),
        if max <= 0.5 { "met" } else { "MISSED" }
    );
    for l in load {
        l.abort();
    }
    Ok(())
}

/// Kills the server, keeps it down for `outage`, starts it again, and gives the time from
/// its first ready health check to the first acknowledged append.
async fn one_restart(
    server: &Arc<NatsServer>,
    outage: Duration,
    acks: &Acks,
) -> anyhow::Result<f64> {
    let s = Arc::clone(server);
    tokio::task::spawn_blocking(move || s.kill()).await?;
    tokio::time::sleep(outage).await;
    lock(acks).clear();
    let spawned = Instant::now();
    let polled = Arc::clone(server);
    let ready = std::thread::spawn(move || first_ready(&polled, spawned));
    let s = Arc::clone(server);
    tokio::task::spawn_blocking(move || s.restart()).await?;
    let ready = ready
        .join()
        .map_err(|_| anyhow::anyhow!("health poller panicked"))??;
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let first = lock(acks).iter().copied().filter(|t| *t >= spawned).min();
        if let Some(t) = first {
            let s = if t >= ready {
                (t - ready).as_secs_f64()
            } else {
                -(ready - t).as_secs_f64()
            };
            // Let the load settle before the next kill.
            tokio::time::sleep(Duration::from_millis(300)).await;
            return Ok(s);
        }
        anyhow::ensure!(
            Instant::now() < until,
            "no append acknowledged within 60 s of the restart"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Polls `/healthz?js-enabled-only=true` every millisecond from `since`; the first 200.
fn first_ready(server: &NatsServer, since: Instant) -> anyhow::Result<Instant> {
    let until = since + Duration::from_secs(60);
    while Instant::now() < until {
        if let Ok((200, _)) = server.monitor_get("/healthz?js-enabled-only=true") {
            return Ok(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    anyhow::bail!("the restarted server was not ready within 60 s")
}

/// Appends one small event after another to its own actor, recording each
/// acknowledgement; failures (the store gave up) are counted and the loop goes on.
async fn append_forever(store: JetStreamEventStore, i: usize, acks: Acks) {
    let actor = ActorId::new(format!("appender-{i}")).expect("valid id");
    let mut version = 0;
    loop {
        let event = NewEvent::new("Ticked", b"{}".to_vec());
        match store
            .append(&actor, ExpectedVersion::Exact(version), vec![event])
            .await
        {
            Ok(done) => {
                version = done.version;
                lock(&acks).push(Instant::now());
            }
            Err(e) => {
                eprintln!("  appender {i}: {e}");
                if let Ok(v) = store.latest_version(&actor).await {
                    version = v;
                }
            }
        }
    }
}

async fn leader(a: &Args) -> anyhow::Result<()> {
    let cluster = Arc::new(NatsCluster::start(3));
    let store = JetStreamEventStore::connect(
        &cluster.url(),
        Namespace::new(format!("leader{}", std::process::id()))?,
        store_options(a).replicas(3),
    )
    .await?;
    let system = ActorSystem::builder().store(store.clone()).build()?;
    let counters = system.actors::<Counter>();
    let actor = ActorId::new("counter")?;
    println!(
        "\n== ask sent as the R3 stream leader is killed, default deadline (goal: >= {} of {}) ==",
        a.trials - a.trials / 20,
        a.trials
    );
    let mut times = Vec::new();
    for t in 0..a.trials {
        settle(&cluster, &store).await?;
        let warm = counters.ask(&actor, CounterCommand::Add(1)).await;
        anyhow::ensure!(matches!(warm, Ok(Ok(_))), "warm-up ask failed: {warm:?}");
        times.extend(leader_trial(a, &cluster, &store, &counters, &actor, t).await?);
    }
    let ok = times.len();
    let max = times.iter().copied().fold(0.0, f64::max);
    println!(
        "leader kills: {ok} of {} asks succeeded within the default deadline (median {:.2} s, \
         max {max:.2} s; goal >= {}: {})",
        a.trials,
        median(&times),
        a.trials - a.trials / 20,
        if ok >= a.trials - a.trials / 20 {
            "met"
        } else {
            "MISSED"
        }
    );
    system.shutdown().await;
    Ok(())
}

/// Kills the events stream's leader, sends an ask at once and starts the server again; the
/// seconds the ask took when it succeeded.
async fn leader_trial(
    a: &Args,
    cluster: &Arc<NatsCluster>,
    store: &JetStreamEventStore,
    counters: &Actors<Counter>,
    actor: &ActorId,
    t: usize,
) -> anyhow::Result<Option<f64>> {
    let i = leader_index(cluster, store).await?;
    let c = Arc::clone(cluster);
    tokio::task::spawn_blocking(move || c.kill(i)).await?;
    let sent = Instant::now();
    let ask = counters
        .ask(actor, CounterCommand::Add(1))
        .command_id(aether_core::new_id());
    let outcome = match a.ask_timeout {
        Some(s) => ask.timeout(Duration::from_secs_f64(s)).await,
        None => ask.await,
    };
    let took = sent.elapsed().as_secs_f64();
    let succeeded = match &outcome {
        Ok(Ok(_)) => {
            println!("  trial {t:>2}: killed n{i}, ask succeeded in {took:.2} s");
            Some(took)
        }
        other => {
            println!("  trial {t:>2}: killed n{i}, ask FAILED after {took:.2} s: {other:?}");
            None
        }
    };
    let c = Arc::clone(cluster);
    tokio::task::spawn_blocking(move || c.restart(i)).await?;
    Ok(succeeded)
}

/// The stream info of the events stream, asked of the leader.
async fn stream_info(
    store: &JetStreamEventStore,
) -> anyhow::Result<async_nats::jetstream::stream::Info> {
    let js = async_nats::jetstream::new(store.client().clone());
    let mut s = js.get_stream(store.events_stream()).await?;
    Ok(s.info().await?.clone())
}

/// Index of the server leading the events stream.
async fn leader_index(cluster: &NatsCluster, store: &JetStreamEventStore) -> anyhow::Result<usize> {
    let info = stream_info(store).await?;
    let name = info
        .cluster
        .and_then(|c| c.leader)
        .ok_or_else(|| anyhow::anyhow!("the events stream has no leader"))?;
    cluster
        .servers()
        .iter()
        .position(|s| s.name() == name)
        .ok_or_else(|| anyhow::anyhow!("leader {name} is not a server of the cluster"))
}

/// Waits until the events stream has a leader and two current replicas.
async fn settle(cluster: &NatsCluster, store: &JetStreamEventStore) -> anyhow::Result<()> {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(info) = stream_info(store).await {
            if let Some(c) = info.cluster {
                let current = c.replicas.iter().filter(|r| r.current).count();
                if c.leader.is_some() && current == cluster.len() - 1 {
                    return Ok(());
                }
            }
        }
        anyhow::ensure!(
            Instant::now() < until,
            "the stream did not settle within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
