//! An idle actor is passivated (snapshot, then freed) and rehydrated on its next command;
//! shutdown passivates every active actor and refuses new asks.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use aether_actor::{ActorSystem, AskError};
use aether_core::EventStore;
use common::{id, TestStore, Wallet, WalletCommand};

#[tokio::test]
async fn idle_actors_are_passivated_and_rehydrated() -> anyhow::Result<()> {
    let store = TestStore::new();
    let system = ActorSystem::builder()
        .store(store.clone())
        .passivate_after(Duration::from_millis(100))
        .snapshot_every(1000)
        .build()?;
    let wallet = Wallet::default();
    let (activations, passivations) = (wallet.activations.clone(), wallet.passivations.clone());
    let wallets = system.register(wallet)?;
    let w = id("w-1");
    wallets.ask(&w, WalletCommand::Deposit(3)).await??;
    wallets.ask(&w, WalletCommand::Deposit(4)).await??;
    assert!(wallets.is_active(&w));
    assert_eq!(system.active_actors(), 1);

    let idle_since = std::time::Instant::now();
    while wallets.is_active(&w) {
        assert!(
            idle_since.elapsed() < Duration::from_secs(5),
            "not passivated"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Not before the idle time (100 ms) has passed.
    assert!(
        idle_since.elapsed() >= Duration::from_millis(90),
        "{:?}",
        idle_since.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(system.active_actors(), 0, "its task is gone");
    assert_eq!(passivations.load(Ordering::SeqCst), 1);
    let snap = store
        .mem()
        .load_snapshot(&w, None)
        .await?
        .expect("snapshot on passivation");
    assert_eq!(snap.version, 2);

    assert_eq!(wallets.ask(&w, WalletCommand::Deposit(5)).await?, Ok(12));
    assert_eq!(activations.load(Ordering::SeqCst), 2, "rehydrated");
    let stats = system.stats();
    assert_eq!(
        (stats.activations, stats.passivations, stats.snapshots),
        (2, 1, 1)
    );
    Ok(())
}

#[tokio::test]
async fn shutdown_passivates_every_actor_and_refuses_new_asks() -> anyhow::Result<()> {
    let store = TestStore::new();
    let system = ActorSystem::builder().store(store.clone()).build()?;
    let wallets = system.actors::<Wallet>();
    for i in 0..10 {
        wallets
            .ask(&id(&format!("w-{i}")), WalletCommand::Deposit(i))
            .await??;
    }
    assert_eq!(wallets.active_count(), 10);
    system.shutdown().await;
    assert_eq!(wallets.active_count(), 0);
    assert_eq!(system.active_actors(), 0);
    for i in 1..10 {
        let snap = store
            .mem()
            .load_snapshot(&id(&format!("w-{i}")), None)
            .await?;
        assert_eq!(snap.map(|s| s.version), Some(1));
    }
    let refused = wallets.ask(&id("w-1"), WalletCommand::Peek).await;
    assert!(matches!(refused, Err(AskError::ShuttingDown)));
    Ok(())
}
