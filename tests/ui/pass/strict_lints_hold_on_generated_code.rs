//! The generated items are documented, named by full paths and as visible as the type, so
//! a crate that denies warnings, missing docs and unreachable `pub` compiles; private
//! enums whose kinds are never used draw no dead-code warning either.
#![deny(warnings, missing_docs, unreachable_pub)]

use aether::{EventKind, EventNames};
use serde::{Deserialize, Serialize};

/// Public events.
#[derive(Serialize, Deserialize, EventNames)]
pub enum PublicEvent {
    /// One.
    Happened(u64),
}

mod inner {
    use serde::{Deserialize, Serialize};

    /// Events of a private module, visible to the crate.
    #[derive(Serialize, Deserialize, aether::EventNames)]
    pub(crate) enum CrateEvent {
        /// One.
        Happened { at: u64 },
    }

    /// Events no one outside the module sees, whose kinds are never used.
    #[derive(Serialize, Deserialize, aether::EventNames, aether::CommandNames)]
    #[serde(rename_all = "kebab-case")]
    enum PrivateEvent {
        SomethingHappened,
    }

    /// Names of private events, used once so the enum itself is not dead code.
    pub(crate) fn private_names() -> &'static [&'static str] {
        <PrivateEvent as aether::EventNames>::EVENT_NAMES
    }
}

/// The generated items in use.
fn main() {
    assert_eq!(PublicEvent::Happened(1).kind().event_type(), "Happened");
    assert_eq!(PublicEventKind::ALL, [PublicEventKind::Happened]);
    assert_eq!(
        inner::CrateEvent::Happened { at: 1 }.event_type(),
        "Happened"
    );
    assert_eq!(inner::CrateEventKind::ALL.len(), 1);
    assert_eq!(inner::private_names(), ["something-happened"]);
}
