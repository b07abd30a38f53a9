//! The bank example, as `cargo run --example bank --features jetstream -- <url>` runs it,
//! against a real nats-server: the store is chosen by the example's own `open_store` with
//! the server's URL (the facade's `jetstream` feature), the whole story runs, and its
//! events are in JetStream: a second connection to the story's namespace reads the same
//! histories, and the replayed balances are the story's outcome.
#![cfg(feature = "itest")]
// Amounts are cents, written `100_00` for 100.00, as in the example.
#![allow(
    clippy::inconsistent_digit_grouping,
    reason = "amounts are cents, grouped as currency: 100_00 for 100.00"
)]

// The example's `main` is not called here: the test runs what it runs.
#[allow(
    dead_code,
    reason = "the test runs what the example's main runs, not main itself"
)]
#[path = "../examples/bank.rs"]
mod bank;

use std::sync::Arc;

use aether::jetstream::{JetStreamEventStore, JetStreamStoreOptions};
use aether::{ActorId, EventBroadcaster, EventBus, EventStore, EventStoreExt};
use aether_testkit::NatsServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bank_story_runs_with_its_events_in_jetstream() -> anyhow::Result<()> {
    let server = NatsServer::start();
    let url = server.url();
    let store = bank::open_store(Some(url.clone())).await?;
    let ns = store.namespace().clone();
    assert!(ns.as_str().starts_with("bank-"), "a fresh namespace: {ns}");
    let bus: Arc<dyn EventBroadcaster> = Arc::new(EventBus::new());
    bank::story(store.clone(), bus).await?;

    // What the story stored is in the server: a second connection reads the same events.
    let again = aether_testkit::retry_while_transient(std::time::Duration::from_secs(30), || {
        JetStreamEventStore::connect(&url, ns.clone(), JetStreamStoreOptions::new())
    })
    .await?;
    // 100.00 deposited, 30.00 transferred to Bob, the refused transfer changed nothing,
    // then 10.00 (its retry answered once), 5.00 from node B, 1.00, 3 x 2.00, 1.00.
    for (account, balance) in [("acc-alice", 93_00), ("acc-bob", 30_00)] {
        let id = ActorId::new(account)?;
        let stored = store.read_all(&id).await?;
        assert!(!stored.is_empty(), "{account} has events");
        assert_eq!(again.read_all(&id).await?, stored, "{account}");
        assert_eq!(
            bank::replay_balance(&again, &id).await?,
            balance,
            "{account}"
        );
    }
    for (transfer, last) in [
        ("tr-0001", "TransferCompleted"),
        ("tr-0002", "TransferFailed"),
    ] {
        let events = again.read_all(&ActorId::new(transfer)?).await?;
        let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
        assert_eq!(types.last(), Some(&last), "{transfer}: {types:?}");
    }
    Ok(())
}
