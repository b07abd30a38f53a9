//! Reading: batch direct get for short ranges (one round trip), an ordered consumer for
//! long histories (bounded memory), the stream leader where a replica lags.

use aether_core::{ActorId, Error, Event, EventStream, Result, Version};
use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use async_nats::jetstream::stream::DirectGetErrorKind;
use futures::stream::{self, StreamExt};
use tokio::time::Instant;

use crate::cache::Tail;
use crate::errors;
use crate::record::{self, EventRecord};
use crate::JetStreamEventStore;

/// One batch direct get: the messages found and how many more match after them.
pub(crate) struct Page {
    pub(crate) msgs: Vec<Found>,
    /// How many more messages match after this page, as the server reports it. Without
    /// headers nats-server 2.15.1 does not count the messages it sent off this figure, so
    /// it is an upper bound: a hint, never a reason to stop.
    pub(crate) pending: u64,
    /// Whether the server may have stopped for the batch size or byte limit rather than
    /// for want of messages (then there may be more).
    pub(crate) maybe_more: bool,
    /// The stream sequence of the last message of the page (0 when there is none).
    pub(crate) last_seq: u64,
}

/// A message of a batch read.
pub(crate) struct Found {
    /// Its stream sequence; 0 when the read asked for payloads only.
    pub(crate) seq: u64,
    /// Its subject; empty when the read asked for payloads only.
    pub(crate) subject: String,
    pub(crate) payload: bytes::Bytes,
}

