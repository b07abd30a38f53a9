//! A version conflict (another writer got there first) re-reads the new events and decides
//! again, a bounded number of times. Two actor systems on one store write the same actor
//! concurrently: every command is stored exactly once, the history stays contiguous and
//! both systems end with the right state.

mod common;

use std::collections::HashSet;

use aether_actor::{ActorSystem, AskError};
use aether_core::{EventStore, ExpectedVersion, NewEvent};
use common::{history, id, TestStore, Wallet, WalletCommand, WalletEvent};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_systems_writing_one_actor_keep_its_history_contiguous() -> anyhow::Result<()> {
    let store = TestStore::new();
    let build = || {
        ActorSystem::builder()
            .store(store.clone())
            .conflict_retries(1000)
            .snapshot_every(7)
            .build()
    };
    let (one, two) = (build()?, build()?);
    let w = id("w-shared");
    const PER_SYSTEM: u64 = 200;
    let mut tasks = Vec::new();
    for (k, system) in [one.clone(), two.clone()].into_iter().enumerate() {
        let w = w.clone();
        tasks.push(tokio::spawn(async move {
            let wallets = system.actors::<Wallet>();
            let mut asks = Vec::new();
            for i in 0..PER_SYSTEM {
                // Several asks in flight per system so both keep colliding.
                asks.push(wallets.ask(&w, WalletCommand::Deposit(1 + k as u64 * 1000 + i)));
            }
            let results =
                futures::future::join_all(asks.into_iter().map(|a| a.into_future())).await;
            results
                .into_iter()
                .filter(|r| matches!(r, Ok(Ok(_))))
                .count()
        }));
    }
    for t in tasks {
        assert_eq!(t.await?, PER_SYSTEM as usize);
    }
    let events = history(store.mem(), &w).await;
    assert_eq!(events.len() as u64, 2 * PER_SYSTEM);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.version, i as u64 + 1, "contiguous versions");
    }
    let causes: HashSet<_> = events
        .iter()
        .map(|e| e.metadata.causation_id.unwrap())
        .collect();
    assert_eq!(
        causes.len() as u64,
        2 * PER_SYSTEM,
        "each command stored exactly once"
    );
    let expected: u64 = (0..2u64)
        .flat_map(|k| (0..PER_SYSTEM).map(move |i| 1 + k * 1000 + i))
        .sum();
    for system in [&one, &two] {
        let wallets = system.actors::<Wallet>();
        // A command that stores nothing is answered from memory, which the other writer may
        // have moved past; a write catches up through the conflict ...
        assert_eq!(
            wallets.ask(&w, WalletCommand::Deposit(0)).await?,
            Ok(expected)
        );
        // ... and a fresh activation (snapshot plus later events) agrees.
        assert!(wallets.passivate(&w).await);
        assert_eq!(wallets.ask(&w, WalletCommand::Peek).await?, Ok(expected));
    }
    Ok(())
}

#[tokio::test]
async fn a_conflict_is_retried_after_catching_up() -> anyhow::Result<()> {
    let store = TestStore::new();
    let system = ActorSystem::builder().store(store.clone()).build()?;
    let wallets = system.actors::<Wallet>();
    let w = id("w-1");
    assert_eq!(wallets.ask(&w, WalletCommand::Deposit(10)).await?, Ok(10));
    // Another writer appends behind the actor's back.
    let other = NewEvent::encode("Deposited", &WalletEvent::Deposited { amount: 5 })?;
    store
        .mem()
        .append(&w, ExpectedVersion::Exact(1), vec![other])
        .await?;
    // The withdrawal is decided on the stale balance (10), conflicts at version 1, catches
    // up to 15 and is decided again: the reply is 12, not 7.
    assert_eq!(wallets.ask(&w, WalletCommand::Withdraw(3)).await?, Ok(12));
    let events = history(store.mem(), &w).await;
    assert_eq!(events.len(), 3);
    assert_eq!(events[2].event_type, "Withdrawn");
    assert_eq!(system.stats().conflicts, 1);
    Ok(())
}

#[tokio::test]
async fn conflicts_beyond_the_retry_budget_store_nothing() -> anyhow::Result<()> {
    let store = TestStore::new();
    let system = ActorSystem::builder()
        .store(store.clone())
        .conflict_retries(0)
        .build()?;
    let wallets = system.actors::<Wallet>();
    let w = id("w-2");
    wallets.ask(&w, WalletCommand::Deposit(10)).await??;
    let other = NewEvent::encode("Deposited", &WalletEvent::Deposited { amount: 5 })?;
    store
        .mem()
        .append(&w, ExpectedVersion::Exact(1), vec![other])
        .await?;
    let err = wallets
        .ask(&w, WalletCommand::Deposit(1))
        .await
        .unwrap_err();
    assert!(matches!(err, AskError::Conflict { attempts: 1 }), "{err:?}");
    assert_eq!(history(store.mem(), &w).await.len(), 2);
    // The actor caught up: the next command is decided on the true state.
    assert_eq!(wallets.ask(&w, WalletCommand::Deposit(1)).await?, Ok(16));
    Ok(())
}

use std::future::IntoFuture;
