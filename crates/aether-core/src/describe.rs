//! How an aggregate describes itself, so tools (the EventStorming model check) can compare
//! a written-down model with the code without depending on the actor runtime.

use serde::{Deserialize, Serialize};

/// An aggregate type's self-description: its stable type name and the names of its commands
/// and events.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AggregateDescription {
    /// The stable type name (for instance `"Account"`).
    pub type_name: String,
    /// The names of the commands it handles.
    pub commands: Vec<String>,
    /// The names of the events it emits.
    pub events: Vec<String>,
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
        AggregateDescription {
            type_name: Self::TYPE_NAME.to_owned(),
            commands: Self::command_names()
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            events: Self::event_names()
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        }
    }
}
