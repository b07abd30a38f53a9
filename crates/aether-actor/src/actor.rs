//! One actor's task: activation, the command loop, conflict retries, de-duplication by
//! command id, snapshots and passivation.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use aether_core::codec::with_encoded_named;
use aether_core::{
    codec, ActorId, ActorSnapshot, Bytes, CommandRecord, Error, ErrorKind, Event, ExpectedVersion,
    Metadata, NewEvent, Uuid, Version,
};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tracing::Instrument;

use crate::aggregate::Aggregate;
use crate::command_ids::{CommandIds, Remembered, Verdict};
use crate::error::AskError;
use crate::mailbox::Mailbox;
use crate::system::{Counters, TypeRuntime};

pub use aether_core::support::REPLY_HEADER;
/// The header holding an event's schema version when it is not 1.
pub const SCHEMA_HEADER: &str = "aether-schema";

/// What an append returns: where the events went, and the events as stored.
type Stored = (aether_core::Appended, Vec<Arc<Event>>);

/// What the actor sends back for one ask.
pub(crate) type Outcome<A> =
    Result<Result<<A as Aggregate>::Reply, <A as Aggregate>::Error>, AskError<()>>;

pub(crate) struct AskMsg<A: Aggregate> {
    pub(crate) command: A::Command,
    pub(crate) command_id: Uuid,
    /// Whether the runtime made the command id for this ask: a fresh random id cannot have
    /// been processed before, so the recent ids are not searched for it.
    pub(crate) fresh_id: bool,
    pub(crate) correlation_id: Uuid,
    /// After it the command is not started (checked before `decide`).
    pub(crate) deadline: tokio::time::Instant,
    /// The caller's headers for the events' metadata (checked when asked).
    pub(crate) headers: Option<Box<Headers>>,
    /// Where the answer goes: `None` for a told command, whose failure is logged and
    /// counted instead.
    pub(crate) reply: Option<oneshot::Sender<Outcome<A>>>,
}

/// User headers of an ask, as stored in the events' metadata.
pub(crate) type Headers = std::collections::BTreeMap<String, String>;

pub(crate) enum Msg<A: Aggregate> {
    Ask(Box<AskMsg<A>>),
    /// Passivate now (explicitly or for shutdown), after what is already queued.
    Passivate(oneshot::Sender<()>),
    /// Sent by the idle sweeper: passivate if still idle.
    IdleCheck,
}

/// The state of an active actor.
struct Loaded<A: Aggregate> {
    state: A::State,
    version: Version,
    snapshot_version: Version,
    /// The remembered command ids and the horizon.
    ids: CommandIds,
}

/// The layout of a snapshot's `state` bytes written by this runtime.
const ENVELOPE_VERSION: u32 = 2;

/// How a snapshot's `state` bytes are laid out: the aggregate type and state plus the
/// command-id window, so de-duplication survives passivation.
#[derive(Serialize)]
struct EnvelopeRef<'a, S> {
    v: u32,
    #[serde(rename = "type")]
    aggregate_type: &'a str,
    state: &'a S,
    recent: &'a std::collections::VecDeque<Remembered>,
    horizon: Option<Uuid>,
    edge: Option<&'a crate::command_ids::IdSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    future: Option<&'a crate::command_ids::IdSet>,
    forgot: bool,
}

/// The part of a snapshot's state bytes read before the state itself.
#[derive(Deserialize)]
struct EnvelopeHead {
    #[serde(rename = "type", default)]
    aggregate_type: Option<String>,
}

#[derive(Deserialize)]
struct Envelope<S> {
    /// 2 for this layout; absent (0) in the first runtime's snapshots, whose window has no
    /// horizon and which are therefore not used (a full replay rebuilds the window).
    #[serde(default)]
    v: u32,
    #[serde(rename = "type", default)]
    aggregate_type: Option<String>,
    state: S,
    #[serde(default)]
    recent: std::collections::VecDeque<Remembered>,
    #[serde(default)]
    horizon: Option<Uuid>,
    #[serde(default)]
    edge: Option<crate::command_ids::IdSet>,
    #[serde(default)]
    future: crate::command_ids::IdSet,
    #[serde(default)]
    forgot: bool,
}

/// An active actor. Dropping it — however its task ends, a panic included — closes and
/// unregisters its mailbox, so the mailbox never outlives the actor.
struct Cell<A: Aggregate> {
    rt: Arc<TypeRuntime<A>>,
    id: ActorId,
    mailbox: Arc<Mailbox<Msg<A>>>,
    loaded: Option<Loaded<A>>,
    /// Whether this activation loaded the state once already: later loads (after a failed
    /// append, a conflict or a panic) are reloads, which do not run `on_activate` again.
    activated: bool,
}

impl<A: Aggregate> Drop for Cell<A> {
    fn drop(&mut self) {
        // Whatever is still queued is answered by dropping its reply sender (the caller
        // sees an unknown outcome); this only happens when the task dies abnormally.
        let _ = self.mailbox.close();
        self.rt.unregister(&self.id, &self.mailbox);
        self.rt.shared.actor_stopped();
    }
}

