//! One actor's task: activation, the command loop, conflict retries, de-duplication by
//! command id, snapshots and passivation.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use aether_core::codec::with_encoded_named;
use aether_core::{
    codec, ActorId, ActorSnapshot, Bytes, Error, ErrorKind, Event, ExpectedVersion, Metadata,
    NewEvent, Uuid, Version,
};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tracing::Instrument;

use crate::aggregate::Aggregate;
use crate::error::AskError;
use crate::mailbox::Mailbox;
use crate::system::{Counters, TypeRuntime};

/// The header holding the encoded reply, on the first event of each command.
pub const REPLY_HEADER: &str = "aether-reply";
/// The header holding an event's schema version when it is not 1.
pub const SCHEMA_HEADER: &str = "aether-schema";

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
    pub(crate) reply: oneshot::Sender<Outcome<A>>,
}

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
    /// Recent command ids and the version of the first event each stored, oldest first.
    recent: VecDeque<(Uuid, Version)>,
}

/// How a snapshot's `state` bytes are laid out: the aggregate state plus the recent command
/// ids, so de-duplication survives passivation.
#[derive(Serialize)]
struct EnvelopeRef<'a, S> {
    state: &'a S,
    recent: &'a VecDeque<(Uuid, Version)>,
}

#[derive(Deserialize)]
struct Envelope<S> {
    state: S,
    #[serde(default)]
    recent: VecDeque<(Uuid, Version)>,
}

/// An active actor. Dropping it — however its task ends, a panic included — closes and
/// unregisters its mailbox, so the mailbox never outlives the actor.
struct Cell<A: Aggregate> {
    rt: Arc<TypeRuntime<A>>,
    id: ActorId,
    mailbox: Arc<Mailbox<Msg<A>>>,
    loaded: Option<Loaded<A>>,
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
    };
    let mut acks = Vec::new();
    loop {
        // The handling futures are boxed so that the future of an idle actor (this loop,
        // waiting for its mailbox) stays small.
        match cell.mailbox.recv().await {
            Msg::Ask(ask) => {
                Box::pin(cell.handle(*ask)).await;
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
                        Msg::Ask(ask) => Box::pin(cell.handle(*ask)).await,
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

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_owned()
    }
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
    codec::from_slice(&data).map_err(|e| match e {
        Error::Codec { message, source } => Error::Codec {
            message: format!(
                "event {} v{} of {} ({}, upcast from schema {schema}): {message}",
                event.id, event.version, event.actor_id, event.event_type
            ),
            source,
        },
        other => other,
    })
}

/// Encodes the events one command decided, with their metadata: causation and correlation
/// ids on all, the encoded reply on the first, the schema version when it is not 1. Their
/// ids are UUID v7 stamped `id_millis`, or the current time when `None`.
pub(crate) fn encode_events<A: Aggregate>(
    events: &[A::Event],
    reply: &A::Reply,
    command_id: Uuid,
    correlation_id: Uuid,
    id_millis: Option<u64>,
) -> Result<Vec<NewEvent>, Error> {
    let mut out = Vec::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        let mut metadata = Metadata {
            correlation_id: Some(correlation_id),
            causation_id: Some(command_id),
            headers: Default::default(),
        };
        if i == 0 {
            metadata
                .headers
                .insert(REPLY_HEADER.to_owned(), encode_reply_hex(reply)?);
        }
        if A::EVENT_SCHEMA_VERSION != 1 {
            metadata.headers.insert(
                SCHEMA_HEADER.to_owned(),
                A::EVENT_SCHEMA_VERSION.to_string(),
            );
        }
        out.push(NewEvent {
            id: match id_millis {
                Some(millis) => aether_core::new_id_at(millis),
                None => aether_core::new_id(),
            },
            event_type: A::event_type(e).to_owned(),
            data: encode_payload(e)?,
            metadata,
        });
    }
    Ok(out)
}

/// An event's payload in MessagePack with field names, in a buffer of its exact size.
fn encode_payload<T: Serialize>(value: &T) -> Result<Bytes, Error> {
    with_encoded_named(value, "an event", Bytes::copy_from_slice)
}

/// The reply as the hex of its MessagePack encoding (with field names), in a string of its
/// exact size.
fn encode_reply_hex<R: Serialize>(reply: &R) -> Result<String, Error> {
    with_encoded_named(reply, "the reply", |bytes| {
        let mut s = String::with_capacity(bytes.len() * 2);
        push_hex(&mut s, bytes);
        s
    })
}

