//! Read-only inspection of what a namespace holds, for operators' tools (the `aether`
//! command line): the registered namespaces and their streams, an actors list in pages
//! or as one stream, an actor's retained snapshot heads, a scan of every stored record in
//! stream order (a corrupt record is reported and the scan goes on), and a tail of the
//! records stored from now on. Nothing here writes:
//! [`JetStreamEventStore::open_existing`] opens a namespace without creating or changing
//! anything.
//!
//! Reads go to any replica (direct gets), so on a replicated stream they may lag behind the
//! stream leader by the last few appends; the subject list and stream figures come from the
//! leader.
//!
//! ```no_run
//! # #[tokio::main] async fn main() -> aether_core::Result<()> {
//! use aether_core::Namespace;
//! use aether_store_jetstream::{JetStreamEventStore, JetStreamStoreOptions};
//!
//! let client = aether_store_jetstream::async_nats::connect("nats://127.0.0.1:4222")
//!     .await
//!     .map_err(|e| aether_core::Error::unavailable("connecting", e))?;
//! for ns in JetStreamEventStore::namespaces(&client).await? {
//!     println!("{} {:?}", ns.namespace, ns.problem);
//! }
//! let store = JetStreamEventStore::open_existing(
//!     client,
//!     Namespace::new("bank")?,
//!     JetStreamStoreOptions::new(),
//! )
//! .await?;
//! let mut cursor = None;
//! loop {
//!     let page = store.actors(Some("acc-"), cursor, 1_000).await?;
//!     for a in &page.actors {
//!         println!("{} at version {}", a.id, a.version);
//!     }
//!     match page.next {
//!         Some(next) => cursor = Some(next),
//!         None => break,
//!     }
//! }
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt;

use aether_core::support::{decode_token, encode_token};
use aether_core::{ActorId, Error, Event, Namespace, OffsetDateTime, Result, Version};
use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use async_nats::jetstream::message::StreamMessage;
use async_nats::jetstream::response::Response;
use async_nats::jetstream::{self, kv, stream};
use futures::stream::{self as futures_stream, Stream, StreamExt, TryStreamExt};
use serde::Deserialize;
use tokio::time::Instant;

use crate::direct::batch_refused;
use crate::errors::{self, code};
use crate::names::{Names, REGISTRY_BUCKET};
use crate::read::ConsumerGuard;
use crate::record;
use crate::{JetStreamEventStore, JetStreamStoreOptions};

/// The most actors whose last messages one batch direct get asks for (the server answers
/// at most 1,024).
const LAST_GROUP: usize = 1_000;

/// The most messages one page of a [`scan`](JetStreamEventStore::scan) asks for.
const SCAN_PAGE: usize = 1_000;

/// A namespace recorded in the registry, and the state of its two streams.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NamespaceInfo {
    /// The namespace: its key in the registry bucket `aether_registry`.
    pub namespace: String,
    /// When the namespace was created, as its registry entry records it (RFC 3339), when
    /// the entry is readable.
    pub created: Option<String>,
    /// The event stream (`AETHER_EV_<ns>`), `None` when it is missing.
    pub events: Option<StreamStats>,
    /// The snapshot stream (`AETHER_SN_<ns>`), `None` when it is missing.
    pub snapshots: Option<StreamStats>,
    /// What is wrong with the namespace, if anything: a stream that vanished (the registry
    /// records the namespace but the stream is gone; its open fails with `NotFound`), or an
    /// unreadable registry entry.
    pub problem: Option<String>,
}

/// Figures of one stream, from the stream leader's stream info.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamStats {
    /// The stream's name.
    pub name: String,
    /// Messages stored (on the event stream, appends: one message per append).
    pub messages: u64,
    /// Bytes stored.
    pub bytes: u64,
    /// Subjects holding messages: on the event stream the number of actors; on the
    /// snapshot stream actors with a snapshot plus the subjects of chunked snapshots' chunks.
    pub subjects: u64,
    /// The first sequence stored (0 or 1 for an empty stream).
    pub first_seq: u64,
    /// When the first message stored was stored.
    pub first_time: OffsetDateTime,
    /// The last sequence stored (0 for a stream never written to).
    pub last_seq: u64,
    /// When the last message was stored.
    pub last_time: OffsetDateTime,
}

impl StreamStats {
    fn new(info: &stream::Info) -> Self {
        let s = &info.state;
        StreamStats {
            name: info.config.name.clone(),
            messages: s.messages,
            bytes: s.bytes,
            subjects: s.subjects_count,
            first_seq: s.first_sequence,
            first_time: s.first_timestamp,
            last_seq: s.last_sequence,
            last_time: s.last_timestamp,
        }
    }
}

