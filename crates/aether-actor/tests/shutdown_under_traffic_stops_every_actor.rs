//! Shutdown while asks keep activating new actors: it returns, and no actor is left
//! running (an actor activated by an ask that got in as shutdown began serves that ask,
//! then stops on its own).

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aether_actor::{ActorSystem, AskError};
use common::{id, TestStore, Wallet, WalletCommand};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_under_traffic_returns_and_stops_every_actor() -> anyhow::Result<()> {
    for round in 0..40 {
        let system = ActorSystem::builder()
            .store(TestStore::new())
            .never_passivate()
            .build()?;
        let wallets = system.actors::<Wallet>();
        let next = Arc::new(AtomicU64::new(0));
        let answered = Arc::new(AtomicU64::new(0));
        let mut callers = Vec::new();
        for _ in 0..4 {
            let (wallets, next, answered) = (wallets.clone(), next.clone(), answered.clone());
            callers.push(tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    match wallets
                        .ask(&id(&format!("w-{n}")), WalletCommand::Peek)
                        .await
                    {
                        Ok(_) => {
                            answered.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(AskError::ShuttingDown) => return,
                        Err(e) => panic!("round {round}: ask {n}: {e}"),
                    }
                }
            }));
        }
        while answered.load(Ordering::Relaxed) < 200 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::timeout(Duration::from_secs(10), system.shutdown())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "round {round}: shutdown did not return; {} actors still active",
                    system.active_actors()
                )
            });
        for c in callers {
            c.await?;
        }
        assert_eq!(system.active_actors(), 0, "round {round}");
        assert_eq!(wallets.active_count(), 0, "round {round}");
    }
    Ok(())
}
