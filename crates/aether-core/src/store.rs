//! The [`EventStore`] contract and its typed helpers ([`EventStoreExt`]).

use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};

use crate::error::Result;
use crate::event::{Event, NewEvent};
use crate::health::StoreHealth;
use crate::id::{ActorId, Namespace};
use crate::snapshot::ActorSnapshot;
use crate::version::{Appended, ExpectedVersion, Version};

/// A stream of stored events, in version order.
pub type EventStream = BoxStream<'static, Result<Event>>;

/// Durable, append-only storage of actor events and snapshots for one namespace.
///
/// Every implementation has the same semantics, proven by the conformance suite in
/// `aether-testkit`:
///
/// * **Atomic appends.** [`append`](EventStore::append) stores all its events or none.
///   Versions per actor start at 1 and are contiguous.
/// * **Optimistic concurrency.** `ExpectedVersion::Exact(v)` appends only if the actor is at
///   `v` (0 = no events yet); `ExpectedVersion::Any` is a compare-and-set loop, never a blind
///   write. A wrong expectation is [`Error::VersionConflict`](crate::Error::VersionConflict)
///   with the actual version, and nothing is stored.
/// * **Idempotency.** Re-sending the same event ids with `Exact(v)` (a retry after a lost
///   acknowledgement) returns the original result at any time ([`Appended::duplicate`] set),
///   checked by reading what is stored after `v`. The same ids with different content is
///   [`Error::InvalidInput`](crate::Error::InvalidInput). With `Any`, a re-sent append is
///   recognised within a window each store documents.
/// * **Reads** return events in version order with inclusive bounds; the streaming form keeps
///   memory bounded whatever the history's length.
///
/// The trait is object-safe (`Arc<dyn EventStore>`); typed helpers live in [`EventStoreExt`].
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// The namespace this handle stores events for.
    fn namespace(&self) -> &Namespace;

    /// Appends `events` to `actor` atomically if `expected` holds.
    ///
    /// # Errors
    /// `VersionConflict` when the expectation does not hold; `InvalidInput` for an empty
    /// batch, an oversized event or append, or re-sent ids with different content;
    /// `Unavailable`/`Timeout`/`Backend` from the backend (the outcome may then be unknown:
    /// retry with the same event ids).
    async fn append(
        &self,
        actor: &ActorId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<Appended>;

    /// Appends like [`append`](EventStore::append) and also returns the events as stored
    /// (identical to what a read returns: actor, version, timestamp, metadata), shared so
    /// that they can be broadcast and handed to hooks without copying.
    ///
    /// The default keeps a copy of `events`, appends, and builds the stored events from the
    /// copy and [`Appended::timestamp`]; when the store does not report the timestamp it
    /// reads them back instead. A store that keeps its events shared can hand them out
    /// directly.
    ///
    /// # Errors
    /// What [`append`](EventStore::append) returns, and for the read-back what
    /// [`read`](EventStore::read) returns.
    async fn append_shared(
        &self,
        actor: &ActorId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<(Appended, Vec<Arc<Event>>)> {
        let copy = events.clone();
        let appended = self.append(actor, expected, events).await?;
        let stored = match appended.timestamp {
            Some(timestamp) => copy
                .into_iter()
                .zip(appended.first_version..)
                .map(|(e, v)| Arc::new(Event::from_new(actor.clone(), v, e, timestamp)))
                .collect(),
            None => self
                .read(actor, appended.first_version, appended.version, copy.len())
                .await?
                .into_iter()
                .map(Arc::new)
                .collect(),
        };
        Ok((appended, stored))
    }

    /// Reads the events of `actor` with `from <= version <= to`, at most `max` of them, in
    /// version order.
    ///
    /// `from` 0 reads from the first event; `to` is inclusive (`Version::MAX` for "to the
    /// end"); `from > to` or `max == 0` gives an empty list. For long histories prefer
    /// [`read_stream`](EventStore::read_stream).
    async fn read(
        &self,
        actor: &ActorId,
        from: Version,
        to: Version,
        max: usize,
    ) -> Result<Vec<Event>>;

    /// Streams the events of `actor` with `from <= version <= to` in version order, holding
    /// only a bounded number of them in memory at a time.
    fn read_stream(&self, actor: &ActorId, from: Version, to: Version) -> EventStream;

    /// Streams the events after `snapshot` (versions `snapshot.version + 1 ..`), using the
    /// snapshot's store position to start right after it where the store can.
    fn read_after_snapshot(&self, snapshot: &ActorSnapshot) -> EventStream {
        self.read_stream(
            &snapshot.actor_id,
            snapshot.version.saturating_add(1),
            Version::MAX,
        )
    }

    /// The actor's latest version: 0 for an actor that has no events.
    async fn latest_version(&self, actor: &ActorId) -> Result<Version>;

    /// Saves a snapshot. A snapshot at the same version as a retained one replaces it.
    /// Each store documents how many snapshots per actor it retains (the newest ones).
    ///
    /// # Errors
    /// `InvalidInput` when the snapshot is at version 0 or beyond the actor's latest version.
    async fn save_snapshot(&self, snapshot: ActorSnapshot) -> Result<()>;

    /// Loads the newest retained snapshot of `actor`, or with `at_or_below = Some(v)` the
    /// newest retained one whose version is `<= v`.
    async fn load_snapshot(
        &self,
        actor: &ActorId,
        at_or_below: Option<Version>,
    ) -> Result<Option<ActorSnapshot>>;

    /// Whether the store reaches its server, since when, the last error and the appends
    /// waiting for an answer. A store without a server (the default) is always connected.
    fn health(&self) -> StoreHealth {
        StoreHealth::embedded()
    }
}

#[async_trait]
impl<S: EventStore + ?Sized> EventStore for Arc<S> {
    fn namespace(&self) -> &Namespace {
        (**self).namespace()
    }
    async fn append(
        &self,
        actor: &ActorId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<Appended> {
        (**self).append(actor, expected, events).await
    }
    async fn append_shared(
        &self,
        actor: &ActorId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<(Appended, Vec<Arc<Event>>)> {
        (**self).append_shared(actor, expected, events).await
    }
    async fn read(
        &self,
        actor: &ActorId,
        from: Version,
        to: Version,
        max: usize,
    ) -> Result<Vec<Event>> {
        (**self).read(actor, from, to, max).await
    }
    fn read_stream(&self, actor: &ActorId, from: Version, to: Version) -> EventStream {
        (**self).read_stream(actor, from, to)
    }
    fn read_after_snapshot(&self, snapshot: &ActorSnapshot) -> EventStream {
        (**self).read_after_snapshot(snapshot)
    }
    async fn latest_version(&self, actor: &ActorId) -> Result<Version> {
        (**self).latest_version(actor).await
    }
    async fn save_snapshot(&self, snapshot: ActorSnapshot) -> Result<()> {
        (**self).save_snapshot(snapshot).await
    }
    async fn load_snapshot(
        &self,
        actor: &ActorId,
        at_or_below: Option<Version>,
    ) -> Result<Option<ActorSnapshot>> {
        (**self).load_snapshot(actor, at_or_below).await
    }
    fn health(&self) -> StoreHealth {
        (**self).health()
    }
}

/// Convenience helpers over any [`EventStore`].
#[async_trait]
pub trait EventStoreExt: EventStore {
    /// Appends one event.
    async fn append_one(
        &self,
        actor: &ActorId,
        expected: ExpectedVersion,
        event: NewEvent,
    ) -> Result<Appended> {
        self.append(actor, expected, vec![event]).await
    }

    /// Reads the whole history of `actor` into memory.
    async fn read_all(&self, actor: &ActorId) -> Result<Vec<Event>> {
        self.read_stream(actor, 1, Version::MAX).try_collect().await
    }

    /// Counts the events of `actor` by streaming them (bounded memory).
    async fn count_events(&self, actor: &ActorId) -> Result<u64> {
        let mut stream = self.read_stream(actor, 1, Version::MAX);
        let mut n = 0u64;
        while let Some(e) = stream.next().await {
            e?;
            n += 1;
        }
        Ok(n)
    }
}

impl<S: EventStore + ?Sized> EventStoreExt for S {}
