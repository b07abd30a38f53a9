//! The `aether` binary against a real nats-server: every command's table and `--json`
//! output on namespaces filled through the store, `check` finding a corrupt record, a
//! vanished stream in `namespaces`, `events` and `check`, `tail` following new events, and
//! the connection options (credentials, mutual TLS).
#![cfg(feature = "itest")]

mod common;

use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::Duration;

use aether_core::{
    ActorId, ActorSnapshot, CommandRecord, EventStore, ExpectedVersion, Metadata, Namespace,
    NewEvent,
};
use aether_store_jetstream::async_nats::{self, jetstream};
use aether_store_jetstream::{JetStreamEventStore, JetStreamStoreOptions};
use aether_testkit::conformance::unique_namespace;
use aether_testkit::NatsServer;
use common::{aether, command, SETTLE};
use serde_json::{json, Value};

/// Opens (creating) `ns` on `server`, retrying while the server settles.
async fn store(server: &NatsServer, ns: &Namespace) -> anyhow::Result<JetStreamEventStore> {
    let url = server.url();
    Ok(aether_testkit::retry_while_transient(SETTLE, || {
        JetStreamEventStore::connect(&url, ns.clone(), JetStreamStoreOptions::new())
    })
    .await?)
}

fn id(s: &str) -> ActorId {
    ActorId::new(s).expect("a valid actor id")
}

fn encoded(event_type: &str, value: Value) -> NewEvent {
    NewEvent::encode(event_type, &value).expect("encodes")
}

/// Appends `events` to `actor` at version `at`.
async fn append(
    store: &JetStreamEventStore,
    actor: &str,
    at: u64,
    events: Vec<NewEvent>,
) -> anyhow::Result<()> {
    store
        .append(&id(actor), ExpectedVersion::Exact(at), events)
        .await?;
    Ok(())
}

/// A namespace with `acc-alice` (3 events: one append of two with metadata and a command
/// record, then one whose payload is not MessagePack) and `acc-bob` (1 event).
async fn bank(server: &NatsServer, name: &str) -> anyhow::Result<(Namespace, Value)> {
    let ns = unique_namespace(name);
    let s = store(server, &ns).await?;
    let correlation = aether_core::new_id();
    let causation = aether_core::new_id();
    let reply = rmp_serde::to_vec_named(&json!({"balance": 10}))?;
    let opened = encoded("Opened", json!({"owner": "alice"}))
        .with_metadata(
            Metadata::new()
                .correlation_id(correlation)
                .causation_id(causation)
                .header("tenant", "t-1"),
        )
        .with_aggregate_type("Account")
        .with_command(CommandRecord::new(reply).with_command("Open", 77));
    let deposited = encoded("Deposited", json!({"amount": 10})).with_aggregate_type("Account");
    append(&s, "acc-alice", 0, vec![opened, deposited]).await?;
    append(
        &s,
        "acc-alice",
        2,
        vec![NewEvent::new("Odd", vec![0xc1, 0x00])],
    )
    .await?;
    append(
        &s,
        "acc-bob",
        0,
        vec![encoded("Opened", json!({"owner": "bob"}))],
    )
    .await?;
    let ids = json!({"correlation": correlation.to_string(), "causation": causation.to_string()});
    Ok((ns, ids))
}

async fn raw_jetstream(server: &NatsServer) -> anyhow::Result<jetstream::Context> {
    Ok(jetstream::new(async_nats::connect(server.url()).await?))
}

/// The cells of a table line (columns are at least two spaces apart; no cell here has
/// two spaces in it).
fn cells(line: &str) -> Vec<&str> {
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

/// The line of `run`'s table whose first cell is `first`.
fn row<'a>(lines: &[&'a str], first: &str) -> Vec<&'a str> {
    let line = lines
        .iter()
        .find(|l| cells(l).first() == Some(&first))
        .unwrap_or_else(|| panic!("no row {first:?} in {lines:#?}"));
    cells(line)
}

