//! `assert_description` and `description_problems` check a hand-written description
//! against sample events: a correct one passes, and each mismatch (an event type the
//! description does not list, a listed name no sample has, an event type serde names
//! otherwise, names the two lists disagree on, a name listed twice) is reported.

mod common;

use aether_actor::testing::{assert_description, description_problems};
use aether_core::{DescribeAggregate, EventNames};
use serde::{Deserialize, Serialize};

/// An aggregate over `$event`, described by hand with these event names.
macro_rules! described {
    ($name:ident, $event:ty, $events:expr) => {
        struct $name;

        impl DescribeAggregate for $name {
            const TYPE_NAME: &'static str = stringify!($name);
            fn command_names() -> &'static [&'static str] {
                &["Touch"]
            }
            fn event_names() -> &'static [&'static str] {
                $events
            }
        }

        impl aether_actor::Aggregate for $name {
            type Command = ();
            type Event = $event;
            type State = u64;
            type Reply = ();
            type Error = ();
            fn decide(&self, _: &u64, (): &()) -> Result<(Vec<$event>, ()), ()> {
                Ok((vec![], ()))
            }
            fn apply(s: &mut u64, _: &$event) {
                *s += 1;
            }
        }
    };
}

/// Written by hand, correctly.
#[derive(Debug, Serialize, Deserialize)]
enum LedgerEvent {
    Opened,
    Credited(u64),
    #[serde(rename = "closed.v2")]
    Closed {
        reason: String,
    },
}

impl EventNames for LedgerEvent {
    const EVENT_NAMES: &'static [&'static str] = &["Opened", "Credited", "closed.v2"];
    fn event_type(&self) -> &'static str {
        match self {
            LedgerEvent::Opened => "Opened",
            LedgerEvent::Credited(_) => "Credited",
            LedgerEvent::Closed { .. } => "closed.v2",
        }
    }
}

described!(Ledger, LedgerEvent, LedgerEvent::EVENT_NAMES);

fn ledger_samples() -> Vec<LedgerEvent> {
    vec![
        LedgerEvent::Opened,
        LedgerEvent::Credited(5),
        LedgerEvent::Closed {
            reason: "done".into(),
        },
    ]
}

/// Written by hand, carelessly: `Credited` is renamed for serde only, `Closed` is stored
/// as "Shut", which no list has, and "Archived" is listed but never stored.
#[derive(Debug, Serialize, Deserialize)]
enum SloppyEvent {
    Opened,
    #[serde(rename = "credited")]
    Credited(u64),
    Closed,
}

impl EventNames for SloppyEvent {
    const EVENT_NAMES: &'static [&'static str] = &["Opened", "Credited", "Closed", "Archived"];
    fn event_type(&self) -> &'static str {
        match self {
            SloppyEvent::Opened => "Opened",
            SloppyEvent::Credited(_) => "Credited",
            SloppyEvent::Closed => "Shut",
        }
    }
}

described!(Sloppy, SloppyEvent, SloppyEvent::EVENT_NAMES);

fn sloppy_samples() -> Vec<SloppyEvent> {
    vec![
        SloppyEvent::Opened,
        SloppyEvent::Credited(1),
        SloppyEvent::Closed,
    ]
}

/// Asserts that `problems` has one entry per item of `expected`, each entry containing
/// every fragment of its item (in any order of entries).
fn assert_problems(problems: &[String], expected: &[&[&str]]) {
    assert_eq!(
        problems.len(),
        expected.len(),
        "expected {} problems, got {problems:#?}",
        expected.len()
    );
    for fragments in expected {
        assert!(
            problems
                .iter()
                .any(|p| fragments.iter().all(|f| p.contains(f))),
            "no problem says all of {fragments:?} in {problems:#?}"
        );
    }
}

#[test]
fn a_correct_hand_written_description_passes() {
    assert!(description_problems::<Ledger>(&ledger_samples()).is_empty());
    assert_description::<Ledger>(&ledger_samples());
}

#[test]
fn a_derived_description_passes() {
    use common::{Wallet, WalletEvent};
    assert_description::<Wallet>(&[
        WalletEvent::Deposited { amount: 1 },
        WalletEvent::Withdrawn { amount: 1 },
    ]);
}

#[test]
fn each_mismatch_of_a_careless_description_is_listed() {
    let problems = description_problems::<Sloppy>(&sloppy_samples());
    assert_problems(
        &problems,
        &[
            // Serde writes another name than the event type.
            &["\"Credited\"", "serde", "\"credited\""],
            &["\"Shut\"", "serde", "\"Closed\""],
            // An event type the description does not list.
            &["\"Shut\"", "does not list"],
            // Listed names that no sample has.
            &["no sample", "\"Closed\""],
            &["no sample", "\"Archived\""],
        ],
    );
}

#[test]
fn assert_description_panics_with_every_problem() {
    let panic = std::panic::catch_unwind(|| assert_description::<Sloppy>(&sloppy_samples()))
        .expect_err("a careless description fails");
    let message = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default();
    assert!(message.contains("Sloppy"), "{message}");
    for problem in description_problems::<Sloppy>(&sloppy_samples()) {
        assert!(
            message.contains(&problem),
            "{problem:?} missing from {message}"
        );
    }
}

#[test]
fn a_missing_sample_is_listed() {
    let samples = [LedgerEvent::Opened, LedgerEvent::Credited(1)];
    assert_problems(
        &description_problems::<Ledger>(&samples),
        &[&["no sample", "\"closed.v2\""]],
    );
}

// The aggregate's list and the event type's own list disagree, and list a name twice.
#[derive(Debug, Serialize, Deserialize)]
enum DriftedEvent {
    Opened,
    Closed,
}

impl EventNames for DriftedEvent {
    const EVENT_NAMES: &'static [&'static str] = &["Opened", "Closed"];
    fn event_type(&self) -> &'static str {
        match self {
            DriftedEvent::Opened => "Opened",
            DriftedEvent::Closed => "Closed",
        }
    }
}

described!(Drifted, DriftedEvent, &["Opened", "Opened", "Reopened"]);

#[test]
fn names_the_two_lists_disagree_on_and_repeated_names_are_listed() {
    let problems = description_problems::<Drifted>(&[DriftedEvent::Opened, DriftedEvent::Closed]);
    assert_problems(
        &problems,
        &[
            &["\"Opened\"", "appears twice"],
            // The event type names "Closed"; the aggregate does not list it.
            &["event type names \"Closed\"", "does not list"],
            // The aggregate lists "Reopened"; the event type does not name it.
            &["lists \"Reopened\"", "does not name"],
            // And the samples show the same from their side.
            &["a sample has event type \"Closed\"", "does not list"],
            &["no sample", "\"Reopened\""],
        ],
    );
}
