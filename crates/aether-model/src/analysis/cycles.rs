//! Policy cycles: commands and events linked by policies in a loop that nothing outside
//! the loop starts.

use std::collections::{HashMap, HashSet};

use crate::validate::{Code, Finding, Severity};

use super::{Analysis, Links};

/// The flow between commands and events: command -> event by emitting, event -> command
/// through a policy.
struct Flow {
    /// The successors of each element.
    next: Vec<Vec<usize>>,
    /// The policies behind each event -> command edge.
    policies: HashMap<(usize, usize), Vec<usize>>,
}

impl Flow {
    fn new(links: &Links, elements: usize) -> Self {
        let mut next: Vec<Vec<usize>> = vec![Vec::new(); elements];
        let mut policies: HashMap<(usize, usize), Vec<usize>> = HashMap::new();
        let mut commands_of: HashMap<usize, Vec<usize>> = HashMap::new();
        for &(p, c) in &links.policy_issues {
            commands_of.entry(p).or_default().push(c);
        }
        for &(e, p) in &links.triggers {
            for &c in commands_of.get(&p).into_iter().flatten() {
                next[e].push(c);
                policies.entry((e, c)).or_default().push(p);
            }
        }
        for &(c, e) in &links.emits {
            next[c].push(e);
        }
        Flow { next, policies }
    }

    /// Whether a strongly connected component (its nodes, ascending) holds a cycle.
    fn is_cyclic(&self, nodes: &[usize]) -> bool {
        nodes.len() > 1 || self.next[nodes[0]].contains(&nodes[0])
    }

    /// Whether any edge from outside `inside` leads into it.
    fn entered_from_outside(&self, inside: &HashSet<usize>) -> bool {
        (0..self.next.len())
            .filter(|u| !inside.contains(u))
            .any(|u| self.next[u].iter().any(|w| inside.contains(w)))
    }

    /// The policies on the edges inside `nodes`, ascending and once each.
    fn policies_within(&self, nodes: &[usize], inside: &HashSet<usize>) -> Vec<usize> {
        let mut policies: Vec<usize> = Vec::new();
        for &u in nodes {
            for &w in self.next[u].iter().filter(|w| inside.contains(w)) {
                if let Some(ps) = self.policies.get(&(u, w)) {
                    policies.extend(ps);
                }
            }
        }
        policies.sort_unstable();
        policies.dedup();
        policies
    }
}

impl Analysis {
    /// Cycles of commands and events linked by policies that nothing outside starts.
    pub(super) fn cycles(&self) -> Vec<Finding> {
        let flow = Flow::new(&self.links, self.elements.len());
        let started: HashSet<usize> = self
            .links
            .issues
            .iter()
            .map(|&(_, c)| c)
            .chain(self.links.external_emits.iter().map(|&(_, e)| e))
            .collect();
        let mut out = Vec::new();
        for nodes in components(&strongly_connected(&flow.next)) {
            if !flow.is_cyclic(&nodes) {
                continue;
            }
            let inside: HashSet<usize> = nodes.iter().copied().collect();
            if flow.entered_from_outside(&inside) || nodes.iter().any(|u| started.contains(u)) {
                continue;
            }
            let policies = flow.policies_within(&nodes, &inside);
            out.extend(self.cycle_finding(&policies));
        }
        out
    }

    /// The finding for a cycle through `policies` (none when the cycle has no policy).
    fn cycle_finding(&self, policies: &[usize]) -> Option<Finding> {
        let &first = policies.first()?;
        let names: Vec<String> = policies
            .iter()
            .map(|&p| format!("{:?}", self.elements[p].name))
            .collect();
        Some(Finding::new(
            Severity::Warning,
            Code::UntriggeredPolicyCycle,
            self.elements[first].location(),
            format!(
                "policies {} form a cycle that no person, external system or outside command \
                 starts",
                names.join(", ")
            ),
        ))
    }
}

/// The members of each component, ascending, in the order of each component's lowest node.
fn components(component: &[usize]) -> Vec<Vec<usize>> {
    let mut index: HashMap<usize, usize> = HashMap::new();
    let mut members: Vec<Vec<usize>> = Vec::new();
    for (v, &c) in component.iter().enumerate() {
        let i = *index.entry(c).or_insert_with(|| {
            members.push(Vec::new());
            members.len() - 1
        });
        members[i].push(v);
    }
    members
}

/// Strongly connected components (Kosaraju, iterative): the component number of each node.
fn strongly_connected(next: &[Vec<usize>]) -> Vec<usize> {
    let order = finish_order(next);
    let mut prev: Vec<Vec<usize>> = vec![Vec::new(); next.len()];
    for (v, ws) in next.iter().enumerate() {
        for &w in ws {
            prev[w].push(v);
        }
    }
    let mut component = vec![usize::MAX; next.len()];
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

/// The nodes in the order a depth-first search finishes them (Kosaraju's first pass).
fn finish_order(next: &[Vec<usize>]) -> Vec<usize> {
    let mut order = Vec::with_capacity(next.len());
    let mut visited = vec![false; next.len()];
    for s in 0..next.len() {
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
    order
}
