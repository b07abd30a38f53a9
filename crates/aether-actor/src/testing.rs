//! Given/when/then tests for aggregates, without a store or a runtime.
//!
//! ```
//! # use aether_actor::{Aggregate, testing::AggregateTest};
//! # use aether_core::DescribeAggregate;
//! # #[derive(Default)] struct Counter;
//! # impl DescribeAggregate for Counter {
//! #     const TYPE_NAME: &'static str = "Counter";
//! #     fn command_names() -> &'static [&'static str] { &["Add"] }
//! #     fn event_names() -> &'static [&'static str] { &["Added"] }
//! # }
//! # #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)] struct Added(u64);
//! # impl aether_core::EventNames for Added { const EVENT_NAMES: &'static [&'static str] = &["Added"]; fn event_type(&self) -> &'static str { "Added" } }
//! # impl Aggregate for Counter {
//! #     type Command = u64; type Event = Added; type State = u64; type Reply = u64; type Error = String;
//! #     fn decide(&self, s: &u64, n: &u64) -> Result<(Vec<Added>, u64), String> {
//! #         if *n == 0 { return Err("nothing to add".into()) }
//! #         Ok((vec![Added(*n)], s + n))
//! #     }
//! #     fn apply(s: &mut u64, Added(n): &Added) { *s += n }
//! # }
//! AggregateTest::<Counter>::given([Added(2), Added(3)])
//!     .when(4)
//!     .then_expect_events([Added(4)])
//!     .then_expect_reply(9)
//!     .then_expect_state(|total| assert_eq!(*total, 9));
//! AggregateTest::<Counter>::given([]).when(0).then_expect_error("nothing to add".to_string());
//! ```

use std::fmt::Debug;

use aether_core::{ActorId, Event, OffsetDateTime, Uuid};

use crate::actor::{decode_event, encode_events};
use crate::aggregate::Aggregate;

/// A given/when/then test of one aggregate: the given events build the state, the command
/// is decided against it, and the `then_expect_*` methods check the outcome (they panic
/// with a readable message on a mismatch, as test assertions do).
pub struct AggregateTest<A: Aggregate> {
    aggregate: A,
    state: A::State,
}

impl<A: Aggregate + Default> AggregateTest<A> {
    /// The state after `events` (an empty list for a new actor), with `A::default()` as the
    /// behaviour.
    pub fn given(events: impl IntoIterator<Item = A::Event>) -> Self {
        Self::given_with(A::default(), events)
    }
}

impl<A: Aggregate> AggregateTest<A> {
    /// The state after `events`, with `aggregate` as the behaviour.
    pub fn given_with(aggregate: A, events: impl IntoIterator<Item = A::Event>) -> Self {
        let mut state = A::State::default();
        for e in events {
            A::apply(&mut state, &e);
        }
        AggregateTest { aggregate, state }
    }

    /// Decides `command` against the given state, applies the decided events and takes
    /// the aggregate's [`reply`](Aggregate::reply) from the new state, as the runtime does.
    ///
    /// The decided events are also checked the way the runtime would store them: each
    /// event's type must be one of [`event_names`](aether_core::DescribeAggregate::event_names),
    /// and each must survive encoding and decoding.
    ///
    /// # Panics
    /// When an event type is not declared or an event or the reply does not round-trip.
    pub fn when(self, command: A::Command) -> AggregateOutcome<A> {
        let AggregateTest {
            aggregate,
            mut state,
        } = self;
        let result = aggregate.decide(&state, &command).map(|(events, reply)| {
            for e in &events {
                A::apply(&mut state, e);
            }
            let reply = aggregate.reply(&state, reply);
            check_stored_form::<A>(&events, &reply);
            (events, reply)
        });
        AggregateOutcome { result, state }
    }
}

/// Checks the decided events the way the runtime would store them: each event's type is
/// declared, and each event and the reply survive encoding and decoding.
fn check_stored_form<A: Aggregate>(events: &[A::Event], reply: &A::Reply) {
    // A panic cannot carry an error's source: `{:?}` prints the error with its causes.
    let id = Uuid::now_v7();
    let type_name: std::sync::Arc<str> = A::TYPE_NAME.into();
    let encoded = encode_events::<A>(events, reply, (id, id), None, &type_name, None, None)
        .unwrap_or_else(|e| panic!("{}: cannot encode the decision: {e:?}", A::TYPE_NAME));
    let actor = ActorId::new("aggregate-test").expect("a valid actor id");
    for (i, new) in encoded.into_iter().enumerate() {
        assert!(
            A::event_names().contains(&new.event_type.as_str()),
            "{}: event type {:?} is not among the declared event names {:?}",
            A::TYPE_NAME,
            new.event_type,
            A::event_names()
        );
        let stored = Event::from_new(actor.clone(), i as u64 + 1, new, OffsetDateTime::now_utc());
        if let Err(e) = decode_event::<A>(&stored) {
            panic!("{}: a decided event does not decode: {e:?}", A::TYPE_NAME);
        }
    }
}

