//! An ask's technical error says what happened to the command in its own text and keeps
//! the store's error as its `source()`: walking the chain of real errors (an append that
//! fails, a load that fails, an event that does not decode) finds each layer's text exactly
//! once, and the store's cause is there.

mod common;

use aether_actor::{ActorSystem, AskError, AskErrorKind};
use aether_core::{ErrorKind, EventStore, ExpectedVersion, NewEvent};
use common::{id, TestStore, Wallet, WalletCommand};

/// The text of each layer of `e`'s chain, `e` first.
fn layers(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
    std::iter::successors(Some(e), |e| (*e).source())
        .map(ToString::to_string)
        .collect()
}

/// Asserts that every layer of `e` says something, and that joined as a reporter prints
/// them, each layer's text appears exactly once. Returns the layers.
fn assert_each_layer_once(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let layers = layers(e);
    let joined = layers.join(": ");
    for layer in &layers {
        assert!(!layer.is_empty(), "an empty layer in {joined}");
        assert_eq!(
            joined.matches(layer.as_str()).count(),
            1,
            "{layer:?} in {joined}"
        );
    }
    layers
}

#[tokio::test]
async fn a_failed_append_says_the_outcome_and_keeps_the_store_error_as_its_source(
) -> anyhow::Result<()> {
    let store = TestStore::new();
    let system = ActorSystem::builder().store(store.clone()).build()?;
    let wallets = system.actors::<Wallet>();
    let w = id("w-store");
    wallets.ask(&w, WalletCommand::Deposit(1)).await??;

    store.set_fail_appends(true);
    let err = wallets
        .ask(&w, WalletCommand::Deposit(2))
        .await
        .unwrap_err();
    let AskError::Store(cause) = &err else {
        panic!("a store error, not {err:?}");
    };
    assert_eq!(cause.kind(), ErrorKind::Unavailable);
    let layers = assert_each_layer_once(&err);
    assert_eq!(
        layers,
        [
            "storing the command's events failed; its outcome may be unknown",
            "unavailable: injected append failure",
            "test store",
        ]
    );
    Ok(())
}

#[tokio::test]
async fn a_failed_load_says_the_command_did_not_run_and_keeps_the_store_error_as_its_source(
) -> anyhow::Result<()> {
    let store = TestStore::new();
    let system = ActorSystem::builder().store(store.clone()).build()?;
    let wallets = system.actors::<Wallet>();
    let w = id("w-load");

    store.set_fail_snapshots(true);
    let err = wallets
        .ask(&w, WalletCommand::Deposit(2))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), AskErrorKind::Load, "{err:?}");
    let layers = assert_each_layer_once(&err);
    assert_eq!(
        layers,
        [
            "loading the actor failed; the command did not run",
            "unavailable: injected snapshot failure",
            "test store",
        ]
    );
    Ok(())
}

#[tokio::test]
async fn an_event_that_does_not_decode_names_it_once_and_keeps_the_decoder_error_as_its_source(
) -> anyhow::Result<()> {
    let store = TestStore::new();
    let w = id("w-codec");
    let junk = NewEvent::new("Deposited", b"\xc1".to_vec());
    store
        .mem()
        .append(&w, ExpectedVersion::Exact(0), vec![junk])
        .await?;
    let system = ActorSystem::builder().store(store.clone()).build()?;
    let err = system
        .actors::<Wallet>()
        .ask(&w, WalletCommand::Peek)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), AskErrorKind::Codec, "{err:?}");
    let layers = assert_each_layer_once(&err);
    // The event, named once on top; the MessagePack decoder's own words below it.
    assert!(layers.len() >= 2, "{layers:?}");
    assert!(
        layers[0].starts_with("codec error: ") && layers[0].contains("w-codec"),
        "{layers:?}"
    );
    assert!(
        layers[1..].iter().all(|l| !l.contains("w-codec")),
        "{layers:?}"
    );
    Ok(())
}
