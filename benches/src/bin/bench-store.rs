//! `cargo xtask bench store`: the JetStream event store against raw JetStream calls doing the
//! same work, on one spawned nats-server (file storage, one replica), in alternating rounds.
//!
//! | figure | raw baseline | target |
//! |---|---|---|
//! | 1,000 actors appending single events concurrently, one task polling all actors' futures | `send_publish` with expected-last-subject-sequence, one ack awaited per subject at a time, one task polling all subjects' futures | >= 0.9 |
//! | the same, one spawned task per actor | the same, one spawned task per subject | >= 0.9 |
//! | 10-event appends across 1,000 actors (messages/s), one task polling all actors' futures | pipelined publish of the same bytes with expected-last-subject-sequence, one task polling all subjects' futures | >= 0.9 |
//! | the same, one spawned task per actor | the same, one spawned task per subject | >= 0.9 |
//! | replay of one actor's 10,000 events among 40,000 others | an ordered consumer (created in the timing) on the same subject | >= 0.8 |
//! | activation: snapshot + 100 later events (latency) | creating an ordered consumer and reading the same 100 events | <= 0.5x |
//! | one append (latency) | one publish and its ack | <= 1.15x |
//! | `latest_version` (latency) | one direct get last-by-subject | <= 1.1x |
//! | 1,000 actors asking through the runtime with caller-supplied v7 command ids | the same asks with the runtime's fresh ids | >= 0.95 |
//!
//! The append figures run in two shapes. In the first, one task (`main`'s) polls every
//! actor's future (`FuturesUnordered`), so both sides share one client thread. In the
//! second, the shape applications have, each actor (raw: each subject) is a task of its own
//! spawned on the bench's multi-thread runtime (one worker per CPU), so the work spreads
//! over the workers. Both shapes hold the same goals.
//!
//! Also printed: the latency of command-id lookups through the runtime (a retry 10, 10,000
//! and 1,000,000 events late, and a new id from a clock 10 minutes behind), events/s of the
//! 10-event appends and raw atomic batches of 10 (ADR-50), client CPU per message of the
//! append figures, and, for information, raw 10-event appends acknowledged through one
//! shared reply inbox (the store's technique) against `send_publish`, and `latest_version`
//! against the direct get interleaved operation by operation.
//!
//! Every append round, raw or Aether, writes into streams of its own (a stream like the
//! store's for the raw side, a fresh namespace for Aether) that are deleted after it, so each
//! starts on empty streams and the rounds do not slow down as the server's files grow. The
//! payload bytes exist before the clock starts; Aether's events are made right before each
//! append, as an actor makes them.
//!
//! Usage: `cargo xtask bench store [ROUNDS]` (default 7, at least 3).

use std::collections::HashMap;
use std::future::{Future, IntoFuture};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aether_benches::commands::{lookup_costs, runtime_asks};
use aether_benches::{alternate, lock, machine, median, rate, ratios};
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
use tokio::sync::oneshot;

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

/// Headers and payload of a stored append record, for the raw side to send.
type Template = (HeaderMap, bytes::Bytes);