/// The outcome of [`AggregateTest::when`]: the decision and the state after its events.
pub struct AggregateOutcome<A: Aggregate> {
    #[expect(clippy::type_complexity, reason = "the shape of a decision")]
    result: Result<(Vec<A::Event>, A::Reply), A::Error>,
    state: A::State,
}

impl<A: Aggregate> AggregateOutcome<A> {
    /// Checks that the command was accepted with exactly these events.
    ///
    /// # Panics
    /// When the command was rejected or decided other events.
    pub fn then_expect_events(self, expected: impl IntoIterator<Item = A::Event>) -> Self
    where
        A::Event: PartialEq + Debug,
        A::Error: Debug,
    {
        let expected: Vec<_> = expected.into_iter().collect();
        match &self.result {
            Ok((events, _)) => assert_eq!(events, &expected, "{}: decided events", A::TYPE_NAME),
            Err(e) => panic!(
                "{}: expected events {expected:?}, but the command was rejected: {e:?}",
                A::TYPE_NAME
            ),
        }
        self
    }

    /// Checks that the command was accepted with this reply (after the aggregate's
    /// [`reply`](Aggregate::reply) hook).
    ///
    /// # Panics
    /// When the command was rejected or replied otherwise.
    pub fn then_expect_reply(self, expected: A::Reply) -> Self
    where
        A::Reply: PartialEq + Debug,
        A::Error: Debug,
    {
        match &self.result {
            Ok((_, reply)) => assert_eq!(reply, &expected, "{}: reply", A::TYPE_NAME),
            Err(e) => panic!(
                "{}: expected reply {expected:?}, but the command was rejected: {e:?}",
                A::TYPE_NAME
            ),
        }
        self
    }

    /// Checks that the command was rejected with this domain error.
    ///
    /// # Panics
    /// When the command was accepted or rejected otherwise.
    pub fn then_expect_error(self, expected: A::Error) -> Self
    where
        A::Error: PartialEq + Debug,
        A::Event: Debug,
    {
        match &self.result {
            Err(e) => assert_eq!(e, &expected, "{}: domain error", A::TYPE_NAME),
            Ok((events, _)) => panic!(
                "{}: expected the error {expected:?}, but the command was accepted with {events:?}",
                A::TYPE_NAME
            ),
        }
        self
    }

    /// Runs `check` on the state after the decided events (the given state when rejected).
    pub fn then_expect_state(self, check: impl FnOnce(&A::State)) -> Self {
        check(&self.state);
        self
    }

    /// The decision, for checks the helpers do not cover.
    #[expect(clippy::type_complexity, reason = "the shape of a decision")]
    pub fn result(&self) -> &Result<(Vec<A::Event>, A::Reply), A::Error> {
        &self.result
    }

    /// The state after the decided events.
    pub fn state(&self) -> &A::State {
        &self.state
    }
}

/// What is wrong with the description of `A`, checked against sample events (give one of
/// each event type): its names (empty, too long, with control characters, repeated), an
/// event type of a sample that `A::event_names()` does not list, a listed name no sample
/// has, a name `A::event_names()` and the event type's own
/// [`EVENT_NAMES`](aether_core::EventNames::EVENT_NAMES) disagree on, and an event type
/// that is not the name serde writes for the sample's variant. Empty when all agree.
///
/// Derived names (`#[derive(EventNames, DescribeAggregate)]`) agree by construction; this
/// is for descriptions written by hand. [`assert_description`] panics with the list.
pub fn description_problems<A: Aggregate>(samples: &[A::Event]) -> Vec<String> {
    use aether_core::names::check_names;
    use aether_core::EventNames;
    let declared = A::event_names();
    let own = <A::Event as EventNames>::EVENT_NAMES;
    let mut problems: Vec<String> = [
        check_names("aggregate type", &[A::TYPE_NAME]),
        check_names("command", A::command_names()),
        check_names("event", declared),
        check_names("event type's own", own),
    ]
    .into_iter()
    .filter_map(Result::err)
    .collect();
    for name in own.iter().filter(|n| !declared.contains(n)) {
        problems.push(format!(
            "the event type names {name:?}, which event_names() does not list"
        ));
    }
    for name in declared.iter().filter(|n| !own.contains(n)) {
        problems.push(format!(
            "event_names() lists {name:?}, which the event type does not name"
        ));
    }
    let mut seen = Vec::new();
    for sample in samples {
        let name = sample.event_type();
        seen.push(name);
        if !declared.contains(&name) {
            problems.push(format!(
                "a sample has event type {name:?}, which event_names() does not list"
            ));
        }
        match serde_variant(sample) {
            Ok(Some(variant)) if variant != name => problems.push(format!(
                "a sample has event type {name:?}, but serde names its variant {variant:?}"
            )),
            Ok(_) => {}
            Err(e) => problems.push(format!("a sample of {name:?} does not encode: {e}")),
        }
    }
    for name in declared.iter().filter(|n| !seen.contains(n)) {
        problems.push(format!("no sample has event type {name:?}"));
    }
    problems
}

