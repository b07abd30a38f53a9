//! Aether: a distributed actor system with event sourcing for Rust, powered by NATS.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use aether_core::*;

#[cfg(feature = "mem")]
#[cfg_attr(docsrs, doc(cfg(feature = "mem")))]
pub use aether_store_mem::{self as mem, InMemoryEventStore};
