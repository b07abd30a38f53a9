//! Many callers asking one actor at once: the actor runs their commands one at a time, so
//! within one system no command ever conflicts and every command is stored exactly once,
//! in a contiguous history.

mod common;

use std::collections::HashSet;
use std::future::IntoFuture;

use aether_actor::ActorSystem;
use common::{history, id, TestStore, Wallet, WalletCommand};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_to_one_actor_run_one_at_a_time() -> anyhow::Result<()> {
    let store = TestStore::new();
    let system = ActorSystem::builder()
        .store(store.clone())
        .mailbox_capacity(1_000)
        .build()?;
    let wallets = system.actors::<Wallet>();
    let w = id("w-1");
    let asks: Vec<_> = (1..=500u64)
        .map(|n| tokio::spawn(wallets.ask(&w, WalletCommand::Deposit(n)).into_future()))
        .collect();
    let mut replies = HashSet::new();
    for a in asks {
        replies.insert(a.await?.expect("no technical error").expect("accepted"));
    }
    // Each reply is the balance after that deposit: all different if nothing interleaved.
    assert_eq!(replies.len(), 500);
    assert!(replies.contains(&(500 * 501 / 2)));
    let events = history(store.mem(), &w).await;
    assert_eq!(events.len(), 500);
    assert!(events
        .iter()
        .enumerate()
        .all(|(i, e)| e.version == i as u64 + 1));
    assert_eq!(system.stats().conflicts, 0);
    Ok(())
}
