//! Aether: a distributed actor system with event sourcing for Rust, powered by NATS.
//!
//! Events are the source of truth; an actor's state is derived by replaying them. You write
//! an [`Aggregate`] — it decides events from a command and folds them into state — and an
//! [`ActorSystem`] runs it: it activates each actor on first use from its newest snapshot
//! plus the later events, runs one command at a time per actor, appends the decided events
//! atomically at the expected version, broadcasts them once stored, snapshots, and
//! passivates idle actors. Conflicts are retried, command ids make retries safe, and
//! domain errors stay apart from technical ones:
//! `ask` returns `Result<Result<Reply, DomainError>, AskError>`.
//!
//! The default feature runs everything embedded, in process, with no server. An app needs
//! `aether`, `serde` and `tokio` (with `macros` and `rt-multi-thread`) in its Cargo.toml;
//! `use aether::prelude::*` brings in what the first actor needs:
//!
//! ```
//! use aether::prelude::*;
//!
//! /// A counter. Its type name is stored with its events: written out, so renaming the
//! /// Rust type changes nothing stored.
//! #[derive(Default, DescribeAggregate)]
//! #[aether(type_name = "Counter")]
//! struct Counter;
//!
//! #[derive(Debug, Serialize, Deserialize, CommandNames)]
//! enum Command { Add(u64) }
//!
//! // Each event is stored under its variant's name ("Added"), written once, here.
//! #[derive(Serialize, Deserialize, EventNames)]
//! enum Event { Added(u64) }
//!
//! /// The domain error: a rejected command stores nothing.
//! #[derive(Debug, Serialize, Deserialize)]
//! enum CounterError { Overflow }
//!
//! impl std::fmt::Display for CounterError {
//!     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
//!         f.write_str("the counter would overflow")
//!     }
//! }
//! impl std::error::Error for CounterError {}
//!
//! impl Aggregate for Counter {
//!     type Command = Command;
//!     type Event = Event;
//!     type State = u64;
//!     type Reply = u64;
//!     type Error = CounterError;
//!
//!     fn decide(&self, total: &u64, Command::Add(n): &Command) -> Result<(Vec<Event>, u64), CounterError> {
//!         total.checked_add(*n).ok_or(CounterError::Overflow)?;
//!         Ok((vec![Event::Added(*n)], 0))
//!     }
//!     fn apply(total: &mut u64, Event::Added(n): &Event) { *total += n }
//!     // The reply is the total after the command.
//!     fn reply(&self, total: &u64, _decided: u64) -> u64 { *total }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> anyhow::Result<()> {
//! let system = ActorSystem::builder()
//!     .store(InMemoryEventStore::new(Namespace::new("demo")?))
//!     .build()?;
//! let counters = system.actors::<Counter>();
//! let id = ActorId::new("counter-1")?;
//! // `??`: the first `?` for a technical failure, the second for a domain rejection.
//! assert_eq!(counters.ask(&id, Command::Add(2)).await??, 2);
//! assert_eq!(counters.ask(&id, Command::Add(40)).await??, 42);
//! system.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! For a whole story — accounts and transfers as actors, policies, a live read model, a
//! conflict retried, snapshots, passivation and a duplicate command — run
//! `cargo run --example bank`.
//!
//! # Feature flags
//!
//! | feature | default | what it adds |
//! |---------|---------|--------------|
//! | `mem`   | yes     | [`InMemoryEventStore`] (module [`mem`]): the embedded store, no server needed |
//! | `jetstream` | no  | `JetStreamEventStore` (module `jetstream`): the production store on NATS JetStream |
//! | `model` | no      | module `model`: EventStorming models (build, load/save TOML or JSON, validate, render to Mermaid, check against the aggregates' [`DescribeAggregate`] descriptions) |
//! | `full`  | no      | every feature above |
//!
//! The core contracts ([`EventStore`], [`EventBroadcaster`], the in-process [`EventBus`],
//! ids, events, errors) and the actor runtime ([`ActorSystem`], [`Aggregate`],
//! [`testing`]) are always available. A NATS event bus (`nats`) and clustering (`cluster`)
//! will come as further features.
//!
//! Only this crate is the stability promise; the `aether-*` crates it re-exports may
//! change between minor versions.
#![cfg_attr(docsrs, feature(doc_cfg))]

