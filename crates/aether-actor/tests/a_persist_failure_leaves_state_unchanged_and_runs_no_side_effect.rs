//! RELIABILITY 19: a persist failure leaves the state unchanged, runs no side effect,
//! publishes nothing, gives the caller a technical error, and the actor recovers on the
//! next command.

mod common;

use std::sync::atomic::Ordering;

use aether_actor::{ActorSystem, AskError, AskErrorKind};
use aether_core::{BusMessage, EventFilter, Uuid};
use common::{history, id, TestStore, Wallet, WalletCommand, WalletEvent};
use futures::StreamExt;

#[tokio::test]
async fn a_failed_append_changes_nothing_and_the_actor_recovers() -> anyhow::Result<()> {
    let store = TestStore::new();
    let system = ActorSystem::builder().store(store.clone()).build()?;
    let wallet = Wallet::default();
    let effects = wallet.side_effects.clone();
    let wallets = system.register(wallet)?;
    let mut sub = system.subscribe(EventFilter::all()).await?;
    let w = id("w-1");

    assert_eq!(wallets.ask(&w, WalletCommand::Deposit(10)).await?, Ok(10));
    assert_eq!(effects.load(Ordering::SeqCst), 1);
    match sub.next().await {
        Some(BusMessage::Event(e)) => {
            assert_eq!(
                e.decode::<WalletEvent>()?,
                WalletEvent::Deposited { amount: 10 }
            );
        }
        other => panic!("unexpected {other:?}"),
    }

    store.set_fail_appends(true);
    let err = wallets
        .ask(&w, WalletCommand::Deposit(5))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), AskErrorKind::Store);
    assert!(matches!(err, AskError::Store(ref e) if e.is_transient()));
    assert_eq!(
        effects.load(Ordering::SeqCst),
        1,
        "no side effect for a failed append"
    );

    store.set_fail_appends(false);
    // The state is unchanged: the failed deposit never happened.
    assert_eq!(wallets.ask(&w, WalletCommand::Peek).await?, Ok(10));
    assert_eq!(wallets.ask(&w, WalletCommand::Deposit(1)).await?, Ok(11));
    assert_eq!(effects.load(Ordering::SeqCst), 2);
    // Nothing was published for the failed append (whose event would also have been
    // version 2, of 5): the next event on the bus is the stored version 2, the deposit of 1,
    // id and payload alike.
    let stored = history(store.mem(), &w).await;
    assert_eq!(stored.len(), 2);
    match sub.next().await {
        Some(BusMessage::Event(e)) => {
            assert_eq!(
                *e, stored[1],
                "the bus carries the stored event, nothing else"
            );
            assert_eq!(
                e.decode::<WalletEvent>()?,
                WalletEvent::Deposited { amount: 1 }
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    system.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_lost_acknowledgement_is_reloaded_and_a_retry_does_not_run_twice() -> anyhow::Result<()> {
    let store = TestStore::new();
    let system = ActorSystem::builder().store(store.clone()).build()?;
    let wallet = Wallet::default();
    let effects = wallet.side_effects.clone();
    let wallets = system.register(wallet)?;
    let w = id("w-2");

    store.set_fail_after_append(true);
    let cmd_id = Uuid::now_v7();
    let err = wallets
        .ask(&w, WalletCommand::Deposit(7))
        .command_id(cmd_id)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), AskErrorKind::Store);
    assert_eq!(effects.load(Ordering::SeqCst), 0);
    store.set_fail_after_append(false);

    // The append did happen; the retry with the same command id is answered, not re-run.
    let again = wallets
        .ask(&w, WalletCommand::Deposit(7))
        .command_id(cmd_id)
        .await?;
    assert_eq!(again, Ok(7));
    assert_eq!(history(store.mem(), &w).await.len(), 1);
    // The actor reloaded from the store: it knows about the stored deposit.
    assert_eq!(wallets.ask(&w, WalletCommand::Peek).await?, Ok(7));
    system.shutdown().await;
    Ok(())
}
