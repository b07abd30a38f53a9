//! A panic in the aggregate's code is reported to the caller as `Panicked`, naming the
//! function that panicked; it stores nothing, and the actor keeps serving.

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
    // The panic's message, and which of the aggregate's functions panicked.
    let text = err.to_string();
    assert!(text.contains("decide exploded (in decide)"), "{text}");
    assert_eq!(wallets.ask(&w, WalletCommand::Deposit(2)).await?, Ok(4));
    assert_eq!(history(store.mem(), &w).await.len(), 2);
    Ok(())
}

/// An aggregate whose `apply` panics on the amount 13 (after `decide` accepted it).
#[derive(Default)]
struct Fragile;

impl aether_core::DescribeAggregate for Fragile {
    const TYPE_NAME: &'static str = "Fragile";
    fn command_names() -> &'static [&'static str] {
        &["Add"]
    }
    fn event_names() -> &'static [&'static str] {
        &["Added"]
    }
}

impl aether_actor::Aggregate for Fragile {
    type Command = u64;
    type Event = u64;
    type State = u64;
    type Reply = u64;
    type Error = ();
    fn event_type(_: &u64) -> &'static str {
        "Added"
    }
    fn decide(&self, s: &u64, n: &u64) -> Result<(Vec<u64>, u64), ()> {
        Ok((vec![*n], s + n))
    }
    fn apply(s: &mut u64, n: &u64) {
        assert!(*n != 13, "apply exploded");
        *s += n;
    }
}

/// A panic in `apply` comes after the events are stored: the caller hears `Panicked`, and
/// the stored events are still broadcast (subscribers must not miss what the store holds).
#[tokio::test]
async fn events_stored_before_a_panicking_apply_are_still_broadcast() -> anyhow::Result<()> {
    use futures::StreamExt;
    let store = TestStore::new();
    let system = ActorSystem::builder().store(store.clone()).build()?;
    let mut sub = system.subscribe(aether_core::EventFilter::all()).await?;
    let fragile = system.actors::<Fragile>();
    let f = id("f-1");
    assert_eq!(fragile.ask(&f, 2).await?, Ok(2));
    let err = fragile.ask(&f, 13).await.unwrap_err();
    assert_eq!(err.kind(), AskErrorKind::Panicked);
    let text = err.to_string();
    assert!(text.contains("apply exploded (in apply)"), "{text}");
    let stored = history(store.mem(), &f).await;
    assert_eq!(stored.len(), 2, "the event was stored before apply ran");
    for want in &stored {
        let got = tokio::time::timeout(std::time::Duration::from_secs(2), sub.next())
            .await
            .map_err(|_| anyhow::anyhow!("event v{} was never broadcast", want.version))?;
        match got {
            Some(aether_core::BusMessage::Event(e)) => assert_eq!(*e, *want),
            other => panic!("expected event v{}, got {other:?}", want.version),
        }
    }
    Ok(())
}