/// Where a listing of actors goes on: after the actor it ended with (in the order of actor
/// tokens, see [`JetStreamEventStore::actors`]).
///
/// It prints as that actor's subject token and parses from one, so a tool can hand it
/// around as text (a parsed cursor has lost its position hint: the next page costs a little
/// more to find).
#[derive(Debug, Clone)]
pub struct ActorCursor {
    /// The subject token of the last actor listed.
    token: String,
    /// Where that token stood in the sorted subject list (a hint: checked before use).
    index: usize,
}

impl ActorCursor {
    /// A cursor that lists the actors after `actor` (in token order).
    pub fn after(actor: &ActorId) -> Self {
        ActorCursor {
            token: actor.to_token(),
            index: 0,
        }
    }

    /// The last actor listed before this cursor.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a cursor parsed from text that is not an actor token.
    pub fn actor(&self) -> Result<ActorId> {
        ActorId::from_token(&self.token)
    }
}

/// Cursors are equal when they list from the same place (their position hints aside).
impl PartialEq for ActorCursor {
    fn eq(&self, other: &Self) -> bool {
        self.token == other.token
    }
}

impl Eq for ActorCursor {}

impl fmt::Display for ActorCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.token)
    }
}

impl std::str::FromStr for ActorCursor {
    type Err = Error;

    /// Reads a cursor printed by [`Display`](fmt::Display): an actor's subject token.
    fn from_str(token: &str) -> Result<Self> {
        ActorId::from_token(token)?;
        Ok(ActorCursor {
            token: token.to_owned(),
            index: 0,
        })
    }
}

/// An actor and its latest version, as [`JetStreamEventStore::actors`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ActorSummary {
    /// The actor.
    pub id: ActorId,
    /// Its latest version (the last event of its last stored record).
    pub version: Version,
    /// The time of its last record (its events' timestamp).
    pub last_stored: OffsetDateTime,
}

/// One page of [`JetStreamEventStore::actors`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ActorPage {
    /// The actors of the page, in the order of their subject tokens.
    pub actors: Vec<ActorSummary>,
    /// Where the next page starts; `None` when no actor came after this page when it was
    /// read.
    pub next: Option<ActorCursor>,
}

/// A retained snapshot head of an actor, as [`JetStreamEventStore::snapshot_heads`] lists
/// it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SnapshotHead {
    /// The head's sequence in the snapshot stream.
    pub seq: u64,
    /// The last version the snapshot's state includes.
    pub version: Version,
    /// The event stream sequence the replay after the snapshot starts after.
    pub position: u64,
    /// When the snapshot was saved.
    pub stored_at: OffsetDateTime,
    /// The state's size in bytes.
    pub bytes: u64,
    /// How many chunk messages hold the state; 0 when it is stored in the head itself.
    pub chunks: u32,
    /// The aggregate's snapshot schema version the state was written with.
    pub schema_version: u32,
}

/// One stored message of the event stream, decoded, as [`JetStreamEventStore::scan`] and
/// [`JetStreamEventStore::tail`] hand it out.
#[derive(Debug)]
#[non_exhaustive]
pub struct ScannedRecord {
    /// Its sequence in the event stream.
    pub seq: u64,
    /// Its subject.
    pub subject: String,
    /// The actor its subject names; `None` when the subject is not an actor's.
    pub actor: Option<ActorId>,
    /// When the server stored it.
    pub stored_at: OffsetDateTime,
    /// Its events (one append: 1..n events with consecutive versions), or why it is not a
    /// readable record of its actor ([`Error::Codec`]).
    pub outcome: std::result::Result<Vec<Event>, Error>,
}

/// A registry entry, as far as inspection reads it.
#[derive(Deserialize)]
struct Entry {
    events_stream: String,
    snapshots_stream: String,
    created: String,
}

/// What a stream info request with a subjects filter answers (the parts read here).
#[derive(Deserialize)]
struct SubjectsInfo {
    state: SubjectsState,
    #[serde(default)]
    offset: usize,
    #[serde(default)]
    total: usize,
}

#[derive(Deserialize)]
struct SubjectsState {
    #[serde(default)]
    subjects: Option<HashMap<String, u64>>,
}

/// A page of the server's list of a stream's subjects, sorted.
struct SubjectsPage {
    subjects: Vec<String>,
    /// The position of the first subject in the whole sorted list.
    offset: usize,
    /// How many subjects match in all.
    total: usize,
}

/// An actor a page lists: its token, its position in the sorted subject list, its id.
struct Listed {
    token: String,
    index: usize,
    id: ActorId,
}

