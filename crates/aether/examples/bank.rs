//! The Aether bank: accounts and transfers as event-sourced actors, run embedded.
//!
//! ```text
//! cargo run --example bank                                            # embedded, no server
//! cargo run --example bank --features jetstream -- nats://127.0.0.1:4222  # events in JetStream
//! ```
//!
//! With a NATS URL (as the first argument or in `AETHER_NATS_URL`) and the `jetstream`
//! feature, the same story runs with its events in NATS JetStream, in a fresh namespace
//! `bank-<unix time>` so that every run starts from empty accounts.
//!
//! It tells a short story on standard output: customers open accounts and move money
//! (commands in, events out, a domain error as a reply), a transfer crosses two accounts
//! driven by policies that react to events, a duplicate command id is answered once, a
//! second actor system on the same store causes a real version conflict that is retried,
//! actors snapshot, passivate when idle and rehydrate on the next command, and a read model
//! fed live by a subscription keeps the balances.
//!
//! The domain (the `Account` and `Transfer` aggregates) is in `bank/domain.rs`.

// Amounts are cents, written `100_00` for 100.00.
#![allow(
    clippy::inconsistent_digit_grouping,
    reason = "amounts are cents, grouped as currency: 100_00 for 100.00"
)]

#[path = "bank/domain.rs"]
mod domain;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aether::prelude::*;
use aether::{Event, EventBroadcaster, EventBus, EventStore, EventStoreExt};
use domain::{
    money, Account, AccountCommand, AccountEvent, AccountEventKind, Transfer, TransferCommand,
    TransferEvent, TransferEventKind, TransferStatus,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let nats_url = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("AETHER_NATS_URL").ok());
    let store = open_store(nats_url).await?;
    let bus: Arc<dyn EventBroadcaster> = Arc::new(EventBus::new());
    story(store, bus).await
}

/// The one place where the event store is chosen: JetStream when a NATS URL is given (and
/// the `jetstream` feature is on), else the embedded in-memory store, no server. (Also run
/// by `tests/the_bank_example_runs_on_jetstream.rs`, with `story`, against a real server.)
pub(crate) async fn open_store(nats_url: Option<String>) -> anyhow::Result<Arc<dyn EventStore>> {
    match nats_url {
        #[cfg(feature = "jetstream")]
        Some(url) => {
            use aether::jetstream::{JetStreamEventStore, JetStreamStoreOptions};
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs();
            let namespace = Namespace::new(format!("bank-{secs}"))?;
            println!(
                "Aether bank example: event-sourced actors, events in NATS JetStream at {url} \
                 (namespace {namespace}), in-process bus"
            );
            let store =
                JetStreamEventStore::connect(&url, namespace, JetStreamStoreOptions::new()).await?;
            Ok(Arc::new(store))
        }
        #[cfg(not(feature = "jetstream"))]
        Some(url) => anyhow::bail!(
            "a NATS URL ({url}) was given, but the example was built without the `jetstream` \
             feature: run `cargo run --example bank --features jetstream -- {url}`"
        ),
        None => {
            println!(
                "Aether bank example: event-sourced actors, embedded (in-memory store, in-process bus)"
            );
            Ok(Arc::new(InMemoryEventStore::new(Namespace::new("bank")?)))
        }
    }
}

/// How a node of the bank is configured.
fn node(
    store: &Arc<dyn EventStore>,
    bus: &Arc<dyn EventBroadcaster>,
) -> anyhow::Result<ActorSystem> {
    Ok(ActorSystem::builder()
        .shared_store(store.clone())
        .shared_broadcaster(bus.clone())
        .snapshot_every(5)
        .passivate_after(Duration::from_millis(400))
        .conflict_retries(3)
        .build()?)
}

fn id(s: &str) -> ActorId {
    ActorId::new(s).expect("a valid actor id")
}

fn deposit(amount: u64) -> AccountCommand {
    AccountCommand::DepositMoney {
        amount,
        transfer: None,
    }
}

