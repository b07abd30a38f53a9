//! `cargo xtask bench store`: the JetStream event store against raw JetStream calls doing the
//! same work, on one spawned nats-server (file storage, one replica), in alternating rounds.
//!
//! | figure | raw baseline | target |
//! |---|---|---|
//! | 1,000 actors appending single events concurrently | `send_publish` with expected-last-subject-sequence, one ack awaited per subject at a time | >= 0.9 |
//! | 10-event appends across 1,000 actors (messages/s) | pipelined publish of the same bytes with expected-last-subject-sequence | >= 0.9 |
//! | replay of one actor's 10,000 events among 40,000 others | an ordered consumer (created in the timing) on the same subject | >= 0.8 |
//! | activation: snapshot + 100 later events (latency) | creating an ordered consumer and reading the same 100 events | <= 0.5x |
//! | one append (latency) | one publish and its ack | <= 1.15x |
//! | `latest_version` (latency) | one direct get last-by-subject | <= 1.1x |
//!
//! | 1,000 actors asking through the runtime with caller-supplied v7 command ids | the same asks with the runtime's fresh ids | >= 0.95 |
//!
//! Also printed: the latency of command-id lookups through the runtime (a retry 10, 10,000
//! and 1,000,000 events late, and a new id from a clock 10 minutes behind), events/s of the 10-event appends and raw atomic batches of 10 (ADR-50),
//! and, for information, raw 10-event appends acknowledged through one shared reply inbox
//! (the store's technique) against `send_publish`, and `latest_version` against the direct
//! get interleaved operation by operation.
//!
//! Every append round, raw or Aether, writes into streams of its own (a stream like the
//! store's for the raw side, a fresh namespace for Aether) that are deleted after it, so each
//! starts on empty streams and the rounds do not slow down as the server's files grow. The
//! payload bytes exist before the clock starts; Aether's events are made right before each
//! append, as an actor makes them.
//!
//! Usage: `cargo xtask bench store [ROUNDS]` (default 7, at least 3).

use std::future::IntoFuture;
use std::time::{Duration, Instant};

use std::sync::Arc;

use aether_benches::commands::{lookup_costs, runtime_asks};
use aether_benches::{alternate, machine, median, rate, ratios};
use aether_core::{
    ActorId, ActorSnapshot, EventStore, ExpectedVersion, Namespace, NewEvent, Version,
};
use aether_store_jetstream::async_nats::{
    self,
    header::HeaderMap,
    jetstream::{
        self, consumer::pull, consumer::DeliverPolicy, message::PublishMessage,
        publish::PublishAck, response::Response, stream,
    },
};
use aether_store_jetstream::{JetStreamEventStore, JetStreamStoreOptions};
use aether_testkit::NatsServer;
use anyhow::{anyhow, bail, Context as _, Result};
use futures::stream::{FuturesUnordered, StreamExt, TryStreamExt};

const ACTORS: usize = 1_000;
const SINGLE_PER_ACTOR: usize = 50;
const BATCH_PER_ACTOR: usize = 20;
const BATCH_EVENTS: usize = 10;
const ATOMIC_ACTORS: usize = 32;
const ATOMIC_PER_ACTOR: usize = 8;
const REPLAY_EVENTS: usize = 10_000;
const REPLAY_OTHERS: usize = 400;
const REPLAY_OTHER_EVENTS: usize = 100;
const ACTIVATIONS: usize = 40;
const ACTIVATION_TAIL: usize = 100;
const LATENCY_OPS: usize = 500;
const PAYLOAD: usize = 256;
const RUNTIME_PER_ACTOR: usize = 20;

/// Everything a round needs: the server, a raw JetStream context and the store.
struct Ctx {
    _server: NatsServer,
    js: jetstream::Context,
    client: async_nats::Client,
    store: JetStreamEventStore,
    ns: Namespace,
    /// Headers and payload of a stored 1-event and a stored 10-event append record.
    one: (HeaderMap, bytes::Bytes),
    ten: (HeaderMap, bytes::Bytes),
}

fn data(i: usize) -> Vec<u8> {
    let mut v = vec![b'x'; PAYLOAD];
    let tag = i.to_string();
    v[..tag.len()].copy_from_slice(tag.as_bytes());
    v
}

fn events(n: usize, seed: usize) -> Vec<NewEvent> {
    (0..n)
        .map(|i| NewEvent::new("MoneyDeposited", data(seed + i)))
        .collect()
}

fn id(s: String) -> ActorId {
    ActorId::new(s).expect("valid actor id")
}

/// The stored subject of `actor` (the layout `docs/jetstream.md` documents).
fn subject(ns: &Namespace, actor: &ActorId) -> String {
    format!("aether.ev.{ns}.{}", actor.to_token())
}

/// The `Aether-*` headers of a stored record, copied.
fn aether_headers(template: &(HeaderMap, bytes::Bytes)) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, values) in template.0.iter() {
        let name: &str = name.as_ref();
        if name.starts_with("Aether-") {
            for v in values {
                headers.insert(name, v.as_str());
            }
        }
    }
    headers
}

