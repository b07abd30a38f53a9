//! An ask whose deadline passes after the actor started the command answers
//! `OutcomeUnknown`; one whose deadline passes while it still waits in the mailbox is
//! withdrawn and answers `Timeout` (it never runs).

mod common;

use std::future::IntoFuture;
use std::time::Duration;

use aether_actor::{ActorSystem, AskError};
use aether_core::Uuid;
use common::{history, id, TestStore, Wallet, WalletCommand};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_passed_while_running_is_outcome_unknown() -> anyhow::Result<()> {
    let store = TestStore::new();
    let system = ActorSystem::builder().store(store.clone()).build()?;
    let wallets = system.actors::<Wallet>();
    let w = id("w-1");

    wallets.ask(&w, WalletCommand::Peek).await??; // activated, so it starts at once
    store.set_append_delay(Duration::from_millis(600));
    let cmd_id = Uuid::now_v7();
    let outcome = wallets
        .ask(&w, WalletCommand::Deposit(5))
        .command_id(cmd_id)
        .timeout(Duration::from_millis(150))
        .await;
    assert!(
        matches!(outcome, Err(AskError::OutcomeUnknown)),
        "{outcome:?}"
    );

    // The command did complete; asking again with the same id tells the outcome without
    // running it a second time.
    store.set_append_delay(Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let again = wallets
        .ask(&w, WalletCommand::Deposit(5))
        .command_id(cmd_id)
        .await?;
    assert_eq!(again, Ok(5));
    assert_eq!(history(store.mem(), &w).await.len(), 1);
    system.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_passed_in_the_mailbox_withdraws_the_command() -> anyhow::Result<()> {
    let store = TestStore::new();
    let system = ActorSystem::builder().store(store.clone()).build()?;
    let wallets = system.actors::<Wallet>();
    let w = id("w-2");

    store.set_append_delay(Duration::from_millis(300));
    let busy = tokio::spawn(wallets.ask(&w, WalletCommand::Deposit(1)).into_future());
    store.wait_for_appends(1).await;
    let queued = wallets
        .ask(&w, WalletCommand::Deposit(100))
        .timeout(Duration::from_millis(50))
        .await;
    assert!(matches!(queued, Err(AskError::Timeout)), "{queued:?}");
    assert_eq!(busy.await??, Ok(1));
    store.set_append_delay(Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The withdrawn deposit never ran.
    assert_eq!(wallets.ask(&w, WalletCommand::Peek).await?, Ok(1));
    assert_eq!(history(store.mem(), &w).await.len(), 1);
    system.shutdown().await;
    Ok(())
}
