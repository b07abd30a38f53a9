//! The `EventStore` conformance suite, run against [`InMemoryEventStore`].
//!
//! Two handles opened on one namespace must share its data, so the factory keeps one store
//! per namespace for the whole test binary and hands out clones of it (clones share data).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use aether_core::{EventStore, Namespace};
use aether_store_mem::InMemoryEventStore;

static STORES: LazyLock<Mutex<HashMap<Namespace, InMemoryEventStore>>> =
    LazyLock::new(Default::default);

async fn open(namespace: Namespace) -> aether_core::Result<Arc<dyn EventStore>> {
    let mut stores = aether_core::support::lock(&STORES);
    let store = stores
        .entry(namespace.clone())
        .or_insert_with(|| InMemoryEventStore::new(namespace))
        .clone();
    Ok(Arc::new(store))
}

aether_testkit::event_store_conformance! {
    factory = open,
    big_replay_events = aether_testkit::conformance::BIG_REPLAY_EVENTS,
}
