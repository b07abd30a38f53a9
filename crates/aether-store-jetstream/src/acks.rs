//! Append acknowledgements through one reply subscription per store handle.
//!
//! Each append publishes its record with a reply subject `<prefix>.<token>` under the
//! handle's own inbox; a router task hands each reply to the append registered for its
//! token. Waiters older than the request timeout are dropped on a coarse clock of ticks, so
//! no publish arms a timer of its own. See `docs/jetstream.md`, "How an append is published
//! and acknowledged".

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use aether_core::support::lock;
use async_nats::jetstream::context::{PublishError, PublishErrorKind};
use async_nats::jetstream::publish::PublishAck;
use async_nats::jetstream::response::Response;
use async_nats::jetstream::ErrorCode;
use async_nats::{HeaderMap, Message, StatusCode, Subject, Subscriber};
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::oneshot;

const SHARDS: usize = 16;
/// How many appends of a handle must already be waiting for acknowledgements for the next
/// one to go through the shared reply subscription.
const BUSY: usize = 4;
/// The shortest tick of the timeout clock.
const MIN_TICK: Duration = Duration::from_millis(10);

/// Hashes the (sequential) tokens by one multiplication: enough to spread them over the
/// map's groups, and far cheaper than SipHash for a key that is not attacker-chosen.
#[derive(Default)]
struct TokenHasher(u64);

impl Hasher for TokenHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type Waiters = HashMap<u64, Waiter, BuildHasherDefault<TokenHasher>>;

struct Waiter {
    reply: oneshot::Sender<Message>,
    /// The tick of the timeout clock when the append registered.
    since: u32,
}

struct Shared {
    shards: Box<[Mutex<Waiters>]>,
    /// The timeout clock: advanced by the router every tick.
    tick: AtomicU32,
    /// Set when the router has stopped: nothing will be delivered any more.
    closed: AtomicBool,
}

impl Shared {
    fn shard(&self, token: u64) -> MutexGuard<'_, Waiters> {
        lock(&self.shards[(token % SHARDS as u64) as usize])
    }

    /// Hands `msg` to the append waiting for the token its subject ends with.
    fn deliver(&self, prefix_len: usize, msg: Message) {
        let Some(token) = msg
            .subject
            .get(prefix_len..)
            .and_then(|t| t.parse::<u64>().ok())
        else {
            return;
        };
        let waiter = self.shard(token).remove(&token);
        if let Some(w) = waiter {
            // The append may have given up meanwhile; then the reply is not needed.
            let _ = w.reply.send(msg);
        }
    }

    /// Advances the clock and drops the waiters registered more than `max_age` ticks ago
    /// (their appends see a timeout).
    fn sweep(&self, max_age: u32) {
        let now = self.tick.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        for shard in self.shards.iter() {
            lock(shard).retain(|_, w| now.wrapping_sub(w.since) <= max_age);
        }
    }

    /// Drops every waiter (their appends see a timeout and are retried at once): their
    /// connection dropped or was replaced, so no reply will come.
    fn fail_all(&self) {
        for shard in self.shards.iter() {
            lock(shard).clear();
        }
    }

    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        for shard in self.shards.iter() {
            lock(shard).clear();
        }
    }
}

/// Removes an append's waiter if the append stops waiting before its reply came.
struct Registration<'a> {
    shared: &'a Shared,
    token: u64,
    armed: bool,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.shared.shard(self.token).remove(&self.token);
        }
    }
}

/// The acknowledgement path of one store handle (see the module docs).
pub(crate) struct Acks {
    client: async_nats::Client,
    /// `<inbox>.`: a reply subject is this and a token.
    prefix: String,
    next: AtomicU64,
    /// Appends of the handle waiting for acknowledgements, by either path.
    in_flight: AtomicUsize,
    shared: Arc<Shared>,
    router: tokio::task::JoinHandle<()>,
}

/// One append waiting for its acknowledgement (counted while it lives).
pub(crate) struct InFlight<'a> {
    acks: &'a Acks,
    shared: bool,
}

