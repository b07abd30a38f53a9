//! Event record formats on a real server: format 2 as `docs/jetstream.md` documents it, read
//! back with a plain MessagePack reader (`rmpv`) that knows only the documented layout;
//! format 1 written on request for a rolling upgrade, its retries recognised; format-1
//! records of the previous version (a captured fixture) replayed through a real stream; and
//! timestamps that never go backwards along an actor's history.
#![cfg(feature = "itest")]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use aether_core::{
    ActorId, ActorSnapshot, Appended, CommandRecord, ErrorKind, Event, EventStore, EventStoreExt,
    ExpectedVersion, Metadata, Namespace, NewEvent, OffsetDateTime, Uuid,
};
use aether_store_jetstream::async_nats::jetstream::{self, stream::Stream};
use aether_store_jetstream::async_nats::HeaderMap;
use aether_store_jetstream::{JetStreamEventStore, JetStreamStoreOptions};
use aether_testkit::conformance::unique_namespace;
use aether_testkit::NatsServer;
use common::raw_jetstream;
use futures::TryStreamExt;
use rmpv::Value;

async fn store(server: &NatsServer, ns: &Namespace, format: u32) -> JetStreamEventStore {
    common::connect(
        &server.url(),
        ns.clone(),
        JetStreamStoreOptions::new().record_format(format),
    )
    .await
    .expect("open the store")
}

/// What the actor runtime appends for one command: causation and correlation ids on every
/// event, the aggregate type, the command record on the first event.
fn command_events(reply: &[u8], variant_and_hash: Option<(&str, u64)>) -> Vec<NewEvent> {
    let meta = Metadata::new()
        .correlation_id(Uuid::now_v7())
        .causation_id(Uuid::now_v7());
    let command = CommandRecord::new(reply.to_vec());
    let command = match variant_and_hash {
        Some((v, h)) => command.with_command(v.to_owned(), h),
        None => command,
    };
    vec![
        NewEvent::new("Withdrawn", b"\x81\xa6amount\x1e".to_vec())
            .with_metadata(meta.clone())
            .with_aggregate_type("Account")
            .with_command(command),
        NewEvent::new("FeeCharged", b"\x81\xa3fee\x01".to_vec())
            .with_metadata(meta)
            .with_aggregate_type("Account"),
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// A MessagePack reader that follows docs/jetstream.md and nothing else.

fn decode(bytes: &[u8]) -> Value {
    let mut r = bytes;
    let v = rmpv::decode::read_value(&mut r).expect("one MessagePack value");
    assert!(r.is_empty(), "nothing after the value");
    v
}

/// The keys of a map, in the order they are stored.
fn keys(v: &Value) -> Vec<&str> {
    v.as_map()
        .expect("a map")
        .iter()
        .map(|(k, _)| k.as_str().expect("string keys"))
        .collect()
}

fn get<'a>(v: &'a Value, key: &str) -> &'a Value {
    v.as_map()
        .expect("a map")
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no key {key} in {v}"))
}

fn bin<'a>(v: &'a Value, key: &str) -> &'a [u8] {
    get(v, key)
        .as_slice()
        .unwrap_or_else(|| panic!("{key} is a binary"))
}

fn uint(v: &Value, key: &str) -> u64 {
    get(v, key)
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is an unsigned integer"))
}

fn string<'a>(v: &'a Value, key: &str) -> &'a str {
    get(v, key)
        .as_str()
        .unwrap_or_else(|| panic!("{key} is a string"))
}

/// A time as stored: a 16-byte binary, the big-endian i128 of Unix nanoseconds.
fn nanos(v: &Value, key: &str) -> i128 {
    let b: [u8; 16] = bin(v, key).try_into().expect("16 bytes");
    i128::from_be_bytes(b)
}

fn header(h: &HeaderMap, name: &str) -> String {
    h.get(name)
        .unwrap_or_else(|| panic!("header {name}"))
        .as_str()
        .to_owned()
}

