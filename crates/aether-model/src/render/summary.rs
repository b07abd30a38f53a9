//! The compact text summary of a model.

use std::fmt::Write as _;

use crate::{Aggregate, BoundedContext, Command, Hotspot, Model, Policy};

use super::one_line;

impl Model {
    /// A compact text summary: counts, then each context with its aggregates (commands with
    /// their issuers and events), context events, policies, read models and hotspots, then
    /// the people, external systems and domain hotspots.
    ///
    /// ```
    /// use aether_model::{Aggregate, BoundedContext, Command, Model};
    /// let model = Model::new("Bank").person("Customer").context(
    ///     BoundedContext::new("Banking").aggregate(
    ///         Aggregate::new("Account")
    ///             .command(Command::new("OpenAccount").issued_by("Customer").emits("AccountOpened"))
    ///             .event("AccountOpened"),
    ///     ),
    /// );
    /// let summary = model.summary();
    /// assert!(summary.starts_with("Bank: 1 context, 1 aggregate, 1 command, 1 event"));
    /// assert!(summary.contains("OpenAccount (by Customer) -> AccountOpened"));
    /// ```
    pub fn summary(&self) -> String {
        let mut out = format!("{}: {}\n", one_line(&self.domain), self.counts().join(", "));
        for c in &self.contexts {
            write_context(&mut out, c);
        }
        for p in &self.people {
            let _ = writeln!(out, "person {}", one_line(&p.name));
        }
        for x in &self.external_systems {
            let emits = if x.emits.is_empty() {
                String::new()
            } else {
                format!(" -> {}", list(&x.emits))
            };
            let _ = writeln!(out, "external system {}{emits}", one_line(&x.name));
        }
        for h in &self.hotspots {
            let _ = writeln!(out, "{}", hotspot_line(h));
        }
        out
    }

    /// The counts of the summary's first line.
    fn counts(&self) -> [String; 9] {
        let aggregates: Vec<_> = self.aggregates().map(|(_, a)| a).collect();
        let commands: usize = aggregates.iter().map(|a| a.commands.len()).sum();
        let events: usize = aggregates.iter().map(|a| a.events.len()).sum::<usize>()
            + self.contexts.iter().map(|c| c.events.len()).sum::<usize>();
        let sum = |f: fn(&BoundedContext) -> usize| self.contexts.iter().map(f).sum::<usize>();
        let hotspots = sum(|c| c.hotspots.len()) + self.hotspots.len();
        [
            count(self.contexts.len(), "context", "contexts"),
            count(aggregates.len(), "aggregate", "aggregates"),
            count(commands, "command", "commands"),
            count(events, "event", "events"),
            count(sum(|c| c.policies.len()), "policy", "policies"),
            count(sum(|c| c.read_models.len()), "read model", "read models"),
            count(self.people.len(), "person", "people"),
            count(
                self.external_systems.len(),
                "external system",
                "external systems",
            ),
            count(hotspots, "hotspot", "hotspots"),
        ]
    }
}

/// `1 context`, `2 contexts`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Names on one line each, comma-separated.
fn list<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> String {
    names
        .into_iter()
        .map(|n| one_line(n.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A context: its aggregates, events, policies, read models and hotspots.
fn write_context(out: &mut String, c: &BoundedContext) {
    let _ = writeln!(out, "context {}", one_line(&c.name));
    for a in &c.aggregates {
        write_aggregate(out, a);
    }
    if !c.events.is_empty() {
        let _ = writeln!(out, "  events: {}", list(c.events.iter().map(|e| &e.name)));
    }
    for p in &c.policies {
        let _ = writeln!(out, "  {}", policy_line(p));
    }
    for r in &c.read_models {
        let _ = writeln!(
            out,
            "  read model {} <- {}",
            one_line(&r.name),
            list(&r.fed_by)
        );
    }
    for h in &c.hotspots {
        let _ = writeln!(out, "  {}", hotspot_line(h));
    }
}

/// An aggregate: a line per command, then its events.
fn write_aggregate(out: &mut String, a: &Aggregate) {
    let _ = writeln!(out, "  aggregate {}", one_line(&a.name));
    for cmd in &a.commands {
        let _ = writeln!(out, "    {}", command_line(cmd));
    }
    if !a.events.is_empty() {
        let _ = writeln!(
            out,
            "    events: {}",
            list(a.events.iter().map(|e| &e.name))
        );
    }
}

/// `OpenAccount (by Customer) -> AccountOpened`.
fn command_line(cmd: &Command) -> String {
    let by = if cmd.issued_by.is_empty() {
        String::new()
    } else {
        format!(" (by {})", list(&cmd.issued_by))
    };
    let emits = if cmd.emits.is_empty() {
        "nothing".to_owned()
    } else {
        list(&cmd.emits)
    };
    format!("{}{by} -> {emits}", one_line(&cmd.name))
}

/// `policy P: when E then C`.
fn policy_line(p: &Policy) -> String {
    let when = p
        .when
        .as_deref()
        .map_or_else(|| "(no event)".to_owned(), one_line);
    let then = p
        .then
        .as_deref()
        .map_or_else(|| "(no command)".to_owned(), one_line);
    format!("policy {}: when {when} then {then}", one_line(&p.name))
}

fn hotspot_line(h: &Hotspot) -> String {
    match &h.about {
        Some(about) => format!("hotspot {} (about {})", one_line(&h.name), one_line(about)),
        None => format!("hotspot {}", one_line(&h.name)),
    }
}
