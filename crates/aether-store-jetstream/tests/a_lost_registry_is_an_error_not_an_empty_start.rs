//! The namespace registry guards against silent fresh starts: streams that hold messages
//! while their registry entry (or the whole `aether_registry` bucket) is missing make the
//! open fail with the recovery named, and following it opens the namespace again; with
//! everything gone, only `create_if_missing(false)` refuses an empty start; streams made
//! before streams carried the registry metadata are adopted.
#![cfg(feature = "itest")]

mod common;

use aether_core::{ActorId, ErrorKind, EventStore, ExpectedVersion, Namespace, NewEvent};
use aether_store_jetstream::async_nats::jetstream;
use aether_store_jetstream::{JetStreamEventStore, JetStreamStoreOptions};
use aether_testkit::conformance::unique_namespace;
use aether_testkit::NatsServer;
use common::raw_jetstream;

const REGISTRY: &str = "aether_registry";

async fn open(
    server: &NatsServer,
    ns: &Namespace,
    options: JetStreamStoreOptions,
) -> aether_core::Result<JetStreamEventStore> {
    JetStreamEventStore::connect(&server.url(), ns.clone(), options).await
}

/// Opens `ns` with `options`, which must fail as `NotFound` (no retry brings back what is
/// missing); returns the error's message.
async fn refused(server: &NatsServer, ns: &Namespace, options: JetStreamStoreOptions) -> String {
    let e = open(server, ns, options)
        .await
        .expect_err("the open must be refused");
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    e.to_string()
}

/// A namespace with one event stored on `acc-1`.
async fn used_namespace(server: &NatsServer, name: &str) -> anyhow::Result<Namespace> {
    let ns = unique_namespace(name);
    let store = open(server, &ns, JetStreamStoreOptions::new()).await?;
    store
        .append(
            &ActorId::new("acc-1")?,
            ExpectedVersion::Exact(0),
            vec![NewEvent::new("Opened", b"1".to_vec())],
        )
        .await?;
    Ok(ns)
}

/// The registry value the error message tells the operator to put back.
fn entry_to_restore(message: &str, ns: &Namespace) -> String {
    let command = format!("nats kv put {REGISTRY} {ns} '");
    let start = message
        .find(&command)
        .expect("the message names the command")
        + command.len();
    let len = message[start..].find('\'').expect("the value is quoted");
    message[start..start + len].to_owned()
}

async fn events_of(server: &NatsServer, ns: &Namespace) -> anyhow::Result<u64> {
    let store = open(server, ns, JetStreamStoreOptions::new()).await?;
    Ok(store.latest_version(&ActorId::new("acc-1")?).await?)
}

