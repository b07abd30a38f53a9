//! Indexes a model once: element ids, name scopes, resolved references and findings.
//! Validation and rendering share it, so a diagram shows exactly the links that resolve.
//!
//! The steps, one file each: `index` gives every element an id and checks its name,
//! `resolve` turns references into links, `warn` looks for loose ends and `cycles` for
//! policy cycles that nothing starts.

mod cycles;
mod index;
mod resolve;
mod warn;

use std::collections::HashMap;

use crate::validate::{Code, Finding, Location, Severity};
use crate::Model;

/// The kinds of element on a board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Person,
    ExternalSystem,
    Context,
    Aggregate,
    Command,
    Event,
    Policy,
    ReadModel,
    Hotspot,
}

impl Kind {
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Kind::Person => "person",
            Kind::ExternalSystem => "external system",
            Kind::Context => "bounded context",
            Kind::Aggregate => "aggregate",
            Kind::Command => "command",
            Kind::Event => "event",
            Kind::Policy => "policy",
            Kind::ReadModel => "read model",
            Kind::Hotspot => "hotspot",
        }
    }

    fn article(self) -> &'static str {
        match self {
            Kind::Aggregate | Kind::Event | Kind::ExternalSystem => "an",
            _ => "a",
        }
    }
}

/// One element of the model.
#[derive(Debug, Clone)]
pub(crate) struct Element {
    pub(crate) kind: Kind,
    /// The name as written.
    pub(crate) name: String,
    /// The context it lives in (`None` at the model level).
    pub(crate) context: Option<usize>,
    /// Its path in the model file.
    pub(crate) path: String,
    /// The names along the path.
    pub(crate) names: Vec<String>,
    /// Its Mermaid node (or subgraph) id, made of indexes only.
    pub(crate) node_id: String,
}

impl Element {
    fn location(&self) -> Location {
        Location::new(self.path.clone(), self.names.clone())
    }

    fn field(&self, field: &str) -> Location {
        Location::new(format!("{}.{field}", self.path), self.names.clone())
    }

    /// Its kind and name, for messages: `policy "ShipWhenPaid"`.
    fn describe(&self) -> String {
        format!("{} {:?}", self.kind.noun(), self.name)
    }
}

/// Element ids of one aggregate.
#[derive(Debug, Default)]
pub(crate) struct AggregateIds {
    pub(crate) id: usize,
    pub(crate) commands: Vec<usize>,
    pub(crate) events: Vec<usize>,
}

/// Element ids of one context.
#[derive(Debug, Default)]
pub(crate) struct ContextIds {
    pub(crate) id: usize,
    pub(crate) aggregates: Vec<AggregateIds>,
    pub(crate) events: Vec<usize>,
    pub(crate) policies: Vec<usize>,
    pub(crate) read_models: Vec<usize>,
    pub(crate) hotspots: Vec<usize>,
}

/// The references that resolved, as edges between element ids, in document order.
#[derive(Debug, Default)]
pub(crate) struct Links {
    /// Person or external system -> command.
    pub(crate) issues: Vec<(usize, usize)>,
    /// Command -> event.
    pub(crate) emits: Vec<(usize, usize)>,
    /// External system -> event.
    pub(crate) external_emits: Vec<(usize, usize)>,
    /// Event -> policy.
    pub(crate) triggers: Vec<(usize, usize)>,
    /// Policy -> command.
    pub(crate) policy_issues: Vec<(usize, usize)>,
    /// Event -> read model.
    pub(crate) feeds: Vec<(usize, usize)>,
    /// Hotspot -> the element it is about.
    pub(crate) about: Vec<(usize, usize)>,
}

/// A model, indexed.
pub(crate) struct Analysis {
    pub(crate) elements: Vec<Element>,
    pub(crate) people: Vec<usize>,
    pub(crate) external_systems: Vec<usize>,
    pub(crate) contexts: Vec<ContextIds>,
    pub(crate) hotspots: Vec<usize>,
    pub(crate) links: Links,
    pub(crate) findings: Vec<Finding>,
    /// Name scopes: index 0 is the model level, index `i + 1` is context `i`.
    scopes: Vec<HashMap<String, usize>>,
}

/// A finding with the element id that orders it.
struct Pending {
    order: usize,
    finding: Finding,
}

impl Pending {
    fn error(order: usize, code: Code, location: Location, message: impl Into<String>) -> Self {
        Pending {
            order,
            finding: Finding::new(Severity::Error, code, location, message),
        }
    }

    fn warning(order: usize, code: Code, location: Location, message: impl Into<String>) -> Self {
        Pending {
            order,
            finding: Finding::new(Severity::Warning, code, location, message),
        }
    }
}

impl Analysis {
    pub(crate) fn new(model: &Model) -> Self {
        let mut a = Analysis {
            elements: Vec::new(),
            people: Vec::new(),
            external_systems: Vec::new(),
            contexts: Vec::new(),
            hotspots: Vec::new(),
            links: Links::default(),
            findings: Vec::new(),
            scopes: vec![HashMap::new(); model.contexts.len() + 1],
        };
        let mut pending = Vec::new();
        if model.domain.trim().is_empty() {
            pending.push(Pending::error(
                0,
                Code::EmptyName,
                Location::new("domain", Vec::new()),
                "the domain has no name",
            ));
        }
        a.index(model, &mut pending);
        a.resolve_all(model, &mut pending);
        a.warn(model, &mut pending);
        pending.sort_by_key(|p| p.order);
        a.findings = pending.into_iter().map(|p| p.finding).collect();
        let cycles = a.cycles();
        a.findings.extend(cycles);
        a
    }
}