/// A walk through the event stream's sorted subject list, handing out the actors whose
/// token starts with a prefix, after a cursor: what [`JetStreamEventStore::actors`] and
/// [`JetStreamEventStore::actors_stream`] list. It holds one server page of subjects at a
/// time (the used-up page is dropped before the next is read) and reads each page once.
struct ActorWalk {
    store: JetStreamEventStore,
    /// The subjects filter, `aether.ev.<ns>.*`.
    filter: String,
    /// The encoded prefix the listed tokens start with (empty: every token).
    prefix: String,
    /// The token of the last subject handed out (or the cursor's), and its position in
    /// the list: only tokens after it are listed.
    last: Option<(String, usize)>,
    /// The server page held, if any.
    page: Option<SubjectsPage>,
    /// The position in `page` of the next subject to look at.
    pos: usize,
    /// Where the next server page is asked from.
    offset: usize,
    /// Whether the next server page is asked from a cursor's position hint, to be checked.
    check_hint: bool,
    /// The list or the prefix's range has ended.
    done: bool,
}

impl ActorWalk {
    /// A walk over the actors whose id starts with `prefix`, after `cursor`.
    fn new(store: JetStreamEventStore, prefix: Option<&str>, cursor: Option<ActorCursor>) -> Self {
        let filter = store.inner.names.events_filter();
        let offset = cursor.as_ref().map_or(0, |c| c.index);
        ActorWalk {
            store,
            filter,
            prefix: prefix.map(encode_token).unwrap_or_default(),
            last: cursor.map(|c| (c.token, c.index)),
            page: None,
            pos: 0,
            offset,
            // Where the cursor's actor stood: subjects are only ever added, so it stands
            // there or later now, and the page from there starts at or before it.
            check_hint: offset > 0,
            done: false,
        }
    }

    /// Up to `most` actors, the next ones of the walk (fewer only where the list or the
    /// prefix's range ends).
    async fn next_group(&mut self, most: usize) -> Result<Vec<Listed>> {
        let mut group = Vec::with_capacity(most.min(LAST_GROUP));
        while group.len() < most && self.more().await? {
            group.extend(self.take());
        }
        Ok(group)
    }

    /// Whether a subject to list is left: true with the walk on it, false once the list or
    /// the prefix's range has ended. Reads the next server page when the held one is used
    /// up.
    async fn more(&mut self) -> Result<bool> {
        let strip = self.filter.len() - 1;
        while !self.done {
            let Some(page) = &self.page else {
                self.read_page().await?;
                continue;
            };
            let Some(subject) = page.subjects.get(self.pos) else {
                let end = page.offset + page.subjects.len();
                self.done = page.subjects.is_empty() || end >= page.total;
                self.offset = end;
                self.page = None;
                continue;
            };
            let token = &subject[strip..];
            if token.starts_with(&self.prefix)
                && self.last.as_ref().is_none_or(|(a, _)| token > a.as_str())
            {
                return Ok(true);
            }
            if token > self.prefix.as_str() && !token.starts_with(&self.prefix) {
                // Sorted: every later token is past the prefix's range too.
                self.done = true;
                self.page = None;
            }
            self.pos += 1;
        }
        Ok(false)
    }

    /// Takes the subject [`more`](Self::more) stopped on: the actor it names, or `None`
    /// for a subject that names no actor (logged).
    fn take(&mut self) -> Option<Listed> {
        let page = self.page.as_ref()?;
        let subject = page.subjects.get(self.pos)?;
        let token = subject[self.filter.len() - 1..].to_owned();
        let index = page.offset + self.pos;
        self.pos += 1;
        self.last = Some((token.clone(), index));
        match decode_token(&token).and_then(ActorId::new) {
            Ok(id) => Some(Listed { token, index, id }),
            Err(e) => {
                tracing::warn!(
                    subject = %subject,
                    error = &e as &dyn std::error::Error,
                    "a subject of the event stream that names no actor; not listed"
                );
                None
            }
        }
    }

    /// Reads the server page from `offset`; one asked from a cursor's position hint that
    /// does not start at or before the cursor's token is dropped and the list read from its
    /// start instead (it is not what the cursor saw: a stream restored from a backup).
    async fn read_page(&mut self) -> Result<()> {
        let page = self.store.subjects_page(&self.filter, self.offset).await?;
        if std::mem::take(&mut self.check_hint) {
            let strip = self.filter.len() - 1;
            let first = page.subjects.first().map(|s| &s[strip..]);
            let holds = matches!((first, &self.last), (Some(f), Some((a, _))) if f <= a.as_str());
            if !holds {
                self.offset = 0;
                return Ok(());
            }
        }
        self.page = Some(page);
        self.pos = 0;
        Ok(())
    }
}

