//! Behaviour of the JetStream store beyond the shared conformance suite: hostile bytes on a
//! store subject, the open-time checks (JetStream off, replicas on a single server, unsafe
//! existing streams), chunked snapshots against a small `max_payload`, long reads, and the
//! one-round-trip append path. (Credentials, a vanished stream and oversized appends are
//! tested once, end to end, in the workspace's `tests/tests`.)
#![cfg(feature = "itest")]

mod common;

use std::time::Duration;

use aether_core::{
    ActorId, ActorSnapshot, ErrorKind, EventStore, EventStoreExt, ExpectedVersion, Namespace,
    NewEvent,
};
use aether_store_jetstream::async_nats::{self, jetstream};
use aether_store_jetstream::{JetStreamEventStore, JetStreamStoreOptions};
use aether_testkit::conformance::unique_namespace;
use aether_testkit::NatsServer;
use common::raw_jetstream;
use futures::TryStreamExt;

fn ev(tag: &str) -> NewEvent {
    NewEvent::new("Tested", tag.as_bytes().to_vec())
}

async fn store(server: &NatsServer, ns: &Namespace) -> JetStreamEventStore {
    common::connect(&server.url(), ns.clone(), JetStreamStoreOptions::new())
        .await
        .expect("open the store")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bytes_on_a_store_subject_are_codec_errors() -> anyhow::Result<()> {
    let server = NatsServer::start();
    let ns = unique_namespace("hostile");
    let s = store(&server, &ns).await;
    let actor = ActorId::new("acc-mallory")?;
    s.append(&actor, ExpectedVersion::Exact(0), vec![ev("one")])
        .await?;

    // Someone publishes raw bytes on the actor's subject, bypassing Aether.
    let js = raw_jetstream(&server).await?;
    let subject = format!("aether.ev.{ns}.{}", actor.to_token());
    for bad in [&b"\xc1\xff garbage"[..], b"", b"{\"json\":true}"] {
        js.publish(subject.clone(), bytes::Bytes::copy_from_slice(bad))
            .await?
            .await?;
        let fresh = store(&server, &ns).await;
        let e = fresh.read(&actor, 1, u64::MAX, 100).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Codec, "read: {e}");
        let e = fresh.read_all(&actor).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Codec, "read_stream: {e}");
        let e = fresh.latest_version(&actor).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Codec, "latest_version: {e}");
        let e = fresh
            .append(&actor, ExpectedVersion::Any, vec![ev("two")])
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Codec, "append: {e}");
    }
    // A record of another actor published on this actor's subject is refused too.
    let other = ActorId::new("acc-other")?;
    let victim = ActorId::new("acc-victim")?;
    s.append(&other, ExpectedVersion::Exact(0), vec![ev("x")])
        .await?;
    let stream = js.get_stream(s.events_stream()).await?;
    let raw = stream
        .get_last_raw_message_by_subject(&format!("aether.ev.{ns}.{}", other.to_token()))
        .await?;
    js.publish(format!("aether.ev.{ns}.{}", victim.to_token()), raw.payload)
        .await?
        .await?;
    let e = store(&server, &ns)
        .await
        .read(&victim, 1, u64::MAX, 10)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Codec, "{e}");
    assert!(e.to_string().contains("acc-other"), "{e}");
    // Other actors are untouched.
    assert_eq!(s.read(&other, 1, u64::MAX, 10).await?.len(), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_jetstream_is_refused_with_a_clear_error() {
    let server = NatsServer::builder().jetstream(false).start();
    let e = JetStreamEventStore::connect(
        &server.url(),
        unique_namespace("nojs"),
        JetStreamStoreOptions::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Backend, "{e}");
    assert!(e.to_string().contains("JetStream"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_beyond_a_single_server_are_invalid_input() {
    let server = NatsServer::start();
    let e = JetStreamEventStore::connect(
        &server.url(),
        unique_namespace("r3"),
        JetStreamStoreOptions::new().replicas(3),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("cluster"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_stream_with_unsafe_settings_is_refused() -> anyhow::Result<()> {
    let server = NatsServer::start();
    let ns = unique_namespace("unsafe");
    let js = raw_jetstream(&server).await?;
    js.create_stream(jetstream::stream::Config {
        name: format!("AETHER_EV_{ns}"),
        subjects: vec![format!("aether.ev.{ns}.*")],
        max_age: Duration::from_secs(3600),
        ..Default::default()
    })
    .await?;
    let e = JetStreamEventStore::connect(&server.url(), ns, JetStreamStoreOptions::new())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(
        e.to_string().contains("max_age") && e.to_string().contains("discard"),
        "{e}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_created_with_safe_settings_and_the_builders_options() -> anyhow::Result<()> {
    use jetstream::stream::{DiscardPolicy, StorageType};
    let server = NatsServer::start();
    let ns = unique_namespace("settings");
    let opts = JetStreamStoreOptions::new()
        .storage(aether_store_jetstream::Storage::Memory)
        .max_bytes(Some(64 << 20))
        .max_messages(Some(1_000_000))
        .duplicate_window(Duration::from_secs(90))
        .snapshots_retained(3);
    let s = JetStreamEventStore::connect(&server.url(), ns.clone(), opts.clone()).await?;
    let js = raw_jetstream(&server).await?;
    let events = js
        .get_stream(s.events_stream())
        .await?
        .cached_info()
        .config
        .clone();
    assert_eq!(events.subjects, vec![format!("aether.ev.{ns}.*")]);
    assert_eq!(events.discard, DiscardPolicy::New);
    assert_eq!(events.max_messages_per_subject, -1);
    assert!(events.deny_delete && events.deny_purge && events.allow_direct);
    assert!(!events.allow_rollup);
    assert_eq!(events.max_age, Duration::ZERO);
    assert_eq!(events.storage, StorageType::Memory);
    assert_eq!(
        (events.max_bytes, events.max_messages),
        (64 << 20, 1_000_000)
    );
    assert_eq!(events.duplicate_window, Duration::from_secs(90));
    let snapshots = js
        .get_stream(s.snapshots_stream())
        .await?
        .cached_info()
        .config
        .clone();
    assert_eq!(snapshots.subjects, vec![format!("aether.sn.{ns}.>")]);
    assert_eq!(snapshots.max_messages_per_subject, 3);
    assert!(snapshots.deny_delete);
    assert_eq!(snapshots.storage, StorageType::Memory);
    // Opening again verifies the streams instead of changing them.
    let again = JetStreamEventStore::connect(&server.url(), ns, opts).await?;
    assert_eq!(again.events_stream(), s.events_stream());
    let after = js
        .get_stream(s.events_stream())
        .await?
        .cached_info()
        .config
        .clone();
    assert_eq!(after.duplicate_window, events.duplicate_window);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_beyond_max_payload_are_chunked_and_dropped_saves_purged() -> anyhow::Result<()> {
    let server = NatsServer::builder().max_payload(64 * 1024).start();
    let ns = unique_namespace("payload");
    let s = store(&server, &ns).await;
    let a = ActorId::new("acc-1")?;
    let five: Vec<NewEvent> = (1..=5).map(|i| ev(&format!("e{i}"))).collect();
    assert_eq!(
        s.append(&a, ExpectedVersion::Exact(0), five).await?.version,
        5
    );
    // A snapshot of 300 KiB is stored in chunks and comes back whole; older chunked saves
    // beyond the retained three are purged.
    for v in 1..=5u64 {
        let state: Vec<u8> = (0..300 * 1024)
            .map(|i| (i as u64 * v % 251) as u8)
            .collect();
        s.save_snapshot(ActorSnapshot::new(a.clone(), v, 1, state.clone()))
            .await?;
        let back = s.load_snapshot(&a, None).await?.expect("a snapshot");
        assert_eq!((back.version, &back.state[..]), (v, &state[..]));
    }
    assert!(
        s.load_snapshot(&a, Some(2)).await?.is_none(),
        "only the 3 newest are kept"
    );
    let js = raw_jetstream(&server).await?;
    let mut sn = js.get_stream(s.snapshots_stream()).await?;
    let msgs = sn.info().await?.state.messages;
    // 3 heads + 3 saves of 5 chunks each (300 KiB / ~63 KiB).
    assert_eq!(msgs, 3 + 3 * 5, "chunks of dropped snapshots are purged");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_history_streams_through_an_ordered_consumer_that_is_cleaned_up(
) -> anyhow::Result<()> {
    let server = NatsServer::start();
    let ns = unique_namespace("long");
    let s = store(&server, &ns).await;
    let a = ActorId::new("acc-long")?;
    for i in 0..3_000u64 {
        s.append(&a, ExpectedVersion::Exact(i), vec![ev(&format!("e{i}"))])
            .await?;
    }
    let fresh = store(&server, &ns).await;
    let events: Vec<_> = fresh.read_stream(&a, 10, 2_990).try_collect().await?;
    assert_eq!(events.len(), 2_981);
    assert!(events
        .iter()
        .enumerate()
        .all(|(i, e)| e.version == 10 + i as u64 && e.data == format!("e{}", 9 + i).as_bytes()));
    // The ordered consumer is deleted once the read is over.
    let js = raw_jetstream(&server).await?;
    let mut stream = js.get_stream(s.events_stream()).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let consumers = stream.info().await?.state.consumer_count;
        if consumers == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{consumers} consumers left behind"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_far_into_a_long_history_finds_its_start_without_reading_everything_before(
) -> anyhow::Result<()> {
    let server = NatsServer::start();
    let ns = unique_namespace("far");
    let s = store(&server, &ns).await;
    let a = ActorId::new("acc-far")?;
    let b = ActorId::new("acc-other")?;
    // Interleave two actors so the sequences of `a` are not its versions.
    for i in 0..2_000u64 {
        let events = if i % 7 == 0 {
            vec![ev(&format!("a{i}")), ev(&format!("a{i}+"))]
        } else {
            vec![ev(&format!("a{i}"))]
        };
        let v = s.latest_version(&a).await?;
        s.append(&a, ExpectedVersion::Exact(v), events).await?;
        s.append(&b, ExpectedVersion::Any, vec![ev("b")]).await?;
    }
    let latest = s.latest_version(&a).await?;
    let all: Vec<_> = store(&server, &ns).await.read_all(&a).await?;
    assert_eq!(all.len() as u64, latest);
    for (from, to) in [
        (latest - 40, latest),
        (1_500, 1_510),
        (2, 3),
        (latest, latest),
    ] {
        let fresh = store(&server, &ns).await;
        let got = fresh.read(&a, from, to, usize::MAX).await?;
        let want: Vec<_> = all[(from - 1) as usize..to as usize].to_vec();
        assert_eq!(got, want, "read {from}..={to}");
        let streamed: Vec<_> = fresh.read_stream(&a, from, to).try_collect().await?;
        assert_eq!(streamed, want, "read_stream {from}..={to}");
    }
    Ok(())
}

/// The head of a chunked snapshot as stored (a forger's copy of the record's layout).
#[derive(serde::Serialize)]
struct ForgedHead {
    format: u32,
    actor: String,
    version: u64,
    schema: u32,
    position: u64,
    #[serde(with = "time::serde::timestamp::nanoseconds")]
    timestamp: time::OffsetDateTime,
    chunks: ForgedChunks,
}

#[derive(serde::Serialize)]
struct ForgedChunks {
    id: String,
    count: u32,
    len: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_chunk_reference_is_a_codec_error_not_a_crash() -> anyhow::Result<()> {
    let server = NatsServer::start();
    let ns = unique_namespace("hostile-chunks");
    let s = store(&server, &ns).await;
    let actor = ActorId::new("acc-mallory")?;
    s.append(&actor, ExpectedVersion::Exact(0), vec![ev("one")])
        .await?;
    let js = raw_jetstream(&server).await?;
    let subject = format!("aether.sn.{ns}.{}", actor.to_token());
    // A head claiming absurd sizes, and one whose chunks are simply not there.
    for (count, len) in [(1, u64::MAX), (3, 3 * 1024 * 1024 * 1024 * 1024), (2, 10)] {
        let head = ForgedHead {
            format: 1,
            actor: actor.as_str().to_owned(),
            version: 1,
            schema: 1,
            position: 0,
            timestamp: time::OffsetDateTime::now_utc(),
            chunks: ForgedChunks {
                id: "forged".into(),
                count,
                len,
            },
        };
        js.publish(subject.clone(), rmp_serde::to_vec_named(&head)?.into())
            .await?
            .await?;
        let e = s.load_snapshot(&actor, None).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Codec, "count {count}, len {len}: {e}");
        let e = s.load_snapshot(&actor, Some(1)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Codec, "count {count}, len {len}: {e}");
    }
    // The history is untouched.
    assert_eq!(s.read(&actor, 1, u64::MAX, 10).await?.len(), 1);
    Ok(())
}

/// An event record as stored (a forger's copy of its layout).
#[derive(serde::Serialize)]
struct ForgedRecord {
    format: u32,
    actor: String,
    first: u64,
    #[serde(with = "time::serde::timestamp::nanoseconds")]
    time: time::OffsetDateTime,
    events: Vec<ForgedEvent>,
}

#[derive(serde::Serialize)]
struct ForgedEvent {
    id: uuid::Uuid,
    #[serde(rename = "type")]
    event_type: String,
    #[serde(with = "serde_bytes")]
    data: Vec<u8>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_record_at_the_last_versions_makes_appends_fail_not_panic() -> anyhow::Result<()> {
    let server = NatsServer::start();
    let ns = unique_namespace("forged-tail");
    let actor = ActorId::new("acc-mallory")?;
    let js = raw_jetstream(&server).await?;
    store(&server, &ns).await; // creates the streams
    let record = ForgedRecord {
        format: 1,
        actor: actor.as_str().to_owned(),
        first: u64::MAX - 1,
        time: time::OffsetDateTime::now_utc(),
        events: vec![ForgedEvent {
            id: uuid::Uuid::now_v7(),
            event_type: "Forged".into(),
            data: b"x".to_vec(),
        }],
    };
    js.publish(
        format!("aether.ev.{ns}.{}", actor.to_token()),
        rmp_serde::to_vec_named(&record)?.into(),
    )
    .await?
    .await?;
    let s = store(&server, &ns).await;
    assert_eq!(s.latest_version(&actor).await?, u64::MAX - 1);
    for expected in [ExpectedVersion::Any, ExpectedVersion::Exact(u64::MAX - 1)] {
        let e = s
            .append(&actor, expected, vec![ev("a"), ev("b")])
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Codec, "{expected}: {e}");
    }
    assert_eq!(
        s.latest_version(&actor).await?,
        u64::MAX - 1,
        "nothing stored"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activation_read_prefetched_with_the_snapshot_still_sees_every_event(
) -> anyhow::Result<()> {
    let server = NatsServer::start();
    let ns = unique_namespace("prefetch");
    let s = store(&server, &ns).await;
    let other = store(&server, &ns).await;
    let a = ActorId::new("acc-pre")?;
    for i in 0..5u64 {
        s.append(&a, ExpectedVersion::Exact(i), vec![ev(&format!("e{i}"))])
            .await?;
    }
    s.save_snapshot(ActorSnapshot::new(a.clone(), 3, 1, b"s3".to_vec()))
        .await?;
    let versions = |evs: &[aether_core::Event]| evs.iter().map(|e| e.version).collect::<Vec<_>>();

    // Loaded with the events after it read alongside: the read gets exactly those.
    let snap = s.load_snapshot(&a, None).await?.expect("snapshot");
    let got: Vec<_> = s.read_after_snapshot(&snap).try_collect().await?;
    assert_eq!(versions(&got), vec![4, 5]);
    assert_eq!(got, s.read(&a, 4, 5, usize::MAX).await?);

    // An append through the handle between the load and the read is seen.
    let snap = s.load_snapshot(&a, None).await?.expect("snapshot");
    s.append(&a, ExpectedVersion::Exact(5), vec![ev("e5")])
        .await?;
    let got: Vec<_> = s.read_after_snapshot(&snap).try_collect().await?;
    assert_eq!(versions(&got), vec![4, 5, 6]);

    // A page kept past its freshness is not used: another handle's append shows.
    let snap = s.load_snapshot(&a, None).await?.expect("snapshot");
    tokio::time::sleep(Duration::from_millis(50)).await;
    other
        .append(&a, ExpectedVersion::Exact(6), vec![ev("e6")])
        .await?;
    let got: Vec<_> = s.read_after_snapshot(&snap).try_collect().await?;
    assert_eq!(versions(&got), vec![4, 5, 6, 7]);

    // A newer snapshot saved elsewhere: the page read after the old one is not used.
    other
        .save_snapshot(ActorSnapshot::new(a.clone(), 6, 1, b"s6".to_vec()))
        .await?;
    let snap = s.load_snapshot(&a, None).await?.expect("snapshot");
    assert_eq!(snap.version, 6);
    let got: Vec<_> = s.read_after_snapshot(&snap).try_collect().await?;
    assert_eq!(versions(&got), vec![7]);
    // And the handle now reads after the newer one alongside.
    let snap = s.load_snapshot(&a, None).await?.expect("snapshot");
    let got: Vec<_> = s.read_after_snapshot(&snap).try_collect().await?;
    assert_eq!(versions(&got), vec![7]);
    Ok(())
}

/// Returns once the server has processed everything `client` sent before (subscriptions
/// included): a reply to a request comes after them. A flush only writes them out.
async fn settled(client: &async_nats::Client) -> anyhow::Result<()> {
    client.request("$JS.API.INFO", bytes::Bytes::new()).await?;
    Ok(())
}

/// 200 actors appending concurrently through `s`, 5 appends each: every one acknowledged
/// with its own versions, and what was appended is what is read back.
async fn append_from_200_actors(s: &JetStreamEventStore) -> anyhow::Result<()> {
    let all = (0..200).map(|a| async move {
        let actor = ActorId::new(format!("acc-{a}"))?;
        for v in 0..5u64 {
            let done = s
                .append(
                    &actor,
                    ExpectedVersion::Exact(v),
                    vec![ev(&format!("{a}-{v}"))],
                )
                .await?;
            assert_eq!((done.first_version, done.version), (v + 1, v + 1));
        }
        anyhow::Ok(())
    });
    futures::future::try_join_all(all).await?;
    for a in [0, 99, 199] {
        let actor = ActorId::new(format!("acc-{a}"))?;
        let events = s.read_all(&actor).await?;
        let payloads: Vec<_> = events.iter().map(|e| e.data.clone()).collect();
        let expected: Vec<_> = (0..5)
            .map(|v| bytes::Bytes::from(format!("{a}-{v}")))
            .collect();
        assert_eq!(payloads, expected);
    }
    Ok(())
}

/// Appends are acknowledged through one reply subscription per handle: many concurrent
/// appends share it, and dropping the handle ends it. (A stopped router failing appends at
/// once is tested in the crate's `acks` module.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_share_one_acknowledgement_subscription_that_ends_with_the_handle(
) -> anyhow::Result<()> {
    let server = NatsServer::start();
    let ns = unique_namespace("acks");
    let client = async_nats::connect(server.url()).await?;
    let cid = client.server_info().client_id;
    // A first handle: the connection's own subscriptions (request replies) exist after it.
    let _first =
        JetStreamEventStore::open(client.clone(), ns.clone(), JetStreamStoreOptions::new()).await?;
    settled(&client).await?;
    let subjects = |cid| -> anyhow::Result<Vec<String>> {
        Ok(server
            .subscriptions_of(cid)?
            .into_iter()
            .map(|s| s.subject)
            .collect())
    };
    let before_open = subjects(cid)?;
    let s =
        JetStreamEventStore::open(client.clone(), ns.clone(), JetStreamStoreOptions::new()).await?;
    settled(&client).await?;
    let open = subjects(cid)?;
    let added: Vec<String> = open
        .iter()
        .filter(|s| !before_open.contains(s))
        .cloned()
        .collect();
    assert_eq!(
        added.len(),
        1,
        "a handle subscribes once for acknowledgements: {added:?}"
    );
    let acks = added[0].clone();
    assert!(acks.ends_with(".*"), "{acks}");

    // 200 actors appending concurrently, 5 appends each: every one acknowledged, with
    // its own result, and no subscription per append.
    append_from_200_actors(&s).await?;
    settled(&client).await?;
    let after = server.subscriptions_of(cid)?;
    assert_eq!(after.len(), open.len(), "none per append");
    // The appends waited for each other: most went through the shared subscription.
    let delivered = after
        .iter()
        .find(|s| s.subject == acks)
        .map_or(0, |s| s.messages);
    assert!(
        delivered >= 500,
        "only {delivered} of 1000 acknowledgements came through the shared subscription"
    );

    drop(s);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while subjects(cid)?.contains(&acks) {
        assert!(
            std::time::Instant::now() < deadline,
            "the acknowledgement subscription outlived its handle"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    Ok(())
}
