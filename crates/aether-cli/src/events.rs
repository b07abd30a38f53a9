//! `aether events <ns> <actor>`: an actor's events in version order, streamed from the
//! store (bounded memory whatever the history's length), with payloads decoded from
//! MessagePack to JSON. Also how an event is shown, which `tail` shares.

use aether_core::{ActorId, Event, EventStore, Version};
use anyhow::{Context, Result};
use futures::StreamExt;
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::connect::{self, ConnectArgs};
use crate::output::{Column, Output, StreamingTable, NAME};
use crate::payload::Payload;
use crate::Outcome;

/// How many rows fix the table's column widths.
const PAGE: usize = 1000;

/// The most characters of a payload a table shows (`--json` shows it whole).
const DATA_CELL_MAX: usize = 200;

const COLUMNS: &[Column] = &[
    Column::number("VERSION"),
    Column::text("TYPE").styled(NAME),
    Column::text("TIMESTAMP"),
    Column::text("CAUSATION"),
    Column::text("CORRELATION"),
    Column::text("DATA"),
];

/// `aether events` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The namespace.
    namespace: String,
    /// The actor's id.
    actor: String,
    /// The first version to show (default: the first event).
    #[arg(long, value_name = "V", default_value_t = 1)]
    from: Version,
    /// The last version to show (default: the latest).
    #[arg(long, value_name = "V")]
    to: Option<Version>,
}

/// Shows the events.
pub(crate) async fn run(
    connection: &ConnectArgs,
    args: &Args,
    out: &mut Output,
) -> Result<Outcome> {
    let ns = connect::namespace(&args.namespace)?;
    let actor = actor_id(&args.actor)?;
    let client = connection.connect().await?;
    let store = connect::open(&client, &ns).await?;
    let to = args.to.unwrap_or(Version::MAX);
    let mut events = store.read_stream(&actor, args.from, to);
    let mut table = StreamingTable::new(COLUMNS, PAGE);
    let mut shown = 0u64;
    while let Some(event) = events.next().await {
        let event = event.with_context(|| format!("reading the events of {actor} in {ns}"))?;
        if out.json {
            out.json_line(&Value::Object(to_json(&event)))?;
        } else {
            table.push(out, row(&event))?;
        }
        shown += 1;
    }
    if !out.json {
        table.finish(out)?;
    }
    if shown == 0 {
        out.flush()?;
        let range = match args.to {
            Some(to) => format!("versions {} to {to}", args.from),
            None => format!("from version {} on", args.from),
        };
        eprintln!("note: {actor} has no events in {ns} ({range})");
    }
    Ok(Outcome::Ok)
}

/// Parses an actor id given on the command line.
pub(crate) fn actor_id(id: &str) -> Result<ActorId> {
    ActorId::new(id).with_context(|| format!("actor id {id:?}"))
}

/// A time as RFC 3339 (UTC, nanoseconds when there are any).
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .unwrap_or_else(|_| format!("{} ns since 1970", t.unix_timestamp_nanos()))
}

/// An optional id as a table shows it: `-` when there is none.
fn or_dash(id: Option<impl ToString>) -> String {
    id.map_or_else(|| "-".to_owned(), |id| id.to_string())
}

/// The table row of `e`: VERSION TYPE TIMESTAMP CAUSATION CORRELATION DATA.
pub(crate) fn row(e: &Event) -> Vec<String> {
    vec![
        e.version.to_string(),
        e.event_type.clone(),
        rfc3339(e.timestamp),
        or_dash(e.metadata.causation_id),
        or_dash(e.metadata.correlation_id),
        Payload::decode(&e.data).cell(DATA_CELL_MAX),
    ]
}

/// Every field of `e` as a JSON object: payload and command reply decoded, user headers,
/// aggregate type.
pub(crate) fn to_json(e: &Event) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("actor".into(), json!(e.actor_id.as_str()));
    o.insert("version".into(), json!(e.version));
    o.insert("id".into(), json!(e.id.to_string()));
    o.insert("type".into(), json!(e.event_type));
    o.insert("timestamp".into(), json!(rfc3339(e.timestamp)));
    o.insert("aggregate_type".into(), json!(e.aggregate_type()));
    let m = &e.metadata;
    o.insert(
        "correlation_id".into(),
        json!(m.correlation_id.map(|u| u.to_string())),
    );
    o.insert(
        "causation_id".into(),
        json!(m.causation_id.map(|u| u.to_string())),
    );
    o.insert("headers".into(), json!(m.headers));
    Payload::decode(&e.data).insert_into(&mut o, "data");
    let command = e.command.as_ref().map(|c| {
        let mut rec = Map::new();
        Payload::decode(&c.reply).insert_into(&mut rec, "reply");
        rec.insert("variant".into(), json!(c.variant.as_deref()));
        rec.insert("hash".into(), json!(c.hash));
        Value::Object(rec)
    });
    o.insert("command".into(), command.unwrap_or(Value::Null));
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use aether_core::{CommandRecord, Metadata, NewEvent};

    fn event() -> Event {
        let new = NewEvent::new(
            "Deposited",
            rmp_serde::to_vec_named(&json!({"amount": 5})).unwrap(),
        )
        .with_metadata(Metadata::new().header("tenant", "t1"))
        .with_aggregate_type("Account")
        .with_command(CommandRecord::new(vec![0xc3]).with_command("Deposit", 9));
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_000_000_001).unwrap();
        Event::from_new(ActorId::new("acc-1").unwrap(), 3, new, at)
    }

    #[test]
    fn a_row_shows_version_type_time_ids_and_data() {
        let r = row(&event());
        assert_eq!(
            r,
            [
                "3",
                "Deposited",
                "2023-11-14T22:13:20.000000001Z",
                "-",
                "-",
                r#"{"amount":5}"#
            ]
        );
    }

    #[test]
    fn json_has_every_field() {
        let e = event();
        let o = Value::Object(to_json(&e));
        assert_eq!(o["actor"], "acc-1");
        assert_eq!(o["version"], 3);
        assert_eq!(o["id"], e.id.to_string());
        assert_eq!(o["aggregate_type"], "Account");
        assert_eq!(o["headers"], json!({"tenant": "t1"}));
        assert_eq!(o["data"], json!({"amount": 5}));
        assert_eq!(o["correlation_id"], Value::Null);
        assert_eq!(
            o["command"],
            json!({"reply": true, "variant": "Deposit", "hash": 9})
        );
    }
}
