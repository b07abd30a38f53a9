//! `aether check <ns>`: checks a namespace end to end. Opening it read-only verifies its
//! streams, registry entry and settings; then every record of the event stream is read in
//! stream order, and each must decode and continue its actor's versions (an actor's first
//! event is version 1, each record starts right after the last). Every problem is printed
//! with its stream sequence and actor, then a summary; the exit code is 1 when anything is
//! wrong.

use std::collections::HashMap;

use aether_core::{ActorId, ErrorKind, Event, Version};
use anyhow::{Context, Result};
use futures::StreamExt;
use serde_json::json;

use crate::connect::{self, ConnectArgs};
use crate::output::{self, Output, Progress, BAD, GOOD};
use crate::Outcome;

/// `aether check` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The namespace.
    namespace: String,
}

/// One thing wrong with the namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// The event stream sequence of the record, when the problem is a record's.
    seq: Option<u64>,
    /// The actor, when known.
    actor: Option<ActorId>,
    /// A short name: `namespace`, `undecodable`, `gap`, `overlap`, `first-version`.
    kind: &'static str,
    /// What is wrong, in words.
    message: String,
}

/// What the scan saw, and each actor's last version so far.
#[derive(Debug, Default)]
pub(crate) struct Versions {
    last: HashMap<ActorId, Version>,
    records: u64,
    events: u64,
}

impl Versions {
    /// Checks one record: stored at `seq` on `actor`'s subject (when the subject names
    /// one), holding `outcome` (its events, or why they do not decode).
    pub(crate) fn check(
        &mut self,
        seq: u64,
        actor: Option<&ActorId>,
        outcome: Result<&[Event], String>,
    ) -> Vec<Problem> {
        self.records += 1;
        let problem = |actor: Option<&ActorId>, kind, message| Problem {
            seq: Some(seq),
            actor: actor.cloned(),
            kind,
            message,
        };
        let events = match outcome {
            Ok(events) if !events.is_empty() => events,
            Ok(_) => {
                return vec![problem(
                    actor,
                    "undecodable",
                    "a record without events".into(),
                )]
            }
            Err(reason) => return vec![problem(actor, "undecodable", reason)],
        };
        self.events += events.len() as u64;
        let actor = actor.unwrap_or(&events[0].actor_id);
        let mut problems = Vec::new();
        let first = events[0].version;
        let last_before = self.last.get(actor).copied().unwrap_or(0);
        if first == 0 {
            problems.push(problem(
                Some(actor),
                "gap",
                "the record starts at version 0".into(),
            ));
        } else if last_before == 0 && first != 1 {
            let message = format!("the actor's first record starts at version {first}, not 1");
            problems.push(problem(Some(actor), "first-version", message));
        } else if first > last_before + 1 && last_before > 0 {
            let message = format!(
                "gap: versions {}..={} are missing (the previous record ended at {last_before})",
                last_before + 1,
                first - 1
            );
            problems.push(problem(Some(actor), "gap", message));
        } else if first <= last_before {
            let message = format!(
                "overlap: the record starts at version {first}, but the actor is already at \
                 {last_before}"
            );
            problems.push(problem(Some(actor), "overlap", message));
        }
        for pair in events.windows(2) {
            if pair[1].version != pair[0].version.saturating_add(1) {
                let message = format!(
                    "inside the record, version {} follows {}",
                    pair[1].version, pair[0].version
                );
                problems.push(problem(Some(actor), "gap", message));
            }
        }
        let last = events.iter().map(|e| e.version).max().unwrap_or(first);
        let entry = self.last.entry(actor.clone()).or_insert(0);
        *entry = (*entry).max(last);
        problems
    }
}

/// Checks the namespace.
pub(crate) async fn run(
    connection: &ConnectArgs,
    args: &Args,
    out: &mut Output,
) -> Result<Outcome> {
    let ns = connect::namespace(&args.namespace)?;
    let client = connection.connect().await?;
    let store = match connect::open(&client, &ns).await {
        Ok(store) => store,
        Err(e) if !is_transient(&e) => {
            let problem = Problem {
                seq: None,
                actor: None,
                kind: "namespace",
                message: output::causes(e.as_ref()),
            };
            print_problem(out, &problem)?;
            print_summary(out, &Versions::default(), 1)?;
            return Ok(Outcome::Problems);
        }
        Err(e) => return Err(e),
    };
    let mut versions = Versions::default();
    let mut found = 0u64;
    let mut progress = Progress::new();
    let mut records = std::pin::pin!(store.scan(1));
    while let Some(record) = records.next().await {
        let record = record.with_context(|| format!("reading the records of {ns}"))?;
        let outcome = match &record.outcome {
            Ok(events) => Ok(events.as_slice()),
            Err(e) => Err(output::causes(e)),
        };
        let problems = versions.check(record.seq, record.actor.as_ref(), outcome);
        if !problems.is_empty() {
            progress.clear();
            for p in &problems {
                print_problem(out, p)?;
            }
            out.flush()?;
            found += problems.len() as u64;
        }
        progress.update(|| format!("{} records checked…", versions.records));
    }
    progress.clear();
    print_summary(out, &versions, found)?;
    Ok(if found == 0 {
        Outcome::Ok
    } else {
        Outcome::Problems
    })
}

