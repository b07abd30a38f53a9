//! Test helpers for Aether (not published).
//!
//! * [`conformance`]: the `EventStore` conformance suite every store must pass, generated
//!   as one named test per case by [`event_store_conformance!`];
//! * [`alloc`]: a counting allocator for peak-heap measurements, installed by
//!   [`counting_allocator!`];
//! * real nats-server processes (single, restartable, 3-node cluster) for server-backed tests,
//!   with user/password, token, NKey or operator-mode ([`jwt`]) authentication, or TLS.
//!
//! A store's test file runs the whole suite with one macro call; the factory opens a
//! handle on a namespace (two calls with one namespace share the data):
//!
//! ```no_run
//! use std::sync::Arc;
//! use aether_core::{EventStore, Namespace};
//!
//! async fn open(ns: Namespace) -> aether_core::Result<Arc<dyn EventStore>> {
//!     my_store::connect(ns).await
//! }
//! # mod my_store {
//! #     pub async fn connect(
//! #         _: aether_core::Namespace,
//! #     ) -> aether_core::Result<std::sync::Arc<dyn aether_core::EventStore>> {
//! #         Err(aether_core::Error::not_found("a store of your own"))
//! #     }
//! # }
//!
//! aether_testkit::event_store_conformance! {
//!     factory = open,
//!     big_replay_events = aether_testkit::conformance::BIG_REPLAY_EVENTS,
//! }
//! ```
//!
//! `crates/aether-store-mem/tests/conformance.rs` is a complete, runnable example.

pub mod alloc;
pub mod conformance;
pub mod jwt;
mod retry;

pub mod server;

pub use retry::retry_while_transient;
pub use server::{Auth, NatsCluster, NatsServer, NatsServerBuilder, SubscriptionInfo};
