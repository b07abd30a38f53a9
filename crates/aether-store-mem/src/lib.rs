//! In-memory [`EventStore`] for Aether: the embedded default, and the reference for the
//! semantics every store shares.
//!
//! [`InMemoryEventStore`] keeps events and snapshots in process memory with exactly the
//! semantics of the JetStream store: atomic multi-event appends, optimistic concurrency
//! (`Exact` and a compare-and-set `Any`), idempotent retries, inclusive ranged reads and
//! bounded-memory streaming reads, and snapshots with retention. Actors are spread over
//! independently locked shards and each actor has its own lock, so writers to different
//! actors never wait for each other and no lock is held across an `.await`.
//! Events are kept compactly (their version is their position, their actor the log's, and
//! the type and header names are shared within an actor's log) and rebuilt on reads; an
//! append can hand back the stored events themselves ([`EventStore::append_shared`]).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> aether_core::Result<()> {
//! use aether_core::{ActorId, EventStore, ExpectedVersion, Namespace, NewEvent};
//! use aether_store_mem::InMemoryEventStore;
//!
//! let store = InMemoryEventStore::new(Namespace::new("bank")?);
//! let acc = ActorId::new("acc-1")?;
//! let first = store
//!     .append(&acc, ExpectedVersion::Exact(0), vec![NewEvent::new("Opened", vec![])])
//!     .await?;
//! assert_eq!(first.version, 1);
//! // A second writer that still believes the actor is new gets a typed conflict.
//! let err = store
//!     .append(&acc, ExpectedVersion::Exact(0), vec![NewEvent::new("Opened", vec![])])
//!     .await
//!     .unwrap_err();
//! assert_eq!(err.as_conflict().unwrap().actual, 1);
//! assert_eq!(store.read(&acc, 1, u64::MAX, 100).await?.len(), 1);
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use aether_core::support::{lock, read, write};
use aether_core::{
    async_trait, ActorId, ActorSnapshot, Appended, Error, Event, EventStore, EventStream,
    ExpectedVersion, Namespace, NewEvent, OffsetDateTime, Result, StorePosition, Version,
};
use futures::stream::{self, StreamExt};

/// Options of an [`InMemoryEventStore`]. The defaults match the JetStream store's limits.
#[derive(Debug, Clone)]
pub struct InMemoryStoreOptions {
    max_event_bytes: usize,
    max_append_bytes: usize,
    snapshots_retained: usize,
    any_dedup_window: usize,
    read_page: usize,
}

impl Default for InMemoryStoreOptions {
    fn default() -> Self {
        InMemoryStoreOptions {
            max_event_bytes: 1024 * 1024,
            max_append_bytes: 1024 * 1024,
            snapshots_retained: 3,
            any_dedup_window: 1000,
            read_page: 256,
        }
    }
}

impl InMemoryStoreOptions {
    /// The default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// The largest event accepted, in bytes (default 1 MiB, NATS's default max payload).
    ///
    /// ```
    /// let o = aether_store_mem::InMemoryStoreOptions::new().max_event_bytes(64 * 1024);
    /// ```
    pub fn max_event_bytes(mut self, bytes: usize) -> Self {
        self.max_event_bytes = bytes;
        self
    }

    /// The largest append accepted, all its events together (default 1 MiB, because the
    /// JetStream store keeps one append in one message).
    ///
    /// ```
    /// let o = aether_store_mem::InMemoryStoreOptions::new().max_append_bytes(4 << 20);
    /// ```
    pub fn max_append_bytes(mut self, bytes: usize) -> Self {
        self.max_append_bytes = bytes;
        self
    }

    /// How many of an actor's newest snapshots are kept (default 3, at least 1).
    ///
    /// ```
    /// let o = aether_store_mem::InMemoryStoreOptions::new().snapshots_retained(5);
    /// ```
    pub fn snapshots_retained(mut self, n: usize) -> Self {
        self.snapshots_retained = n.max(1);
        self
    }