pub(crate) async fn run_actor<A: Aggregate>(
    rt: Arc<TypeRuntime<A>>,
    id: ActorId,
    mailbox: Arc<Mailbox<Msg<A>>>,
) {
    let mut cell = Cell {
        rt,
        id,
        mailbox,
        loaded: None,
        activated: false,
    };
    let mut acks = Vec::new();
    loop {
        // The handling futures are boxed so that the future of an idle actor (this loop,
        // waiting for its mailbox) stays small.
        match cell.mailbox.recv().await {
            Msg::Ask(ask) => {
                Box::pin(cell.handle(ask)).await;
                cell.mailbox.touch();
            }
            Msg::IdleCheck => {
                let ticks = cell.rt.idle_ticks();
                if cell.mailbox.close_if_idle(ticks) {
                    // Closed while idle: nothing can arrive any more; save and stop.
                    Box::pin(cell.snapshot_if_behind()).await;
                    break;
                }
            }
            Msg::Passivate(ack) => {
                acks.push(ack);
                // Finish what was queued before stopping; nothing new gets in.
                for m in cell.mailbox.close() {
                    match m {
                        Msg::Ask(ask) => Box::pin(cell.handle(ask)).await,
                        Msg::Passivate(ack) => acks.push(ack),
                        Msg::IdleCheck => {}
                    }
                }
                Box::pin(cell.snapshot_if_behind()).await;
                break;
            }
        }
    }
    cell.passivated();
    tracing::debug!(aggregate = A::TYPE_NAME, actor = %cell.id, "passivated");
    drop(cell);
    for ack in acks {
        let _ = ack.send(());
    }
}

/// Runs the aggregate's code `f`, catching a panic. `Err` holds the panic's message
/// followed by `what` panicked (`decide`, `apply`, a hook), for [`AskError::Panicked`] or a
/// log line: the one place a panic of the aggregate's code becomes text.
fn guarded<R>(what: &str, f: impl FnOnce() -> R) -> Result<R, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let message = if let Some(s) = payload.downcast_ref::<&str>() {
            s
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.as_str()
        } else {
            "a panic without a message"
        };
        format!("{message} (in {what})")
    })
}

/// Decodes a stored event, upcasting it first when it has an older schema version.
pub(crate) fn decode_event<A: Aggregate>(event: &Event) -> Result<A::Event, Error> {
    let schema = match event.metadata.headers.get(SCHEMA_HEADER) {
        None => 1,
        Some(v) => v.parse::<u32>().map_err(|e| {
            Error::codec(
                format!(
                    "event {} v{} of {}: bad {SCHEMA_HEADER} header {v:?}",
                    event.id, event.version, event.actor_id
                ),
                e,
            )
        })?,
    };
    if schema == A::EVENT_SCHEMA_VERSION {
        return event.decode();
    }
    let data = A::upcast(&event.event_type, schema, event.data.clone())?;
    codec::from_slice(&data).map_err(|e| {
        let message = format!(
            "event {} v{} of {} ({}, upcast from schema {schema})",
            event.id, event.version, event.actor_id, event.event_type
        );
        Error::codec(message, e)
    })
}

/// What identifies the command of an ask whose id the caller supplied: its variant name and
/// the hash of its encoding.
pub(crate) struct Fingerprint {
    pub(crate) variant: std::borrow::Cow<'static, str>,
    pub(crate) hash: u64,
}

impl Fingerprint {
    pub(crate) fn of<A: Aggregate>(command: &A::Command) -> Result<Self, Error> {
        with_encoded_named(command, "the command", |bytes| {
            let variant = match aether_core::support::command_variant(bytes) {
                // The declared name, when it is one: no allocation.
                Some(v) => match A::command_names().iter().find(|n| **n == v) {
                    Some(declared) => std::borrow::Cow::Borrowed(*declared),
                    None => std::borrow::Cow::Owned(v.to_owned()),
                },
                None => std::borrow::Cow::Borrowed(short_type_name::<A::Command>()),
            };
            Fingerprint {
                variant,
                hash: aether_core::support::command_hash(bytes),
            }
        })
    }
}

/// The last path segment of a type's name, for commands that are not enums.
fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

