//! NATS JetStream [`EventStore`] for Aether: the production store.
//!
//! [`JetStreamEventStore`] keeps one namespace's events in a JetStream stream
//! (`AETHER_EV_<ns>`, one subject per actor) and its snapshots in another
//! (`AETHER_SN_<ns>`), with the same semantics as the in-memory store:
//!
//! * **one message per append**: the 1..n events of an append are one stored record, so a
//!   multi-event append is atomic on any server version at the cost of one message;
//! * **optimistic concurrency** with `Nats-Expected-Last-Subject-Sequence`, fed by a
//!   per-actor (version, sequence) cache so an append is one round trip; `Any` is a
//!   compare-and-set loop; conflicts come back as a typed
//!   [`VersionConflict`](aether_core::VersionConflict) with the actual version;
//! * **idempotent retries**: an `Exact` retry is recognised at any time by reading back
//!   what is stored after the expected version; an `Any` retry within the stream's
//!   duplicate window;
//! * **reads** by batch direct get (one round trip for short ranges) and an ordered
//!   consumer for long histories, with bounded memory; reads that must see the handle's own
//!   writes are checked against what it knows and go to the stream leader when a replica
//!   lags;
//! * **records** in MessagePack, format 2 by default (aggregate type, command records),
//!   format 1 (what earlier versions read) on request for a rolling upgrade
//!   ([`JetStreamStoreOptions::record_format`]); both are read. Timestamps never go
//!   backwards along an actor's history;
//! * **snapshots** in their own stream, the newest few retained, large ones in chunks;
//! * **safe streams**: `discard: New`, explicit limits, `deny_delete`, `deny_purge`, created
//!   or verified at open; a registry entry tells a first open from a stream that vanished,
//!   which is an error, never an empty stream recreated;
//! * a **server capability check** at open;
//! * **read-only inspection** for operators' tools: [`JetStreamEventStore::open_existing`]
//!   (opens without creating anything), [`JetStreamEventStore::namespaces`],
//!   [`actors`](JetStreamEventStore::actors) in pages or as one
//!   [`actors_stream`](JetStreamEventStore::actors_stream),
//!   [`snapshot_heads`](JetStreamEventStore::snapshot_heads), a
//!   [`scan`](JetStreamEventStore::scan) of every stored record and a
//!   [`tail`](JetStreamEventStore::tail) of new ones;
//! * **acknowledgements**: a handle with few appends in flight publishes through
//!   async-nats's JetStream publish (lowest latency); a busy one through one reply
//!   subscription of its own, read by a task on the runtime that opened it, with no timer
//!   per publish (less CPU per append).
//!
//! See `docs/jetstream.md` for the subject layout, the record format, how appends are
//! acknowledged and the retry policy.
//!
//! ```no_run
//! # #[tokio::main] async fn main() -> aether_core::Result<()> {
//! use aether_core::{ActorId, EventStore, ExpectedVersion, Namespace, NewEvent};
//! use aether_store_jetstream::{JetStreamEventStore, JetStreamStoreOptions};
//!
//! let store = JetStreamEventStore::connect(
//!     "nats://127.0.0.1:4222",
//!     Namespace::new("bank")?,
//!     JetStreamStoreOptions::new(),
//! )
//! .await?;
//! let acc = ActorId::new("acc-alice")?;
//! let appended = store
//!     .append(&acc, ExpectedVersion::Exact(0), vec![NewEvent::new("AccountOpened", vec![])])
//!     .await?;
//! assert_eq!(appended.version, 1);
//! assert_eq!(store.latest_version(&acc).await?, 1);
//! # Ok(()) }
//! ```
//!
//! Most users reach this crate through the `aether` facade with the `jetstream` feature.

mod acks;
mod append;
mod cache;
mod direct;
mod errors;
mod health;
mod inspect;
mod leader;
mod names;
mod open;
mod options;
mod prefetch;
mod publish;
mod read;
mod record;
mod retry;
mod snapshot;

use std::sync::Arc;

use aether_core::{
    async_trait, ActorId, ActorSnapshot, Appended, Event, EventStore, EventStream, ExpectedVersion,
    Namespace, NewEvent, Result, Version,
};
use async_nats::jetstream;

