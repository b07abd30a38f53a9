//! A command re-sent with the same command id is answered with the original reply and
//! never runs twice: after 10, 100 and 5,000 other commands (far past the remembered
//! window), after passivation, from a fresh `ActorSystem`, with a v4 id, and with every id
//! sent down the stored-history lookup. A new id from a client whose clock is minutes behind
//! runs once; a busy actor never refuses a new command.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aether_actor::{ActorSystem, Actors};
use aether_core::{ActorId, EventStore, Uuid};
use common::{history, id, Wallet, WalletCommand};

fn system(store: &aether_store_mem::InMemoryEventStore, window: usize) -> ActorSystem {
    ActorSystem::builder()
        .store(store.clone())
        .recent_command_ids(window)
        .snapshot_every(50)
        .build()
        .expect("a system")
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// How many commands stored events caused by `command`.
async fn commands_stored(store: &impl EventStore, actor: &ActorId, command: Uuid) -> usize {
    history(store, actor)
        .await
        .iter()
        .filter(|e| e.metadata.causation_id == Some(command) && e.command.is_some())
        .count()
}

/// `n` other commands, half of them with caller-supplied ids.
async fn others(wallets: &Actors<Wallet>, w: &ActorId, n: usize) -> anyhow::Result<()> {
    for i in 0..n {
        let ask = wallets.ask(w, WalletCommand::Deposit(1));
        let ask = if i % 2 == 0 {
            ask.command_id(aether_core::new_id())
        } else {
            ask
        };
        ask.await??;
    }
    Ok(())
}

#[tokio::test]
async fn a_retry_after_many_other_commands_gets_the_original_reply() -> anyhow::Result<()> {
    let store = aether_store_mem::InMemoryEventStore::new(common::ns());
    let sys = system(&store, 8);
    let wallets = sys.actors::<Wallet>();
    for (n, name) in [(10usize, "w-10"), (100, "w-100"), (5_000, "w-5000")] {
        let w = id(name);
        let cmd = aether_core::new_id();
        assert_eq!(
            wallets
                .ask(&w, WalletCommand::Deposit(7))
                .command_id(cmd)
                .await?,
            Ok(7)
        );
        others(&wallets, &w, n).await?;
        let retry = wallets
            .ask(&w, WalletCommand::Deposit(7))
            .command_id(cmd)
            .await?;
        assert_eq!(retry, Ok(7), "the original reply after {n} other commands");
        assert_eq!(commands_stored(&store, &w, cmd).await, 1, "after {n}");
        let balance = 7 + n as u64;
        assert_eq!(
            wallets.ask(&w, WalletCommand::Peek).await?,
            Ok(balance),
            "the retry stored nothing"
        );

        // After passivation (from the snapshot's window and horizon) and from a fresh
        // system (from the stored history): still the original reply, still stored once.
        assert!(wallets.passivate(&w).await);
        let again = wallets
            .ask(&w, WalletCommand::Deposit(7))
            .command_id(cmd)
            .await?;
        assert_eq!(again, Ok(7), "after passivation, {n} late");
        let fresh = system(&store, 8);
        let fresh_reply = fresh
            .actors::<Wallet>()
            .ask(&w, WalletCommand::Deposit(7))
            .command_id(cmd)
            .await?;
        assert_eq!(fresh_reply, Ok(7), "from a fresh system, {n} late");
        fresh.shutdown().await;
        assert_eq!(commands_stored(&store, &w, cmd).await, 1);
        assert_eq!(store.latest_version(&w).await?, 1 + n as u64);
    }
    assert!(
        sys.stats().command_lookups >= 3,
        "late retries were looked up: {:?}",
        sys.stats()
    );
    sys.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_v4_id_after_the_window_is_answered_from_the_history() -> anyhow::Result<()> {
    let store = aether_store_mem::InMemoryEventStore::new(common::ns());
    let sys = system(&store, 4);
    let wallets = sys.actors::<Wallet>();
    let w = id("w-v4");
    let cmd = Uuid::new_v4();
    wallets
        .ask(&w, WalletCommand::DepositMany(vec![2, 3]))
        .command_id(cmd)
        .await??;
    others(&wallets, &w, 20).await?;
    let retry = wallets
        .ask(&w, WalletCommand::DepositMany(vec![2, 3]))
        .command_id(cmd)
        .await?;
    assert_eq!(retry, Ok(5));
    assert_eq!(commands_stored(&store, &w, cmd).await, 1);
    assert_eq!(store.latest_version(&w).await?, 22);
    Ok(())
}

#[tokio::test]
async fn a_new_id_from_a_clock_minutes_behind_runs_once() -> anyhow::Result<()> {
    let store = aether_store_mem::InMemoryEventStore::new(common::ns());
    let sys = system(&store, 4);
    let wallets = sys.actors::<Wallet>();
    let w = id("w-behind");
    others(&wallets, &w, 20).await?;
    // Ten minutes behind: below the horizon, so it is looked up, not found, and run.
    let behind = aether_core::new_id_at(now_millis() - 10 * 60 * 1000);
    let lookups = sys.stats().command_lookups;
    let first = wallets
        .ask(&w, WalletCommand::Deposit(100))
        .command_id(behind)
        .await?;
    assert_eq!(first, Ok(120));
    assert_eq!(sys.stats().command_lookups, lookups + 1);
    // Asked again: answered, not run.
    let again = wallets
        .ask(&w, WalletCommand::Deposit(100))
        .command_id(behind)
        .await?;
    assert_eq!(again, Ok(120));
    others(&wallets, &w, 20).await?;
    let late = wallets
        .ask(&w, WalletCommand::Deposit(100))
        .command_id(behind)
        .await?;
    assert_eq!(late, Ok(120), "found far from where its clock points");
    assert_eq!(commands_stored(&store, &w, behind).await, 1);
    Ok(())
}

#[tokio::test]
async fn a_window_of_zero_looks_every_caller_id_up() -> anyhow::Result<()> {
    let store = aether_store_mem::InMemoryEventStore::new(common::ns());
    let sys = system(&store, 0);
    let wallets = sys.actors::<Wallet>();
    let w = id("w-zero");
    let ids: Vec<Uuid> = (0..5).map(|_| aether_core::new_id()).collect();
    for (i, cmd) in ids.iter().enumerate() {
        let r = wallets
            .ask(&w, WalletCommand::Deposit(1))
            .command_id(*cmd)
            .await?;
        assert_eq!(r, Ok(i as u64 + 1));
    }
    for (i, cmd) in ids.iter().enumerate() {
        let r = wallets
            .ask(&w, WalletCommand::Deposit(1))
            .command_id(*cmd)
            .await?;
        assert_eq!(r, Ok(i as u64 + 1), "answered from the history");
    }
    assert_eq!(sys.stats().command_lookups, 10);
    assert_eq!(store.latest_version(&w).await?, 5);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_actor_never_refuses_a_new_command() -> anyhow::Result<()> {
    let store = aether_store_mem::InMemoryEventStore::new(common::ns());
    let sys = ActorSystem::builder()
        .store(store.clone())
        .mailbox_capacity(4096)
        .build()?;
    let wallets = sys.actors::<Wallet>();
    let w = id("w-busy");
    // 4 concurrent clients, 1,000 commands each, every one with its own caller id: many
    // ids are made in the same millisecond, unordered among themselves, some below the
    // horizon; each runs exactly once.
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let wallets = wallets.clone();
            let w = w.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for _ in 0..1_000 {
                    let cmd = aether_core::new_id();
                    wallets
                        .ask(&w, WalletCommand::Deposit(1))
                        .command_id(cmd)
                        .await
                        .expect("not refused")
                        .expect("accepted");
                    ids.push(cmd);
                }
                ids
            })
        })
        .collect();
    let mut all = Vec::new();
    for c in clients {
        all.extend(c.await?);
    }
    assert_eq!(store.latest_version(&w).await?, 4_000);
    let stored: std::collections::HashSet<Uuid> = history(&store, &w)
        .await
        .iter()
        .filter_map(|e| e.metadata.causation_id)
        .collect();
    assert_eq!(stored.len(), 4_000);
    assert!(all.iter().all(|c| stored.contains(c)));
    sys.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn one_id_may_be_sent_to_two_actors() -> anyhow::Result<()> {
    let store = aether_store_mem::InMemoryEventStore::new(common::ns());
    let sys = system(&store, 2);
    let wallets = sys.actors::<Wallet>();
    let (a, b) = (id("w-a"), id("w-b"));
    let cmd = aether_core::new_id();
    assert_eq!(
        wallets
            .ask(&a, WalletCommand::Deposit(3))
            .command_id(cmd)
            .await?,
        Ok(3)
    );
    assert_eq!(
        wallets
            .ask(&b, WalletCommand::Deposit(4))
            .command_id(cmd)
            .await?,
        Ok(4)
    );
    others(&wallets, &a, 10).await?;
    assert_eq!(
        wallets
            .ask(&a, WalletCommand::Deposit(3))
            .command_id(cmd)
            .await?,
        Ok(3)
    );
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(commands_stored(&store, &b, cmd).await, 1);
    Ok(())
}