/// Encodes the events one command decided, with their metadata: causation and correlation
/// ids, the caller's headers and the aggregate type on all, the reply (and the command's
/// fingerprint, when the caller supplied its id) on the first, the schema version when it
/// is not 1. Their ids are UUID v7 stamped `id_millis`, or the current time when `None`.
pub(crate) fn encode_events<A: Aggregate>(
    events: &[A::Event],
    reply: &A::Reply,
    ids: (Uuid, Uuid),
    fingerprint: Option<&Fingerprint>,
    aggregate_type: &Arc<str>,
    id_millis: Option<u64>,
    headers: Option<&Headers>,
) -> Result<Vec<NewEvent>, Error> {
    let (command_id, correlation_id) = ids;
    let mut out = Vec::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        let mut metadata = Metadata::new()
            .correlation_id(correlation_id)
            .causation_id(command_id);
        if let Some(h) = headers {
            metadata.headers.clone_from(h);
        }
        if A::EVENT_SCHEMA_VERSION != 1 {
            metadata.headers.insert(
                SCHEMA_HEADER.to_owned(),
                A::EVENT_SCHEMA_VERSION.to_string(),
            );
        }
        let id = match id_millis {
            Some(millis) => aether_core::new_id_at(millis),
            None => aether_core::new_id(),
        };
        let mut event = NewEvent::new(aether_core::EventNames::event_type(e), encode_payload(e)?)
            .with_id(id)
            .with_metadata(metadata);
        event.aggregate_type = Some(aggregate_type.clone());
        if i == 0 {
            let mut record = CommandRecord::new(encode_payload(reply)?);
            if let Some(f) = fingerprint {
                record = record.with_command(f.variant.clone(), f.hash);
            }
            event = event.with_command(record);
        }
        out.push(event);
    }
    Ok(out)
}

/// A value in MessagePack with field names, in a buffer of its exact size.
fn encode_payload<T: Serialize>(value: &T) -> Result<Bytes, Error> {
    with_encoded_named(value, "an event", Bytes::copy_from_slice)
}

/// The encoded reply a command's first event holds: the bytes of its command record
/// (format 2), or the hex of its `aether-reply` header (format 1).
fn stored_reply_bytes(event: &Event) -> Option<Bytes> {
    if let Some(c) = &event.command {
        return Some(c.reply.clone());
    }
    let hex = event.metadata.headers.get(REPLY_HEADER)?;
    hex::decode(hex).ok().map(Bytes::from)
}

/// `e` as tracing records an error: a subscriber logs its message and then its sources
/// (the `Display` of an error says its own layer only).
pub(crate) fn traced(e: &Error) -> &(dyn std::error::Error + 'static) {
    e
}

/// An append failed: its outcome may be unknown.
fn store_err(e: Error) -> AskError<()> {
    if e.kind() == ErrorKind::Codec {
        AskError::Codec(e)
    } else {
        AskError::Store(e)
    }
}

/// A read failed before the command ran: it did not run.
fn load_err(e: Error) -> AskError<()> {
    if e.kind() == ErrorKind::Codec {
        AskError::Codec(e)
    } else {
        AskError::Load(e)
    }
}

impl<A: Aggregate> Cell<A> {
    fn capacity(&self) -> usize {
        self.rt.shared.config.recent_command_ids
    }

    /// Runs one ask. It stays boxed, as queued: the command's future holds a pointer, not
    /// the message.
    async fn handle(&mut self, mut ask: Box<AskMsg<A>>) {
        if ask.reply.as_ref().is_some_and(oneshot::Sender::is_closed) {
            // The caller gave up before the command started: it is not run.
            return;
        }
        let outcome = self.process(&ask).await;
        match ask.reply.take() {
            Some(reply) => {
                let _ = reply.send(outcome);
            }
            None => self.told(&ask, &outcome),
        }
        self.snapshot_if_due().await;
    }