impl JetStreamEventStore {
    /// Opens `namespace` as [`open`](Self::open) does, but never creates or changes
    /// anything: for tools that look at what exists.
    ///
    /// The checks are open's: the server's capabilities, the registry entry, both
    /// streams and their settings (unsafe settings refused, harmless differences logged).
    /// A stream without the registry metadata is not given it.
    ///
    /// ```no_run
    /// # #[tokio::main] async fn main() -> aether_core::Result<()> {
    /// # let client = aether_store_jetstream::async_nats::connect("nats://127.0.0.1:4222").await
    /// #     .map_err(|e| aether_core::Error::backend("connecting", e))?;
    /// use aether_core::Namespace;
    /// use aether_store_jetstream::{JetStreamEventStore, JetStreamStoreOptions};
    /// let store =
    ///     JetStreamEventStore::open_existing(client, Namespace::new("bank")?, JetStreamStoreOptions::new())
    ///         .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::NotFound`] when the namespace is not registered ("namespace X is not
    /// registered"; nothing is created), when a stream it records has vanished, or when its
    /// streams hold messages while its entry is missing (the registry was lost); otherwise
    /// as [`open`](Self::open).
    pub async fn open_existing(
        client: async_nats::Client,
        namespace: Namespace,
        options: JetStreamStoreOptions,
    ) -> Result<Self> {
        Self::open_with(client, namespace, options, false).await
    }

    /// Every namespace of the registry bucket `aether_registry`, sorted by name, with the
    /// figures of its streams. A stream that is missing is reported in
    /// [`NamespaceInfo::problem`], not as an error; no registry bucket at all is an empty
    /// list.
    ///
    /// ```no_run
    /// # #[tokio::main] async fn main() -> aether_core::Result<()> {
    /// # let client = aether_store_jetstream::async_nats::connect("nats://127.0.0.1:4222").await
    /// #     .map_err(|e| aether_core::Error::backend("connecting", e))?;
    /// use aether_store_jetstream::JetStreamEventStore;
    /// for ns in JetStreamEventStore::namespaces(&client).await? {
    ///     let appends = ns.events.as_ref().map_or(0, |s| s.messages);
    ///     println!("{}: {appends} appends {}", ns.namespace, ns.problem.unwrap_or_default());
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Unavailable`] or [`Error::Timeout`] when the server does not answer;
    /// [`Error::Backend`] when it refuses a request.
    pub async fn namespaces(client: &async_nats::Client) -> Result<Vec<NamespaceInfo>> {
        let js = jetstream::new(client.clone());
        let registry = match js.get_key_value(REGISTRY_BUCKET).await {
            Ok(r) => r,
            Err(e) if errors::api_code(&e) == Some(code::STREAM_NOT_FOUND) => return Ok(Vec::new()),
            Err(e) => return Err(errors::map("opening the namespace registry bucket", e)),
        };
        let what = "listing the namespace registry";
        let mut keys: Vec<String> = registry
            .keys()
            .await
            .map_err(|e| errors::map(what, e))?
            .map_err(|e| errors::map(what, e))
            .try_collect()
            .await?;
        keys.sort();
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(namespace_info(&js, &registry, key).await?);
        }
        Ok(out)
    }

    /// A page of the namespace's actors, each with its latest version, in the order of
    /// their subject tokens ([`ActorId::to_token`]: byte order of the tokens, which for ids
    /// of letters, digits and `-` is the ids' own byte order).
    ///
    /// `prefix` keeps the actors whose id starts with it; `cursor` (a page's
    /// [`next`](ActorPage::next)) starts after the actor the previous page ended with; at
    /// most `page` actors are listed. The subjects come from the stream leader's subject
    /// list, read in the server's pages (up to 100,000 subjects each, from where the cursor
    /// was), and the latest versions from the last message of each actor by batch direct
    /// get, 1,000 actors a request: memory is bounded by a server page, whatever the
    /// number of actors. With a prefix the list is still read from its start up to the
    /// prefix's actors. An actor whose last message a lagging replica does not hold yet is
    /// left out; a subject that does not decode to an actor id is left out (and logged).
    ///
    /// ```no_run
    /// # async fn f(store: aether_store_jetstream::JetStreamEventStore) -> aether_core::Result<()> {
    /// let first = store.actors(None, None, 100).await?;
    /// if let Some(next) = first.next {
    ///     let second = store.actors(None, Some(next), 100).await?;
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a `page` of 0; [`Error::Codec`] naming the actor when
    /// its last record is not readable; [`Error::Unavailable`] or [`Error::Timeout`]
    /// when the server does not answer in the store's `retry_deadline`.
    pub async fn actors(
        &self,
        prefix: Option<&str>,
        cursor: Option<ActorCursor>,
        page: usize,
    ) -> Result<ActorPage> {
        if page == 0 {
            return Err(Error::invalid(
                "actors page",
                "a page lists at least one actor",
            ));
        }
        let mut walk = ActorWalk::new(self.clone(), prefix, cursor);
        let mut actors = Vec::with_capacity(page.min(LAST_GROUP));
        let (mut listed, mut last) = (0, None);
        while listed < page {
            let group = walk.next_group((page - listed).min(LAST_GROUP)).await?;
            let Some(l) = group.last() else { break };
            listed += group.len();
            last = Some(ActorCursor {
                token: l.token.clone(),
                index: l.index,
            });
            actors.extend(self.latest_of(&group).await?);
        }
        // A cursor only when an actor comes after the page.
        let next = if listed == page && walk.more().await? {
            last
        } else {
            None
        };
        Ok(ActorPage { actors, next })
    }