/// Everything a round needs: the server, a raw JetStream context and the store.
struct Ctx {
    _server: NatsServer,
    js: jetstream::Context,
    client: async_nats::Client,
    store: JetStreamEventStore,
    ns: Namespace,
    /// The store's events stream, for the raw reads.
    events_stream: stream::Stream,
    /// A stored 1-event and a stored 10-event append record.
    one: Arc<Template>,
    ten: Arc<Template>,
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
fn aether_headers(template: &Template) -> HeaderMap {
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
fn raw_message(template: &Template, expected: Option<u64>) -> PublishMessage {
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

/// How the 1,000 actors (raw: subjects) of an append round are driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// One task polls every actor's future (`FuturesUnordered`): one client thread.
    Polled,
    /// One spawned task per actor on the runtime's worker threads, as applications run.
    Spawned,
}

/// Polls all `futures` from this task until every one is done; the first error.
async fn poll_all<F, E>(futures: impl IntoIterator<Item = F>) -> Result<()>
where
    F: Future<Output = Result<(), E>>,
    E: Into<anyhow::Error>,
{
    let mut all: FuturesUnordered<F> = futures.into_iter().collect();
    while let Some(r) = all.next().await {
        r.map_err(Into::into)?;
    }
    Ok(())
}

/// Spawns one task per future and waits for them all; the first error (the other tasks
/// are aborted then).
async fn spawn_all<F, E>(futures: impl IntoIterator<Item = F>) -> Result<()>
where
    F: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<anyhow::Error> + Send + 'static,
{
    let mut tasks = tokio::task::JoinSet::new();
    for f in futures {
        tasks.spawn(f);
    }
    while let Some(r) = tasks.join_next().await {
        r?.map_err(Into::into)?;
    }
    Ok(())
}

/// Each actor appends `per_actor` times `size` events, one append at a time; all actors
/// concurrently, in `shape`.
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
    shape: Shape,
) -> Result<(Duration, f64)> {
    // A namespace (so streams) of its own, on the main store's connection, dropped after.
    let store = JetStreamEventStore::open(
        ctx.store.client().clone(),
        Namespace::new(format!("round-{tag}"))?,
        JetStreamStoreOptions::new(),
    )
    .await?;
    let payloads: Arc<[bytes::Bytes]> = (0..per_actor + size)
        .map(|i| bytes::Bytes::from(data(i)))
        .collect();
    let actors: Vec<ActorId> = (0..ACTORS).map(|a| id(format!("{tag}-{a}"))).collect();
    let start = Instant::now();
    let cpu = cpu_time();
    match shape {
        Shape::Polled => {
            poll_all(
                actors
                    .iter()
                    .map(|actor| aether_actor_appends(&store, actor, &payloads, per_actor, size)),
            )
            .await?
        }
        Shape::Spawned => spawn_all(actors.iter().map(|actor| {
            let (store, actor, payloads) = (store.clone(), actor.clone(), payloads.clone());
            async move { aether_actor_appends(&store, &actor, &payloads, per_actor, size).await }
        }))
        .await?,
    }
    let measured = (
        start.elapsed(),
        cpu_per_msg(cpu, (ACTORS * per_actor) as u64),
    );
    for stream in [store.events_stream(), store.snapshots_stream()] {
        ctx.js.delete_stream(stream).await?;
    }
    Ok(measured)
}

/// One actor's appends: `per_actor` appends of `size` events from `payloads`, each with
/// the exact expected version.
async fn aether_actor_appends(
    store: &JetStreamEventStore,
    actor: &ActorId,
    payloads: &[bytes::Bytes],
    per_actor: usize,
    size: usize,
) -> aether_core::Result<()> {
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
    Ok(())
}

/// The raw equivalent: per subject, publish with the expected last sequence, await the
/// ack, go on from the acknowledged sequence; all subjects concurrently, in `shape`.
async fn raw_appends(
    ctx: &Ctx,
    tag: &str,
    per_actor: usize,
    template: &Arc<Template>,
    shape: Shape,
) -> Result<(Duration, f64)> {
    // A stream of its own, like the store's, deleted after.
    let stream = format!("RAW_{tag}");
    create_raw_stream(&ctx.js, &stream, &format!("rawr.{tag}.>")).await?;
    let start = Instant::now();
    let cpu = cpu_time();
    let subjects = (0..ACTORS).map(|a| format!("rawr.{tag}.{a}"));
    match shape {
        Shape::Polled => {
            poll_all(subjects.map(|s| raw_subject_appends(&ctx.js, s, per_actor, template))).await?
        }
        Shape::Spawned => {
            spawn_all(subjects.map(|s| {
                let (js, template) = (ctx.js.clone(), Arc::clone(template));
                async move { raw_subject_appends(&js, s, per_actor, &template).await }
            }))
            .await?
        }
    }
    let measured = (
        start.elapsed(),
        cpu_per_msg(cpu, (ACTORS * per_actor) as u64),
    );
    ctx.js.delete_stream(&stream).await?;
    Ok(measured)
}

/// One subject's raw appends: `per_actor` publishes of `template`, each expecting the
/// sequence the previous one was acknowledged with.
async fn raw_subject_appends(
    js: &jetstream::Context,
    subject: String,
    per_actor: usize,
    template: &Template,
) -> Result<()> {
    let mut last = 0u64;
    for _ in 0..per_actor {
        let ack = js
            .send_publish(subject.clone(), raw_message(template, Some(last)))
            .await?;
        last = ack.into_future().await?.sequence;
    }
    Ok(())
}

/// Who waits for which reply token, in shards.
type Waiters = Arc<Vec<Mutex<HashMap<u64, oneshot::Sender<async_nats::Message>>>>>;

/// One reply subscription for many publishes, as the store has: a router task hands each
/// reply to its publisher by a token in the reply subject, no timer per publish.
struct SharedInbox {
    prefix: String,
    waiters: Waiters,
    tokens: AtomicU64,
    router: tokio::task::JoinHandle<()>,
}

impl SharedInbox {
    const SHARDS: u64 = 16;