    /// Logs and counts a told command that did not succeed: nobody waits for its answer.
    fn told(&self, ask: &AskMsg<A>, outcome: &Outcome<A>) {
        let stats = &self.rt.shared.stats;
        match outcome {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => {
                Counters::bump(&stats.told_rejected);
                tracing::warn!(
                    aggregate = A::TYPE_NAME,
                    actor = %self.id,
                    command_id = %ask.command_id,
                    "a told command was rejected by the aggregate"
                );
            }
            Err(e) => {
                Counters::bump(&stats.told_failed);
                tracing::warn!(
                    aggregate = A::TYPE_NAME,
                    actor = %self.id,
                    command_id = %ask.command_id,
                    error = e as &(dyn std::error::Error + 'static),
                    "a told command failed"
                );
            }
        }
    }

    /// Loads the actor: the newest usable snapshot, then the events after it.
    async fn activate(&mut self) -> Result<(), AskError<()>> {
        let span = tracing::debug_span!("activate", aggregate = A::TYPE_NAME, actor = %self.id);
        async {
            let store = &self.rt.shared.store;
            let (mut loaded, from_snapshot) = self.load_snapshot_state().await?;
            let stream = match &from_snapshot {
                Some(snap) => store.read_after_snapshot(snap),
                None => store.read_stream(&self.id, 1, Version::MAX),
            };
            let capacity = self.capacity();
            let replayed = replay(&mut loaded, stream, capacity).await?;
            tracing::debug!(
                version = loaded.version,
                snapshot = loaded.snapshot_version,
                replayed,
                "activated"
            );
            let (rt, id) = (&self.rt, &self.id);
            if self.activated {
                // A reload within the same activation: the hooks stay paired.
                self.loaded = Some(loaded);
                Counters::bump(&self.rt.shared.stats.reloads);
                return Ok(());
            }
            guarded("on_activate", || {
                rt.aggregate.on_activate(id, &loaded.state)
            })
            .map_err(AskError::Panicked)?;
            self.loaded = Some(loaded);
            self.activated = true;
            Counters::bump(&self.rt.shared.stats.activations);
            Ok(())
        }
        .instrument(span)
        .await
    }

    /// The state from the newest usable snapshot (with the snapshot it came from), or the
    /// empty state when there is none: a snapshot that does not decode, has another state
    /// schema or an older layout is skipped, loudly, for a full replay.
    async fn load_snapshot_state(
        &self,
    ) -> Result<(Loaded<A>, Option<ActorSnapshot>), AskError<()>> {
        let mut loaded = Loaded::<A> {
            state: A::State::default(),
            version: 0,
            snapshot_version: 0,
            ids: CommandIds::default(),
        };
        let snapshot = match self.rt.shared.store.load_snapshot(&self.id, None).await {
            Ok(Some(s)) => s,
            Ok(None) => return Ok((loaded, None)),
            // Its head or chunks no longer decode: the events are the truth, so replay
            // them all (a history that is gone too fails the replay clearly).
            Err(e) if e.kind() == ErrorKind::Codec => {
                self.skip_snapshot(0, "the newest snapshot cannot be read", Some(&e));
                return Ok((loaded, None));
            }
            Err(e) => return Err(AskError::Load(e)),
        };
        if snapshot.schema_version != A::SNAPSHOT_SCHEMA_VERSION {
            let what = format!(
                "unknown state schema version {} (the aggregate's is {})",
                snapshot.schema_version,
                A::SNAPSHOT_SCHEMA_VERSION
            );
            self.skip_snapshot(snapshot.version, &what, None);
            return Ok((loaded, None));
        }
        let env = match codec::from_slice::<Envelope<A::State>>(&snapshot.state) {
            Ok(env) => env,
            Err(e) => {
                // Another type's snapshot usually fails here: say so rather than replay
                // a history that may carry no type (format 1) into a wrong state.
                if let Ok(head) = codec::from_slice::<EnvelopeHead>(&snapshot.state) {
                    self.check_type(head.aggregate_type.as_deref())?;
                }
                self.skip_snapshot(snapshot.version, "the snapshot does not decode", Some(&e));
                return Ok((loaded, None));
            }
        };
        // Another type's state might decode too: the type decides.
        self.check_type(env.aggregate_type.as_deref())?;
        if env.v < ENVELOPE_VERSION {
            let what = "an older snapshot layout, written before command-id horizons were kept";
            self.skip_snapshot(snapshot.version, what, None);
            return Ok((loaded, None));
        }
        loaded.state = env.state;
        loaded.version = snapshot.version;
        loaded.snapshot_version = snapshot.version;
        let capacity = self.capacity();
        let forgotten = (env.horizon, env.edge, env.future, env.forgot);
        loaded.ids = CommandIds::restore(env.recent, forgotten, capacity);
        Ok((loaded, Some(snapshot)))
    }

    /// Logs that the snapshot at `version` is not used (`what` is wrong with it, `error`
    /// the failure that says so, if one did) and all events are replayed instead.
    fn skip_snapshot(&self, version: Version, what: &str, error: Option<&Error>) {
        tracing::warn!(
            aggregate = A::TYPE_NAME,
            actor = %self.id,
            snapshot_version = version,
            error = error.map(traced),
            "{what}; replaying all events"
        );
    }

    /// `WrongAggregateType` when a snapshot records another aggregate type than `A`.
    fn check_type(&self, stored: Option<&str>) -> Result<(), AskError<()>> {
        match stored {
            Some(stored) if stored != A::TYPE_NAME => Err(AskError::WrongAggregateType {
                actor: self.id.clone(),
                stored: stored.to_owned(),
                asked: A::TYPE_NAME,
            }),
            _ => Ok(()),
        }
    }

    async fn process(&mut self, ask: &AskMsg<A>) -> Outcome<A> {
        if self.loaded.is_none() {
            // The rare paths are boxed apart, so the future of a command (allocated for
            // each one) stays small: large allocations are much slower.
            Box::pin(self.activate()).await?;
        }
        // The fingerprint of a caller-supplied id's command: recorded with its events and
        // compared with what an earlier command of the same id recorded.
        let fingerprint = if ask.fresh_id {
            None
        } else {
            let f = Fingerprint::of::<A>(&ask.command).map_err(AskError::Codec)?;
            if let Some(outcome) = self.check_seen(ask.command_id, &f).await {
                return outcome;
            }
            Some(f)
        };
        let retries = self.rt.shared.config.conflict_retries;
        let mut attempts = 0;
        loop {
            attempts += 1;
            if tokio::time::Instant::now() >= ask.deadline {
                // Not started: the caller's deadline passed while it waited (named after
                // the store's outage, if there is one).
                return Err(crate::system::deadline_passed(&*self.rt.shared.store, true));
            }
            match self.attempt(ask, fingerprint.as_ref()).await? {
                Some(outcome) => return outcome,
                None if attempts > retries => {
                    // Reloaded already, so the next command starts from the truth.
                    return Err(AskError::Conflict { attempts });
                }
                None => {
                    // The events reloaded may hold this very command (stored by
                    // another writer, or by an append whose outcome was unknown): ask the
                    // window again before deciding again.
                    if let Some(f) = &fingerprint {
                        if let Some(outcome) = self.check_seen(ask.command_id, f).await {
                            return outcome;
                        }
                    }
                }
            }
        }
    }

    /// The answer to a caller-supplied id if the actor has seen it (`None`: it runs). The
    /// common case, a new id, is decided in memory; the rest is boxed apart.
    async fn check_seen(&mut self, command_id: Uuid, f: &Fingerprint) -> Option<Outcome<A>> {
        let capacity = self.capacity();
        let loaded = self.loaded.as_ref().expect("activated before");
        match loaded.ids.verdict(command_id, capacity) {
            Verdict::New => None,
            verdict => Box::pin(self.seen_before(verdict, command_id, f)).await,
        }
    }

    /// The answer to a caller-supplied id the actor has seen: the original reply, or
    /// `CommandIdReused` when it named another command; `None` when it never stored
    /// anything, so the command runs.
    async fn seen_before(
        &mut self,
        verdict: Verdict,
        command_id: Uuid,
        f: &Fingerprint,
    ) -> Option<Outcome<A>> {
        let first = match verdict {
            Verdict::New => return None,
            Verdict::Known(r) if r.hash.is_some_and(|h| h != f.hash) => {
                return Some(self.reused_at(r.version, command_id, f).await);
            }
            Verdict::Known(r) => return Some(self.reply_at(r.version).await),
            Verdict::LookUp => match self.look_up(command_id).await {
                Ok(Some(first)) => first,
                Ok(None) => return None,
                Err(e) => return Some(Err(e)),
            },
        };
        let stored_hash = first.command.as_ref().and_then(|c| c.hash);
        if stored_hash.is_some_and(|h| h != f.hash) {
            return Some(Err(reused(command_id, &first, f)));
        }
        Some(self.answer_from(&first))
    }

    /// Looks a command id up in the stored history.
    async fn look_up(&self, command_id: Uuid) -> Result<Option<Event>, AskError<()>> {
        let shared = &self.rt.shared;
        let skew = shared.config.command_id_skew;
        // Every caller-supplied command from the oldest remembered one on is remembered:
        // the lookup only needs the versions before it.
        let to = match self.capacity() {
            0 => Version::MAX,
            _ => self
                .loaded
                .as_ref()
                .and_then(|l| l.ids.recent.front())
                .map_or(Version::MAX, |r| r.version - 1),
        };
        let started = std::time::Instant::now();
        let (found, cost) =
            aether_core::support::find_command(&*shared.store, &self.id, command_id, skew, to)
                .await
                .map_err(load_err)?;
        Counters::bump(&shared.stats.lookups);
        tracing::debug!(
            actor = %self.id,
            %command_id,
            found = found.is_some(),
            probes = cost.probes,
            scanned = cost.scanned,
            elapsed_us = started.elapsed().as_micros() as u64,
            "command id looked up in the stored history"
        );
        Ok(found)
    }

    /// One decide-and-append: `Some(outcome)` when done, `None` after a version conflict
    /// (the actor has reloaded; decide again).
    ///
    /// The decided events are applied before they are appended, so that the aggregate's
    /// `reply` sees the new state and the reply stored with the events is the one the
    /// caller gets. Whenever they then fail to be stored, the actor forgets its state and
    /// reloads it from the store, which holds the truth (the events may even have been
    /// stored, if the outcome is unknown).
    async fn attempt(
        &mut self,
        ask: &AskMsg<A>,
        fingerprint: Option<&Fingerprint>,
    ) -> Result<Option<Outcome<A>>, AskError<()>> {
        let (events, reply) = match self.decide_and_apply(&ask.command)? {
            Ok(decided) => decided,
            Err(domain) => return Ok(Some(Ok(Err(domain)))),
        };
        if events.is_empty() {
            return Ok(Some(Ok(Ok(reply))));
        }
        // The ids of a command's events carry the millisecond of its (v7) command id: the
        // one it was sent in when the runtime named it, the caller's otherwise. One clock
        // read less per command; nothing orders events by id.
        let id_millis = aether_core::id_millis(ask.command_id);
        let encoded = encode_events::<A>(
            &events,
            &reply,
            (ask.command_id, ask.correlation_id),
            fingerprint,
            &self.rt.type_name,
            id_millis,
            ask.headers.as_deref(),
        );
        let new_events = match encoded {
            Ok(new_events) => new_events,
            Err(e) => {
                self.loaded = None;
                return Err(AskError::Codec(e));
            }
        };
        match self.append(new_events).await {
            Ok((appended, stored)) => {
                let hash = fingerprint.map(|f| f.hash);
                self.stored(ask, hash, appended, &stored);
                // Published after the hooks: the events are stored, and subscribers
                // follow the store.
                self.rt.shared.broadcast(&self.id, stored).await;
                Ok(Some(Ok(Ok(reply))))
            }
            Err(e) if e.kind() == ErrorKind::Conflict => {
                Counters::bump(&self.rt.shared.stats.conflicts);
                tracing::debug!(actor = %self.id, error = traced(&e), "version conflict; reloading");
                self.loaded = None;
                Box::pin(self.activate()).await?;
                Ok(None)
            }
            Err(e) => {
                // The outcome may be unknown: reload from the store before the next
                // command. No side effect ran.
                tracing::warn!(actor = %self.id, error = traced(&e), "append failed");
                self.loaded = None;
                Err(store_err(e))
            }
        }
    }

    /// Decides `command`, then applies the decided events to the state and asks the
    /// aggregate for its reply from the new state. A panic in `apply` or `reply` leaves
    /// the state unusable: the actor reloads it before its next command.
    #[expect(
        clippy::type_complexity,
        reason = "a decision, or a domain error, or a panic"
    )]
    fn decide_and_apply(
        &mut self,
        command: &A::Command,
    ) -> Result<Result<(Vec<A::Event>, A::Reply), A::Error>, AskError<()>> {
        let loaded = self.loaded.as_mut().expect("activated before");
        let aggregate = &self.rt.aggregate;
        let decided = guarded("decide", || aggregate.decide(&loaded.state, command))
            .map_err(AskError::Panicked)?;
        let (events, reply) = match decided {
            Ok(d) => d,
            Err(domain) => return Ok(Err(domain)),
        };
        let applied = guarded("apply", || {
            for e in &events {
                A::apply(&mut loaded.state, e);
            }
        })
        .and_then(|()| guarded("reply", || aggregate.reply(&loaded.state, reply)));
        match applied {
            Ok(reply) => Ok(Ok((events, reply))),
            Err(panic) => {
                self.loaded = None;
                Err(AskError::Panicked(panic))
            }
        }
    }

    /// Appends a command's encoded events at the actor's version, in an `append` span when
    /// tracing records one.
    async fn append(&self, events: Vec<NewEvent>) -> aether_core::Result<Stored> {
        let version = self.loaded.as_ref().expect("activated before").version;
        let span = tracing::debug_span!(
            "append",
            actor = %self.id,
            expected = version,
            events = events.len()
        );
        let expected = ExpectedVersion::Exact(version);
        let append = self
            .rt
            .shared
            .store
            .append_shared(&self.id, expected, events);
        if span.is_disabled() {
            append.await
        } else {
            append.instrument(span).await
        }
    }

    /// After a successful append (the events are applied already): moves the version on,
    /// remembers the command id and runs `on_persisted` (the caller then broadcasts).
    fn stored(
        &mut self,
        ask: &AskMsg<A>,
        hash: Option<u64>,
        appended: aether_core::Appended,
        stored: &[Arc<Event>],
    ) {
        let capacity = self.capacity();
        let rt = &self.rt;
        let loaded = self.loaded.as_mut().expect("activated before");
        Counters::bump(&rt.shared.stats.appends);
        loaded.version = appended.version;
        if !ask.fresh_id {
            let entry = Remembered {
                id: ask.command_id,
                version: appended.first_version,
                hash,
            };
            loaded.ids.remember(entry, capacity);
        }
        let id = &self.id;
        let hook = guarded("on_persisted", || {
            rt.aggregate.on_persisted(id, &loaded.state, stored)
        });
        if let Err(panic) = hook {
            tracing::error!(actor = %self.id, panic, "on_persisted panicked");
        }
    }

    /// The first event of the command whose first event is at `version`.
    async fn first_event_at(&self, version: Version) -> Result<Event, AskError<()>> {
        let events = self
            .rt
            .shared
            .store
            .read(&self.id, version, version, 1)
            .await
            .map_err(load_err)?;
        events.into_iter().next().ok_or_else(|| {
            AskError::Load(Error::not_found(format!(
                "event {version} of {} (the first event of a remembered command)",
                self.id
            )))
        })
    }

    /// The reply stored with the command whose first event is at `version`.
    async fn reply_at(&self, version: Version) -> Outcome<A> {
        let first = self.first_event_at(version).await?;
        self.answer_from(&first)
    }

    /// `CommandIdReused` for a remembered id whose hash differs.
    async fn reused_at(&self, version: Version, command_id: Uuid, f: &Fingerprint) -> Outcome<A> {
        let first = self.first_event_at(version).await?;
        Err(reused(command_id, &first, f))
    }

    /// The stored reply of the command whose first event is `first`.
    fn answer_from(&self, first: &Event) -> Outcome<A> {
        let Some(bytes) = stored_reply_bytes(first) else {
            return Err(AskError::Codec(Error::invalid(
                "event",
                format!(
                    "event {} of {} starts a command but holds no readable reply",
                    first.version, self.id
                ),
            )));
        };
        let reply = codec::from_slice::<A::Reply>(&bytes).map_err(AskError::Codec)?;
        tracing::debug!(actor = %self.id, version = first.version, "duplicate command id answered from the store");
        Counters::bump(&self.rt.shared.stats.duplicates);
        Ok(Ok(reply))
    }

    async fn snapshot_if_due(&mut self) {
        let every = self.rt.shared.config.snapshot_every;
        let due = self
            .loaded
            .as_ref()
            .is_some_and(|l| every > 0 && l.version >= l.snapshot_version + every);
        if due {
            Box::pin(self.save_snapshot()).await;
        }
    }

    async fn snapshot_if_behind(&mut self) {
        if self
            .loaded
            .as_ref()
            .is_some_and(|l| l.version > l.snapshot_version)
        {
            self.save_snapshot().await;
        }
    }

    async fn save_snapshot(&mut self) {
        let Some(loaded) = self.loaded.as_mut() else {
            return;
        };
        let envelope = EnvelopeRef {
            v: ENVELOPE_VERSION,
            aggregate_type: A::TYPE_NAME,
            state: &loaded.state,
            recent: &loaded.ids.recent,
            horizon: loaded.ids.horizon(),
            edge: loaded.ids.edge(),
            future: loaded.ids.future().filter(|f| !f.is_empty()),
            forgot: loaded.ids.forgot(),
        };
        // Encoded in the thread's scratch buffer: no growing a new buffer step by step.
        let bytes = match with_encoded_named(&envelope, "the state", Bytes::copy_from_slice) {
            Ok(b) => b,
            Err(e) => {
                let error = traced(&e);
                tracing::warn!(actor = %self.id, error, "cannot encode the state for a snapshot");
                return;
            }
        };
        let snap = ActorSnapshot::new(
            self.id.clone(),
            loaded.version,
            A::SNAPSHOT_SCHEMA_VERSION,
            bytes,
        );
        match self.rt.shared.store.save_snapshot(snap).await {
            Ok(()) => {
                tracing::debug!(actor = %self.id, version = loaded.version, "snapshot saved");
                loaded.snapshot_version = loaded.version;
                Counters::bump(&self.rt.shared.stats.snapshots);
            }
            Err(e) => {
                tracing::warn!(actor = %self.id, error = traced(&e), "saving a snapshot failed");
            }
        }
    }

    fn passivated(&mut self) {
        if let Some(loaded) = self.loaded.take() {
            Counters::bump(&self.rt.shared.stats.passivations);
            let (rt, id) = (&self.rt, &self.id);
            let hook = guarded("on_passivate", || {
                rt.aggregate.on_passivate(id, &loaded.state)
            });
            if let Err(panic) = hook {
                tracing::error!(actor = %self.id, panic, "on_passivate panicked");
            }
        }
    }
}

