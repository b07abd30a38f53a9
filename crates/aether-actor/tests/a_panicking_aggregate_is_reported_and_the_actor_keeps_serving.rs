//! A panic in the aggregate's code is reported to the caller as `Panicked`, stores
//! nothing, and the actor keeps serving.

mod common;

use aether_actor::{ActorSystem, AskErrorKind};
use common::{history, id, TestStore, Wallet, WalletCommand};

#[tokio::test]
async fn a_panicking_decide_is_reported_and_the_actor_keeps_serving() -> anyhow::Result<()> {
    let store = TestStore::new();
    let system = ActorSystem::builder().store(store.clone()).build()?;
    let wallets = system.actors::<Wallet>();
    let w = id("w-1");
    wallets.ask(&w, WalletCommand::Deposit(2)).await??;
    let err = wallets.ask(&w, WalletCommand::Explode).await.unwrap_err();
    assert_eq!(err.kind(), AskErrorKind::Panicked);
    assert!(err.to_string().contains("decide exploded"), "{err}");
    assert_eq!(wallets.ask(&w, WalletCommand::Deposit(2)).await?, Ok(4));
    assert_eq!(history(store.mem(), &w).await.len(), 2);
    Ok(())
}
