//! With `retry_initial_connect`, async-nats hands back a client before it has connected:
//! the store's open waits for the first connection instead of reading an empty server INFO
//! (which once failed at once with "nats-server at :0 has JetStream disabled"), whether the
//! server starts seconds later on the same port or is up from the start.
#![cfg(feature = "itest")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use aether_core::{ActorId, EventStore, ExpectedVersion, NewEvent};
use aether_store_jetstream::{ConnectionOptions, JetStreamEventStore, JetStreamStoreOptions};
use aether_testkit::conformance::unique_namespace;
use aether_testkit::NatsServer;

fn retrying() -> JetStreamStoreOptions {
    JetStreamStoreOptions::new().connection(ConnectionOptions::new().retry_initial_connect(true))
}

async fn append_one(store: &JetStreamEventStore) -> anyhow::Result<u64> {
    let actor = ActorId::new("acc-late")?;
    let appended = store
        .append(
            &actor,
            ExpectedVersion::Exact(0),
            vec![NewEvent::new("Opened", b"ok".to_vec())],
        )
        .await?;
    Ok(appended.version)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_waits_for_a_server_that_starts_seconds_later_on_the_same_port(
) -> anyhow::Result<()> {
    // A server started and killed: its port is known and free, its store directory kept.
    let server = Arc::new(NatsServer::start());
    server.kill();
    let url = server.url();
    let ns = unique_namespace("late");
    let opening =
        tokio::spawn(async move { JetStreamEventStore::connect(&url, ns, retrying()).await });

    // Longer than the open's 5 s warning period, so its waiting path runs in full.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(
        !opening.is_finished(),
        "with no server, the open waits instead of failing: {:?}",
        opening.await
    );

    let restarted = Instant::now();
    let s = Arc::clone(&server);
    tokio::task::spawn_blocking(move || s.restart()).await?;
    // The client retries every 250 ms at most; 60 s is far above that plus a slow start.
    let store = tokio::time::timeout(Duration::from_secs(60), opening)
        .await
        .expect("the open completes once the server is up")??;
    assert_eq!(append_one(&store).await?, 1);
    assert!(store.health().connected);
    eprintln!(
        "opened and appended {:?} after the server's restart",
        restarted.elapsed()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_succeeds_at_once_when_the_server_is_up_from_the_start() -> anyhow::Result<()> {
    let server = NatsServer::start();
    let ns = unique_namespace("early");
    let store = tokio::time::timeout(
        Duration::from_secs(60),
        JetStreamEventStore::connect(&server.url(), ns.clone(), retrying()),
    )
    .await
    .expect("the open completes")?;
    assert_eq!(append_one(&store).await?, 1);

    // The same on a client made by the caller with async-nats's own option.
    let client = aether_store_jetstream::async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(server.url())
        .await?;
    let shared = JetStreamEventStore::open(client, ns, JetStreamStoreOptions::new()).await?;
    let actor = ActorId::new("acc-late")?;
    assert_eq!(shared.latest_version(&actor).await?, 1);
    Ok(())
}
