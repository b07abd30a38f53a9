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
//! The default feature runs everything embedded, in process, with no server:
//!
//! ```
//! use aether::{ActorId, ActorSystem, Aggregate, DescribeAggregate, InMemoryEventStore, Namespace};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Default)]
//! struct Counter;
//!
//! #[derive(Debug, Serialize, Deserialize)]
//! enum Command { Add(u64) }
//! #[derive(Serialize, Deserialize)]
//! enum Event { Added(u64) }
//!
//! impl DescribeAggregate for Counter {
//!     const TYPE_NAME: &'static str = "Counter";
//!     fn command_names() -> &'static [&'static str] { &["Add"] }
//!     fn event_names() -> &'static [&'static str] { &["Added"] }
//! }
//!
//! impl Aggregate for Counter {
//!     type Command = Command;
//!     type Event = Event;
//!     type State = u64;
//!     type Reply = u64;
//!     type Error = String;
//!
//!     fn event_type(_: &Event) -> &'static str { "Added" }
//!     fn decide(&self, total: &u64, Command::Add(n): &Command) -> Result<(Vec<Event>, u64), String> {
//!         let new = total.checked_add(*n).ok_or("overflow")?;
//!         Ok((vec![Event::Added(*n)], new))
//!     }
//!     fn apply(total: &mut u64, Event::Added(n): &Event) { *total += n }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> anyhow::Result<()> {
//! let system = ActorSystem::builder()
//!     .store(InMemoryEventStore::new(Namespace::new("demo")?))
//!     .build()?;
//! let counters = system.actors::<Counter>();
//! let id = ActorId::new("counter-1")?;
//! assert_eq!(counters.ask(&id, Command::Add(2)).await?, Ok(2));
//! assert_eq!(counters.ask(&id, Command::Add(40)).await?, Ok(42));
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
// store implementers stay in `support`, under their own name.
pub use aether_core::{
    async_trait, codec, new_id, new_id_at, ActorId, ActorSnapshot, AggregateDescription, Appended,
    BoxError, BusMessage, Bytes, CommandRecord, DescribeAggregate, Error, ErrorKind, Event,
    EventBroadcaster, EventBus, EventFilter, EventStore, EventStoreExt, EventStream,
    ExpectedVersion, Metadata, Namespace, NewEvent, OffsetDateTime, Result, StoreHealth,
    StorePosition, Subscription, Uuid, Version, VersionConflict, DEFAULT_BUS_CAPACITY,
    MAX_ACTOR_ID_LEN, MAX_EVENT_TYPE_LEN, MAX_NAMESPACE_LEN,
};

/// Helpers for implementers of Aether's contracts (an event store, a broadcaster): the
/// retry policy, poison-ignoring locks, command-record lookups, subject tokens. See
/// [`aether_core::support`].
pub use aether_core::support;

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
