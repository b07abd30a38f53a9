//! `aether tail <ns>`: follows a namespace (or one actor) and prints each event as it is
//! stored, one line each, until interrupted. `--type` keeps only events of one type
//! (filtered here, after reading). A record that does not decode is printed as such and
//! the tail goes on.

use aether_store_jetstream::ScannedRecord;
use anyhow::{Context, Result};
use futures::StreamExt;
use serde_json::{json, Value};

use crate::connect::{self, ConnectArgs};
use crate::events::{self, rfc3339};
use crate::output::{self, Output, BAD, DIM, NAME};
use crate::payload::{shorten, Payload};
use crate::Outcome;

/// The most characters of a payload a line shows (`--json` shows it whole).
const DATA_MAX: usize = 200;

/// `aether tail` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The namespace.
    namespace: String,
    /// Only events of this type.
    #[arg(long = "type", value_name = "T")]
    event_type: Option<String>,
    /// Only the events of this actor.
    #[arg(long, value_name = "A")]
    actor: Option<String>,
}

/// Follows the namespace until interrupted (or the connection ends).
pub(crate) async fn run(
    connection: &ConnectArgs,
    args: &Args,
    out: &mut Output,
) -> Result<Outcome> {
    let ns = connect::namespace(&args.namespace)?;
    let actor = args.actor.as_deref().map(events::actor_id).transpose()?;
    let client = connection.connect().await?;
    let store = connect::open(&client, &ns).await?;
    let records = store
        .tail(actor.as_ref())
        .await
        .with_context(|| format!("following {ns}"))?;
    let mut records = std::pin::pin!(records);
    while let Some(record) = records.next().await {
        let record = record.with_context(|| format!("following {ns}"))?;
        print_record(out, &record, args.event_type.as_deref())?;
        out.flush()?;
    }
    Ok(Outcome::Ok)
}

/// Prints the events of `record` of type `only` (all of them without a filter), or that it
/// does not decode.
fn print_record(out: &mut Output, record: &ScannedRecord, only: Option<&str>) -> Result<()> {
    let events = match &record.outcome {
        Ok(events) => events,
        Err(e) => return print_undecodable(out, record, e),
    };
    for e in events
        .iter()
        .filter(|e| only.is_none_or(|t| e.event_type == t))
    {
        if out.json {
            let mut o = events::to_json(e);
            o.insert("seq".into(), json!(record.seq));
            out.json_line(&Value::Object(o))?;
        } else {
            let seq = out.paint(DIM, &format!("#{}", record.seq));
            let kind = out.paint(NAME, &e.event_type);
            out.line(&format!(
                "{seq}  {}  {}  v{}  {kind}  {}",
                rfc3339(e.timestamp),
                e.actor_id,
                e.version,
                Payload::decode(&e.data).cell(DATA_MAX),
            ))?;
        }
    }
    Ok(())
}

fn print_undecodable(
    out: &mut Output,
    record: &ScannedRecord,
    error: &aether_core::Error,
) -> Result<()> {
    let actor = record.actor.as_ref().map(|a| a.to_string());
    let reason = output::causes(error);
    if out.json {
        out.json_line(&json!({
            "seq": record.seq,
            "actor": actor,
            "error": reason,
        }))?;
    } else {
        let what = out.paint(BAD, "undecodable record");
        out.line(&format!(
            "#{}  {}  {what}: {}",
            record.seq,
            actor.as_deref().unwrap_or(&record.subject),
            shorten(reason, DATA_MAX * 2),
        ))?;
    }
    Ok(())
}
