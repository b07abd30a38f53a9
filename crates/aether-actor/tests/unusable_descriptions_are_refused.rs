//! An aggregate whose hand-written description is unusable (an event name listed twice, an
//! empty command name, an empty type name) is refused by `register`, saying why; through
//! `actors`, its asks fail as invalid before anything runs.

mod common;

use aether_actor::{ActorSystem, AskError, AskErrorKind};
use aether_core::{DescribeAggregate, ErrorKind, EventNames};
use common::{history, id, TestStore};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Add(u64);

#[derive(Debug, Serialize, Deserialize)]
struct Added(u64);

impl EventNames for Added {
    const EVENT_NAMES: &'static [&'static str] = &["Added"];
    fn event_type(&self) -> &'static str {
        "Added"
    }
}

/// An adding aggregate `$name` described by hand with these names.
macro_rules! described {
    ($name:ident, $type_name:literal, $commands:expr, $events:expr) => {
        #[derive(Default)]
        struct $name;

        impl DescribeAggregate for $name {
            const TYPE_NAME: &'static str = $type_name;
            fn command_names() -> &'static [&'static str] {
                $commands
            }
            fn event_names() -> &'static [&'static str] {
                $events
            }
        }

        impl aether_actor::Aggregate for $name {
            type Command = Add;
            type Event = Added;
            type State = u64;
            type Reply = u64;
            type Error = ();
            fn decide(&self, s: &u64, Add(n): &Add) -> Result<(Vec<Added>, u64), ()> {
                Ok((vec![Added(*n)], s + n))
            }
            fn apply(s: &mut u64, Added(n): &Added) {
                *s += n;
            }
        }
    };
}

described!(Usable, "Usable", &["Add"], &["Added"]);
described!(Twice, "Twice", &["Add"], &["Added", "Added"]);
described!(Nameless, "Nameless", &["Add", ""], &["Added"]);
described!(Untyped, "", &["Add"], &["Added"]);

fn system(store: &TestStore) -> ActorSystem {
    ActorSystem::builder()
        .store(store.clone())
        .build()
        .expect("a system")
}

/// `register::<A>` fails with `InvalidInput`, and the message contains each of `says`.
fn refused<A: aether_actor::Aggregate + Default>(system: &ActorSystem, says: &[&str]) {
    let err = system.register(A::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let text = err.to_string();
    for s in says {
        assert!(text.contains(s), "{text:?} does not say {s:?}");
    }
    // Not registered: a second try says the same, not "already registered".
    let again = system.register(A::default()).unwrap_err();
    assert_eq!(again.to_string(), text);
}

#[test]
fn register_refuses_an_event_name_listed_twice() {
    refused::<Twice>(
        &system(&TestStore::new()),
        &["\"Twice\"", "event name \"Added\" appears twice"],
    );
}

#[test]
fn register_refuses_an_empty_command_name() {
    refused::<Nameless>(
        &system(&TestStore::new()),
        &["\"Nameless\"", "command name 2 of 2 is empty"],
    );
}

#[test]
fn register_refuses_an_empty_type_name() {
    refused::<Untyped>(
        &system(&TestStore::new()),
        &["aggregate type name 1 of 1 is empty"],
    );
}

#[tokio::test]
async fn register_accepts_a_usable_description() -> anyhow::Result<()> {
    let store = TestStore::new();
    let system = system(&store);
    let usable = system.register(Usable)?;
    assert_eq!(usable.ask(&id("u-1"), Add(2)).await?, Ok(2));
    // Refusing another type leaves the registered one alone.
    assert!(system.register(Twice).is_err());
    assert_eq!(usable.ask(&id("u-1"), Add(3)).await?, Ok(5));
    system.shutdown().await;
    Ok(())
}

/// Asks and tells to `A` through `actors` fail as invalid, saying `says`, and run nothing.
async fn asks_refused<A>(says: &str) -> anyhow::Result<()>
where
    A: aether_actor::Aggregate<Command = Add, Reply = u64, Error = ()> + Default,
{
    let store = TestStore::new();
    let system = system(&store);
    let actors = system.actors::<A>();
    let a = id("a-1");
    let err = actors.ask(&a, Add(1)).await.unwrap_err();
    assert_eq!(err.kind(), AskErrorKind::Invalid);
    let AskError::Invalid(source) = &err else {
        panic!("expected Invalid, got {err:?}");
    };
    assert_eq!(source.kind(), ErrorKind::InvalidInput);
    let said = std::error::Error::source(&err)
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(said.contains(says), "{said:?} does not say {says:?}");
    let told = actors.tell(&a, Add(1));
    assert!(matches!(told, Err(AskError::Invalid(_))), "{told:?}");
    let built = actors
        .ask(&a, Add(1))
        .command_id(aether_core::Uuid::now_v7())
        .await;
    assert!(matches!(built, Err(AskError::Invalid(_))), "{built:?}");
    assert!(history(store.mem(), &a).await.is_empty());
    assert!(!actors.is_active(&a));
    assert_eq!(system.stats().activations, 0);
    // Other types of the same system are unaffected.
    assert_eq!(system.actors::<Usable>().ask(&a, Add(4)).await?, Ok(4));
    system.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn asks_to_a_type_listing_an_event_twice_are_invalid() -> anyhow::Result<()> {
    asks_refused::<Twice>("event name \"Added\" appears twice").await
}

#[tokio::test]
async fn asks_to_a_type_with_an_empty_command_name_are_invalid() -> anyhow::Result<()> {
    asks_refused::<Nameless>("command name 2 of 2 is empty").await
}
