//! Read-only inspection on a real server: `open_existing` creates nothing, `namespaces`
//! lists the registry with stream figures and reports a vanished stream, `actors` pages
//! and `actors_stream` streams through 20,000 actors (each once, with its latest version,
//! in order, across the server's pages of 100,000 subjects) and filter by prefix,
//! `snapshot_heads` lists the retained heads newest first, `scan` reports a corrupt record
//! and goes on, and `tail` sees new appends.
#![cfg(feature = "itest")]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use aether_core::{
    ActorId, ActorSnapshot, ErrorKind, EventStore, ExpectedVersion, Namespace, NewEvent,
    OffsetDateTime, Version,
};
use aether_store_jetstream::async_nats;
use aether_store_jetstream::{
    ActorCursor, JetStreamEventStore, JetStreamStoreOptions, ScannedRecord,
};
use aether_testkit::conformance::unique_namespace;
use aether_testkit::NatsServer;
use common::raw_jetstream;
use futures::{StreamExt, TryStreamExt};

const REGISTRY: &str = "aether_registry";

fn events(n: usize, tag: &str) -> Vec<NewEvent> {
    (0..n)
        .map(|i| NewEvent::new("Tested", format!("{tag}-{i}").into_bytes()))
        .collect()
}

async fn store(server: &NatsServer, ns: &Namespace) -> JetStreamEventStore {
    common::connect(&server.url(), ns.clone(), JetStreamStoreOptions::new())
        .await
        .expect("open the store")
}

