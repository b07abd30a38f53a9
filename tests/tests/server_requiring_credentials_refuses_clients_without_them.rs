//! A server that requires credentials (user and password, a token, an NKey, or a user JWT
//! of its operator's account, as a `.creds` file or its content) refuses a store connecting
//! without them or with wrong ones, with an error that says so; with the right credentials
//! the store works.
#![cfg(feature = "itest")]

mod common;

use aether_store_jetstream::ConnectionOptions;
use aether_testkit::{Auth, NatsServer};
use common::{assert_stores_with, chain, refused_with};

/// Connects with `connection` and checks the refusal: invalid input (no retry fixes wrong
/// credentials), pointing at the credentials, with the server's word that authorization
/// failed in its chain (this layer's message, then its sources).
async fn refused(url: &str, connection: ConnectionOptions) {
    let err = refused_with(url, connection).await;
    let text = chain(&err).to_lowercase();
    assert!(
        text.contains("authori") && err.to_string().contains("credentials"),
        "the error should say authorization failed and name the credentials: {text}"
    );
}

/// Connects with `connection` and checks that the store appends and reads.
async fn works(url: &str, connection: ConnectionOptions) {
    assert_stores_with(url, connection, "with credentials").await;
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
    let malformed = ConnectionOptions::new().nkey("SUNOTASEED");
    let err = refused_with(&server.url(), malformed).await;
    assert!(err.to_string().to_lowercase().contains("nkey"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_jwt_credentials_are_required() {
    let operator = aether_testkit::jwt::Operator::generate();
    let server = NatsServer::builder()
        .auth(Auth::operator(&operator))
        .start();
    refused(&server.url(), ConnectionOptions::new()).await;
    refused(
        &server.url(),
        ConnectionOptions::new().credentials(aether_testkit::jwt::Operator::stranger_creds()),
    )
    .await;
    works(
        &server.url(),
        ConnectionOptions::new().credentials(operator.user_creds()),
    )
    .await;
    let dir = std::env::temp_dir().join(format!("aether-creds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("user.creds");
    std::fs::write(&file, operator.user_creds()).expect("write creds");
    works(
        &server.url(),
        ConnectionOptions::new().credentials_file(&file),
    )
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_missing_creds_file_is_invalid_input() {
    let server = NatsServer::builder()
        .auth(Auth::operator(&aether_testkit::jwt::Operator::generate()))
        .start();
    let missing = ConnectionOptions::new().credentials_file("/nonexistent/aether.creds");
    let err = refused_with(&server.url(), missing).await;
    assert!(err.to_string().contains("aether.creds"), "{err}");
}