    /// Subscribes to a fresh inbox and starts the router.
    async fn open(client: &async_nats::Client) -> Result<Self> {
        let prefix = format!("{}.", client.new_inbox());
        let mut replies = client.subscribe(format!("{prefix}*")).await?;
        let waiters: Waiters = Arc::new((0..Self::SHARDS).map(|_| Mutex::default()).collect());
        let routed = Arc::clone(&waiters);
        let at = prefix.len();
        let router = tokio::spawn(async move {
            while let Some(m) = replies.next().await {
                let Some(token) = m.subject.get(at..).and_then(|t| t.parse::<u64>().ok()) else {
                    continue;
                };
                let waiter = lock(&routed[(token % Self::SHARDS) as usize]).remove(&token);
                if let Some(w) = waiter {
                    let _ = w.send(m);
                }
            }
        });
        Ok(SharedInbox {
            prefix,
            waiters,
            tokens: AtomicU64::new(0),
            router,
        })
    }

    /// A reply subject of this inbox and the receiver its reply will be handed to.
    fn expect_reply(&self) -> (String, oneshot::Receiver<async_nats::Message>) {
        let token = self.tokens.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.waiters[(token % Self::SHARDS) as usize]).insert(token, tx);
        (format!("{}{token}", self.prefix), rx)
    }
}

impl Drop for SharedInbox {
    fn drop(&mut self) {
        self.router.abort();
    }
}

/// The raw appends of [`raw_appends`] (polled), acknowledged the way the store does it,
/// through a [`SharedInbox`]. Printed for information: how much of the store's speed comes
/// from that technique rather than from async-nats's `send_publish`.
async fn raw_inbox_appends(
    ctx: &Ctx,
    tag: &str,
    per_actor: usize,
    template: &Template,
) -> Result<(Duration, f64)> {
    let stream = format!("RAWI_{tag}");
    create_raw_stream(&ctx.js, &stream, &format!("rawi.{tag}.>")).await?;
    let inbox = SharedInbox::open(&ctx.client).await?;
    let start = Instant::now();
    let cpu = cpu_time();
    poll_all((0..ACTORS).map(|a| {
        let subject = async_nats::Subject::from(format!("rawi.{tag}.{a}"));
        inbox_subject_appends(&ctx.client, &inbox, subject, per_actor, template)
    }))
    .await?;
    let measured = (
        start.elapsed(),
        cpu_per_msg(cpu, (ACTORS * per_actor) as u64),
    );
    drop(inbox);
    ctx.js.delete_stream(&stream).await?;
    Ok(measured)
}