pub(crate) async fn story(
    store: Arc<dyn EventStore>,
    bus: Arc<dyn EventBroadcaster>,
) -> anyhow::Result<()> {
    let node_a = node(&store, &bus)?;
    let accounts = node_a.actors::<Account>();
    let transfers = node_a.actors::<Transfer>();
    let (alice, bob) = (id("acc-alice"), id("acc-bob"));

    section("1. Read models and policies subscribe to the bus");
    let balances = AccountBalances::start(&node_a).await?;
    let history = TransferHistory::start(&node_a).await?;
    start_policies(&node_a, accounts.clone(), transfers.clone()).await?;
    println!("   AccountBalances  <- AccountOpened, MoneyDeposited, MoneyWithdrawn");
    println!("   TransferHistory  <- TransferStarted, TransferCompleted, TransferFailed");
    println!(
        "   policies         <- DebitSourceOnStart, RecordDebitOnWithdrawal, CreditTargetOnDebit,"
    );
    println!("                       CompleteOnCredit, FailOnRejectedDebit");

    section("2. Commands in, events out");
    for (acc, owner) in [(&alice, "Alice"), (&bob, "Bob")] {
        let cmd = AccountCommand::OpenAccount {
            owner: owner.into(),
        };
        let reply = accounts.ask(acc, cmd).await??;
        let outcome = format!("AccountOpened, balance {}", money(reply.balance));
        said(acc, &format!("OpenAccount {owner}"), &outcome);
    }
    let reply = accounts.ask(&alice, deposit(100_00)).await??;
    let outcome = format!("MoneyDeposited, balance {}", money(reply.balance));
    said(&alice, "DepositMoney 100.00", &outcome);
    let cmd = AccountCommand::WithdrawMoney {
        amount: 50_00,
        transfer: None,
    };
    let outcome = match accounts.ask(&bob, cmd).await? {
        Ok(b) => format!("unexpected: accepted, balance {}", money(b.balance)),
        Err(e) => format!("rejected: {e} (a reply; no event stored)"),
    };
    said(&bob, "WithdrawMoney 50.00", &outcome);
    balances.wait_for(&alice, 100_00).await?;
    println!("   live read model AccountBalances: {}", balances.show());

    section("3. A transfer across two accounts, driven by policies");
    start_transfer(&transfers, "tr-0001", &alice, &bob, 30_00).await?;
    let done = history.wait_for_end("tr-0001").await?;
    println!("   tr-0001 ended: {done}");
    balances.wait_for(&bob, 30_00).await?;
    println!("   live read model AccountBalances: {}", balances.show());

    section("4. A transfer whose debit is refused");
    start_transfer(&transfers, "tr-0002", &bob, &alice, 500_00).await?;
    let done = history.wait_for_end("tr-0002").await?;
    println!("   tr-0002 ended: {done}");

    section("5. A duplicate command id is answered once");
    let command_id = Uuid::now_v7();
    let first = accounts
        .ask(&alice, deposit(10_00))
        .command_id(command_id)
        .await??;
    println!(
        "   Customer -> {alice}: DepositMoney 10.00, command id {command_id} => balance {}",
        money(first.balance)
    );
    let again = accounts
        .ask(&alice, deposit(10_00))
        .command_id(command_id)
        .await??;
    println!("   the same command again (a client retry)              => balance {}, answered from the stored result", money(again.balance));
    let stored = store
        .read_all(&alice)
        .await?
        .iter()
        .filter(|e| e.metadata.causation_id == Some(command_id))
        .count();
    println!("   events stored with causation id {command_id}: {stored}");

    section("6. A real version conflict, retried");
    let version_a = store.latest_version(&alice).await?;
    println!("   node A holds {alice} in memory at version {version_a}");
    let node_b = node(&store, &bus)?;
    let reply = node_b
        .actors::<Account>()
        .ask(&alice, deposit(5_00))
        .await??;
    println!(
        "   node B (a second ActorSystem on the same store) deposits 5.00 => version {}, balance {}",
        store.latest_version(&alice).await?,
        money(reply.balance)
    );
    let conflicts_before = node_a.stats().conflicts;
    let reply = accounts.ask(&alice, deposit(1_00)).await??;
    println!(
        "   node A: DepositMoney 1.00 expected version {version_a}, conflicted ({} conflict), caught up, decided again",
        node_a.stats().conflicts - conflicts_before
    );
    println!(
        "          => balance {} (node B's 5.00 included), version {}",
        money(reply.balance),
        store.latest_version(&alice).await?
    );
    node_b.shutdown().await;

    section("7. Snapshots");
    for _ in 0..3 {
        accounts.ask(&alice, deposit(2_00)).await??;
    }
    let latest = store.latest_version(&alice).await?;
    let snapshot = store.load_snapshot(&alice, None).await?.map(|s| s.version);
    println!(
        "   snapshot every 5 events: {alice} has {latest} events, newest snapshot at version {}",
        snapshot.map_or("none".into(), |v| v.to_string())
    );
    if let Some(v) = snapshot {
        println!(
            "   activating it now would load that snapshot and replay only versions {} to {latest}",
            v + 1
        );
    }

    section("8. Passivation and rehydration");
    let active = node_a.active_actors();
    println!("   active actors now: {active}; no commands for a while (they passivate after 400 ms idle)");
    let idle_since = std::time::Instant::now();
    wait_until(|| node_a.active_actors() == 0).await?;
    println!(
        "   all passivated after {} ms of quiet",
        idle_since.elapsed().as_millis()
    );
    let snapshot = store.load_snapshot(&alice, None).await?.map(|s| s.version);
    println!(
        "   active actors now: {} (each saved a snapshot when passivated; {alice}'s is at version {})",
        node_a.active_actors(),
        snapshot.map_or("none".into(), |v| v.to_string())
    );
    let activations = node_a.stats().activations;
    let latest = store.latest_version(&alice).await?;
    let reply = accounts.ask(&alice, deposit(1_00)).await??;
    println!(
        "   Customer -> {alice}: DepositMoney 1.00 => rehydrated ({} activation: the snapshot at version {} plus {} later events), balance {}",
        node_a.stats().activations - activations,
        snapshot.map_or("none".into(), |v| v.to_string()),
        latest - snapshot.unwrap_or(0),
        money(reply.balance)
    );

    section("9. The live projection");
    balances.wait_for(&alice, reply.balance).await?;
    println!("   AccountBalances: {}", balances.show());
    println!("   TransferHistory: {}", history.show());
    for acc in [&alice, &bob] {
        let replayed = replay_balance(&*store, acc).await?;
        let projected = balances.get(acc);
        let verdict = if Some(replayed) == projected {
            "matches"
        } else {
            "DIFFERS"
        };
        println!(
            "   {acc}: replayed from the store {} — the read model {verdict}",
            money(replayed)
        );
        anyhow::ensure!(
            Some(replayed) == projected,
            "the read model disagrees with the store"
        );
    }

    node_a.shutdown().await;
    let s = node_a.stats();
    section("Node A's runtime counters");
    println!(
        "   activations {}, passivations {}, snapshots {}, appends {}, conflicts {}, duplicates {}",
        s.activations, s.passivations, s.snapshots, s.appends, s.conflicts, s.duplicates
    );
    Ok(())
}

