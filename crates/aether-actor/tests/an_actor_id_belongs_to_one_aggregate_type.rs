//! An actor id belongs to one aggregate type: asking it through another type's handle is
//! `WrongAggregateType` naming both, whether the history is read from events or a
//! snapshot; events stored without a type (record format 1) are accepted.

mod common;

use aether_actor::{ActorSystem, Aggregate, AskError};
use aether_core::{DescribeAggregate, EventStore, ExpectedVersion, NewEvent};
use common::{id, Wallet, WalletCommand, WalletEvent, WalletState};
use serde::{Deserialize, Serialize};

/// A type whose events and state have the wallet's shapes and names: without the recorded
/// type it would silently read a wallet's history.
#[derive(Default)]
struct Purse;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum PurseCommand {
    Deposit(u64),
}

impl DescribeAggregate for Purse {
    const TYPE_NAME: &'static str = "Purse";
    fn command_names() -> &'static [&'static str] {
        &["Deposit"]
    }
    fn event_names() -> &'static [&'static str] {
        &["Deposited", "Withdrawn"]
    }
}

impl Aggregate for Purse {
    type Command = PurseCommand;
    type Event = WalletEvent;
    type State = WalletState;
    type Reply = u64;
    type Error = ();
    fn decide(&self, s: &WalletState, c: &PurseCommand) -> Result<(Vec<WalletEvent>, u64), ()> {
        let PurseCommand::Deposit(n) = c;
        Ok((vec![WalletEvent::Deposited { amount: *n }], s.balance + n))
    }
    fn apply(s: &mut WalletState, e: &WalletEvent) {
        if let WalletEvent::Deposited { amount } = e {
            s.balance += amount;
        }
    }
}

fn assert_wrong_type(err: AskError<PurseCommand>, actor: &str) {
    match &err {
        AskError::WrongAggregateType {
            actor: a,
            stored,
            asked,
        } => {
            assert_eq!(
                (a.as_str(), stored.as_str(), *asked),
                (actor, "Wallet", "Purse")
            );
            let msg = err.to_string();
            assert!(msg.contains("Wallet") && msg.contains("Purse"), "{msg}");
        }
        other => panic!("expected WrongAggregateType, got {other}"),
    }
}

#[tokio::test]
async fn another_types_handle_is_refused_naming_both_types() -> anyhow::Result<()> {
    let store = aether_store_mem::InMemoryEventStore::new(common::ns());
    let sys = ActorSystem::builder()
        .store(store.clone())
        .snapshot_every(0)
        .build()?;
    let w = id("acc-1");
    sys.actors::<Wallet>()
        .ask(&w, WalletCommand::Deposit(3))
        .await??;
    // From the events.
    let err = sys
        .actors::<Purse>()
        .ask(&w, PurseCommand::Deposit(1))
        .await
        .unwrap_err();
    assert_wrong_type(err, "acc-1");
    // From a snapshot (written on passivation), by a fresh system.
    assert!(sys.actors::<Wallet>().passivate(&w).await);
    let other = ActorSystem::builder().store(store.clone()).build()?;
    let err = other
        .actors::<Purse>()
        .ask(&w, PurseCommand::Deposit(1))
        .await
        .unwrap_err();
    assert_wrong_type(err, "acc-1");
    assert_eq!(store.latest_version(&w).await?, 1, "nothing stored");
    Ok(())
}

#[tokio::test]
async fn events_without_a_recorded_type_are_accepted() -> anyhow::Result<()> {
    let store = aether_store_mem::InMemoryEventStore::new(common::ns());
    let w = id("legacy-1");
    let untyped = NewEvent::encode("Deposited", &WalletEvent::Deposited { amount: 4 })?;
    store
        .append(&w, ExpectedVersion::Exact(0), vec![untyped])
        .await?;
    let sys = ActorSystem::builder().store(store.clone()).build()?;
    assert_eq!(
        sys.actors::<Purse>()
            .ask(&w, PurseCommand::Deposit(1))
            .await?,
        Ok(5)
    );
    Ok(())
}

/// A type whose state has another shape than the wallet's.
#[derive(Default)]
struct Gauge;

impl DescribeAggregate for Gauge {
    const TYPE_NAME: &'static str = "Gauge";
    fn command_names() -> &'static [&'static str] {
        &["Deposit"]
    }
    fn event_names() -> &'static [&'static str] {
        &["Deposited", "Withdrawn"]
    }
}

impl Aggregate for Gauge {
    type Command = PurseCommand;
    type Event = WalletEvent;
    type State = Vec<String>;
    type Reply = usize;
    type Error = ();
    fn decide(&self, s: &Vec<String>, c: &PurseCommand) -> Result<(Vec<WalletEvent>, usize), ()> {
        let PurseCommand::Deposit(n) = c;
        Ok((vec![WalletEvent::Deposited { amount: *n }], s.len() + 1))
    }
    fn apply(s: &mut Vec<String>, _: &WalletEvent) {
        s.push("deposit".into());
    }
}

#[tokio::test]
async fn a_typed_snapshot_over_untyped_events_is_checked_before_its_state() -> anyhow::Result<()> {
    let store = aether_store_mem::InMemoryEventStore::new(common::ns());
    let w = id("legacy-2");
    let untyped = NewEvent::encode("Deposited", &WalletEvent::Deposited { amount: 4 })?;
    store
        .append(&w, ExpectedVersion::Exact(0), vec![untyped])
        .await?;
    let wallets = ActorSystem::builder().store(store.clone()).build()?;
    wallets
        .actors::<Wallet>()
        .ask(&w, WalletCommand::Peek)
        .await??;
    wallets.shutdown().await;
    // Only the snapshot (saved at shutdown) says the actor is a Wallet; its state does not
    // decode as a Gauge's, and the untyped events would replay.
    assert!(store.load_snapshot(&w, None).await?.is_some());
    let gauges = ActorSystem::builder().store(store.clone()).build()?;
    let err = gauges
        .actors::<Gauge>()
        .ask(&w, PurseCommand::Deposit(1))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AskError::WrongAggregateType { stored, asked, .. } if stored == "Wallet" && *asked == "Gauge"),
        "{err}"
    );
    Ok(())
}