/// One subject's raw appends acknowledged through `inbox`.
async fn inbox_subject_appends(
    client: &async_nats::Client,
    inbox: &SharedInbox,
    subject: async_nats::Subject,
    per_actor: usize,
    template: &Template,
) -> Result<()> {
    let mut last = 0u64;
    for _ in 0..per_actor {
        let mut headers = aether_headers(template);
        headers.insert("Nats-Msg-Id", uuid::Uuid::now_v7().to_string().as_str());
        headers.insert(
            "Nats-Expected-Last-Subject-Sequence",
            last.to_string().as_str(),
        );
        let (reply_to, rx) = inbox.expect_reply();
        client
            .publish_with_reply_and_headers(subject.clone(), reply_to, headers, template.1.clone())
            .await?;
        let reply = rx.await?;
        match serde_json::from_slice::<Response<PublishAck>>(&reply.payload)? {
            Response::Ok(ack) => last = ack.sequence,
            Response::Err { error } => bail!("raw publish refused: {error}"),
        }
    }
    Ok(())
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

/// One of the two append figures: each of `ACTORS` actors makes `per_actor` appends of
/// `size` events.
struct AppendFigure {
    /// The row's name when polled and when spawned.
    names: [&'static str; 2],
    /// The prefix of the rounds' stream and namespace names when polled and when spawned.
    tags: [&'static str; 2],
    per_actor: usize,
    size: usize,
}

const SINGLE: AppendFigure = AppendFigure {
    names: [
        "1,000 actors, single-event appends",
        "1,000 actors, single-event appends, a task per actor",
    ],
    tags: ["s", "ts"],
    per_actor: SINGLE_PER_ACTOR,
    size: 1,
};

const TEN: AppendFigure = AppendFigure {
    names: [
        "1,000 actors, 10-event appends",
        "1,000 actors, 10-event appends, a task per actor",
    ],
    tags: ["b", "tb"],
    per_actor: BATCH_PER_ACTOR,
    size: BATCH_EVENTS,
};

/// What an append figure gives besides its row: the median client CPU per message, raw and
/// Aether, in microseconds.
type CpuPerMsg = (f64, f64);

/// An append figure in `shape`: raw and Aether rounds alternating; goal >= 0.9 (msg/s).
async fn append_figure(
    ctx: &Ctx,
    rounds: usize,
    figure: &AppendFigure,
    shape: Shape,
) -> Result<(Row, CpuPerMsg)> {
    let at = usize::from(shape == Shape::Spawned);
    let (tag, per_actor, size) = (figure.tags[at], figure.per_actor, figure.size);
    let template = if size == 1 { &ctx.one } else { &ctx.ten };
    let msgs = (ACTORS * per_actor) as u64;
    let mut cpu = (Vec::new(), Vec::new());
    let (raw, aether) = alternate!(
        rounds,
        r,
        {
            let (t, c) = raw_appends(ctx, &format!("{tag}{r}"), per_actor, template, shape).await?;
            cpu.0.push(c);
            rate(msgs, t)
        },
        {
            let (t, c) = aether_appends(ctx, &format!("{tag}{r}"), per_actor, size, shape).await?;
            cpu.1.push(c);
            rate(msgs, t)
        }
    );
    let row = Row {
        name: figure.names[at],
        unit: "msg/s",
        raw,
        aether,
        at_least: true,
        target: Some(0.9),
    };
    Ok((row, (median(&cpu.0), median(&cpu.1))))
}

/// Figures printed below the table.
struct Extras {
    /// Client CPU per message of the single-event and the 10-event appends, polled and
    /// spawned.
    single_cpu: [CpuPerMsg; 2],
    ten_cpu: [CpuPerMsg; 2],
    /// Aether's events/s in the 10-event appends, polled and spawned.
    ten_events_per_s: [f64; 2],
    /// Raw atomic batches, events/s per round.
    atomic: Vec<f64>,
}

/// The append rows in both shapes, the raw atomic batches, and the shared-inbox row.
async fn append_rows(ctx: &Ctx, rounds: usize, rows: &mut Vec<Row>) -> Result<Extras> {
    let (single, single_cpu) = append_figure(ctx, rounds, &SINGLE, Shape::Polled).await?;
    rows.push(single);
    let (single_t, single_t_cpu) = append_figure(ctx, rounds, &SINGLE, Shape::Spawned).await?;
    rows.push(single_t);
    let (ten, ten_cpu) = append_figure(ctx, rounds, &TEN, Shape::Polled).await?;
    let mut atomic = Vec::new();
    for r in 0..rounds {
        atomic.push(raw_atomic_batches(ctx, &format!("ab{r}")).await?);
    }
    let (ten_t, ten_t_cpu) = append_figure(ctx, rounds, &TEN, Shape::Spawned).await?;
    let events_per_s = |row: &Row| median(&row.aether) * BATCH_EVENTS as f64;
    let ten_events_per_s = [events_per_s(&ten), events_per_s(&ten_t)];
    rows.push(ten);
    rows.push(ten_t);
    rows.push(inbox_row(ctx, rounds).await?);
    Ok(Extras {
        single_cpu: [single_cpu, single_t_cpu],
        ten_cpu: [ten_cpu, ten_t_cpu],
        ten_events_per_s,
        atomic,
    })
}

/// For information: the raw 10-event appends acknowledged through one shared reply inbox,
/// as the store does, against `send_publish` (both polled).
async fn inbox_row(ctx: &Ctx, rounds: usize) -> Result<Row> {
    let msgs = (ACTORS * BATCH_PER_ACTOR) as u64;
    let (raw, inbox) = alternate!(
        rounds,
        r,
        rate(
            msgs,
            raw_appends(
                ctx,
                &format!("bi{r}"),
                BATCH_PER_ACTOR,
                &ctx.ten,
                Shape::Polled
            )
            .await?
            .0
        ),
        rate(
            msgs,
            raw_inbox_appends(ctx, &format!("bi{r}"), BATCH_PER_ACTOR, &ctx.ten)
                .await?
                .0
        )
    );
    Ok(Row {
        name: "(info) raw 10-event appends via one shared reply inbox vs send_publish",
        unit: "msg/s",
        raw,
        aether: inbox,
        at_least: true,
        target: None,
    })
}

/// Writes one actor's `REPLAY_EVENTS` events among `REPLAY_OTHERS` other actors' and gives
/// that actor.
async fn replay_setup(ctx: &Ctx) -> Result<ActorId> {
    let big = id("replay-big".into());
    let start = Instant::now();
    let store = &ctx.store;
    let appends = |actor: ActorId, n: usize| async move {
        for k in 0..n {
            store
                .append(&actor, ExpectedVersion::Exact(k as Version), events(1, k))
                .await?;
        }
        Ok::<_, aether_core::Error>(())
    };
    let others = (0..REPLAY_OTHERS).map(|o| (id(format!("replay-other-{o}")), REPLAY_OTHER_EVENTS));
    poll_all(
        std::iter::once((big.clone(), REPLAY_EVENTS))
            .chain(others)
            .map(|(actor, n)| appends(actor, n)),
    )
    .await?;
    println!(
        "replay set-up: {REPLAY_EVENTS} events of one actor among {} others written in {:?}",
        REPLAY_OTHERS * REPLAY_OTHER_EVENTS,
        start.elapsed()
    );
    Ok(big)
}

/// Replay of one actor's 10,000 events among 40,000 others against an ordered consumer
/// created in the timing; goal >= 0.8 (events/s).
async fn replay_row(ctx: &Ctx, rounds: usize) -> Result<Row> {
    let big = replay_setup(ctx).await?;
    let big_subject = subject(&ctx.ns, &big);
    let (raw, aether) = alternate!(
        rounds,
        _r,
        {
            let start = Instant::now();
            let n = raw_ordered_read(&ctx.events_stream, &big_subject, 1, REPLAY_EVENTS).await?;
            rate(n as u64, start.elapsed())
        },
        aether_replay_rate(ctx, &big).await?
    );
    Ok(Row {
        name: "replay 10,000 of one actor (among 40,000)",
        unit: "ev/s",
        raw,
        aether,
        at_least: true,
        target: Some(0.8),
    })
}

/// Events/s of one `read_stream` of all of `actor`'s `REPLAY_EVENTS` events.
async fn aether_replay_rate(ctx: &Ctx, actor: &ActorId) -> Result<f64> {
    let start = Instant::now();
    let n = ctx
        .store
        .read_stream(actor, 1, Version::MAX)
        .try_fold(0u64, |n, e| async move {
            std::hint::black_box(&e);
            Ok(n + 1)
        })
        .await?;
    if n != REPLAY_EVENTS as u64 {
        bail!("replay read {n} events");
    }
    Ok(rate(n, start.elapsed()))
}

/// `ACTIVATIONS` actors, each with 100 events, a snapshot, and 100 later events; each with
/// the stream sequence after its snapshot.
async fn activation_setup(ctx: &Ctx) -> Result<Vec<(ActorId, u64)>> {
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
    Ok(snaps)
}

/// Activation (snapshot + 100 later events) against an ordered consumer reading the same
/// events; goal <= 0.5x (latency).
async fn activation_row(ctx: &Ctx, rounds: usize, snaps: &[(ActorId, u64)]) -> Result<Row> {
    let (raw, aether) = alternate!(
        rounds,
        _r,
        consumer_latency(&ctx.events_stream, &ctx.ns, snaps).await?,
        aether_activation_latency(ctx, snaps).await?
    );
    Ok(Row {
        name: "activation: snapshot + 100 events",
        unit: "us",
        raw,
        aether,
        at_least: false,
        target: Some(0.5),
    })
}

/// The median latency, in microseconds, of `load_snapshot` + `read_after_snapshot` of each
/// actor.
async fn aether_activation_latency(ctx: &Ctx, snaps: &[(ActorId, u64)]) -> Result<f64> {
    let mut lat = Vec::new();
    for (actor, _) in snaps {
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
    Ok(median(&lat))
}

/// For comparison: the same 100 events with one raw batch direct get (no snapshot).
async fn direct_batch_row(ctx: &Ctx, rounds: usize, snaps: &[(ActorId, u64)]) -> Result<Row> {
    let (raw, aether) = alternate!(
        rounds,
        _r,
        consumer_latency(&ctx.events_stream, &ctx.ns, snaps).await?,
        direct_batch_latency(ctx, snaps).await?
    );
    Ok(Row {
        name: "(info) raw batch direct get (no headers) of those 100 vs ordered consumer",
        unit: "us",
        raw,
        aether,
        at_least: false,
        target: None,
    })
}

/// The median latency, in microseconds, of one batch direct get of each actor's events
/// after its snapshot.
async fn direct_batch_latency(ctx: &Ctx, snaps: &[(ActorId, u64)]) -> Result<f64> {
    let mut lat = Vec::new();
    for (actor, start_seq) in snaps {
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
    Ok(median(&lat))
}

/// One append against one publish and its ack; goal <= 1.15x (latency).
async fn one_append_row(ctx: &Ctx, rounds: usize) -> Result<Row> {
    let (raw, aether) = alternate!(
        rounds,
        r,
        publish_latency(ctx, &format!("raw.one{r}"), false).await?,
        append_latency(ctx, &id(format!("one-{r}"))).await?
    );
    Ok(Row {
        name: "one append vs publish + ack",
        unit: "us",
        raw,
        aether,
        at_least: false,
        target: Some(1.15),
    })
}

/// For comparison: a raw publish that carries the expectation an append carries.
async fn expectation_row(ctx: &Ctx, rounds: usize) -> Result<Row> {
    let (raw, aether) = alternate!(
        rounds,
        r,
        publish_latency(ctx, &format!("raw.one{r}"), false).await?,
        publish_latency(ctx, &format!("raw.onex{r}"), true).await?
    );
    Ok(Row {
        name: "(info) raw publish + ack with expectation vs without",
        unit: "us",
        raw,
        aether,
        at_least: false,
        target: None,
    })
}

/// The median latency, in microseconds, of `LATENCY_OPS` raw publishes of a 1-event record
/// to `subject` and their acks, each expecting the last sequence (`expect`) or not.
async fn publish_latency(ctx: &Ctx, subject: &str, expect: bool) -> Result<f64> {
    let mut lat = Vec::new();
    let mut last = 0;
    for _ in 0..LATENCY_OPS {
        let start = Instant::now();
        last = ctx
            .js
            .send_publish(
                subject.to_owned(),
                raw_message(&ctx.one, expect.then_some(last)),
            )
            .await?
            .into_future()
            .await?
            .sequence;
        lat.push(start.elapsed().as_secs_f64() * 1e6);
    }
    Ok(median(&lat))
}

/// The median latency, in microseconds, of `LATENCY_OPS` single-event appends to `actor`
/// (each event made before the clock starts).
async fn append_latency(ctx: &Ctx, actor: &ActorId) -> Result<f64> {
    let mut lat = Vec::new();
    for k in 0..LATENCY_OPS {
        let e = events(1, k);
        let start = Instant::now();
        ctx.store
            .append(actor, ExpectedVersion::Exact(k as Version), e)
            .await?;
        lat.push(start.elapsed().as_secs_f64() * 1e6);
    }
    Ok(median(&lat))
}

/// `LATENCY_OPS` actors with as many events as the single-event appends give each.
async fn latest_setup(ctx: &Ctx) -> Result<Vec<ActorId>> {
    let actors: Vec<ActorId> = (0..LATENCY_OPS)
        .map(|a| id(format!("latest-{a}")))
        .collect();
    let store = &ctx.store;
    poll_all(actors.iter().map(|actor| async move {
        for k in 0..SINGLE_PER_ACTOR {
            store
                .append(actor, ExpectedVersion::Exact(k as Version), events(1, k))
                .await?;
        }
        Ok::<_, aether_core::Error>(())
    }))
    .await?;
    Ok(actors)
}

/// `latest_version` (a fresh handle per round) against one direct get; goal <= 1.1x
/// (latency).
async fn latest_row(ctx: &Ctx, rounds: usize, actors: &[ActorId]) -> Result<Row> {
    let (raw, aether) = alternate!(
        rounds,
        _r,
        direct_get_latency(ctx, actors).await?,
        latest_version_latency(ctx, actors).await?
    );
    Ok(Row {
        name: "latest_version vs direct get",
        unit: "us",
        raw,
        aether,
        at_least: false,
        target: Some(1.1),
    })
}

/// The median latency, in microseconds, of a direct get of each actor's last message.
async fn direct_get_latency(ctx: &Ctx, actors: &[ActorId]) -> Result<f64> {
    let mut lat = Vec::new();
    for actor in actors {
        let subject = subject(&ctx.ns, actor);
        let start = Instant::now();
        let m = ctx
            .events_stream
            .direct_get_last_for_subject(subject)
            .await?;
        lat.push(start.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(m);
    }
    Ok(median(&lat))
}

/// The median latency, in microseconds, of `latest_version` of each actor on a fresh
/// store handle.
async fn latest_version_latency(ctx: &Ctx, actors: &[ActorId]) -> Result<f64> {
    let store = JetStreamEventStore::open(
        ctx.client.clone(),
        ctx.ns.clone(),
        JetStreamStoreOptions::new(),
    )
    .await?;
    let mut lat = Vec::new();
    for actor in actors {
        let start = Instant::now();
        let v = store.latest_version(actor).await?;
        lat.push(start.elapsed().as_secs_f64() * 1e6);
        if v != SINGLE_PER_ACTOR as Version {
            return Err(anyhow!("latest_version of {actor} is {v}"));
        }
    }
    Ok(median(&lat))
}

/// For information: the same reads with raw and Aether interleaved operation by operation
/// (the order flipping every round), so both see the machine in the same state; the row
/// above alternates whole rounds of 500 operations.
async fn latest_interleaved_row(ctx: &Ctx, rounds: usize, actors: &[ActorId]) -> Result<Row> {
    let store = JetStreamEventStore::open(
        ctx.client.clone(),
        ctx.ns.clone(),
        JetStreamStoreOptions::new(),
    )
    .await?;
    let (mut raw, mut aether) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        let (mut raw_lat, mut aether_lat) = (Vec::new(), Vec::new());
        for actor in actors {
            let subject = subject(&ctx.ns, actor);
            for raw_turn in [r % 2 == 0, r % 2 == 1] {
                let start = Instant::now();
                if raw_turn {
                    let m = ctx
                        .events_stream
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
    Ok(Row {
        name: "(info) latest_version vs direct get, interleaved per operation",
        unit: "us",
        raw,
        aether,
        at_least: false,
        target: None,
    })
}

/// The read and latency rows: replay, activation, one append, `latest_version`.
async fn read_rows(ctx: &Ctx, rounds: usize, rows: &mut Vec<Row>) -> Result<()> {
    rows.push(replay_row(ctx, rounds).await?);
    let snaps = activation_setup(ctx).await?;
    rows.push(activation_row(ctx, rounds, &snaps).await?);
    rows.push(direct_batch_row(ctx, rounds, &snaps).await?);
    rows.push(one_append_row(ctx, rounds).await?);
    rows.push(expectation_row(ctx, rounds).await?);
    let actors = latest_setup(ctx).await?;
    rows.push(latest_row(ctx, rounds, &actors).await?);
    rows.push(latest_interleaved_row(ctx, rounds, &actors).await?);
    Ok(())
}

/// 1,000 actors asking through the runtime: caller-supplied v7 ids against fresh ids;
/// goal >= 0.95 (asks/s).
async fn runtime_row(ctx: &Ctx, rounds: usize) -> Result<Row> {
    let (fresh, caller) = alternate!(
        rounds,
        r,
        runtime_round(ctx, &format!("f{r}"), false).await?,
        runtime_round(ctx, &format!("c{r}"), true).await?
    );
    Ok(Row {
        name: "runtime asks, 1,000 actors: caller v7 ids (aether) vs fresh ids (raw)",
        unit: "ask/s",
        raw: fresh,
        aether: caller,
        at_least: true,
        target: Some(0.95),
    })
}

/// Prints every row's rounds, then the table of medians and ratios against the targets.
fn print_rows(rows: &[Row]) {
    println!("per round:");
    for row in rows {
        row.print_rounds();
    }
    println!();
    println!("| figure | raw (median) | aether (median) | median ratio | target | |");
    println!("|---|---|---|---|---|---|");
    for row in rows {
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
}

/// Prints the figures below the table: events/s, client CPU and raw atomic batches.
fn print_extras(x: &Extras, rounds: usize) {
    let ([single, single_t], [ten, ten_t]) = (x.single_cpu, x.ten_cpu);
    println!(
        "10-event appends: aether {:.0} events/s (median)",
        x.ten_events_per_s[0]
    );
    println!(
        "10-event appends, a task per actor: aether {:.0} events/s (median)",
        x.ten_events_per_s[1]
    );
    println!(
        "client CPU per message (median): single-event appends raw {:.1} us, aether {:.1} us; \
         10-event appends raw {:.1} us, aether {:.1} us",
        single.0, single.1, ten.0, ten.1
    );
    println!(
        "client CPU per message (median), a task per actor: single-event appends raw {:.1} us, \
         aether {:.1} us; 10-event appends raw {:.1} us, aether {:.1} us",
        single_t.0, single_t.1, ten_t.0, ten_t.1
    );
    println!(
        "raw atomic batches of {BATCH_EVENTS} ({ATOMIC_ACTORS} subjects concurrently): {:.0} events/s (median of {rounds})",
        median(&x.atomic)
    );
    println!();
}

/// Prints the latencies of command-id lookups through the runtime.
async fn print_lookups(ctx: &Ctx) -> Result<()> {
    println!("command-id lookups through the runtime (window 0: every caller id looked up):");
    for late in [10u64, 10_000, 1_000_000] {
        let (retry, behind) = lookup_round(ctx, late).await?;
        println!(
            "{late:>9} events late: a retry answered in {retry:>10.0} us (median of 5); a new id 10 min behind runs after {behind:>10.0} us (median of 3)"
        );
    }
    Ok(())
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
            Ok::<_, anyhow::Error>(Arc::new((m.headers, m.payload)))
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
        events_stream,
        one,
        ten,
    })
}

/// The rounds from the command line: the first argument, default 7, at least 3.
fn rounds_arg() -> Result<usize> {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(7);
    if rounds < 3 {
        bail!("at least 3 rounds");
    }
    Ok(rounds)
}

#[tokio::main]
async fn main() -> Result<()> {
    let rounds = rounds_arg()?;
    let ctx = setup().await?;
    let version = ctx.client.server_info().version;
    println!("nats-server {version}, file storage, 1 replica; {rounds} alternating rounds");
    println!(
        "client runtime: tokio multi-thread, {} worker threads",
        tokio::runtime::Handle::current().metrics().num_workers()
    );
    println!("machine: {}\n", machine());
    let mut rows = Vec::new();
    let extras = append_rows(&ctx, rounds, &mut rows).await?;
    read_rows(&ctx, rounds, &mut rows).await?;
    rows.push(runtime_row(&ctx, rounds).await?);
    print_rows(&rows);
    print_extras(&extras, rounds);
    print_lookups(&ctx).await?;
    let missed: Vec<&str> = rows.iter().filter(|r| !r.pass()).map(|r| r.name).collect();
    if !missed.is_empty() {
        bail!("goals missed: {}", missed.join("; "));
    }
    Ok(())
}
