//! How an aggregate describes itself, so tools (the EventStorming model check) can compare
//! a written-down model with the code without depending on the actor runtime.

use serde::{Deserialize, Serialize};

/// An aggregate type's self-description: its stable type name and the names of its commands
/// and events.
///
/// More may be described later (the aggregate's replies, for instance): build one with
/// [`AggregateDescription::new`] or [`DescribeAggregate::describe`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AggregateDescription {
    /// The stable type name (for instance `"Account"`).
    pub type_name: String,
    /// The names of the commands it handles.
    pub commands: Vec<String>,
    /// The names of the events it emits.
    pub events: Vec<String>,
}

impl AggregateDescription {
    /// The description of the aggregate type `type_name` with these command and event names.
    ///
    /// ```
    /// let d = aether_core::AggregateDescription::new("Account", ["Open"], ["Opened"]);
    /// assert_eq!(d.events, vec!["Opened"]);
    /// ```
    pub fn new<C, E>(
        type_name: impl Into<String>,
        commands: impl IntoIterator<Item = C>,
        events: impl IntoIterator<Item = E>,
    ) -> Self
    where
        C: Into<String>,
        E: Into<String>,
    {
        AggregateDescription {
            type_name: type_name.into(),
            commands: commands.into_iter().map(Into::into).collect(),
            events: events.into_iter().map(Into::into).collect(),
        }
    }
}

/// Implemented by aggregate types to describe themselves.
///
/// ```
/// use aether_core::DescribeAggregate;
/// struct Account;
/// impl DescribeAggregate for Account {
///     const TYPE_NAME: &'static str = "Account";
///     fn command_names() -> &'static [&'static str] { &["Open", "Deposit"] }
///     fn event_names() -> &'static [&'static str] { &["Opened", "Deposited"] }
/// }
/// assert_eq!(Account::describe().commands, vec!["Open", "Deposit"]);
/// ```
pub trait DescribeAggregate {
    /// The stable type name. Also used to tell aggregate types apart in stores and subjects,
    /// so it must not change once events are stored.
    const TYPE_NAME: &'static str;

    /// The names of the commands the aggregate handles.
    fn command_names() -> &'static [&'static str];

    /// The names of the events the aggregate emits.
    fn event_names() -> &'static [&'static str];

    /// The description as a value.
    fn describe() -> AggregateDescription {
        AggregateDescription::new(
            Self::TYPE_NAME,
            Self::command_names().iter().copied(),
            Self::event_names().iter().copied(),
        )
    }
}
