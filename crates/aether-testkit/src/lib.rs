//! Test helpers for Aether (not published).
//!
//! * the `EventStore` conformance suite every store must pass;
//! * a counting allocator for peak-heap measurements;
//! * real nats-server processes (single, restartable, 3-node cluster) for server-backed tests.

pub mod server;

pub use server::{Auth, NatsCluster, NatsServer, NatsServerBuilder};