/// Prints one customer command and its outcome.
fn said(target: &ActorId, command: &str, outcome: &str) {
    let target = format!("{target}:");
    println!("   Customer -> {target:<10} {command:<20} => {outcome}");
}

fn section(title: &str) {
    println!("\n{title}");
}

async fn start_transfer(
    transfers: &Actors<Transfer>,
    tr: &str,
    from: &ActorId,
    to: &ActorId,
    amount: u64,
) -> anyhow::Result<()> {
    let cmd = TransferCommand::StartTransfer {
        from: from.to_string(),
        to: to.to_string(),
        amount,
    };
    println!(
        "   Customer -> {tr}: StartTransfer {} from {from} to {to}",
        money(amount)
    );
    transfers.ask(&id(tr), cmd).await??;
    Ok(())
}

/// The balance of `acc` computed from its stored events, independently of the actors.
pub(crate) async fn replay_balance(store: &dyn EventStore, acc: &ActorId) -> anyhow::Result<u64> {
    let mut balance = 0;
    for e in store.read_all(acc).await? {
        match e.decode::<AccountEvent>()? {
            AccountEvent::AccountOpened { .. } => {}
            AccountEvent::MoneyDeposited { amount, .. } => balance += amount,
            AccountEvent::MoneyWithdrawn { amount, .. } => balance -= amount,
        }
    }
    Ok(balance)
}