impl InFlight<'_> {
    /// Whether this append goes through the shared reply subscription: enough other appends
    /// were waiting, and the router still runs (after it stops, every append of the handle
    /// goes through `send_publish`).
    pub(crate) fn shared(&self) -> bool {
        self.shared
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.acks.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Drop for Acks {
    fn drop(&mut self) {
        // Dropping the router's subscription unsubscribes. (The store handle's last clone
        // owns this.)
        self.router.abort();
    }
}

impl Acks {
    /// Subscribes to a fresh inbox of `client` and starts the router; replies not received
    /// within `timeout` count as timed out.
    pub(crate) async fn start(
        client: async_nats::Client,
        timeout: Duration,
        link: tokio::sync::watch::Receiver<crate::health::Link>,
    ) -> Result<Acks, async_nats::SubscribeError> {
        let prefix = format!("{}.", client.new_inbox());
        let subscription = client.subscribe(format!("{prefix}*")).await?;
        let shared = Arc::new(Shared {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(Waiters::default()))
                .collect(),
            tick: AtomicU32::new(0),
            closed: AtomicBool::new(false),
        });
        let (tick, max_age) = clock(timeout);
        // Made here, not in the task: a task aborted (or whose runtime shut down) before its
        // first poll still drops its arguments, and so still closes the waiters.
        let router = tokio::spawn(route(
            subscription,
            prefix.len(),
            CloseOnExit(Arc::clone(&shared)),
            tick,
            max_age,
            link,
        ));
        Ok(Acks {
            client,
            prefix,
            next: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            shared,
            router,
        })
    }

    /// How many appends of the handle wait for their acknowledgement.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Whether the router has stopped (the connection closed, or the task ended otherwise):
    /// then appends must be acknowledged by `send_publish`.
    pub(crate) fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::SeqCst)
    }

    /// Counts an append as waiting for its acknowledgement until the result is dropped.
    pub(crate) fn begin(&self) -> InFlight<'_> {
        let before = self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight {
            acks: self,
            shared: before >= BUSY && !self.is_closed(),
        }
    }

    /// Publishes `payload` with `headers` to `subject` and waits for the stream's
    /// acknowledgement; fails like async-nats's JetStream publish does (wrong last sequence,
    /// other API errors, no responders, timed out).
    pub(crate) async fn publish(
        &self,
        subject: Subject,
        headers: HeaderMap,
        payload: Bytes,
    ) -> Result<PublishAck, PublishError> {
        let token = self.next.fetch_add(1, Ordering::Relaxed);
        let (reply, mut answer) = oneshot::channel();
        let since = self.shared.tick.load(Ordering::Relaxed);
        self.shared
            .shard(token)
            .insert(token, Waiter { reply, since });
        let mut registration = Registration {
            shared: &self.shared,
            token,
            armed: true,
        };
        if self.is_closed() {
            return Err(router_stopped());
        }
        let reply_to = Subject::from(reply_subject(&self.prefix, token));
        let send = self
            .client
            .publish_with_reply_and_headers(subject, reply_to, headers, payload);
        // The send itself can wait (a full command queue while the connection is down): it
        // is bounded by the same clock, since a swept waiter ends `answer`.
        let first = tokio::select! {
            biased;
            sent = send => First::Sent(sent),
            early = &mut answer => First::Answer(early),
        };
        let answer = match first {
            First::Sent(sent) => {
                sent.map_err(|e| match e.kind() {
                    // Refused before sending: the caller checks sizes first, but keep the kind.
                    async_nats::client::PublishErrorKind::MaxPayloadExceeded => {
                        PublishError::with_source(PublishErrorKind::MaxPayloadExceeded, e)
                    }
                    // The connection's task has ended (the client was closed or drained):
                    // nothing to retry.
                    async_nats::client::PublishErrorKind::Send => connection_closed(),
                    async_nats::client::PublishErrorKind::InvalidSubject => {
                        PublishError::with_source(PublishErrorKind::Other, e)
                    }
                })?;
                answer.await
            }
            // Swept (or the router stopped) before the send went through.
            First::Answer(early) => early,
        };
        // Delivered, timed out or stopped: the waiter is gone either way.
        registration.armed = false;
        match answer {
            Ok(msg) => parse_ack(&msg),
            Err(_) if self.is_closed() => Err(router_stopped()),
            Err(_) => Err(PublishError::new(PublishErrorKind::TimedOut)),
        }
    }
}