/// Checks the description of `A` against sample events, one of each event type: see
/// [`description_problems`].
///
/// # Panics
/// With every problem found, one per line.
pub fn assert_description<A: Aggregate>(samples: &[A::Event]) {
    let problems = description_problems::<A>(samples);
    assert!(
        problems.is_empty(),
        "the description of {} does not match its events:\n  {}",
        A::TYPE_NAME,
        problems.join("\n  ")
    );
}

/// The name serde writes for `value`'s enum variant (`None` when it is not an enum).
fn serde_variant<T: serde::Serialize>(value: &T) -> Result<Option<&'static str>, String> {
    match value.serialize(VariantName) {
        Err(Probe::Variant(name)) => Ok(Some(name)),
        Err(Probe::NotAVariant) | Ok(()) => Ok(None),
        Err(Probe::Failed(e)) => Err(e),
    }
}

/// What [`VariantName`] learnt: it stops at the first thing serde tells it.
#[derive(Debug)]
enum Probe {
    Variant(&'static str),
    NotAVariant,
    Failed(String),
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Probe::Variant(name) => write!(f, "variant {name}"),
            Probe::NotAVariant => f.write_str("not an enum variant"),
            Probe::Failed(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for Probe {}

impl serde::ser::Error for Probe {
    fn custom<M: std::fmt::Display>(msg: M) -> Self {
        Probe::Failed(msg.to_string())
    }
}

/// A serializer that only records the name of the enum variant it is given.
struct VariantName;

/// Every value that is not an enum variant.
macro_rules! not_a_variant {
    ($($method:ident($($arg:ty),*)),* $(,)?) => {$(
        fn $method(self, $(_: $arg),*) -> Result<(), Probe> {
            Err(Probe::NotAVariant)
        }
    )*};
}

impl serde::Serializer for VariantName {
    type Ok = ();
    type Error = Probe;
    type SerializeSeq = serde::ser::Impossible<(), Probe>;
    type SerializeTuple = serde::ser::Impossible<(), Probe>;
    type SerializeTupleStruct = serde::ser::Impossible<(), Probe>;
    type SerializeTupleVariant = serde::ser::Impossible<(), Probe>;
    type SerializeMap = serde::ser::Impossible<(), Probe>;
    type SerializeStruct = serde::ser::Impossible<(), Probe>;
    type SerializeStructVariant = serde::ser::Impossible<(), Probe>;

    not_a_variant!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
    );

    fn serialize_some<T: serde::Serialize + ?Sized>(self, _: &T) -> Result<(), Probe> {
        Err(Probe::NotAVariant)
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, v: &'static str) -> Result<(), Probe> {
        Err(Probe::Variant(v))
    }
    fn serialize_newtype_struct<T: serde::Serialize + ?Sized>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<(), Probe> {
        Err(Probe::NotAVariant)
    }
    fn serialize_newtype_variant<T: serde::Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        v: &'static str,
        _: &T,
    ) -> Result<(), Probe> {
        Err(Probe::Variant(v))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Probe> {
        Err(Probe::NotAVariant)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Probe> {
        Err(Probe::NotAVariant)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Probe> {
        Err(Probe::NotAVariant)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        v: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Probe> {
        Err(Probe::Variant(v))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Probe> {
        Err(Probe::NotAVariant)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Probe> {
        Err(Probe::NotAVariant)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        v: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Probe> {
        Err(Probe::Variant(v))
    }
}
