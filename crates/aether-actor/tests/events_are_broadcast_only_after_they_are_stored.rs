//! Decided events are broadcast on the system's broadcaster only once they are stored, in
//! order, with their metadata.

mod common;

use aether_actor::ActorSystem;
use aether_core::{BusMessage, EventFilter, EventStore};
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
                assert_eq!(stored[0].id, e.id);
                assert_eq!(stored[0].metadata, e.metadata);
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