#[tokio::test]
async fn a_retry_stored_by_another_writer_meanwhile_is_answered_after_the_conflict(
) -> anyhow::Result<()> {
    let store = aether_store_mem::InMemoryEventStore::new(common::ns());
    for window in [32usize, 0] {
        let (a, b) = (system(&store, window), system(&store, window));
        let w = id(&format!("w-two-writers-{window}"));
        // Both systems hold the actor in memory at version 1.
        a.actors::<Wallet>()
            .ask(&w, WalletCommand::Deposit(1))
            .await??;
        b.actors::<Wallet>().ask(&w, WalletCommand::Peek).await??;
        let cmd = aether_core::new_id();
        assert_eq!(
            b.actors::<Wallet>()
                .ask(&w, WalletCommand::Deposit(5))
                .command_id(cmd)
                .await?,
            Ok(6)
        );
        // A does not know the id, decides, conflicts, catches up, and then recognises it.
        assert_eq!(
            a.actors::<Wallet>()
                .ask(&w, WalletCommand::Deposit(5))
                .command_id(cmd)
                .await?,
            Ok(6),
            "window {window}"
        );
        assert_eq!(commands_stored(&store, &w, cmd).await, 1, "window {window}");
        assert_eq!(store.latest_version(&w).await?, 2);
    }
    Ok(())
}

#[tokio::test]
async fn a_smaller_window_after_a_restart_still_finds_old_ids() -> anyhow::Result<()> {
    let store = aether_store_mem::InMemoryEventStore::new(common::ns());
    let w = id("w-shrink");
    let cmd = aether_core::new_id();
    let big = system(&store, 32);
    big.actors::<Wallet>()
        .ask(&w, WalletCommand::Deposit(9))
        .command_id(cmd)
        .await??;
    others(&big.actors::<Wallet>(), &w, 5).await?;
    big.shutdown().await; // a snapshot holding the window of 32
    for window in [0usize, 2] {
        let small = system(&store, window);
        let retry = small
            .actors::<Wallet>()
            .ask(&w, WalletCommand::Deposit(9))
            .command_id(cmd)
            .await?;
        assert_eq!(retry, Ok(9), "window {window}");
        small.shutdown().await;
    }
    assert_eq!(commands_stored(&store, &w, cmd).await, 1);
    assert_eq!(store.latest_version(&w).await?, 6);
    Ok(())
}
