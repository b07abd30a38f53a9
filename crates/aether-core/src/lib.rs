//! Core types and traits of Aether, a distributed actor system with event sourcing.
//!
//! This crate holds the contracts every other Aether crate is written against, and nothing
//! that talks to a network:
//!
//! * names: [`Namespace`] and [`ActorId`] (with a collision-free subject-token encoding);
//! * events: [`NewEvent`], [`Event`], [`Metadata`], [`ActorSnapshot`], versions and
//!   [`ExpectedVersion`];
//! * storage: the [`EventStore`] trait (atomic, optimistic, idempotent appends; ranged and
//!   streaming reads; snapshots) and [`EventStoreExt`];
//! * broadcasting: the [`EventBroadcaster`] trait and the in-process [`EventBus`];
//! * the [`DescribeAggregate`] trait by which aggregates describe themselves;
//! * one [`Error`] with a [`kind`](Error::kind), and MessagePack helpers in [`codec`].
//!
//! Most users depend on the `aether` facade instead, which re-exports all of this.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> aether_core::Result<()> {
//! use aether_core::{ActorId, EventBroadcaster, EventBus, EventFilter, Namespace, NewEvent, BusMessage};
//! use futures::StreamExt;
//! use std::sync::Arc;
//!
//! let ns = Namespace::new("bank")?;
//! let account = ActorId::new("account/42")?;
//! let bus = EventBus::new();
//! let mut deposits = bus.subscribe(&ns, EventFilter::all().event_type("Deposited")).await?;
//!
//! let new = NewEvent::encode("Deposited", &serde_json_like::Deposited { amount: 10 })?;
//! let stored = aether_core::Event::from_new(account, 1, new, time::OffsetDateTime::now_utc());
//! bus.publish(&ns, Arc::new(stored)).await?;
//!
//! if let Some(BusMessage::Event(e)) = deposits.next().await {
//!     let d: serde_json_like::Deposited = e.decode()?;
//!     assert_eq!(d.amount, 10);
//! }
//! # Ok(()) }
//! # mod serde_json_like { #[derive(serde::Serialize, serde::Deserialize)] pub struct Deposited { pub amount: u64 } }
//! ```

mod bus;
pub mod codec;
mod command;
mod describe;
mod error;
mod event;
mod health;
mod id;
mod ids;
pub mod names;
mod shard;
mod snapshot;
mod store;
pub mod support;
mod version;

pub use bus::{
    BusMessage, EventBroadcaster, EventBus, EventFilter, Subscription, DEFAULT_BUS_CAPACITY,
};
pub use describe::{AggregateDescription, DescribeAggregate};
pub use error::{BoxError, Error, ErrorKind, Result, VersionConflict};
pub use event::{CommandRecord, Event, Metadata, NewEvent, MAX_EVENT_TYPE_LEN};
pub use health::StoreHealth;
pub use id::{ActorId, Namespace, MAX_ACTOR_ID_LEN, MAX_NAMESPACE_LEN};
pub use ids::{id_millis, new_id, new_id_at};
pub use names::{CommandNames, EventKind, EventNames};
pub use snapshot::ActorSnapshot;
pub use store::{EventStore, EventStoreExt, EventStream};
pub use version::{Appended, ExpectedVersion, StorePosition, Version};

// Re-exported so implementers and users name the same versions.
pub use async_trait::async_trait;
pub use bytes::Bytes;
pub use time::OffsetDateTime;
pub use uuid::Uuid;