    /// Every actor of the namespace whose id starts with `prefix` (all of them for
    /// `None`), each with its latest version, in the order of their subject tokens (as
    /// [`actors`](Self::actors) lists them), as a stream: for listing them all, however
    /// many.
    ///
    /// The stream leader's subject list is read once, one server page (up to 100,000
    /// subjects) at a time, and the latest versions come by batch direct get, 1,000 actors
    /// a request, handed out as each request is answered: memory is bounded by one server
    /// page of subjects and one group of 1,000 actors, whatever the number of actors. With
    /// a prefix the list is read from its start up to the end of the prefix's actors. An
    /// actor whose last message a lagging replica does not hold yet is left out; a subject
    /// that does not decode to an actor id is left out (and logged). Actors added while
    /// the stream runs may or may not be listed, but none is listed twice.
    ///
    /// Nothing is read before the stream is first polled. A failed read ends the stream
    /// with that error (transient failures are retried until the store's `retry_deadline`
    /// first): [`Error::Codec`] naming the actor when its last record is not readable,
    /// [`Error::Unavailable`] or [`Error::Timeout`] when the server does not answer.
    ///
    /// ```no_run
    /// # async fn f(store: aether_store_jetstream::JetStreamEventStore) -> aether_core::Result<()> {
    /// use futures::TryStreamExt;
    /// let mut actors = std::pin::pin!(store.actors_stream(Some("acc-")));
    /// while let Some(actor) = actors.try_next().await? {
    ///     println!("{} at version {}", actor.id, actor.version);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn actors_stream(
        &self,
        prefix: Option<&str>,
    ) -> impl Stream<Item = Result<ActorSummary>> + Send + 'static {
        let walk = ActorWalk::new(self.clone(), prefix, None);
        futures_stream::unfold(Some(walk), |walk| async move {
            let mut walk = walk?;
            let summaries = match walk.next_group(LAST_GROUP).await {
                Ok(group) if group.is_empty() => return None,
                Ok(group) => walk.store.latest_of(&group).await,
                Err(e) => Err(e),
            };
            Some(match summaries {
                Ok(found) => (found.into_iter().map(Ok).collect::<Vec<_>>(), Some(walk)),
                // The error ends the stream.
                Err(e) => (vec![Err(e)], None),
            })
        })
        .map(futures_stream::iter)
        .flatten()
    }

    /// The retained snapshot heads of `actor` (the snapshot stream keeps the newest
    /// `snapshots_retained` per actor), newest first, by batch direct get on the actor's
    /// snapshot subject. Their states are not read.
    ///
    /// ```no_run
    /// # async fn f(store: aether_store_jetstream::JetStreamEventStore) -> aether_core::Result<()> {
    /// let acc = aether_core::ActorId::new("acc-alice")?;
    /// for head in store.snapshot_heads(&acc).await? {
    ///     println!("version {} saved at {} ({} bytes)", head.version, head.stored_at, head.bytes);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Codec`] when a head is not a readable snapshot record of `actor`;
    /// [`Error::Unavailable`] or [`Error::Timeout`] when the server does not answer.
    pub async fn snapshot_heads(&self, actor: &ActorId) -> Result<Vec<SnapshotHead>> {
        let mut heads = self.retained_heads(actor).await?;
        heads.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
        Ok(heads
            .into_iter()
            .map(|(seq, h)| SnapshotHead {
                seq,
                version: h.snapshot.version,
                position: h.snapshot.position.0,
                stored_at: h.snapshot.timestamp,
                bytes: h
                    .chunks
                    .as_ref()
                    .map_or(h.snapshot.state.len() as u64, |c| c.len),
                chunks: h.chunks.as_ref().map_or(0, |c| c.count),
                schema_version: h.snapshot.schema_version,
            })
            .collect())
    }

    /// Every message of the event stream from sequence `from_seq` on, in stream order,
    /// decoded, up to the last sequence stored when the scan starts (its first poll). Read
    /// by batch direct get, 1,000 messages (or the store's `read_buffer_bytes`) a page:
    /// memory is bounded by a page.
    ///
    /// A record that does not decode (not a record of the actor its subject names, or a
    /// subject that names no actor) is a [`ScannedRecord`] whose `outcome` is the error,
    /// and the scan goes on. A failed read ends the stream with that error (transient
    /// failures are retried until the store's `retry_deadline` first).
    ///
    /// ```no_run
    /// # async fn f(store: aether_store_jetstream::JetStreamEventStore) -> aether_core::Result<()> {
    /// use futures::StreamExt;
    /// let mut records = std::pin::pin!(store.scan(1));
    /// while let Some(record) = records.next().await {
    ///     let record = record?;
    ///     if let Err(e) = &record.outcome {
    ///         println!("message {} on {}: {e}", record.seq, record.subject);
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn scan(
        &self,
        from_seq: u64,
    ) -> impl Stream<Item = Result<ScannedRecord>> + Send + 'static {
        let scan = Scan {
            store: self.clone(),
            next: from_seq.max(1),
            end: None,
            done: false,
        };
        futures_stream::unfold(scan, |mut scan| async move {
            if scan.done {
                return None;
            }
            let page = match scan.next_page().await {
                Ok(records) if records.is_empty() => return None,
                Ok(records) => records.into_iter().map(Ok).collect(),
                Err(e) => {
                    scan.done = true;
                    vec![Err(e)]
                }
            };
            Some((futures_stream::iter(page), scan))
        })
        .flatten()
    }

    /// The records stored from now on, decoded as [`scan`](Self::scan) decodes them: those
    /// of `actor`, or of every actor of the namespace. An ordered consumer (delivery of new
    /// messages only) made before this returns, deleted when the stream is dropped.
    ///
    /// ```no_run
    /// # async fn f(store: aether_store_jetstream::JetStreamEventStore) -> aether_core::Result<()> {
    /// use futures::StreamExt;
    /// let mut live = std::pin::pin!(store.tail(None).await?);
    /// while let Some(record) = live.next().await {
    ///     let record = record?;
    ///     println!("{} {:?}", record.seq, record.actor);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As the consumer's creation fails ([`Error::Unavailable`], [`Error::Timeout`],
    /// [`Error::NotFound`] for a vanished stream); later failures come as items.
    pub async fn tail(
        &self,
        actor: Option<&ActorId>,
    ) -> Result<impl Stream<Item = Result<ScannedRecord>> + Send + 'static> {
        let names = &self.inner.names;
        let filter = actor.map_or_else(|| names.events_filter(), |a| names.events(a));
        let stream = self.inner.events.clone();
        let consumer = stream
            .create_consumer(pull::OrderedConfig {
                filter_subject: filter,
                deliver_policy: DeliverPolicy::New,
                ..Default::default()
            })
            .await
            .map_err(|e| errors::map("creating an ordered consumer to tail the events", e))?;
        let name = consumer.cached_info().name.clone();
        let guard = ConsumerGuard { stream, name };
        let messages = consumer
            .messages()
            .await
            .map_err(|e| errors::map("starting an ordered consumer to tail the events", e))?;
        // `aether.ev.<ns>.`, before the actor tokens.
        let prefix_len = names.events_filter().len() - 1;
        Ok(messages.map(move |m| {
            // The consumer lives as long as this stream.
            let _consumer = &guard;
            let m = m.map_err(|e| errors::map("tailing the events", e))?;
            let info = m
                .info()
                .map_err(|e| Error::backend("a tailed message without metadata", e))?;
            let (seq, time) = (info.stream_sequence, info.published);
            Ok(scanned(
                prefix_len,
                seq,
                m.subject.as_str(),
                time,
                &m.payload,
            ))
        }))
    }

    /// The page of the event stream's subjects matching `filter` from position `offset` of
    /// their sorted list, from the stream leader. The server sorts the list when it pages
    /// it; a list it sends whole (from offset 0) is sorted here.
    async fn subjects_page(&self, filter: &str, offset: usize) -> Result<SubjectsPage> {
        let subject = format!("STREAM.INFO.{}", self.inner.names.events_stream);
        let body = serde_json::json!({ "subjects_filter": filter, "offset": offset });
        let deadline = Instant::now() + self.inner.options.retry_deadline;
        let what = "listing the actors (stream info with subjects)";
        let answer = self
            .retrying(deadline, || async {
                let answer: Response<SubjectsInfo> = self
                    .inner
                    .js
                    .request(subject.clone(), &body)
                    .await
                    .map_err(|e| errors::map(what, e))?;
                match answer {
                    Response::Ok(info) => Ok(info),
                    Response::Err { error } => Err(errors::map(what, error)),
                }
            })
            .await?;
        let mut subjects: Vec<String> = answer
            .state
            .subjects
            .map(|s| s.into_keys().collect())
            .unwrap_or_default();
        subjects.sort_unstable();
        Ok(SubjectsPage {
            subjects,
            offset: answer.offset,
            total: answer.total,
        })
    }

    /// The latest version and time of each actor of `group` (at most [`LAST_GROUP`]), from
    /// the last message of each by batch direct get (`multi_last`); asked again for the
    /// actors a reply left out (the server's byte limit), until a reply brings nothing.
    async fn latest_of(&self, group: &[Listed]) -> Result<Vec<ActorSummary>> {
        let names = &self.inner.names;
        let mut pending: HashMap<String, &Listed> =
            group.iter().map(|l| (names.events(&l.id), l)).collect();
        let mut found: HashMap<String, (Version, OffsetDateTime)> = HashMap::new();
        while !pending.is_empty() {
            let subjects: Vec<&String> = pending.keys().collect();
            let body = serde_json::json!({ "multi_last": subjects, "batch": subjects.len() });
            let msgs = self
                .direct_replies(
                    &names.events_stream,
                    &body,
                    "reading the actors' last messages",
                )
                .await?;
            let asked = pending.len();
            for m in msgs {
                let Some(listed) = pending.remove(m.subject.as_str()) else {
                    continue;
                };
                let tail = record::decode_tail(&m.payload, &listed.id, m.sequence)?;
                found.insert(m.subject.to_string(), tail);
            }
            if pending.len() == asked {
                // Nothing more came: what is left is not on this replica.
                break;
            }
        }
        for l in pending.values() {
            tracing::debug!(actor = %l.id, "no last message on this replica yet; not listed");
        }
        Ok(group
            .iter()
            .filter_map(|l| {
                let (version, last_stored) = *found.get(&names.events(&l.id))?;
                Some(ActorSummary {
                    id: l.id.clone(),
                    version,
                    last_stored,
                })
            })
            .collect())
    }

    /// One direct get request `body` on `stream` and its replies (with their stream
    /// headers) up to the end-of-batch status, transient failures retried until the
    /// store's `retry_deadline`; no reply when nothing matches. `what` names the read in
    /// errors.
    async fn direct_replies(
        &self,
        stream: &str,
        body: &serde_json::Value,
        what: &str,
    ) -> Result<Vec<StreamMessage>> {
        let deadline = Instant::now() + self.inner.options.retry_deadline;
        self.retrying(deadline, || self.direct_replies_once(stream, body, what))
            .await
    }

    async fn direct_replies_once(
        &self,
        stream: &str,
        body: &serde_json::Value,
        what: &str,
    ) -> Result<Vec<StreamMessage>> {
        let mut replies = self.send_direct(stream, body, what).await?;
        let timeout = self.inner.options.request_timeout;
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut out = Vec::new();
        loop {
            let msg = Self::next_direct_reply(&mut replies, deadline.as_mut(), || {
                format!("{what} on {stream}: no complete reply within {timeout:?}")
            })
            .await?;
            match msg.status.map(|s| s.as_u16()) {
                None | Some(200) => out.push(StreamMessage::try_from(msg).map_err(|e| {
                    Error::backend(format!("{what}: a reply without its stream headers"), e)
                })?),
                Some(204 | 404) => return Ok(out),
                Some(code) => return Err(batch_refused(stream, code, msg.description)),
            }
        }
    }
}

