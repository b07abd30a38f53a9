//! `tell` queues a command and returns at once with its command id: a full mailbox and a
//! shutdown refuse it at once, a told command that is rejected or fails is counted and
//! logged at WARN, and an ask with the returned id answers the stored outcome without
//! running the command again.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aether_actor::{ActorStats, ActorSystem, AskError, AskErrorKind};
use aether_core::Uuid;
use common::{history, id, TestStore, Wallet, WalletCommand, WalletError};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// Waits until the store holds `n` events of `actor`, and returns them.
async fn wait_for_history(
    store: &TestStore,
    actor: &aether_core::ActorId,
    n: usize,
) -> Vec<aether_core::Event> {
    for _ in 0..500 {
        let stored = history(store.mem(), actor).await;
        if stored.len() >= n {
            return stored;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let have = history(store.mem(), actor).await.len();
    panic!("{actor} has {have} stored events, wanted {n}");
}

/// Waits until the system's stats satisfy `done`, and returns them.
async fn wait_for_stats(system: &ActorSystem, done: impl Fn(&ActorStats) -> bool) -> ActorStats {
    for _ in 0..500 {
        let stats = system.stats();
        if done(&stats) {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the stats never got there: {:?}", system.stats());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_told_command_returns_before_it_is_stored_and_is_answered_by_its_id() -> anyhow::Result<()>
{
    let store = TestStore::new();
    let system = ActorSystem::builder().store(store.clone()).build()?;
    let wallets = system.actors::<Wallet>();
    let w = id("w-1");
    store.set_append_delay(Duration::from_millis(300));
    let command_id = wallets.tell(&w, WalletCommand::Deposit(5))?;
    // Returned while the (slow) append has not even finished.
    assert!(history(store.mem(), &w).await.is_empty());
    let stored = wait_for_history(&store, &w, 1).await;
    assert_eq!(stored[0].metadata.causation_id, Some(command_id));
    store.set_append_delay(Duration::ZERO);

    // The returned id answers the stored reply, and nothing runs twice.
    let answer = wallets
        .ask(&w, WalletCommand::Deposit(5))
        .command_id(command_id)
        .await?;
    assert_eq!(answer, Ok(5));
    assert_eq!(history(store.mem(), &w).await.len(), 1);
    assert_eq!(system.stats().duplicates, 1);
    assert_eq!(wallets.ask(&w, WalletCommand::Peek).await?, Ok(5));
    system.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_built_ask_is_told_with_its_command_id_and_headers() -> anyhow::Result<()> {
    let store = TestStore::new();
    let system = ActorSystem::builder().store(store.clone()).build()?;
    let wallets = system.actors::<Wallet>();
    let w = id("w-1");
    let chosen = Uuid::now_v7();
    let told = wallets
        .ask(&w, WalletCommand::DepositMany(vec![1, 2]))
        .command_id(chosen)
        .header("tenant", "acme")
        .tell()?;
    assert_eq!(told, chosen);
    let stored = wait_for_history(&store, &w, 2).await;
    for e in &stored {
        assert_eq!(e.metadata.causation_id, Some(chosen));
        assert_eq!(
            e.metadata.headers.get("tenant").map(String::as_str),
            Some("acme")
        );
    }
    let again = wallets
        .ask(&w, WalletCommand::DepositMany(vec![1, 2]))
        .command_id(chosen)
        .await?;
    assert_eq!(again, Ok(3));
    assert_eq!(history(store.mem(), &w).await.len(), 2);
    system.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_mailbox_hands_a_told_command_back_at_once() -> anyhow::Result<()> {
    let store = TestStore::new();
    let system = ActorSystem::builder()
        .store(store.clone())
        .mailbox_capacity(1)
        .build()?;
    let wallets = system.actors::<Wallet>();
    let w = id("w-1");
    store.set_append_delay(Duration::from_millis(300));
    // The first command occupies the actor (its append is slow), the second fills the
    // mailbox ...
    wallets.tell(&w, WalletCommand::Deposit(1))?;
    store.wait_for_appends(1).await;
    wallets.tell(&w, WalletCommand::Deposit(2))?;
    // ... and the third, told either way, is handed back at once.
    match wallets.tell(&w, WalletCommand::Deposit(3)) {
        Err(AskError::MailboxFull(cmd)) => assert_eq!(cmd, WalletCommand::Deposit(3)),
        other => panic!("expected MailboxFull, got {other:?}"),
    }
    let built = wallets
        .ask(&w, WalletCommand::Deposit(4))
        .command_id(Uuid::now_v7())
        .tell();
    match built {
        Err(AskError::MailboxFull(cmd)) => assert_eq!(cmd, WalletCommand::Deposit(4)),
        other => panic!("expected MailboxFull, got {other:?}"),
    }
    // An ask is refused the same way while the two told commands are queued.
    let asked = wallets.ask(&w, WalletCommand::Deposit(5)).await;
    assert!(matches!(asked, Err(AskError::MailboxFull(_))), "{asked:?}");

    // Only the two accepted ones are stored.
    store.set_append_delay(Duration::ZERO);
    wait_for_history(&store, &w, 2).await;
    assert_eq!(wallets.ask(&w, WalletCommand::Peek).await?, Ok(3));
    assert_eq!(history(store.mem(), &w).await.len(), 2);
    system.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn telling_after_shutdown_is_refused() -> anyhow::Result<()> {
    let store = TestStore::new();
    let system = ActorSystem::builder().store(store.clone()).build()?;
    let wallets = system.actors::<Wallet>();
    let (active, new) = (id("w-1"), id("w-2"));
    wallets.ask(&active, WalletCommand::Deposit(1)).await??;
    system.shutdown().await;
    for w in [&active, &new] {
        let told = wallets.tell(w, WalletCommand::Deposit(2));
        assert!(matches!(told, Err(AskError::ShuttingDown)), "{told:?}");
        let built = wallets
            .ask(w, WalletCommand::Deposit(2))
            .command_id(Uuid::now_v7())
            .tell();
        assert!(matches!(built, Err(AskError::ShuttingDown)), "{built:?}");
    }
    assert_eq!(history(store.mem(), &active).await.len(), 1);
    assert!(history(store.mem(), &new).await.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_and_failed_told_commands_are_counted() -> anyhow::Result<()> {
    let store = TestStore::new();
    let system = ActorSystem::builder().store(store.clone()).build()?;
    let wallets = system.actors::<Wallet>();
    let w = id("w-1");
    wallets.ask(&w, WalletCommand::Deposit(3)).await??;

    let rejected = wallets.tell(&w, WalletCommand::Withdraw(10))?;
    let stats = wait_for_stats(&system, |s| s.told_rejected >= 1).await;
    assert_eq!((stats.told_rejected, stats.told_failed), (1, 0));

    store.set_fail_appends(true);
    wallets.tell(&w, WalletCommand::Deposit(1))?;
    let stats = wait_for_stats(&system, |s| s.told_failed >= 1).await;
    assert_eq!((stats.told_rejected, stats.told_failed), (1, 1));
    store.set_fail_appends(false);

    // A told command that succeeds counts as neither.
    wallets.tell(&w, WalletCommand::Deposit(2))?;
    wait_for_history(&store, &w, 2).await;
    let stats = system.stats();
    assert_eq!((stats.told_rejected, stats.told_failed), (1, 1));
    // Asks that fail are the caller's to handle: not counted as told.
    let err = wallets
        .ask(&w, WalletCommand::Withdraw(100))
        .await?
        .unwrap_err();
    assert!(matches!(err, WalletError::InsufficientFunds { .. }));
    store.set_fail_appends(true);
    let failed = wallets
        .ask(&w, WalletCommand::Deposit(1))
        .await
        .unwrap_err();
    assert_eq!(failed.kind(), AskErrorKind::Store);
    store.set_fail_appends(false);
    let stats = system.stats();
    assert_eq!((stats.told_rejected, stats.told_failed), (1, 1));

    // The rejected command stored nothing: asked with its id, it is decided anew.
    let again = wallets
        .ask(&w, WalletCommand::Withdraw(10))
        .command_id(rejected)
        .await?;
    assert_eq!(
        again,
        Err(WalletError::InsufficientFunds {
            balance: 5,
            wanted: 10
        })
    );
    assert_eq!(history(store.mem(), &w).await.len(), 2);
    system.shutdown().await;
    Ok(())
}

/// The WARN events logged: each one's message and fields, as text.
#[derive(Clone, Default)]
struct Warnings(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> Layer<S> for Warnings {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if *event.metadata().level() != tracing::Level::WARN {
            return;
        }
        let mut text = Text(String::new());
        event.record(&mut text);
        self.0.lock().unwrap().push(text.0);
    }
}

/// Writes an event's fields as `name=value` pairs.
struct Text(String);

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={value:?} ", field.name()));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.push_str(&format!("{}={value} ", field.name()));
    }
}

/// The subscriber is the process's global default, the only one of this test binary:
/// a thread-local default misses events whose callsite another test's thread (without a
/// subscriber) registered first, when tests share a process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_and_failed_told_commands_are_logged_at_warn() -> anyhow::Result<()> {
    let warnings = Warnings::default();
    let subscriber = tracing_subscriber::registry().with(warnings.clone());
    tracing::subscriber::set_global_default(subscriber)?;

    let store = TestStore::new();
    let system = ActorSystem::builder().store(store.clone()).build()?;
    let wallets = system.actors::<Wallet>();
    let w = id("w-1");
    let rejected = wallets.tell(&w, WalletCommand::Withdraw(10))?;
    wait_for_stats(&system, |s| s.told_rejected >= 1).await;
    store.set_fail_appends(true);
    let failed = wallets.tell(&w, WalletCommand::Deposit(1))?;
    wait_for_stats(&system, |s| s.told_failed >= 1).await;
    store.set_fail_appends(false);
    system.shutdown().await;

    let logged = warnings.0.lock().unwrap().clone();
    let find = |what: &str, command_id: Uuid| {
        logged
            .iter()
            .find(|l| l.contains(what) && l.contains(&command_id.to_string()))
            .cloned()
            .unwrap_or_else(|| panic!("no WARN {what:?} for {command_id} in {logged:#?}"))
    };
    let line = find("rejected", rejected);
    assert!(line.contains("w-1"), "{line}");
    let line = find("failed", failed);
    assert!(line.contains("w-1"), "{line}");
    // The technical error is logged with the failure.
    assert!(line.contains("error="), "{line}");
    Ok(())
}
