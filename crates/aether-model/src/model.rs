//! The EventStorming vocabulary as plain data, with consuming builders.

use serde::{Deserialize, Serialize};

/// A whole EventStorming board: one domain, the people and external systems around it, its
/// bounded contexts, and the open questions (hotspots) about it.
///
/// Every element has a name and an optional description. Elements refer to one another by
/// name: a command names the people or external systems that issue it and the events it
/// emits, a policy names the event it reacts to and the command it issues, a read model
/// names the events that feed it, and a hotspot may name the element it is about.
///
/// ```
/// use aether_model::{Aggregate, BoundedContext, Command, Model, Policy, ReadModel};
///
/// let model = Model::new("Library")
///     .person("Member")
///     .context(
///         BoundedContext::new("Lending")
///             .aggregate(
///                 Aggregate::new("Loan")
///                     .command(Command::new("BorrowBook").issued_by("Member").emits("BookBorrowed"))
///                     .command(Command::new("ReturnBook").issued_by("Member").emits("BookReturned"))
///                     .event("BookBorrowed")
///                     .event("BookReturned"),
///             )
///             .read_model(ReadModel::new("BooksOnLoan").fed_by("BookBorrowed").fed_by("BookReturned")),
///     );
/// assert!(model.validate().is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Model {
    /// The name of the domain the board describes (for instance `"Bank"`).
    pub domain: String,
    /// What the domain is about.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The people who issue commands.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub people: Vec<Person>,
    /// The systems outside the domain that issue commands or emit events.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_systems: Vec<ExternalSystem>,
    /// The bounded contexts of the domain.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contexts: Vec<BoundedContext>,
    /// Open questions about the domain as a whole.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hotspots: Vec<Hotspot>,
}

/// A person (a role) who issues commands.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Person {
    /// The role's name (for instance `"Customer"`).
    pub name: String,
    /// Who this is.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// A system outside the domain: it may issue commands and emit events.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ExternalSystem {
    /// The system's name (for instance `"FraudCheck"`).
    pub name: String,
    /// What the system does for the domain.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The names of the events it emits into the domain (usually events defined at the
    /// level of a bounded context, see [`BoundedContext::events`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emits: Vec<String>,
}

/// A bounded context: a part of the domain with its own language.
///
/// Names are unique within a context, across all kinds of element in it; references from
/// inside a context resolve there first, then in the other contexts.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BoundedContext {
    /// The context's name (for instance `"Banking"`).
    pub name: String,
    /// What the context is responsible for.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The aggregates of the context.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aggregates: Vec<Aggregate>,
    /// Domain events that belong to the context but to none of its aggregates, such as
    /// events an external system emits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<DomainEvent>,
    /// The policies of the context ("when this event, then that command").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<Policy>,
    /// The read models of the context.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read_models: Vec<ReadModel>,
    /// Open questions about the context.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hotspots: Vec<Hotspot>,
}

/// An aggregate: the thing that decides commands and emits events (in Aether, an
/// event-sourced actor type).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Aggregate {
    /// The aggregate's name; compared with the type name the code describes
    /// (`DescribeAggregate::TYPE_NAME`).
    pub name: String,
    /// What the aggregate guards.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The commands it handles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<Command>,
    /// The events it emits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<DomainEvent>,
}

/// A command: an intention, issued by a person, an external system or a policy, handled
/// by the aggregate it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Command {
    /// The command's name (for instance `"DepositMoney"`).
    pub name: String,
    /// What the command asks for.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The people or external systems that issue it (policies that issue it name it
    /// themselves).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issued_by: Vec<String>,
    /// The events of its aggregate it may emit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emits: Vec<String>,
}

/// A domain event: something that happened, named in the past tense.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DomainEvent {
    /// The event's name (for instance `"MoneyDeposited"`).
    pub name: String,
    /// What happened.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// A policy: "whenever this event happens, issue that command".
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Policy {
    /// The policy's name (for instance `"DebitSourceOnStart"`).
    pub name: String,
    /// The rule in words.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The event the policy reacts to. A policy whose trigger is not an event (say, a
    /// rejected command) leaves it out and says so in its description or a hotspot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// The command the policy issues.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub then: Option<String>,
}

/// A read model: a view built from events, for people or other systems to look at.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ReadModel {
    /// The read model's name (for instance `"AccountBalances"`).
    pub name: String,
    /// What it shows.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The events it is built from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fed_by: Vec<String>,
}

/// A hotspot: an open question, a risk or a disagreement, optionally about one element.
///
/// A hotspot about a policy with no triggering event acknowledges the gap, so validation
/// does not warn about it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Hotspot {
    /// A short title for the question.
    pub name: String,
    /// The question in full.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The name of the element the question is about, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub about: Option<String>,
}