    /// With `ExpectedVersion::Any`, a re-sent append is recognised if its first event is
    /// among the actor's last `n` events (default 1,000).
    ///
    /// ```
    /// let o = aether_store_mem::InMemoryStoreOptions::new().any_dedup_window(10_000);
    /// ```
    pub fn any_dedup_window(mut self, n: usize) -> Self {
        self.any_dedup_window = n;
        self
    }

    /// How many events a streaming read copies per step (default 256, at least 1); bounds
    /// the memory of [`EventStore::read_stream`].
    ///
    /// ```
    /// let o = aether_store_mem::InMemoryStoreOptions::new().read_page(1024);
    /// ```
    pub fn read_page(mut self, n: usize) -> Self {
        self.read_page = n.max(1);
        self
    }
}

const SHARDS: usize = 64;

/// One stored event, compactly: its version is its position in the log, its actor the
/// log's, and its type and header names are shared by all the events of the log that use
/// them. (An [`Event`] with a header costs about three times as much memory, most of it the
/// header map's node.) Reads rebuild the [`Event`].
struct Stored {
    id: aether_core::Uuid,
    event_type: Arc<str>,
    data: aether_core::Bytes,
    correlation_id: Option<aether_core::Uuid>,
    causation_id: Option<aether_core::Uuid>,
    /// Sorted by name, as in [`Metadata::headers`](aether_core::Metadata::headers).
    headers: Box<[(Arc<str>, Box<str>)]>,
    timestamp: OffsetDateTime,
    /// Shared with the log's other events through [`ActorLog::name`].
    aggregate_type: Option<Arc<str>>,
    command: Option<Arc<aether_core::CommandRecord>>,
}

#[derive(Default)]
struct ActorLog {
    events: Vec<Stored>,
    /// The event types and header names used by the events, each stored once.
    names: Vec<Arc<str>>,
    snapshots: BTreeMap<Version, ActorSnapshot>,
}

/// The most distinct names an actor's log shares; further ones are stored with each event.
const MAX_SHARED_NAMES: usize = 64;

impl ActorLog {
    /// The shared copy of `name`.
    fn name(&mut self, name: &str) -> Arc<str> {
        if let Some(n) = self.names.iter().find(|n| ***n == *name) {
            return n.clone();
        }
        let n: Arc<str> = Arc::from(name);
        if self.names.len() < MAX_SHARED_NAMES {
            self.names.push(n.clone());
        }
        n
    }

    /// The compact form of `e`, stamped `timestamp`.
    fn compact(&mut self, e: &NewEvent, timestamp: OffsetDateTime) -> Stored {
        // A `Bytes` made from a `Vec` allocates its shared header on its first clone and
        // keeps it. Taking that clone here makes every later read a plain reference-count
        // increment, so replays never grow the store's memory.
        let data = e.data.clone();
        Stored {
            id: e.id,
            event_type: self.name(&e.event_type),
            data,
            correlation_id: e.metadata.correlation_id,
            causation_id: e.metadata.causation_id,
            headers: e
                .metadata
                .headers
                .iter()
                .map(|(k, v)| (self.name(k), Box::from(v.as_str())))
                .collect(),
            timestamp,
            aggregate_type: e.aggregate_type.as_deref().map(|t| self.name(t)),
            command: e.command.clone(),
        }
    }

    /// The event at `index` (version `index + 1`) as stored.
    fn event(&self, actor: &ActorId, index: usize) -> Event {
        let s = &self.events[index];
        let mut metadata = aether_core::Metadata::new();
        metadata.correlation_id = s.correlation_id;
        metadata.causation_id = s.causation_id;
        metadata.headers = s
            .headers
            .iter()
            .map(|(k, v)| (String::from(&**k), String::from(&**v)))
            .collect();
        let mut new = NewEvent::new(String::from(&*s.event_type), s.data.clone())
            .with_id(s.id)
            .with_metadata(metadata);
        new.aggregate_type = s.aggregate_type.clone();
        new.command = s.command.clone();
        Event::from_new(actor.clone(), index as Version + 1, new, s.timestamp)
    }

