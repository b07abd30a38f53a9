//! A server that requires TLS: the store connects when given the CA that signed the
//! server's certificate (and stores and reads events over TLS), and without it fails with
//! an error that names the certificate problem instead of hanging or panicking.
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