// ---------------------------------------------------------------------------------------
// Policies: when an event happens, ask an actor to do something.
// ---------------------------------------------------------------------------------------

async fn start_policies(
    system: &ActorSystem,
    accounts: Actors<Account>,
    transfers: Actors<Transfer>,
) -> anyhow::Result<()> {
    // Typed: the kinds the derive generated beside each event enum, no strings.
    let filter = EventFilter::all()
        .kinds([
            TransferEventKind::TransferStarted,
            TransferEventKind::TransferDebited,
        ])
        .kinds([
            AccountEventKind::MoneyWithdrawn,
            AccountEventKind::MoneyDeposited,
        ]);
    let mut events = system.subscribe(filter).await?;
    tokio::spawn(async move {
        while let Some(msg) = events.next().await {
            let BusMessage::Event(event) = msg else {
                println!("   [policies] fell behind the bus; a durable projection would catch up from the store");
                continue;
            };
            if let Err(e) = react(&event, &accounts, &transfers).await {
                println!(
                    "   [policies] failed on {} of {}: {e}",
                    event.event_type, event.actor_id
                );
            }
        }
    });
    Ok(())
}

/// Runs the policy that matches `event`. The command id of each command a policy sends is
/// the id of the event that triggered it, so a redelivered event never acts twice.
async fn react(
    event: &Event,
    accounts: &Actors<Account>,
    transfers: &Actors<Transfer>,
) -> anyhow::Result<()> {
    match event.aggregate_type() {
        Some(Transfer::TYPE_NAME) => on_transfer(event, event.decode()?, accounts, transfers).await,
        Some(Account::TYPE_NAME) => on_account(event, event.decode()?, transfers).await,
        _ => Ok(()),
    }
}

/// The policies that follow a transfer's events.
async fn on_transfer(
    event: &Event,
    transfer_event: TransferEvent,
    accounts: &Actors<Account>,
    transfers: &Actors<Transfer>,
) -> anyhow::Result<()> {
    let source = &event.actor_id;
    match transfer_event {
        TransferEvent::TransferStarted { from, amount, .. } => {
            let cmd = AccountCommand::WithdrawMoney {
                amount,
                transfer: Some(source.to_string()),
            };
            let outcome = accounts.ask(&id(&from), cmd).command_id(event.id).await?;
            match outcome {
                Ok(b) => println!(
                    "     TransferStarted   -> DebitSourceOnStart      -> {from}: WithdrawMoney {} (balance {})",
                    money(amount),
                    money(b.balance)
                ),
                Err(rejection) => {
                    println!("     TransferStarted   -> DebitSourceOnStart      -> {from}: WithdrawMoney {} => rejected: {rejection}", money(amount));
                    let cmd = TransferCommand::FailTransfer {
                        reason: rejection.to_string(),
                    };
                    transfers.ask(source, cmd).command_id(event.id).await??;
                    println!("     (rejection reply) -> FailOnRejectedDebit     -> {source}: FailTransfer => TransferFailed");
                }
            }
        }
        TransferEvent::TransferDebited { to, amount } => {
            let cmd = AccountCommand::DepositMoney {
                amount,
                transfer: Some(source.to_string()),
            };
            let b = accounts.ask(&id(&to), cmd).command_id(event.id).await??;
            println!(
                "     TransferDebited   -> CreditTargetOnDebit     -> {to}: DepositMoney {} (balance {})",
                money(amount),
                money(b.balance)
            );
        }
        _ => {}
    }
    Ok(())
}