/// Whether opening failed for a reason that says nothing about the namespace (the server
/// did not answer in time): an error then, not a problem found.
fn is_transient(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<aether_core::Error>())
        .any(|e| matches!(e.kind(), ErrorKind::Unavailable | ErrorKind::Timeout))
}

fn print_problem(out: &mut Output, p: &Problem) -> Result<()> {
    if out.json {
        out.json_line(&json!({
            "problem": p.kind,
            "seq": p.seq,
            "actor": p.actor.as_ref().map(ActorId::as_str),
            "message": p.message,
        }))?;
        return Ok(());
    }
    let mut place = String::new();
    if let Some(seq) = p.seq {
        place.push_str(&format!("seq {seq}"));
    }
    if let Some(actor) = &p.actor {
        if !place.is_empty() {
            place.push_str(", ");
        }
        place.push_str(&format!("actor {actor}"));
    }
    let label = out.paint(BAD, "problem");
    let line = if place.is_empty() {
        format!("{label}: {}", p.message)
    } else {
        format!("{label}: {place}: {}", p.message)
    };
    out.line(&line)?;
    Ok(())
}

fn print_summary(out: &mut Output, v: &Versions, problems: u64) -> Result<()> {
    if out.json {
        out.json_line(&json!({
            "summary": {
                "records": v.records,
                "events": v.events,
                "actors": v.last.len(),
                "problems": problems,
                "ok": problems == 0,
            }
        }))?;
        return Ok(());
    }
    let counts = format!(
        "{} records, {} events, {} actors checked",
        v.records,
        v.events,
        v.last.len()
    );
    let verdict = match problems {
        0 => out.paint(GOOD, "ok"),
        1 => out.paint(BAD, "1 problem"),
        n => out.paint(BAD, &format!("{n} problems")),
    };
    out.line(&format!("{counts}: {verdict}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aether_core::NewEvent;
    use time::OffsetDateTime;

    fn events(actor: &ActorId, versions: &[Version]) -> Vec<Event> {
        versions
            .iter()
            .map(|&v| {
                let new = NewEvent::new("E", Vec::new());
                Event::from_new(actor.clone(), v, new, OffsetDateTime::UNIX_EPOCH)
            })
            .collect()
    }

    fn kinds(problems: &[Problem]) -> Vec<&'static str> {
        problems.iter().map(|p| p.kind).collect()
    }

    #[test]
    fn contiguous_histories_have_no_problem() {
        let (a, b) = (ActorId::new("a").unwrap(), ActorId::new("b").unwrap());
        let mut v = Versions::default();
        assert!(v.check(1, Some(&a), Ok(&events(&a, &[1, 2]))).is_empty());
        assert!(v.check(2, Some(&b), Ok(&events(&b, &[1]))).is_empty());
        assert!(v.check(3, None, Ok(&events(&a, &[3]))).is_empty());
        assert_eq!((v.records, v.events, v.last.len()), (3, 4, 2));
    }

    #[test]
    fn gaps_overlaps_bad_starts_and_undecodable_records_are_named() {
        let a = ActorId::new("a").unwrap();
        let mut v = Versions::default();
        let p = v.check(1, Some(&a), Ok(&events(&a, &[2])));
        assert_eq!(kinds(&p), ["first-version"]);
        assert_eq!(p[0].seq, Some(1));
        let p = v.check(2, Some(&a), Ok(&events(&a, &[5, 6])));
        assert_eq!(kinds(&p), ["gap"]);
        assert!(
            p[0].message.contains("versions 3..=4 are missing"),
            "{}",
            p[0].message
        );
        let p = v.check(3, Some(&a), Ok(&events(&a, &[6, 7])));
        assert_eq!(kinds(&p), ["overlap"]);
        let p = v.check(4, Some(&a), Ok(&events(&a, &[8, 10])));
        assert_eq!(kinds(&p), ["gap"]);
        let p = v.check(5, Some(&a), Err("codec error: garbage".into()));
        assert_eq!(kinds(&p), ["undecodable"]);
        assert_eq!(p[0].actor.as_ref(), Some(&a));
        assert_eq!(kinds(&v.check(6, None, Ok(&[]))), ["undecodable"]);
        assert_eq!(v.last[&a], 10);
    }
}
