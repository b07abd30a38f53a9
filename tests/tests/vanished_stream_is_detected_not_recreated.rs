//! A stream that disappears under a running store (deleted by an operator, lost with its
//! servers) is reported as an error, never recreated empty: appends, reads and new handles
//! all refuse (a new open naming the stream and the registry), and the stream stays gone.
//! Events and snapshots alike.
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

/// A store on a fresh namespace holding some history and a snapshot of `actor(0)`, whose
/// stream `pick` chooses has then been deleted behind its back.
struct Vanished {
    server: NatsServer,
    ns: Namespace,
    store: JetStreamEventStore,
    js: jetstream::Context,
    /// The deleted stream.
    name: String,
}

impl Vanished {
    async fn new(prefix: &str, pick: fn(&JetStreamEventStore) -> &str) -> Vanished {
        let server = NatsServer::start();
        let ns = namespace(prefix);
        let store = connect(&server.url(), &ns, options()).await;
        let id = actor(0);
        store
            .append(&id, ExpectedVersion::Exact(0), batch(0, 0, 3))
            .await
            .expect("append");
        store
            .save_snapshot(ActorSnapshot::new(id, 3, 1, b"state".to_vec()))
            .await
            .expect("snapshot");
        let js = jetstream::new(store.client().clone());
        let name = pick(&store).to_owned();
        js.delete_stream(&name)
            .await
            .expect("deleting a stream behind the store's back");
        Vanished {
            server,
            ns,
            store,
            js,
            name,
        }
    }

    /// A new open of the namespace refuses, naming the vanished stream and the registry
    /// that records it; and nothing recreated the stream.
    async fn assert_reopen_refused_and_stream_gone(&self) {
        let err = JetStreamEventStore::connect(&self.server.url(), self.ns.clone(), options())
            .await
            .expect_err("opening a namespace whose stream vanished");
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        let text = err.to_string();
        assert!(
            text.contains(&self.name)
                && text.contains("vanished")
                && text.contains("aether_registry"),
            "the error names the stream, says it vanished and names the registry: {text}"
        );
        let missing = self
            .js
            .get_stream(&self.name)
            .await
            .expect_err("the stream was recreated");
        assert!(missing.to_string().contains("not found"), "{missing}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vanished_event_stream_is_an_error_and_stays_gone() {
    let gone = Vanished::new("gone", |s| s.events_stream()).await;
    let (store, name) = (&gone.store, &gone.name);

    // The open handle reports the loss instead of writing into a new, empty stream.
    let id = actor(0);
    let err = store
        .append(&id, ExpectedVersion::Exact(3), batch(0, 1, 1))
        .await
        .expect_err("append to a vanished stream");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(
        err.to_string().contains(name),
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

    gone.assert_reopen_refused_and_stream_gone().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vanished_snapshot_stream_is_an_error_and_stays_gone() {
    let gone = Vanished::new("gonesn", |s| s.snapshots_stream()).await;
    let store = &gone.store;

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

    gone.assert_reopen_refused_and_stream_gone().await;
    // The events themselves are untouched.
    assert_eq!(store.read_all(&id).await.expect("events").len(), 3);
}