/// The policies that follow an account's events: those of a transfer move it on.
async fn on_account(
    event: &Event,
    account_event: AccountEvent,
    transfers: &Actors<Transfer>,
) -> anyhow::Result<()> {
    match account_event {
        AccountEvent::MoneyWithdrawn {
            transfer: Some(tr), ..
        } => {
            transfers
                .ask(&id(&tr), TransferCommand::RecordDebit)
                .command_id(event.id)
                .await??;
            println!("     MoneyWithdrawn    -> RecordDebitOnWithdrawal -> {tr}: RecordDebit => TransferDebited");
        }
        AccountEvent::MoneyDeposited {
            transfer: Some(tr), ..
        } => {
            transfers
                .ask(&id(&tr), TransferCommand::RecordCredit)
                .command_id(event.id)
                .await??;
            println!("     MoneyDeposited    -> CompleteOnCredit        -> {tr}: RecordCredit => TransferCompleted");
        }
        _ => {}
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Read models, fed live by subscriptions.
// ---------------------------------------------------------------------------------------

/// Balances per account, from AccountOpened, MoneyDeposited and MoneyWithdrawn.
#[derive(Clone, Default)]
struct AccountBalances {
    balances: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl AccountBalances {
    async fn start(system: &ActorSystem) -> anyhow::Result<Self> {
        // Every event of every account, typed by the aggregate.
        let filter = EventFilter::of::<Account>();
        let mut events = system.subscribe(filter).await?;
        let model = AccountBalances::default();
        let m = model.clone();
        tokio::spawn(async move {
            while let Some(BusMessage::Event(e)) = events.next().await {
                let Ok(event) = e.decode::<AccountEvent>() else {
                    continue;
                };
                let mut b = m.balances.lock().expect("not poisoned");
                let balance = b.entry(e.actor_id.to_string()).or_default();
                match event {
                    AccountEvent::AccountOpened { .. } => {}
                    AccountEvent::MoneyDeposited { amount, .. } => *balance += amount,
                    AccountEvent::MoneyWithdrawn { amount, .. } => *balance -= amount,
                }
            }
        });
        Ok(model)
    }

    fn get(&self, acc: &ActorId) -> Option<u64> {
        self.balances
            .lock()
            .expect("not poisoned")
            .get(acc.as_str())
            .copied()
    }

    async fn wait_for(&self, acc: &ActorId, balance: u64) -> anyhow::Result<()> {
        wait_until(|| self.get(acc) == Some(balance)).await
    }

    fn show(&self) -> String {
        let b = self.balances.lock().expect("not poisoned");
        b.iter()
            .map(|(k, v)| format!("{k} {}", money(*v)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The transfers and how they ended, from TransferStarted, TransferCompleted and
/// TransferFailed.
#[derive(Clone, Default)]
struct TransferHistory {
    transfers: Arc<Mutex<BTreeMap<String, String>>>,
}

impl TransferHistory {
    async fn start(system: &ActorSystem) -> anyhow::Result<Self> {
        let filter = EventFilter::of::<Transfer>().kinds([
            TransferEventKind::TransferStarted,
            TransferEventKind::TransferCompleted,
            TransferEventKind::TransferFailed,
        ]);
        let mut events = system.subscribe(filter).await?;
        let model = TransferHistory::default();
        let m = model.clone();
        tokio::spawn(async move {
            while let Some(BusMessage::Event(e)) = events.next().await {
                let Ok(event) = e.decode::<TransferEvent>() else {
                    continue;
                };
                let line = match event {
                    TransferEvent::TransferStarted { from, to, amount } => {
                        format!("started: {} from {from} to {to}", money(amount))
                    }
                    TransferEvent::TransferCompleted => format!("{:?}", TransferStatus::Completed),
                    TransferEvent::TransferFailed { reason } => {
                        format!("{:?} ({reason})", TransferStatus::Failed)
                    }
                    TransferEvent::TransferDebited { .. } => continue,
                };
                m.transfers
                    .lock()
                    .expect("not poisoned")
                    .insert(e.actor_id.to_string(), line);
            }
        });
        Ok(model)
    }

    async fn wait_for_end(&self, tr: &str) -> anyhow::Result<String> {
        let ended = || {
            self.transfers
                .lock()
                .expect("not poisoned")
                .get(tr)
                .filter(|s| !s.starts_with("started"))
                .cloned()
        };
        wait_until(|| ended().is_some()).await?;
        Ok(ended().unwrap_or_default())
    }

    fn show(&self) -> String {
        let t = self.transfers.lock().expect("not poisoned");
        t.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Polls `done` until it holds, for at most five seconds.
async fn wait_until(mut done: impl FnMut() -> bool) -> anyhow::Result<()> {
    // (Read models and passivation are asynchronous; the story waits for them to show.)
    for _ in 0..1000 {
        if done() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    anyhow::bail!("still waiting after five seconds")
}