/// Follows the refusal's `message`: puts back the registry value it names, after which
/// `ns` opens again with its one event.
async fn restore_as_told(
    server: &NatsServer,
    registry: &jetstream::kv::Store,
    ns: &Namespace,
    message: &str,
) -> anyhow::Result<()> {
    registry
        .put(ns.as_str(), entry_to_restore(message, ns).into())
        .await?;
    assert_eq!(events_of(server, ns).await?, 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_registry_bucket_with_surviving_streams_is_an_error_until_restored(
) -> anyhow::Result<()> {
    let server = NatsServer::start();
    let ns = used_namespace(&server, "lostbucket").await?;
    let js = raw_jetstream(&server).await?;
    js.delete_key_value(REGISTRY).await?;

    let text = refused(&server, &ns, JetStreamStoreOptions::new()).await;
    for says in [
        format!("namespace {ns} is not registered"),
        format!("AETHER_EV_{ns} holds messages"),
        format!("registry bucket {REGISTRY} is missing"),
        format!("nats kv add {REGISTRY} --history=1"),
    ] {
        assert!(text.contains(&says), "should say {says:?}: {text}");
    }
    assert!(
        js.get_key_value(REGISTRY).await.is_err(),
        "the bucket is not recreated empty"
    );

    // The recovery the message names.
    let registry = js
        .create_key_value(jetstream::kv::Config {
            bucket: REGISTRY.to_owned(),
            history: 1,
            ..Default::default()
        })
        .await?;
    restore_as_told(&server, &registry, &ns, &text).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_registry_key_with_surviving_streams_is_an_error_until_restored(
) -> anyhow::Result<()> {
    let server = NatsServer::start();
    let ns = used_namespace(&server, "lostkey").await?;
    let untouched = used_namespace(&server, "otherns").await?;
    let js = raw_jetstream(&server).await?;
    let registry = js.get_key_value(REGISTRY).await?;
    registry.delete(ns.as_str()).await?;

    let text = refused(&server, &ns, JetStreamStoreOptions::new()).await;
    assert!(
        text.contains(&format!("registry bucket {REGISTRY} has no key {ns}"))
            && !text.contains("nats kv add"),
        "{text}"
    );
    assert!(
        registry.get(ns.as_str()).await?.is_none(),
        "no entry written"
    );
    assert_eq!(
        events_of(&server, &untouched).await?,
        1,
        "other namespaces open"
    );

    restore_as_told(&server, &registry, &ns, &text).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_everything_deleted_only_create_if_missing_false_refuses_an_empty_start(
) -> anyhow::Result<()> {
    let server = NatsServer::start();
    let ns = used_namespace(&server, "allgone").await?;
    let js = raw_jetstream(&server).await?;
    js.delete_stream(format!("AETHER_EV_{ns}")).await?;
    js.delete_stream(format!("AETHER_SN_{ns}")).await?;
    js.delete_key_value(REGISTRY).await?;

    let strict = JetStreamStoreOptions::new().create_if_missing(false);
    let text = refused(&server, &ns, strict.clone()).await;
    assert!(
        text.contains(&format!("namespace {ns} does not exist"))
            && text.contains("create_if_missing(true)"),
        "{text}"
    );
    assert!(js.get_stream(format!("AETHER_EV_{ns}")).await.is_err());
    assert!(js.get_key_value(REGISTRY).await.is_err());

    // Without the guard, nothing tells this from a first open: a fresh, empty start.
    assert_eq!(events_of(&server, &ns).await?, 0);
    // Once it exists, the strict option opens it.
    open(&server, &ns, strict).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_if_missing_false_refuses_an_unknown_namespace_and_creates_nothing(
) -> anyhow::Result<()> {
    let server = NatsServer::start();
    let js = raw_jetstream(&server).await?;
    let strict = JetStreamStoreOptions::new().create_if_missing(false);
    let ns = unique_namespace("typo");
    let text = refused(&server, &ns, strict.clone()).await;
    assert!(
        text.contains(&format!("namespace {ns} does not exist"))
            && text.contains("no namespace has been created"),
        "{text}"
    );
    let mut names = js.stream_names();
    use futures::TryStreamExt;
    assert_eq!(names.try_next().await?, None, "no stream created");
    assert!(
        js.get_key_value(REGISTRY).await.is_err(),
        "no bucket created"
    );

    // With a registry holding another namespace, the message names the missing key.
    used_namespace(&server, "known").await?;
    let text = refused(&server, &ns, strict).await;
    assert!(
        text.contains(&format!("registry bucket {REGISTRY} has no key {ns}")),
        "{text}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_carry_their_registry_entry_and_older_ones_are_adopted() -> anyhow::Result<()> {
    let server = NatsServer::start();
    let ns = used_namespace(&server, "adopt").await?;
    let js = raw_jetstream(&server).await?;
    let ours = ["aether.registry", "aether.namespace", "aether.format"];
    for stream in [format!("AETHER_EV_{ns}"), format!("AETHER_SN_{ns}")] {
        let mut config = js.get_stream(&stream).await?.cached_info().config.clone();
        assert_eq!(config.metadata["aether.registry"], REGISTRY, "{stream}");
        assert_eq!(config.metadata["aether.namespace"], ns.as_str(), "{stream}");
        assert_eq!(config.metadata["aether.format"], "1", "{stream}");
        // As a stream made by an earlier version: no metadata of ours.
        config.metadata.retain(|k, _| !ours.contains(&k.as_str()));
        js.update_stream(&config).await?;
    }
    assert_eq!(events_of(&server, &ns).await?, 1);
    for stream in [format!("AETHER_EV_{ns}"), format!("AETHER_SN_{ns}")] {
        let config = js.get_stream(&stream).await?.cached_info().config.clone();
        assert_eq!(
            config.metadata.get("aether.namespace").map(String::as_str),
            Some(ns.as_str()),
            "{stream}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_streams_without_an_entry_are_an_unfinished_first_open_and_are_finished(
) -> anyhow::Result<()> {
    let server = NatsServer::start();
    let ns = unique_namespace("unfinished");
    open(&server, &ns, JetStreamStoreOptions::new()).await?;
    let js = raw_jetstream(&server).await?;
    let registry = js.get_key_value(REGISTRY).await?;
    // As if the first open had stopped after creating the streams.
    registry.purge(ns.as_str()).await?;

    let strict = JetStreamStoreOptions::new().create_if_missing(false);
    let text = refused(&server, &ns, strict).await;
    assert!(text.contains("unfinished first open"), "{text}");

    open(&server, &ns, JetStreamStoreOptions::new()).await?;
    assert!(
        registry.get(ns.as_str()).await?.is_some(),
        "the entry is written"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_opens_of_one_namespace_all_succeed() -> anyhow::Result<()> {
    // Each open looks up the streams before it reads the registry entry: one that looked
    // before another created the streams, and read the entry after it was written, must
    // not take the streams for vanished.
    let server = NatsServer::start();
    for round in 0..10 {
        let ns = unique_namespace(&format!("race{round}"));
        let opens = (0..6).map(|_| open(&server, &ns, JetStreamStoreOptions::new()));
        for (i, opened) in futures::future::join_all(opens)
            .await
            .into_iter()
            .enumerate()
        {
            let store = opened.map_err(|e| anyhow::anyhow!("round {round}, open {i}: {e}"))?;
            assert_eq!(store.latest_version(&ActorId::new("acc-1")?).await?, 0);
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_stream_names_how_to_start_over_and_doing_so_starts_empty() -> anyhow::Result<()>
{
    let server = NatsServer::start();
    let ns = used_namespace(&server, "startover").await?;
    let store = open(&server, &ns, JetStreamStoreOptions::new()).await?;
    let actor = ActorId::new("acc-1")?;
    store
        .save_snapshot(aether_core::ActorSnapshot::new(actor, 1, 1, b"s".to_vec()))
        .await?;
    let js = raw_jetstream(&server).await?;
    js.delete_stream(format!("AETHER_EV_{ns}")).await?;

    let text = refused(&server, &ns, JetStreamStoreOptions::new()).await;
    assert!(
        text.contains("has vanished") && text.contains(&format!("(AETHER_SN_{ns})")),
        "{text}"
    );
    // Deleting only the registry key is not enough: the snapshots left would be a lost
    // registry.
    js.get_key_value(REGISTRY)
        .await?
        .delete(ns.as_str())
        .await?;
    let text = refused(&server, &ns, JetStreamStoreOptions::new()).await;
    assert!(text.contains("is not registered"), "{text}");
    // As the message says: whatever remains of the streams, and the key.
    js.delete_stream(format!("AETHER_SN_{ns}")).await?;
    assert_eq!(events_of(&server, &ns).await?, 0);
    Ok(())
}
