//! `aether snapshots <ns> <actor>`: the snapshot heads the store retains for an actor,
//! newest first: the version each covers, its schema, where replay after it starts (an
//! event stream sequence), when it was saved, the size of its state and how it is kept
//! (inline in the head, or in chunks).

use anyhow::{Context, Result};
use serde_json::json;

use crate::connect::{self, ConnectArgs};
use crate::events::{actor_id, rfc3339};
use crate::output::{self, Column, Output};
use crate::Outcome;

const COLUMNS: &[Column] = &[
    Column::number("SEQ"),
    Column::number("VERSION"),
    Column::number("SCHEMA"),
    Column::number("POSITION"),
    Column::text("TIMESTAMP"),
    Column::number("SIZE"),
    Column::text("STORED"),
];

/// `aether snapshots` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The namespace.
    namespace: String,
    /// The actor's id.
    actor: String,
}

/// Shows the retained snapshot heads.
pub(crate) async fn run(
    connection: &ConnectArgs,
    args: &Args,
    out: &mut Output,
) -> Result<Outcome> {
    let ns = connect::namespace(&args.namespace)?;
    let actor = actor_id(&args.actor)?;
    let client = connection.connect().await?;
    let store = connect::open(&client, &ns).await?;
    let heads = store
        .snapshot_heads(&actor)
        .await
        .with_context(|| format!("reading the snapshots of {actor} in {ns}"))?;
    if out.json {
        for h in &heads {
            out.json_line(&json!({
                "actor": actor.as_str(),
                "seq": h.seq,
                "version": h.version,
                "schema_version": h.schema_version,
                "position": h.position,
                "timestamp": rfc3339(h.stored_at),
                "bytes": h.bytes,
                "chunks": h.chunks,
            }))?;
        }
        return Ok(Outcome::Ok);
    }
    let rows = heads
        .iter()
        .map(|h| {
            vec![
                h.seq.to_string(),
                h.version.to_string(),
                h.schema_version.to_string(),
                h.position.to_string(),
                rfc3339(h.stored_at),
                output::bytes(h.bytes),
                match h.chunks {
                    0 => "inline".to_owned(),
                    1 => "1 chunk".to_owned(),
                    n => format!("{n} chunks"),
                },
            ]
        })
        .collect();
    output::table(out, COLUMNS, rows)?;
    if heads.is_empty() {
        out.flush()?;
        eprintln!("note: {ns} retains no snapshot of {actor}");
    }
    Ok(Outcome::Ok)
}
