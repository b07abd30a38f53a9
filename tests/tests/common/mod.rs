//! Helpers shared by the server-backed fault tests: deterministic events, appends retried
//! until acknowledged, and history checks.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code, reason = "each test binary uses a part of these helpers")]

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use aether_core::{
    ActorId, Appended, ErrorKind, EventStore, EventStoreExt, ExpectedVersion, Namespace, NewEvent,
    Uuid,
};
use aether_store_jetstream::async_nats::jetstream;
use aether_store_jetstream::{ConnectionOptions, JetStreamEventStore, JetStreamStoreOptions};

/// The environment variable that asks for long fault tests: `1` (set by
/// `cargo xtask itest --long`) raises their repetition counts; unset or `0` keeps the
/// normal ones.
pub(crate) const LONG_ENV: &str = "AETHER_LONG";

/// `normal`, or `long` when [`LONG_ENV`] is `1`.
///
/// # Panics
/// When [`LONG_ENV`] holds anything but `0` or `1`: a typo must not quietly run the short
/// test.
pub(crate) fn repetitions(normal: usize, long: usize) -> usize {
    match std::env::var(LONG_ENV).as_deref() {
        Err(std::env::VarError::NotPresent) | Ok("" | "0") => normal,
        Ok("1") => long,
        Ok(other) => panic!("{LONG_ENV} must be 0 or 1, not {other:?}"),
        Err(e) => panic!("{LONG_ENV}: {e}"),
    }
}

/// A fresh namespace for one test (tests of one binary share nothing).
pub(crate) fn namespace(prefix: &str) -> Namespace {
    aether_testkit::conformance::unique_namespace(prefix)
}

/// The actor id of writer `i`.
pub(crate) fn actor(i: usize) -> ActorId {
    ActorId::new(format!("acc-{i:04}")).expect("valid actor id")
}

/// A deterministic event id for event `n` of append `round` of actor `a`, so that a check
/// knows every id without recording it.
pub(crate) fn event_id(a: usize, round: usize, n: usize) -> Uuid {
    Uuid::from_u128(((a as u128) << 64) | ((round as u128) << 16) | n as u128 | (1 << 127))
}

/// The `size` events of append `round` of actor `a`.
pub(crate) fn batch(a: usize, round: usize, size: usize) -> Vec<NewEvent> {
    (0..size)
        .map(|n| {
            NewEvent::new("MoneyDeposited", format!("{a}/{round}/{n}").into_bytes())
                .with_id(event_id(a, round, n))
        })
        .collect()
}

/// Store options for fault tests: operations ride out a server restart or a leader election.
pub(crate) fn options() -> JetStreamStoreOptions {
    JetStreamStoreOptions::new().retry_deadline(Duration::from_secs(30))
}

/// Connects a store, retrying while the server or cluster settles.
pub(crate) async fn connect(
    url: &str,
    ns: &Namespace,
    options: JetStreamStoreOptions,
) -> JetStreamEventStore {
    aether_testkit::retry_while_transient(Duration::from_secs(30), || {
        JetStreamEventStore::connect(url, ns.clone(), options.clone())
    })
    .await
    .unwrap_or_else(|e| {
        panic!(
            "connecting a store to {url}: {} error: {e} ({e:?})",
            e.kind()
        )
    })
}

/// An error's message followed by those of its sources that it does not already hold, as a
/// log line would show the whole chain.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = s.source();
    }
    text
}

/// Opens a store on `url` with `connection` and checks that it works: an append of two
/// events to `actor(0)` is acknowledged at version 2 and reads back.
///
/// # Panics
/// When the store cannot connect, append or read; `what` names the connection.
pub(crate) async fn assert_stores_with(url: &str, connection: ConnectionOptions, what: &str) {
    let opts = JetStreamStoreOptions::new().connection(connection);
    let store = JetStreamEventStore::connect(url, namespace("conn"), opts)
        .await
        .unwrap_or_else(|e| panic!("connect {what}: {e:?}"));
    let id = actor(0);
    let appended = store
        .append(&id, ExpectedVersion::Exact(0), batch(0, 0, 2))
        .await
        .unwrap_or_else(|e| panic!("append {what}: {e:?}"));
    assert_eq!(appended.version, 2, "append {what}");
    let read = store.read_all(&id).await;
    assert_eq!(read.expect("read").len(), 2, "read {what}");
}

/// Opens a store on `url` with `connection`, which must be refused as invalid input (no
/// retry fixes a connection the server will not take); returns the error for the caller's
/// checks of its message.
pub(crate) async fn refused_with(url: &str, connection: ConnectionOptions) -> aether_core::Error {
    let opts = JetStreamStoreOptions::new().connection(connection);
    let err = JetStreamEventStore::connect(url, namespace("conn"), opts)
        .await
        .expect_err("connect must be refused");
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err:?}");
    assert!(!err.is_transient(), "{err:?}");
    err
}

