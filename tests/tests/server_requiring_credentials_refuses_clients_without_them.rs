//! A server that requires credentials (user and password, or a token) refuses a store
//! connecting without them or with wrong ones, with an error that says so; with the right
//! credentials the store works.
#![cfg(feature = "itest")]

mod common;

use aether_core::{EventStore, EventStoreExt, ExpectedVersion};
use aether_store_jetstream::{ConnectionOptions, JetStreamEventStore, JetStreamStoreOptions};
use aether_testkit::{Auth, NatsServer};
use common::{actor, batch, namespace};

async fn refused(url: &str, connection: ConnectionOptions) -> String {
    let ns = namespace("auth");
    let opts = JetStreamStoreOptions::new().connection(connection);
    let err = JetStreamEventStore::connect(url, ns, opts)
        .await
        .expect_err("connect must be refused");
    let text = err.to_string();
    assert!(
        text.to_lowercase().contains("authori"),
        "the error should say authorization failed: {text}"
    );
    text
}

async fn works(url: &str, connection: ConnectionOptions) {
    let ns = namespace("auth");
    let opts = JetStreamStoreOptions::new().connection(connection);
    let store = JetStreamEventStore::connect(url, ns, opts)
        .await
        .expect("connect with credentials");
    let id = actor(0);
    store
        .append(&id, ExpectedVersion::Exact(0), batch(0, 0, 2))
        .await
        .expect("append");
    assert_eq!(store.read_all(&id).await.expect("read").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_and_password_are_required() {
    let server = NatsServer::builder()
        .auth(Auth::user_password("aether", "s3cret"))
        .start();
    refused(&server.url(), ConnectionOptions::new()).await;
    refused(
        &server.url(),
        ConnectionOptions::new().user_and_password("aether", "wrong"),
    )
    .await;
    works(
        &server.url(),
        ConnectionOptions::new().user_and_password("aether", "s3cret"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_is_required() {
    let server = NatsServer::builder().auth(Auth::token("t0ken")).start();
    refused(&server.url(), ConnectionOptions::new()).await;
    refused(&server.url(), ConnectionOptions::new().token("other")).await;
    works(&server.url(), ConnectionOptions::new().token("t0ken")).await;
}