/// A format-2 record written with `rmpv` from the documented layout alone (what another
/// implementation would write): events of (id, type, data), no metadata.
fn raw_record(
    actor: &str,
    first: u64,
    time: OffsetDateTime,
    events: &[(Uuid, &str, &[u8])],
) -> Vec<u8> {
    let s = |x: &str| Value::from(x);
    let events = events
        .iter()
        .map(|(id, t, data)| {
            Value::Map(vec![
                (s("id"), Value::Binary(id.as_bytes().to_vec())),
                (s("type"), s(t)),
                (s("data"), Value::Binary(data.to_vec())),
            ])
        })
        .collect();
    let record = Value::Map(vec![
        (s("format"), Value::from(2u64)),
        (s("actor"), s(actor)),
        (s("first"), Value::from(first)),
        (
            s("time"),
            Value::Binary(time.unix_timestamp_nanos().to_be_bytes().to_vec()),
        ),
        (s("events"), Value::Array(events)),
    ]);
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, &record).unwrap();
    out
}

/// The keys every snapshot head starts with; an inline head adds `state`, a chunked one
/// `chunks`.
const HEAD_KEYS: [&str; 6] = [
    "format",
    "actor",
    "version",
    "schema",
    "position",
    "timestamp",
];

/// `HEAD_KEYS` followed by `last`.
fn head_keys(last: &'static str) -> Vec<&'static str> {
    HEAD_KEYS.iter().copied().chain([last]).collect()
}

/// The first append of the layout test (a command's two events, `events`, stored at
/// sequence `first` with versions 1 and 2 read back as `stored`): every key of the record,
/// the events, their metadata and the command.
async fn check_first_record(
    stream: &Stream,
    subject: &str,
    first: u64,
    events: &[NewEvent],
    stored: &[Event],
) -> anyhow::Result<()> {
    let msg = stream.get_raw_message(first).await?;
    assert_eq!(msg.subject.as_str(), subject);
    assert_eq!(header(&msg.headers, "Aether-First-Version"), "1");
    assert_eq!(header(&msg.headers, "Aether-Count"), "2");
    assert_eq!(
        header(&msg.headers, "Nats-Msg-Id"),
        events[0].id.hyphenated().to_string()
    );
    assert_eq!(
        header(&msg.headers, "Nats-Expected-Last-Subject-Sequence"),
        "0"
    );
    let rec = decode(&msg.payload);
    assert_eq!(
        keys(&rec),
        ["format", "actor", "first", "time", "type", "events"]
    );
    assert_eq!(uint(&rec, "format"), 2);
    assert_eq!(string(&rec, "actor"), "acc-doc/1");
    assert_eq!(uint(&rec, "first"), 1);
    assert_eq!(
        nanos(&rec, "time"),
        stored[0].timestamp.unix_timestamp_nanos()
    );
    assert_eq!(string(&rec, "type"), "Account");
    let evs = get(&rec, "events").as_array().expect("an array");
    assert_eq!(evs.len(), 2);
    check_command_event(&evs[0], &events[0]);
    // The second event: metadata (ids, no headers) but no command.
    assert_eq!(keys(&evs[1]), ["id", "type", "data", "meta"]);
    assert_eq!(
        get(get(&evs[1], "meta"), "headers").as_map().map(Vec::len),
        Some(0)
    );
    Ok(())
}

/// The first event of a command as stored (`ev`) against what was appended (`event`): its
/// id, type and data, its metadata with ids and headers, and the command record.
fn check_command_event(ev: &Value, event: &NewEvent) {
    assert_eq!(keys(ev), ["id", "type", "data", "meta", "cmd"]);
    assert_eq!(bin(ev, "id"), event.id.as_bytes());
    assert_eq!(string(ev, "type"), "Withdrawn");
    assert_eq!(bin(ev, "data"), &event.data[..]);
    let meta = get(ev, "meta");
    assert_eq!(keys(meta), ["correlation_id", "causation_id", "headers"]);
    assert_eq!(
        bin(meta, "correlation_id"),
        event.metadata.correlation_id.unwrap().as_bytes()
    );
    assert_eq!(
        bin(meta, "causation_id"),
        event.metadata.causation_id.unwrap().as_bytes()
    );
    let headers: BTreeMap<&str, &str> = get(meta, "headers")
        .as_map()
        .expect("a map")
        .iter()
        .map(|(k, v)| (k.as_str().unwrap(), v.as_str().unwrap()))
        .collect();
    assert_eq!(headers, BTreeMap::from([("tenant", "t-1")]));
    let cmd = get(ev, "cmd");
    assert_eq!(keys(cmd), ["reply", "variant", "hash"]);
    assert_eq!(bin(cmd, "reply"), b"\x81\xa7balance\x45");
    assert_eq!(string(cmd, "variant"), "Withdraw");
    assert_eq!(uint(cmd, "hash"), 0xfeed_beef_0123_4567);
}

/// The second append of the layout test, at sequence `second` after the first at `first`:
/// no aggregate type, a correlation id only (the causation id nil).
async fn check_second_record(stream: &Stream, first: u64, second: u64) -> anyhow::Result<()> {
    let msg = stream.get_raw_message(second).await?;
    assert_eq!(header(&msg.headers, "Aether-First-Version"), "3");
    assert_eq!(header(&msg.headers, "Aether-Count"), "1");
    assert_eq!(
        header(&msg.headers, "Nats-Expected-Last-Subject-Sequence"),
        first.to_string()
    );
    let rec = decode(&msg.payload);
    assert_eq!(keys(&rec), ["format", "actor", "first", "time", "events"]);
    let ev = &get(&rec, "events").as_array().unwrap()[0];
    assert_eq!(keys(ev), ["id", "type", "data", "meta"]);
    assert_eq!(bin(ev, "data"), &[0u8; 300][..]);
    let meta = get(ev, "meta");
    assert_eq!(bin(meta, "correlation_id"), Uuid::from_u128(7).as_bytes());
    assert!(get(meta, "causation_id").is_nil());
    Ok(())
}

/// An event without metadata or command: three keys.
async fn check_bare_event(s: &JetStreamEventStore, stream: &Stream) -> anyhow::Result<()> {
    let bare = ActorId::new("bare")?;
    let appended = s
        .append(
            &bare,
            ExpectedVersion::Exact(0),
            vec![NewEvent::new("T", vec![1])],
        )
        .await?;
    let rec = decode(&stream.get_raw_message(appended.position.0).await?.payload);
    assert_eq!(
        keys(&get(&rec, "events").as_array().unwrap()[0]),
        ["id", "type", "data"]
    );
    Ok(())
}

/// A snapshot head with its state inline, at version 2: its position is `first`, the
/// sequence of the message holding version 2, the last event of that message.
async fn check_inline_snapshot_head(
    s: &JetStreamEventStore,
    snapshots: &Stream,
    actor: &ActorId,
    first: u64,
) -> anyhow::Result<()> {
    s.save_snapshot(ActorSnapshot::new(actor.clone(), 2, 3, b"small".to_vec()))
        .await?;
    let head_subject = format!("aether.sn.{}.{}", s.namespace(), actor.to_token());
    let head = snapshots
        .get_last_raw_message_by_subject(&head_subject)
        .await?;
    let rec = decode(&head.payload);
    assert_eq!(keys(&rec), head_keys("state"));
    assert_eq!(uint(&rec, "format"), 1);
    assert_eq!(string(&rec, "actor"), "acc-doc/1");
    assert_eq!(
        (
            uint(&rec, "version"),
            uint(&rec, "schema"),
            uint(&rec, "position")
        ),
        (2, 3, first)
    );
    let loaded = s.load_snapshot(actor, None).await?.unwrap();
    assert_eq!(
        nanos(&rec, "timestamp"),
        loaded.timestamp.unix_timestamp_nanos()
    );
    assert_eq!(bin(&rec, "state"), b"small");
    Ok(())
}

/// A large state at version 3 (stored at sequence `second`): chunks on
/// `<head subject>.<save id>.<index>`, each with `Aether-Chunk`, and a head with `chunks`
/// instead of `state`.
async fn check_chunked_snapshot_head(
    s: &JetStreamEventStore,
    snapshots: &Stream,
    actor: &ActorId,
    second: u64,
) -> anyhow::Result<()> {
    let big: Vec<u8> = (0..200 * 1024).map(|i| (i % 251) as u8).collect();
    s.save_snapshot(ActorSnapshot::new(actor.clone(), 3, 1, big.clone()))
        .await?;
    let head_subject = format!("aether.sn.{}.{}", s.namespace(), actor.to_token());
    let head = snapshots
        .get_last_raw_message_by_subject(&head_subject)
        .await?;
    let rec = decode(&head.payload);
    assert_eq!(keys(&rec), head_keys("chunks"));
    assert_eq!(uint(&rec, "position"), second);
    let chunks = get(&rec, "chunks");
    assert_eq!(keys(chunks), ["id", "count", "len"]);
    let id = string(chunks, "id");
    assert!(
        !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{id}"
    );
    let (count, len) = (uint(chunks, "count"), uint(chunks, "len"));
    assert_eq!(len, big.len() as u64);
    let mut state = Vec::new();
    for i in 0..count {
        let chunk = snapshots
            .get_last_raw_message_by_subject(&format!("{head_subject}.{id}.{i}"))
            .await?;
        assert_eq!(header(&chunk.headers, "Aether-Chunk"), i.to_string());
        assert!(chunk.payload.len() <= 64 * 1024 - 512);
        state.extend_from_slice(&chunk.payload);
    }
    assert!(count > 1);
    assert_eq!(state, big);
    assert_eq!(s.load_snapshot(actor, None).await?.unwrap().state, big);
    Ok(())
}

/// The namespace registry: a JSON value under the namespace's key.
async fn check_registry_entry(js: &jetstream::Context, ns: &Namespace) -> anyhow::Result<()> {
    let registry = js.get_key_value("aether_registry").await?;
    let entry: serde_json::Value =
        serde_json::from_slice(&registry.get(ns.as_str()).await?.expect("an entry"))?;
    assert_eq!(entry["format"], 1);
    assert_eq!(entry["events_stream"], format!("AETHER_EV_{ns}"));
    assert_eq!(entry["snapshots_stream"], format!("AETHER_SN_{ns}"));
    // RFC 3339, UTC: `2025-01-31T12:00:00.123456789Z`.
    let created = entry["created"].as_str().unwrap();
    assert!(
        created.len() >= 20 && created.as_bytes()[4] == b'-' && created.ends_with('Z'),
        "{created}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn format_2_records_and_snapshot_heads_follow_the_documented_layout() -> anyhow::Result<()> {
    // A small max_payload, so a snapshot of 200 KiB is stored in chunks.
    let server = NatsServer::builder().max_payload(64 * 1024).start();
    let ns = unique_namespace("layout");
    let s = store(&server, &ns, 2).await;
    let js = raw_jetstream(&server).await?;
    let actor = ActorId::new("acc-doc/1")?; // `/` makes the subject token escape it
    let subject = format!("aether.ev.{ns}.{}", actor.to_token());
    assert!(subject.ends_with("acc-doc_2F1"), "{subject}");

    let mut events = command_events(
        b"\x81\xa7balance\x45",
        Some(("Withdraw", 0xfeed_beef_0123_4567)),
    );
    events[0]
        .metadata
        .headers
        .insert("tenant".into(), "t-1".into());
    let first = s
        .append(&actor, ExpectedVersion::Exact(0), events.clone())
        .await?;
    let second_event = NewEvent::new("Noted", vec![0u8; 300])
        .with_metadata(Metadata::new().correlation_id(Uuid::from_u128(7)));
    let second = s
        .append(&actor, ExpectedVersion::Exact(2), vec![second_event])
        .await?;
    let stored = s.read_all(&actor).await?;
    assert_eq!(stored.len(), 3);

    let stream = js.get_stream(s.events_stream()).await?;
    let (first, second) = (first.position.0, second.position.0);
    check_first_record(&stream, &subject, first, &events, &stored).await?;
    check_second_record(&stream, first, second).await?;
    check_bare_event(&s, &stream).await?;

    let snapshots = js.get_stream(s.snapshots_stream()).await?;
    check_inline_snapshot_head(&s, &snapshots, &actor, first).await?;
    check_chunked_snapshot_head(&s, &snapshots, &actor, second).await?;
    check_registry_entry(&js, &ns).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_inside_a_multi_event_append_is_positioned_before_that_message(
) -> anyhow::Result<()> {
    let server = NatsServer::start();
    let ns = unique_namespace("snappos");
    let s = store(&server, &ns, 2).await;
    let actor = ActorId::new("acc-pos")?;
    let other = ActorId::new("acc-other")?;
    s.append(
        &actor,
        ExpectedVersion::Exact(0),
        vec![NewEvent::new("A", vec![1])],
    )
    .await?;
    s.append(
        &other,
        ExpectedVersion::Exact(0),
        vec![NewEvent::new("O", vec![])],
    )
    .await?;
    let three: Vec<NewEvent> = (2..=4u8).map(|i| NewEvent::new("B", vec![i])).collect();
    let appended = s.append(&actor, ExpectedVersion::Exact(1), three).await?;
    let seq = appended.position.0;
    // Saved in increasing versions: a save below the newest retained one is not kept.
    for (version, position) in [(1, 1), (3, seq - 1), (4, seq)] {
        // Through a fresh handle too (no cached tail): the same position.
        for handle in [s.clone(), store(&server, &ns, 2).await] {
            handle
                .save_snapshot(ActorSnapshot::new(actor.clone(), version, 1, vec![0]))
                .await?;
            let snap = handle.load_snapshot(&actor, Some(version)).await?.unwrap();
            assert_eq!((snap.version, snap.position.0), (version, position));
            let after: Vec<u64> = handle
                .read_after_snapshot(&snap)
                .map_ok(|e| e.version)
                .try_collect()
                .await?;
            assert_eq!(after, (version + 1..=4).collect::<Vec<_>>());
        }
    }
    Ok(())
}

/// What a format-1 reader expects of the record at `seq`: `format: 1`, no aggregate type,
/// no `cmd`, and the reply as the lowercase hex `aether-reply` header of the first event.
async fn check_format_1_record(stream: &Stream, seq: u64, reply: &[u8]) -> anyhow::Result<()> {
    let msg = stream.get_raw_message(seq).await?;
    let rec = decode(&msg.payload);
    assert_eq!(keys(&rec), ["format", "actor", "first", "time", "events"]);
    assert_eq!(uint(&rec, "format"), 1);
    let evs = get(&rec, "events").as_array().unwrap();
    assert_eq!(keys(&evs[0]), ["id", "type", "data", "meta"]);
    assert_eq!(keys(&evs[1]), ["id", "type", "data", "meta"]);
    let headers = get(get(&evs[0], "meta"), "headers");
    assert_eq!(keys(headers), ["aether-reply"]);
    assert_eq!(string(headers, "aether-reply"), hex(reply));
    assert_eq!(
        keys(get(get(&evs[1], "meta"), "headers")),
        Vec::<&str>::new()
    );
    Ok(())
}

/// The handles of the format-1 test on one namespace: the format-1 handle that wrote, a
/// fresh format-1 one and a format-2 one.
struct Handles {
    v1: JetStreamEventStore,
    fresh_v1: JetStreamEventStore,
    v2: JetStreamEventStore,
}

/// A retry of the format-1 append of `events` (acknowledged as `appended`, with `reply`)
/// is recognised however it comes: the same handle, a fresh format-1 handle, a format-2
/// handle, an `Any` append; never taken for other content.
async fn check_format_1_retries(
    h: &Handles,
    actor: &ActorId,
    events: &[NewEvent],
    appended: &Appended,
    reply: &[u8],
) -> anyhow::Result<()> {
    for handle in [&h.v1, &h.fresh_v1, &h.v2] {
        let again = handle
            .append(actor, ExpectedVersion::Exact(0), events.to_vec())
            .await?;
        assert!(again.duplicate);
        assert_eq!((again.version, again.position), (2, appended.position));
    }
    let again =
        h.v1.append(actor, ExpectedVersion::Any, events.to_vec())
            .await?;
    assert!(again.duplicate, "{again:?}");
    // The variant and hash are not in a format-1 record: they cannot tell a retry apart.
    let mut other_hash = events.to_vec();
    other_hash[0].command = Some(CommandRecord::new(reply.to_vec()).into());
    assert!(
        h.v2.append(actor, ExpectedVersion::Exact(0), other_hash)
            .await?
            .duplicate
    );
    // Another reply is other content.
    let mut other_reply = events.to_vec();
    other_reply[0].command = Some(CommandRecord::new(b"\x01".to_vec()).into());
    for handle in [&h.fresh_v1, &h.v2] {
        let e = handle
            .append(actor, ExpectedVersion::Exact(0), other_reply.clone())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    }
    Ok(())
}

/// Reads the mixed history of `actor` back on `reader`: the format-1 `events` (with
/// `reply` as a header) then the format-2 `later` ones, in time order.
async fn check_mixed_history(
    reader: &JetStreamEventStore,
    actor: &ActorId,
    events: &[NewEvent],
    later: &[NewEvent],
    reply: &[u8],
) -> anyhow::Result<()> {
    let read = reader.read(actor, 1, u64::MAX, 100).await?;
    let streamed = reader.read_all(actor).await?;
    assert_eq!(read, streamed);
    assert_eq!(read.len(), 4);
    let (old, new) = read.split_at(2);
    for (e, n) in old.iter().zip(events) {
        assert_eq!(
            (e.id, &e.event_type, &e.data),
            (n.id, &n.event_type, &n.data)
        );
        assert_eq!((e.aggregate_type(), e.command.as_ref()), (None, None));
        assert_eq!(e.metadata.causation_id, n.metadata.causation_id);
    }
    assert_eq!(
        old[0]
            .metadata
            .headers
            .get("aether-reply")
            .map(String::as_str),
        Some(hex(reply).as_str())
    );
    for (e, n) in new.iter().zip(later) {
        assert!(n.same_content(e), "{n:?} {e:?}");
        assert_eq!(e.aggregate_type(), Some("Account"));
    }
    assert!(new[0].metadata.headers.is_empty());
    assert_eq!(&new[0].command.as_ref().unwrap().reply[..], b"\x07");
    assert!(read.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_format_1_store_writes_what_format_1_readers_read_and_retries_stay_duplicates(
) -> anyhow::Result<()> {
    let server = NatsServer::start();
    let ns = unique_namespace("format1");
    let v1 = store(&server, &ns, 1).await;
    let actor = ActorId::new("acc-upgrade")?;
    let reply = b"\x81\xa7balance\xcd\x01\x00";
    let events = command_events(reply, Some(("Withdraw", 99)));
    let appended = v1
        .append(&actor, ExpectedVersion::Exact(0), events.clone())
        .await?;

    let js = raw_jetstream(&server).await?;
    let stream = js.get_stream(v1.events_stream()).await?;
    check_format_1_record(&stream, appended.position.0, reply).await?;
    let h = Handles {
        v1,
        fresh_v1: store(&server, &ns, 1).await,
        v2: store(&server, &ns, 2).await,
    };
    check_format_1_retries(&h, &actor, &events, &appended, reply).await?;

    // Step 2 of the upgrade: format-2 appends after format-1 ones, one history.
    let later = command_events(b"\x07", None);
    let appended2 =
        h.v2.append(&actor, ExpectedVersion::Exact(2), later.clone())
            .await?;
    assert_eq!(appended2.version, 4);
    let rec = decode(&stream.get_raw_message(appended2.position.0).await?.payload);
    assert_eq!(uint(&rec, "format"), 2);
    // A retry of the format-2 append through a format-1 handle: still a duplicate.
    assert!(
        h.fresh_v1
            .append(&actor, ExpectedVersion::Exact(2), later.clone())
            .await?
            .duplicate
    );
    let reader = store(&server, &ns, 2).await;
    check_mixed_history(&reader, &actor, &events, &later, reply).await
}

/// The fixture's messages: (stream, seq, subject, headers, payload).
type FixtureMessage = (String, u64, String, Vec<(String, String)>, Vec<u8>);

fn fixture() -> Vec<FixtureMessage> {
    let doc: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/format1.json")).expect("fixture JSON");
    doc["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let hex = m["payload_hex"].as_str().unwrap();
            let payload = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            let headers = m["headers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| {
                    (
                        h[0].as_str().unwrap().to_owned(),
                        h[1].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            (
                m["stream"].as_str().unwrap().to_owned(),
                m["seq"].as_u64().unwrap(),
                m["subject"].as_str().unwrap().to_owned(),
                headers,
                payload,
            )
        })
        .collect()
}

/// Publishes the captured messages, in their order, with their headers, into the streams
/// of `ns`: they land at the sequences they had.
async fn publish_fixture(js: &jetstream::Context, ns: &Namespace) -> anyhow::Result<()> {
    for (stream, seq, subject, headers, payload) in fixture() {
        let subject = subject.replacen(".fixture.", &format!(".{ns}."), 1);
        let mut map = HeaderMap::new();
        for (k, v) in &headers {
            map.insert(k.as_str(), v.as_str());
        }
        let ack = js
            .publish_with_headers(subject, map, payload.into())
            .await?
            .await?;
        assert_eq!(ack.sequence, seq, "{stream}");
        assert!(!ack.duplicate);
    }
    Ok(())
}

/// The fixture's command ids: `0190...7000-8000-...` plus `n`.
fn fixture_command(n: u128) -> Uuid {
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + n)
}

/// The fixture's `acc-alice`, read through `fresh`: five events of four commands, the
/// replies as `aether-reply` headers, no aggregate type or command record.
async fn check_fixture_alice(fresh: &JetStreamEventStore, alice: &ActorId) -> anyhow::Result<()> {
    let command = fixture_command;
    let read = fresh.read(alice, 1, u64::MAX, 100).await?;
    assert_eq!(read, fresh.read_all(alice).await?);
    let summary: Vec<(u64, &str, Option<Uuid>, Option<&str>)> = read
        .iter()
        .map(|e| {
            (
                e.version,
                e.event_type.as_str(),
                e.metadata.causation_id,
                e.metadata.headers.get("aether-reply").map(String::as_str),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1, "Opened", Some(command(1)), Some("81a762616c616e636500")),
            (
                2,
                "Deposited",
                Some(command(2)),
                Some("81a762616c616e636564")
            ),
            (
                3,
                "Withdrawn",
                Some(command(3)),
                Some("81a762616c616e636545")
            ),
            (4, "FeeCharged", Some(command(3)), None),
            (
                5,
                "Deposited",
                Some(command(4)),
                Some("81a762616c616e63654a")
            ),
        ]
    );
    assert_eq!(&read[1].data[..], b"\x81\xa9Deposited\x81\xa6amount\x64");
    assert!(read
        .iter()
        .all(|e| e.aggregate_type.is_none() && e.command.is_none()));
    assert_eq!(read[2].timestamp, read[3].timestamp, "one append, one time");
    assert_eq!(fresh.latest_version(alice).await?, 5);
    Ok(())
}

/// The versions `fresh` reads after `snap`.
async fn versions_after(
    fresh: &JetStreamEventStore,
    snap: ActorSnapshot,
) -> anyhow::Result<Vec<u64>> {
    let events: Vec<Event> = fresh.read_after_snapshot(&snap).try_collect().await?;
    Ok(events.iter().map(|e| e.version).collect())
}

/// The fixture's snapshots: the newest, and one at or below version 4, each followed by the
/// events after it.
async fn check_fixture_snapshots(
    fresh: &JetStreamEventStore,
    alice: &ActorId,
    raw: &ActorId,
) -> anyhow::Result<()> {
    let newest = fresh.load_snapshot(alice, None).await?.unwrap();
    assert_eq!((newest.version, newest.position.0), (5, 4));
    assert_eq!(versions_after(fresh, newest).await?, Vec::<u64>::new());
    let at4 = fresh.load_snapshot(alice, Some(4)).await?.unwrap();
    assert_eq!((at4.version, at4.position.0), (4, 3));
    assert_eq!(versions_after(fresh, at4).await?, [5]);
    let snap = fresh.load_snapshot(raw, None).await?.unwrap();
    assert_eq!(
        (
            snap.version,
            snap.schema_version,
            snap.position.0,
            &snap.state[..]
        ),
        (2, 7, 5, &b"raw-state"[..])
    );
    assert_eq!(versions_after(fresh, snap).await?, [3]);
    let bob = ActorId::new("acc-bob")?;
    assert_eq!(fresh.load_snapshot(&bob, None).await?.unwrap().version, 1);
    let raw_events = fresh.read_all(raw).await?;
    assert_eq!(
        raw_events[0].metadata,
        Metadata::new().header("k", "v").header("tenant", "t-1")
    );
    Ok(())
}

/// A retry of the captured raw append of `raw` is recognised against the format-1 record;
/// the same ids with other data are refused.
async fn check_fixture_retry(fresh: &JetStreamEventStore, raw: &ActorId) -> anyhow::Result<()> {
    let mut retry = vec![
        NewEvent::new("RawA", b"first".to_vec())
            .with_id(Uuid::from_u128(0xa1))
            .with_metadata(Metadata::new().header("tenant", "t-1").header("k", "v")),
        NewEvent::new("RawB", vec![0u8, 1, 2, 255]).with_id(Uuid::from_u128(0xa2)),
        NewEvent::new("RawC", Vec::<u8>::new())
            .with_id(Uuid::from_u128(0xa3))
            .with_metadata(Metadata::new().correlation_id(Uuid::from_u128(0xc1))),
    ];
    let again = fresh
        .append(raw, ExpectedVersion::Exact(0), retry.clone())
        .await?;
    assert!(again.duplicate);
    assert_eq!((again.version, again.position.0), (3, 6));
    retry[1].data = bytes::Bytes::from_static(b"other");
    let e = fresh
        .append(raw, ExpectedVersion::Exact(0), retry)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn format_1_records_of_the_previous_version_replay_through_a_real_stream(
) -> anyhow::Result<()> {
    let server = NatsServer::start();
    let ns = unique_namespace("fixture");
    let s = store(&server, &ns, 2).await;
    publish_fixture(&raw_jetstream(&server).await?, &ns).await?;

    let fresh = store(&server, &ns, 2).await;
    let alice = ActorId::new("acc-alice")?;
    let raw = ActorId::new("raw-1")?;
    check_fixture_alice(&fresh, &alice).await?;
    check_fixture_snapshots(&fresh, &alice, &raw).await?;
    check_fixture_retry(&fresh, &raw).await?;

    // The history goes on in format 2.
    let next = command_events(b"\x01", Some(("Withdraw", 1)));
    let appended = s.append(&alice, ExpectedVersion::Exact(5), next).await?;
    assert_eq!(appended.version, 7);
    let all = fresh.read_all(&alice).await?;
    assert_eq!(all.len(), 7);
    assert_eq!(all[5].aggregate_type(), Some("Account"));
    assert!(all.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamps_never_go_backwards_after_a_record_stamped_ahead() -> anyhow::Result<()> {
    let server = NatsServer::start();
    let ns = unique_namespace("clock");
    let a = store(&server, &ns, 2).await;
    let js = raw_jetstream(&server).await?;
    let actor = ActorId::new("acc-clock")?;
    let subject = format!("aether.ev.{ns}.{}", actor.to_token());
    // Another writer's clock an hour ahead: version 1 is stamped in the future.
    let ahead = OffsetDateTime::now_utc() + Duration::from_secs(3600);
    let record = raw_record(actor.as_str(), 1, ahead, &[(Uuid::now_v7(), "Ahead", b"")]);
    js.publish(subject.clone(), record.into()).await?.await?;

    // A handle that has never seen the actor reads the tail (Exact(1) misses its cache),
    // then one whose cache holds it (Exact(2)), then `Any` through a fresh handle: each
    // append is stamped no earlier than the one before.
    let stamped = |a: aether_core::Appended| a.timestamp.expect("a timestamp");
    let t2 = stamped(
        a.append(
            &actor,
            ExpectedVersion::Exact(1),
            vec![NewEvent::new("B", vec![])],
        )
        .await?,
    );
    let t3 = stamped(
        a.append(
            &actor,
            ExpectedVersion::Exact(2),
            vec![NewEvent::new("C", vec![])],
        )
        .await?,
    );
    let c = store(&server, &ns, 2).await;
    assert_eq!(c.read_all(&actor).await?.len(), 3); // c's cache: version 3, stamped `ahead`
    let b = store(&server, &ns, 2).await;
    let t4 = stamped(
        b.append(
            &actor,
            ExpectedVersion::Any,
            vec![NewEvent::new("D", vec![])],
        )
        .await?,
    );
    assert_eq!((t2, t3, t4), (ahead, ahead, ahead));

    // Yet another clock further ahead writes version 5; `c`, whose cache is stale, is
    // refused, re-reads the tail and stamps its append with the newly read time.
    let further = ahead + Duration::from_secs(3600);
    let record = raw_record(
        actor.as_str(),
        5,
        further,
        &[(Uuid::now_v7(), "Further", b"")],
    );
    js.publish(subject, record.into()).await?.await?;
    let t6 = stamped(
        c.append(
            &actor,
            ExpectedVersion::Any,
            vec![NewEvent::new("F", vec![])],
        )
        .await?,
    );
    assert_eq!(t6, further);
    let history = store(&server, &ns, 2).await.read_all(&actor).await?;
    let times: Vec<OffsetDateTime> = history.iter().map(|e| e.timestamp).collect();
    assert_eq!(times, [ahead, ahead, ahead, ahead, further, further]);
    assert_eq!(
        history
            .iter()
            .map(|e| e.event_type.as_str())
            .collect::<Vec<_>>(),
        ["Ahead", "B", "C", "D", "Further", "F"]
    );

    // A clock that is right goes on from the present once it is past the last append.
    let fresh = ActorId::new("acc-now")?;
    let before = OffsetDateTime::now_utc();
    let t = stamped(
        a.append(
            &fresh,
            ExpectedVersion::Exact(0),
            vec![NewEvent::new("N", vec![])],
        )
        .await?,
    );
    assert!(t >= before && t < ahead);
    Ok(())
}