/// `CommandIdReused`: `first` (the first event stored for `command_id`) recorded another
/// command than the one now asked with the same id.
fn reused(command_id: Uuid, first: &Event, asked: &Fingerprint) -> AskError<()> {
    let stored = first
        .command
        .as_ref()
        .and_then(|c| c.variant.as_deref())
        .unwrap_or("an unnamed command")
        .to_owned();
    AskError::CommandIdReused {
        command_id,
        stored,
        asked: asked.variant.to_string(),
    }
}

/// Applies a stream of stored events to `loaded`, remembering the caller-supplied command
/// ids among them and checking that they belong to `A`. Returns how many were applied.
async fn replay<A: Aggregate>(
    loaded: &mut Loaded<A>,
    mut stream: aether_core::EventStream,
    capacity: usize,
) -> Result<u64, AskError<()>> {
    let mut n = 0;
    while let Some(item) = stream.next().await {
        let stored = item.map_err(load_err)?;
        if stored.version != loaded.version + 1 {
            return Err(AskError::Load(Error::Backend {
                message: format!(
                    "replaying {}: expected version {}, got {}",
                    stored.actor_id,
                    loaded.version + 1,
                    stored.version
                ),
                source: None,
            }));
        }
        if let Some(t) = stored.aggregate_type() {
            if t != A::TYPE_NAME {
                return Err(AskError::WrongAggregateType {
                    actor: stored.actor_id.clone(),
                    stored: t.to_owned(),
                    asked: A::TYPE_NAME,
                });
            }
        }
        let event = decode_event::<A>(&stored).map_err(AskError::Codec)?;
        guarded("apply", || A::apply(&mut loaded.state, &event)).map_err(AskError::Panicked)?;
        loaded.version = stored.version;
        remember_replayed(&mut loaded.ids, &stored, capacity);
        n += 1;
    }
    Ok(n)
}

