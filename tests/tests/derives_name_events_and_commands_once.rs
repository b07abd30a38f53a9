//! `#[derive(EventNames, CommandNames, DescribeAggregate)]`: the names come from serde, so
//! they are the names serde writes, the names stored with the events, and the names the
//! aggregate describes; and the derives refuse, at compile time, types whose names could not
//! be stored (the `ui/` cases, run with trybuild).

use std::collections::BTreeSet;
use std::fmt;

use aether::{
    codec, ActorId, ActorSystem, Aggregate, AggregateDescription, CommandNames, DescribeAggregate,
    EventFilter, EventKind, EventNames, EventStoreExt, Namespace,
};
use aether_core::names::check_names;
use aether_store_mem::InMemoryEventStore;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// Events of every shape: struct, newtype, tuple and unit variants, `rename_all` and a
/// `rename` that wins over it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, EventNames)]
#[serde(rename_all = "snake_case")]
enum AccountEvent {
    Opened {
        owner: String,
    },
    MoneyDeposited(u64),
    MoneyWithdrawn(u64, String),
    #[serde(rename = "account.closed")]
    Closed,
}

/// Commands, internally tagged (`{"type": "Open", ..}`), with a serialize-only rename.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, CommandNames)]
#[serde(tag = "type")]
enum AccountCommand {
    Open {
        owner: String,
    },
    Deposit {
        amount: u64,
    },
    Withdraw {
        amount: u64,
        reason: String,
    },
    #[serde(rename(serialize = "CloseAccount"))]
    Close,
}

/// The aggregate: its type name written out, its names taken from its `Aggregate` types.
#[derive(Default, DescribeAggregate)]
#[aether(type_name = "Account")]
struct Account;

impl Aggregate for Account {
    type Command = AccountCommand;
    type Event = AccountEvent;
    type State = u64;
    type Reply = u64;
    type Error = String;

    fn decide(
        &self,
        balance: &u64,
        command: &AccountCommand,
    ) -> Result<(Vec<AccountEvent>, u64), String> {
        let events = match command {
            AccountCommand::Open { owner } => vec![AccountEvent::Opened {
                owner: owner.clone(),
            }],
            AccountCommand::Deposit { amount } => vec![AccountEvent::MoneyDeposited(*amount)],
            AccountCommand::Withdraw { amount, reason } if amount <= balance => {
                vec![AccountEvent::MoneyWithdrawn(*amount, reason.clone())]
            }
            AccountCommand::Withdraw { .. } => return Err("insufficient funds".to_owned()),
            AccountCommand::Close => vec![AccountEvent::Closed],
        };
        Ok((events, 0))
    }

    fn apply(balance: &mut u64, event: &AccountEvent) {
        match event {
            AccountEvent::MoneyDeposited(n) => *balance += n,
            AccountEvent::MoneyWithdrawn(n, _) => *balance -= n,
            AccountEvent::Opened { .. } | AccountEvent::Closed => {}
        }
    }

    fn reply(&self, balance: &u64, _: u64) -> u64 {
        *balance
    }
}

/// A generic event enum (a type and a const parameter) with a renamed kind enum.
#[derive(Debug, Serialize, Deserialize, EventNames)]
#[serde(rename_all = "SCREAMING-KEBAB-CASE")]
#[aether(kind = "EnvelopeType")]
enum Envelope<T: Clone, const N: usize> {
    Wrapped(T),
    Many(Vec<T>),
    NothingAtAll,
}

/// A struct event: one name, its serde rename.
#[derive(Debug, Serialize, Deserialize, EventNames)]
#[serde(rename = "limit.changed")]
struct LimitChanged {
    limit: u64,
}

/// A struct command, named after itself.
#[derive(Debug, Serialize, Deserialize, CommandNames)]
struct ChangeLimit(u64);

/// A behaviour type that describes itself from given types (no `Aggregate`).
#[derive(DescribeAggregate)]
#[aether(type_name = "Limits", command = ChangeLimit, event = LimitChanged)]
enum Limits {}

