//! Reading an actor's events: pages by batch direct get (`direct`) for short ranges (one
//! round trip each), an ordered consumer for long histories (bounded memory), the stream
//! leader where a replica lags behind what the handle knows is stored.

use aether_core::{ActorId, Error, Event, EventStream, Result, Version};
use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use futures::stream::{self, StreamExt};
use tokio::time::Instant;

use crate::cache::Tail;
use crate::direct::Page;
use crate::errors;
use crate::record::{self, EventRecord};
use crate::JetStreamEventStore;

impl JetStreamEventStore {
    /// What the handle knows is stored at least, if anything: its cache, or (when replicas
    /// may lag and the cache knows nothing) the stream leader's answer.
    async fn floor(&self, actor: &ActorId, subject: &str) -> Result<Option<Tail>> {
        if let Some(t) = self.inner.cache.get(actor) {
            return Ok(Some(t));
        }
        if self.inner.replica_reads {
            return Ok(None);
        }
        let deadline = Instant::now() + self.inner.options.retry_deadline;
        Ok(Some(self.leader_tail(actor, subject, deadline).await?.0))
    }

    pub(crate) async fn latest_version_impl(&self, actor: &ActorId) -> Result<Version> {
        let subject = self.inner.names.events(actor);
        let cached = self.inner.cache.get(actor);
        let deadline = Instant::now() + self.inner.options.retry_deadline;
        if !self.inner.replica_reads && cached.is_none() {
            return Ok(Box::pin(self.leader_tail(actor, &subject, deadline))
                .await?
                .0
                .version);
        }
        let found = self
            .direct_last_message(
                &self.inner.events,
                &subject,
                "reading the latest version",
                deadline,
            )
            .await?;
        let Some(m) = found else {
            return Ok(cached.map_or(0, |t| t.version));
        };
        let rec = record::decode_events(&m.payload, actor, m.sequence)?;
        let tail = Tail {
            version: rec.last(),
            seq: m.sequence,
            time: rec.time(),
        };
        match cached {
            // A replica behind what this handle knows: what it knows is the answer.
            Some(c) if c.seq > tail.seq => Ok(c.version),
            _ => {
                self.inner.cache.observe(actor, tail);
                Ok(tail.version)
            }
        }
    }

    /// The stream sequence and first version of the message of `actor` holding `version`,
    /// by binary search with direct gets over the sequences from `lo` to the actor's last
    /// message. Any replica will do: the messages it looks for are old.
    async fn locate_replica(
        &self,
        actor: &ActorId,
        subject: &str,
        version: Version,
        lo: u64,
    ) -> Result<Option<(u64, Version)>> {
        let deadline = Instant::now() + self.inner.options.retry_deadline;
        let probe = |seq: u64| async move {
            let found = self.direct_next_message(subject, seq, deadline).await?;
            found
                .map(|m| {
                    Ok::<_, Error>((
                        m.sequence,
                        record::decode_events(&m.payload, actor, m.sequence)?,
                    ))
                })
                .transpose()
        };
        let tail = match self.inner.cache.get(actor) {
            Some(t) => t,
            None => {
                Box::pin(self.leader_tail(actor, subject, deadline))
                    .await?
                    .0
            }
        };
        Ok(crate::leader::search_version(version, lo, tail.seq, probe)
            .await?
            .map(|(seq, rec)| (seq, rec.first())))
    }

