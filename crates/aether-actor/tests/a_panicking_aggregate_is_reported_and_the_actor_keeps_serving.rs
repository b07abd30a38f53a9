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

/// An aggregate whose `apply` panics on the amount 13 (after `decide` accepted it) and
/// whose `reply` panics on 7.
#[derive(Default, aether_macros::DescribeAggregate)]
#[aether(crate = "aether_core", type_name = "Fragile", command = Add, event = Added)]
struct Fragile;

#[derive(Debug, serde::Serialize, serde::Deserialize, aether_macros::CommandNames)]
#[aether(crate = "aether_core")]
struct Add(u64);

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize, aether_macros::EventNames)]
#[aether(crate = "aether_core")]
struct Added(u64);

impl aether_actor::Aggregate for Fragile {
    type Command = Add;
    type Event = Added;
    type State = u64;
    type Reply = u64;
    type Error = ();
    fn decide(&self, _: &u64, Add(n): &Add) -> Result<(Vec<Added>, u64), ()> {
        Ok((vec![Added(*n)], 0))
    }
    fn apply(s: &mut u64, Added(n): &Added) {
        assert!(*n != 13, "apply exploded");
        *s += n;
    }
    fn reply(&self, s: &u64, _: u64) -> u64 {
        assert!(*s % 10 != 7, "reply exploded");
        *s
    }
}

/// A panic in `apply` or `reply` comes before the events are stored (they run first, so
/// the reply can be stored with the events): the caller hears `Panicked`, nothing is
/// stored or broadcast, and the actor reloads its state and keeps serving.
#[tokio::test]
async fn a_panicking_apply_or_reply_stores_nothing_and_the_actor_keeps_serving(
) -> anyhow::Result<()> {
    use futures::StreamExt;
    let store = TestStore::new();
    let system = ActorSystem::builder().store(store.clone()).build()?;
    let mut sub = system.subscribe(aether_core::EventFilter::all()).await?;
    let fragile = system.actors::<Fragile>();
    let f = id("f-1");
    assert_eq!(fragile.ask(&f, Add(2)).await?, Ok(2));
    for (amount, what) in [
        (13, "apply exploded (in apply)"),
        (5, "reply exploded (in reply)"),
    ] {
        let err = fragile.ask(&f, Add(amount)).await.unwrap_err();
        assert_eq!(err.kind(), AskErrorKind::Panicked);
        let text = err.to_string();
        assert!(text.contains(what), "{text}");
        assert_eq!(
            history(store.mem(), &f).await.len(),
            1,
            "nothing stored for {amount}"
        );
    }
    // The state was reloaded from the store: the failed commands never show in it.
    assert_eq!(fragile.ask(&f, Add(3)).await?, Ok(5));
    let stored = history(store.mem(), &f).await;
    assert_eq!(stored.len(), 2);
    for want in &stored {
        let got = tokio::time::timeout(std::time::Duration::from_secs(2), sub.next())
            .await
            .map_err(|_| anyhow::anyhow!("event v{} was never broadcast", want.version))?;
        match got {
            Some(aether_core::BusMessage::Event(e)) => assert_eq!(*e, *want),
            other => panic!("expected event v{}, got {other:?}", want.version),
        }
    }
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(100), sub.next())
            .await
            .is_err(),
        "nothing else was broadcast"
    );
    Ok(())
}