fn push_hex(s: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    s.as_bytes()
        .chunks(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

fn store_err(e: Error) -> AskError<()> {
    if e.kind() == ErrorKind::Codec {
        AskError::Codec(e)
    } else {
        AskError::Store(e)
    }
}

impl<A: Aggregate> Loaded<A> {
    fn remember(&mut self, command_id: Uuid, version: Version, capacity: usize) {
        // Callers only remember ids that `recall` did not find, so no scan for duplicates.
        if capacity == 0 {
            return;
        }
        while self.recent.len() >= capacity {
            self.recent.pop_front();
        }
        self.recent.push_back((command_id, version));
    }

    fn recall(&self, command_id: Uuid) -> Option<Version> {
        self.recent
            .iter()
            .rev()
            .find(|(c, _)| *c == command_id)
            .map(|(_, v)| *v)
    }
}

impl<A: Aggregate> Cell<A> {
    fn capacity(&self) -> usize {
        self.rt.shared.config.recent_command_ids
    }

    async fn handle(&mut self, ask: AskMsg<A>) {
        if ask.reply.is_closed() {
            // The caller gave up before the command started: it is not run.
            return;
        }
        let outcome = self.process(&ask).await;
        let _ = ask.reply.send(outcome);
        self.snapshot_if_due().await;
    }

    /// Loads the actor: the newest usable snapshot, then the events after it.
    async fn activate(&mut self) -> Result<(), AskError<()>> {
        let span = tracing::debug_span!("activate", aggregate = A::TYPE_NAME, actor = %self.id);
        async {
            let store = &self.rt.shared.store;
            let mut loaded = Loaded::<A> {
                state: A::State::default(),
                version: 0,
                snapshot_version: 0,
                recent: VecDeque::new(),
            };
            let snapshot = match store.load_snapshot(&self.id, None).await {
                Ok(s) => s,
                // Its head or chunks no longer decode: the events are the truth, so replay
                // them all (a history that is gone too fails the replay clearly).
                Err(e) if e.kind() == ErrorKind::Codec => {
                    tracing::warn!(
                        aggregate = A::TYPE_NAME,
                        actor = %self.id,
                        error = %e,
                        "the newest snapshot cannot be read; replaying all events"
                    );
                    None
                }
                Err(e) => return Err(AskError::Store(e)),
            };
            let mut from_snapshot = None;
            if let Some(snap) = snapshot {
                if snap.schema_version != A::SNAPSHOT_SCHEMA_VERSION {
                    tracing::warn!(
                        aggregate = A::TYPE_NAME,
                        actor = %self.id,
                        snapshot_version = snap.version,
                        schema = snap.schema_version,
                        expected = A::SNAPSHOT_SCHEMA_VERSION,
                        "snapshot has an unknown state schema version; replaying all events"
                    );
                } else {
                    match codec::from_slice::<Envelope<A::State>>(&snap.state) {
                        Ok(env) => {
                            loaded.state = env.state;
                            loaded.version = snap.version;
                            loaded.snapshot_version = snap.version;
                            loaded.recent = env.recent;
                            from_snapshot = Some(snap);
                        }
                        Err(e) => tracing::warn!(
                            aggregate = A::TYPE_NAME,
                            actor = %self.id,
                            snapshot_version = snap.version,
                            error = %e,
                            "snapshot does not decode; replaying all events"
                        ),
                    }
                }
            }
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
            let rt = &self.rt;
            let id = &self.id;
            catch_unwind(AssertUnwindSafe(|| {
                rt.aggregate.on_activate(id, &loaded.state)
            }))
            .map_err(|p| AskError::Panicked(panic_message(p)))?;
            self.loaded = Some(loaded);
            Counters::bump(&self.rt.shared.stats.activations);
            Ok(())
        }
        .instrument(span)
        .await
    }

    async fn process(&mut self, ask: &AskMsg<A>) -> Outcome<A> {
        if self.loaded.is_none() {
            // The rare paths are boxed apart, so the future of a command (allocated for
            // each one) stays small: large allocations are much slower.
            Box::pin(self.activate()).await?;
        }
        let retries = self.rt.shared.config.conflict_retries;
        let capacity = self.capacity();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let loaded = self.loaded.as_mut().expect("activated above");
            if let Some(first_version) = (!ask.fresh_id)
                .then(|| loaded.recall(ask.command_id))
                .flatten()
            {
                return Box::pin(self.stored_reply(first_version)).await;
            }
            let rt = &self.rt;
            let decided = catch_unwind(AssertUnwindSafe(|| {
                rt.aggregate.decide(&loaded.state, &ask.command)
            }))
            .map_err(|p| AskError::Panicked(panic_message(p)))?;
            let (events, reply) = match decided {
                Ok(d) => d,
                Err(domain) => return Ok(Err(domain)),
            };
            if events.is_empty() {
                return Ok(Ok(reply));
            }
            let new_events =
                encode_events::<A>(&events, &reply, ask.command_id, ask.correlation_id, {
                    // The ids of the events of a command the runtime just named carry the
                    // millisecond it was sent in: one clock read less per command.
                    ask.fresh_id
                        .then(|| aether_core::id_millis(ask.command_id))
                        .flatten()
                })
                .map_err(AskError::Codec)?;
            let expected = ExpectedVersion::Exact(loaded.version);
            let span = tracing::debug_span!(
                "append",
                actor = %self.id,
                expected = loaded.version,
                events = new_events.len()
            );
            let append = rt
                .shared
                .store
                .append_shared(&self.id, expected, new_events);
            let appended = if span.is_disabled() {
                append.await
            } else {
                append.instrument(span).await
            };
            match appended {
                Ok((appended, stored)) => {
                    let applied = catch_unwind(AssertUnwindSafe(|| {
                        for e in &events {
                            A::apply(&mut loaded.state, e);
                        }
                    }));
                    if let Err(p) = applied {
                        // The events are stored; the state in memory cannot be trusted. They
                        // are broadcast all the same: subscribers follow the store.
                        self.loaded = None;
                        rt.shared.broadcast(&self.id, stored).await;
                        return Err(AskError::Panicked(panic_message(p)));
                    }
                    Counters::bump(&rt.shared.stats.appends);
                    loaded.version = appended.version;
                    loaded.remember(ask.command_id, appended.first_version, capacity);
                    let id = &self.id;
                    let hook = catch_unwind(AssertUnwindSafe(|| {
                        rt.aggregate.on_persisted(id, &loaded.state, &stored)
                    }));
                    if let Err(p) = hook {
                        tracing::error!(actor = %self.id, panic = %panic_message(p), "on_persisted panicked");
                    }
                    rt.shared.broadcast(&self.id, stored).await;
                    return Ok(Ok(reply));
                }
                Err(e) if e.kind() == ErrorKind::Conflict => {
                    Counters::bump(&rt.shared.stats.conflicts);
                    tracing::debug!(actor = %self.id, attempt = attempts, error = %e, "version conflict; catching up");
                    if attempts > retries {
                        // Catch up anyway so the next command starts from the truth.
                        Box::pin(self.catch_up()).await?;
                        return Err(AskError::Conflict { attempts });
                    }
                    Box::pin(self.catch_up()).await?;
                }
                Err(e) => {
                    // The outcome may be unknown: reload from the store before the next
                    // command. The state is unchanged and no side effect ran.
                    tracing::warn!(actor = %self.id, error = %e, "append failed");
                    self.loaded = None;
                    return Err(store_err(e));
                }
            }
        }
    }

    /// Applies the events stored after the actor's version (written by another writer).
    async fn catch_up(&mut self) -> Result<(), AskError<()>> {
        let capacity = self.capacity();
        let Some(loaded) = self.loaded.as_mut() else {
            return Ok(());
        };
        let stream = self.rt.shared.store.read_stream(
            &self.id,
            loaded.version.saturating_add(1),
            Version::MAX,
        );
        if let Err(e) = replay(loaded, stream, capacity).await {
            self.loaded = None;
            return Err(e);
        }
        Ok(())
    }

    /// The reply stored with the command whose first event is at `version`.
    async fn stored_reply(&self, version: Version) -> Outcome<A> {
        let events = self
            .rt
            .shared
            .store
            .read(&self.id, version, version, 1)
            .await
            .map_err(store_err)?;
        let Some(first) = events.first() else {
            return Err(AskError::Store(Error::NotFound(format!(
                "event {version} of {} (the first event of a remembered command)",
                self.id
            ))));
        };
        let Some(hex) = first.metadata.headers.get(REPLY_HEADER) else {
            return Err(AskError::Codec(Error::invalid(
                "event",
                format!(
                    "event {version} of {} has no {REPLY_HEADER} header",
                    self.id
                ),
            )));
        };
        let bytes = from_hex(hex).ok_or_else(|| {
            AskError::Codec(Error::invalid(
                "event",
                format!(
                    "event {version} of {} has a malformed {REPLY_HEADER} header",
                    self.id
                ),
            ))
        })?;
        let reply = codec::from_slice::<A::Reply>(&bytes).map_err(AskError::Codec)?;
        tracing::debug!(actor = %self.id, version, "duplicate command id answered from the store");
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
            state: &loaded.state,
            recent: &loaded.recent,
        };
        // Encoded in the thread's scratch buffer: no growing a new buffer step by step.
        let bytes = match with_encoded_named(&envelope, "the state", Bytes::copy_from_slice) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(actor = %self.id, error = %e, "cannot encode the state for a snapshot");
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
                tracing::warn!(actor = %self.id, error = %e, "saving a snapshot failed");
            }
        }
    }

    fn passivated(&mut self) {
        if let Some(loaded) = self.loaded.take() {
            Counters::bump(&self.rt.shared.stats.passivations);
            let rt = &self.rt;
            let id = &self.id;
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| {
                rt.aggregate.on_passivate(id, &loaded.state)
            })) {
                tracing::error!(actor = %self.id, panic = %panic_message(p), "on_passivate panicked");
            }
        }
    }
}

