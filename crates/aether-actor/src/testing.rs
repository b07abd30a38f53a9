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
//! # impl Aggregate for Counter {
//! #     type Command = u64; type Event = u64; type State = u64; type Reply = u64; type Error = String;
//! #     fn event_type(_: &u64) -> &'static str { "Added" }
//! #     fn decide(&self, s: &u64, n: &u64) -> Result<(Vec<u64>, u64), String> {
//! #         if *n == 0 { return Err("nothing to add".into()) }
//! #         Ok((vec![*n], s + n))
//! #     }
//! #     fn apply(s: &mut u64, n: &u64) { *s += n }
//! # }
//! AggregateTest::<Counter>::given([2, 3])
//!     .when(4)
//!     .then_expect_events([4])
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

    /// Decides `command` against the given state.
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
        let result = aggregate.decide(&state, &command);
        if let Ok((events, reply)) = &result {
            // A panic cannot carry an error's source: `{:?}` prints the error with its causes.
            let id = Uuid::now_v7();
            let type_name: std::sync::Arc<str> = A::TYPE_NAME.into();
            let encoded = encode_events::<A>(events, reply, (id, id), None, &type_name, None)
                .unwrap_or_else(|e| panic!("{}: cannot encode the decision: {e:?}", A::TYPE_NAME));
            let actor = ActorId::new("aggregate-test").expect("a valid actor id");
            for (i, (new, event)) in encoded.into_iter().zip(events).enumerate() {
                assert!(
                    A::event_names().contains(&new.event_type.as_str()),
                    "{}: event type {:?} is not among the declared event names {:?}",
                    A::TYPE_NAME,
                    new.event_type,
                    A::event_names()
                );
                let stored =
                    Event::from_new(actor.clone(), i as u64 + 1, new, OffsetDateTime::now_utc());
                if let Err(e) = decode_event::<A>(&stored) {
                    panic!("{}: a decided event does not decode: {e:?}", A::TYPE_NAME);
                }
                A::apply(&mut state, event);
            }
        }
        AggregateOutcome { result, state }
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

    /// Checks that the command was accepted with this reply.
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
