//! A server that requires TLS: the store connects when given the CA that signed the
//! server's certificate (and stores and reads events over TLS), and without it fails with
//! an error that names the certificate problem instead of hanging or panicking. A server
//! that also verifies clients takes the store with a client certificate and refuses it
//! without one.
#![cfg(feature = "itest")]

mod common;

use aether_store_jetstream::ConnectionOptions;
use aether_testkit::NatsServer;
use common::{assert_stores_with, refused_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_the_servers_ca() {
    let server = NatsServer::builder().tls().start();
    let ca = server.ca_certificate().expect("a TLS server has a CA");
    let connection = ConnectionOptions::new()
        .require_tls(true)
        .tls_root_certificates(&ca);
    assert_stores_with(&server.url(), connection, "over TLS").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_without_the_ca_is_refused_clearly() {
    let server = NatsServer::builder().tls().start();
    for connection in [
        ConnectionOptions::new(),
        ConnectionOptions::new().require_tls(true),
    ] {
        // A certificate from an unknown CA must be refused.
        let err = refused_with(&server.url(), connection).await;
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
    // A client without a certificate must be refused.
    let refused = refused_with(&server.url(), with_ca()).await;
    assert!(refused.to_string().contains("TLS"), "{refused}");
    let with_cert = with_ca().tls_client_certificate(&cert, &key);
    assert_stores_with(&server.url(), with_cert, "over mutual TLS").await;
}
