//! The Mermaid flowchart of a model, in the EventStorming colours.

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
        write_nodes(&mut out, &a);
        write_edges(&mut out, &a);
        for c in &a.contexts {
            for ag in &c.aggregates {
                let id = &a.elements[ag.id].node_id;
                let _ = writeln!(out, "  style {id} {AGGREGATE_STYLE}");
            }
        }
        out
    }
}

/// The nodes: people and external systems, each context as a subgraph holding its
/// aggregates (subgraphs too) and its other elements, then the domain's hotspots.
fn write_nodes(out: &mut String, a: &Analysis) {
    for &id in a.people.iter().chain(&a.external_systems) {
        write_node(out, a, "  ", id);
    }
    for c in &a.contexts {
        write_subgraph(out, a, "  ", c.id);
        for ag in &c.aggregates {
            write_subgraph(out, a, "    ", ag.id);
            for &id in ag.commands.iter().chain(&ag.events) {
                write_node(out, a, "      ", id);
            }
            out.push_str("    end\n");
        }
        let others = c
            .events
            .iter()
            .chain(&c.policies)
            .chain(&c.read_models)
            .chain(&c.hotspots);
        for &id in others {
            write_node(out, a, "    ", id);
        }
        out.push_str("  end\n");
    }
    for &id in &a.hotspots {
        write_node(out, a, "  ", id);
    }
}

/// One node line: id, shape around the escaped label, class.
fn write_node(out: &mut String, a: &Analysis, indent: &str, id: usize) {
    let el = &a.elements[id];
    let (open, close, class) = shape(el.kind);
    let label = escape_mermaid_label(&el.name);
    let _ = writeln!(out, "{indent}{}{open}{label}{close}:::{class}", el.node_id);
}

/// The opening line of a subgraph (closed by the caller with `end`).
fn write_subgraph(out: &mut String, a: &Analysis, indent: &str, id: usize) {
    let el = &a.elements[id];
    let label = escape_mermaid_label(&el.name);
    let _ = writeln!(out, "{indent}subgraph {}[\"{label}\"]", el.node_id);
}

/// The edges that resolved: solid ones in flow order, then dotted hotspot lines.
fn write_edges(out: &mut String, a: &Analysis) {
    let l = &a.links;
    let solid = l
        .issues
        .iter()
        .chain(&l.emits)
        .chain(&l.external_emits)
        .chain(&l.triggers)
        .chain(&l.policy_issues)
        .chain(&l.feeds);
    let id = |e: usize| &a.elements[e].node_id;
    for &(from, to) in solid {
        let _ = writeln!(out, "  {} --> {}", id(from), id(to));
    }
    for &(from, to) in &l.about {
        let _ = writeln!(out, "  {} -.- {}", id(from), id(to));
    }
}
