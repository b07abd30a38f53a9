//! An aggregate's `reply` hook answers from the state after the command's events are
//! applied: a command without events answers from the unchanged state, the hooked reply is
//! the one stored with the events (so a retry with the same command id gets it, however
//! late, after passivation and from a fresh system), and a failed append never shows in
//! the state.

mod common;

use aether_actor::{ActorSystem, AggregateTest, AskErrorKind};
use aether_core::Uuid;
use common::{history, id, TestStore};
use serde::{Deserialize, Serialize};

/// A till that adds amounts; `decide` replies with a placeholder receipt (totals of zero,
/// and the sum it decided), and `reply` fills the totals in from the new state.
#[derive(Default, aether_macros::DescribeAggregate)]
#[aether(crate = "aether_core", type_name = "Till", command = TillCommand, event = TillEvent)]
struct Till;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, aether_macros::CommandNames)]
#[aether(crate = "aether_core")]
enum TillCommand {
    Add(u64),
    /// Each amount as its own event, in one append.
    AddMany(Vec<u64>),
    /// Accepted without events.
    Peek,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, aether_macros::EventNames)]
#[aether(crate = "aether_core")]
enum TillEvent {
    Added(u64),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct TillState {
    total: u64,
    events: u64,
}

/// What a command answers: the totals after it, and the sum `decide` decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Receipt {
    total: u64,
    events: u64,
    decided: u64,
}

impl aether_actor::Aggregate for Till {
    type Command = TillCommand;
    type Event = TillEvent;
    type State = TillState;
    type Reply = Receipt;
    type Error = ();

    fn decide(&self, _: &TillState, c: &TillCommand) -> Result<(Vec<TillEvent>, Receipt), ()> {
        let amounts = match c {
            TillCommand::Add(n) => vec![*n],
            TillCommand::AddMany(ns) => ns.clone(),
            TillCommand::Peek => vec![],
        };
        let placeholder = Receipt {
            total: 0,
            events: 0,
            decided: amounts.iter().sum(),
        };
        Ok((
            amounts.into_iter().map(TillEvent::Added).collect(),
            placeholder,
        ))
    }

    fn apply(s: &mut TillState, TillEvent::Added(n): &TillEvent) {
        s.total += n;
        s.events += 1;
    }

    fn reply(&self, s: &TillState, decided: Receipt) -> Receipt {
        Receipt {
            total: s.total,
            events: s.events,
            decided: decided.decided,
        }
    }
}

fn receipt(total: u64, events: u64, decided: u64) -> Receipt {
    Receipt {
        total,
        events,
        decided,
    }
}

fn system(store: &TestStore) -> anyhow::Result<ActorSystem> {
    Ok(ActorSystem::builder()
        .store(store.clone())
        .recent_command_ids(4)
        .snapshot_every(7)
        .build()?)
}