    pub(crate) async fn read_impl(
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
        let mut reader = Reader::new(self.clone(), actor.clone(), from, to, 0, false, max);
        let mut out = Vec::new();
        while let Some(chunk) = reader.next_chunk().await {
            for e in chunk? {
                out.push(e);
                if out.len() >= max {
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }

    pub(crate) fn stream_impl(
        &self,
        actor: ActorId,
        from: Version,
        to: Version,
        position: u64,
    ) -> EventStream {
        let from = from.max(1);
        if from > to {
            return stream::empty().boxed();
        }
        let mut reader = Reader::new(self.clone(), actor, from, to, position, true, usize::MAX);
        reader.may_take_prefetch = position > 0;
        stream::unfold(reader, |mut r| async move {
            r.next_chunk().await.map(|c| (c, r))
        })
        .flat_map(|chunk| match chunk {
            Ok(events) => stream::iter(events.into_iter().map(Ok)).left_stream(),
            Err(e) => stream::iter(std::iter::once(Err(e))).right_stream(),
        })
        .boxed()
    }
}

enum Phase {
    Start,
    Pages,
    Consumer(Box<ConsumerRead>),
    Leader,
    Done,
}

struct ConsumerRead {
    messages: pull::Ordered,
    _guard: ConsumerGuard,
}

impl ConsumerRead {
    /// The next message of `actor`: its stream sequence, how many are pending after it,
    /// and its payload; an error when none comes within `wait`.
    async fn next(
        &mut self,
        wait: std::time::Duration,
        actor: &ActorId,
    ) -> Result<(u64, u64, bytes::Bytes)> {
        let msg = match tokio::time::timeout(wait, self.messages.next()).await {
            Ok(Some(Ok(m))) => m,
            Ok(Some(Err(e))) => return Err(errors::map("reading with an ordered consumer", e)),
            Ok(None) => {
                return Err(Error::Unavailable {
                    message: "reading with an ordered consumer: the consumer ended".into(),
                    source: None,
                })
            }
            Err(_) => {
                return Err(Error::timeout(format!(
                    "reading {actor}: no message from the ordered consumer within {wait:?}"
                )))
            }
        };
        let info = msg
            .info()
            .map_err(|e| Error::backend("an ordered consumer message without metadata", e))?;
        let (seq, pending) = (info.stream_sequence, info.pending);
        Ok((seq, pending, msg.message.payload))
    }
}

/// Deletes an ordered consumer when the read that made it ends.
pub(crate) struct ConsumerGuard {
    pub(crate) stream: async_nats::jetstream::stream::Stream<()>,
    pub(crate) name: String,
}

impl Drop for ConsumerGuard {
    fn drop(&mut self) {
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let stream = self.stream.clone();
            let name = std::mem::take(&mut self.name);
            rt.spawn(async move {
                let _ = stream.delete_consumer(&name).await;
            });
        }
    }
}

/// One read of an actor's events, chunk by chunk.
struct Reader {
    store: JetStreamEventStore,
    actor: ActorId,
    subject: String,
    from: Version,
    to: Version,
    /// Where the next read starts (stream sequence).
    next_seq: u64,
    /// Where this read started; 1 means from the actor's first message.
    start_seq: u64,
    /// The last version read so far.
    last: Option<Version>,
    /// The stream sequence of the message holding `last`, when known.
    tail_seq: Option<u64>,
    /// The time of the record holding `last`, when known.
    last_time: Option<aether_core::OffsetDateTime>,
    /// What is known to be stored at least (a replica read must reach it).
    floor: Option<Tail>,
    phase: Phase,
    may_use_consumer: bool,
    /// Whether the read may still jump ahead to `from` (once).
    may_skip: bool,
    page: usize,
    bytes_seen: usize,
    msgs_seen: usize,
    /// Whether the first page may be one read while the snapshot loaded (reads after a
    /// snapshot only).
    may_take_prefetch: bool,
}

impl Reader {
    fn new(
        store: JetStreamEventStore,
        actor: ActorId,
        from: Version,
        to: Version,
        position: u64,
        may_use_consumer: bool,
        max: usize,
    ) -> Self {
        let subject = store.inner.names.events(&actor);
        let page = store.inner.options.read_page.min(max).max(1);
        Reader {
            store,
            actor,
            subject,
            from,
            to,
            next_seq: position.saturating_add(1).max(1),
            start_seq: position.saturating_add(1).max(1),
            last: None,
            tail_seq: None,
            last_time: None,
            floor: None,
            phase: Phase::Start,
            may_use_consumer,
            may_skip: true,
            page,
            bytes_seen: 0,
            msgs_seen: 0,
            may_take_prefetch: false,
        }
    }

    fn stop(&mut self, err: Error) -> Option<Result<Vec<Event>>> {
        self.phase = Phase::Done;
        Some(Err(err))
    }

    /// Whether everything known to be stored in range has been read.
    fn reached_floor(&self) -> bool {
        match self.floor {
            None => true,
            Some(f) => self.last.unwrap_or(0) >= f.version.min(self.to),
        }
    }

    fn done(&self) -> bool {
        self.last.is_some_and(|l| l >= self.to)
    }

    /// Takes in one stored message: checks it continues the history, keeps the events in
    /// range. `Ok(None)` when the read must start over from the actor's first message (a
    /// start position that was wrong).
    fn absorb(
        &mut self,
        seq: Option<u64>,
        payload: &bytes::Bytes,
        out: &mut Vec<Event>,
    ) -> Result<bool> {
        if let (Some(seq), Some(read)) = (seq, self.tail_seq) {
            if seq <= read {
                // Stream sequences only grow: this message was read already, delivered again
                // (an ordered consumer recreated behind its position after a leader change).
                tracing::debug!(actor = %self.actor, seq, read, "skipping a message read already");
                return Ok(true);
            }
        }
        let rec: EventRecord = record::decode_events(payload, &self.actor, seq.unwrap_or(0))?;
        self.bytes_seen += payload.len();
        self.msgs_seen += 1;
        if !self.continues(&rec)? {
            return Ok(false);
        }
        self.last = Some(rec.last());
        self.last_time = Some(rec.time());
        self.tail_seq = seq;
        if let Some(seq) = seq {
            self.next_seq = seq + 1;
        }
        out.extend(rec.into_events(&self.actor, self.from, self.to));
        Ok(true)
    }

    /// Whether `rec` continues the history read so far: the first message read must start
    /// at version 1 (or, read from a start position, at or before `from`: `false` when it
    /// does not, so the read starts over), every later one right after the last version.
    fn continues(&self, rec: &EventRecord) -> Result<bool> {
        let first = rec.first();
        let broken = match self.last {
            None if self.start_seq > 1 => return Ok(first <= self.from),
            None if first == 1 => return Ok(true),
            None => format!("starts at version {first}, not 1"),
            Some(last) if first == last + 1 => return Ok(true),
            Some(last) if first > last => format!("jumps from version {last} to {first}"),
            Some(last) => format!("repeats version {first} after version {last}"),
        };
        Err(Error::Codec {
            message: format!("the stored history of {} {broken}", self.actor),
            source: None,
        })
    }

    fn restart_from_first_message(&mut self) {
        self.start_seq = 1;
        self.next_seq = 1;
        self.last = None;
        self.tail_seq = None;
        self.last_time = None;
        self.phase = Phase::Pages;
    }

    /// Feeds the handle's cache with the newest message read so far.
    fn remember(&self) {
        if let (Some(last), Some(seq), Some(time)) = (self.last, self.tail_seq, self.last_time) {
            let tail = Tail {
                version: last,
                seq,
                time,
            };
            self.store.inner.cache.observe(&self.actor, tail);
        }
    }

    async fn next_chunk(&mut self) -> Option<Result<Vec<Event>>> {
        let chunk = self.next_chunk_inner().await;
        if !matches!(self.phase, Phase::Consumer(_)) {
            self.remember();
        }
        chunk
    }

    /// The next chunk of events: the phases of the read run until one of them has events
    /// to hand out, fails (which ends the read), or the read is done (`None`).
    async fn next_chunk_inner(&mut self) -> Option<Result<Vec<Event>>> {
        loop {
            let wait = self.store.inner.options.request_timeout * 2;
            let step = match &mut self.phase {
                Phase::Done => return None,
                Phase::Start => self.start().await,
                Phase::Pages => self.read_page().await,
                Phase::Consumer(c) => match c.next(wait, &self.actor).await {
                    Ok((seq, pending, payload)) => self.take_consumed(seq, pending, &payload),
                    Err(e) => Err(e),
                },
                Phase::Leader => self.read_from_leader().await,
            };
            match step {
                Ok(None) => {}
                Ok(Some(out)) => return Some(Ok(out)),
                Err(e) => return self.stop(e),
            }
        }
    }

    /// The start: learns what is known to be stored, and starts right after the cached
    /// tail when the read begins just past it.
    async fn start(&mut self) -> Result<Option<Vec<Event>>> {
        self.floor = self.store.floor(&self.actor, &self.subject).await?;
        if let Some(f) = self.floor {
            if self.start_seq <= 1 && f.version >= 1 && self.from == f.version + 1 {
                // Everything before `from` is in messages up to the cached one.
                self.start_seq = f.seq + 1;
                self.next_seq = f.seq + 1;
                self.last = Some(f.version);
                self.tail_seq = Some(f.seq);
                self.last_time = Some(f.time);
            }
        }
        self.phase = Phase::Pages;
        Ok(None)
    }

    /// One page by batch direct get (or the one read while the snapshot loaded), its
    /// events taken in, then the next phase chosen.
    async fn read_page(&mut self) -> Result<Option<Vec<Event>>> {
        let page = self.fetch_page().await?;
        let Some((out, whole_page)) = self.absorb_page(&page)? else {
            // The start position was wrong: read again from the first message.
            self.restart_from_first_message();
            return Ok(None);
        };
        if whole_page && page.last_seq > 0 {
            self.next_seq = page.last_seq + 1;
            self.tail_seq = Some(page.last_seq);
        } else if whole_page && !page.msgs.is_empty() && !self.done() {
            // The page said nothing of where it ended (a replica ended the batch without
            // its end-of-batch status): the next read must not start again from
            // `next_seq`, which would repeat the page.
            if !self.reposition_after_last().await? {
                self.phase = Phase::Done;
                return Ok((!out.is_empty()).then_some(out));
            }
        }
        self.after_page(&page).await?;
        Ok((!out.is_empty()).then_some(out))
    }

    /// Moves the read to the message right after the last version read, found through the
    /// stream leader; `false` when no later version is stored.
    async fn reposition_after_last(&mut self) -> Result<bool> {
        let Some(last) = self.last else {
            return Ok(true);
        };
        let deadline = Instant::now() + self.store.inner.options.retry_deadline;
        let store = &self.store;
        let (tail, _) = Box::pin(store.leader_tail(&self.actor, &self.subject, deadline)).await?;
        if tail.version <= last {
            return Ok(false);
        }
        let found = Box::pin(store.locate(
            &self.actor,
            &self.subject,
            last + 1,
            None,
            tail.seq,
            deadline,
        ))
        .await?;
        let Some((seq, _)) = found else {
            return Ok(false);
        };
        tracing::debug!(actor = %self.actor, seq, last, "a page without its position; moved");
        self.next_seq = seq;
        // Where `last` itself is stored is not known: nothing is cached for it.
        self.tail_seq = None;
        Ok(true)
    }

    /// The next page: the one prefetched while the snapshot loaded, when the read starts
    /// right after that snapshot; else a batch direct get from `next_seq`.
    async fn fetch_page(&mut self) -> Result<Page> {
        let may_take = std::mem::take(&mut self.may_take_prefetch);
        if may_take && self.last.is_none() && self.next_seq == self.start_seq {
            let prefetch = &self.store.inner.prefetch;
            if let Some(page) = prefetch.take(&self.actor, self.start_seq - 1) {
                return Ok(page);
            }
        }
        let deadline = Instant::now() + self.store.inner.options.retry_deadline;
        self.store
            .retrying(deadline, || {
                self.store.direct_batch(
                    &self.store.inner.names.events_stream,
                    &self.subject,
                    self.next_seq,
                    self.page,
                    false,
                )
            })
            .await
    }

    /// Takes in the messages of `page` up to the end of the range: its events and whether
    /// every message was taken; `None` when the read must start over from the first
    /// message.
    fn absorb_page(&mut self, page: &Page) -> Result<Option<(Vec<Event>, bool)>> {
        // At least one event a message: grown at most a few times.
        let mut out = Vec::with_capacity(page.msgs.len());
        for (i, m) in page.msgs.iter().enumerate() {
            if !self.absorb(None, &m.payload, &mut out)? {
                return Ok(None);
            }
            if self.done() {
                return Ok(Some((out, i + 1 == page.msgs.len())));
            }
        }
        Ok(Some((out, true)))
    }

    /// Chooses what follows `page`: done; the leader, when the replica has less than what
    /// is known to be stored; a jump ahead to `from`; an ordered consumer for a long way to
    /// go; or the next page.
    async fn after_page(&mut self, page: &Page) -> Result<()> {
        let page_len = self.page as u64;
        if self.done() {
            self.phase = Phase::Done;
        } else if page.pending == 0 || page.msgs.is_empty() || !page.maybe_more {
            self.phase = if self.reached_floor() {
                Phase::Done
            } else {
                Phase::Leader
            };
        } else if self.may_skip
            && self.last.map_or(0, |l| l + 1) < self.from
            && page.pending > 4 * page_len
        {
            // Far from `from` with a long way to go: find the message holding it by binary
            // search instead of reading everything before it.
            self.may_skip = false;
            self.skip_to_from().await?;
        } else if self.may_use_consumer && page.pending > page_len {
            self.phase = Phase::Consumer(Box::new(self.start_consumer().await?));
        }
        Ok(())
    }

    /// Moves the read to the message holding `from`, when a binary search finds it.
    async fn skip_to_from(&mut self) -> Result<()> {
        let found = self
            .store
            .locate_replica(&self.actor, &self.subject, self.from, self.next_seq)
            .await?;
        if let Some((seq, first)) = found {
            self.next_seq = seq;
            self.last = Some(first - 1);
            self.tail_seq = None;
            self.last_time = None;
        }
        Ok(())
    }

    /// Takes in the message at stream sequence `seq` from the ordered consumer, with
    /// `pending` messages after it.
    fn take_consumed(
        &mut self,
        seq: u64,
        pending: u64,
        payload: &bytes::Bytes,
    ) -> Result<Option<Vec<Event>>> {
        let mut out = Vec::new();
        if !self.absorb(Some(seq), payload, &mut out)? {
            self.restart_from_first_message();
            return Ok(None);
        }
        if self.done() || (pending == 0 && self.reached_floor()) {
            self.phase = Phase::Done;
        }
        Ok((!out.is_empty()).then_some(out))
    }

    /// One message from the stream leader: a replica answered without what this handle
    /// knows is stored. Once caught up with that, the rest comes from the replicas.
    async fn read_from_leader(&mut self) -> Result<Option<Vec<Event>>> {
        let deadline = Instant::now() + self.store.inner.options.retry_deadline;
        let events = &self.store.inner.events;
        let next = self
            .store
            .leader_next_message(events, &self.subject, self.next_seq, deadline)
            .await?;
        let Some(msg) = next else {
            self.phase = Phase::Done;
            return Ok(None);
        };
        let mut out = Vec::new();
        if !self.absorb(Some(msg.sequence), &msg.payload, &mut out)? {
            self.restart_from_first_message();
            return Ok(None);
        }
        if self.done() {
            self.phase = Phase::Done;
        } else if self.reached_floor() {
            self.phase = Phase::Pages;
        }
        Ok((!out.is_empty()).then_some(out))
    }

    async fn start_consumer(&mut self) -> Result<ConsumerRead> {
        let avg = self
            .bytes_seen
            .checked_div(self.msgs_seen)
            .unwrap_or(1024)
            .max(64);
        let batch = (self.store.inner.options.read_buffer_bytes / avg).clamp(16, 500);
        let stream = self.store.inner.events.clone();
        let consumer = stream
            .create_consumer(pull::OrderedConfig {
                filter_subject: self.subject.clone(),
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: self.next_seq,
                },
                max_batch: batch as i64,
                ..Default::default()
            })
            .await
            .map_err(|e| errors::map("creating an ordered consumer", e))?;
        let name = consumer.cached_info().name.clone();
        let guard = ConsumerGuard { stream, name };
        let messages = consumer
            .messages()
            .await
            .map_err(|e| errors::map("starting an ordered consumer", e))?;
        Ok(ConsumerRead {
            messages,
            _guard: guard,
        })
    }
}
