//! The [`Aggregate`] trait: what an event-sourced actor decides and how it folds its events.

use std::sync::Arc;

use aether_core::{ActorId, Bytes, DescribeAggregate, Event, EventNames, Result};
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
/// 2. the events are [`apply`](Aggregate::apply)'d to the state and
///    [`reply`](Aggregate::reply) answers from the new state (by default, `decide`'s reply);
/// 3. the events are appended atomically at the actor's version, with the reply; if that
///    fails, the actor reloads its state from the store, so a command that was not stored
///    never shows in the state (after a version conflict it then decides again);
/// 4. once stored, the events are broadcast and the [`on_persisted`](Aggregate::on_persisted)
///    hook runs.
///
/// `decide`, `apply` and `reply` must be deterministic and free of side effects: `decide`
/// may run again after a conflict, and `apply` runs again on every activation.
///
/// Each event's stored type name comes from the event type's [`EventNames`]; the `aether`
/// crate derives them, and the aggregate's [`DescribeAggregate`], from the enums
/// (`#[derive(EventNames)]`, `#[derive(DescribeAggregate)] #[aether(type_name = "..")]`).
/// Written by hand, they look like this:
///
/// ```
/// use aether_actor::Aggregate;
/// use aether_core::{CommandNames, DescribeAggregate, EventNames};
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
/// impl CommandNames for CounterCommand {
///     const COMMAND_NAMES: &'static [&'static str] = &["Add"];
///     fn command_name(&self) -> &'static str { "Add" }
/// }
/// impl EventNames for CounterEvent {
///     const EVENT_NAMES: &'static [&'static str] = &["Added"];
///     fn event_type(&self) -> &'static str { "Added" }
/// }
/// impl DescribeAggregate for Counter {
///     const TYPE_NAME: &'static str = "Counter";
///     fn command_names() -> &'static [&'static str] { CounterCommand::COMMAND_NAMES }
///     fn event_names() -> &'static [&'static str] { CounterEvent::EVENT_NAMES }
/// }
///
/// impl Aggregate for Counter {
///     type Command = CounterCommand;
///     type Event = CounterEvent;
///     type State = u64;
///     type Reply = u64;
///     type Error = CounterError;
///
///     fn decide(&self, total: &u64, command: &CounterCommand)
///         -> Result<(Vec<CounterEvent>, u64), CounterError> {
///         match command {
///             CounterCommand::Add(n) => {
///                 total.checked_add(*n).ok_or(CounterError::Overflow)?;
///                 Ok((vec![CounterEvent::Added(*n)], 0))
///             }
///         }
///     }
///     fn apply(total: &mut u64, event: &CounterEvent) {
///         match event { CounterEvent::Added(n) => *total += n }
///     }
///     // The reply is the total after the command.
///     fn reply(&self, total: &u64, _decided: u64) -> u64 { *total }
/// }
/// ```
pub trait Aggregate: DescribeAggregate + Send + Sync + Sized + 'static {
    /// What callers ask the actor to do.
    type Command: Serialize + DeserializeOwned + Send + Sync + 'static;
    /// What happened; stored, replayed and broadcast. Its [`EventNames`] give each event's
    /// stored type name: derive them (`#[derive(EventNames)]`) so they follow the enum.
    type Event: Serialize + DeserializeOwned + EventNames + Send + Sync + 'static;
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

    /// The reply to an accepted command, given the state *after* its events are applied
    /// (the same state when it decided none) and the reply [`decide`](Aggregate::decide)
    /// returned. The default returns `decide`'s reply; override it to answer with what the
    /// command changed (a new balance, say) without repeating `apply`'s arithmetic in
    /// `decide`.
    ///
    /// It runs before the events are stored, so the reply is stored with them and a retry
    /// of the command (the same command id) gets this very reply, however much later. If
    /// storing fails, the actor reloads its state from the store: a command that failed
    /// never shows in the state. Like `decide`, it must be deterministic and free of side
    /// effects (use [`on_persisted`](Aggregate::on_persisted) for those).
    ///
    /// ```
    /// # use aether_actor::Aggregate;
    /// # use aether_core::{CommandNames, DescribeAggregate, EventNames};
    /// # use serde::{Deserialize, Serialize};
    /// # struct Account;
    /// # #[derive(Serialize, Deserialize)] struct Deposit(u64);
    /// # impl CommandNames for Deposit {
    /// #     const COMMAND_NAMES: &'static [&'static str] = &["Deposit"];
    /// #     fn command_name(&self) -> &'static str { "Deposit" }
    /// # }
    /// # #[derive(Serialize, Deserialize)] struct Deposited(u64);
    /// # impl EventNames for Deposited {
    /// #     const EVENT_NAMES: &'static [&'static str] = &["Deposited"];
    /// #     fn event_type(&self) -> &'static str { "Deposited" }
    /// # }
    /// # impl DescribeAggregate for Account {
    /// #     const TYPE_NAME: &'static str = "Account";
    /// #     fn command_names() -> &'static [&'static str] { Deposit::COMMAND_NAMES }
    /// #     fn event_names() -> &'static [&'static str] { Deposited::EVENT_NAMES }
    /// # }
    /// impl Aggregate for Account {
    ///     type Command = Deposit;
    ///     type Event = Deposited;
    ///     type State = u64;
    ///     type Reply = u64; // the balance after the command
    ///     type Error = String;
    ///
    ///     fn decide(&self, _: &u64, Deposit(n): &Deposit) -> Result<(Vec<Deposited>, u64), String> {
    ///         Ok((vec![Deposited(*n)], 0)) // the reply comes from the new state below
    ///     }
    ///     fn apply(balance: &mut u64, Deposited(n): &Deposited) { *balance += n }
    ///     fn reply(&self, balance: &u64, _: u64) -> u64 { *balance }
    /// }
    /// ```
    fn reply(&self, state: &Self::State, decided: Self::Reply) -> Self::Reply {
        let _ = state;
        decided
    }

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

    /// Runs once per activation, when the actor's state has been loaded. Reloads within the
    /// activation (after a version conflict, a failed append or a panic) do not run it
    /// again, so it stays paired with [`on_passivate`](Aggregate::on_passivate). No-op by
    /// default.
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
