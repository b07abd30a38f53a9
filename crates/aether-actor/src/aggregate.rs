//! The [`Aggregate`] trait: what an event-sourced actor decides and how it folds its events.

use std::sync::Arc;

use aether_core::{ActorId, Bytes, DescribeAggregate, Event, Result};
use serde::{de::DeserializeOwned, Serialize};

/// An event-sourced actor type: it decides events from a command and folds them into state.
///
/// The type implementing `Aggregate` is the *behaviour*: one value of it is shared by every
/// actor of the type (give it the services `decide` needs, or make it a unit struct). Each
/// actor's *state* is a separate [`State`](Aggregate::State) value, built by applying the
/// actor's events in order, starting from `State::default()`.
///
/// Commands, events, state, replies and domain errors are serde types: events and snapshots
/// are stored as MessagePack with field names, and commands and replies travel between
/// nodes. The runtime (see [`ActorSystem`](crate::ActorSystem)) runs one command at a time
/// per actor:
///
/// 1. [`decide`](Aggregate::decide) sees the current state and the command and returns the
///    events to store and the reply, or a domain error (a rejection stores nothing);
/// 2. the events are appended atomically at the actor's version (a conflict re-reads and
///    decides again);
/// 3. only then are they [`apply`](Aggregate::apply)'d to the state, broadcast, and the
///    [`on_persisted`](Aggregate::on_persisted) hook runs.
///
/// `decide` and `apply` must be deterministic and free of side effects: `decide` may run
/// again after a conflict, and `apply` runs again on every activation.
///
/// ```
/// use aether_actor::Aggregate;
/// use aether_core::DescribeAggregate;
/// use serde::{Deserialize, Serialize};
///
/// struct Counter;
///
/// #[derive(Serialize, Deserialize)]
/// enum CounterCommand { Add(u64) }
/// #[derive(Debug, PartialEq, Serialize, Deserialize)]
/// enum CounterEvent { Added(u64) }
/// #[derive(Debug, PartialEq, Serialize, Deserialize)]
/// enum CounterError { Overflow }
///
/// impl DescribeAggregate for Counter {
///     const TYPE_NAME: &'static str = "Counter";
///     fn command_names() -> &'static [&'static str] { &["Add"] }
///     fn event_names() -> &'static [&'static str] { &["Added"] }
/// }
///
/// impl Aggregate for Counter {
///     type Command = CounterCommand;
///     type Event = CounterEvent;
///     type State = u64;
///     type Reply = u64;
///     type Error = CounterError;
///
///     fn event_type(event: &CounterEvent) -> &'static str {
///         match event { CounterEvent::Added(_) => "Added" }
///     }
///     fn decide(&self, total: &u64, command: &CounterCommand)
///         -> Result<(Vec<CounterEvent>, u64), CounterError> {
///         match command {
///             CounterCommand::Add(n) => {
///                 let new = total.checked_add(*n).ok_or(CounterError::Overflow)?;
///                 Ok((vec![CounterEvent::Added(*n)], new))
///             }
///         }
///     }
///     fn apply(total: &mut u64, event: &CounterEvent) {
///         match event { CounterEvent::Added(n) => *total += n }
///     }
/// }
/// ```
pub trait Aggregate: DescribeAggregate + Send + Sync + Sized + 'static {
    /// What callers ask the actor to do.
    type Command: Serialize + DeserializeOwned + Send + Sync + 'static;
    /// What happened; stored, replayed and broadcast.
    type Event: Serialize + DeserializeOwned + Send + Sync + 'static;
    /// The actor's state, built from `State::default()` by applying its events.
    type State: Serialize + DeserializeOwned + Default + Send + Sync + 'static;
    /// The answer to a command that was accepted.
    type Reply: Serialize + DeserializeOwned + Send + 'static;
    /// A domain rejection (for instance "insufficient funds"); stores nothing.
    type Error: Serialize + DeserializeOwned + Send + 'static;

    /// The schema version of the encoded [`State`](Aggregate::State) in snapshots. Raise it
    /// when the state's encoding changes incompatibly: snapshots with another version are
    /// ignored and the actor is rebuilt from its events.
    const SNAPSHOT_SCHEMA_VERSION: u32 = 1;

    /// The schema version of the events this code writes. Events stored with an older
    /// version go through [`upcast`](Aggregate::upcast) before they are decoded.
    const EVENT_SCHEMA_VERSION: u32 = 1;

    /// The stored type name of `event` (one of [`DescribeAggregate::event_names`]).
    fn event_type(event: &Self::Event) -> &'static str;

    /// Decides what a command does to an actor in `state`: the events to store and the reply,
    /// or a domain error. Must be deterministic and must not have side effects; it may run
    /// more than once for one command (after a version conflict).
    ///
    /// # Errors
    /// A domain error ([`Aggregate::Error`]) when the command is rejected; nothing is stored.
    #[expect(
        clippy::type_complexity,
        reason = "the tuple is the documented shape of a decision"
    )]
    fn decide(
        &self,
        state: &Self::State,
        command: &Self::Command,
    ) -> std::result::Result<(Vec<Self::Event>, Self::Reply), Self::Error>;

    /// Folds one event into the state. Must not fail or panic: the event happened.
    fn apply(state: &mut Self::State, event: &Self::Event);

    /// Rewrites the payload of an event stored with an older `schema_version` (the
    /// `aether-schema` header; events without it are version 1) into the current encoding
    /// of [`Aggregate::Event`]. Called only when the stored version differs from
    /// [`EVENT_SCHEMA_VERSION`](Aggregate::EVENT_SCHEMA_VERSION). The default returns the
    /// bytes unchanged, which is right for additive changes (new fields with
    /// `#[serde(default)]`).
    ///
    /// # Errors
    /// An [`aether_core::Error`] (typically `Codec`) when the bytes cannot be upcast; the
    /// activation then fails with that error rather than build a wrong state.
    fn upcast(event_type: &str, schema_version: u32, data: Bytes) -> Result<Bytes> {
        let _ = (event_type, schema_version);
        Ok(data)
    }

    /// Runs when an actor has been activated (its state loaded). No-op by default.
    fn on_activate(&self, actor_id: &ActorId, state: &Self::State) {
        let _ = (actor_id, state);
    }

    /// Runs after a command's events are stored and applied: the place for side effects,
    /// which therefore never run when storing fails. No-op by default.
    fn on_persisted(&self, actor_id: &ActorId, state: &Self::State, events: &[Arc<Event>]) {
        let _ = (actor_id, state, events);
    }

    /// Runs when an actor is passivated (after its snapshot). No-op by default.
    fn on_passivate(&self, actor_id: &ActorId, state: &Self::State) {
        let _ = (actor_id, state);
    }
}
