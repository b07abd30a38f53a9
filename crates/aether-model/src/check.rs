//! The check of a model against the aggregates the code describes.

use std::collections::{BTreeSet, HashMap};

use aether_core::AggregateDescription;

use crate::validate::{Code, Finding, Location, Severity};
use crate::Model;

impl Model {
    /// Compares the model with the aggregates the code describes (their
    /// [`DescribeAggregate`](aether_core::DescribeAggregate) descriptions) and returns every
    /// disagreement, as errors: aggregates in the code but not in the model and the other
    /// way round, and for each aggregate on both sides the commands and events missing on
    /// either side.
    ///
    /// Aggregates are matched by name (the model's aggregate name against the code's
    /// `type_name`), across all bounded contexts. Findings about the model come in the
    /// model's order, with paths into the model; findings about the code have paths like
    /// `code[1].commands[0]`, indexes into `code`. Run [`Model::validate`] as well for the
    /// model's own consistency.
    ///
    /// ```
    /// use aether_core::DescribeAggregate;
    /// use aether_model::{Aggregate, BoundedContext, Code, Command, Model};
    ///
    /// struct Account;
    /// impl DescribeAggregate for Account {
    ///     const TYPE_NAME: &'static str = "Account";
    ///     fn command_names() -> &'static [&'static str] { &["OpenAccount", "CloseAccount"] }
    ///     fn event_names() -> &'static [&'static str] { &["AccountOpened", "AccountClosed"] }
    /// }
    ///
    /// let model = Model::new("Bank").context(BoundedContext::new("Banking").aggregate(
    ///     Aggregate::new("Account")
    ///         .command(Command::new("OpenAccount").emits("AccountOpened"))
    ///         .event("AccountOpened"),
    /// ));
    /// let findings = model.check_against(&[Account::describe()]);
    /// let codes: Vec<_> = findings.iter().map(|f| f.code).collect();
    /// assert_eq!(codes, [Code::CommandNotInModel, Code::EventNotInModel]);
    /// assert_eq!(findings[0].location.path, "code[0].commands[1]");
    /// ```
    pub fn check_against(&self, code: &[AggregateDescription]) -> Vec<Finding> {
        let mut findings = Vec::new();
        // Model aggregates by name, in document order.
        let mut in_model: HashMap<&str, Vec<(usize, usize)>> = HashMap::new();
        for (ci, c) in self.contexts.iter().enumerate() {
            for (ai, a) in c.aggregates.iter().enumerate() {
                in_model.entry(a.name.as_str()).or_default().push((ci, ai));
            }
        }
        let mut first_in_code: HashMap<&str, usize> = HashMap::new();
        // Model aggregate (context, index) -> the code description it matched.
        let mut matched: HashMap<(usize, usize), usize> = HashMap::new();
        let mut code_findings = Vec::new();
        for (di, d) in code.iter().enumerate() {
            let here = |names: Vec<String>| Location::new(format!("code[{di}]"), names);
            if let Some(&first) = first_in_code.get(d.type_name.as_str()) {
                code_findings.push(Finding::new(
                    Severity::Error,
                    Code::DuplicateAggregateInCode,
                    here(vec![d.type_name.clone()]),
                    format!(
                        "the code describes aggregate {:?} twice (also at code[{first}])",
                        d.type_name
                    ),
                ));
                continue;
            }
            first_in_code.insert(&d.type_name, di);
            match in_model.get(d.type_name.as_str()).map(Vec::as_slice) {
                None | Some([]) => code_findings.push(Finding::new(
                    Severity::Error,
                    Code::AggregateNotInModel,
                    here(vec![d.type_name.clone()]),
                    format!(
                        "the code has aggregate {:?}, the model does not",
                        d.type_name
                    ),
                )),
                Some([one]) => {
                    matched.insert(*one, di);
                }
                Some(many) => {
                    let places: Vec<_> = many
                        .iter()
                        .map(|(ci, ai)| format!("contexts[{ci}].aggregates[{ai}]"))
                        .collect();
                    code_findings.push(Finding::new(
                        Severity::Error,
                        Code::AmbiguousAggregate,
                        here(vec![d.type_name.clone()]),
                        format!(
                            "the code's aggregate {:?} matches several aggregates of the model ({})",
                            d.type_name,
                            places.join(", ")
                        ),
                    ));
                    // Do not also report each of them as missing from the code.
                    for place in many {
                        matched.insert(*place, usize::MAX);
                    }
                }
            }
        }

        for (ci, c) in self.contexts.iter().enumerate() {
            for (ai, a) in c.aggregates.iter().enumerate() {
                let path = format!("contexts[{ci}].aggregates[{ai}]");
                let names = vec![c.name.clone(), a.name.clone()];
                let Some(&di) = matched.get(&(ci, ai)) else {
                    findings.push(Finding::new(
                        Severity::Error,
                        Code::AggregateNotInCode,
                        Location::new(path, names),
                        format!("the model has aggregate {:?}, the code does not", a.name),
                    ));
                    continue;
                };
                if di == usize::MAX {
                    continue;
                }
                let d = &code[di];
                let sides = [
                    (
                        "commands",
                        "command",
                        a.commands
                            .iter()
                            .map(|c| c.name.as_str())
                            .collect::<Vec<_>>(),
                        &d.commands,
                        Code::CommandNotInCode,
                        Code::CommandNotInModel,
                    ),
                    (
                        "events",
                        "event",
                        a.events.iter().map(|e| e.name.as_str()).collect(),
                        &d.events,
                        Code::EventNotInCode,
                        Code::EventNotInModel,
                    ),
                ];
                for (field, noun, model_names, code_names, not_in_code, not_in_model) in sides {
                    let model_set: BTreeSet<&str> = model_names.iter().copied().collect();
                    let code_set: BTreeSet<&str> = code_names.iter().map(String::as_str).collect();
                    for (k, name) in model_names.iter().enumerate() {
                        if !code_set.contains(name) {
                            let mut names = names.clone();
                            names.push((*name).to_owned());
                            findings.push(Finding::new(
                                Severity::Error,
                                not_in_code,
                                Location::new(format!("{path}.{field}[{k}]"), names),
                                format!(
                                    "the model's aggregate {:?} has {noun} {name:?}, the code's does not",
                                    a.name
                                ),
                            ));
                        }
                    }
                    for (k, name) in code_names.iter().enumerate() {
                        if !model_set.contains(name.as_str()) {
                            findings.push(Finding::new(
                                Severity::Error,
                                not_in_model,
                                Location::new(
                                    format!("code[{di}].{field}[{k}]"),
                                    vec![d.type_name.clone(), name.clone()],
                                ),
                                format!(
                                    "the code's aggregate {:?} has {noun} {name:?}, the model's does not",
                                    a.name
                                ),
                            ));
                        }
                    }
                }
            }
        }
        findings.extend(code_findings);
        findings
    }
}
