//! RELIABILITY 20: a full mailbox is an explicit overload error carrying the command back;
//! nothing is dropped silently.

mod common;

use std::time::Duration;

use aether_actor::{ActorSystem, AskError};
use common::{history, id, TestStore, Wallet, WalletCommand};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_mailbox_hands_the_command_back() -> anyhow::Result<()> {
    let store = TestStore::new();
    let system = ActorSystem::builder()
        .store(store.clone())
        .mailbox_capacity(1)
        .build()?;
    let wallets = system.actors::<Wallet>();
    let w = id("w-1");

    store.set_append_delay(Duration::from_millis(300));
    // The first command occupies the actor (its append is slow) ...
    let first = tokio::spawn(wallets.ask(&w, WalletCommand::Deposit(1)).into_future());
    store.wait_for_appends(1).await;
    // ... the second waits in the mailbox (capacity 1): its first poll queues it ...
    let mut second = Box::pin(wallets.ask(&w, WalletCommand::Deposit(2)).into_future());
    assert!(futures::poll!(second.as_mut()).is_pending());
    // ... and the third is refused and handed back.
    let third = wallets.ask(&w, WalletCommand::Deposit(3)).await;
    match third {
        Err(AskError::MailboxFull(cmd)) => assert_eq!(cmd, WalletCommand::Deposit(3)),
        other => panic!("expected MailboxFull, got {other:?}"),
    }

    assert_eq!(first.await??, Ok(1));
    assert_eq!(second.await?, Ok(3));
    store.set_append_delay(Duration::ZERO);
    // The handed-back command can be sent again and is then processed.
    assert_eq!(wallets.ask(&w, WalletCommand::Deposit(3)).await?, Ok(6));
    assert_eq!(history(store.mem(), &w).await.len(), 3);
    system.shutdown().await;
    Ok(())
}

use std::future::IntoFuture;
