//! Resolving references: names become links between element ids, or findings.

use crate::validate::Code;
use crate::{Aggregate, BoundedContext, Command, Hotspot, Model, Policy, ReadModel};

use super::{AggregateIds, Analysis, Element, Kind, Links, Pending};

/// What a reference must name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Event,
    Command,
    Issuer,
    Anything,
}

impl Want {
    fn accepts(self, kind: Kind) -> bool {
        match self {
            Want::Event => kind == Kind::Event,
            Want::Command => kind == Kind::Command,
            Want::Issuer => matches!(kind, Kind::Person | Kind::ExternalSystem),
            Want::Anything => true,
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Want::Event => "event",
            Want::Command => "command",
            Want::Issuer => "person or external system",
            Want::Anything => "element",
        }
    }

    fn article(self) -> &'static str {
        if self == Want::Event {
            "an"
        } else {
            "a"
        }
    }
}

enum Resolved {
    Found(usize),
    Unknown,
    WrongKind(usize),
    Ambiguous(Vec<usize>),
}

impl Analysis {
    /// Resolves every reference of the model, in document order, into `self.links`.
    pub(super) fn resolve_all(&mut self, model: &Model, pending: &mut Vec<Pending>) {
        let mut links = Links::default();
        for (x, &owner) in model.external_systems.iter().zip(&self.external_systems) {
            for (k, ev) in x.emits.iter().enumerate() {
                let field = format!("emits[{k}]");
                if let Some(e) = self.reference(pending, owner, &field, ev, Want::Event) {
                    links.external_emits.push((owner, e));
                }
            }
        }
        for (ci, c) in model.contexts.iter().enumerate() {
            self.resolve_context(pending, &mut links, ci, c);
        }
        for (h, &owner) in model.hotspots.iter().zip(&self.hotspots) {
            self.resolve_hotspot(pending, &mut links, owner, h);
        }
        self.links = links;
    }

    fn resolve_context(
        &self,
        pending: &mut Vec<Pending>,
        links: &mut Links,
        ci: usize,
        c: &BoundedContext,
    ) {
        let ids = &self.contexts[ci];
        for (ag, aids) in c.aggregates.iter().zip(&ids.aggregates) {
            for (cmd, &owner) in ag.commands.iter().zip(&aids.commands) {
                self.resolve_command(pending, links, owner, cmd, (ag, aids));
            }
        }
        for (p, &owner) in c.policies.iter().zip(&ids.policies) {
            self.resolve_policy(pending, links, owner, p);
        }
        for (r, &owner) in c.read_models.iter().zip(&ids.read_models) {
            self.resolve_read_model(pending, links, owner, r);
        }
        for (h, &owner) in c.hotspots.iter().zip(&ids.hotspots) {
            self.resolve_hotspot(pending, links, owner, h);
        }
    }

    /// A command's issuers, and the events it emits: those of its own aggregate only.
    fn resolve_command(
        &self,
        pending: &mut Vec<Pending>,
        links: &mut Links,
        owner: usize,
        cmd: &Command,
        (ag, aids): (&Aggregate, &AggregateIds),
    ) {
        for (j, issuer) in cmd.issued_by.iter().enumerate() {
            let field = format!("issued_by[{j}]");
            if let Some(p) = self.reference(pending, owner, &field, issuer, Want::Issuer) {
                links.issues.push((p, owner));
            }
        }
        for (j, ev) in cmd.emits.iter().enumerate() {
            match ag.events.iter().position(|e| &e.name == ev) {
                Some(e) => links.emits.push((owner, aids.events[e])),
                None => pending.push(self.foreign_emit(owner, j, ev, &cmd.name, &ag.name)),
            }
        }
    }

    /// The finding for a command that emits an event its aggregate does not have.
    fn foreign_emit(
        &self,
        owner: usize,
        j: usize,
        ev: &str,
        command: &str,
        aggregate: &str,
    ) -> Pending {
        let el = &self.elements[owner];
        let elsewhere = match self.resolve(el.context, ev, Want::Event) {
            Resolved::Found(id) => format!(
                "; the event at {} belongs elsewhere, and a command emits only events of its \
                 own aggregate",
                self.elements[id].path
            ),
            _ => String::new(),
        };
        Pending::error(
            owner,
            Code::UnknownReference,
            el.field(&format!("emits[{j}]")),
            format!(
                "command {command:?} emits {ev:?}, which is not an event of aggregate \
                 {aggregate:?}{elsewhere}"
            ),
        )
    }