/// The raw form of an append: the same headers and bytes as a stored record, a fresh
/// message id, and an expectation on the subject's last sequence.
fn raw_message(template: &(HeaderMap, bytes::Bytes), expected: Option<u64>) -> PublishMessage {
    let msg = PublishMessage::build()
        .payload(template.1.clone())
        .headers(aether_headers(template))
        .message_id(uuid::Uuid::now_v7().to_string());
    match expected {
        Some(seq) => msg.expected_last_subject_sequence(seq),
        None => msg,
    }
}

/// CPU time used by this process so far (user + system, in clock ticks of 10 ms).
fn cpu_time() -> Duration {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|t| {
            let rest = t.rsplit_once(')')?.1.split_whitespace().collect::<Vec<_>>();
            // Fields 14 and 15 of the file (utime, stime) are 12 and 13 after the name.
            Some(rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// Client CPU microseconds per message between `before` and now.
fn cpu_per_msg(before: Duration, msgs: u64) -> f64 {
    (cpu_time().saturating_sub(before)).as_secs_f64() * 1e6 / msgs as f64
}

/// Each actor appends `per_actor` times, one append at a time; all actors concurrently.
///
/// The payload bytes exist before the clock starts, as the raw side's do; each append's
/// events (a fresh id, a type name and the payload) are made right before it, as an actor's
/// `decide` makes them, and that is timed against Aether. (Making all 1,000 x `per_actor`
/// appends' events up front would have the store read them from cold memory: tens of MB
/// no running actor holds.)
async fn aether_appends(
    ctx: &Ctx,
    tag: &str,
    per_actor: usize,
    size: usize,
) -> Result<(Duration, f64)> {
    // A namespace (so streams) of its own, on the main store's connection, dropped after.
    let store = JetStreamEventStore::open(
        ctx.store.client().clone(),
        Namespace::new(format!("round-{tag}"))?,
        JetStreamStoreOptions::new(),
    )
    .await?;
    let payloads: Vec<bytes::Bytes> = (0..per_actor + size)
        .map(|i| bytes::Bytes::from(data(i)))
        .collect();
    let actors: Vec<ActorId> = (0..ACTORS).map(|a| id(format!("{tag}-{a}"))).collect();
    let start = Instant::now();
    let cpu = cpu_time();
    let mut all = FuturesUnordered::new();
    for actor in &actors {
        let store = &store;
        let payloads = &payloads;
        all.push(async move {
            for k in 0..per_actor {
                let batch = payloads[k..k + size]
                    .iter()
                    .map(|p| NewEvent::new("MoneyDeposited", p.clone()))
                    .collect();
                let v = (k * size) as Version;
                store
                    .append(actor, ExpectedVersion::Exact(v), batch)
                    .await?;
            }
            Ok::<_, aether_core::Error>(())
        });
    }
    while let Some(r) = all.next().await {
        r?;
    }
    let measured = (
        start.elapsed(),
        cpu_per_msg(cpu, (ACTORS * per_actor) as u64),
    );
    drop(all);
    for stream in [store.events_stream(), store.snapshots_stream()] {
        ctx.js.delete_stream(stream).await?;
    }
    Ok(measured)
}

/// The raw equivalent: per subject, publish with the expected last sequence, await the
/// ack, go on from the acknowledged sequence; all subjects concurrently.
async fn raw_appends(
    ctx: &Ctx,
    tag: &str,
    per_actor: usize,
    template: &(HeaderMap, bytes::Bytes),
) -> Result<(Duration, f64)> {
    // A stream of its own, like the store's, deleted after.
    let stream = format!("RAW_{tag}");
    create_raw_stream(&ctx.js, &stream, &format!("rawr.{tag}.>")).await?;
    let start = Instant::now();
    let cpu = cpu_time();
    let mut all = FuturesUnordered::new();
    for a in 0..ACTORS {
        let subject = format!("rawr.{tag}.{a}");
        let js = &ctx.js;
        all.push(async move {
            let mut last = 0u64;
            for _ in 0..per_actor {
                let ack = js
                    .send_publish(subject.clone(), raw_message(template, Some(last)))
                    .await?;
                last = ack.into_future().await?.sequence;
            }
            Ok::<_, anyhow::Error>(())
        });
    }
    while let Some(r) = all.next().await {
        r?;
    }
    let measured = (
        start.elapsed(),
        cpu_per_msg(cpu, (ACTORS * per_actor) as u64),
    );
    drop(all);
    ctx.js.delete_stream(&stream).await?;
    Ok(measured)
}

/// The raw appends of [`raw_appends`], acknowledged the way the store does it: one reply
/// subscription for all publishes, a router task handing each reply to its publisher by a
/// token in the reply subject, no timer per publish. Printed for information: how much of
/// the store's speed comes from that technique rather than from async-nats's
/// `send_publish`.
async fn raw_inbox_appends(
    ctx: &Ctx,
    tag: &str,
    per_actor: usize,
    template: &(HeaderMap, bytes::Bytes),
) -> Result<(Duration, f64)> {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    use tokio::sync::oneshot;
    type Waiters = Arc<Vec<Mutex<HashMap<u64, oneshot::Sender<async_nats::Message>>>>>;
    const SHARDS: u64 = 16;

    let stream = format!("RAWI_{tag}");
    create_raw_stream(&ctx.js, &stream, &format!("rawi.{tag}.>")).await?;
    let prefix = format!("{}.", ctx.client.new_inbox());
    let mut replies = ctx.client.subscribe(format!("{prefix}*")).await?;
    let waiters: Waiters = Arc::new((0..SHARDS).map(|_| Mutex::default()).collect());
    let router = {
        let waiters = Arc::clone(&waiters);
        let at = prefix.len();
        tokio::spawn(async move {
            while let Some(m) = replies.next().await {
                let Some(token) = m.subject.get(at..).and_then(|t| t.parse::<u64>().ok()) else {
                    continue;
                };
                let waiter = waiters[(token % SHARDS) as usize]
                    .lock()
                    .expect("waiters")
                    .remove(&token);
                if let Some(w) = waiter {
                    let _ = w.send(m);
                }
            }
        })
    };
    let tokens = AtomicU64::new(0);
    let start = Instant::now();
    let cpu = cpu_time();
    let mut all = FuturesUnordered::new();
    for a in 0..ACTORS {
        let subject = async_nats::Subject::from(format!("rawi.{tag}.{a}"));
        let (client, waiters, prefix, tokens) = (&ctx.client, &waiters, &prefix, &tokens);
        all.push(async move {
            let mut last = 0u64;
            for _ in 0..per_actor {
                let mut headers = aether_headers(template);
                headers.insert("Nats-Msg-Id", uuid::Uuid::now_v7().to_string().as_str());
                headers.insert(
                    "Nats-Expected-Last-Subject-Sequence",
                    last.to_string().as_str(),
                );
                let token = tokens.fetch_add(1, Ordering::Relaxed);
                let (tx, rx) = oneshot::channel();
                waiters[(token % SHARDS) as usize]
                    .lock()
                    .expect("waiters")
                    .insert(token, tx);
                client
                    .publish_with_reply_and_headers(
                        subject.clone(),
                        format!("{prefix}{token}"),
                        headers,
                        template.1.clone(),
                    )
                    .await?;
                let reply = rx.await?;
                match serde_json::from_slice::<Response<PublishAck>>(&reply.payload)? {
                    Response::Ok(ack) => last = ack.sequence,
                    Response::Err { error } => bail!("raw publish refused: {error}"),
                }
            }
            Ok::<_, anyhow::Error>(())
        });
    }
    while let Some(r) = all.next().await {
        r?;
    }
    let measured = (
        start.elapsed(),
        cpu_per_msg(cpu, (ACTORS * per_actor) as u64),
    );
    drop(all);
    router.abort();
    ctx.js.delete_stream(&stream).await?;
    Ok(measured)
}

/// A raw stream: file storage, one replica, `discard: New`, direct gets, 30 s duplicate
/// window, no deletes or purges (as the store's event streams), and atomic batches (for the
/// ADR-50 figure).
async fn create_raw_stream(js: &jetstream::Context, name: &str, subjects: &str) -> Result<()> {
    js.create_stream(stream::Config {
        name: name.into(),
        subjects: vec![subjects.into()],
        storage: stream::StorageType::File,
        num_replicas: 1,
        discard: stream::DiscardPolicy::New,
        duplicate_window: Duration::from_secs(30),
        allow_direct: true,
        allow_atomic_publish: true,
        deny_delete: true,
        deny_purge: true,
        ..Default::default()
    })
    .await?;
    Ok(())
}

/// Raw atomic batches of `BATCH_EVENTS` messages (one event each) per subject, with the
/// expected last sequence on the first; `ATOMIC_ACTORS` subjects concurrently.
async fn raw_atomic_batches(ctx: &Ctx, tag: &str) -> Result<f64> {
    let start = Instant::now();
    let mut all = FuturesUnordered::new();
    for a in 0..ATOMIC_ACTORS {
        let subject = format!("raw.{tag}.{a}");
        let (js, client) = (&ctx.js, &ctx.client);
        all.push(async move {
            let mut last = 0u64;
            for k in 0..ATOMIC_PER_ACTOR {
                let batch = uuid::Uuid::new_v4().simple().to_string();
                for i in 1..=BATCH_EVENTS {
                    let mut h = HeaderMap::new();
                    h.insert("Nats-Batch-Id", batch.as_str());
                    h.insert("Nats-Batch-Sequence", i.to_string().as_str());
                    let payload = bytes::Bytes::from(data(k * BATCH_EVENTS + i));
                    if i == 1 {
                        h.insert(
                            "Nats-Expected-Last-Subject-Sequence",
                            last.to_string().as_str(),
                        );
                        let reply = client
                            .request_with_headers(subject.clone(), h, payload)
                            .await?;
                        if !reply.payload.is_empty() {
                            bail!(
                                "atomic batch refused: {}",
                                String::from_utf8_lossy(&reply.payload)
                            );
                        }
                    } else if i < BATCH_EVENTS {
                        client
                            .publish_with_headers(subject.clone(), h, payload)
                            .await?;
                    } else {
                        h.insert("Nats-Batch-Commit", "1");
                        let msg = PublishMessage::build().payload(payload).headers(h);
                        last = js
                            .send_publish(subject.clone(), msg)
                            .await?
                            .into_future()
                            .await?
                            .sequence;
                    }
                }
            }
            Ok(())
        });
    }
    while let Some(r) = all.next().await {
        r?;
    }
    Ok(rate(
        (ATOMIC_ACTORS * ATOMIC_PER_ACTOR * BATCH_EVENTS) as u64,
        start.elapsed(),
    ))
}

/// The median latency, in microseconds, of creating an ordered consumer on each actor's
/// subject from its sequence and reading its `ACTIVATION_TAIL` events.
async fn consumer_latency(
    events_stream: &stream::Stream,
    ns: &Namespace,
    actors: &[(ActorId, u64)],
) -> Result<f64> {
    let mut lat = Vec::new();
    for (actor, start_seq) in actors {
        let start = Instant::now();
        raw_ordered_read(
            events_stream,
            &subject(ns, actor),
            *start_seq,
            ACTIVATION_TAIL,
        )
        .await?;
        lat.push(start.elapsed().as_secs_f64() * 1e6);
    }
    Ok(median(&lat))
}

/// Reads `n` messages of `subject` from `start_seq` with an ordered consumer created here.
async fn raw_ordered_read(
    stream: &stream::Stream,
    subject: &str,
    start_seq: u64,
    n: usize,
) -> Result<usize> {
    let deliver_policy = if start_seq <= 1 {
        DeliverPolicy::All
    } else {
        DeliverPolicy::ByStartSequence {
            start_sequence: start_seq,
        }
    };
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subject: subject.to_owned(),
            deliver_policy,
            ..Default::default()
        })
        .await?;
    let mut messages = consumer.messages().await?;
    let mut got = 0;
    while got < n {
        let m = messages.next().await.context("ordered consumer ended")??;
        std::hint::black_box(&m.payload);
        got += 1;
    }
    Ok(got)
}

/// Reads `n` messages of `subject` from `start_seq` with one batch direct get (one request,
/// replies until the end-of-batch status; payloads without the stored headers), as a raw
/// client would.
async fn raw_direct_batch(
    client: &async_nats::Client,
    stream: &str,
    subject: &str,
    start_seq: u64,
    n: usize,
) -> Result<usize> {
    let inbox = client.new_inbox();
    let mut sub = client.subscribe(inbox.clone()).await?;
    let request =
        format!(r#"{{"seq":{start_seq},"next_by_subj":"{subject}","batch":{n},"no_hdr":true}}"#);
    client
        .publish_with_reply(
            format!("$JS.API.DIRECT.GET.{stream}"),
            inbox,
            request.into(),
        )
        .await?;
    let mut got = 0;
    loop {
        let m = tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await?
            .context("batch direct get: subscription ended")?;
        match m.status.map(|s| s.as_u16()) {
            None | Some(200) => {
                std::hint::black_box(&m.payload);
                got += 1;
            }
            Some(204) => return Ok(got),
            Some(code) => bail!("batch direct get refused: {code} {:?}", m.description),
        }
    }
}

/// One table row: per-round figures of both sides and the median ratio against a target.
struct Row {
    name: &'static str,
    unit: &'static str,
    raw: Vec<f64>,
    aether: Vec<f64>,
    /// `true`: ratio = aether / raw must be >= target; `false`: <= target (latencies).
    at_least: bool,
    /// `None` for a row printed to explain another (no target).
    target: Option<f64>,
}

impl Row {
    fn ratios(&self) -> Vec<f64> {
        ratios(&self.raw, &self.aether)
    }
    fn ratio(&self) -> f64 {
        median(&self.ratios())
    }
    fn pass(&self) -> bool {
        match self.target {
            None => true,
            Some(t) if self.at_least => self.ratio() >= t,
            Some(t) => self.ratio() <= t,
        }
    }
    fn print_rounds(&self) {
        for (i, ((r, a), q)) in self
            .raw
            .iter()
            .zip(&self.aether)
            .zip(self.ratios())
            .enumerate()
        {
            println!(
                "  {:<44} round {}: raw {:>12.1} {u}  aether {:>12.1} {u}  ratio {:.3}",
                self.name,
                i + 1,
                r,
                a,
                q,
                u = self.unit
            );
        }
    }
}

/// 1,000 actors asking through the runtime on a namespace of their own (on the main
/// store's connection, deleted after), with caller-supplied v7 ids or the runtime's own:
/// asks/s.
async fn runtime_round(ctx: &Ctx, tag: &str, caller_ids: bool) -> Result<f64> {
    let store = JetStreamEventStore::open(
        ctx.store.client().clone(),
        Namespace::new(format!("rt-{tag}"))?,
        JetStreamStoreOptions::new(),
    )
    .await?;
    let streams = [
        store.events_stream().to_owned(),
        store.snapshots_stream().to_owned(),
    ];
    let elapsed = runtime_asks(Arc::new(store), tag, ACTORS, RUNTIME_PER_ACTOR, caller_ids).await?;
    for stream in streams {
        ctx.js.delete_stream(stream).await?;
    }
    Ok(rate((ACTORS * RUNTIME_PER_ACTOR) as u64, elapsed))
}

/// The latency of a retry whose command is `late` events back, and of a new id from a clock
/// 10 minutes behind, through the runtime on JetStream (every caller id looked up).
async fn lookup_round(ctx: &Ctx, late: u64) -> Result<(f64, f64)> {
    let store = JetStreamEventStore::open(
        ctx.store.client().clone(),
        Namespace::new(format!("lookup-{late}"))?,
        JetStreamStoreOptions::new(),
    )
    .await?;
    let streams = [
        store.events_stream().to_owned(),
        store.snapshots_stream().to_owned(),
    ];
    let costs = lookup_costs(Arc::new(store), late, 1_000, 5, 3).await?;
    for stream in streams {
        ctx.js.delete_stream(stream).await?;
    }
    Ok(costs)
}

async fn setup() -> Result<Ctx> {
    let server = NatsServer::start();
    let client = async_nats::connect(server.url()).await?;
    let js = jetstream::new(client.clone());
    create_raw_stream(&js, "RAW", "raw.>").await?;
    let ns = Namespace::new("bench")?;
    let store =
        JetStreamEventStore::connect(&server.url(), ns.clone(), JetStreamStoreOptions::new())
            .await?;

    // The stored form of a 1-event and a 10-event append, for the raw side to send.
    let events_stream = js.get_stream(store.events_stream()).await?;
    let template = |n: usize, name: &str| {
        let actor = id(name.into());
        let store = &store;
        let events_stream = &events_stream;
        let ns = &ns;
        async move {
            store
                .append(&actor, ExpectedVersion::Exact(0), events(n, 0))
                .await?;
            let m = events_stream
                .get_last_raw_message_by_subject(&subject(ns, &actor))
                .await?;
            Ok::<_, anyhow::Error>((m.headers, m.payload))
        }
    };
    let one = template(1, "template-1").await?;
    let ten = template(BATCH_EVENTS, "template-10").await?;
    println!(
        "stored record of a 1-event append: {} bytes; of a 10-event append: {} bytes (payloads of {PAYLOAD} bytes)",
        one.1.len(),
        ten.1.len()
    );
    Ok(Ctx {
        _server: server,
        js,
        client,
        store,
        ns,
        one,
        ten,
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(7);
    if rounds < 3 {
        bail!("at least 3 rounds");
    }
    let ctx = setup().await?;
    let version = ctx.client.server_info().version;
    println!("nats-server {version}, file storage, 1 replica; {rounds} alternating rounds");
    println!("machine: {}\n", machine());
    let mut rows = Vec::new();

    // 1. Single-event appends, 1,000 actors concurrently.
    let msgs = (ACTORS * SINGLE_PER_ACTOR) as u64;
    let mut cpu = (Vec::new(), Vec::new());
    let (raw, aether) = alternate!(
        rounds,
        r,
        {
            let (t, c) = raw_appends(&ctx, &format!("s{r}"), SINGLE_PER_ACTOR, &ctx.one).await?;
            cpu.0.push(c);
            rate(msgs, t)
        },
        {
            let (t, c) = aether_appends(&ctx, &format!("s{r}"), SINGLE_PER_ACTOR, 1).await?;
            cpu.1.push(c);
            rate(msgs, t)
        }
    );
    let single_cpu = (median(&cpu.0), median(&cpu.1));
    rows.push(Row {
        name: "1,000 actors, single-event appends",
        unit: "msg/s",
        raw,
        aether,
        at_least: true,
        target: Some(0.9),
    });

    // 2. 10-event appends across 1,000 actors, and raw atomic batches.
    let msgs = (ACTORS * BATCH_PER_ACTOR) as u64;
    let mut atomic = Vec::new();
    let mut cpu = (Vec::new(), Vec::new());
    let (raw, aether) = alternate!(
        rounds,
        r,
        {
            let (t, c) = raw_appends(&ctx, &format!("b{r}"), BATCH_PER_ACTOR, &ctx.ten).await?;
            cpu.0.push(c);
            rate(msgs, t)
        },
        {
            let (t, c) =
                aether_appends(&ctx, &format!("b{r}"), BATCH_PER_ACTOR, BATCH_EVENTS).await?;
            cpu.1.push(c);
            rate(msgs, t)
        }
    );
    for r in 0..rounds {
        atomic.push(raw_atomic_batches(&ctx, &format!("ab{r}")).await?);
    }
    let batch_row = Row {
        name: "1,000 actors, 10-event appends",
        unit: "msg/s",
        raw,
        aether,
        at_least: true,
        target: Some(0.9),
    };
    let events_per_s = median(&batch_row.aether) * BATCH_EVENTS as f64;
    let batch_cpu = (median(&cpu.0), median(&cpu.1));
    rows.push(batch_row);
    // For information: the raw side acknowledged through one shared reply inbox, as the
    // store does, against send_publish.
    let (raw, inbox) = alternate!(
        rounds,
        r,
        rate(
            msgs,
            raw_appends(&ctx, &format!("bi{r}"), BATCH_PER_ACTOR, &ctx.ten)
                .await?
                .0
        ),
        rate(
            msgs,
            raw_inbox_appends(&ctx, &format!("bi{r}"), BATCH_PER_ACTOR, &ctx.ten)
                .await?
                .0
        )
    );
    rows.push(Row {
        name: "(info) raw 10-event appends via one shared reply inbox vs send_publish",
        unit: "msg/s",
        raw,
        aether: inbox,
        at_least: true,
        target: None,
    });

    // 3. Replay of one actor's 10,000 events among 40,000 others.
    let big = id("replay-big".into());
    {
        let start = Instant::now();
        let mut all = FuturesUnordered::new();
        let store = &ctx.store;
        let big = &big;
        all.push(Box::pin(async move {
            for k in 0..REPLAY_EVENTS {
                store
                    .append(big, ExpectedVersion::Exact(k as Version), events(1, k))
                    .await?;
            }
            Ok::<_, aether_core::Error>(())
        }) as futures::future::BoxFuture<'_, _>);
        for o in 0..REPLAY_OTHERS {
            all.push(Box::pin(async move {
                let actor = id(format!("replay-other-{o}"));
                for k in 0..REPLAY_OTHER_EVENTS {
                    store
                        .append(&actor, ExpectedVersion::Exact(k as Version), events(1, k))
                        .await?;
                }
                Ok(())
            }));
        }
        while let Some(r) = all.next().await {
            r?;
        }
        println!(
            "replay set-up: {REPLAY_EVENTS} events of one actor among {} others written in {:?}",
            REPLAY_OTHERS * REPLAY_OTHER_EVENTS,
            start.elapsed()
        );
    }
    let events_stream = ctx.js.get_stream(ctx.store.events_stream()).await?;
    let big_subject = subject(&ctx.ns, &big);
    let (raw, aether) = alternate!(
        rounds,
        _r,
        {
            let start = Instant::now();
            let n = raw_ordered_read(&events_stream, &big_subject, 1, REPLAY_EVENTS).await?;
            rate(n as u64, start.elapsed())
        },
        {
            let start = Instant::now();
            let n = ctx
                .store
                .read_stream(&big, 1, Version::MAX)
                .try_fold(0u64, |n, e| async move {
                    std::hint::black_box(&e);
                    Ok(n + 1)
                })
                .await?;
            if n != REPLAY_EVENTS as u64 {
                bail!("replay read {n} events");
            }
            rate(n, start.elapsed())
        }
    );
    rows.push(Row {
        name: "replay 10,000 of one actor (among 40,000)",
        unit: "ev/s",
        raw,
        aether,
        at_least: true,
        target: Some(0.8),
    });

    // 4. Activation: snapshot + 100 later events vs an ordered consumer on the same events.
    let mut snaps = Vec::new();
    for i in 0..ACTIVATIONS {
        let actor = id(format!("activate-{i}"));
        for k in 0..ACTIVATION_TAIL {
            ctx.store
                .append(&actor, ExpectedVersion::Exact(k as Version), events(1, k))
                .await?;
        }
        ctx.store
            .save_snapshot(ActorSnapshot::new(
                actor.clone(),
                ACTIVATION_TAIL as Version,
                1,
                data(0),
            ))
            .await?;
        for k in ACTIVATION_TAIL..2 * ACTIVATION_TAIL {
            ctx.store
                .append(&actor, ExpectedVersion::Exact(k as Version), events(1, k))
                .await?;
        }
        let snap = ctx
            .store
            .load_snapshot(&actor, None)
            .await?
            .context("snapshot saved")?;
        if snap.position.0 == 0 {
            bail!("the snapshot carries no store position");
        }
        snaps.push((actor, snap.position.0 + 1));
    }
    let (raw, aether) = alternate!(
        rounds,
        _r,
        consumer_latency(&events_stream, &ctx.ns, &snaps).await?,
        {
            let mut lat = Vec::new();
            for (actor, _) in &snaps {
                let start = Instant::now();
                let snap = ctx
                    .store
                    .load_snapshot(actor, None)
                    .await?
                    .context("snapshot")?;
                let tail: Vec<_> = ctx.store.read_after_snapshot(&snap).try_collect().await?;
                lat.push(start.elapsed().as_secs_f64() * 1e6);
                if tail.len() != ACTIVATION_TAIL {
                    bail!("activation read {} events after the snapshot", tail.len());
                }
            }
            median(&lat)
        }
    );
    rows.push(Row {
        name: "activation: snapshot + 100 events",
        unit: "us",
        raw,
        aether,
        at_least: false,
        target: Some(0.5),
    });
    // For comparison: the same 100 events with one raw batch direct get (no snapshot).
    let (raw, aether) = alternate!(
        rounds,
        _r,
        consumer_latency(&events_stream, &ctx.ns, &snaps).await?,
        {
            let mut lat = Vec::new();
            for (actor, start_seq) in &snaps {
                let start = Instant::now();
                let n = raw_direct_batch(
                    &ctx.client,
                    ctx.store.events_stream(),
                    &subject(&ctx.ns, actor),
                    *start_seq,
                    ACTIVATION_TAIL,
                )
                .await?;
                lat.push(start.elapsed().as_secs_f64() * 1e6);
                if n != ACTIVATION_TAIL {
                    bail!("batch direct get read {n} messages");
                }
            }
            median(&lat)
        }
    );
    rows.push(Row {
        name: "(info) raw batch direct get (no headers) of those 100 vs ordered consumer",
        unit: "us",
        raw,
        aether,
        at_least: false,
        target: None,
    });

    // 5. One append vs one publish and its ack.
    let (raw, aether) = alternate!(
        rounds,
        r,
        {
            let subject = format!("raw.one{r}");
            let mut lat = Vec::new();
            for _ in 0..LATENCY_OPS {
                let start = Instant::now();
                ctx.js
                    .send_publish(subject.clone(), raw_message(&ctx.one, None))
                    .await?
                    .into_future()
                    .await?;
                lat.push(start.elapsed().as_secs_f64() * 1e6);
            }
            median(&lat)
        },
        {
            let actor = id(format!("one-{r}"));
            let mut lat = Vec::new();
            for k in 0..LATENCY_OPS {
                let e = events(1, k);
                let start = Instant::now();
                ctx.store
                    .append(&actor, ExpectedVersion::Exact(k as Version), e)
                    .await?;
                lat.push(start.elapsed().as_secs_f64() * 1e6);
            }
            median(&lat)
        }
    );
    rows.push(Row {
        name: "one append vs publish + ack",
        unit: "us",
        raw,
        aether,
        at_least: false,
        target: Some(1.15),
    });
    // For comparison: a raw publish that carries the expectation an append carries.
    let (raw, aether) = alternate!(
        rounds,
        r,
        {
            let subject = format!("raw.one{r}");
            let mut lat = Vec::new();
            for _ in 0..LATENCY_OPS {
                let start = Instant::now();
                ctx.js
                    .send_publish(subject.clone(), raw_message(&ctx.one, None))
                    .await?
                    .into_future()
                    .await?;
                lat.push(start.elapsed().as_secs_f64() * 1e6);
            }
            median(&lat)
        },
        {
            let subject = format!("raw.onex{r}");
            let mut lat = Vec::new();
            let mut last = 0;
            for _ in 0..LATENCY_OPS {
                let start = Instant::now();
                last = ctx
                    .js
                    .send_publish(subject.clone(), raw_message(&ctx.one, Some(last)))
                    .await?
                    .into_future()
                    .await?
                    .sequence;
                lat.push(start.elapsed().as_secs_f64() * 1e6);
            }
            median(&lat)
        }
    );
    rows.push(Row {
        name: "(info) raw publish + ack with expectation vs without",
        unit: "us",
        raw,
        aether,
        at_least: false,
        target: None,
    });

    // 6. latest_version vs one direct get, on actors with as many events as in step 1 (a
    // fresh handle per round).
    let actors: Vec<ActorId> = (0..LATENCY_OPS)
        .map(|a| id(format!("latest-{a}")))
        .collect();
    {
        let mut all = FuturesUnordered::new();
        for actor in &actors {
            let store = &ctx.store;
            all.push(async move {
                for k in 0..SINGLE_PER_ACTOR {
                    store
                        .append(actor, ExpectedVersion::Exact(k as Version), events(1, k))
                        .await?;
                }
                Ok::<_, aether_core::Error>(())
            });
        }
        while let Some(r) = all.next().await {
            r?;
        }
    }
    let (raw, aether) = alternate!(
        rounds,
        _r,
        {
            let mut lat = Vec::new();
            for actor in &actors {
                let subject = subject(&ctx.ns, actor);
                let start = Instant::now();
                let m = events_stream.direct_get_last_for_subject(subject).await?;
                lat.push(start.elapsed().as_secs_f64() * 1e6);
                std::hint::black_box(m);
            }
            median(&lat)
        },
        {
            let store = JetStreamEventStore::open(
                ctx.client.clone(),
                ctx.ns.clone(),
                JetStreamStoreOptions::new(),
            )
            .await?;
            let mut lat = Vec::new();
            for actor in &actors {
                let start = Instant::now();
                let v = store.latest_version(actor).await?;
                lat.push(start.elapsed().as_secs_f64() * 1e6);
                if v != SINGLE_PER_ACTOR as Version {
                    return Err(anyhow!("latest_version of {actor} is {v}"));
                }
            }
            median(&lat)
        }
    );
    rows.push(Row {
        name: "latest_version vs direct get",
        unit: "us",
        raw,
        aether,
        at_least: false,
        target: Some(1.1),
    });
    // For information: the same reads with raw and Aether interleaved operation by
    // operation (the order flipping every round), so both see the machine in the same
    // state; the rows above alternate whole rounds of 500 operations.
    let store = JetStreamEventStore::open(
        ctx.client.clone(),
        ctx.ns.clone(),
        JetStreamStoreOptions::new(),
    )
    .await?;
    let (mut raw, mut aether) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        let (mut raw_lat, mut aether_lat) = (Vec::new(), Vec::new());
        for actor in &actors {
            let subject = subject(&ctx.ns, actor);
            for raw_turn in [r % 2 == 0, r % 2 == 1] {
                let start = Instant::now();
                if raw_turn {
                    let m = events_stream
                        .direct_get_last_for_subject(subject.clone())
                        .await?;
                    raw_lat.push(start.elapsed().as_secs_f64() * 1e6);
                    std::hint::black_box(m);
                } else {
                    let v = store.latest_version(actor).await?;
                    aether_lat.push(start.elapsed().as_secs_f64() * 1e6);
                    if v != SINGLE_PER_ACTOR as Version {
                        return Err(anyhow!("latest_version of {actor} is {v}"));
                    }
                }
            }
        }
        raw.push(median(&raw_lat));
        aether.push(median(&aether_lat));
    }
    rows.push(Row {
        name: "(info) latest_version vs direct get, interleaved per operation",
        unit: "us",
        raw,
        aether,
        at_least: false,
        target: None,
    });

    // 7. 1,000 actors asking through the runtime: caller-supplied v7 ids vs fresh ids.
    let (fresh, caller) = alternate!(
        rounds,
        r,
        runtime_round(&ctx, &format!("f{r}"), false).await?,
        runtime_round(&ctx, &format!("c{r}"), true).await?
    );
    rows.push(Row {
        name: "runtime asks, 1,000 actors: caller v7 ids (aether) vs fresh ids (raw)",
        unit: "ask/s",
        raw: fresh,
        aether: caller,
        at_least: true,
        target: Some(0.95),
    });

    println!("per round:");
    for row in &rows {
        row.print_rounds();
    }
    println!();
    println!("| figure | raw (median) | aether (median) | median ratio | target | |");
    println!("|---|---|---|---|---|---|");
    for row in &rows {
        println!(
            "| {} | {:.0} {u} | {:.0} {u} | {:.3} | {} | {} |",
            row.name,
            median(&row.raw),
            median(&row.aether),
            row.ratio(),
            match row.target {
                Some(t) => format!("{} {t}", if row.at_least { ">=" } else { "<=" }),
                None => "-".into(),
            },
            match (row.target, row.pass()) {
                (None, _) => "",
                (_, true) => "ok",
                (_, false) => "MISSED",
            },
            u = row.unit
        );
    }
    println!();
    println!("10-event appends: aether {events_per_s:.0} events/s (median)");
    println!(
        "client CPU per message (median): single-event appends raw {:.1} us, aether {:.1} us; \
         10-event appends raw {:.1} us, aether {:.1} us",
        single_cpu.0, single_cpu.1, batch_cpu.0, batch_cpu.1
    );
    println!(
        "raw atomic batches of {BATCH_EVENTS} ({ATOMIC_ACTORS} subjects concurrently): {:.0} events/s (median of {rounds})",
        median(&atomic)
    );
    println!();
    println!("command-id lookups through the runtime (window 0: every caller id looked up):");
    for late in [10u64, 10_000, 1_000_000] {
        let (retry, behind) = lookup_round(&ctx, late).await?;
        println!(
            "{late:>9} events late: a retry answered in {retry:>10.0} us (median of 5); a new id 10 min behind runs after {behind:>10.0} us (median of 3)"
        );
    }
    let missed: Vec<&str> = rows.iter().filter(|r| !r.pass()).map(|r| r.name).collect();
    if !missed.is_empty() {
        bail!("goals missed: {}", missed.join("; "));
    }
    Ok(())
}