macro_rules! named {
    ($($ty:ident),*) => {$(
        impl $ty {
            /// A new element with this name and nothing else.
            pub fn new(name: impl Into<String>) -> Self {
                Self { name: name.into(), ..Self::default() }
            }

            /// Sets the description.
            pub fn description(mut self, description: impl Into<String>) -> Self {
                self.description = description.into();
                self
            }
        }

        impl From<&str> for $ty {
            fn from(name: &str) -> Self {
                Self::new(name)
            }
        }

        impl From<String> for $ty {
            fn from(name: String) -> Self {
                Self::new(name)
            }
        }
    )*};
}

named!(
    Person,
    ExternalSystem,
    BoundedContext,
    Aggregate,
    Command,
    DomainEvent,
    Policy,
    ReadModel,
    Hotspot
);

impl Model {
    /// A new, empty model of the named domain.
    ///
    /// ```
    /// let model = aether_model::Model::new("Bank").description("Accounts and transfers");
    /// assert_eq!(model.domain, "Bank");
    /// ```
    pub fn new(domain: impl Into<String>) -> Self {
        Self {
            domain: domain.into(),
            ..Self::default()
        }
    }

    /// Sets the description of the domain.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Adds a person (a role that issues commands).
    pub fn person(mut self, person: impl Into<Person>) -> Self {
        self.people.push(person.into());
        self
    }

    /// Adds an external system.
    pub fn external_system(mut self, system: impl Into<ExternalSystem>) -> Self {
        self.external_systems.push(system.into());
        self
    }

    /// Adds a bounded context.
    pub fn context(mut self, context: impl Into<BoundedContext>) -> Self {
        self.contexts.push(context.into());
        self
    }

    /// Adds a hotspot about the domain as a whole.
    pub fn hotspot(mut self, hotspot: impl Into<Hotspot>) -> Self {
        self.hotspots.push(hotspot.into());
        self
    }

    /// Every aggregate of every context, with its context, in document order.
    ///
    /// ```
    /// use aether_model::{Aggregate, BoundedContext, Model};
    /// let model = Model::new("Bank").context(BoundedContext::new("Banking").aggregate("Account"));
    /// let names: Vec<_> = model.aggregates().map(|(c, a)| (c.name.as_str(), a.name.as_str())).collect();
    /// assert_eq!(names, [("Banking", "Account")]);
    /// ```
    pub fn aggregates(&self) -> impl Iterator<Item = (&BoundedContext, &Aggregate)> {
        self.contexts
            .iter()
            .flat_map(|c| c.aggregates.iter().map(move |a| (c, a)))
    }
}

impl ExternalSystem {
    /// Adds an event the system emits.
    pub fn emits(mut self, event: impl Into<String>) -> Self {
        self.emits.push(event.into());
        self
    }
}

impl BoundedContext {
    /// Adds an aggregate.
    pub fn aggregate(mut self, aggregate: impl Into<Aggregate>) -> Self {
        self.aggregates.push(aggregate.into());
        self
    }

    /// Adds an event that belongs to no aggregate (for instance one an external system
    /// emits).
    pub fn event(mut self, event: impl Into<DomainEvent>) -> Self {
        self.events.push(event.into());
        self
    }

    /// Adds a policy.
    pub fn policy(mut self, policy: impl Into<Policy>) -> Self {
        self.policies.push(policy.into());
        self
    }

    /// Adds a read model.
    pub fn read_model(mut self, read_model: impl Into<ReadModel>) -> Self {
        self.read_models.push(read_model.into());
        self
    }

    /// Adds a hotspot.
    pub fn hotspot(mut self, hotspot: impl Into<Hotspot>) -> Self {
        self.hotspots.push(hotspot.into());
        self
    }
}

impl Aggregate {
    /// Adds a command the aggregate handles.
    pub fn command(mut self, command: impl Into<Command>) -> Self {
        self.commands.push(command.into());
        self
    }

    /// Adds an event the aggregate emits.
    pub fn event(mut self, event: impl Into<DomainEvent>) -> Self {
        self.events.push(event.into());
        self
    }
}

impl Command {
    /// Adds a person or external system that issues the command.
    pub fn issued_by(mut self, issuer: impl Into<String>) -> Self {
        self.issued_by.push(issuer.into());
        self
    }

    /// Adds an event the command may emit.
    pub fn emits(mut self, event: impl Into<String>) -> Self {
        self.emits.push(event.into());
        self
    }
}

impl Policy {
    /// Sets the event the policy reacts to.
    pub fn when(mut self, event: impl Into<String>) -> Self {
        self.when = Some(event.into());
        self
    }

    /// Sets the command the policy issues.
    pub fn then(mut self, command: impl Into<String>) -> Self {
        self.then = Some(command.into());
        self
    }
}

impl ReadModel {
    /// Adds an event the read model is built from.
    pub fn fed_by(mut self, event: impl Into<String>) -> Self {
        self.fed_by.push(event.into());
        self
    }
}

impl Hotspot {
    /// Sets the element the question is about.
    pub fn about(mut self, element: impl Into<String>) -> Self {
        self.about = Some(element.into());
        self
    }
}