/// The registry's `key` and the state of its streams.
async fn namespace_info(
    js: &jetstream::Context,
    registry: &kv::Store,
    key: String,
) -> Result<NamespaceInfo> {
    let mut problems = Vec::new();
    let entry = match registry.get(&key).await {
        Ok(Some(bytes)) => match serde_json::from_slice::<Entry>(&bytes) {
            Ok(entry) => Some(entry),
            Err(e) => {
                problems.push(format!("its registry entry is not readable: {e}"));
                None
            }
        },
        // Deleted meanwhile.
        Ok(None) => None,
        Err(e) => return Err(errors::map("reading the namespace registry", e)),
    };
    let (events_stream, snapshots_stream) = match (&entry, Namespace::new(&key)) {
        (Some(e), _) => (e.events_stream.clone(), e.snapshots_stream.clone()),
        (None, Ok(ns)) => {
            let names = Names::new(&ns);
            (names.events_stream, names.snapshots_stream)
        }
        (None, Err(_)) => {
            problems.push("its key is not a namespace name".to_owned());
            return Ok(NamespaceInfo {
                namespace: key,
                created: None,
                events: None,
                snapshots: None,
                problem: Some(problems.join("; ")),
            });
        }
    };
    let events = stream_stats(js, &events_stream, &mut problems).await?;
    let snapshots = stream_stats(js, &snapshots_stream, &mut problems).await?;
    Ok(NamespaceInfo {
        namespace: key,
        created: entry.map(|e| e.created),
        events,
        snapshots,
        problem: (!problems.is_empty()).then(|| problems.join("; ")),
    })
}