/// Appends `events` with `Exact(expected)`, retrying with the same event ids after any
/// transient failure (the outcome of such an append is unknown) until it is acknowledged.
/// Returns the acknowledgement and the number of failed attempts.
///
/// # Panics
/// On a conflict (the caller is the actor's only writer, so a re-sent append must be
/// recognised as its own), a non-transient error, or after `patience` of failures.
pub(crate) async fn append_until_acked(
    store: &dyn EventStore,
    actor: &ActorId,
    expected: u64,
    events: Vec<NewEvent>,
    patience: Duration,
) -> (Appended, usize) {
    let deadline = Instant::now() + patience;
    let mut failures = 0;
    loop {
        match store
            .append(actor, ExpectedVersion::Exact(expected), events.clone())
            .await
        {
            Ok(a) => {
                let n = events.len() as u64;
                assert_eq!(
                    (a.first_version, a.version),
                    (expected + 1, expected + n),
                    "acknowledged versions of {actor} at {expected} (+{n})"
                );
                return (a, failures);
            }
            Err(e) if e.kind() != ErrorKind::Conflict && e.kind() != ErrorKind::InvalidInput => {
                failures += 1;
                assert!(
                    Instant::now() < deadline,
                    "append to {actor} at {expected} still failing after {patience:?}: {e}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("append to {actor} at {expected} (single writer, retried ids): {e}"),
        }
    }
}

/// Checks that `actor`'s history is exactly `rounds` appends of `size(round)` events each,
/// written by writer `a` with [`batch`]: versions 1..n contiguous, every event in place.
pub(crate) async fn assert_history(
    store: &dyn EventStore,
    a: usize,
    rounds: usize,
    size: impl Fn(usize) -> usize,
) {
    let id = actor(a);
    let events = store
        .read_all(&id)
        .await
        .unwrap_or_else(|e| panic!("reading {id}: {e}"));
    let expected: Vec<NewEvent> = (0..rounds).flat_map(|r| batch(a, r, size(r))).collect();
    assert_eq!(
        events.len(),
        expected.len(),
        "{id}: {} events stored, {} acknowledged",
        events.len(),
        expected.len()
    );
    for (i, (got, want)) in events.iter().zip(&expected).enumerate() {
        assert_eq!(
            got.version,
            i as u64 + 1,
            "{id}: gap or disorder at position {i}"
        );
        assert!(
            want.same_content(got),
            "{id} version {}: stored {:?}, acknowledged {:?}",
            got.version,
            got.id,
            want.id
        );
    }
    assert_eq!(
        store.latest_version(&id).await.expect("latest version"),
        expected.len() as u64
    );
}

/// The index of the server leading the event stream of `store`, a stream of 3 replicas
/// on a cluster whose servers are named `n0`, `n1`, ...; waits for an election in progress.
///
/// # Panics
/// When the stream has no leader within 30 s.
pub(crate) async fn stream_leader(store: &JetStreamEventStore) -> usize {
    let js = jetstream::new(store.client().clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let info = match js.get_stream(store.events_stream()).await {
            Ok(mut s) => s.info().await.cloned().ok(),
            Err(_) => None,
        };
        if let Some(info) = info {
            assert_eq!(info.config.num_replicas, 3);
            if let Some(leader) = info.cluster.and_then(|c| c.leader) {
                return leader
                    .trim_start_matches('n')
                    .parse()
                    .expect("leader name nX");
            }
        }
        assert!(Instant::now() < deadline, "no event stream leader in 30 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Which operations each kill of a server hit in flight: those started before the killed
/// process was gone and finished (acknowledged or answered) after. Kills run one after
/// another; operations run concurrently with them. (Counting from the moment a kill is
/// begun instead would miss most: sending the signals takes long enough for the operations
/// in flight then to finish before the process dies.)
pub(crate) struct KillLog {
    done: AtomicUsize,
    hits: Vec<AtomicUsize>,
}

impl KillLog {
    /// A log for `kills` kills.
    pub(crate) fn new(kills: usize) -> Self {
        KillLog {
            done: AtomicUsize::new(0),
            hits: (0..kills).map(|_| AtomicUsize::new(0)).collect(),
        }
    }

    /// Call right before starting an operation; hand the mark to [`finished`](Self::finished).
    pub(crate) fn started(&self) -> usize {
        self.done.load(SeqCst)
    }

    /// Call once the operation started at `mark` has finished: every kill done since the
    /// mark hit it in flight.
    pub(crate) fn finished(&self, mark: usize) {
        let done = self.done.load(SeqCst);
        for hit in self.hits.iter().take(done).skip(mark) {
            hit.fetch_add(1, SeqCst);
        }
    }

    /// Runs `kill`, which must return once the process is gone, as the next kill.
    pub(crate) fn kill(&self, kill: impl FnOnce()) {
        kill();
        let k = self.done.fetch_add(1, SeqCst);
        assert!(k < self.hits.len(), "more kills than the log was made for");
    }

    /// How many operations each kill hit in flight.
    pub(crate) fn hits(&self) -> Vec<usize> {
        self.hits.iter().map(|h| h.load(SeqCst)).collect()
    }

    /// Checks that every kill hit at least one operation in flight.
    pub(crate) fn assert_every_kill_hit(&self, what: &str) {
        let hits = self.hits();
        assert!(
            hits.iter().all(|&h| h > 0),
            "every kill should hit {what} in flight; per kill: {hits:?}"
        );
    }
}
