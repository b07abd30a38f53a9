//! The actor runtime on a JetStream store whose event stream has a small `max_bytes`: asks
//! fill the stream until the server refuses an append; the refusal is a clear store error
//! saying the stream is full; later asks are refused alike; the actor keeps the state of
//! every acknowledged command (none lost, none applied twice); and every stored event is
//! still readable, from a fresh connection too.
#![cfg(feature = "itest")]

mod common;
mod runtime;

use std::time::Duration;

use aether::{AskError, AskErrorKind, EventStoreExt};
use aether_core::ErrorKind;
use aether_testkit::NatsServer;
use common::{connect, namespace, options};
use runtime::{ask_once, assert_stored_once, system, tally, Asked, Tally, TallyCommand};

/// The event stream's limit: room for about a hundred one-event appends.
const MAX_BYTES: u64 = 32 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtime_on_a_full_stream_refuses_appends_and_keeps_every_event() {
    let server = NatsServer::start();
    let ns = namespace("rt-full");
    let opts = options().max_bytes(Some(MAX_BYTES));
    let store = connect(&server.url(), &ns, opts.clone()).await;
    let sys = system(store.clone(), Duration::from_secs(10));
    let tallies = sys.actors::<Tally>();
    let actor = tally(0);

    // Fill the stream: one event per ask, each well under 1 KiB, so it fills within a few
    // hundred asks at most.
    let mut asked: Vec<Asked> = Vec::new();
    let refusal = loop {
        assert!(asked.len() < 1_000, "{MAX_BYTES} bytes never filled up");
        let n = asked.len() as u64 + 1;
        let a = ask_once(&tallies, &actor, n, aether::new_id()).await;
        if let Some(f) = &a.failure {
            break f.clone();
        }
        asked.push(a);
    };
    let acked = asked.len() as u64;
    eprintln!(
        "{acked} asks stored, then: {}: {}",
        refusal.kind, refusal.message
    );
    assert!(acked >= 10, "only {acked} asks fitted in {MAX_BYTES} bytes");
    assert_full(&refusal.kind, &refusal.message);
    // The next ask is refused alike (the actor reloads from the store after a failed
    // append); none of the refused commands stored anything (checked below: every stored
    // event belongs to an acknowledged ask).
    let full = tallies
        .ask(&actor, TallyCommand::Add(1))
        .await
        .expect_err("full");
    check_refusal(&full);

    // The actor kept the state of exactly the acknowledged commands.
    let sum: u64 = asked.iter().map(|a| a.n).sum();
    let total = tallies.ask(&actor, TallyCommand::Total).await;
    assert_eq!(total.expect("answered"), Ok(sum));
    for _ in 0..3 {
        let again = tallies
            .ask(&actor, TallyCommand::Add(7))
            .await
            .expect_err("still full");
        check_refusal(&again);
    }
    let total = tallies.ask(&actor, TallyCommand::Total).await;
    assert_eq!(
        total.expect("answered"),
        Ok(sum),
        "refused asks changed nothing"
    );
    sys.shutdown().await;

    // Every event is readable, here and on a fresh connection, each command once.
    for s in [store, connect(&server.url(), &ns, opts).await] {
        assert_eq!(s.count_events(&actor).await.expect("count"), acked);
        assert_eq!(assert_stored_once(&s, &actor, &asked, false).await, sum);
    }
}

/// The error of an append to a full stream, as a caller sees it: a store error that no
/// retry fixes, not a conflict, saying (in its chain) that the stream is over its limit.
fn check_refusal(e: &AskError<TallyCommand>) {
    assert_full(&e.kind(), &common::chain(e));
    assert!(!e.is_retryable(), "a full stream stays full: {e}");
    // A definite refusal: nothing was stored, so the command did not run.
    assert!(!e.may_have_run(), "a refused append stored nothing: {e}");
    if let AskError::Store(inner) = e {
        assert_eq!(inner.kind(), ErrorKind::InvalidInput, "{inner}");
    }
}

/// The refusal is a store error whose message says the stream is over its byte limit.
fn assert_full(kind: &AskErrorKind, message: &str) {
    assert_eq!(*kind, AskErrorKind::Store, "{message}");
    assert!(
        message.contains("maximum bytes exceeded"),
        "the refusal does not say the stream is over its limit: {message}"
    );
}