/// Applies a stream of stored events to `loaded`, remembering their command ids. Returns
/// how many were applied.
async fn replay<A: Aggregate>(
    loaded: &mut Loaded<A>,
    mut stream: aether_core::EventStream,
    capacity: usize,
) -> Result<u64, AskError<()>> {
    let mut n = 0;
    while let Some(item) = stream.next().await {
        let stored = item.map_err(store_err)?;
        if stored.version != loaded.version + 1 {
            return Err(AskError::Store(Error::Backend {
                message: format!(
                    "replaying {}: expected version {}, got {}",
                    stored.actor_id,
                    loaded.version + 1,
                    stored.version
                ),
                source: None,
            }));
        }
        let event = decode_event::<A>(&stored).map_err(AskError::Codec)?;
        catch_unwind(AssertUnwindSafe(|| A::apply(&mut loaded.state, &event)))
            .map_err(|p| AskError::Panicked(panic_message(p)))?;
        loaded.version = stored.version;
        if let Some(c) = stored.metadata.causation_id {
            if stored.metadata.headers.contains_key(REPLY_HEADER) {
                loaded.remember(c, stored.version, capacity);
            }
        }
        n += 1;
    }
    Ok(n)
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
    impl Aggregate for Tiny {
        type Command = u64;
        type Event = u64;
        type State = u64;
        type Reply = u64;
        type Error = ();
        fn event_type(_: &u64) -> &'static str {
            "Added"
        }
        fn decide(&self, s: &u64, n: &u64) -> Result<(Vec<u64>, u64), ()> {
            Ok((vec![*n], s + n))
        }
        fn apply(s: &mut u64, n: &u64) {
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
    /// paths, activation, snapshots, catching up, stored replies, are boxed apart).
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
        };
        // Balance the count of live actors that dropping the cell decrements.
        cell.rt.shared.actor_started();
        let (reply, _rx) = oneshot::channel();
        let ask = AskMsg {
            command: 1,
            command_id: Uuid::nil(),
            fresh_id: false,
            correlation_id: Uuid::nil(),
            reply,
        };
        let fut = cell.handle(ask);
        let size = std::mem::size_of_val(&fut);
        eprintln!("command future: {size} bytes");
        assert!(size <= 640, "the command future is {size} bytes");
    }

    #[test]
    fn hex_round_trips() {
        let bytes = [0u8, 1, 0x7f, 0x80, 0xff, 0x10];
        let mut hex = String::new();
        push_hex(&mut hex, &bytes);
        assert_eq!(from_hex(&hex).unwrap(), bytes);
        let reply = (7u64, "seven".to_owned());
        let hex = encode_reply_hex(&reply).unwrap();
        let back: (u64, String) = codec::from_slice(&from_hex(&hex).unwrap()).unwrap();
        assert_eq!(back, reply);
        assert!(from_hex("abc").is_none());
        assert!(from_hex("zz").is_none());
    }
}
