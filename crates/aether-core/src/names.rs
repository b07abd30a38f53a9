//! The names of an aggregate's events and commands, written once: [`EventNames`],
//! [`CommandNames`] and [`EventKind`].
//!
//! An event's type name is stored with it and used by filters, upcasters and the model
//! check; a command's name is recorded with its events and listed in the aggregate's
//! [`DescribeAggregate`](crate::DescribeAggregate) description. The `aether` crate derives
//! these traits from the enums (`#[derive(EventNames, CommandNames)]`), following serde's
//! renames, so the stored names, the payloads and the descriptions agree by construction.
//! A hand-written implementation is possible (for events that are not enums, say); check it
//! with `aether::testing::assert_description`.
//!
//! ```
//! use aether_core::{CommandNames, EventNames};
//!
//! enum Event { Opened, Closed }
//! impl EventNames for Event {
//!     const EVENT_NAMES: &'static [&'static str] = &["Opened", "Closed"];
//!     fn event_type(&self) -> &'static str {
//!         match self { Event::Opened => "Opened", Event::Closed => "Closed" }
//!     }
//! }
//!
//! struct Close;
//! impl CommandNames for Close {
//!     const COMMAND_NAMES: &'static [&'static str] = &["Close"];
//!     fn command_name(&self) -> &'static str { "Close" }
//! }
//! assert_eq!(Event::Closed.event_type(), "Closed");
//! assert!(Event::EVENT_NAMES.contains(&Event::Opened.event_type()));
//! ```

use std::fmt::Debug;
use std::hash::Hash;

/// A type of events (usually an enum, one variant per event type) that knows the stored
/// type name of each of its values.
///
/// Derive it with `#[derive(aether::EventNames)]`: the names are the variants' serde names
/// (after `rename` and `rename_all`), and the derive also generates a fieldless
/// `<Enum>Kind` enum implementing [`EventKind`] for typed filters.
pub trait EventNames {
    /// Every type name a value can have, each once, in declaration order.
    const EVENT_NAMES: &'static [&'static str];

    /// The type name stored with this event: one of [`EVENT_NAMES`](Self::EVENT_NAMES).
    fn event_type(&self) -> &'static str;
}

/// A type of commands (usually an enum) that knows the name of each of its values.
///
/// Derive it with `#[derive(aether::CommandNames)]`: the names are the variants' serde
/// names, as recorded with a command's events.
pub trait CommandNames {
    /// Every name a command can have, each once, in declaration order.
    const COMMAND_NAMES: &'static [&'static str];

    /// This command's name: one of [`COMMAND_NAMES`](Self::COMMAND_NAMES).
    fn command_name(&self) -> &'static str;
}

/// One event type of an aggregate, as a value: the fieldless `<Enum>Kind` enum that
/// `#[derive(EventNames)]` generates beside an event enum. Typed filters take kinds
/// instead of strings ([`EventFilter::kind`](crate::EventFilter::kind)).
pub trait EventKind: Copy + Eq + Hash + Debug + Send + Sync + 'static {
    /// The stored type name of events of this kind.
    fn event_type(self) -> &'static str;
}

/// A string names one event type, for filters built from names read at run time.
impl EventKind for &'static str {
    fn event_type(self) -> &'static str {
        self
    }
}

/// Why a list of names cannot describe an aggregate: the first empty, over-long, or
/// repeated name, or one with control characters. `what` says which list ("event",
/// "command").
///
/// ```
/// use aether_core::names::check_names;
/// assert!(check_names("event", &["Opened", "Closed"]).is_ok());
/// assert!(check_names("event", &["Opened", "Opened"]).unwrap_err().contains("twice"));
/// ```
///
/// # Errors
/// A sentence saying what is wrong with which name.
pub fn check_names(what: &str, names: &[&str]) -> Result<(), String> {
    for (i, name) in names.iter().enumerate() {
        if name.is_empty() {
            return Err(format!("{what} name {} of {} is empty", i + 1, names.len()));
        }
        if name.len() > crate::MAX_EVENT_TYPE_LEN {
            return Err(format!(
                "{what} name {name:?} is longer than {} bytes",
                crate::MAX_EVENT_TYPE_LEN
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(format!("{what} name {name:?} contains control characters"));
        }
        if names[..i].contains(name) {
            return Err(format!("{what} name {name:?} appears twice"));
        }
    }
    Ok(())
}