/// What ended the wait for the send: the send, or the waiter (swept or answered).
enum First {
    Sent(Result<(), async_nats::PublishError>),
    Answer(Result<Message, oneshot::error::RecvError>),
}

/// The connection is closed: a plain error, which the store does not retry.
fn connection_closed() -> PublishError {
    PublishError::with_source(PublishErrorKind::Other, "the connection is closed")
}

/// The router stopped while this publish waited: its outcome is unknown, so the error is a
/// transient one; the store's retry goes through `send_publish` (see [`Acks::is_closed`]).
fn router_stopped() -> PublishError {
    PublishError::with_source(
        PublishErrorKind::BrokenPipe,
        "the acknowledgement router stopped while the append waited",
    )
}

/// `prefix` followed by `token` in decimal.
fn reply_subject(prefix: &str, token: u64) -> String {
    let mut s = String::with_capacity(prefix.len() + 20);
    s.push_str(prefix);
    s.push_str(itoa::Buffer::new().format(token));
    s
}

/// The tick of the timeout clock for `timeout`, and how many ticks a waiter may age. A
/// waiter registered during tick `t` is dropped by the sweep that makes the clock
/// `t + ticks + 1`: at least `ticks` whole ticks after registration, less the jitter of one
/// tick; one spare tick covers that jitter and the rounding, so no waiter is dropped before
/// `timeout`, and none lives longer than `timeout` plus three ticks (3/8 of it, or 30 ms).
fn clock(timeout: Duration) -> (Duration, u32) {
    let tick = (timeout / 8).max(MIN_TICK);
    let ticks = timeout.as_nanos().div_ceil(tick.as_nanos()) + 1;
    (tick, u32::try_from(ticks).unwrap_or(u32::MAX))
}

/// A JetStream publish reply as async-nats reads it: an acknowledgement, an API error, or
/// a no-responders status (no stream leader or no stream).
fn parse_ack(msg: &Message) -> Result<PublishAck, PublishError> {
    if msg.status == Some(StatusCode::NO_RESPONDERS) {
        return Err(PublishError::new(PublishErrorKind::StreamNotFound));
    }
    match serde_json::from_slice::<Response<PublishAck>>(&msg.payload) {
        Ok(Response::Ok(ack)) => Ok(ack),
        Ok(Response::Err { error }) => {
            let kind = match error.error_code() {
                ErrorCode::STREAM_WRONG_LAST_MESSAGE_ID => PublishErrorKind::WrongLastMessageId,
                ErrorCode::STREAM_WRONG_LAST_SEQUENCE => PublishErrorKind::WrongLastSequence,
                _ => PublishErrorKind::Other,
            };
            Err(PublishError::with_source(kind, error))
        }
        Err(e) => Err(PublishError::with_source(PublishErrorKind::Other, e)),
    }
}

/// Closes the waiters when the router stops in any way: its subscription ended, it was
/// aborted, it panicked, or its runtime shut down.
struct CloseOnExit(Arc<Shared>);

impl Drop for CloseOnExit {
    fn drop(&mut self) {
        self.0.close();
    }
}

