//! The check of a model against the aggregates the code describes.

use std::collections::{BTreeSet, HashMap};

use aether_core::AggregateDescription;

use crate::validate::{Code, Finding, Location, Severity};
use crate::{Aggregate, Model};

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
        let (matched, code_findings) = match_code(code, &self.aggregates_by_name());
        let mut findings = Vec::new();
        for (ci, c) in self.contexts.iter().enumerate() {
            for (ai, a) in c.aggregates.iter().enumerate() {
                let place = Place {
                    path: format!("contexts[{ci}].aggregates[{ai}]"),
                    names: vec![c.name.clone(), a.name.clone()],
                };
                match matched.get(&(ci, ai)) {
                    None => findings.push(Finding::new(
                        Severity::Error,
                        Code::AggregateNotInCode,
                        Location::new(place.path, place.names),
                        format!("the model has aggregate {:?}, the code does not", a.name),
                    )),
                    Some(Match::Ambiguous) => {}
                    Some(&Match::Described(di)) => {
                        compare(&mut findings, &place, a, (di, &code[di]));
                    }
                }
            }
        }
        findings.extend(code_findings);
        findings
    }

    /// The model's aggregates by name, as (context, index) in document order.
    fn aggregates_by_name(&self) -> HashMap<&str, Vec<(usize, usize)>> {
        let mut in_model: HashMap<&str, Vec<(usize, usize)>> = HashMap::new();
        for (ci, c) in self.contexts.iter().enumerate() {
            for (ai, a) in c.aggregates.iter().enumerate() {
                in_model.entry(a.name.as_str()).or_default().push((ci, ai));
            }
        }
        in_model
    }
}

/// What the code says about one aggregate of the model.
#[derive(Debug, Clone, Copy)]
enum Match {
    /// The code's description at this index.
    Described(usize),
    /// The code's aggregate of this name matches several aggregates of the model (reported
    /// once, about the code).
    Ambiguous,
}

/// A model aggregate's path and the names along it.
struct Place {
    path: String,
    names: Vec<String>,
}

/// Matches the code's descriptions with the model's aggregates: for each model aggregate
/// (context, index), what the code says about it; and the findings about the code.
fn match_code(
    code: &[AggregateDescription],
    in_model: &HashMap<&str, Vec<(usize, usize)>>,
) -> (HashMap<(usize, usize), Match>, Vec<Finding>) {
    let mut first_in_code: HashMap<&str, usize> = HashMap::new();
    let mut matched = HashMap::new();
    let mut findings = Vec::new();
    for (di, d) in code.iter().enumerate() {
        let here = Location::new(format!("code[{di}]"), vec![d.type_name.clone()]);
        if let Some(&first) = first_in_code.get(d.type_name.as_str()) {
            findings.push(Finding::new(
                Severity::Error,
                Code::DuplicateAggregateInCode,
                here,
                format!(
                    "the code describes aggregate {:?} twice (also at code[{first}])",
                    d.type_name
                ),
            ));
            continue;
        }
        first_in_code.insert(&d.type_name, di);
        let places = in_model
            .get(d.type_name.as_str())
            .map_or(&[][..], Vec::as_slice);
        match places {
            [] => findings.push(Finding::new(
                Severity::Error,
                Code::AggregateNotInModel,
                here,
                format!(
                    "the code has aggregate {:?}, the model does not",
                    d.type_name
                ),
            )),
            [one] => {
                matched.insert(*one, Match::Described(di));
            }
            many => {
                findings.push(ambiguous(here, &d.type_name, many));
                // Do not also report each of them as missing from the code.
                for place in many {
                    matched.insert(*place, Match::Ambiguous);
                }
            }
        }
    }
    (matched, findings)
}

/// The finding for a code aggregate that matches several aggregates of the model.
fn ambiguous(here: Location, type_name: &str, places: &[(usize, usize)]) -> Finding {
    let places: Vec<_> = places
        .iter()
        .map(|(ci, ai)| format!("contexts[{ci}].aggregates[{ai}]"))
        .collect();
    Finding::new(
        Severity::Error,
        Code::AmbiguousAggregate,
        here,
        format!(
            "the code's aggregate {type_name:?} matches several aggregates of the model ({})",
            places.join(", ")
        ),
    )
}

/// One list of an aggregate held against the code's: its commands or its events.
struct Side<'a> {
    /// The field in the model and in the description (`commands`, `events`).
    field: &'static str,
    noun: &'static str,
    model: Vec<&'a str>,
    code: &'a [String],
    not_in_code: Code,
    not_in_model: Code,
}

/// Compares the commands, then the events, of a model aggregate and its description.
fn compare(
    findings: &mut Vec<Finding>,
    place: &Place,
    a: &Aggregate,
    (di, d): (usize, &AggregateDescription),
) {
    let sides = [
        Side {
            field: "commands",
            noun: "command",
            model: a.commands.iter().map(|c| c.name.as_str()).collect(),
            code: &d.commands,
            not_in_code: Code::CommandNotInCode,
            not_in_model: Code::CommandNotInModel,
        },
        Side {
            field: "events",
            noun: "event",
            model: a.events.iter().map(|e| e.name.as_str()).collect(),
            code: &d.events,
            not_in_code: Code::EventNotInCode,
            not_in_model: Code::EventNotInModel,
        },
    ];
    for side in &sides {
        missing_in_code(findings, place, &a.name, side);
        missing_in_model(findings, &a.name, (di, d), side);
    }
}

/// The names the model's aggregate has and the code's lacks.
fn missing_in_code(findings: &mut Vec<Finding>, place: &Place, aggregate: &str, side: &Side<'_>) {
    let code: BTreeSet<&str> = side.code.iter().map(String::as_str).collect();
    for (k, name) in side.model.iter().enumerate() {
        if code.contains(name) {
            continue;
        }
        let mut names = place.names.clone();
        names.push((*name).to_owned());
        findings.push(Finding::new(
            Severity::Error,
            side.not_in_code,
            Location::new(format!("{}.{}[{k}]", place.path, side.field), names),
            format!(
                "the model's aggregate {aggregate:?} has {} {name:?}, the code's does not",
                side.noun
            ),
        ));
    }
}

/// The names the code's aggregate has and the model's lacks.
fn missing_in_model(
    findings: &mut Vec<Finding>,
    aggregate: &str,
    (di, d): (usize, &AggregateDescription),
    side: &Side<'_>,
) {
    let model: BTreeSet<&str> = side.model.iter().copied().collect();
    for (k, name) in side.code.iter().enumerate() {
        if model.contains(name.as_str()) {
            continue;
        }
        findings.push(Finding::new(
            Severity::Error,
            side.not_in_model,
            Location::new(
                format!("code[{di}].{}[{k}]", side.field),
                vec![d.type_name.clone(), name.clone()],
            ),
            format!(
                "the code's aggregate {aggregate:?} has {} {name:?}, the model's does not",
                side.noun
            ),
        ));
    }
}
