//! A command id already among the actor's recent causation ids is answered with the
//! original reply without running the command again: while active, after passivation
//! (from the snapshot), and in another system on the same store (from the events).

mod common;

use std::sync::atomic::Ordering;

use aether_actor::ActorSystem;
use aether_core::Uuid;
use common::{history, id, TestStore, Wallet, WalletCommand};

#[tokio::test]
async fn a_duplicate_command_id_is_answered_once() -> anyhow::Result<()> {
    let store = TestStore::new();
    let system = ActorSystem::builder().store(store.clone()).build()?;
    let wallet = Wallet::default();
    let effects = wallet.side_effects.clone();
    let wallets = system.register(wallet)?;
    let w = id("w-1");

    let cmd = Uuid::now_v7();
    let first = wallets
        .ask(&w, WalletCommand::Deposit(10))
        .command_id(cmd)
        .await?;
    assert_eq!(first, Ok(10));
    assert_eq!(wallets.ask(&w, WalletCommand::Deposit(1)).await?, Ok(11));
    // The duplicate gets the original reply (10), not a fresh decision (21).
    let dup = wallets
        .ask(&w, WalletCommand::Deposit(10))
        .command_id(cmd)
        .await?;
    assert_eq!(dup, Ok(10));
    assert_eq!(
        effects.load(Ordering::SeqCst),
        2,
        "the duplicate ran no side effect"
    );

    // After passivation the recent ids come back with the snapshot.
    assert!(wallets.passivate(&w).await);
    assert!(!wallets.is_active(&w));
    let dup = wallets
        .ask(&w, WalletCommand::Deposit(10))
        .command_id(cmd)
        .await?;
    assert_eq!(dup, Ok(10));

    // The events carry the command id as their causation id.
    let events = history(store.mem(), &w).await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].metadata.causation_id, Some(cmd));
    assert_eq!(events[0].metadata.correlation_id, Some(cmd));
    assert_eq!(system.stats().duplicates, 2);
    assert_eq!(system.stats().appends, 2);
    system.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn recent_command_ids_are_rebuilt_from_the_events() -> anyhow::Result<()> {
    let store = TestStore::new();
    // No periodic snapshots, and the first system is never shut down: the second one can
    // only learn the command ids from the events' metadata.
    let one = ActorSystem::builder()
        .store(store.clone())
        .snapshot_every(0)
        .build()?;
    let two = ActorSystem::builder()
        .store(store.clone())
        .snapshot_every(0)
        .build()?;
    let w = id("w-2");
    let cmd = Uuid::now_v7();
    let many = WalletCommand::DepositMany(vec![1, 2, 3]);
    assert_eq!(
        one.actors::<Wallet>()
            .ask(&w, many.clone())
            .command_id(cmd)
            .await?,
        Ok(6)
    );
    assert_eq!(
        two.actors::<Wallet>().ask(&w, many).command_id(cmd).await?,
        Ok(6)
    );
    assert_eq!(history(store.mem(), &w).await.len(), 3);
    Ok(())
}

#[tokio::test]
async fn a_rejected_command_id_is_decided_again() -> anyhow::Result<()> {
    let system = ActorSystem::builder().store(TestStore::new()).build()?;
    let wallets = system.actors::<Wallet>();
    let w = id("w-3");
    let cmd = Uuid::now_v7();
    // A rejection stores nothing, so its id is not remembered: a retry after the
    // situation changed is decided against the new state.
    let rejected = wallets
        .ask(&w, WalletCommand::Withdraw(5))
        .command_id(cmd)
        .await?;
    assert!(rejected.is_err());
    wallets.ask(&w, WalletCommand::Deposit(5)).await??;
    assert_eq!(
        wallets
            .ask(&w, WalletCommand::Withdraw(5))
            .command_id(cmd)
            .await?,
        Ok(0)
    );
    Ok(())
}