#[tokio::test]
async fn the_reply_reads_the_state_after_the_events() -> anyhow::Result<()> {
    let store = TestStore::new();
    let system = system(&store)?;
    let tills = system.actors::<Till>();
    let t = id("t-1");
    assert_eq!(
        tills.ask(&t, TillCommand::Add(5)).await?,
        Ok(receipt(5, 1, 5))
    );
    // Several events of one command are all applied before the reply.
    let many = TillCommand::AddMany(vec![1, 2, 3]);
    assert_eq!(tills.ask(&t, many).await?, Ok(receipt(11, 4, 6)));
    // The stored reply is the hooked one too: a retry of a supplied id reads it back.
    let c = Uuid::now_v7();
    let first = tills.ask(&t, TillCommand::Add(4)).command_id(c).await?;
    assert_eq!(first, Ok(receipt(15, 5, 4)));
    assert_eq!(
        tills.ask(&t, TillCommand::Add(4)).command_id(c).await?,
        first
    );
    assert_eq!(history(store.mem(), &t).await.len(), 5);
    system.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_command_without_events_replies_from_the_unchanged_state() -> anyhow::Result<()> {
    let store = TestStore::new();
    let system = system(&store)?;
    let tills = system.actors::<Till>();
    let t = id("t-1");
    // A new actor: the default state.
    assert_eq!(
        tills.ask(&t, TillCommand::Peek).await?,
        Ok(receipt(0, 0, 0))
    );
    tills
        .ask(&t, TillCommand::AddMany(vec![2, 3]))
        .await?
        .expect("accepted");
    assert_eq!(
        tills.ask(&t, TillCommand::Peek).await?,
        Ok(receipt(5, 2, 0))
    );
    assert_eq!(
        tills.ask(&t, TillCommand::Peek).await?,
        Ok(receipt(5, 2, 0))
    );
    assert_eq!(history(store.mem(), &t).await.len(), 2);
    system.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_retry_gets_the_original_hooked_reply_however_late() -> anyhow::Result<()> {
    let store = TestStore::new();
    let system = system(&store)?;
    let tills = system.actors::<Till>();
    let t = id("t-1");
    tills
        .ask(&t, TillCommand::Add(10))
        .await?
        .expect("accepted");
    let c = Uuid::now_v7();
    let original = tills.ask(&t, TillCommand::Add(5)).command_id(c).await?;
    assert_eq!(original, Ok(receipt(15, 2, 5)));
    let retry = || tills.ask(&t, TillCommand::Add(5)).command_id(c);

    // Many later commands, with ids of their own: far past the remembered window (4), so
    // the retry is looked up in the stored history.
    for _ in 0..30 {
        tills
            .ask(&t, TillCommand::Add(1))
            .command_id(Uuid::now_v7())
            .await?
            .expect("accepted");
    }
    assert_eq!(retry().await?, original, "after many later commands");
    assert_eq!(history(store.mem(), &t).await.len(), 32);

    assert!(tills.passivate(&t).await);
    assert_eq!(retry().await?, original, "after passivation");
    assert_eq!(history(store.mem(), &t).await.len(), 32);
    system.shutdown().await;

    let fresh = self::system(&store)?;
    let tills = fresh.actors::<Till>();
    assert_eq!(
        tills.ask(&t, TillCommand::Add(5)).command_id(c).await?,
        original,
        "from a fresh system"
    );
    // The state holds the command once.
    assert_eq!(
        tills.ask(&t, TillCommand::Peek).await?,
        Ok(receipt(45, 32, 0))
    );
    assert_eq!(history(store.mem(), &t).await.len(), 32);
    assert!(fresh.stats().duplicates >= 1);
    fresh.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_failed_append_never_shows_in_the_state() -> anyhow::Result<()> {
    let store = TestStore::new();
    let system = system(&store)?;
    let tills = system.actors::<Till>();
    let t = id("t-1");
    tills.ask(&t, TillCommand::Add(5)).await?.expect("accepted");
    store.set_fail_appends(true);
    let err = tills
        .ask(&t, TillCommand::AddMany(vec![7, 8]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), AskErrorKind::Store);
    store.set_fail_appends(false);
    // The events were applied to reply, but never stored: the state does not hold them.
    assert_eq!(
        tills.ask(&t, TillCommand::Peek).await?,
        Ok(receipt(5, 1, 0))
    );
    assert_eq!(
        tills.ask(&t, TillCommand::Add(1)).await?,
        Ok(receipt(6, 2, 1))
    );
    assert_eq!(history(store.mem(), &t).await.len(), 2);
    system.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_lost_acknowledgement_is_answered_with_the_hooked_reply_on_retry() -> anyhow::Result<()> {
    let store = TestStore::new();
    let system = system(&store)?;
    let tills = system.actors::<Till>();
    let t = id("t-1");
    tills.ask(&t, TillCommand::Add(5)).await?.expect("accepted");
    let c = Uuid::now_v7();
    store.set_fail_after_append(true);
    let err = tills
        .ask(&t, TillCommand::AddMany(vec![3, 4]))
        .command_id(c)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), AskErrorKind::Store);
    store.set_fail_after_append(false);
    // Stored after all: the retry gets the reply the hook gave before the append.
    assert_eq!(
        tills
            .ask(&t, TillCommand::AddMany(vec![3, 4]))
            .command_id(c)
            .await?,
        Ok(receipt(12, 3, 7))
    );
    // The state holds the command once.
    assert_eq!(
        tills.ask(&t, TillCommand::Peek).await?,
        Ok(receipt(12, 3, 0))
    );
    let stored = history(store.mem(), &t).await;
    assert_eq!(stored.len(), 3);
    let caused = stored
        .iter()
        .filter(|e| e.metadata.causation_id == Some(c))
        .count();
    assert_eq!(caused, 2, "the command's two events, stored once");
    system.shutdown().await;
    Ok(())
}

#[test]
fn the_given_when_then_helper_sees_the_hooked_reply() {
    AggregateTest::<Till>::given([TillEvent::Added(2)])
        .when(TillCommand::AddMany(vec![3, 4]))
        .then_expect_events([TillEvent::Added(3), TillEvent::Added(4)])
        .then_expect_reply(receipt(9, 3, 7))
        .then_expect_state(|s| assert_eq!((s.total, s.events), (9, 3)));
    AggregateTest::<Till>::given([TillEvent::Added(2)])
        .when(TillCommand::Peek)
        .then_expect_events([])
        .then_expect_reply(receipt(2, 1, 0));
}

#[test]
#[should_panic(expected = "reply")]
fn the_given_when_then_helper_refuses_the_placeholder_reply() {
    AggregateTest::<Till>::given([])
        .when(TillCommand::Add(3))
        .then_expect_reply(receipt(0, 0, 3));
}
