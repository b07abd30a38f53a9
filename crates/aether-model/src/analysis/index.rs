//! Indexing: every element gets an id, a path, a node id and a place in its name scope.

use crate::validate::Code;
use crate::{Aggregate, BoundedContext, Model};

use super::{AggregateIds, Analysis, ContextIds, Element, Kind, Pending};

/// The element a list of children hangs under, as its children need it.
struct Parent {
    /// The context the children live in.
    context: usize,
    path: String,
    names: Vec<String>,
    node_id: String,
}

impl Parent {
    fn new(element: &Element, context: usize) -> Self {
        Parent {
            context,
            path: element.path.clone(),
            names: element.names.clone(),
            node_id: element.node_id.clone(),
        }
    }
}

impl Element {
    /// The name scope it lives in: 0 for the model level, `i + 1` for context `i`. A
    /// context's own name lives at the model level.
    fn scope(&self) -> usize {
        match (self.kind, self.context) {
            (Kind::Context, _) | (_, None) => 0,
            (_, Some(c)) => c + 1,
        }
    }
}

impl Analysis {
    /// Indexes the model in document order: people, external systems, each context with
    /// everything in it, then the domain's hotspots.
    pub(super) fn index(&mut self, model: &Model, pending: &mut Vec<Pending>) {
        for (i, p) in model.people.iter().enumerate() {
            let id = self.add_top(pending, Kind::Person, ("people", 'p'), i, &p.name);
            self.people.push(id);
        }
        for (i, x) in model.external_systems.iter().enumerate() {
            let kind = Kind::ExternalSystem;
            let id = self.add_top(pending, kind, ("external_systems", 'x'), i, &x.name);
            self.external_systems.push(id);
        }
        for (ci, c) in model.contexts.iter().enumerate() {
            self.index_context(pending, ci, c);
        }
        for (i, h) in model.hotspots.iter().enumerate() {
            let id = self.add_top(pending, Kind::Hotspot, ("hotspots", 'h'), i, &h.name);
            self.hotspots.push(id);
        }
    }

    fn index_context(&mut self, pending: &mut Vec<Pending>, ci: usize, c: &BoundedContext) {
        let id = self.add_top(pending, Kind::Context, ("contexts", 'c'), ci, &c.name);
        // Pushed first: a duplicate name inside the context names the context.
        self.contexts.push(ContextIds {
            id,
            ..ContextIds::default()
        });
        let parent = Parent::new(&self.elements[id], ci);
        for (k, ag) in c.aggregates.iter().enumerate() {
            let ids = self.index_aggregate(pending, &parent, k, ag);
            self.contexts[ci].aggregates.push(ids);
        }
        let events = c.events.iter().map(|e| e.name.as_str());
        let events = self.add_children(pending, Kind::Event, &parent, ("events", 'e'), events);
        let policies = c.policies.iter().map(|p| p.name.as_str());
        let policies =
            self.add_children(pending, Kind::Policy, &parent, ("policies", 'p'), policies);
        let read_models = c.read_models.iter().map(|r| r.name.as_str());
        let list = ("read_models", 'r');
        let read_models = self.add_children(pending, Kind::ReadModel, &parent, list, read_models);
        let hotspots = c.hotspots.iter().map(|h| h.name.as_str());
        let hotspots =
            self.add_children(pending, Kind::Hotspot, &parent, ("hotspots", 'h'), hotspots);
        let ids = &mut self.contexts[ci];
        ids.events = events;
        ids.policies = policies;
        ids.read_models = read_models;
        ids.hotspots = hotspots;
    }

    fn index_aggregate(
        &mut self,
        pending: &mut Vec<Pending>,
        context: &Parent,
        k: usize,
        ag: &Aggregate,
    ) -> AggregateIds {
        let kind = Kind::Aggregate;
        let id = self.add_child(pending, kind, context, ("aggregates", 'a'), k, &ag.name);
        let parent = Parent::new(&self.elements[id], context.context);
        let commands = ag.commands.iter().map(|c| c.name.as_str());
        let commands =
            self.add_children(pending, Kind::Command, &parent, ("commands", 'c'), commands);
        let events = ag.events.iter().map(|e| e.name.as_str());
        let events = self.add_children(pending, Kind::Event, &parent, ("events", 'e'), events);
        AggregateIds {
            id,
            commands,
            events,
        }
    }

    /// Adds a list of elements under `parent`, in order; their ids.
    fn add_children<'n>(
        &mut self,
        pending: &mut Vec<Pending>,
        kind: Kind,
        parent: &Parent,
        list: (&str, char),
        names: impl Iterator<Item = &'n str>,
    ) -> Vec<usize> {
        names
            .enumerate()
            .map(|(k, name)| self.add_child(pending, kind, parent, list, k, name))
            .collect()
    }

    /// Adds element `i` of a model-level list: path `{field}[i]`, node id `{tag}{i}`.
    fn add_top(
        &mut self,
        pending: &mut Vec<Pending>,
        kind: Kind,
        (field, tag): (&str, char),
        i: usize,
        name: &str,
    ) -> usize {
        let element = Element {
            kind,
            name: name.to_owned(),
            context: None,
            path: format!("{field}[{i}]"),
            names: vec![name.to_owned()],
            node_id: format!("{tag}{i}"),
        };
        self.add(pending, element)
    }

    /// Adds element `k` of a list under `parent`: path `{parent}.{field}[k]`, node id
    /// `{parent}_{tag}{k}`.
    fn add_child(
        &mut self,
        pending: &mut Vec<Pending>,
        kind: Kind,
        parent: &Parent,
        (field, tag): (&str, char),
        k: usize,
        name: &str,
    ) -> usize {
        let mut names = parent.names.clone();
        names.push(name.to_owned());
        let element = Element {
            kind,
            name: name.to_owned(),
            context: Some(parent.context),
            path: format!("{}.{field}[{k}]", parent.path),
            names,
            node_id: format!("{}_{tag}{k}", parent.node_id),
        };
        self.add(pending, element)
    }

    /// Adds an element and checks its name in its scope.
    fn add(&mut self, pending: &mut Vec<Pending>, element: Element) -> usize {
        let id = self.elements.len();
        if element.name.trim().is_empty() {
            let kind = element.kind;
            pending.push(Pending::error(
                id,
                Code::EmptyName,
                element.field("name"),
                format!("{} {} has no name", kind.article(), kind.noun()),
            ));
        } else {
            self.claim_name(pending, id, &element);
        }
        self.elements.push(element);
        id
    }

    /// Records the element's name in its scope, or a finding when the scope has it already.
    fn claim_name(&mut self, pending: &mut Vec<Pending>, id: usize, element: &Element) {
        let scope = element.scope();
        let Some(first) = self.scopes[scope].get(&element.name).copied() else {
            self.scopes[scope].insert(element.name.clone(), id);
            return;
        };
        let first = &self.elements[first];
        pending.push(Pending::error(
            id,
            Code::DuplicateName,
            element.field("name"),
            format!(
                "the name {:?} is already used in {} by {} {} at {}",
                element.name,
                self.scope_name(scope),
                first.kind.article(),
                first.kind.noun(),
                first.path
            ),
        ));
    }

    /// A scope as messages name it: `the model` or `context "Banking"`.
    fn scope_name(&self, scope: usize) -> String {
        if scope == 0 {
            "the model".to_owned()
        } else {
            format!(
                "context {:?}",
                self.elements[self.contexts[scope - 1].id].name
            )
        }
    }
}