async fn route(
    mut subscription: Subscriber,
    prefix_len: usize,
    shared: CloseOnExit,
    tick: Duration,
    max_age: u32,
    mut link: tokio::sync::watch::Receiver<crate::health::Link>,
) {
    let shared = &*shared.0;
    let mut clock = tokio::time::interval_at(tokio::time::Instant::now() + tick, tick);
    clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut epoch = link.borrow_and_update().epoch;
    loop {
        tokio::select! {
            msg = subscription.next() => match msg {
                Some(msg) => shared.deliver(prefix_len, msg),
                None => break,
            },
            _ = clock.tick() => shared.sweep(max_age),
            // The connection dropped or was replaced: the replies to what was sent on it
            // will never come. One watcher for every waiter, not one per append.
            Ok(()) = link.changed() => {
                let now = *link.borrow_and_update();
                if !now.connected || now.epoch != epoch {
                    shared.fail_all();
                }
                epoch = now.epoch;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Shared {
        Shared {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(Waiters::default()))
                .collect(),
            tick: AtomicU32::new(0),
            closed: AtomicBool::new(false),
        }
    }

    fn register(s: &Shared, token: u64) -> oneshot::Receiver<Message> {
        let (reply, answer) = oneshot::channel();
        let since = s.tick.load(Ordering::Relaxed);
        s.shard(token).insert(token, Waiter { reply, since });
        answer
    }

    fn message(subject: &str, payload: &'static [u8]) -> Message {
        Message {
            subject: subject.into(),
            reply: None,
            payload: Bytes::from_static(payload),
            headers: None,
            status: None,
            description: None,
            length: payload.len(),
        }
    }

    #[test]
    fn reply_subjects_carry_the_token() {
        assert_eq!(reply_subject("_INBOX.x.", 0), "_INBOX.x.0");
        assert_eq!(reply_subject("_INBOX.x.", 907), "_INBOX.x.907");
        assert_eq!(reply_subject("p.", u64::MAX), format!("p.{}", u64::MAX));
    }

    /// How early a tick may fire relative to the previous one: tokio keeps an interval's
    /// schedule when a tick is late by less than this.
    const TICK_JITTER: Duration = Duration::from_millis(5);

    #[test]
    fn the_clock_never_drops_a_waiter_before_the_timeout() {
        for (timeout, tick, ticks) in [
            (Duration::from_secs(5), Duration::from_millis(625), 9),
            (Duration::from_millis(30), MIN_TICK, 4),
            (Duration::from_millis(1), MIN_TICK, 2),
            (Duration::from_millis(90), Duration::from_micros(11_250), 9),
            (Duration::from_millis(70), MIN_TICK, 8),
        ] {
            assert_eq!(clock(timeout), (tick, ticks), "{timeout:?}");
            // Swept `ticks` ticks after the tick it registered in, each gap at least a tick
            // less the jitter: never before the timeout, and at most three ticks after it.
            assert!(tick * ticks - TICK_JITTER >= timeout, "{timeout:?}");
            assert!(tick * (ticks + 1) <= timeout + tick * 3, "{timeout:?}");
        }
    }

    #[test]
    fn replies_reach_their_own_waiter_only() {
        let s = shared();
        let mut a = register(&s, 1);
        let mut b = register(&s, 2);
        s.deliver(2, message("p.2", b"two"));
        s.deliver(2, message("p.x", b"not a token"));
        s.deliver(2, message("p.99", b"nobody waits"));
        assert_eq!(b.try_recv().unwrap().payload, Bytes::from_static(b"two"));
        assert!(matches!(
            a.try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        ));
        s.deliver(2, message("p.1", b"one"));
        assert_eq!(a.try_recv().unwrap().payload, Bytes::from_static(b"one"));
    }

    #[test]
    fn sweeps_drop_only_waiters_past_their_age() {
        let s = shared();
        let mut old = register(&s, 1);
        s.sweep(2);
        let mut young = register(&s, 2);
        s.sweep(2);
        assert!(matches!(
            old.try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        ));
        s.sweep(2);
        assert!(matches!(
            old.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        ));
        assert!(matches!(
            young.try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        ));
        s.sweep(2);
        assert!(matches!(
            young.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        ));
        s.close();
        assert!(s.closed.load(Ordering::SeqCst));
    }

    #[test]
    fn replies_read_as_async_nats_reads_them() {
        let ack = parse_ack(&message(
            "p.1",
            br#"{"stream":"S","seq":7,"duplicate":true}"#,
        ))
        .unwrap();
        assert_eq!(
            (ack.stream.as_str(), ack.sequence, ack.duplicate),
            ("S", 7, true)
        );
        let wrong = parse_ack(&message(
            "p.1",
            br#"{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 3"}}"#,
        ))
        .unwrap_err();
        assert_eq!(crate::errors::api_code(&wrong), Some(10071));
        assert_eq!(wrong.kind(), PublishErrorKind::WrongLastSequence);
        let garbage = parse_ack(&message("p.1", b"not json")).unwrap_err();
        assert_eq!(garbage.kind(), PublishErrorKind::Other);
        let mut none = message("p.1", b"");
        none.status = Some(StatusCode::NO_RESPONDERS);
        assert_eq!(
            parse_ack(&none).unwrap_err().kind(),
            PublishErrorKind::StreamNotFound
        );
    }
}

#[cfg(all(test, feature = "itest"))]
mod server_tests {
    use std::time::Instant;

    use aether_core::{ActorId, EventStore, ExpectedVersion, Namespace, NewEvent};

    use super::*;
    use crate::{JetStreamEventStore, JetStreamStoreOptions};

    /// A link that never changes (its health is dropped: the router stops watching it).
    fn steady() -> tokio::sync::watch::Receiver<crate::health::Link> {
        crate::health::Health::new(true).subscribe()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_connection_fails_every_waiter_at_once() {
        let server = aether_testkit::NatsServer::start();
        let client = async_nats::connect(server.url()).await.unwrap();
        let _silent = client.subscribe("t.silent").await.unwrap();
        let health = crate::health::Health::new(true);
        let acks = Acks::start(client.clone(), Duration::from_secs(30), health.subscribe())
            .await
            .unwrap();
        let started = Instant::now();
        let waiting = futures::future::join_all((0..20).map(|_| send(&acks, "t.silent")));
        let drop_it = async {
            until("the waiters registered", || !no_waiters(&acks)).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            health.set(false);
        };
        let (answers, ()) = tokio::join!(waiting, drop_it);
        for a in answers {
            assert_eq!(a.unwrap_err().kind(), PublishErrorKind::TimedOut);
        }
        // Far sooner than the 30 s timeout (a 10 s bound: 3x would still be generous).
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert!(no_waiters(&acks));
    }

    async fn send(acks: &Acks, subject: &'static str) -> Result<PublishAck, PublishError> {
        acks.publish(
            Subject::from_static(subject),
            HeaderMap::new(),
            Bytes::new(),
        )
        .await
    }

    fn no_waiters(acks: &Acks) -> bool {
        acks.shared
            .shards
            .iter()
            .all(|s| s.lock().unwrap().is_empty())
    }

    async fn until(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !done() {
            assert!(Instant::now() < deadline, "{what}: not within 5 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replies_reach_their_publishers_and_silence_times_out_on_the_clock() {
        let server = aether_testkit::NatsServer::start();
        let client = async_nats::connect(server.url()).await.unwrap();

        // A responder answering like a stream, with the sequence it was asked for.
        let mut asked = client.subscribe("t.answer.*").await.unwrap();
        let responder = client.clone();
        tokio::spawn(async move {
            while let Some(m) = asked.next().await {
                let seq = m.subject.rsplit('.').next().unwrap().to_owned();
                let ack = format!(r#"{{"stream":"S","seq":{seq}}}"#);
                responder
                    .publish(m.reply.unwrap(), ack.into())
                    .await
                    .unwrap();
            }
        });
        let _silent = client.subscribe("t.silent").await.unwrap();

        let patient = Acks::start(client.clone(), Duration::from_secs(10), steady())
            .await
            .unwrap();
        let all = (0..200u64).map(|i| {
            let acks = &patient;
            async move {
                let subject = Subject::from(format!("t.answer.{i}"));
                let ack = acks
                    .publish(subject, HeaderMap::new(), Bytes::new())
                    .await
                    .unwrap();
                assert_eq!(ack.sequence, i, "each publisher gets its own reply");
            }
        });
        futures::future::join_all(all).await;
        let e = send(&patient, "t.nobody").await.unwrap_err();
        assert_eq!(e.kind(), PublishErrorKind::StreamNotFound);
        assert!(no_waiters(&patient));

        let timeout = Duration::from_millis(400);
        let hasty = Acks::start(client.clone(), timeout, steady())
            .await
            .unwrap();
        let started = Instant::now();
        let e = send(&hasty, "t.silent").await.unwrap_err();
        let waited = started.elapsed();
        assert_eq!(e.kind(), PublishErrorKind::TimedOut);
        // Never before the timeout (the clock's bounds are tested exactly above); the upper
        // bound leaves room for a loaded machine.
        assert!(
            waited >= timeout && waited <= timeout * 2 + Duration::from_millis(500),
            "timed out after {waited:?}"
        );
        assert!(no_waiters(&hasty));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stopped_router_fails_its_waiters_as_unknown_outcomes_at_once() {
        let server = aether_testkit::NatsServer::start();
        let client = async_nats::connect(server.url()).await.unwrap();
        let acks = Arc::new(
            Acks::start(client.clone(), Duration::from_secs(30), steady())
                .await
                .unwrap(),
        );
        let _silent = client.subscribe("t.silent").await.unwrap();
        let waiting = tokio::spawn({
            let acks = Arc::clone(&acks);
            async move { send(&acks, "t.silent").await }
        });
        until("the publish waits", || !no_waiters(&acks)).await;

        // As when the router's task dies or its runtime shuts down.
        let started = Instant::now();
        acks.router.abort();
        let e = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("a waiting publish must not hang when the router stops")
            .unwrap()
            .unwrap_err();
        assert_eq!(e.kind(), PublishErrorKind::BrokenPipe, "{e}");
        assert!(acks.is_closed());
        let e = send(&acks, "t.silent").await.unwrap_err();
        assert_eq!(e.kind(), PublishErrorKind::BrokenPipe, "{e}");
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(no_waiters(&acks));
        // The outcome is unknown: the store retries it (through `send_publish`).
        assert!(crate::errors::map("appending", e).is_transient());
    }

    /// The router's task aborted before it ever ran still closes the waiters (its
    /// arguments are dropped even if its body never starts).
    #[tokio::test(flavor = "current_thread")]
    async fn a_router_that_never_ran_still_closes() {
        let server = aether_testkit::NatsServer::start();
        let client = async_nats::connect(server.url()).await.unwrap();
        let acks = Acks::start(client, Duration::from_secs(30), steady())
            .await
            .unwrap();
        // On this single thread the router has not been polled yet.
        acks.router.abort();
        until("the router closes", || acks.is_closed()).await;
    }

    /// A store handle whose router stopped keeps appending, through `send_publish`, even
    /// when busy.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_handle_whose_router_stopped_keeps_appending() {
        let server = aether_testkit::NatsServer::start();
        let store = JetStreamEventStore::connect(
            &server.url(),
            Namespace::new(format!("routerless-{}", std::process::id())).unwrap(),
            JetStreamStoreOptions::new(),
        )
        .await
        .unwrap();
        store.inner.acks.router.abort();
        until("the router closes", || store.inner.acks.is_closed()).await;
        let started = Instant::now();
        let all = (0..32).map(|a| {
            let store = &store;
            async move {
                let actor = ActorId::new(format!("acc-{a}")).unwrap();
                for v in 0..4u64 {
                    let event = NewEvent::new("Tested", format!("{a}-{v}").into_bytes());
                    let done = store
                        .append(&actor, ExpectedVersion::Exact(v), vec![event])
                        .await
                        .unwrap();
                    assert_eq!(done.version, v + 1);
                }
            }
        });
        futures::future::join_all(all).await;
        // Each append's first attempt is the one: a handle that kept trying its stopped
        // router would fail and pause (25 ms and more, growing) before retries until few
        // enough waited, about 2 s in all for these 128 appends, which take about 0.1 s.
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "took {:?}",
            started.elapsed()
        );
    }
}
