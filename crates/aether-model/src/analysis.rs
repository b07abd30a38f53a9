//! Indexes a model once: element ids, name scopes, resolved references and findings.
//! Validation and rendering share it, so a diagram shows exactly the links that resolve.

use std::collections::{HashMap, HashSet};

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
}

enum Resolved {
    Found(usize),
    Unknown,
    WrongKind(usize),
    Ambiguous(Vec<usize>),
}

/// A finding with the element id that orders it.
struct Pending {
    order: usize,
    finding: Finding,
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
            pending.push(Pending {
                order: 0,
                finding: Finding::new(
                    Severity::Error,
                    Code::EmptyName,
                    Location::new("domain", Vec::new()),
                    "the domain has no name",
                ),
            });
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

    /// Adds an element and checks its name in its scope.
    fn add(
        &mut self,
        pending: &mut Vec<Pending>,
        kind: Kind,
        context: Option<usize>,
        path: String,
        names: Vec<String>,
        node_id: String,
    ) -> usize {
        let id = self.elements.len();
        let name = names.last().cloned().unwrap_or_default();
        let name = name.as_str();
        let element = Element {
            kind,
            name: name.to_owned(),
            context,
            path,
            names,
            node_id,
        };
        if name.trim().is_empty() {
            pending.push(Pending {
                order: id,
                finding: Finding::new(
                    Severity::Error,
                    Code::EmptyName,
                    element.field("name"),
                    format!("{} {} has no name", kind.article(), kind.noun()),
                ),
            });
        } else {
            let scope = context.map_or(0, |c| c + 1);
            // A context's own name lives at the model level.
            let scope = if kind == Kind::Context { 0 } else { scope };
            if let Some(&first) = self.scopes[scope].get(name) {
                let first = &self.elements[first];
                let scope_name = if scope == 0 {
                    "the model".to_owned()
                } else {
                    format!(
                        "context {:?}",
                        self.elements[self.contexts[scope - 1].id].name
                    )
                };
                pending.push(Pending {
                    order: id,
                    finding: Finding::new(
                        Severity::Error,
                        Code::DuplicateName,
                        element.field("name"),
                        format!(
                            "the name {name:?} is already used in {scope_name} by {} {} at {}",
                            first.kind.article(),
                            first.kind.noun(),
                            first.path
                        ),
                    ),
                });
            } else {
                self.scopes[scope].insert(name.to_owned(), id);
            }
        }
        self.elements.push(element);
        id
    }

    fn index(&mut self, model: &Model, pending: &mut Vec<Pending>) {
        for (i, p) in model.people.iter().enumerate() {
            let id = self.add(
                pending,
                Kind::Person,
                None,
                format!("people[{i}]"),
                vec![p.name.clone()],
                format!("p{i}"),
            );
            self.people.push(id);
        }
        for (i, x) in model.external_systems.iter().enumerate() {
            let id = self.add(
                pending,
                Kind::ExternalSystem,
                None,
                format!("external_systems[{i}]"),
                vec![x.name.clone()],
                format!("x{i}"),
            );
            self.external_systems.push(id);
        }
        for (ci, c) in model.contexts.iter().enumerate() {
            let cpath = format!("contexts[{ci}]");
            let cnames = vec![c.name.clone()];
            let id = self.add(
                pending,
                Kind::Context,
                None,
                cpath.clone(),
                cnames.clone(),
                format!("c{ci}"),
            );
            self.contexts.push(ContextIds {
                id,
                ..ContextIds::default()
            });
            let ctx = Some(ci);
            let sub = |names: &Vec<String>, name: &str| {
                let mut n = names.clone();
                n.push(name.to_owned());
                n
            };
            for (ai, ag) in c.aggregates.iter().enumerate() {
                let apath = format!("{cpath}.aggregates[{ai}]");
                let anames = sub(&cnames, &ag.name);
                let aid = format!("c{ci}_a{ai}");
                let id = self.add(
                    pending,
                    Kind::Aggregate,
                    ctx,
                    apath.clone(),
                    anames.clone(),
                    aid.clone(),
                );
                let mut ids = AggregateIds {
                    id,
                    ..AggregateIds::default()
                };
                for (k, cmd) in ag.commands.iter().enumerate() {
                    ids.commands.push(self.add(
                        pending,
                        Kind::Command,
                        ctx,
                        format!("{apath}.commands[{k}]"),
                        sub(&anames, &cmd.name),
                        format!("{aid}_c{k}"),
                    ));
                }
                for (k, ev) in ag.events.iter().enumerate() {
                    ids.events.push(self.add(
                        pending,
                        Kind::Event,
                        ctx,
                        format!("{apath}.events[{k}]"),
                        sub(&anames, &ev.name),
                        format!("{aid}_e{k}"),
                    ));
                }
                self.contexts[ci].aggregates.push(ids);
            }
            for (k, ev) in c.events.iter().enumerate() {
                let id = self.add(
                    pending,
                    Kind::Event,
                    ctx,
                    format!("{cpath}.events[{k}]"),
                    sub(&cnames, &ev.name),
                    format!("c{ci}_e{k}"),
                );
                self.contexts[ci].events.push(id);
            }
            for (k, p) in c.policies.iter().enumerate() {
                let id = self.add(
                    pending,
                    Kind::Policy,
                    ctx,
                    format!("{cpath}.policies[{k}]"),
                    sub(&cnames, &p.name),
                    format!("c{ci}_p{k}"),
                );
                self.contexts[ci].policies.push(id);
            }
            for (k, r) in c.read_models.iter().enumerate() {
                let id = self.add(
                    pending,
                    Kind::ReadModel,
                    ctx,
                    format!("{cpath}.read_models[{k}]"),
                    sub(&cnames, &r.name),
                    format!("c{ci}_r{k}"),
                );
                self.contexts[ci].read_models.push(id);
            }
            for (k, h) in c.hotspots.iter().enumerate() {
                let id = self.add(
                    pending,
                    Kind::Hotspot,
                    ctx,
                    format!("{cpath}.hotspots[{k}]"),
                    sub(&cnames, &h.name),
                    format!("c{ci}_h{k}"),
                );
                self.contexts[ci].hotspots.push(id);
            }
        }
        for (i, h) in model.hotspots.iter().enumerate() {
            let id = self.add(
                pending,
                Kind::Hotspot,
                None,
                format!("hotspots[{i}]"),
                vec![h.name.clone()],
                format!("h{i}"),
            );
            self.hotspots.push(id);
        }
    }

