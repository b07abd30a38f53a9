//! Headers set on an ask reach the metadata of every event the command stores, as stored
//! and as broadcast; keys the runtime reserves (beginning with `aether-`, in any case) and
//! empty keys refuse the ask before anything runs.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use aether_actor::{ActorSystem, AskError, AskErrorKind};
use aether_core::{BusMessage, ErrorKind, EventFilter};
use common::{history, id, TestStore, Wallet, WalletCommand};
use futures::StreamExt;

/// The headers of `e` that are not the runtime's own.
fn user_headers(e: &aether_core::Event) -> BTreeMap<String, String> {
    e.metadata
        .headers
        .iter()
        .filter(|(k, _)| !k.to_ascii_lowercase().starts_with("aether-"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn headers(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn headers_reach_every_stored_and_broadcast_event() -> anyhow::Result<()> {
    let store = TestStore::new();
    let system = ActorSystem::builder().store(store.clone()).build()?;
    let mut sub = system.subscribe(EventFilter::all()).await?;
    let wallets = system.actors::<Wallet>();
    let w = id("w-1");
    let reply = wallets
        .ask(&w, WalletCommand::DepositMany(vec![1, 2, 3]))
        .header("tenant", "acme")
        .header("user", "ann")
        // A key set twice keeps the last value.
        .header("tenant", "globex")
        // Only the prefix `aether-` is reserved.
        .header("aether", "a")
        .header("x-aether-trace", "t")
        .await?;
    assert_eq!(reply, Ok(6));
    // A later command without headers stores none of them.
    wallets.ask(&w, WalletCommand::Deposit(4)).await??;

    let want = headers(&[
        ("aether", "a"),
        ("tenant", "globex"),
        ("user", "ann"),
        ("x-aether-trace", "t"),
    ]);
    let stored = history(store.mem(), &w).await;
    assert_eq!(stored.len(), 4);
    for e in &stored[..3] {
        assert_eq!(user_headers(e), want, "event v{}", e.version);
    }
    assert_eq!(user_headers(&stored[3]), BTreeMap::new());

    // Broadcast as stored, headers included.
    for want in &stored {
        let got = tokio::time::timeout(Duration::from_secs(2), sub.next())
            .await
            .map_err(|_| anyhow::anyhow!("event v{} was never broadcast", want.version))?;
        match got {
            Some(BusMessage::Event(e)) => {
                assert_eq!(e.metadata.headers, want.metadata.headers);
                assert_eq!(*e, *want);
            }
            other => panic!("expected event v{}, got {other:?}", want.version),
        }
    }

    // Replayed with the events: still there after passivation, from the store.
    assert!(wallets.passivate(&w).await);
    assert_eq!(wallets.ask(&w, WalletCommand::Peek).await?, Ok(10));
    let again = history(store.mem(), &w).await;
    assert_eq!(user_headers(&again[0]), want);
    system.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn reserved_and_empty_header_keys_refuse_the_ask() -> anyhow::Result<()> {
    let store = TestStore::new();
    let system = ActorSystem::builder().store(store.clone()).build()?;
    let wallets = system.actors::<Wallet>();
    let w = id("w-1");
    let cases = [
        ("aether-reply", "reserves"),
        ("Aether-Reply", "reserves"),
        ("AETHER-SCHEMA", "reserves"),
        ("aether-", "reserves"),
        ("aether-tenant", "reserves"),
        ("", "empty"),
    ];
    for (key, why) in cases {
        // Valid headers around the bad one do not make it pass.
        let err = wallets
            .ask(&w, WalletCommand::DepositMany(vec![1, 2]))
            .header("tenant", "acme")
            .header(key, "x")
            .header("user", "ann")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), AskErrorKind::Invalid, "{key:?}");
        let AskError::Invalid(source) = &err else {
            panic!("{key:?}: expected Invalid, got {err:?}");
        };
        assert_eq!(source.kind(), ErrorKind::InvalidInput, "{key:?}");
        // The source says why, and names the key.
        let said = std::error::Error::source(&err)
            .map(ToString::to_string)
            .unwrap_or_default();
        assert!(said.contains(why), "{key:?}: {said}");
        if !key.is_empty() {
            assert!(said.contains(&format!("{key:?}")), "{key:?}: {said}");
        }

        // Told, it is refused the same way.
        let told = wallets
            .ask(&w, WalletCommand::Deposit(1))
            .header(key, "x")
            .tell();
        assert!(
            matches!(told, Err(AskError::Invalid(_))),
            "{key:?}: {told:?}"
        );
    }
    // Nothing ran: nothing stored, the actor never even activated.
    assert!(history(store.mem(), &w).await.is_empty());
    assert!(!wallets.is_active(&w));
    assert_eq!(system.stats().activations, 0);
    // The actor serves valid asks as before.
    assert_eq!(wallets.ask(&w, WalletCommand::Deposit(1)).await?, Ok(1));
    system.shutdown().await;
    Ok(())
}