    /// The time to stamp an append with: now, or the previous event's time if the clock
    /// went back, so timestamps never go backwards along the actor's history.
    fn stamp(&self) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc();
        self.events
            .last()
            .map_or(now, |last| last.timestamp.max(now))
    }
}

impl Stored {
    /// Whether `new` has the same content (id, type, payload, metadata).
    fn same_content(&self, new: &NewEvent) -> bool {
        self.id == new.id
            && *self.event_type == *new.event_type
            && self.data == new.data
            && self.correlation_id == new.metadata.correlation_id
            && self.causation_id == new.metadata.causation_id
            && self.headers.len() == new.metadata.headers.len()
            && self
                .headers
                .iter()
                .zip(&new.metadata.headers)
                .all(|((k, v), (nk, nv))| **k == **nk && **v == **nv)
            && self.aggregate_type.as_deref() == new.aggregate_type.as_deref()
            && self.command == new.command
    }
}

type Shard = RwLock<HashMap<ActorId, Arc<Mutex<ActorLog>>>>;

struct Inner {
    namespace: Namespace,
    options: InMemoryStoreOptions,
    shard_seed: u64,
    shards: Box<[Shard]>,
}

/// An [`EventStore`] in process memory. Cloning is cheap; clones share the same data.
///
/// Retention and windows: the newest [`snapshots_retained`](InMemoryStoreOptions::snapshots_retained)
/// snapshots per actor are kept; `Any` appends are de-duplicated within the last
/// [`any_dedup_window`](InMemoryStoreOptions::any_dedup_window) events; `Exact` retries are
/// recognised at any time.
#[derive(Clone)]
pub struct InMemoryEventStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for InMemoryEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemoryEventStore")
            .field("namespace", &self.inner.namespace)
            .finish_non_exhaustive()
    }
}

impl InMemoryEventStore {
    /// An empty store for `namespace` with default options.
    pub fn new(namespace: Namespace) -> Self {
        Self::with_options(namespace, InMemoryStoreOptions::default())
    }

