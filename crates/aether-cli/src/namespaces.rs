//! `aether namespaces`: every namespace in the registry, with the figures of its streams
//! and what is wrong with it (a vanished stream, an unreadable registry entry), if anything.
//!
//! The figures are the streams' own, so listing is quick whatever the namespaces hold:
//! RECORDS counts the event stream's messages (one per append, which holds one or more
//! events), ACTORS its subjects (one per actor), SNAPSHOTS the snapshot stream's messages
//! (the retained heads, and the chunks of large snapshots). A missing stream shows `-`.

use aether_store_jetstream::{JetStreamEventStore, NamespaceInfo, StreamStats};
use anyhow::{Context, Result};
use serde_json::json;

use crate::connect::ConnectArgs;
use crate::events::rfc3339;
use crate::output::{self, Column, Output, BAD};
use crate::Outcome;

const COLUMNS: &[Column] = &[
    Column::text("NAMESPACE"),
    Column::number("RECORDS"),
    Column::number("ACTORS"),
    Column::number("BYTES"),
    Column::number("SNAPSHOTS"),
    Column::number("SNAPSHOT-BYTES"),
    Column::text("PROBLEM").styled(BAD),
];

/// Lists the namespaces.
pub(crate) async fn run(connection: &ConnectArgs, out: &mut Output) -> Result<Outcome> {
    let client = connection.connect().await?;
    let namespaces = JetStreamEventStore::namespaces(&client)
        .await
        .context("listing the namespaces")?;
    if out.json {
        for ns in &namespaces {
            out.json_line(&to_json(ns))?;
        }
        return Ok(Outcome::Ok);
    }
    let rows = namespaces.iter().map(row).collect();
    output::table(out, COLUMNS, rows)?;
    Ok(Outcome::Ok)
}

/// A figure of a stream, `-` when the stream is missing.
fn figure(stats: Option<&StreamStats>, f: impl Fn(&StreamStats) -> String) -> String {
    stats.map_or_else(|| "-".to_owned(), f)
}

/// The table row of `ns`.
fn row(ns: &NamespaceInfo) -> Vec<String> {
    let (ev, sn) = (ns.events.as_ref(), ns.snapshots.as_ref());
    vec![
        ns.namespace.clone(),
        figure(ev, |s| s.messages.to_string()),
        figure(ev, |s| s.subjects.to_string()),
        figure(ev, |s| output::bytes(s.bytes)),
        figure(sn, |s| s.messages.to_string()),
        figure(sn, |s| output::bytes(s.bytes)),
        ns.problem.clone().unwrap_or_default(),
    ]
}

/// `ns` as a JSON object; the figures of a missing stream are `null`.
fn to_json(ns: &NamespaceInfo) -> serde_json::Value {
    let (ev, sn) = (ns.events.as_ref(), ns.snapshots.as_ref());
    json!({
        "namespace": ns.namespace,
        "created": ns.created,
        "records": ev.map(|s| s.messages),
        "actors": ev.map(|s| s.subjects),
        "bytes": ev.map(|s| s.bytes),
        "last_seq": ev.map(|s| s.last_seq),
        "last_stored": ev.filter(|s| s.last_seq > 0).map(|s| rfc3339(s.last_time)),
        "snapshot_messages": sn.map(|s| s.messages),
        "snapshot_bytes": sn.map(|s| s.bytes),
        "problem": ns.problem,
    })
}