// The core contracts, named one by one: what an application writes against. Helpers for
// store implementers (retry policy, subject tokens, stripe hashing) stay in
// `aether_core::support`.
pub use aether_core::{
    async_trait, codec, new_id, new_id_at, ActorId, ActorSnapshot, AggregateDescription, Appended,
    BoxError, BusMessage, Bytes, CommandNames, CommandRecord, DescribeAggregate, Error, ErrorKind,
    Event, EventBroadcaster, EventBus, EventFilter, EventKind, EventNames, EventStore,
    EventStoreExt, EventStream, ExpectedVersion, Metadata, Namespace, NewEvent, OffsetDateTime,
    Result, StoreHealth, StorePosition, Subscription, Uuid, Version, VersionConflict,
    DEFAULT_BUS_CAPACITY, MAX_ACTOR_ID_LEN, MAX_EVENT_TYPE_LEN, MAX_NAMESPACE_LEN,
};
/// Derives of the names, written once: `EventNames` and `CommandNames` on the event and
/// command enums (each name is the variant's serde name; `EventNames` also generates an
/// `<Enum>Kind` enum for typed filters), and `DescribeAggregate` on the aggregate with
/// its explicit `#[aether(type_name = "..")]`. See the `aether-macros` crate.
pub use aether_macros::{CommandNames, DescribeAggregate, EventNames};

/// The stream methods (`next`, `filter`, ...) for [`Subscription`]s and event streams, so
/// an app needs no `futures` dependency of its own.
pub use futures::{Stream, StreamExt};

/// The actor runtime: the crate behind [`ActorSystem`] and [`Aggregate`].
pub use aether_actor as actor;
pub use aether_actor::{
    testing, ActorStats, ActorSystem, ActorSystemBuilder, Actors, Aggregate, AggregateTest, Ask,
    AskError, AskErrorKind, AskFuture, AskResult,
};

#[cfg(feature = "mem")]
#[cfg_attr(docsrs, doc(cfg(feature = "mem")))]
pub use aether_store_mem::{self as mem, InMemoryEventStore};

#[cfg(feature = "jetstream")]
#[cfg_attr(docsrs, doc(cfg(feature = "jetstream")))]
pub use aether_store_jetstream::{self as jetstream, JetStreamEventStore};

/// EventStorming models of a domain: see the `aether-model` crate.
#[cfg(feature = "model")]
#[cfg_attr(docsrs, doc(cfg(feature = "model")))]
pub use aether_model as model;

/// What an app needs for its first actors, in one import: `use aether::prelude::*;`.
///
/// The runtime ([`ActorSystem`], [`Actors`], [`Aggregate`], [`AskError`]), the derives
/// and traits of names ([`EventNames`], [`CommandNames`], [`DescribeAggregate`],
/// [`EventKind`]), ids and filters ([`ActorId`], [`Namespace`], [`EventFilter`],
/// [`BusMessage`], [`Uuid`]), the embedded store with the default feature, serde's derives
/// (`Serialize`, `Deserialize`) and the stream methods (`StreamExt`, unnamed).
pub mod prelude {
    #[cfg(feature = "mem")]
    pub use crate::InMemoryEventStore;
    #[cfg(feature = "jetstream")]
    pub use crate::JetStreamEventStore;
    pub use crate::{
        ActorId, ActorSystem, Actors, Aggregate, AskError, AskErrorKind, BusMessage, CommandNames,
        DescribeAggregate, EventFilter, EventKind, EventNames, Namespace, Uuid,
    };
    pub use futures::StreamExt as _;
    pub use serde::{Deserialize, Serialize};
}

/// The README's Rust examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
