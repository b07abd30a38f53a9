//! A store that fails while loading an actor makes that ask fail with a technical error
//! and the next one activate it; a snapshot that cannot be saved is logged and changes
//! nothing for the caller.

mod common;

use aether_actor::{ActorSystem, AskErrorKind};
use aether_core::EventStore;
use common::{history, id, TestStore, Wallet, WalletCommand};

#[tokio::test]
async fn a_failed_activation_is_retried_by_the_next_command() -> anyhow::Result<()> {
    let store = TestStore::new();
    let system = ActorSystem::builder().store(store.clone()).build()?;
    let wallets = system.actors::<Wallet>();
    let w = id("w-1");
    wallets.ask(&w, WalletCommand::Deposit(4)).await??;
    assert!(wallets.passivate(&w).await);

    store.set_fail_snapshots(true);
    let err = wallets
        .ask(&w, WalletCommand::Deposit(1))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), AskErrorKind::Load, "{err}");
    assert!(!err.may_have_run(), "a failed load runs nothing: {err}");
    assert_eq!(history(store.mem(), &w).await.len(), 1, "nothing stored");

    store.set_fail_snapshots(false);
    assert_eq!(wallets.ask(&w, WalletCommand::Deposit(1)).await?, Ok(5));
    Ok(())
}

#[tokio::test]
async fn a_snapshot_that_cannot_be_saved_does_not_fail_the_command() -> anyhow::Result<()> {
    let store = TestStore::new();
    let system = ActorSystem::builder()
        .store(store.clone())
        .snapshot_every(2)
        .build()?;
    let wallets = system.actors::<Wallet>();
    let w = id("w-2");
    wallets.ask(&w, WalletCommand::Deposit(1)).await??; // activates it
    store.set_fail_snapshots(true);
    for n in 2..=4 {
        wallets.ask(&w, WalletCommand::Deposit(n)).await??;
    }
    assert_eq!(system.stats().snapshots, 0);
    store.set_fail_snapshots(false);
    assert!(store.mem().load_snapshot(&w, None).await?.is_none());
    // The next command is due for a snapshot again and saves one.
    assert_eq!(wallets.ask(&w, WalletCommand::Deposit(5)).await?, Ok(15));
    assert_eq!(
        store
            .mem()
            .load_snapshot(&w, None)
            .await?
            .map(|s| s.version),
        Some(5)
    );
    Ok(())
}

#[tokio::test]
async fn a_snapshot_the_store_cannot_decode_falls_back_to_a_full_replay() -> anyhow::Result<()> {
    let store = TestStore::new();
    let system = ActorSystem::builder().store(store.clone()).build()?;
    let wallets = system.actors::<Wallet>();
    let w = id("w-3");
    wallets.ask(&w, WalletCommand::Deposit(4)).await??;
    wallets.ask(&w, WalletCommand::Deposit(3)).await??;
    assert!(wallets.passivate(&w).await);
    assert!(store.mem().load_snapshot(&w, None).await?.is_some());

    // The newest snapshot is unreadable (for instance its chunks are gone): the events are
    // all there, so the actor replays them instead of failing every command.
    store.set_corrupt_snapshots(true);
    let reads_before = store.stream_reads().len();
    assert_eq!(wallets.ask(&w, WalletCommand::Deposit(1)).await?, Ok(8));
    assert_eq!(
        store.stream_reads()[reads_before..],
        [1],
        "a full replay, from version 1"
    );
    assert_eq!(history(store.mem(), &w).await.len(), 3);
    Ok(())
}
