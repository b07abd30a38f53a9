//! Helpers shared by the server-backed fault tests: deterministic events, appends retried
//! until acknowledged, and history checks.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use aether_core::{
    ActorId, Appended, ErrorKind, EventStore, EventStoreExt, ExpectedVersion, Namespace, NewEvent,
    Uuid,
};
use aether_store_jetstream::{JetStreamEventStore, JetStreamStoreOptions};

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