/// The figures of the stream `name`, or `None` with a problem noted when it is missing.
async fn stream_stats(
    js: &jetstream::Context,
    name: &str,
    problems: &mut Vec<String>,
) -> Result<Option<StreamStats>> {
    match js.get_stream(name).await {
        Ok(s) => Ok(Some(StreamStats::new(s.cached_info()))),
        Err(e) if errors::api_code(&e) == Some(code::STREAM_NOT_FOUND) => {
            problems.push(format!(
                "stream {name} has vanished (the registry records it; the namespace does not \
                 open until it is restored)"
            ));
            Ok(None)
        }
        Err(e) => Err(errors::map(&format!("looking up stream {name}"), e)),
    }
}

/// A stored message of the event stream, decoded: its events, or why it is not a record of
/// the actor its subject names (the token after the first `prefix_len` bytes).
fn scanned(
    prefix_len: usize,
    seq: u64,
    subject: &str,
    stored_at: OffsetDateTime,
    payload: &bytes::Bytes,
) -> ScannedRecord {
    let actor = subject
        .get(prefix_len..)
        .and_then(|token| decode_token(token).ok())
        .and_then(|id| ActorId::new(id).ok());
    let outcome = match &actor {
        Some(a) => record::decode_events(payload, a, seq)
            .map(|rec| rec.into_events(a, 1, Version::MAX).collect()),
        None => Err(Error::Codec {
            message: format!("message {seq}: its subject {subject} names no actor"),
            source: None,
        }),
    };
    ScannedRecord {
        seq,
        subject: subject.to_owned(),
        actor,
        stored_at,
        outcome,
    }
}