#[tokio::test(flavor = "multi_thread")]
async fn namespaces_lists_each_namespace_with_its_figures() -> anyhow::Result<()> {
    let server = NatsServer::start();
    let (ns, _) = bank(&server, "ns-list").await?;
    let url = server.url();
    let r = aether(&url, &["namespaces"]).await.ok();
    let lines = r.lines();
    assert_eq!(
        cells(lines[0]),
        [
            "NAMESPACE",
            "RECORDS",
            "ACTORS",
            "BYTES",
            "SNAPSHOTS",
            "SNAPSHOT-BYTES",
            "PROBLEM"
        ]
    );
    let ours = row(&lines, ns.as_str());
    assert_eq!(ours[1..3], ["3", "2"], "{ours:?}");
    assert!(
        ours[3].ends_with(" B") || ours[3].ends_with("KiB"),
        "{ours:?}"
    );
    assert_eq!(ours[4..], ["0", "0 B"], "{ours:?}");

    let r = aether(&url, &["namespaces", "--json"]).await.ok();
    let all = r.json();
    let ours = all
        .iter()
        .find(|n| n["namespace"] == ns.as_str())
        .expect("listed");
    assert_eq!(ours["records"], 3);
    assert_eq!(ours["actors"], 2);
    assert_eq!(ours["snapshot_messages"], 0);
    assert_eq!(ours["problem"], Value::Null);
    assert!(ours["bytes"].as_u64().unwrap() > 0, "{ours}");
    assert!(ours["created"].is_string(), "{ours}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn actors_lists_versions_with_prefix_and_limit() -> anyhow::Result<()> {
    let server = NatsServer::start();
    let (ns, _) = bank(&server, "actors").await?;
    let s = store(&server, &ns).await?;
    append(&s, "user-1", 0, vec![NewEvent::new("Joined", vec![])]).await?;
    let url = server.url();
    let r = aether(&url, &["actors", ns.as_str()]).await.ok();
    let lines = r.lines();
    assert_eq!(cells(lines[0]), ["ACTOR", "VERSION", "LAST-STORED"]);
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert_eq!(row(&lines, "acc-alice")[1], "3");
    assert_eq!(row(&lines, "acc-bob")[1], "1");
    let stored = row(&lines, "user-1")[2];
    assert!(
        time::OffsetDateTime::parse(stored, &time::format_description::well_known::Rfc3339).is_ok(),
        "{stored}"
    );

    let r = aether(&url, &["actors", ns.as_str(), "--prefix", "acc-", "--json"])
        .await
        .ok();
    let listed = r.json();
    assert_eq!(listed.len(), 2, "{listed:#?}");
    assert_eq!(listed[0]["actor"], "acc-alice");
    assert_eq!(listed[0]["version"], 3);
    assert!(listed[0]["last_stored"].is_string());
    assert_eq!(listed[1]["actor"], "acc-bob");

    let r = aether(&url, &["actors", ns.as_str(), "--limit", "1", "--json"])
        .await
        .ok();
    assert_eq!(r.json().len(), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn events_shows_decoded_payloads_metadata_and_command_replies() -> anyhow::Result<()> {
    let server = NatsServer::start();
    let (ns, ids) = bank(&server, "events").await?;
    let url = server.url();
    let r = aether(&url, &["events", ns.as_str(), "acc-alice"])
        .await
        .ok();
    let lines = r.lines();
    assert_eq!(
        cells(lines[0]),
        [
            "VERSION",
            "TYPE",
            "TIMESTAMP",
            "CAUSATION",
            "CORRELATION",
            "DATA"
        ]
    );
    assert_eq!(lines.len(), 4, "{lines:#?}");
    let first = cells(lines[1]);
    assert_eq!(first[..2], ["1", "Opened"]);
    assert!(first[2].ends_with('Z'), "{first:?}");
    assert_eq!(first[3], ids["causation"]);
    assert_eq!(first[4], ids["correlation"]);
    assert_eq!(first[5], r#"{"owner":"alice"}"#);
    assert_eq!(cells(lines[2])[..2], ["2", "Deposited"]);
    assert_eq!(cells(lines[2])[3..], ["-", "-", r#"{"amount":10}"#]);
    assert_eq!(cells(lines[3])[5], "hex:c100 (not MessagePack)");

    let r = aether(&url, &["events", ns.as_str(), "acc-alice", "--json"])
        .await
        .ok();
    let events = r.json();
    assert_eq!(events.len(), 3);
    let e = &events[0];
    assert_eq!(e["actor"], "acc-alice");
    assert_eq!(e["version"], 1);
    assert_eq!(e["type"], "Opened");
    assert_eq!(e["data"], json!({"owner": "alice"}));
    assert_eq!(e["headers"], json!({"tenant": "t-1"}));
    assert_eq!(e["aggregate_type"], "Account");
    assert_eq!(e["correlation_id"], ids["correlation"]);
    assert_eq!(e["causation_id"], ids["causation"]);
    assert_eq!(
        e["command"],
        json!({"reply": {"balance": 10}, "variant": "Open", "hash": 77})
    );
    assert!(e["id"].as_str().is_some_and(|i| i.len() == 36), "{e}");
    assert!(e["timestamp"].is_string());
    assert_eq!(events[1]["command"], Value::Null);
    assert_eq!(events[2]["data"], Value::Null);
    assert_eq!(events[2]["data_hex"], "c100");
    assert!(events[2]["data_error"]
        .as_str()
        .unwrap()
        .starts_with("not MessagePack"));

    let r = aether(
        &url,
        &[
            "events",
            ns.as_str(),
            "acc-alice",
            "--from",
            "2",
            "--to",
            "2",
            "--json",
        ],
    )
    .await
    .ok();
    let only = r.json();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0]["version"], 2);

    let r = aether(&url, &["events", ns.as_str(), "nobody"]).await.ok();
    assert_eq!(r.lines().len(), 1, "{r:#?}");
    assert!(r.stderr.contains("nobody has no events"), "{r:#?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshots_lists_the_retained_heads_newest_first() -> anyhow::Result<()> {
    let server = NatsServer::start();
    let (ns, _) = bank(&server, "snapshots").await?;
    let s = store(&server, &ns).await?;
    let alice = id("acc-alice");
    s.save_snapshot(ActorSnapshot::new(alice.clone(), 2, 4, vec![7u8; 10]))
        .await?;
    s.save_snapshot(ActorSnapshot::new(alice.clone(), 3, 4, vec![7u8; 2000]))
        .await?;
    let url = server.url();
    let r = aether(&url, &["snapshots", ns.as_str(), "acc-alice"])
        .await
        .ok();
    let lines = r.lines();
    assert_eq!(
        cells(lines[0]),
        [
            "SEQ",
            "VERSION",
            "SCHEMA",
            "POSITION",
            "TIMESTAMP",
            "SIZE",
            "STORED"
        ]
    );
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let newest = cells(lines[1]);
    assert_eq!(newest[1..4], ["3", "4", "2"], "{newest:?}");
    assert_eq!(newest[5..], ["2.0 KiB", "inline"], "{newest:?}");
    assert_eq!(cells(lines[2])[1], "2");

    let r = aether(&url, &["snapshots", ns.as_str(), "acc-alice", "--json"])
        .await
        .ok();
    let heads = r.json();
    assert_eq!(heads.len(), 2);
    assert_eq!(heads[0]["version"], 3);
    assert_eq!(heads[0]["bytes"], 2000);
    assert_eq!(heads[0]["chunks"], 0);
    assert_eq!(heads[0]["schema_version"], 4);
    assert_eq!(heads[1]["version"], 2);

    let r = aether(&url, &["snapshots", ns.as_str(), "acc-bob"])
        .await
        .ok();
    assert_eq!(r.lines().len(), 1);
    assert!(r.stderr.contains("no snapshot"), "{r:#?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn check_passes_on_a_sound_namespace_and_names_a_corrupt_record() -> anyhow::Result<()> {
    let server = NatsServer::start();
    let (ns, _) = bank(&server, "check").await?;
    let url = server.url();
    let r = aether(&url, &["check", ns.as_str()]).await.ok();
    assert_eq!(r.stdout, "3 records, 4 events, 2 actors checked: ok\n");
    let r = aether(&url, &["check", ns.as_str(), "--json"]).await.ok();
    assert_eq!(
        r.json(),
        [json!({"summary": {"records": 3, "events": 4, "actors": 2, "problems": 0, "ok": true}})]
    );

    // Garbage on acc-bob's subject, published past the store: message 4.
    let js = raw_jetstream(&server).await?;
    let subject = format!("aether.ev.{ns}.{}", id("acc-bob").to_token());
    js.publish(subject, b"not a record".to_vec().into())
        .await?
        .await?;

    let r = aether(&url, &["check", ns.as_str()]).await;
    assert_eq!(r.code, 1, "{r:#?}");
    let lines = r.lines();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[0].starts_with("problem: seq 4, actor acc-bob: codec error"),
        "{lines:#?}"
    );
    assert_eq!(lines[1], "4 records, 4 events, 2 actors checked: 1 problem");

    let r = aether(&url, &["check", ns.as_str(), "--json"]).await;
    assert_eq!(r.code, 1, "{r:#?}");
    let out = r.json();
    assert_eq!(out[0]["problem"], "undecodable");
    assert_eq!(out[0]["seq"], 4);
    assert_eq!(out[0]["actor"], "acc-bob");
    assert_eq!(out[1]["summary"]["problems"], 1);
    assert_eq!(out[1]["summary"]["ok"], false);

    // `tail` and `events` say so too, in their own ways.
    let r = aether(&url, &["events", ns.as_str(), "acc-bob"]).await;
    assert_eq!(r.code, 2, "{r:#?}");
    assert!(
        r.stderr.starts_with("error: reading the events of acc-bob"),
        "{r:#?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vanished_stream_is_a_problem_for_namespaces_and_an_error_for_events(
) -> anyhow::Result<()> {
    let server = NatsServer::start();
    let (ns, _) = bank(&server, "vanished").await?;
    let (other, _) = bank(&server, "intact").await?;
    let js = raw_jetstream(&server).await?;
    js.delete_stream(format!("AETHER_EV_{ns}")).await?;
    let url = server.url();

    let r = aether(&url, &["namespaces"]).await.ok();
    let lines = r.lines();
    let gone = row(&lines, ns.as_str());
    assert_eq!(gone[1..4], ["-", "-", "-"], "{gone:?}");
    assert!(
        gone[6].contains(&format!("AETHER_EV_{ns} has vanished")),
        "{gone:?}"
    );
    assert_eq!(row(&lines, other.as_str()).len(), 6, "{lines:#?}"); // no PROBLEM cell
    let r = aether(&url, &["namespaces", "--json"]).await.ok();
    let info = r
        .json()
        .into_iter()
        .find(|n| n["namespace"] == ns.as_str())
        .unwrap();
    assert_eq!(info["records"], Value::Null);
    assert!(
        info["problem"].as_str().unwrap().contains("has vanished"),
        "{info}"
    );

    let r = aether(&url, &["events", ns.as_str(), "acc-alice"]).await;
    assert_eq!(r.code, 2, "{r:#?}");
    assert!(r.stdout.is_empty(), "{r:#?}");
    assert_eq!(r.stderr.lines().count(), 1, "{r:#?}");
    assert!(
        r.stderr
            .starts_with(&format!("error: opening namespace {ns}: not found: ")),
        "{r:#?}"
    );

    let r = aether(&url, &["check", ns.as_str()]).await;
    assert_eq!(r.code, 1, "{r:#?}");
    assert!(r.stdout.starts_with("problem: opening namespace"), "{r:#?}");

    let r = aether(&url, &["events", "never-made", "acc-alice"]).await;
    assert_eq!(r.code, 2, "{r:#?}");
    assert!(r.stderr.contains("is not registered"), "{r:#?}");
    Ok(())
}

/// Reads `child`'s stdout lines on a thread, into a channel.
fn lines_of(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Appends events to `actor` (each a `Withdrawn`, then a `Deposited`) until `lines`
/// brings a line; returns it and the version reached.
async fn append_until_seen(
    s: &JetStreamEventStore,
    actor: &str,
    lines: &mpsc::Receiver<String>,
) -> anyhow::Result<(String, u64)> {
    let mut version = 0;
    for _ in 0..200 {
        let pair = vec![
            encoded("Withdrawn", json!({"amount": 1})),
            encoded("Deposited", json!({"amount": version + 2})),
        ];
        append(s, actor, version, pair).await?;
        version += 2;
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(100)) {
            return Ok((line, version));
        }
    }
    anyhow::bail!("tail printed nothing")
}

#[tokio::test(flavor = "multi_thread")]
async fn tail_follows_new_events_filtered_by_type_and_actor() -> anyhow::Result<()> {
    let server = NatsServer::start();
    let (ns, _) = bank(&server, "tail").await?;
    let s = store(&server, &ns).await?;
    let url = server.url();
    let mut child = command(&["--server", &url, "tail", ns.as_str(), "--type", "Deposited"])
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let lines = lines_of(&mut child);
    let (first, version) = append_until_seen(&s, "acc-carol", &lines).await?;
    // One line per event: "#<seq>  <time>  <actor>  v<version>  <type>  <data>".
    let c = cells(&first);
    assert_eq!(c.len(), 6, "{first}");
    assert!(c[0].starts_with('#') && c[3].starts_with('v'), "{first}");
    assert_eq!([c[2], c[4]], ["acc-carol", "Deposited"], "{first}");
    let last = vec![
        encoded("Withdrawn", json!({})),
        encoded("Deposited", json!({"n": 1})),
    ];
    append(&s, "acc-carol", version, last).await?;
    loop {
        let line = lines.recv_timeout(SETTLE)?;
        assert_eq!(cells(&line)[4], "Deposited", "{line}");
        if line.ends_with(r#"{"n":1}"#) {
            break;
        }
    }
    child.kill()?;
    child.wait()?;

    // JSON lines, one actor only.
    let mut child = command(&[
        "--server",
        &url,
        "--json",
        "tail",
        ns.as_str(),
        "--actor",
        "acc-dave",
    ])
    .stdout(std::process::Stdio::piped())
    .spawn()?;
    let lines = lines_of(&mut child);
    let (first, _) = append_until_seen(&s, "acc-dave", &lines).await?;
    let e: Value = serde_json::from_str(&first)?;
    assert_eq!(e["actor"], "acc-dave");
    assert_eq!(e["type"], "Withdrawn");
    assert!(e["seq"].as_u64().is_some(), "{e}");
    append(&s, "acc-erin", 0, vec![encoded("Deposited", json!({}))]).await?;
    while let Ok(line) = lines.recv_timeout(Duration::from_millis(500)) {
        let e: Value = serde_json::from_str(&line)?;
        assert_eq!(e["actor"], "acc-dave", "{line}");
    }
    child.kill()?;
    child.wait()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn actors_pages_through_twenty_thousand_actors_listing_each_once() -> anyhow::Result<()> {
    use futures::{StreamExt, TryStreamExt};
    const ACTORS: usize = 20_500;
    let server = NatsServer::start();
    let ns = unique_namespace("many");
    let s = store(&server, &ns).await?;
    futures::stream::iter(0..ACTORS)
        .map(|i| {
            let s = s.clone();
            async move {
                append(
                    &s,
                    &format!("a-{i:05}"),
                    0,
                    vec![NewEvent::new("E", vec![])],
                )
                .await
            }
        })
        .buffer_unordered(256)
        .try_collect::<()>()
        .await?;
    let url = server.url();

    let r = aether(&url, &["actors", ns.as_str()]).await.ok();
    let lines = r.lines();
    assert_eq!(lines.len(), ACTORS + 1);
    let mut ids: Vec<&str> = lines[1..].iter().map(|l| cells(l)[0]).collect();
    assert!(lines[1..].iter().all(|l| cells(l)[1] == "1"));
    ids.dedup();
    assert_eq!(ids.len(), ACTORS, "an actor listed twice");
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in order");

    let r = aether(
        &url,
        &[
            "actors",
            ns.as_str(),
            "--json",
            "--prefix",
            "a-1",
            "--limit",
            "1500",
        ],
    )
    .await
    .ok();
    let listed = r.json();
    assert_eq!(listed.len(), 1500);
    assert_eq!(listed[0]["actor"], "a-10000");
    assert_eq!(listed[1499]["actor"], "a-11499");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_and_mutual_tls_are_used_to_connect() -> anyhow::Result<()> {
    use aether_testkit::{jwt::Operator, Auth};
    let operator = Operator::generate();
    let server = NatsServer::builder()
        .auth(Auth::operator(&operator))
        .start();
    let dir = tempfile::tempdir()?;
    let creds = dir.path().join("user.creds");
    std::fs::write(&creds, operator.user_creds())?;
    let url = server.url();
    let r = aether(&url, &["--creds", creds.to_str().unwrap(), "namespaces"])
        .await
        .ok();
    assert_eq!(cells(r.lines()[0])[0], "NAMESPACE");
    let r = aether(&url, &["namespaces"]).await;
    assert_eq!(r.code, 2, "{r:#?}");
    assert!(
        r.stderr.starts_with("error: cannot connect to NATS at"),
        "{r:#?}"
    );

    let server = NatsServer::builder().mutual_tls().start();
    let ca = server.ca_certificate().expect("a TLS server has a CA");
    let (cert, key) = server
        .client_certificate()
        .expect("and a client certificate");
    let path = |p: &std::path::Path| p.to_str().unwrap().to_owned();
    let (ca, cert, key) = (path(&ca), path(&cert), path(&key));
    let args = [
        "--tls-ca",
        &ca,
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "namespaces",
        "--json",
    ];
    let r = aether(&server.url(), &args).await.ok();
    assert!(r.stdout.is_empty(), "no namespace yet: {r:#?}");
    let r = aether(&server.url(), &["--tls-ca", &ca, "namespaces"]).await;
    assert_eq!(r.code, 2, "no client certificate: {r:#?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn colour_only_when_asked_or_on_a_terminal() -> anyhow::Result<()> {
    let server = NatsServer::start();
    let (ns, _) = bank(&server, "colour").await?;
    let url = server.url();
    let plain = aether(&url, &["actors", ns.as_str()]).await.ok();
    assert!(!plain.stdout.contains('\x1b'), "{plain:#?}");
    let coloured = aether(&url, &["--color", "always", "actors", ns.as_str()])
        .await
        .ok();
    assert!(coloured.stdout.starts_with("\x1b[1m"), "{coloured:#?}");
    let json = aether(
        &url,
        &["--color", "always", "--json", "actors", ns.as_str()],
    )
    .await
    .ok();
    assert!(!json.stdout.contains('\x1b'), "{json:#?}");
    Ok(())
}