/// An event enum with no event yet.
#[derive(Debug, Serialize, Deserialize, EventNames)]
enum NoEvents {}

#[test]
fn event_names_are_the_serde_names_in_declaration_order() {
    assert_eq!(
        AccountEvent::EVENT_NAMES,
        [
            "opened",
            "money_deposited",
            "money_withdrawn",
            "account.closed"
        ]
    );
    assert_eq!(
        AccountEvent::MoneyWithdrawn(1, "rent".into()).event_type(),
        "money_withdrawn"
    );
    assert_eq!(AccountEvent::Closed.event_type(), "account.closed");
    assert_eq!(
        Envelope::<String, 2>::EVENT_NAMES,
        ["WRAPPED", "MANY", "NOTHING-AT-ALL"]
    );
    assert_eq!(Envelope::<u8, 1>::Many(vec![7]).event_type(), "MANY");
    assert_eq!(LimitChanged::EVENT_NAMES, ["limit.changed"]);
    assert_eq!(LimitChanged { limit: 1 }.event_type(), "limit.changed");
    assert!(NoEvents::EVENT_NAMES.is_empty());
    for names in [AccountEvent::EVENT_NAMES, Envelope::<u8, 0>::EVENT_NAMES] {
        check_names("event", names).unwrap();
    }
}

#[test]
fn command_names_are_the_serde_names_in_declaration_order() {
    assert_eq!(
        AccountCommand::COMMAND_NAMES,
        ["Open", "Deposit", "Withdraw", "CloseAccount"]
    );
    assert_eq!(AccountCommand::Close.command_name(), "CloseAccount");
    assert_eq!(
        AccountCommand::Deposit { amount: 1 }.command_name(),
        "Deposit"
    );
    assert_eq!(ChangeLimit::COMMAND_NAMES, ["ChangeLimit"]);
    assert_eq!(ChangeLimit(3).command_name(), "ChangeLimit");
    check_names("command", AccountCommand::COMMAND_NAMES).unwrap();
}

#[test]
fn kinds_mirror_the_variants_and_carry_their_names() {
    let all = AccountEventKind::ALL;
    assert_eq!(
        all,
        [
            AccountEventKind::Opened,
            AccountEventKind::MoneyDeposited,
            AccountEventKind::MoneyWithdrawn,
            AccountEventKind::Closed
        ]
    );
    let names: Vec<_> = all.iter().map(|k| k.event_type()).collect();
    assert_eq!(names, AccountEvent::EVENT_NAMES);
    assert_eq!(
        AccountEvent::MoneyDeposited(5).kind(),
        AccountEventKind::MoneyDeposited
    );
    assert_eq!(
        AccountEvent::Opened {
            owner: "ann".into()
        }
        .kind()
        .event_type(),
        "opened"
    );
    // Ordered and hashed as declared: usable as map keys and in sets.
    let sorted: BTreeSet<_> = all.iter().rev().copied().collect();
    assert!(sorted.into_iter().eq(all.iter().copied()));
    assert_eq!(format!("{:?}", AccountEventKind::Closed), "Closed");

    assert_eq!(EnvelopeType::ALL.len(), 3);
    assert_eq!(
        Envelope::<u8, 0>::NothingAtAll.kind(),
        EnvelopeType::NothingAtAll
    );
    assert_eq!(EnvelopeType::NothingAtAll.event_type(), "NOTHING-AT-ALL");
    assert!(NoEventsKind::ALL.is_empty());
}

#[test]
fn kinds_make_typed_filters() {
    let filter = EventFilter::of::<Account>()
        .kind(AccountEventKind::MoneyDeposited)
        .kinds([AccountEventKind::Closed]);
    let types: BTreeSet<&str> = filter
        .event_types()
        .unwrap()
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(types, BTreeSet::from(["money_deposited", "account.closed"]));
}