    fn lookup(&self, scope: usize, name: &str) -> Option<usize> {
        self.scopes[scope].get(name).copied()
    }

    /// Resolves a name from a context (or the model level) to an element of the wanted
    /// kind: the own context first, then the model level, then the other contexts.
    fn resolve(&self, from: Option<usize>, name: &str, want: Want) -> Resolved {
        let mut wrong = None;
        let try_scope = |scope: usize, wrong: &mut Option<usize>| match self.lookup(scope, name) {
            Some(id) if want.accepts(self.elements[id].kind) => Some(id),
            Some(id) => {
                wrong.get_or_insert(id);
                None
            }
            None => None,
        };
        if let Some(c) = from {
            if let Some(id) = try_scope(c + 1, &mut wrong) {
                return Resolved::Found(id);
            }
        }
        if let Some(id) = try_scope(0, &mut wrong) {
            return Resolved::Found(id);
        }
        let mut found = Vec::new();
        for scope in 1..self.scopes.len() {
            if Some(scope - 1) == from {
                continue;
            }
            if let Some(id) = try_scope(scope, &mut wrong) {
                found.push(id);
            }
        }
        match (found.len(), wrong) {
            (1, _) => Resolved::Found(found[0]),
            (0, Some(w)) => Resolved::WrongKind(w),
            (0, None) => Resolved::Unknown,
            _ => Resolved::Ambiguous(found),
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
        let what = format!("{} {:?}", el.kind.noun(), el.name);
        let (code, message) = match self.resolve(el.context, name, want) {
            Resolved::Found(id) => return Some(id),
            Resolved::Unknown => (
                Code::UnknownReference,
                format!("{what} names unknown {} {name:?}", want.noun()),
            ),
            Resolved::WrongKind(id) => {
                let other = &self.elements[id];
                (
                    Code::UnknownReference,
                    format!(
                        "{what} names {name:?} as {} {}, but it is {} {} at {}",
                        if want == Want::Event { "an" } else { "a" },
                        want.noun(),
                        other.kind.article(),
                        other.kind.noun(),
                        other.path
                    ),
                )
            }
            Resolved::Ambiguous(ids) => {
                let places: Vec<_> = ids
                    .iter()
                    .map(|&i| self.elements[i].path.as_str())
                    .collect();
                (
                    Code::AmbiguousReference,
                    format!(
                        "{what} names {} {name:?}, which several other contexts define ({}); \
                         reference it from inside its context or rename one",
                        want.noun(),
                        places.join(", ")
                    ),
                )
            }
        };
        pending.push(Pending {
            order: owner,
            finding: Finding::new(Severity::Error, code, el.field(field), message),
        });
        None
    }

    fn resolve_all(&mut self, model: &Model, pending: &mut Vec<Pending>) {
        let mut links = Links::default();
        for (i, x) in model.external_systems.iter().enumerate() {
            let owner = self.external_systems[i];
            for (k, ev) in x.emits.iter().enumerate() {
                if let Some(e) =
                    self.reference(pending, owner, &format!("emits[{k}]"), ev, Want::Event)
                {
                    links.external_emits.push((owner, e));
                }
            }
        }
        for (ci, c) in model.contexts.iter().enumerate() {
            let ids = &self.contexts[ci];
            for (ai, ag) in c.aggregates.iter().enumerate() {
                let aids = &ids.aggregates[ai];
                for (k, cmd) in ag.commands.iter().enumerate() {
                    let owner = aids.commands[k];
                    for (j, issuer) in cmd.issued_by.iter().enumerate() {
                        let field = format!("issued_by[{j}]");
                        if let Some(p) =
                            self.reference(pending, owner, &field, issuer, Want::Issuer)
                        {
                            links.issues.push((p, owner));
                        }
                    }
                    for (j, ev) in cmd.emits.iter().enumerate() {
                        let own = ag.events.iter().position(|e| &e.name == ev);
                        match own {
                            Some(e) => links.emits.push((owner, aids.events[e])),
                            None => {
                                let el = &self.elements[owner];
                                let elsewhere = match self.resolve(el.context, ev, Want::Event) {
                                    Resolved::Found(id) => format!(
                                        "; the event at {} belongs elsewhere, and a command emits \
                                         only events of its own aggregate",
                                        self.elements[id].path
                                    ),
                                    _ => String::new(),
                                };
                                pending.push(Pending {
                                    order: owner,
                                    finding: Finding::new(
                                        Severity::Error,
                                        Code::UnknownReference,
                                        el.field(&format!("emits[{j}]")),
                                        format!(
                                            "command {:?} emits {ev:?}, which is not an event of \
                                             aggregate {:?}{elsewhere}",
                                            cmd.name, ag.name
                                        ),
                                    ),
                                });
                            }
                        }
                    }
                }
            }
            for (k, p) in c.policies.iter().enumerate() {
                let owner = ids.policies[k];
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
            for (k, r) in c.read_models.iter().enumerate() {
                let owner = ids.read_models[k];
                for (j, ev) in r.fed_by.iter().enumerate() {
                    let field = format!("fed_by[{j}]");
                    if let Some(e) = self.reference(pending, owner, &field, ev, Want::Event) {
                        links.feeds.push((e, owner));
                    }
                }
            }
            for (k, h) in c.hotspots.iter().enumerate() {
                let owner = ids.hotspots[k];
                if let Some(about) = &h.about {
                    if let Some(t) = self.reference(pending, owner, "about", about, Want::Anything)
                    {
                        links.about.push((owner, t));
                    }
                }
            }
        }
        for (i, h) in model.hotspots.iter().enumerate() {
            let owner = self.hotspots[i];
            if let Some(about) = &h.about {
                if let Some(t) = self.reference(pending, owner, "about", about, Want::Anything) {
                    links.about.push((owner, t));
                }
            }
        }
        self.links = links;
    }

    fn warn(&self, model: &Model, pending: &mut Vec<Pending>) {
        let mut warn = |order: usize, code: Code, message: String| {
            pending.push(Pending {
                order,
                finding: Finding::new(
                    Severity::Warning,
                    code,
                    self.elements[order].location(),
                    message,
                ),
            });
        };
        let emitted: HashSet<usize> = self
            .links
            .emits
            .iter()
            .chain(&self.links.external_emits)
            .map(|&(_, e)| e)
            .collect();
        let acknowledged: HashSet<usize> = self.links.about.iter().map(|&(_, t)| t).collect();
        for (ci, c) in model.contexts.iter().enumerate() {
            let ids = &self.contexts[ci];
            for (ai, ag) in c.aggregates.iter().enumerate() {
                let aids = &ids.aggregates[ai];
                for (k, cmd) in ag.commands.iter().enumerate() {
                    if cmd.emits.is_empty() {
                        warn(
                            aids.commands[k],
                            Code::CommandEmitsNothing,
                            format!("command {:?} emits no event", cmd.name),
                        );
                    }
                }
                for (k, ev) in ag.events.iter().enumerate() {
                    if !emitted.contains(&aids.events[k]) {
                        warn(
                            aids.events[k],
                            Code::EventNeverEmitted,
                            format!(
                                "event {:?} is emitted by no command of aggregate {:?} and by no \
                                 external system",
                                ev.name, ag.name
                            ),
                        );
                    }
                }
            }
            for (k, ev) in c.events.iter().enumerate() {
                if !emitted.contains(&ids.events[k]) {
                    warn(
                        ids.events[k],
                        Code::EventNeverEmitted,
                        format!(
                            "event {:?} belongs to no aggregate and no external system emits it",
                            ev.name
                        ),
                    );
                }
            }
            for (k, p) in c.policies.iter().enumerate() {
                let id = ids.policies[k];
                if p.when.is_none() && !acknowledged.contains(&id) {
                    warn(
                        id,
                        Code::PolicyWithoutTrigger,
                        format!(
                            "policy {:?} names no event to react to (add `when`, or a hotspot \
                             about it if its trigger is not an event)",
                            p.name
                        ),
                    );
                }
                if p.then.is_none() {
                    warn(
                        id,
                        Code::PolicyWithoutCommand,
                        format!("policy {:?} names no command to issue", p.name),
                    );
                }
            }
            for (k, r) in c.read_models.iter().enumerate() {
                if r.fed_by.is_empty() {
                    warn(
                        ids.read_models[k],
                        Code::ReadModelNotFed,
                        format!("read model {:?} is fed by no event", r.name),
                    );
                }
            }
        }
    }

    /// Cycles of commands and events linked by policies that nothing outside starts.
    fn cycles(&self) -> Vec<Finding> {
        let n = self.elements.len();
        let mut next: Vec<Vec<usize>> = vec![Vec::new(); n];
        // Event -> command through a policy; command -> event by emitting.
        let mut policy_of: HashMap<(usize, usize), Vec<usize>> = HashMap::new();
        let policy_then: HashMap<usize, Vec<usize>> =
            self.links
                .policy_issues
                .iter()
                .fold(HashMap::new(), |mut m, &(p, c)| {
                    m.entry(p).or_default().push(c);
                    m
                });
        for &(e, p) in &self.links.triggers {
            for &c in policy_then.get(&p).into_iter().flatten() {
                next[e].push(c);
                policy_of.entry((e, c)).or_default().push(p);
            }
        }
        for &(c, e) in &self.links.emits {
            next[c].push(e);
        }
        let started: HashSet<usize> = self
            .links
            .issues
            .iter()
            .map(|&(_, c)| c)
            .chain(self.links.external_emits.iter().map(|&(_, e)| e))
            .collect();
        let component = strongly_connected(&next);
        let mut members: HashMap<usize, Vec<usize>> = HashMap::new();
        for (v, &c) in component.iter().enumerate() {
            members.entry(c).or_default().push(v);
        }
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for v in 0..n {
            let comp = component[v];
            if !seen.insert(comp) {
                continue;
            }
            let nodes = &members[&comp];
            let cyclic = nodes.len() > 1 || next[v].contains(&v);
            if !cyclic {
                continue;
            }
            let inside: HashSet<usize> = nodes.iter().copied().collect();
            let entered_from_outside = (0..n)
                .filter(|u| !inside.contains(u))
                .any(|u| next[u].iter().any(|w| inside.contains(w)));
            if entered_from_outside || nodes.iter().any(|u| started.contains(u)) {
                continue;
            }
            let mut policies: Vec<usize> = Vec::new();
            for &u in nodes {
                for &w in &next[u] {
                    if inside.contains(&w) {
                        if let Some(ps) = policy_of.get(&(u, w)) {
                            policies.extend(ps);
                        }
                    }
                }
            }
            policies.sort_unstable();
            policies.dedup();
            let Some(&first) = policies.first() else {
                continue;
            };
            let names: Vec<String> = policies
                .iter()
                .map(|&p| format!("{:?}", self.elements[p].name))
                .collect();
            out.push(Finding::new(
                Severity::Warning,
                Code::UntriggeredPolicyCycle,
                self.elements[first].location(),
                format!(
                    "policies {} form a cycle that no person, external system or outside \
                     command starts",
                    names.join(", ")
                ),
            ));
        }
        out
    }
}

/// Strongly connected components (Kosaraju, iterative): the component number of each node.
fn strongly_connected(next: &[Vec<usize>]) -> Vec<usize> {
    let n = next.len();
    let mut order = Vec::with_capacity(n);
    let mut visited = vec![false; n];
    for s in 0..n {
        if visited[s] {
            continue;
        }
        visited[s] = true;
        let mut stack = vec![(s, 0usize)];
        while let Some(&mut (v, ref mut i)) = stack.last_mut() {
            if let Some(&w) = next[v].get(*i) {
                *i += 1;
                if !visited[w] {
                    visited[w] = true;
                    stack.push((w, 0));
                }
            } else {
                order.push(v);
                stack.pop();
            }
        }
    }
    let mut prev: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (v, ws) in next.iter().enumerate() {
        for &w in ws {
            prev[w].push(v);
        }
    }
    let mut component = vec![usize::MAX; n];
    let mut count = 0;
    for &s in order.iter().rev() {
        if component[s] != usize::MAX {
            continue;
        }
        component[s] = count;
        let mut stack = vec![s];
        while let Some(v) = stack.pop() {
            for &w in &prev[v] {
                if component[w] == usize::MAX {
                    component[w] = count;
                    stack.push(w);
                }
            }
        }
        count += 1;
    }
    component
}
