//! A server that requires credentials (user and password, a token, or an NKey) refuses a
//! store connecting without them or with wrong ones, with an error that says so; with the
//! right credentials the store works.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nkey_is_required() {
    let user = nkeys::KeyPair::new_user();
    let server = NatsServer::builder()
        .auth(Auth::nkey(user.public_key()))
        .start();
    let seed = user.seed().expect("a generated key has a seed");
    let stranger = nkeys::KeyPair::new_user().seed().expect("seed");
    refused(&server.url(), ConnectionOptions::new()).await;
    refused(&server.url(), ConnectionOptions::new().nkey(stranger)).await;
    works(&server.url(), ConnectionOptions::new().nkey(seed)).await;
}

#[tokio::test]
async fn a_malformed_nkey_seed_is_invalid_input() {
    let server = NatsServer::builder()
        .auth(Auth::nkey(nkeys::KeyPair::new_user().public_key()))
        .start();
    let ns = namespace("auth");
    let opts = JetStreamStoreOptions::new().connection(ConnectionOptions::new().nkey("SUNOTASEED"));
    let err = JetStreamEventStore::connect(&server.url(), ns, opts)
        .await
        .expect_err("a malformed seed cannot connect");
    assert_eq!(err.kind(), aether_core::ErrorKind::InvalidInput, "{err:?}");
    assert!(err.to_string().to_lowercase().contains("nkey"), "{err}");
}