#[test]
fn aggregates_describe_themselves_with_the_derived_names() {
    assert_eq!(Account::TYPE_NAME, "Account");
    assert_eq!(
        Account::describe(),
        AggregateDescription::new(
            "Account",
            ["Open", "Deposit", "Withdraw", "CloseAccount"],
            [
                "opened",
                "money_deposited",
                "money_withdrawn",
                "account.closed"
            ],
        )
    );
    assert_eq!(
        Limits::describe(),
        AggregateDescription::new("Limits", ["ChangeLimit"], ["limit.changed"])
    );
}

#[test]
fn names_are_what_serde_writes() {
    let events = [
        AccountEvent::Opened {
            owner: "ann".into(),
        },
        AccountEvent::MoneyDeposited(10),
        AccountEvent::MoneyWithdrawn(3, "rent".into()),
        AccountEvent::Closed,
    ];
    for event in &events {
        assert_eq!(written_variant(event), event.event_type(), "{event:?}");
    }
    let envelopes: [Envelope<String, 1>; 3] = [
        Envelope::Wrapped("x".into()),
        Envelope::Many(vec!["y".into()]),
        Envelope::NothingAtAll,
    ];
    for envelope in &envelopes {
        assert_eq!(
            written_variant(envelope),
            envelope.event_type(),
            "{envelope:?}"
        );
    }
    let commands = [
        AccountCommand::Open {
            owner: "ann".into(),
        },
        AccountCommand::Deposit { amount: 1 },
        AccountCommand::Withdraw {
            amount: 1,
            reason: "rent".into(),
        },
        AccountCommand::Close,
    ];
    for command in &commands {
        let bytes = codec::to_vec_named(command).unwrap();
        let tagged: Tagged = codec::from_slice(&bytes).unwrap();
        assert_eq!(tagged.r#type, command.command_name(), "{command:?}");
    }
}

#[tokio::test]
async fn the_runtime_stores_each_event_under_its_derived_name() -> anyhow::Result<()> {
    let system = ActorSystem::builder()
        .store(InMemoryEventStore::new(Namespace::new("derives")?))
        .build()?;
    let accounts = system.actors::<Account>();
    let id = ActorId::new("acc-1")?;
    let commands = [
        AccountCommand::Open {
            owner: "ann".into(),
        },
        AccountCommand::Deposit { amount: 10 },
        AccountCommand::Withdraw {
            amount: 4,
            reason: "rent".into(),
        },
        AccountCommand::Close,
    ];
    for command in commands {
        accounts
            .ask(&id, command)
            .await?
            .map_err(anyhow::Error::msg)?;
    }
    let stored: Vec<String> = system
        .store()
        .read_all(&id)
        .await?
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(stored, AccountEvent::EVENT_NAMES);
    system.shutdown().await;
    Ok(())
}

#[test]
fn the_derives_compile_what_they_should_and_refuse_the_rest() {
    let cases = trybuild::TestCases::new();
    cases.pass("ui/pass/*.rs");
    cases.compile_fail("ui/fail/*.rs");
}

/// The variant name serde wrote for an externally tagged enum value: a unit variant is
/// written as its name, any other as a one-entry map from its name to its content.
fn written_variant<T: Serialize>(value: &T) -> String {
    let bytes = codec::to_vec_named(value).unwrap();
    codec::from_slice::<WrittenVariant>(&bytes).unwrap().0
}

/// The tag of an internally tagged value.
#[derive(Deserialize)]
struct Tagged {
    r#type: String,
}

/// See [`written_variant`].
struct WrittenVariant(String);

impl<'de> Deserialize<'de> for WrittenVariant {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Names;
        impl<'de> Visitor<'de> for Names {
            type Value = WrittenVariant;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a variant name, or a map from one")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<WrittenVariant, E> {
                Ok(WrittenVariant(name.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WrittenVariant, A::Error> {
                let (name, IgnoredAny) = map
                    .next_entry::<String, IgnoredAny>()?
                    .ok_or_else(|| de::Error::custom("an empty map names no variant"))?;
                Ok(WrittenVariant(name))
            }
        }
        deserializer.deserialize_any(Names)
    }
}