    /// An empty store for `namespace` with `options`.
    pub fn with_options(namespace: Namespace, options: InMemoryStoreOptions) -> Self {
        let shards = (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect();
        InMemoryEventStore {
            inner: Arc::new(Inner {
                namespace,
                options,
                shard_seed: aether_core::support::shard_seed(),
                shards,
            }),
        }
    }

    fn shard(&self, actor: &ActorId) -> &Shard {
        &self.inner.shards
            [aether_core::support::shard_index(self.inner.shard_seed, actor.as_str(), SHARDS)]
    }

    fn get(&self, actor: &ActorId) -> Option<Arc<Mutex<ActorLog>>> {
        read(self.shard(actor)).get(actor).cloned()
    }

    /// The log of `actor`, made now unless another append made it meanwhile.
    fn create(&self, actor: &ActorId) -> Arc<Mutex<ActorLog>> {
        write(self.shard(actor))
            .entry(actor.clone())
            .or_default()
            .clone()
    }

    fn check_batch(&self, events: &[NewEvent]) -> Result<()> {
        let total = NewEvent::validate_append(events, self.inner.options.max_event_bytes)?;
        if total > self.inner.options.max_append_bytes {
            return Err(Error::invalid(
                "append",
                format!(
                    "{} events of {total} bytes in all are over the append limit of {} bytes",
                    events.len(),
                    self.inner.options.max_append_bytes
                ),
            ));
        }
        Ok(())
    }
    /// Appends `events`; with `share`, also returns the stored events (the new ones, or for
    /// an idempotent retry the ones stored originally).
    fn append_inner(
        &self,
        actor: &ActorId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        share: bool,
    ) -> Result<(Appended, Vec<Arc<Event>>)> {
        self.check_batch(&events)?;
        let log = match (self.get(actor), expected) {
            (Some(log), _) => log,
            // Refused before a log is made for it: conflicts naming ever new actors must
            // not grow the store.
            (None, ExpectedVersion::Exact(v)) if v != 0 => {
                return Err(Error::conflict(actor.clone(), expected, 0));
            }
            (None, _) => self.create(actor),
        };
        let mut log = lock(&log);
        let current = log.events.len() as Version;
        let shared = |log: &ActorLog, a: &Appended| -> Vec<Arc<Event>> {
            if share {
                ((a.first_version - 1) as usize..a.version as usize)
                    .map(|i| Arc::new(log.event(actor, i)))
                    .collect()
            } else {
                Vec::new()
            }
        };
        match expected {
            ExpectedVersion::Exact(v) if v != current => {
                if v < current {
                    if let Some(dup) = stored_duplicate(&log, actor, v + 1, &events)? {
                        return Ok((dup, shared(&log, &dup)));
                    }
                }
                return Err(Error::conflict(actor.clone(), expected, current));
            }
            ExpectedVersion::Exact(_) => {}
            ExpectedVersion::Any => {
                let window = self.inner.options.any_dedup_window.min(log.events.len());
                let tail = &log.events[log.events.len() - window..];
                if let Some(pos) = tail.iter().position(|e| e.id == events[0].id) {
                    let first = (log.events.len() - window + pos) as Version + 1;
                    if let Some(dup) = stored_duplicate(&log, actor, first, &events)? {
                        return Ok((dup, shared(&log, &dup)));
                    }
                }
            }
        }
        let now = log.stamp();
        let first = current + 1;
        log.events.reserve(events.len());
        let mut out = Vec::with_capacity(if share { events.len() } else { 0 });
        for (i, e) in events.into_iter().enumerate() {
            let stored = log.compact(&e, now);
            log.events.push(stored);
            if share {
                // The appended events themselves become the shared stored form.
                out.push(Arc::new(Event::from_new(
                    actor.clone(),
                    first + i as u64,
                    e,
                    now,
                )));
            }
        }
        let version = log.events.len() as Version;
        let appended = Appended::new(first, version, StorePosition(version), Some(now));
        Ok((appended, out))
    }
}

/// If `events` were already stored starting at `first` (a version), the result of that
/// append; an error when the ids are there with other content; `None` when they are not.
fn stored_duplicate(
    log: &ActorLog,
    actor: &ActorId,
    first: Version,
    events: &[NewEvent],
) -> Result<Option<Appended>> {
    let start = (first - 1) as usize;
    let Some(stored_first) = log.events.get(start) else {
        return Ok(None);
    };
    if stored_first.id != events[0].id {
        return Ok(None);
    }
    let stored = &log.events[start..log.events.len().min(start + events.len())];
    let same =
        stored.len() == events.len() && events.iter().zip(stored).all(|(n, s)| s.same_content(n));
    if !same {
        return Err(Error::invalid(
            "append",
            format!(
                "event id {} is already stored at version {first} of {} with different content \
                 (or as part of a different append)",
                events[0].id, actor
            ),
        ));
    }
    let last = first + events.len() as u64 - 1;
    let appended = Appended::new(
        first,
        last,
        StorePosition(last),
        Some(stored_first.timestamp),
    );
    Ok(Some(appended.as_duplicate()))
}

#[async_trait]
impl EventStore for InMemoryEventStore {
    fn namespace(&self) -> &Namespace {
        &self.inner.namespace
    }

