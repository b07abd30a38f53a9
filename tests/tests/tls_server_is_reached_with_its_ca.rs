//! A server that requires TLS: the store connects when given the CA that signed the
//! server's certificate (and stores and reads events over TLS), and without it fails with
//! an error that names the certificate problem instead of hanging or panicking. A server
//! that also verifies clients takes the store with a client certificate and refuses it
//! without one.
#![cfg(feature = "itest")]

mod common;

use aether_core::{EventStore, EventStoreExt, ExpectedVersion};
use aether_store_jetstream::{ConnectionOptions, JetStreamEventStore, JetStreamStoreOptions};
use aether_testkit::NatsServer;
use common::{actor, batch, namespace};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_the_servers_ca() {
    let server = NatsServer::builder().tls().start();
    let ca = server.ca_certificate().expect("a TLS server has a CA");
    let opts = JetStreamStoreOptions::new().connection(
        ConnectionOptions::new()
            .require_tls(true)
            .tls_root_certificates(&ca),
    );
    let store = JetStreamEventStore::connect(&server.url(), namespace("tls"), opts)
        .await
        .expect("connect over TLS");
    let id = actor(0);
    store
        .append(&id, ExpectedVersion::Exact(0), batch(0, 0, 3))
        .await
        .expect("append over TLS");
    assert_eq!(store.read_all(&id).await.expect("read").len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_without_the_ca_is_refused_clearly() {
    let server = NatsServer::builder().tls().start();
    for connection in [
        ConnectionOptions::new(),
        ConnectionOptions::new().require_tls(true),
    ] {
        let opts = JetStreamStoreOptions::new().connection(connection);
        let err = JetStreamEventStore::connect(&server.url(), namespace("tls"), opts)
            .await
            .expect_err("a certificate from an unknown CA must be refused");
        assert_eq!(err.kind(), aether_core::ErrorKind::InvalidInput, "{err:?}");
        let text = err.to_string().to_lowercase();
        assert!(
            text.contains("tls") || text.contains("certificate"),
            "the error should name the TLS failure: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_needs_the_client_certificate() {
    let server = NatsServer::builder().mutual_tls().start();
    let ca = server.ca_certificate().expect("a TLS server has a CA");
    let (cert, key) = server.client_certificate().expect("a client certificate");
    let with_ca = || {
        ConnectionOptions::new()
            .require_tls(true)
            .tls_root_certificates(&ca)
    };
    let refused = JetStreamEventStore::connect(
        &server.url(),
        namespace("tls"),
        JetStreamStoreOptions::new().connection(with_ca()),
    )
    .await
    .expect_err("a client without a certificate must be refused");
    assert_eq!(
        refused.kind(),
        aether_core::ErrorKind::InvalidInput,
        "{refused:?}"
    );
    assert!(refused.to_string().contains("TLS"), "{refused}");
    let opts =
        JetStreamStoreOptions::new().connection(with_ca().tls_client_certificate(&cert, &key));
    let store = JetStreamEventStore::connect(&server.url(), namespace("tls"), opts)
        .await
        .expect("connect with a client certificate");
    let id = actor(1);
    store
        .append(&id, ExpectedVersion::Exact(0), batch(1, 0, 2))
        .await
        .expect("append over mutual TLS");
    assert_eq!(store.read_all(&id).await.expect("read").len(), 2);
}
