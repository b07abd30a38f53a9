//! The deadline travels with the command and the actor checks it before `decide`: a
//! deadline already passed when the ask is sent, or passed while the actor was still
//! loading, is `Timeout` and nothing runs or is stored.

mod common;

use std::time::{Duration, Instant};

use aether_actor::{ActorSystem, AskErrorKind};
use aether_core::EventStore;
use common::{id, TestStore, Wallet, WalletCommand};

#[tokio::test]
async fn a_zero_timeout_or_a_past_deadline_is_a_timeout_and_stores_nothing() -> anyhow::Result<()> {
    let store = TestStore::new();
    let sys = ActorSystem::builder().store(store.clone()).build()?;
    let wallets = sys.actors::<Wallet>();
    let w = id("w-deadline");
    for _ in 0..20 {
        let err = wallets
            .ask(&w, WalletCommand::Deposit(1))
            .timeout(Duration::ZERO)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), AskErrorKind::Timeout, "{err}");
        let err = wallets
            .ask(&w, WalletCommand::Deposit(1))
            .deadline(Instant::now() - Duration::from_millis(1))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), AskErrorKind::Timeout, "{err}");
    }
    assert_eq!(store.mem().latest_version(&w).await?, 0);
    // A later deadline than the timeout's: the earlier one holds.
    let err = wallets
        .ask(&w, WalletCommand::Deposit(1))
        .timeout(Duration::ZERO)
        .deadline(Instant::now() + Duration::from_secs(60))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), AskErrorKind::Timeout);
    assert_eq!(wallets.ask(&w, WalletCommand::Deposit(2)).await?, Ok(2));
    Ok(())
}

#[tokio::test]
async fn a_deadline_that_passes_during_activation_is_checked_before_decide() -> anyhow::Result<()> {
    let store = TestStore::new();
    let sys = ActorSystem::builder().store(store.clone()).build()?;
    let wallets = sys.actors::<Wallet>();
    let w = id("w-slow-load");
    store.set_load_delay(Duration::from_millis(300));
    // The actor takes the command at once and then loads for 300 ms: the caller's answer
    // is unknown (the command had started), but the actor does not run it.
    let err = wallets
        .ask(&w, WalletCommand::Deposit(1))
        .timeout(Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            AskErrorKind::OutcomeUnknown | AskErrorKind::Timeout
        ),
        "{err}"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    store.set_load_delay(Duration::ZERO);
    assert_eq!(store.mem().latest_version(&w).await?, 0, "never decided");
    assert_eq!(wallets.ask(&w, WalletCommand::Deposit(2)).await?, Ok(2));
    Ok(())
}