pub use health::ConnectionWatch;
pub use inspect::{
    ActorCursor, ActorPage, ActorSummary, NamespaceInfo, ScannedRecord, SnapshotHead, StreamStats,
};
pub use open::check_server_capabilities;
pub use options::{ConnectionOptions, JetStreamStoreOptions, Storage};

/// The async-nats crate this store is built on, so callers name the same `Client` type.
pub use async_nats;

use cache::TailCache;
use names::Names;

/// An [`EventStore`] on NATS JetStream, for one namespace.
///
/// Cloning is cheap; clones share the connection, the streams and the per-actor cache.
/// Open one handle per namespace with [`connect`](Self::connect), or several on one
/// connection with [`open`](Self::open).
#[derive(Clone)]
pub struct JetStreamEventStore {
    inner: Arc<Inner>,
}

struct Inner {
    namespace: Namespace,
    options: JetStreamStoreOptions,
    client: async_nats::Client,
    js: jetstream::Context,
    events: jetstream::stream::Stream<()>,
    snapshots: jetstream::stream::Stream<()>,
    names: Names,
    cache: TailCache,
    /// Snapshot positions seen and the pages read after them while a snapshot loads.
    prefetch: prefetch::Prefetch,
    /// Where appends are acknowledged (one reply subscription for the handle).
    acks: acks::Acks,
    /// Room that consecutive append records are encoded into (they share allocations).
    arena: std::sync::Mutex<bytes::BytesMut>,
    /// The largest message the server accepts (headers included).
    max_payload: usize,
    /// Whether a read may trust a replica without first asking the leader.
    replica_reads: bool,
    /// The connection's health (see `health`).
    health: Arc<health::Health>,
}

impl std::fmt::Debug for JetStreamEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamEventStore")
            .field("namespace", &self.inner.namespace)
            .field("events_stream", &self.inner.names.events_stream)
            .field("replicas", &self.inner.options.replicas)
            .finish_non_exhaustive()
    }
}

impl JetStreamEventStore {
    /// The NATS client this handle uses.
    pub fn client(&self) -> &async_nats::Client {
        &self.inner.client
    }

    /// The name of the stream holding this namespace's events (`AETHER_EV_<ns>`).
    pub fn events_stream(&self) -> &str {
        &self.inner.names.events_stream
    }

    /// The name of the stream holding this namespace's snapshots (`AETHER_SN_<ns>`).
    pub fn snapshots_stream(&self) -> &str {
        &self.inner.names.snapshots_stream
    }

    /// The largest append accepted, in bytes of its stored record: the server's maximum
    /// message size less room for headers.
    pub fn max_append_bytes(&self) -> usize {
        self.inner.max_payload.saturating_sub(append::HEADER_ROOM)
    }
}

#[async_trait]
impl EventStore for JetStreamEventStore {
    fn namespace(&self) -> &Namespace {
        &self.inner.namespace
    }

    async fn append(
        &self,
        actor: &ActorId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<Appended> {
        self.append_impl(actor, expected, events).await
    }

    async fn read(
        &self,
        actor: &ActorId,
        from: Version,
        to: Version,
        max: usize,
    ) -> Result<Vec<Event>> {
        self.read_impl(actor, from, to, max).await
    }

    fn read_stream(&self, actor: &ActorId, from: Version, to: Version) -> EventStream {
        self.stream_impl(actor.clone(), from, to, 0)
    }

    fn read_after_snapshot(&self, snapshot: &ActorSnapshot) -> EventStream {
        self.stream_impl(
            snapshot.actor_id.clone(),
            snapshot.version.saturating_add(1),
            Version::MAX,
            snapshot.position.0,
        )
    }

    async fn latest_version(&self, actor: &ActorId) -> Result<Version> {
        self.latest_version_impl(actor).await
    }

    async fn save_snapshot(&self, snapshot: ActorSnapshot) -> Result<()> {
        self.save_snapshot_impl(snapshot).await
    }

    async fn load_snapshot(
        &self,
        actor: &ActorId,
        at_or_below: Option<Version>,
    ) -> Result<Option<ActorSnapshot>> {
        self.load_snapshot_impl(actor, at_or_below).await
    }

    fn health(&self) -> aether_core::StoreHealth {
        self.inner.health.report(self.inner.acks.in_flight())
    }
}