async fn client(server: &NatsServer) -> anyhow::Result<async_nats::Client> {
    Ok(async_nats::connect(server.url()).await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_existing_refuses_an_unregistered_namespace_and_creates_nothing() -> anyhow::Result<()>
{
    let server = NatsServer::start();
    let js = raw_jetstream(&server).await?;
    let opts = JetStreamStoreOptions::new;

    // No registry bucket at all.
    let ns = unique_namespace("never");
    let e = JetStreamEventStore::open_existing(client(&server).await?, ns.clone(), opts())
        .await
        .expect_err("an unregistered namespace");
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(
        e.to_string()
            .contains(&format!("namespace {ns} is not registered")),
        "{e}"
    );
    assert!(js.get_key_value(REGISTRY).await.is_err(), "no bucket made");
    assert!(js.get_stream(format!("AETHER_EV_{ns}")).await.is_err());
    assert!(js.get_stream(format!("AETHER_SN_{ns}")).await.is_err());

    // A registry holding another namespace.
    let used = unique_namespace("used");
    let s = store(&server, &used).await;
    let acc = ActorId::new("acc-1")?;
    s.append(&acc, ExpectedVersion::Exact(0), events(2, "a"))
        .await?;
    let e = JetStreamEventStore::open_existing(client(&server).await?, ns.clone(), opts())
        .await
        .expect_err("still unregistered");
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.to_string().contains("is not registered"), "{e}");
    assert!(js.get_stream(format!("AETHER_EV_{ns}")).await.is_err());
    assert!(js.get_stream(format!("AETHER_SN_{ns}")).await.is_err());
    let registry = js.get_key_value(REGISTRY).await?;
    assert!(registry.get(ns.as_str()).await?.is_none());

    // A registered namespace opens and reads.
    let existing =
        JetStreamEventStore::open_existing(client(&server).await?, used.clone(), opts()).await?;
    assert_eq!(existing.latest_version(&acc).await?, 2);

    // A vanished stream is NotFound naming it, as with `open`.
    js.delete_stream(format!("AETHER_SN_{used}")).await?;
    let e = JetStreamEventStore::open_existing(client(&server).await?, used.clone(), opts())
        .await
        .expect_err("a vanished stream");
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let text = e.to_string();
    assert!(
        text.contains(&format!("AETHER_SN_{used}")) && text.contains("vanished"),
        "{text}"
    );
    assert!(
        js.get_stream(format!("AETHER_SN_{used}")).await.is_err(),
        "not recreated"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_lists_the_registry_with_figures_and_reports_a_vanished_stream(
) -> anyhow::Result<()> {
    let server = NatsServer::start();
    let nats = client(&server).await?;
    assert!(JetStreamEventStore::namespaces(&nats).await?.is_empty());

    let (a, b) = (unique_namespace("lista"), unique_namespace("listb"));
    let sa = store(&server, &a).await;
    for (actor, appends) in [("x", 2), ("y", 1), ("z", 1)] {
        let actor = ActorId::new(actor)?;
        for i in 0..appends {
            sa.append(&actor, ExpectedVersion::Exact(i), events(1, "e"))
                .await?;
        }
    }
    sa.save_snapshot(ActorSnapshot::new(ActorId::new("x")?, 2, 1, b"s".to_vec()))
        .await?;
    let sb = store(&server, &b).await;
    sb.append(
        &ActorId::new("q")?,
        ExpectedVersion::Exact(0),
        events(3, "q"),
    )
    .await?;

    let list = JetStreamEventStore::namespaces(&nats).await?;
    let mut names = vec![a.to_string(), b.to_string()];
    names.sort();
    let listed: Vec<&str> = list.iter().map(|n| n.namespace.as_str()).collect();
    assert_eq!(listed, names);
    let info_a = list.iter().find(|n| n.namespace == a.as_str()).unwrap();
    assert_eq!(info_a.problem, None);
    assert!(info_a.created.is_some());
    let ev = info_a.events.as_ref().expect("the event stream");
    assert_eq!(ev.name, format!("AETHER_EV_{a}"));
    assert_eq!(
        (ev.messages, ev.subjects, ev.first_seq, ev.last_seq),
        (4, 3, 1, 4)
    );
    assert!(ev.bytes > 0 && ev.last_time >= ev.first_time);
    let sn = info_a.snapshots.as_ref().expect("the snapshot stream");
    assert_eq!((sn.messages, sn.subjects), (1, 1));
    let info_b = list.iter().find(|n| n.namespace == b.as_str()).unwrap();
    assert_eq!(info_b.events.as_ref().map(|s| s.messages), Some(1));

    raw_jetstream(&server)
        .await?
        .delete_stream(format!("AETHER_EV_{b}"))
        .await?;
    let list = JetStreamEventStore::namespaces(&nats).await?;
    assert_eq!(list.len(), 2, "a vanished stream is listed, not an error");
    let info_b = list.iter().find(|n| n.namespace == b.as_str()).unwrap();
    assert!(info_b.events.is_none());
    assert!(info_b.snapshots.is_some());
    let problem = info_b.problem.as_deref().expect("a problem");
    assert!(
        problem.contains(&format!("AETHER_EV_{b}")) && problem.contains("vanished"),
        "{problem}"
    );
    let info_a = list.iter().find(|n| n.namespace == a.as_str()).unwrap();
    assert_eq!(info_a.problem, None);
    Ok(())
}

/// The expected latest version of each actor of the paging test.
fn expected_actors() -> BTreeMap<String, (ActorId, Vec<usize>)> {
    let mut ids: Vec<String> = (0..20_000).map(|i| format!("act-{i:05}")).collect();
    ids.extend(["odd.é/1", "odd.é/2", "odd.x", "odd_é"].map(String::from));
    ids.into_iter()
        .enumerate()
        .map(|(i, id)| {
            let actor = ActorId::new(&id).expect("a valid id");
            // 1 to 3 events in a first append; every 7th actor a second append of 2.
            let mut appends = vec![i % 3 + 1];
            if i % 7 == 0 {
                appends.push(2);
            }
            (actor.to_token(), (actor, appends))
        })
        .collect()
}

/// Every actor whose id starts with `prefix`, by `actors_stream`.
async fn stream_all(
    store: &JetStreamEventStore,
    prefix: Option<&str>,
) -> anyhow::Result<Vec<(ActorId, Version)>> {
    Ok(store
        .actors_stream(prefix)
        .map_ok(|a| (a.id, a.version))
        .try_collect()
        .await?)
}

/// Lists every actor whose id starts with `prefix`, in pages of `page`.
async fn list_all(
    store: &JetStreamEventStore,
    prefix: Option<&str>,
    page: usize,
) -> anyhow::Result<(Vec<(ActorId, Version)>, usize)> {
    let mut cursor: Option<ActorCursor> = None;
    let mut out = Vec::new();
    let mut pages = 0;
    loop {
        let p = store.actors(prefix, cursor.take(), page).await?;
        pages += 1;
        assert!(p.actors.len() <= page);
        out.extend(p.actors.into_iter().map(|a| (a.id, a.version)));
        match p.next {
            // Through its text form, as a tool would hand it around, every other page.
            Some(next) if pages % 2 == 0 => cursor = Some(next.to_string().parse()?),
            Some(next) => cursor = Some(next),
            None => return Ok((out, pages)),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actors_pages_through_20000_actors_once_each_with_their_latest_versions(
) -> anyhow::Result<()> {
    let server = NatsServer::start();
    let ns = unique_namespace("actors");
    let s = store(&server, &ns).await;
    let before = OffsetDateTime::now_utc();
    let expected = expected_actors();
    futures::stream::iter(expected.values())
        .map(|(actor, appends)| {
            let s = s.clone();
            async move {
                let mut version = 0;
                for &n in appends {
                    s.append(actor, ExpectedVersion::Exact(version), events(n, "p"))
                        .await?;
                    version += n as u64;
                }
                anyhow::Ok(())
            }
        })
        .buffer_unordered(256)
        .try_collect::<()>()
        .await?;
    let after = OffsetDateTime::now_utc();

    let (all, pages) = list_all(&s, None, 1_000).await?;
    assert_eq!(all.len(), expected.len(), "every actor once");
    assert_eq!(pages, expected.len().div_ceil(1_000));
    for ((id, version), (token, (actor, appends))) in all.iter().zip(&expected) {
        assert_eq!((&id.to_token(), id), (token, actor), "in token order");
        assert_eq!(*version, appends.iter().sum::<usize>() as u64, "{id}");
    }
    let first = s.actors(None, None, 3).await?;
    assert_eq!(first.actors.len(), 3);
    assert!(first
        .actors
        .iter()
        .all(|a| a.last_stored >= before - Duration::from_secs(1) && a.last_stored <= after));

    let (ones, _) = list_all(&s, Some("act-1"), 1_000).await?;
    assert_eq!(ones.len(), 10_000);
    assert!(ones.iter().all(|(id, _)| id.as_str().starts_with("act-1")));
    let (odd, pages) = list_all(&s, Some("odd.é/"), 1).await?;
    let odd: Vec<&str> = odd.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!((odd, pages), (vec!["odd.é/1", "odd.é/2"], 2));
    let none = s.actors(Some("zzz"), None, 10).await?;
    assert!(none.actors.is_empty() && none.next.is_none());
    let after_cursor = s
        .actors(
            None,
            Some(ActorCursor::after(&ActorId::new("act-19998")?)),
            2,
        )
        .await?;
    let ids: Vec<&str> = after_cursor.actors.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, vec!["act-19999", "odd.é/1"]);
    let e = s.actors(None, None, 0).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");

    // The stream lists the same, in one pass.
    let streamed = stream_all(&s, None).await?;
    assert_eq!(streamed, all, "the stream lists as the pages do");
    assert_eq!(streamed.len(), expected.len(), "every actor once");
    for ((id, version), (token, (actor, appends))) in streamed.iter().zip(&expected) {
        assert_eq!((&id.to_token(), id), (token, actor), "in token order");
        assert_eq!(*version, appends.iter().sum::<usize>() as u64, "{id}");
    }
    let first = std::pin::pin!(s.actors_stream(None))
        .try_next()
        .await?
        .expect("an actor");
    assert_eq!(first.id.as_str(), "act-00000");
    assert!(first.last_stored >= before - Duration::from_secs(1) && first.last_stored <= after);
    let streamed_ones = stream_all(&s, Some("act-1")).await?;
    assert_eq!(streamed_ones, ones);
    let odd: Vec<String> = stream_all(&s, Some("odd.é/"))
        .await?
        .iter()
        .map(|(id, _)| id.as_str().to_owned())
        .collect();
    assert_eq!(odd, ["odd.é/1", "odd.é/2"]);
    assert!(stream_all(&s, Some("zzz")).await?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_heads_lists_the_retained_heads_newest_first() -> anyhow::Result<()> {
    let server = NatsServer::builder().max_payload(64 * 1024).start();
    let ns = unique_namespace("heads");
    let s = store(&server, &ns).await;
    let a = ActorId::new("acc-1")?;
    assert!(s.snapshot_heads(&a).await?.is_empty());
    s.append(&a, ExpectedVersion::Exact(0), events(5, "h"))
        .await?;
    let big = vec![7u8; 100 * 1024];
    for v in 1..=4u64 {
        let state = if v == 3 {
            big.clone()
        } else {
            vec![1; v as usize]
        };
        s.save_snapshot(ActorSnapshot::new(a.clone(), v, 9, state))
            .await?;
    }
    let heads = s.snapshot_heads(&a).await?;
    let versions: Vec<Version> = heads.iter().map(|h| h.version).collect();
    assert_eq!(versions, vec![4, 3, 2], "the 3 retained, newest first");
    assert!(heads.windows(2).all(|w| w[0].seq > w[1].seq));
    assert_eq!((heads[0].bytes, heads[0].chunks), (4, 0));
    assert_eq!(heads[1].bytes, big.len() as u64);
    assert!(heads[1].chunks >= 2, "{}", heads[1].chunks);
    assert!(heads.iter().all(|h| h.schema_version == 9));
    assert!(heads[0].stored_at >= heads[2].stored_at);
    Ok(())
}

fn versions(record: &ScannedRecord) -> Vec<Version> {
    record
        .outcome
        .as_ref()
        .map(|evs| evs.iter().map(|e| e.version).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_reports_a_corrupt_record_and_goes_on_up_to_where_it_started() -> anyhow::Result<()> {
    let server = NatsServer::start();
    let ns = unique_namespace("scan");
    let s = store(&server, &ns).await;
    let (a, b) = (ActorId::new("acc-a")?, ActorId::new("acc b")?);
    s.append(&a, ExpectedVersion::Exact(0), events(3, "a"))
        .await?;
    // More than a scan page (1,000 messages).
    for v in 0..1_100u64 {
        s.append(&b, ExpectedVersion::Exact(v), events(1, "b"))
            .await?;
    }
    let js = raw_jetstream(&server).await?;
    js.publish(format!("aether.ev.{ns}.{}", a.to_token()), "garbage".into())
        .await?
        .await?;
    js.publish(format!("aether.ev.{ns}.not_a_token"), "x".into())
        .await?
        .await?;
    s.append(&b, ExpectedVersion::Exact(1_100), events(2, "b"))
        .await?;

    let mut scan = std::pin::pin!(s.scan(1));
    let first = scan.next().await.expect("a record")?;
    // Stored after the scan started: not part of it.
    s.append(&b, ExpectedVersion::Exact(1_102), events(1, "late"))
        .await?;
    let mut records = vec![first];
    while let Some(r) = scan.next().await {
        records.push(r?);
    }
    let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=1_104).collect::<Vec<u64>>());
    assert_eq!(records[0].actor.as_ref(), Some(&a));
    assert_eq!(versions(&records[0]), vec![1, 2, 3]);
    assert_eq!(versions(&records[1_100]), vec![1_100]);
    let corrupt = &records[1_101];
    assert_eq!(corrupt.actor.as_ref(), Some(&a));
    let e = corrupt.outcome.as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Codec, "{e}");
    let stray = &records[1_102];
    assert!(stray.actor.is_none());
    assert_eq!(stray.subject, format!("aether.ev.{ns}.not_a_token"));
    assert_eq!(stray.outcome.as_ref().unwrap_err().kind(), ErrorKind::Codec);
    assert_eq!(versions(&records[1_103]), vec![1_101, 1_102]);
    assert!(records
        .iter()
        .all(|r| r.stored_at <= OffsetDateTime::now_utc()));

    let from_1102: Vec<u64> = s
        .scan(1_102)
        .map_ok(|r| r.seq)
        .try_collect::<Vec<u64>>()
        .await?;
    assert_eq!(from_1102, vec![1_102, 1_103, 1_104, 1_105]);
    assert_eq!(s.scan(5_000).count().await, 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_sees_the_records_stored_from_now_on() -> anyhow::Result<()> {
    let server = NatsServer::start();
    let ns = unique_namespace("tail");
    let s = store(&server, &ns).await;
    let (a, b) = (ActorId::new("acc-a")?, ActorId::new("acc-b")?);
    s.append(&a, ExpectedVersion::Exact(0), events(1, "old"))
        .await?;
    let mut all = std::pin::pin!(s.tail(None).await?);
    let mut only_b = std::pin::pin!(s.tail(Some(&b)).await?);
    s.append(&a, ExpectedVersion::Exact(1), events(2, "new"))
        .await?;
    s.append(&b, ExpectedVersion::Exact(0), events(1, "new"))
        .await?;
    let wait = Duration::from_secs(10);
    let next = tokio::time::timeout(wait, all.next())
        .await?
        .expect("a record")?;
    assert_eq!((next.seq, next.actor.as_ref()), (2, Some(&a)));
    assert_eq!(versions(&next), vec![2, 3]);
    let next = tokio::time::timeout(wait, all.next())
        .await?
        .expect("a record")?;
    assert_eq!((next.seq, next.actor.as_ref()), (3, Some(&b)));
    let mine = tokio::time::timeout(wait, only_b.next())
        .await?
        .expect("a record")?;
    assert_eq!((mine.seq, mine.actor.as_ref()), (3, Some(&b)));
    assert_eq!(versions(&mine), vec![1]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actors_beyond_one_server_page_of_subjects_are_listed_in_order() -> anyhow::Result<()> {
    // The server sends at most 100,000 subjects a stream info; past that it pages a sorted
    // list, which the listing walks with its offsets.
    let server = NatsServer::start();
    let ns = unique_namespace("manyactors");
    let s = store(&server, &ns).await;
    let n = 100_500;
    futures::stream::iter(0..n)
        .map(|i| {
            let s = s.clone();
            async move {
                let actor = ActorId::new(format!("p-{i:06}"))?;
                s.append(&actor, ExpectedVersion::Exact(0), events(1, "m"))
                    .await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(512)
        .try_collect::<()>()
        .await?;

    let (all, pages) = list_all(&s, None, 10_000).await?;
    assert_eq!(pages, 11);
    let ids: Vec<String> = all.iter().map(|(id, _)| id.as_str().to_owned()).collect();
    let expected: Vec<String> = (0..n).map(|i| format!("p-{i:06}")).collect();
    assert!(ids == expected, "every actor once, in order");
    assert!(all.iter().all(|(_, v)| *v == 1));
    // A prefix whose actors are all in the second server page.
    let (tail, _) = list_all(&s, Some("p-1004"), 1_000).await?;
    assert_eq!(tail.len(), 100);
    assert_eq!(tail[0].0.as_str(), "p-100400");

    // The stream reads each server page once and goes on past the first.
    let streamed = stream_all(&s, None).await?;
    let ids: Vec<String> = streamed
        .iter()
        .map(|(id, _)| id.as_str().to_owned())
        .collect();
    assert!(
        ids == expected,
        "every actor once, in order, across the server pages"
    );
    assert!(streamed.iter().all(|(_, v)| *v == 1));
    // A prefix whose actors span both server pages, one wholly in the second, and one
    // that ends at the end of the first.
    assert_eq!(stream_all(&s, Some("p-")).await?, all);
    let second = stream_all(&s, Some("p-1004")).await?;
    assert_eq!(second, tail);
    let last_of_first = stream_all(&s, Some("p-09999")).await?;
    let ids: Vec<&str> = last_of_first.iter().map(|(id, _)| id.as_str()).collect();
    let expected: Vec<String> = (99_990..100_000).map(|i| format!("p-{i:06}")).collect();
    assert_eq!(ids, expected);
    Ok(())
}
