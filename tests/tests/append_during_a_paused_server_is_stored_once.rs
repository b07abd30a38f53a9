//! A server paused with SIGSTOP during an append: the append fails with a transient error
//! within the store's deadline instead of hanging; the publish it sent is still processed
//! when the server resumes, so the caller's retry with the same event ids (a lost
//! acknowledgement) must be recognised: the events are stored exactly once.
#![cfg(feature = "itest")]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aether_core::{EventStore, EventStoreExt, ExpectedVersion};
use aether_store_jetstream::JetStreamStoreOptions;
use aether_testkit::NatsServer;
use common::{actor, append_until_acked, assert_history, batch, connect, namespace};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_during_a_paused_server_is_stored_once() {
    let server = Arc::new(NatsServer::start());
    let ns = namespace("pause");
    let opts = JetStreamStoreOptions::new()
        .retry_deadline(Duration::from_secs(2))
        .request_timeout(Duration::from_secs(1));
    let store = connect(&server.url(), &ns, opts.clone()).await;
    let id = actor(0);
    store
        .append(&id, ExpectedVersion::Exact(0), batch(0, 0, 3))
        .await
        .expect("first append");

    server.pause();
    let started = Instant::now();
    let outcome = tokio::time::timeout(
        Duration::from_secs(30),
        store.append(&id, ExpectedVersion::Exact(3), batch(0, 1, 2)),
    )
    .await
    .expect("an append to a paused server must give up, not hang");
    let waited = started.elapsed();
    let err = outcome.expect_err("a paused server cannot acknowledge");
    assert!(
        err.is_transient(),
        "a paused server is a transient failure: {err}"
    );
    assert!(waited < Duration::from_secs(15), "gave up after {waited:?}");

    resume(&server).await;

    // The caller does not know whether the append was stored: it retries the same events.
    let (appended, _) =
        append_until_acked(&store, &id, 3, batch(0, 1, 2), Duration::from_secs(30)).await;
    assert_eq!(appended.version, 5);
    // The publish sent while the server was stopped sat in its socket and was stored on
    // resume: the retry is the lost-acknowledgement case.
    assert!(
        appended.duplicate,
        "the retry should find the paused append already stored"
    );
    let fresh = connect(&server.url(), &ns, opts).await;
    assert_history(&fresh, 0, 2, |r| if r == 0 { 3 } else { 2 }).await;
    assert_eq!(
        store.read_all(&id).await.expect("read").len(),
        5,
        "stored exactly once"
    );
}

/// Many appends in flight when the server is paused (so most are acknowledged through the
/// store's shared reply subscription, whose timeouts come from its tick clock): each gives
/// up with a transient error within the deadline, and each caller's retry after resume
/// finds its events stored exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_appends_during_a_paused_server_are_each_stored_once() {
    const ACTORS: usize = 16;
    let server = Arc::new(NatsServer::start());
    let ns = namespace("pause-many");
    let opts = JetStreamStoreOptions::new()
        .retry_deadline(Duration::from_secs(2))
        .request_timeout(Duration::from_secs(1));
    let store = Arc::new(connect(&server.url(), &ns, opts.clone()).await);
    for a in 0..ACTORS {
        store
            .append(&actor(a), ExpectedVersion::Exact(0), batch(a, 0, 3))
            .await
            .expect("first append");
    }

    server.pause();
    let started = Instant::now();
    let pending: Vec<_> = (0..ACTORS)
        .map(|a| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .append(&actor(a), ExpectedVersion::Exact(3), batch(a, 1, 2))
                    .await
            })
        })
        .collect();
    for p in pending {
        let outcome = tokio::time::timeout(Duration::from_secs(30), p)
            .await
            .expect("an append to a paused server must give up, not hang")
            .expect("task");
        let err = outcome.expect_err("a paused server cannot acknowledge");
        assert!(
            err.is_transient(),
            "a paused server is a transient failure: {err}"
        );
    }
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(15), "gave up after {waited:?}");

    resume(&server).await;

    let mut duplicates = 0;
    for a in 0..ACTORS {
        let (appended, _) = append_until_acked(
            &*store,
            &actor(a),
            3,
            batch(a, 1, 2),
            Duration::from_secs(30),
        )
        .await;
        assert_eq!(appended.version, 5);
        duplicates += usize::from(appended.duplicate);
    }
    // Every publish sent while the server was stopped was stored on resume.
    assert_eq!(duplicates, ACTORS, "every retry is a lost acknowledgement");
    let fresh = connect(&server.url(), &ns, opts).await;
    // Each actor holds exactly its two appends, in order: nothing stored twice.
    for a in 0..ACTORS {
        assert_history(&fresh, a, 2, |r| if r == 0 { 3 } else { 2 }).await;
    }
}

/// Resumes the paused server and waits until it is ready (blocking work, off the runtime).
async fn resume(server: &Arc<NatsServer>) {
    let s = server.clone();
    tokio::task::spawn_blocking(move || {
        s.resume();
        s.wait_ready(Duration::from_secs(10));
    })
    .await
    .expect("resume");
}