    async fn append(
        &self,
        actor: &ActorId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<Appended> {
        self.append_inner(actor, expected, events, false)
            .map(|(appended, _)| appended)
    }

    async fn append_shared(
        &self,
        actor: &ActorId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<(Appended, Vec<Arc<Event>>)> {
        self.append_inner(actor, expected, events, true)
    }

    async fn read(
        &self,
        actor: &ActorId,
        from: Version,
        to: Version,
        max: usize,
    ) -> Result<Vec<Event>> {
        let from = from.max(1);
        if from > to || max == 0 {
            return Ok(Vec::new());
        }
        let Some(log) = self.get(actor) else {
            return Ok(Vec::new());
        };
        let log = lock(&log);
        Ok(range(log.events.len(), from, to, max)
            .map(|i| log.event(actor, i))
            .collect())
    }

    fn read_stream(&self, actor: &ActorId, from: Version, to: Version) -> EventStream {
        let page = self.inner.options.read_page;
        let store = self.clone();
        let actor = actor.clone();
        let from = from.max(1);
        stream::unfold(Some(from), move |next| {
            let store = store.clone();
            let actor = actor.clone();
            async move {
                let next = next?;
                if next > to {
                    return None;
                }
                let batch = match store.read(&actor, next, to, page).await {
                    Ok(b) => b,
                    Err(e) => return Some((vec![Err(e)], None)),
                };
                let after = batch.last().map(|e| e.version + 1);
                if batch.is_empty() {
                    return None;
                }
                let cont = if batch.len() < page { None } else { after };
                Some((batch.into_iter().map(Ok).collect::<Vec<_>>(), cont))
            }
        })
        .flat_map(stream::iter)
        .boxed()
    }

    async fn latest_version(&self, actor: &ActorId) -> Result<Version> {
        Ok(self
            .get(actor)
            .map(|log| lock(&log).events.len() as Version)
            .unwrap_or(0))
    }

    async fn save_snapshot(&self, mut snapshot: ActorSnapshot) -> Result<()> {
        if snapshot.version == 0 {
            return Err(Error::invalid(
                "snapshot",
                "a snapshot at version 0 holds no events",
            ));
        }
        let Some(log) = self.get(&snapshot.actor_id) else {
            return Err(Error::invalid(
                "snapshot",
                format!(
                    "actor {} has no events; cannot snapshot version {}",
                    snapshot.actor_id, snapshot.version
                ),
            ));
        };
        let mut log = lock(&log);
        let latest = log.events.len() as Version;
        if snapshot.version > latest {
            return Err(Error::invalid(
                "snapshot",
                format!(
                    "snapshot of {} at version {} is beyond its latest version {latest}",
                    snapshot.actor_id, snapshot.version
                ),
            ));
        }
        snapshot.position = StorePosition(snapshot.version);
        // A snapshot below the newest retained one could never be the newest: not kept, as
        // in every store (so "newest" is always the highest version).
        if log
            .snapshots
            .last_key_value()
            .is_some_and(|(newest, _)| *newest > snapshot.version)
        {
            return Ok(());
        }
        log.snapshots.insert(snapshot.version, snapshot);
        while log.snapshots.len() > self.inner.options.snapshots_retained {
            log.snapshots.pop_first();
        }
        Ok(())
    }

    async fn load_snapshot(
        &self,
        actor: &ActorId,
        at_or_below: Option<Version>,
    ) -> Result<Option<ActorSnapshot>> {
        let Some(log) = self.get(actor) else {
            return Ok(None);
        };
        let log = lock(&log);
        let found = match at_or_below {
            None => log.snapshots.values().next_back(),
            Some(v) => log.snapshots.range(..=v).next_back().map(|(_, s)| s),
        };
        Ok(found.cloned())
    }
}

/// The indexes of the events with `from <= version <= to`, at most `max` of them, in a log
/// of `len` events (`from` is at least 1).
fn range(len: usize, from: Version, to: Version, max: usize) -> std::ops::Range<usize> {
    let start = (from - 1) as usize;
    if start >= len {
        return 0..0;
    }
    let end_by_to = usize::try_from(to).unwrap_or(usize::MAX).min(len);
    let end = end_by_to.min(start.saturating_add(max));
    if end <= start {
        return 0..0;
    }
    start..end
}
