//! Shared by the server-backed tests: store factories, and a plain JetStream client for
//! looking at (or tampering with) what the store wrote.
#![allow(dead_code, reason = "each test binary uses a part of these helpers")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aether_core::{EventStore, Namespace};
use aether_store_jetstream::async_nats::{self, jetstream};
use aether_store_jetstream::{JetStreamEventStore, JetStreamStoreOptions};
use aether_testkit::conformance::StoreFactory;
use aether_testkit::NatsServer;

/// A factory opening a new connection per handle, to the servers of `urls` in turn (so in a
/// cluster two handles on one namespace talk to different servers).
pub(crate) fn factory(
    urls: Vec<String>,
    options: JetStreamStoreOptions,
) -> impl StoreFactory + Clone {
    let next = Arc::new(AtomicUsize::new(0));
    move |ns: Namespace| {
        let url = urls[next.fetch_add(1, Ordering::Relaxed) % urls.len()].clone();
        let options = options.clone();
        async move {
            let store = connect(&url, ns, options).await?;
            Ok(Arc::new(store) as Arc<dyn EventStore>)
        }
    }
}

/// Connects, retrying while a just-started server or cluster settles.
pub(crate) async fn connect(
    url: &str,
    ns: Namespace,
    options: JetStreamStoreOptions,
) -> aether_core::Result<JetStreamEventStore> {
    aether_testkit::retry_while_transient(Duration::from_secs(30), || {
        JetStreamEventStore::connect(url, ns.clone(), options.clone())
    })
    .await
}

/// A JetStream context on a connection of its own to `server`, as another program (an
/// operator's tool, a forger) would have.
pub(crate) async fn raw_jetstream(server: &NatsServer) -> anyhow::Result<jetstream::Context> {
    Ok(jetstream::new(async_nats::connect(server.url()).await?))
}
