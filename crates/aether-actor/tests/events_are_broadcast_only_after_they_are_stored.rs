//! Decided events are broadcast on the system's broadcaster only once they are stored, in
//! order, exactly as stored (metadata and timestamp included).

mod common;

use aether_actor::ActorSystem;
use aether_core::{BusMessage, EventFilter, EventStore, Namespace};
use aether_store_mem::InMemoryEventStore;
use common::{id, TestStore, Wallet, WalletCommand};
use futures::StreamExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_broadcast_only_after_they_are_stored() -> anyhow::Result<()> {
    let store = TestStore::new();
    let system = ActorSystem::builder().store(store.clone()).build()?;
    let mut sub = system
        .subscribe(EventFilter::all().event_type("Deposited"))
        .await?;
    let checker = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some(BusMessage::Event(e)) = sub.next().await {
                // When a subscriber sees an event, the store already has it.
                let stored = store
                    .mem()
                    .read(&e.actor_id, e.version, e.version, 1)
                    .await
                    .unwrap();
                assert_eq!(stored.len(), 1, "broadcast before stored: {e:?}");
                // The broadcast event is the stored one, timestamp included.
                assert_eq!(stored[0], *e);
                seen.push(e.version);
                if seen.len() == 6 {
                    break;
                }
            }
            seen
        })
    };
    let wallets = system.actors::<Wallet>();
    let w = id("w-1");
    wallets.ask(&w, WalletCommand::Deposit(1)).await??;
    wallets.ask(&w, WalletCommand::Withdraw(1)).await??; // filtered out
    wallets
        .ask(&w, WalletCommand::DepositMany(vec![1, 2, 3, 4, 5]))
        .await??;
    assert_eq!(checker.await?, vec![1, 3, 4, 5, 6, 7]);
    Ok(())
}

/// The in-memory store hands its stored events to the runtime directly: what subscribers
/// and the `on_persisted` hook get is what a read returns.
#[tokio::test(flavor = "current_thread")]
async fn broadcast_events_equal_the_stored_ones() -> anyhow::Result<()> {
    let store = InMemoryEventStore::new(Namespace::new("bank")?);
    let system = ActorSystem::builder().store(store.clone()).build()?;
    let mut sub = system.subscribe(EventFilter::all()).await?;
    let wallets = system.actors::<Wallet>();
    let w = id("w-2");
    wallets.ask(&w, WalletCommand::Deposit(5)).await??;
    wallets
        .ask(&w, WalletCommand::DepositMany(vec![1, 2]))
        .await??;
    let stored = store.read(&w, 1, u64::MAX, 10).await?;
    assert_eq!(stored.len(), 3);
    for expected in &stored {
        match sub.next().await {
            Some(BusMessage::Event(e)) => assert_eq!(*e, *expected),
            other => panic!("expected an event, got {other:?}"),
        }
    }
    Ok(())
}
