//! Activation loads the newest snapshot and replays only the events after it; a snapshot
//! whose state schema version is unknown, or that no longer decodes, falls back to a full
//! replay; snapshots are taken every N events and on passivation.

mod common;

use aether_actor::ActorSystem;
use aether_core::{ActorSnapshot, EventStore, ExpectedVersion, NewEvent};
use common::{id, TestStore, Wallet, WalletCommand, WalletEvent};

#[tokio::test]
async fn activation_replays_only_the_events_after_the_newest_snapshot() -> anyhow::Result<()> {
    let store = TestStore::new();
    let system = ActorSystem::builder()
        .store(store.clone())
        .snapshot_every(5)
        .build()?;
    let wallets = system.actors::<Wallet>();
    let w = id("w-1");
    for _ in 0..12 {
        wallets.ask(&w, WalletCommand::Deposit(1)).await??;
    }
    // Every 5 events: snapshots at 5 and 10.
    let snap = store
        .mem()
        .load_snapshot(&w, None)
        .await?
        .expect("a snapshot");
    assert_eq!(snap.version, 10);
    assert!(wallets.passivate(&w).await);
    // Passivation snapshots the rest.
    let snap = store
        .mem()
        .load_snapshot(&w, None)
        .await?
        .expect("a snapshot");
    assert_eq!(snap.version, 12);

    // Three more events by another writer.
    for _ in 0..3 {
        let v = store.mem().latest_version(&w).await?;
        let e = NewEvent::encode("Deposited", &WalletEvent::Deposited { amount: 100 })?;
        store
            .mem()
            .append(&w, ExpectedVersion::Exact(v), vec![e])
            .await?;
    }
    let reads_before = store.stream_reads().len();
    assert_eq!(wallets.ask(&w, WalletCommand::Peek).await?, Ok(312));
    // The activation streamed from version 13: 13..15 applied exactly once.
    assert_eq!(store.stream_reads()[reads_before..], [13]);
    Ok(())
}

#[tokio::test]
async fn a_snapshot_of_an_unknown_schema_version_falls_back_to_a_full_replay() -> anyhow::Result<()>
{
    let store = TestStore::new();
    let w = id("w-2");
    for v in 0..4 {
        let e = NewEvent::encode("Deposited", &WalletEvent::Deposited { amount: 10 })?;
        store
            .mem()
            .append(&w, ExpectedVersion::Exact(v), vec![e])
            .await?;
    }
    // A snapshot written by a future version of the code, with another state layout.
    store
        .mem()
        .save_snapshot(ActorSnapshot::new(w.clone(), 4, 99, vec![1u8, 2, 3]))
        .await?;
    let system = ActorSystem::builder().store(store.clone()).build()?;
    assert_eq!(
        system
            .actors::<Wallet>()
            .ask(&w, WalletCommand::Peek)
            .await?,
        Ok(40)
    );
    assert_eq!(store.stream_reads(), [1], "replayed from the first event");
    Ok(())
}

#[tokio::test]
async fn a_snapshot_that_no_longer_decodes_falls_back_to_a_full_replay() -> anyhow::Result<()> {
    let store = TestStore::new();
    let w = id("w-3");
    for v in 0..3 {
        let e = NewEvent::encode("Deposited", &WalletEvent::Deposited { amount: 7 })?;
        store
            .mem()
            .append(&w, ExpectedVersion::Exact(v), vec![e])
            .await?;
    }
    store
        .mem()
        .save_snapshot(ActorSnapshot::new(
            w.clone(),
            3,
            1,
            b"\xc1 not msgpack".to_vec(),
        ))
        .await?;
    let system = ActorSystem::builder().store(store.clone()).build()?;
    assert_eq!(
        system
            .actors::<Wallet>()
            .ask(&w, WalletCommand::Peek)
            .await?,
        Ok(21)
    );
    assert_eq!(store.stream_reads(), [1]);
    Ok(())
}

#[tokio::test]
async fn an_event_that_does_not_decode_fails_activation_clearly() -> anyhow::Result<()> {
    let store = TestStore::new();
    let w = id("w-4");
    store
        .mem()
        .append(
            &w,
            ExpectedVersion::Exact(0),
            vec![NewEvent::new("Deposited", b"\xc1".to_vec())],
        )
        .await?;
    let system = ActorSystem::builder().store(store.clone()).build()?;
    let err = system
        .actors::<Wallet>()
        .ask(&w, WalletCommand::Peek)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), aether_actor::AskErrorKind::Codec, "{err}");
    assert!(err.to_string().contains("w-4"), "names the actor: {err}");
    Ok(())
}
