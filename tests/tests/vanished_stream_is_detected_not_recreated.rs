//! A stream that disappears under a running store (deleted by an operator, lost with its
//! servers) is reported as an error, never recreated empty: appends, reads and new handles
//! all refuse, and the stream stays gone. Events and snapshots alike.
#![cfg(feature = "itest")]

mod common;

use std::time::Duration;

use aether_core::{
    ActorSnapshot, ErrorKind, EventStore, EventStoreExt, ExpectedVersion, Namespace,
};
use aether_store_jetstream::async_nats::jetstream;
use aether_store_jetstream::{JetStreamEventStore, JetStreamStoreOptions};
use aether_testkit::NatsServer;
use common::{actor, batch, connect, namespace};

/// Quick failure: a vanished stream must not be waited for.
fn options() -> JetStreamStoreOptions {
    JetStreamStoreOptions::new().retry_deadline(Duration::from_secs(3))
}

async fn stream_exists(js: &jetstream::Context, name: &str) -> bool {
    js.get_stream(name).await.is_ok()
}

/// Opens a store on `ns` and writes some history and a snapshot.
async fn populated(server: &NatsServer, ns: &Namespace) -> JetStreamEventStore {
    let store = connect(&server.url(), ns, options()).await;
    let id = actor(0);
    store
        .append(&id, ExpectedVersion::Exact(0), batch(0, 0, 3))
        .await
        .expect("append");
    store
        .save_snapshot(ActorSnapshot::new(id.clone(), 3, 1, b"state".to_vec()))
        .await
        .expect("snapshot");
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vanished_event_stream_is_an_error_and_stays_gone() {
    let server = NatsServer::start();
    let ns = namespace("gone");
    let store = populated(&server, &ns).await;
    let js = jetstream::new(store.client().clone());
    let name = store.events_stream().to_owned();
    js.delete_stream(&name)
        .await
        .expect("deleting the event stream behind the store's back");

    let id = actor(0);
    let err = store
        .append(&id, ExpectedVersion::Exact(3), batch(0, 1, 1))
        .await
        .expect_err("append to a vanished stream");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(
        err.to_string().contains(&name),
        "the error names the stream: {err}"
    );
    let err = store
        .append(&actor(1), ExpectedVersion::Exact(0), batch(1, 0, 1))
        .await
        .expect_err("new actor");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = store
        .read_all(&id)
        .await
        .expect_err("a read of a vanished stream must fail, not look empty");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = store
        .read(&actor(1), 1, u64::MAX, 10)
        .await
        .expect_err("a read of a never-written actor of a vanished stream must fail");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = store
        .latest_version(&id)
        .await
        .expect_err("latest_version of a vanished stream must fail, not say 0");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");

    let reopen = JetStreamEventStore::connect(&server.url(), ns.clone(), options()).await;
    let err = reopen.expect_err("opening a namespace whose stream vanished");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(
        !stream_exists(&js, &name).await,
        "the event stream was recreated"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vanished_snapshot_stream_is_an_error_and_stays_gone() {
    let server = NatsServer::start();
    let ns = namespace("gonesn");
    let store = populated(&server, &ns).await;
    let js = jetstream::new(store.client().clone());
    let name = store.snapshots_stream().to_owned();
    js.delete_stream(&name)
        .await
        .expect("deleting the snapshot stream");

    let id = actor(0);
    let err = store
        .load_snapshot(&id, None)
        .await
        .expect_err("a vanished snapshot stream must fail, not look empty");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = store
        .load_snapshot(&id, Some(2))
        .await
        .expect_err("a vanished snapshot stream must fail at or below a version too");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let saved = store
        .save_snapshot(ActorSnapshot::new(id.clone(), 3, 1, b"again".to_vec()))
        .await;
    assert_eq!(
        saved.expect_err("save to a vanished stream").kind(),
        ErrorKind::NotFound
    );

    let err = JetStreamEventStore::connect(&server.url(), ns, options())
        .await
        .expect_err("opening a namespace whose snapshot stream vanished");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(
        !stream_exists(&js, &name).await,
        "the snapshot stream was recreated"
    );
    // The events themselves are untouched.
    assert_eq!(store.read_all(&id).await.expect("events").len(), 3);
}
