//! Rendering: a Mermaid flowchart, a Markdown page around it, and a compact text summary.

use std::fmt::Write as _;

use crate::analysis::{Analysis, Kind};
use crate::Model;

/// The EventStorming colours, as Mermaid class definitions.
const CLASSES: &[(&str, &str)] = &[
    ("event", "fill:#ffa94d,stroke:#d9480f,color:#000"),
    ("command", "fill:#74c0fc,stroke:#1864ab,color:#000"),
    ("policy", "fill:#d0bfff,stroke:#6741d9,color:#000"),
    ("readModel", "fill:#8ce99a,stroke:#2b8a3e,color:#000"),
    ("external", "fill:#faa2c1,stroke:#c2255c,color:#000"),
    ("person", "fill:#fff9db,stroke:#f08c00,color:#000"),
    ("hotspot", "fill:#ff6b6b,stroke:#c92a2a,color:#000"),
];

/// The style of an aggregate's subgraph (yellow).
const AGGREGATE_STYLE: &str = "fill:#ffe066,stroke:#e67700,color:#000";

/// Escapes a label for a double-quoted Mermaid string.
///
/// Mermaid decodes `#name;` and `#number;` entity codes inside labels, so every character
/// that could end the string, open markup or start such a code is written as one; control
/// characters (which could end the line) become spaces. Everything else, Unicode included,
/// passes through. An empty label becomes a single space, as Mermaid refuses `""`.
///
/// ```
/// assert_eq!(aether_model::escape_mermaid_label(r#"say "hi" #1 <b>"#), "say #quot;hi#quot; #35;1 #lt;b#gt;");
/// ```
pub fn escape_mermaid_label(label: &str) -> String {
    let mut out = String::with_capacity(label.len());
    for ch in label.chars() {
        match ch {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '&' => out.push_str("#amp;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '`' => out.push_str("#96;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    if out.is_empty() {
        out.push(' ');
    }
    out
}

fn shape(kind: Kind) -> (&'static str, &'static str, &'static str) {
    match kind {
        Kind::Person => ("([\"", "\"])", "person"),
        Kind::ExternalSystem => ("[[\"", "\"]]", "external"),
        Kind::Command => ("[\"", "\"]", "command"),
        Kind::Event => ("[\"", "\"]", "event"),
        Kind::Policy => ("{{\"", "\"}}", "policy"),
        Kind::ReadModel => ("[(\"", "\")]", "readModel"),
        Kind::Hotspot => (">\"", "\"]", "hotspot"),
        // Contexts and aggregates are subgraphs, never nodes.
        Kind::Context | Kind::Aggregate => ("[\"", "\"]", "event"),
    }
}

impl Model {
    /// Renders the model as a Mermaid flowchart in the usual EventStorming colours: events
    /// orange, commands blue, policies lilac, read models green, external systems pink,
    /// aggregates yellow (people pale yellow, hotspots red).
    ///
    /// Bounded contexts and aggregates are subgraphs; every other element is one node line.
    /// Node ids are made of indexes only (`c0_a1_c2` is command 2 of aggregate 1 of context
    /// 0) and every label is a double-quoted, escaped string (see
    /// [`escape_mermaid_label`]), so any name renders as written. Edges: issuer -> command
    /// -> event, event -> policy -> command, event -> read model, external system -> event,
    /// and a dotted line from a hotspot to what it is about. References that do not resolve
    /// (see [`Model::validate`]) are left out.
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
    /// let diagram = model.to_mermaid();
    /// assert!(diagram.starts_with("flowchart LR\n"));
    /// assert!(diagram.contains(r#"c0_a0_c0["OpenAccount"]:::command"#));
    /// assert!(diagram.contains("p0 --> c0_a0_c0"));
    /// ```
    pub fn to_mermaid(&self) -> String {
        let a = Analysis::new(self);
        let mut out = String::from("flowchart LR\n");
        for (name, style) in CLASSES {
            let _ = writeln!(out, "  classDef {name} {style}");
        }
        let node = |out: &mut String, indent: &str, id: usize| {
            let el = &a.elements[id];
            let (open, close, class) = shape(el.kind);
            let _ = writeln!(
                out,
                "{indent}{}{open}{}{close}:::{class}",
                el.node_id,
                escape_mermaid_label(&el.name)
            );
        };
        let subgraph = |out: &mut String, indent: &str, id: usize| {
            let el = &a.elements[id];
            let _ = writeln!(
                out,
                "{indent}subgraph {}[\"{}\"]",
                el.node_id,
                escape_mermaid_label(&el.name)
            );
        };
        for &id in a.people.iter().chain(&a.external_systems) {
            node(&mut out, "  ", id);
        }
        for c in &a.contexts {
            subgraph(&mut out, "  ", c.id);
            for ag in &c.aggregates {
                subgraph(&mut out, "    ", ag.id);
                for &id in ag.commands.iter().chain(&ag.events) {
                    node(&mut out, "      ", id);
                }
                out.push_str("    end\n");
            }
            for &id in c
                .events
                .iter()
                .chain(&c.policies)
                .chain(&c.read_models)
                .chain(&c.hotspots)
            {
                node(&mut out, "    ", id);
            }
            out.push_str("  end\n");
        }
        for &id in &a.hotspots {
            node(&mut out, "  ", id);
        }
        let l = &a.links;
        let solid = l
            .issues
            .iter()
            .chain(&l.emits)
            .chain(&l.external_emits)
            .chain(&l.triggers)
            .chain(&l.policy_issues)
            .chain(&l.feeds);
        for &(from, to) in solid {
            let _ = writeln!(
                out,
                "  {} --> {}",
                a.elements[from].node_id, a.elements[to].node_id
            );
        }
        for &(from, to) in &l.about {
            let _ = writeln!(
                out,
                "  {} -.- {}",
                a.elements[from].node_id, a.elements[to].node_id
            );
        }
        for c in &a.contexts {
            for ag in &c.aggregates {
                let _ = writeln!(
                    out,
                    "  style {} {AGGREGATE_STYLE}",
                    a.elements[ag.id].node_id
                );
            }
        }
        out
    }

    /// A Markdown page: the domain as a heading, its description, the Mermaid diagram in a
    /// ```` ```mermaid ```` block and the [summary](Model::summary) in a text block.
    ///
    /// `docs/model/bank.md` is this page for `docs/model/bank.toml`.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# {}\n", one_line(&self.domain));
        if !self.description.is_empty() {
            let _ = writeln!(out, "{}\n", self.description.trim());
        }
        out.push_str(
            "<!-- Generated from the model file by aether-model; do not edit by hand. -->\n\n",
        );
        let _ = write!(out, "```mermaid\n{}```\n\n", self.to_mermaid());
        let _ = write!(
            out,
            "```text\n{}```\n",
            self.summary().replace("```", "'''")
        );
        out
    }

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
        let count =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let aggregates: Vec<_> = self.aggregates().map(|(_, a)| a).collect();
        let commands: usize = aggregates.iter().map(|a| a.commands.len()).sum();
        let events: usize = aggregates.iter().map(|a| a.events.len()).sum::<usize>()
            + self.contexts.iter().map(|c| c.events.len()).sum::<usize>();
        let sum =
            |f: fn(&crate::BoundedContext) -> usize| self.contexts.iter().map(f).sum::<usize>();
        let counts = [
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
            count(
                sum(|c| c.hotspots.len()) + self.hotspots.len(),
                "hotspot",
                "hotspots",
            ),
        ];
        let mut out = format!("{}: {}\n", one_line(&self.domain), counts.join(", "));
        let list = |names: &[String]| {
            names
                .iter()
                .map(|n| one_line(n))
                .collect::<Vec<_>>()
                .join(", ")
        };
        for c in &self.contexts {
            let _ = writeln!(out, "context {}", one_line(&c.name));
            for a in &c.aggregates {
                let _ = writeln!(out, "  aggregate {}", one_line(&a.name));
                for cmd in &a.commands {
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
                    let _ = writeln!(out, "    {}{by} -> {emits}", one_line(&cmd.name));
                }
                let evs: Vec<String> = a.events.iter().map(|e| e.name.clone()).collect();
                if !evs.is_empty() {
                    let _ = writeln!(out, "    events: {}", list(&evs));
                }
            }
            if !c.events.is_empty() {
                let evs: Vec<String> = c.events.iter().map(|e| e.name.clone()).collect();
                let _ = writeln!(out, "  events: {}", list(&evs));
            }
            for p in &c.policies {
                let when = p
                    .when
                    .as_deref()
                    .map_or_else(|| "(no event)".to_owned(), one_line);
                let then = p
                    .then
                    .as_deref()
                    .map_or_else(|| "(no command)".to_owned(), one_line);
                let _ = writeln!(
                    out,
                    "  policy {}: when {when} then {then}",
                    one_line(&p.name)
                );
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
}

fn hotspot_line(h: &crate::Hotspot) -> String {
    match &h.about {
        Some(about) => format!("hotspot {} (about {})", one_line(&h.name), one_line(about)),
        None => format!("hotspot {}", one_line(&h.name)),
    }
}

/// A name on one line: control characters become spaces.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
