//! Validation findings: what is wrong or doubtful in a model, and where.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::analysis::Analysis;
use crate::Model;

/// How serious a [`Finding`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Severity {
    /// The model is wrong: a reference leads nowhere, a name is used twice, or the model and
    /// the code disagree.
    Error,
    /// The model is probably incomplete: something is never emitted, never triggered or
    /// leads nowhere.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// What a [`Finding`] is about, for code that filters or counts findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Code {
    /// An element (or the domain) has an empty name. Error.
    EmptyName,
    /// Two elements of one scope share a name. Error.
    DuplicateName,
    /// A reference names nothing of the kind it needs (a policy's unknown event or
    /// command, a read model fed by an unknown event, an unknown issuer, ...). Error.
    UnknownReference,
    /// A reference matches elements in several other contexts. Error.
    AmbiguousReference,
    /// A command emits no event. Warning.
    CommandEmitsNothing,
    /// No command and no external system emits this event. Warning.
    EventNeverEmitted,
    /// A policy names no triggering event and no hotspot acknowledges it. Warning.
    PolicyWithoutTrigger,
    /// A policy names no command. Warning.
    PolicyWithoutCommand,
    /// A read model is fed by no event. Warning.
    ReadModelNotFed,
    /// Policies form a cycle that no person, external system or outside command starts.
    /// Warning.
    UntriggeredPolicyCycle,
    /// The code has an aggregate the model lacks. Error.
    AggregateNotInModel,
    /// The model has an aggregate the code lacks. Error.
    AggregateNotInCode,
    /// The code's aggregate handles a command the model lacks. Error.
    CommandNotInModel,
    /// The model's aggregate handles a command the code lacks. Error.
    CommandNotInCode,
    /// The code's aggregate emits an event the model lacks. Error.
    EventNotInModel,
    /// The model's aggregate emits an event the code lacks. Error.
    EventNotInCode,
    /// The code describes one aggregate type name twice. Error.
    DuplicateAggregateInCode,
    /// Several contexts of the model hold an aggregate of the code's type name. Error.
    AmbiguousAggregate,
}

impl Code {
    /// The stable kebab-case spelling (for instance `"unknown-reference"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Code::EmptyName => "empty-name",
            Code::DuplicateName => "duplicate-name",
            Code::UnknownReference => "unknown-reference",
            Code::AmbiguousReference => "ambiguous-reference",
            Code::CommandEmitsNothing => "command-emits-nothing",
            Code::EventNeverEmitted => "event-never-emitted",
            Code::PolicyWithoutTrigger => "policy-without-trigger",
            Code::PolicyWithoutCommand => "policy-without-command",
            Code::ReadModelNotFed => "read-model-not-fed",
            Code::UntriggeredPolicyCycle => "untriggered-policy-cycle",
            Code::AggregateNotInModel => "aggregate-not-in-model",
            Code::AggregateNotInCode => "aggregate-not-in-code",
            Code::CommandNotInModel => "command-not-in-model",
            Code::CommandNotInCode => "command-not-in-code",
            Code::EventNotInModel => "event-not-in-model",
            Code::EventNotInCode => "event-not-in-code",
            Code::DuplicateAggregateInCode => "duplicate-aggregate-in-code",
            Code::AmbiguousAggregate => "ambiguous-aggregate",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a [`Finding`] is: a field path into the model (or into the code's descriptions)
/// and the names of the elements along it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Location {
    /// The path of the element or field, as in the model file: for instance
    /// `contexts[0].aggregates[1].commands[2].emits[0]`. Findings about the code start
    /// with `code[i]`, the index in the slice given to
    /// [`Model::check_against`](crate::Model::check_against).
    pub path: String,
    /// The names along the path, outermost first (for instance
    /// `["Banking", "Transfer", "RecordDebit"]`).
    pub names: Vec<String>,
}

impl Location {
    /// A location from a path and names.
    pub fn new(path: impl Into<String>, names: Vec<String>) -> Self {
        Self {
            path: path.into(),
            names,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.path.is_empty() {
            "."
        } else {
            &self.path
        })?;
        if !self.names.is_empty() {
            write!(f, " ({})", self.names.join(" > "))?;
        }
        Ok(())
    }
}

/// One thing validation or the check against code found.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Finding {
    /// How serious it is.
    pub severity: Severity,
    /// What kind of finding it is.
    pub code: Code,
    /// Where it is.
    pub location: Location,
    /// What is wrong, in words.
    pub message: String,
}

impl Finding {
    /// A finding.
    pub fn new(
        severity: Severity,
        code: Code,
        location: Location,
        message: impl Into<String>,
    ) -> Self {
        Self {
            severity,
            code,
            location,
            message: message.into(),
        }
    }

    /// Whether it is an [`Severity::Error`].
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}[{}] at {}: {}",
            self.severity, self.code, self.location, self.message
        )
    }
}

impl Model {
    /// Checks the model on its own and returns every finding at once, in document order
    /// (findings about policy cycles come last).
    ///
    /// Errors: empty names, duplicate names in a scope (a context, or the model level for
    /// contexts, people, external systems and domain hotspots), and references that lead
    /// nowhere, to the wrong kind of element, or to several contexts at once. Warnings:
    /// commands that emit nothing, events nothing emits, policies without event or
    /// command, read models fed by nothing, and cycles of policies that nothing outside
    /// them starts.
    ///
    /// ```
    /// use aether_model::{Aggregate, BoundedContext, Code, Command, Model, Policy, Severity};
    ///
    /// let model = Model::new("Shop").context(
    ///     BoundedContext::new("Sales")
    ///         .aggregate(Aggregate::new("Order").command("PlaceOrder"))
    ///         .policy(Policy::new("ShipOnPayment").when("OrderPaid").then("PlaceOrder")),
    /// );
    /// let findings = model.validate();
    /// assert_eq!(findings[0].code, Code::CommandEmitsNothing);
    /// assert_eq!(findings[1].code, Code::UnknownReference);
    /// assert_eq!(findings[1].severity, Severity::Error);
    /// assert_eq!(findings[1].location.path, "contexts[0].policies[0].when");
    /// ```
    pub fn validate(&self) -> Vec<Finding> {
        Analysis::new(self).findings
    }
}