    fn resolve_policy(
        &self,
        pending: &mut Vec<Pending>,
        links: &mut Links,
        owner: usize,
        p: &Policy,
    ) {
        if let Some(ev) = &p.when {
            if let Some(e) = self.reference(pending, owner, "when", ev, Want::Event) {
                links.triggers.push((e, owner));
            }
        }
        if let Some(cmd) = &p.then {
            if let Some(c) = self.reference(pending, owner, "then", cmd, Want::Command) {
                links.policy_issues.push((owner, c));
            }
        }
    }

    fn resolve_read_model(
        &self,
        pending: &mut Vec<Pending>,
        links: &mut Links,
        owner: usize,
        r: &ReadModel,
    ) {
        for (j, ev) in r.fed_by.iter().enumerate() {
            let field = format!("fed_by[{j}]");
            if let Some(e) = self.reference(pending, owner, &field, ev, Want::Event) {
                links.feeds.push((e, owner));
            }
        }
    }

    fn resolve_hotspot(
        &self,
        pending: &mut Vec<Pending>,
        links: &mut Links,
        owner: usize,
        h: &Hotspot,
    ) {
        if let Some(about) = &h.about {
            if let Some(t) = self.reference(pending, owner, "about", about, Want::Anything) {
                links.about.push((owner, t));
            }
        }
    }

    /// Resolves a reference and records a finding when it does not resolve.
    fn reference(
        &self,
        pending: &mut Vec<Pending>,
        owner: usize,
        field: &str,
        name: &str,
        want: Want,
    ) -> Option<usize> {
        let el = &self.elements[owner];
        let (code, message) = match self.resolve(el.context, name, want) {
            Resolved::Found(id) => return Some(id),
            Resolved::Unknown => (
                Code::UnknownReference,
                format!("{} names unknown {} {name:?}", el.describe(), want.noun()),
            ),
            Resolved::WrongKind(id) => (
                Code::UnknownReference,
                self.wrong_kind(el, name, want, &self.elements[id]),
            ),
            Resolved::Ambiguous(ids) => (
                Code::AmbiguousReference,
                self.ambiguous(el, name, want, &ids),
            ),
        };
        pending.push(Pending::error(owner, code, el.field(field), message));
        None
    }

    /// The message for a reference to an element of the wrong kind.
    fn wrong_kind(&self, el: &Element, name: &str, want: Want, other: &Element) -> String {
        format!(
            "{} names {name:?} as {} {}, but it is {} {} at {}",
            el.describe(),
            want.article(),
            want.noun(),
            other.kind.article(),
            other.kind.noun(),
            other.path
        )
    }

    /// The message for a reference that several other contexts could mean.
    fn ambiguous(&self, el: &Element, name: &str, want: Want, ids: &[usize]) -> String {
        let places: Vec<_> = ids
            .iter()
            .map(|&i| self.elements[i].path.as_str())
            .collect();
        format!(
            "{} names {} {name:?}, which several other contexts define ({}); reference it \
             from inside its context or rename one",
            el.describe(),
            want.noun(),
            places.join(", ")
        )
    }

    /// Resolves a name from a context (or the model level) to an element of the wanted
    /// kind: the own context first, then the model level, then the other contexts.
    fn resolve(&self, from: Option<usize>, name: &str, want: Want) -> Resolved {
        let mut wrong = None;
        let mut try_scope = |scope: usize| match self.scopes[scope].get(name).copied() {
            Some(id) if want.accepts(self.elements[id].kind) => Some(id),
            Some(id) => {
                wrong.get_or_insert(id);
                None
            }
            None => None,
        };
        if let Some(id) = from.and_then(|c| try_scope(c + 1)) {
            return Resolved::Found(id);
        }
        if let Some(id) = try_scope(0) {
            return Resolved::Found(id);
        }
        let others = (1..self.scopes.len()).filter(|&scope| Some(scope - 1) != from);
        let found: Vec<usize> = others.filter_map(&mut try_scope).collect();
        match (found.len(), wrong) {
            (1, _) => Resolved::Found(found[0]),
            (0, Some(w)) => Resolved::WrongKind(w),
            (0, None) => Resolved::Unknown,
            _ => Resolved::Ambiguous(found),
        }
    }
}
