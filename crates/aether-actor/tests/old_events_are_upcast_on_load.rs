//! Events stored with an older schema version are upcast before they are decoded; events
//! this code writes carry its schema version.

use aether_actor::{ActorSystem, Aggregate, SCHEMA_HEADER};
use aether_core::{
    codec, ActorId, Bytes, DescribeAggregate, EventStore, ExpectedVersion, Namespace, NewEvent,
};
use aether_store_mem::InMemoryEventStore;
use serde::{Deserialize, Serialize};

/// Version 1 of the event, as older code wrote it: an amount in whole euros.
#[derive(Serialize, Deserialize)]
enum EventV1 {
    Deposited { euros: u64 },
}

/// Version 2: cents and a currency.
#[derive(Debug, PartialEq, Serialize, Deserialize, aether_macros::EventNames)]
#[aether(crate = "aether_core", kind = "EventV2Kind")]
enum EventV2 {
    Deposited { cents: u64, currency: String },
}

#[derive(Default)]
struct Till;

impl DescribeAggregate for Till {
    const TYPE_NAME: &'static str = "Till";
    fn command_names() -> &'static [&'static str] {
        &["Deposit"]
    }
    fn event_names() -> &'static [&'static str] {
        &["Deposited"]
    }
}

impl Aggregate for Till {
    type Command = u64;
    type Event = EventV2;
    type State = u64;
    type Reply = u64;
    type Error = ();
    const EVENT_SCHEMA_VERSION: u32 = 2;

    fn decide(&self, total: &u64, cents: &u64) -> Result<(Vec<EventV2>, u64), ()> {
        let e = EventV2::Deposited {
            cents: *cents,
            currency: "EUR".into(),
        };
        Ok((vec![e], total + cents))
    }
    fn apply(total: &mut u64, e: &EventV2) {
        let EventV2::Deposited { cents, .. } = e;
        *total += cents;
    }
    fn upcast(event_type: &str, schema_version: u32, data: Bytes) -> aether_core::Result<Bytes> {
        assert_eq!((event_type, schema_version), ("Deposited", 1));
        let EventV1::Deposited { euros } = codec::from_slice(&data)?;
        let v2 = EventV2::Deposited {
            cents: euros * 100,
            currency: "EUR".into(),
        };
        Ok(codec::to_vec_named(&v2)?.into())
    }
}

#[tokio::test]
async fn old_events_are_upcast_on_load() -> anyhow::Result<()> {
    let store = InMemoryEventStore::new(Namespace::new("till")?);
    let till = ActorId::new("till-1")?;
    // Two events from the time of schema 1 (no schema header means 1).
    for v in 0..2 {
        let e = NewEvent::encode("Deposited", &EventV1::Deposited { euros: 3 })?;
        store
            .append(&till, ExpectedVersion::Exact(v), vec![e])
            .await?;
    }
    let system = ActorSystem::builder().store(store.clone()).build()?;
    let tills = system.actors::<Till>();
    assert_eq!(tills.ask(&till, 50).await?, Ok(650));
    let events = store.read(&till, 1, u64::MAX, 10).await?;
    assert_eq!(
        events[2]
            .metadata
            .headers
            .get(SCHEMA_HEADER)
            .map(String::as_str),
        Some("2")
    );
    // A fresh activation reads both generations.
    assert!(tills.passivate(&till).await);
    let fresh = ActorSystem::builder()
        .store(store.clone())
        .snapshot_every(0)
        .build()?;
    assert_eq!(fresh.actors::<Till>().ask(&till, 0).await?, Ok(650));
    Ok(())
}
