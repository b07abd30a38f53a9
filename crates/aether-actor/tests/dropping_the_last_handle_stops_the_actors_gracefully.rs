//! When the last `ActorSystem` and `Actors` handles are dropped without a shutdown, the
//! actors finish the commands already queued, snapshot at their last version and stop; while
//! any handle is alive, nothing stops.

mod common;

use std::future::IntoFuture;
use std::sync::atomic::Ordering;
use std::time::Duration;

use aether_actor::ActorSystem;
use aether_core::{ActorId, EventStore};
use common::{history, id, TestStore, Wallet, WalletCommand};

/// Polls `done` every 5 ms for up to 5 s.
async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
    for _ in 0..1000 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("never happened: {what}");
}

/// The version of `actor`'s newest snapshot, if it has one.
async fn snapshot_version(store: &TestStore, actor: &ActorId) -> Option<u64> {
    store
        .mem()
        .load_snapshot(actor, None)
        .await
        .expect("the in-memory store loads snapshots")
        .map(|s| s.version)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_every_handle_finishes_the_queued_commands_then_snapshots_and_stops(
) -> anyhow::Result<()> {
    let store = TestStore::new();
    let system = ActorSystem::builder()
        .store(store.clone())
        .snapshot_every(1_000)
        .never_passivate()
        .build()?;
    let wallet = Wallet::default();
    let wallets = system.register(wallet.clone())?;
    let actors: Vec<ActorId> = (1..=3).map(|i| id(&format!("w-{i}"))).collect();

    // Slow appends: the commands are still queued when the handles are dropped.
    store.set_append_delay(Duration::from_millis(60));
    for (i, w) in actors.iter().enumerate() {
        for n in 1..=4u64 {
            wallets.tell(w, WalletCommand::Deposit(n * 10 + i as u64))?;
        }
    }
    // Two asks already handed to the first actor (queued behind its told commands).
    let mut asks = Vec::new();
    for n in [1u64, 2] {
        let mut ask = Box::pin(
            wallets
                .ask(&actors[0], WalletCommand::Deposit(n))
                .timeout(Duration::from_secs(10))
                .into_future(),
        );
        assert!(futures::poll!(ask.as_mut()).is_pending());
        asks.push(ask);
    }
    store.wait_for_appends(1).await;
    assert!(
        store.appends_started() < 12,
        "the test needs commands still queued when the handles are dropped"
    );
    assert_eq!(wallet.passivations.load(Ordering::SeqCst), 0);

    drop(wallets);
    drop(system);

    // The asks already sent are answered: they ran after the told commands.
    let first_total: u64 = (1..=4).map(|n| n * 10).sum();
    assert_eq!(asks.remove(0).await?, Ok(first_total + 1));
    assert_eq!(asks.remove(0).await?, Ok(first_total + 3));

    // Every actor stops, after its queued commands and a snapshot.
    eventually("every actor passivated", async || {
        wallet.passivations.load(Ordering::SeqCst) == 3
    })
    .await;
    for (i, w) in actors.iter().enumerate() {
        let stored = history(store.mem(), w).await;
        let amounts: Vec<u64> = stored
            .iter()
            .map(|e| {
                e.decode::<common::WalletEvent>()
                    .map(|ev| match ev {
                        common::WalletEvent::Deposited { amount } => amount,
                        common::WalletEvent::Withdrawn { .. } => panic!("no withdrawals"),
                    })
                    .expect("a wallet event")
            })
            .collect();
        let mut want: Vec<u64> = (1..=4).map(|n| n * 10 + i as u64).collect();
        if i == 0 {
            want.extend([1, 2]);
        }
        assert_eq!(
            amounts, want,
            "{w}: every queued command stored once, in order"
        );
        let last = store.mem().latest_version(w).await?;
        assert_eq!(snapshot_version(&store, w).await, Some(last), "{w}");
    }
    assert_eq!(wallet.side_effects.load(Ordering::SeqCst), 14);
    assert_eq!(wallet.activations.load(Ordering::SeqCst), 3);

    // A new system over the store starts each actor from its snapshot, with no event
    // after it to replay.
    store.set_append_delay(Duration::ZERO);
    let reads_before = store.stream_reads().len();
    let again = ActorSystem::builder().store(store.clone()).build()?;
    let wallets = again.actors::<Wallet>();
    for (i, w) in actors.iter().enumerate() {
        let mut total: u64 = (1..=4).map(|n| n * 10 + i as u64).sum();
        if i == 0 {
            total += 3;
        }
        assert_eq!(wallets.ask(w, WalletCommand::Peek).await?, Ok(total), "{w}");
    }
    let reads = store.stream_reads();
    for (from, w) in reads[reads_before..].iter().zip(&actors) {
        let last = store.mem().latest_version(w).await?;
        assert_eq!(*from, last + 1, "{w} replays only after its snapshot");
    }
    again.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_actors_handle_keeps_the_system_running() -> anyhow::Result<()> {
    let store = TestStore::new();
    let system = ActorSystem::builder()
        .store(store.clone())
        .snapshot_every(1_000)
        .never_passivate()
        .build()?;
    let wallet = Wallet::default();
    let wallets = system.register(wallet.clone())?;
    let spare = wallets.clone();
    let w = id("w-1");
    wallets.ask(&w, WalletCommand::Deposit(1)).await??;

    // The system handle and one of two `Actors` clones go: nothing stops.
    drop(system);
    drop(spare);
    assert!(wallets.is_active(&w));
    assert_eq!(wallets.ask(&w, WalletCommand::Deposit(2)).await?, Ok(3));
    let told = wallets.tell(&w, WalletCommand::Deposit(3));
    assert!(told.is_ok(), "{told:?}");
    assert_eq!(wallets.ask(&w, WalletCommand::Peek).await?, Ok(6));
    // The same activation served them all; nothing passivated or snapshotted.
    assert!(wallets.is_active(&w));
    assert_eq!(wallet.activations.load(Ordering::SeqCst), 1);
    assert_eq!(wallet.passivations.load(Ordering::SeqCst), 0);
    assert_eq!(snapshot_version(&store, &w).await, None);

    // The last handle goes: the actor snapshots and stops.
    drop(wallets);
    eventually("the actor passivated", async || {
        wallet.passivations.load(Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(snapshot_version(&store, &w).await, Some(3));
    assert_eq!(history(store.mem(), &w).await.len(), 3);
    Ok(())
}
