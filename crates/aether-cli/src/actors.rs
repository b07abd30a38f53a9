//! `aether actors <ns>`: the actors of a namespace with their latest versions and when they
//! last stored, read as one stream (the subject list read once, the versions 1,000 actors
//! a request) and printed as each batch comes, so the listing takes the same memory for
//! ten actors or ten million.

use aether_store_jetstream::ActorSummary;
use anyhow::{Context, Result};
use futures::StreamExt;
use serde_json::json;

use crate::connect::{self, ConnectArgs};
use crate::output::{Column, Output, Progress, StreamingTable};
use crate::{events, Outcome};

/// How many actors are printed at most at a time, and the rows the table's widths are
/// fixed from.
const PAGE: usize = 1000;

const COLUMNS: &[Column] = &[
    Column::text("ACTOR"),
    Column::number("VERSION"),
    Column::text("LAST-STORED"),
];

/// `aether actors` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The namespace.
    namespace: String,
    /// Only actors whose id starts with this.
    #[arg(long, value_name = "P")]
    prefix: Option<String>,
    /// List at most this many actors.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
}

/// Lists the actors.
pub(crate) async fn run(
    connection: &ConnectArgs,
    args: &Args,
    out: &mut Output,
) -> Result<Outcome> {
    let ns = connect::namespace(&args.namespace)?;
    let client = connection.connect().await?;
    let store = connect::open(&client, &ns).await?;
    let limit = args.limit.unwrap_or(usize::MAX);
    let mut table = StreamingTable::new(COLUMNS, PAGE);
    let mut progress = Progress::new();
    let mut listed = 0usize;
    // The actors of one batch read come ready together: printed as each batch comes.
    let actors = store
        .actors_stream(args.prefix.as_deref())
        .take(limit)
        .ready_chunks(PAGE);
    let mut actors = std::pin::pin!(actors);
    while let Some(batch) = actors.next().await {
        progress.clear();
        for actor in batch {
            let actor = actor
                .with_context(|| format!("listing the actors of {ns} (after {listed} listed)"))?;
            print(out, &mut table, &actor)?;
            listed += 1;
        }
        if !out.json {
            table.flush(out)?;
        }
        out.flush()?;
        progress.update(|| format!("{listed} actors listed…"));
    }
    progress.clear();
    if !out.json {
        table.finish(out)?;
    }
    Ok(Outcome::Ok)
}

/// Prints one actor: a JSON line, or a row of the table.
fn print(out: &mut Output, table: &mut StreamingTable, actor: &ActorSummary) -> Result<()> {
    let stored = events::rfc3339(actor.last_stored);
    if out.json {
        out.json_line(&json!({
            "actor": actor.id.as_str(),
            "version": actor.version,
            "last_stored": stored,
        }))?;
    } else {
        let row = vec![actor.id.to_string(), actor.version.to_string(), stored];
        table.push(out, row)?;
    }
    Ok(())
}