/// Where a scan of the event stream is.
struct Scan {
    store: JetStreamEventStore,
    /// The next sequence to read.
    next: u64,
    /// The last sequence to read: the stream's last when the scan started.
    end: Option<u64>,
    done: bool,
}

impl Scan {
    /// The next page of records; none once the scan is over.
    async fn next_page(&mut self) -> Result<Vec<ScannedRecord>> {
        let end = match self.end {
            Some(end) => end,
            None => *self.end.insert(self.last_sequence().await?),
        };
        if self.next > end {
            return Ok(Vec::new());
        }
        let inner = &self.store.inner;
        let filter = inner.names.events_filter();
        let prefix_len = filter.len() - 1;
        let body = serde_json::json!({
            "seq": self.next,
            "next_by_subj": filter,
            "batch": SCAN_PAGE,
            "max_bytes": inner.options.read_buffer_bytes,
        });
        let msgs = self
            .store
            .direct_replies(&inner.names.events_stream, &body, "scanning the events")
            .await?;
        let records: Vec<ScannedRecord> = msgs
            .into_iter()
            .take_while(|m| m.sequence <= end)
            .map(|m| {
                scanned(
                    prefix_len,
                    m.sequence,
                    m.subject.as_str(),
                    m.time,
                    &m.payload,
                )
            })
            .collect();
        match records.last() {
            Some(last) => self.next = last.seq + 1,
            None => self.done = true,
        }
        Ok(records)
    }

    /// The event stream's last sequence now, from the stream leader.
    async fn last_sequence(&self) -> Result<u64> {
        let deadline = Instant::now() + self.store.inner.options.retry_deadline;
        let events = &self.store.inner.events;
        let info = self
            .store
            .retrying(deadline, || async {
                events
                    .get_info()
                    .await
                    .map_err(|e| errors::map("reading the event stream's state", e))
            })
            .await?;
        Ok(info.state.last_sequence)
    }
}
