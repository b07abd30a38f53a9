//! Warnings: the loose ends of a model that resolves (things never emitted, never
//! triggered, leading nowhere).

use std::collections::HashSet;

use crate::validate::Code;
use crate::{Aggregate, BoundedContext, Model, Policy};

use super::{AggregateIds, Analysis, ContextIds, Pending};

/// What the links say about elements, as the warnings need it.
struct Linked {
    /// Events that a command or an external system emits.
    emitted: HashSet<usize>,
    /// Elements a hotspot is about.
    acknowledged: HashSet<usize>,
}

impl Analysis {
    /// Records the warnings of every context, in document order.
    pub(super) fn warn(&self, model: &Model, pending: &mut Vec<Pending>) {
        let links = &self.links;
        let linked = Linked {
            emitted: links
                .emits
                .iter()
                .chain(&links.external_emits)
                .map(|&(_, e)| e)
                .collect(),
            acknowledged: links.about.iter().map(|&(_, t)| t).collect(),
        };
        for (c, ids) in model.contexts.iter().zip(&self.contexts) {
            self.warn_context(pending, &linked, c, ids);
        }
    }

    fn warn_context(
        &self,
        pending: &mut Vec<Pending>,
        linked: &Linked,
        c: &BoundedContext,
        ids: &ContextIds,
    ) {
        for (ag, aids) in c.aggregates.iter().zip(&ids.aggregates) {
            self.warn_aggregate(pending, linked, ag, aids);
        }
        for (ev, &id) in c.events.iter().zip(&ids.events) {
            if !linked.emitted.contains(&id) {
                pending.push(self.warning(
                    id,
                    Code::EventNeverEmitted,
                    format!(
                        "event {:?} belongs to no aggregate and no external system emits it",
                        ev.name
                    ),
                ));
            }
        }
        for (p, &id) in c.policies.iter().zip(&ids.policies) {
            self.warn_policy(pending, linked, p, id);
        }
        for (r, &id) in c.read_models.iter().zip(&ids.read_models) {
            if r.fed_by.is_empty() {
                pending.push(self.warning(
                    id,
                    Code::ReadModelNotFed,
                    format!("read model {:?} is fed by no event", r.name),
                ));
            }
        }
    }

    fn warn_aggregate(
        &self,
        pending: &mut Vec<Pending>,
        linked: &Linked,
        ag: &Aggregate,
        aids: &AggregateIds,
    ) {
        for (cmd, &id) in ag.commands.iter().zip(&aids.commands) {
            if cmd.emits.is_empty() {
                pending.push(self.warning(
                    id,
                    Code::CommandEmitsNothing,
                    format!("command {:?} emits no event", cmd.name),
                ));
            }
        }
        for (ev, &id) in ag.events.iter().zip(&aids.events) {
            if !linked.emitted.contains(&id) {
                pending.push(self.warning(
                    id,
                    Code::EventNeverEmitted,
                    format!(
                        "event {:?} is emitted by no command of aggregate {:?} and by no \
                         external system",
                        ev.name, ag.name
                    ),
                ));
            }
        }
    }

    fn warn_policy(&self, pending: &mut Vec<Pending>, linked: &Linked, p: &Policy, id: usize) {
        if p.when.is_none() && !linked.acknowledged.contains(&id) {
            pending.push(self.warning(
                id,
                Code::PolicyWithoutTrigger,
                format!(
                    "policy {:?} names no event to react to (add `when`, or a hotspot about it \
                     if its trigger is not an event)",
                    p.name
                ),
            ));
        }
        if p.then.is_none() {
            pending.push(self.warning(
                id,
                Code::PolicyWithoutCommand,
                format!("policy {:?} names no command to issue", p.name),
            ));
        }
    }

    /// A warning about an element, located at the element.
    fn warning(&self, id: usize, code: Code, message: String) -> Pending {
        Pending::warning(id, code, self.elements[id].location(), message)
    }
}