impl JetStreamEventStore {
    /// One batch direct get on `stream`: up to `batch` messages matching `subject` (wildcards
    /// allowed) from stream sequence `seq`, in one round trip. Without `headers` the server
    /// sends payloads only, which is several times faster per message (it then skips
    /// copying and extending every stored header block); the page still tells the sequence
    /// of its last message.
    pub(crate) async fn direct_batch(
        &self,
        stream: &str,
        subject: &str,
        seq: u64,
        batch: usize,
        headers: bool,
    ) -> Result<Page> {
        let client = &self.inner.client;
        let inbox = client.new_inbox();
        let mut sub = client
            .subscribe(inbox.clone())
            .await
            .map_err(|e| errors::map("subscribing for a batch read", e))?;
        let request = serde_json::json!({
            "seq": seq.max(1),
            "next_by_subj": subject,
            "batch": batch.max(1),
            "max_bytes": self.inner.options.read_buffer_bytes,
            "no_hdr": !headers,
        });
        client
            .publish_with_reply(
                format!("$JS.API.DIRECT.GET.{stream}"),
                inbox,
                request.to_string().into(),
            )
            .await
            .map_err(|e| errors::map("requesting a batch read", e))?;
        let timeout = self.inner.options.request_timeout;
        // One timer for the whole batch, not one per message.
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut msgs = Vec::new();
        loop {
            let next = tokio::select! {
                biased;
                m = sub.next() => Some(m),
                () = &mut deadline => None,
            };
            let msg = match next {
                Some(Some(m)) => m,
                Some(None) => {
                    return Err(Error::unavailable(
                        "batch read",
                        std::io::Error::other("the connection closed the reply subscription"),
                    ))
                }
                None => {
                    return Err(Error::Timeout(format!(
                        "batch read of {subject} on {stream}: no complete reply within {timeout:?}"
                    )))
                }
            };
            match msg.status.map(|s| s.as_u16()) {
                None | Some(200) => {
                    let (seq, subject) = match (&msg.headers, headers) {
                        (Some(h), true) => (
                            h.get("Nats-Sequence")
                                .and_then(|v| v.as_str().parse().ok())
                                .unwrap_or(0),
                            h.get("Nats-Subject")
                                .map(|v| v.as_str().to_owned())
                                .unwrap_or_default(),
                        ),
                        _ => (0, String::new()),
                    };
                    msgs.push(Found {
                        seq,
                        subject,
                        payload: msg.payload,
                    });
                }
                Some(204) => {
                    let header = |name: &str| {
                        msg.headers
                            .as_ref()
                            .and_then(|h| h.get(name))
                            .and_then(|v| v.as_str().parse().ok())
                            .unwrap_or(0)
                    };
                    // The server stops a batch early only when no message is left or the
                    // byte limit is reached (it counts subject, stored headers and payload;
                    // 1 KiB a message covers the headers Aether stores, with room to spare).
                    let sent: usize = msgs.iter().map(|m| m.payload.len() + 1024).sum();
                    return Ok(Page {
                        pending: header("Nats-Num-Pending"),
                        last_seq: header("Nats-Last-Sequence"),
                        maybe_more: msgs.len() >= batch.max(1)
                            || sent >= self.inner.options.read_buffer_bytes,
                        msgs,
                    });
                }
                Some(404) => {
                    return Ok(Page {
                        msgs,
                        pending: 0,
                        last_seq: 0,
                        maybe_more: false,
                    })
                }
                Some(503) => {
                    return Err(Error::unavailable(
                        format!("batch read on {stream}: no responders"),
                        std::io::Error::other("no responders (no stream leader, or no stream)"),
                    ))
                }
                Some(code) => {
                    return Err(Error::Backend {
                        message: format!(
                            "batch read on {stream} refused: {code} {}",
                            msg.description.unwrap_or_default()
                        ),
                        source: None,
                    })
                }
            }
        }
    }

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
            .last_message(
                &self.inner.events,
                &subject,
                true,
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
            let found = self
                .retrying(deadline, || async {
                    match self
                        .inner
                        .events
                        .direct_get_next_for_subject(subject, Some(seq))
                        .await
                    {
                        Ok(m) => Ok(Some(m)),
                        Err(e) if e.kind() == DirectGetErrorKind::NotFound => Ok(None),
                        Err(e) => Err(errors::map("looking for a version", e)),
                    }
                })
                .await?;
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
        Ok(crate::append::search_version(version, lo, tail.seq, probe)
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

/// Deletes an ordered consumer when the read that made it ends.
struct ConsumerGuard {
    stream: async_nats::jetstream::stream::Stream<()>,
    name: String,
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
        match self.last {
            None => {
                let ok = if self.start_seq <= 1 {
                    rec.first() == 1
                } else {
                    rec.first() <= self.from
                };
                if !ok {
                    if self.start_seq > 1 {
                        return Ok(false);
                    }
                    return Err(Error::Codec {
                        message: format!(
                            "the stored history of {} starts at version {}, not 1",
                            self.actor,
                            rec.first()
                        ),
                        source: None,
                    });
                }
            }
            Some(last) if rec.first() != last + 1 => {
                let first = rec.first();
                let broken = if first > last {
                    format!("jumps from version {last} to {first}")
                } else {
                    format!("repeats version {first} after version {last}")
                };
                return Err(Error::Codec {
                    message: format!("the stored history of {} {broken}", self.actor),
                    source: None,
                });
            }
            Some(_) => {}
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

    async fn next_chunk_inner(&mut self) -> Option<Result<Vec<Event>>> {
        loop {
            match &mut self.phase {
                Phase::Done => return None,
                Phase::Start => {
                    self.floor = match self.store.floor(&self.actor, &self.subject).await {
                        Ok(f) => f,
                        Err(e) => return self.stop(e),
                    };
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
                }
                Phase::Pages => {
                    let prefetched = if std::mem::take(&mut self.may_take_prefetch)
                        && self.last.is_none()
                        && self.next_seq == self.start_seq
                    {
                        self.store
                            .inner
                            .prefetch
                            .take(&self.actor, self.start_seq - 1)
                    } else {
                        None
                    };
                    let fetched = match prefetched {
                        Some(page) => Ok(page),
                        None => {
                            self.store
                                .retrying(
                                    Instant::now() + self.store.inner.options.retry_deadline,
                                    || {
                                        self.store.direct_batch(
                                            &self.store.inner.names.events_stream,
                                            &self.subject,
                                            self.next_seq,
                                            self.page,
                                            false,
                                        )
                                    },
                                )
                                .await
                        }
                    };
                    let page = match fetched {
                        Ok(p) => p,
                        Err(e) => return self.stop(e),
                    };
                    // At least one event a message: grown at most a few times.
                    let mut out = Vec::with_capacity(page.msgs.len());
                    let mut restarted = false;
                    let mut whole_page = true;
                    for (i, m) in page.msgs.iter().enumerate() {
                        match self.absorb(None, &m.payload, &mut out) {
                            Ok(true) => {}
                            Ok(false) => {
                                restarted = true;
                                break;
                            }
                            Err(e) => return self.stop(e),
                        }
                        if self.done() {
                            whole_page = i + 1 == page.msgs.len();
                            break;
                        }
                    }
                    if restarted {
                        // The start position was wrong: read again from the first message.
                        self.restart_from_first_message();
                        continue;
                    }
                    if whole_page && page.last_seq > 0 {
                        self.next_seq = page.last_seq + 1;
                        self.tail_seq = Some(page.last_seq);
                    }
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
                        && page.pending > 4 * self.page as u64
                    {
                        // Far from `from` with a long way to go: find the message holding
                        // it by binary search instead of reading everything before it.
                        self.may_skip = false;
                        match self
                            .store
                            .locate_replica(&self.actor, &self.subject, self.from, self.next_seq)
                            .await
                        {
                            Ok(Some((seq, first))) => {
                                self.next_seq = seq;
                                self.last = Some(first - 1);
                                self.tail_seq = None;
                                self.last_time = None;
                            }
                            Ok(None) => {}
                            Err(e) => return self.stop(e),
                        }
                    } else if self.may_use_consumer && page.pending > self.page as u64 {
                        match self.start_consumer().await {
                            Ok(c) => self.phase = Phase::Consumer(Box::new(c)),
                            Err(e) => return self.stop(e),
                        }
                    }
                    if !out.is_empty() {
                        return Some(Ok(out));
                    }
                }
                Phase::Consumer(c) => {
                    let wait = self.store.inner.options.request_timeout * 2;
                    let next = tokio::time::timeout(wait, c.messages.next()).await;
                    let msg = match next {
                        Ok(Some(Ok(m))) => m,
                        Ok(Some(Err(e))) => {
                            return self.stop(errors::map("reading with an ordered consumer", e))
                        }
                        Ok(None) => {
                            return self.stop(Error::unavailable(
                                "reading with an ordered consumer",
                                std::io::Error::other("the consumer ended"),
                            ))
                        }
                        Err(_) => {
                            return self.stop(Error::Timeout(format!(
                                "reading {}: no message from the ordered consumer within {wait:?}",
                                self.actor
                            )))
                        }
                    };
                    let (seq, pending) = match msg.info() {
                        Ok(i) => (i.stream_sequence, i.pending),
                        Err(e) => {
                            return self.stop(Error::Backend {
                                message: format!(
                                    "an ordered consumer message without metadata: {e}"
                                ),
                                source: None,
                            })
                        }
                    };
                    let mut out = Vec::new();
                    match self.absorb(Some(seq), &msg.payload, &mut out) {
                        Ok(true) => {}
                        Ok(false) => {
                            self.restart_from_first_message();
                            continue;
                        }
                        Err(e) => return self.stop(e),
                    }
                    if self.done() || (pending == 0 && self.reached_floor()) {
                        self.phase = Phase::Done;
                    }
                    if !out.is_empty() {
                        return Some(Ok(out));
                    }
                }
                Phase::Leader => {
                    // A replica answered without what this handle knows is stored.
                    let deadline = Instant::now() + self.store.inner.options.retry_deadline;
                    let next = self
                        .store
                        .leader_next_message(
                            &self.store.inner.events,
                            &self.subject,
                            self.next_seq,
                            deadline,
                        )
                        .await;
                    let msg = match next {
                        Ok(Some(m)) => m,
                        Ok(None) => {
                            self.phase = Phase::Done;
                            continue;
                        }
                        Err(e) => return self.stop(e),
                    };
                    let mut out = Vec::new();
                    match self.absorb(Some(msg.sequence), &msg.payload, &mut out) {
                        Ok(true) => {}
                        Ok(false) => {
                            self.restart_from_first_message();
                            continue;
                        }
                        Err(e) => return self.stop(e),
                    }
                    if self.done() || self.reached_floor() {
                        // Caught up with what is known; the rest comes from the replicas.
                        self.phase = if self.done() {
                            Phase::Done
                        } else {
                            Phase::Pages
                        };
                    }
                    if !out.is_empty() {
                        return Some(Ok(out));
                    }
                }
            }
        }
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