/// Remembers the command a replayed event starts, if its id was the caller's: format 2
/// records a hash only for those; format 1 cannot tell, so every command is remembered.
fn remember_replayed(ids: &mut CommandIds, stored: &Event, capacity: usize) {
    let Some(id) = stored.metadata.causation_id else {
        return;
    };
    if !aether_core::support::starts_a_command(stored) {
        return;
    }
    let hash = match &stored.command {
        Some(c) => match c.hash {
            Some(h) => Some(h),
            None => return,
        },
        None => None,
    };
    let entry = Remembered {
        id,
        version: stored.version,
        hash,
    };
    ids.remember_once(entry, capacity);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Tiny;
    impl aether_core::DescribeAggregate for Tiny {
        const TYPE_NAME: &'static str = "Tiny";
        fn command_names() -> &'static [&'static str] {
            &["Add"]
        }
        fn event_names() -> &'static [&'static str] {
            &["Added"]
        }
    }
    #[derive(Serialize, Deserialize)]
    struct Added(u64);
    impl aether_core::EventNames for Added {
        const EVENT_NAMES: &'static [&'static str] = &["Added"];
        fn event_type(&self) -> &'static str {
            "Added"
        }
    }
    impl Aggregate for Tiny {
        type Command = u64;
        type Event = Added;
        type State = u64;
        type Reply = u64;
        type Error = ();
        fn decide(&self, s: &u64, n: &u64) -> Result<(Vec<Added>, u64), ()> {
            Ok((vec![Added(*n)], s + n))
        }
        fn apply(s: &mut u64, Added(n): &Added) {
            *s += n;
        }
    }

    /// The idle actor's task holds this future: keep it small (it is most of the memory an
    /// idle actor costs).
    #[test]
    fn the_actor_future_stays_small() {
        let store =
            aether_store_mem::InMemoryEventStore::new(aether_core::Namespace::new("t").unwrap());
        let system = crate::ActorSystem::builder().store(store).build().unwrap();
        let actors = system.actors::<Tiny>();
        let fut = run_actor(
            actors.runtime().clone(),
            ActorId::new("x").unwrap(),
            Arc::new(Mailbox::new()),
        );
        let size = std::mem::size_of_val(&fut);
        eprintln!("actor future: {size} bytes");
        assert!(size <= 320, "the actor future is {size} bytes");
    }

    /// The future of one command is allocated for each command: keep it small (the rare
    /// paths, activation, snapshots, reloads, stored replies, are boxed apart).
    #[test]
    fn the_command_future_stays_small() {
        let store =
            aether_store_mem::InMemoryEventStore::new(aether_core::Namespace::new("t").unwrap());
        let system = crate::ActorSystem::builder().store(store).build().unwrap();
        let actors = system.actors::<Tiny>();
        let mut cell = Cell {
            rt: actors.runtime().clone(),
            id: ActorId::new("x").unwrap(),
            mailbox: Arc::new(Mailbox::new()),
            loaded: None,
            activated: false,
        };
        // Balance the count of live actors that dropping the cell decrements.
        cell.rt.shared.actor_started();
        let (reply, _rx) = oneshot::channel();
        let ask = AskMsg {
            command: 1,
            command_id: Uuid::nil(),
            fresh_id: false,
            correlation_id: Uuid::nil(),
            deadline: tokio::time::Instant::now(),
            headers: None,
            reply: Some(reply),
        };
        let fut = cell.handle(Box::new(ask));
        let size = std::mem::size_of_val(&fut);
        eprintln!("command future: {size} bytes");
        assert!(size <= 640, "the command future is {size} bytes");
    }

    #[test]
    fn format_1_reply_headers_are_read_from_hex() {
        let reply = (7u64, "seven".to_owned());
        let bytes = codec::to_vec_named(&reply).unwrap();
        let hex = hex::encode(&bytes);
        let event = |header: &str| {
            let new = NewEvent::new("T", vec![1u8])
                .with_metadata(Metadata::new().header(REPLY_HEADER, header));
            Event::from_new(ActorId::new("a").unwrap(), 1, new, time_now())
        };
        for case in [hex.clone(), hex.to_uppercase()] {
            let event = event(&case);
            assert!(aether_core::support::starts_a_command(&event));
            let stored = stored_reply_bytes(&event).unwrap();
            assert_eq!(stored, bytes, "{case}");
            let back: (u64, String) = codec::from_slice(&stored).unwrap();
            assert_eq!(back, reply);
        }
        for bad in ["abc", "zz"] {
            assert!(stored_reply_bytes(&event(bad)).is_none(), "{bad}");
        }
    }

    #[test]
    fn fingerprints_name_the_variant_or_the_type() {
        let f = Fingerprint::of::<Tiny>(&5).unwrap();
        assert_eq!(&*f.variant, "u64");
        assert_eq!(
            f.hash,
            aether_core::support::command_hash(&codec::to_vec_named(&5u64).unwrap())
        );
        assert_ne!(f.hash, Fingerprint::of::<Tiny>(&6).unwrap().hash);
    }

    fn time_now() -> aether_core::OffsetDateTime {
        aether_core::OffsetDateTime::now_utc()
    }
}
