//! Appending: one message per append, optimistic concurrency by expected subject sequence,
//! idempotent retries, and retries of transient failures within a deadline.

use std::future::{Future, IntoFuture};
use std::time::Duration;

use aether_core::{
    ActorId, Appended, Error, ErrorKind, ExpectedVersion, NewEvent, OffsetDateTime, Result,
    StorePosition, Version,
};
use async_nats::header::{self, HeaderName, HeaderValue};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::message::StreamMessage;
use async_nats::jetstream::publish::PublishAck;
use async_nats::jetstream::stream::{DirectGetErrorKind, LastRawMessageErrorKind};
use async_nats::{HeaderMap, Subject};
use bytes::Bytes;
use tokio::time::Instant;

use crate::cache::Tail;
use crate::errors::{self, code};
use crate::record::{self, EventRecord};
use crate::JetStreamEventStore;

/// Room left in a message for headers: ours, the expected sequence and the message id.
pub(crate) const HEADER_ROOM: usize = 512;

/// The first pause of a retry loop, and the longest: a short cap keeps the wait after a
/// leader election or a restarted server's recovery short.
const FIRST_PAUSE: Duration = Duration::from_millis(25);
const MAX_PAUSE: Duration = Duration::from_millis(250);

/// Header with the version of the first event a message holds.
pub(crate) const FIRST_VERSION_HEADER: &str = "Aether-First-Version";
/// Header with the number of events a message holds.
pub(crate) const COUNT_HEADER: &str = "Aether-Count";

const FIRST_VERSION_NAME: HeaderName = HeaderName::from_static(FIRST_VERSION_HEADER);
const COUNT_NAME: HeaderName = HeaderName::from_static(COUNT_HEADER);

/// `n` in decimal as a header value (one allocation, no formatting machinery).
fn decimal(n: u64) -> HeaderValue {
    let mut s = String::with_capacity(20);
    crate::names::push_decimal(&mut s, n);
    HeaderValue::from(s)
}

/// What an append holds, to tell a retry of it from another append: the caller's events,
/// or the record encoded from them once they are freed.
enum Mine<'a> {
    Events(&'a [NewEvent]),
    Encoded {
        payload: &'a Bytes,
        first_id: uuid::Uuid,
        count: usize,
    },
}

impl Mine<'_> {
    fn first_id(&self) -> uuid::Uuid {
        match self {
            Mine::Events(events) => events[0].id,
            Mine::Encoded { first_id, .. } => *first_id,
        }
    }

    fn count(&self) -> usize {
        match self {
            Mine::Events(events) => events.len(),
            Mine::Encoded { count, .. } => *count,
        }
    }

    /// Whether `rec` holds exactly these events (ids, types, payloads, metadata).
    fn held_by(&self, actor: &ActorId, rec: &EventRecord) -> Result<bool> {
        match self {
            Mine::Events(events) => Ok(rec.same_content(events)),
            Mine::Encoded { payload, .. } => {
                let mine = record::decode_events(payload, actor, 0)?;
                Ok(rec.same_events(&mine))
            }
        }
    }
}

enum Published {
    Stored(PublishAck),
    WrongSequence,
}

impl JetStreamEventStore {
    pub(crate) async fn append_impl(
        &self,
        actor: &ActorId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<Appended> {
        self.check_batch(&events)?;
        // Shared (not copied) by every publish of this append.
        let subject = Subject::from(self.inner.names.events(actor));
        let deadline = Instant::now() + self.inner.options.retry_deadline;
        match expected {
            ExpectedVersion::Exact(v) => {
                self.append_exact(actor, &subject, v, events, deadline)
                    .await
            }
            ExpectedVersion::Any => {
                Box::pin(self.append_any(actor, &subject, &events, deadline)).await
            }
        }
    }

    fn check_batch(&self, events: &[NewEvent]) -> Result<()> {
        let limit = self.max_append_bytes();
        // Sizes are checked here, against the limit with its origin named.
        let total = NewEvent::validate_append(events, usize::MAX)?;
        if total > limit {
            return Err(too_large(events, total, limit));
        }
        Ok(())
    }

    fn encode(
        &self,
        actor: &ActorId,
        first: Version,
        events: &[NewEvent],
        time: OffsetDateTime,
    ) -> Result<Bytes> {
        // Stored records never reach u64::MAX (decoding checks it), so `first` is at most
        // that; only a forged history leaves no room for more events.
        if first.checked_add(events.len() as u64).is_none() {
            return Err(Error::Codec {
                message: format!(
                    "the stored history of {actor} reaches version {}: no room for {} more \
                     events (the stream holds records Aether did not write)",
                    first - 1,
                    events.len()
                ),
                source: None,
            });
        }
        let payload = {
            let mut arena = self.inner.arena.lock().unwrap_or_else(|p| p.into_inner());
            record::encode_events_into(
                &mut arena,
                actor,
                first,
                events,
                time,
                self.inner.options.record_format,
            )?
        };
        let limit = self.max_append_bytes();
        if payload.len() > limit {
            return Err(too_large(events, payload.len(), limit));
        }
        Ok(payload)
    }

    async fn append_exact(
        &self,
        actor: &ActorId,
        subject: &Subject,
        v: Version,
        events: Vec<NewEvent>,
        deadline: Instant,
    ) -> Result<Appended> {
        let mut tail = match self.inner.cache.get(actor) {
            Some(t) if t.version == v => t,
            // "No events yet" is exactly what expected sequence 0 asks the server.
            None if v == 0 => Tail::EMPTY,
            _ => {
                let (now, rec) = Box::pin(self.leader_tail(actor, subject, deadline)).await?;
                if now.version != v {
                    return Box::pin(self.resolve_conflict(
                        actor,
                        subject,
                        v,
                        &Mine::Events(&events),
                        None,
                        now,
                        rec,
                        deadline,
                    ))
                    .await;
                }
                now
            }
        };
        let mut time = tail.next_time(OffsetDateTime::now_utc());
        let mut payload = self.encode(actor, v + 1, &events, time)?;
        // The caller's events are freed now, while they are still in the CPU's cache; a
        // retry or a refusal is told from another append by the record encoded from them.
        let (first_id, count) = (events[0].id, events.len());
        drop(events);
        let mut same_tail_refusals = 0;
        loop {
            let mine = Mine::Encoded {
                payload: &payload,
                first_id,
                count,
            };
            match self
                .publish(subject, &payload, v + 1, &mine, tail.seq, deadline)
                .await?
            {
                Published::Stored(ack) if ack.duplicate => {
                    let seq = ack.sequence;
                    return Box::pin(self.verify_duplicate(actor, subject, &mine, seq, deadline))
                        .await;
                }
                Published::Stored(ack) => {
                    return Ok(self.stored_new(actor, v + 1, mine.count(), ack.sequence, time))
                }
                Published::WrongSequence => {
                    let (now, rec) = Box::pin(self.leader_tail(actor, subject, deadline)).await?;
                    if now.version == v {
                        // A clustered stream refuses a write that races an in-flight one
                        // (10164) even when that one fails in the end: try again.
                        same_tail_refusals += 1;
                        if same_tail_refusals > 20 || Instant::now() > deadline {
                            return Err(Error::conflict(
                                actor.clone(),
                                ExpectedVersion::Exact(v),
                                now.version,
                            ));
                        }
                        if now.time > time {
                            // The record must not be stamped before the actor's latest
                            // append, which is later than the cache said: same record, new
                            // time.
                            if let Some(restamped) = record::restamped(&payload, now.time) {
                                payload = restamped;
                                time = now.time;
                            }
                        }
                        tail = now;
                        continue;
                    }
                    return Box::pin(self.resolve_conflict(
                        actor,
                        subject,
                        v,
                        &mine,
                        Some(tail.seq),
                        now,
                        rec,
                        deadline,
                    ))
                    .await;
                }
            }
        }
    }

    async fn append_any(
        &self,
        actor: &ActorId,
        subject: &Subject,
        events: &[NewEvent],
        deadline: Instant,
    ) -> Result<Appended> {
        let mut tail = match self.inner.cache.get(actor) {
            Some(t) => t,
            None => {
                let (now, rec) = Box::pin(self.leader_tail(actor, subject, deadline)).await?;
                if let Some(dup) =
                    self.same_append(actor, now.seq, rec.as_ref(), &Mine::Events(events))?
                {
                    return Ok(dup);
                }
                now
            }
        };
        let mut pause = Duration::from_millis(1);
        loop {
            let time = tail.next_time(OffsetDateTime::now_utc());
            let payload = self.encode(actor, tail.version + 1, events, time)?;
            match self
                .publish(
                    subject,
                    &payload,
                    tail.version + 1,
                    &Mine::Events(events),
                    tail.seq,
                    deadline,
                )
                .await?
            {
                Published::Stored(ack) if ack.duplicate => {
                    let seq = ack.sequence;
                    let mine = Mine::Events(events);
                    return Box::pin(self.verify_duplicate(actor, subject, &mine, seq, deadline))
                        .await;
                }
                Published::Stored(ack) => {
                    return Ok(self.stored_new(
                        actor,
                        tail.version + 1,
                        events.len(),
                        ack.sequence,
                        time,
                    ))
                }
                Published::WrongSequence => {
                    let (now, rec) = Box::pin(self.leader_tail(actor, subject, deadline)).await?;
                    if let Some(dup) =
                        self.same_append(actor, now.seq, rec.as_ref(), &Mine::Events(events))?
                    {
                        return Ok(dup);
                    }
                    if Instant::now() > deadline {
                        return Err(Error::Timeout(format!(
                            "append to {actor} with any version: other writers kept winning for {:?}",
                            self.inner.options.retry_deadline
                        )));
                    }
                    if now == tail {
                        // Refused although nothing moved (a clustered race): back off a little.
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_millis(50));
                    }
                    tail = now;
                }
            }
        }
    }

    /// A new append the server stored at stream sequence `seq`: the cache moves on.
    fn stored_new(
        &self,
        actor: &ActorId,
        first: Version,
        count: usize,
        seq: u64,
        time: OffsetDateTime,
    ) -> Appended {
        let last = first + count as u64 - 1;
        let tail = Tail {
            version: last,
            seq,
            time,
        };
        self.inner.cache.observe(actor, tail);
        Appended {
            first_version: first,
            version: last,
            position: StorePosition(seq),
            duplicate: false,
            timestamp: Some(time),
        }
    }

    /// The server recognised a re-sent message id: checks that the message it points to
    /// holds these very events of this actor.
    async fn verify_duplicate(
        &self,
        actor: &ActorId,
        subject: &str,
        mine: &Mine<'_>,
        seq: u64,
        deadline: Instant,
    ) -> Result<Appended> {
        let msg = self
            .retrying(deadline, || async {
                self.inner
                    .events
                    .get_raw_message(seq)
                    .await
                    .map_err(|e| errors::map("reading back a duplicate append", e))
            })
            .await?;
        if msg.subject.as_str() != subject {
            return Err(Error::invalid(
                "append",
                format!(
                    "event id {} was appended to another actor within the duplicate window",
                    mine.first_id()
                ),
            ));
        }
        let rec = record::decode_events(&msg.payload, actor, msg.sequence)?;
        self.same_append(actor, msg.sequence, Some(&rec), mine)?
            .ok_or_else(|| different_content(actor, mine.first_id()))
    }

    /// If `rec` (at `seq`) starts with `events[0]`: the original result when it holds the
    /// same events, an error when it holds others; `None` when it is another append.
    fn same_append(
        &self,
        actor: &ActorId,
        seq: u64,
        rec: Option<&EventRecord>,
        mine: &Mine<'_>,
    ) -> Result<Option<Appended>> {
        let Some(rec) = rec else { return Ok(None) };
        if rec.first_id() != mine.first_id() {
            return Ok(None);
        }
        if !mine.held_by(actor, rec)? {
            return Err(different_content(actor, mine.first_id()));
        }
        Ok(Some(Appended {
            first_version: rec.first(),
            version: rec.last(),
            position: StorePosition(seq),
            duplicate: true,
            timestamp: Some(rec.time()),
        }))
    }

    /// An `Exact(v)` append was refused and the actor is at `now`: a retry of an append
    /// stored earlier at `v + 1` (then its original result), or a conflict.
    #[allow(clippy::too_many_arguments)] // internal; every argument is needed once
    async fn resolve_conflict(
        &self,
        actor: &ActorId,
        subject: &str,
        v: Version,
        mine: &Mine<'_>,
        seq_of_v: Option<u64>,
        now: Tail,
        now_rec: Option<EventRecord>,
        deadline: Instant,
    ) -> Result<Appended> {
        let conflict = || Error::conflict(actor.clone(), ExpectedVersion::Exact(v), now.version);
        if now.version <= v {
            return Err(conflict());
        }
        let target = v + 1;
        let (seq, rec) = match now_rec {
            Some(rec) if rec.first() <= target => (now.seq, rec),
            _ => match self
                .locate(actor, subject, target, seq_of_v, now.seq, deadline)
                .await?
            {
                Some(found) => found,
                None => return Err(conflict()),
            },
        };
        if rec.id_at(target) != Some(mine.first_id()) {
            return Err(conflict());
        }
        if rec.first() != target {
            return Err(different_content(actor, mine.first_id()));
        }
        match self.same_append(actor, seq, Some(&rec), mine)? {
            Some(dup) => Ok(dup),
            None => Err(conflict()),
        }
    }

    /// Finds, through the stream leader, the message holding `version` of `actor`: the one
    /// right after `hint` (the message holding `version - 1`) when known, else by binary
    /// search over the stream sequences up to `last_seq`.
    pub(crate) async fn locate(
        &self,
        actor: &ActorId,
        subject: &str,
        version: Version,
        hint: Option<u64>,
        last_seq: u64,
        deadline: Instant,
    ) -> Result<Option<(u64, EventRecord)>> {
        if let Some(h) = hint {
            if let Some((seq, rec)) = self.leader_next(actor, subject, h + 1, deadline).await? {
                if rec.first() <= version && version <= rec.last() {
                    return Ok(Some((seq, rec)));
                }
            }
        }
        search_version(version, 1, last_seq, |seq| {
            self.leader_next(actor, subject, seq, deadline)
        })
        .await
    }

    /// The first message of `actor` at or after stream sequence `seq`, from the leader.
    pub(crate) async fn leader_next(
        &self,
        actor: &ActorId,
        subject: &str,
        seq: u64,
        deadline: Instant,
    ) -> Result<Option<(u64, EventRecord)>> {
        match self
            .leader_next_message(&self.inner.events, subject, seq, deadline)
            .await?
        {
            Some(m) => {
                let rec = record::decode_events(&m.payload, actor, m.sequence)?;
                Ok(Some((m.sequence, rec)))
            }
            None => Ok(None),
        }
    }

    /// The first message on `subject` at or after stream sequence `seq`, from the leader.
    pub(crate) async fn leader_next_message(
        &self,
        stream: &async_nats::jetstream::stream::Stream<()>,
        subject: &str,
        seq: u64,
        deadline: Instant,
    ) -> Result<Option<StreamMessage>> {
        self.retrying(deadline, || async {
            match stream
                .raw_message_builder()
                .sequence(seq)
                .next_by_subject(subject.to_owned())
                .send()
                .await
            {
                Ok(m) => Ok(Some(m)),
                Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
                Err(e) => Err(errors::map("reading from the stream leader", e)),
            }
        })
        .await
    }

    /// The last message on `subject` of `stream`, if any: from any replica by direct get
    /// (`from_replica`), else from the stream leader; transient failures retried until
    /// `deadline`. `what` names the read in errors.
    pub(crate) async fn last_message(
        &self,
        stream: &async_nats::jetstream::stream::Stream<()>,
        subject: &str,
        from_replica: bool,
        what: &str,
        deadline: Instant,
    ) -> Result<Option<StreamMessage>> {
        self.retrying(deadline, || async {
            if from_replica {
                match Box::pin(stream.direct_get_last_for_subject(subject)).await {
                    Ok(m) => Ok(Some(m)),
                    Err(e) if e.kind() == DirectGetErrorKind::NotFound => Ok(None),
                    Err(e) => Err(errors::map(what, e)),
                }
            } else {
                match Box::pin(stream.get_last_raw_message_by_subject(subject)).await {
                    Ok(m) => Ok(Some(m)),
                    Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
                    Err(e) => Err(errors::map(what, e)),
                }
            }
        })
        .await
    }

    /// The actor's latest version and the sequence of its last message, from the stream
    /// leader (always up to date), with that message's record.
    pub(crate) async fn leader_tail(
        &self,
        actor: &ActorId,
        subject: &str,
        deadline: Instant,
    ) -> Result<(Tail, Option<EventRecord>)> {
        let msg = self
            .last_message(
                &self.inner.events,
                subject,
                false,
                "reading the latest version from the stream leader",
                deadline,
            )
            .await?;
        match msg {
            None => Ok((Tail::EMPTY, None)),
            Some(m) => {
                let rec = record::decode_events(&m.payload, actor, m.sequence)?;
                let tail = Tail {
                    version: rec.last(),
                    seq: m.sequence,
                    time: rec.time(),
                };
                self.inner.cache.observe(actor, tail);
                Ok((tail, Some(rec)))
            }
        }
    }

    /// Publishes one append record expecting `expected_seq` as the subject's last sequence,
    /// retrying transient failures until `deadline`.
    async fn publish(
        &self,
        subject: &Subject,
        payload: &Bytes,
        first: Version,
        mine: &Mine<'_>,
        expected_seq: u64,
        deadline: Instant,
    ) -> Result<Published> {
        // The retry loop (with its timer) is boxed and made only after a failure, so the
        // append's future stays small.
        let sent = if self.inner.health.link().connected {
            self.publish_once(subject, payload, first, mine, expected_seq)
                .await
        } else {
            // Nothing can be acknowledged before the connection is back: the retry loop
            // waits for it, then sends at once.
            Err(Error::Unavailable {
                message: "appending: the NATS connection is down".into(),
                source: None,
            })
        };
        match sent {
            Err(e) if e.is_transient() => {
                Box::pin(self.retrying_after(e, deadline, || {
                    self.publish_once(subject, payload, first, mine, expected_seq)
                }))
                .await
            }
            done => done,
        }
    }

    async fn publish_once(
        &self,
        subject: &Subject,
        payload: &Bytes,
        first: Version,
        mine: &Mine<'_>,
        expected_seq: u64,
    ) -> Result<Published> {
        // Names without allocating; values formatted once, straight into their strings.
        let mut headers = HeaderMap::new();
        headers.insert(FIRST_VERSION_NAME, decimal(first));
        headers.insert(COUNT_NAME, decimal(mine.count() as u64));
        let mut id = uuid::Uuid::encode_buffer();
        let id = mine.first_id().hyphenated().encode_lower(&mut id);
        headers.insert(
            header::NATS_MESSAGE_ID,
            HeaderValue::from(String::from(&*id)),
        );
        headers.insert(
            header::NATS_EXPECTED_LAST_SUBJECT_SEQUENCE,
            decimal(expected_seq),
        );
        // Boxed, sending and acknowledgement in one allocation: the append's own future
        // (boxed per call by the object-safe trait) stays small enough for the
        // allocator's fast path. A busy handle is acknowledged through its shared reply
        // subscription (less CPU per append); an idle one through async-nats's
        // JetStream publish (no hop through the router: lower latency). See `acks`.
        // An append sent on a connection that then drops is never acknowledged: it ends
        // at once (as lost here, or by the router, which fails every waiter of a dropped
        // connection), and the retry re-sends it when the connection is back.
        let flight = self.inner.acks.begin();
        let health = &self.inner.health;
        let sent = if flight.shared() {
            Ok(Box::pin(
                self.inner
                    .acks
                    .publish(subject.clone(), headers, payload.clone()),
            )
            .await)
        } else {
            let msg = PublishMessage::build()
                .payload(payload.clone())
                .headers(headers);
            health
                .or_lost(Box::pin(async {
                    match self.inner.js.send_publish(subject.clone(), msg).await {
                        Ok(ack) => ack.into_future().await,
                        Err(e) => Err(e),
                    }
                }))
                .await
        };
        drop(flight);
        let Ok(sent) = sent else {
            return Err(lost_in_flight("appending"));
        };
        match sent {
            Ok(ack) => Ok(Published::Stored(ack)),
            Err(e) => match errors::api_code(&e) {
                Some(code::WRONG_LAST_SEQUENCE | code::WRONG_LAST_SEQUENCE_CONSTANT) => {
                    Ok(Published::WrongSequence)
                }
                Some(code::STREAM_STORE_FAILED) => Err(self.refused(e)),
                _ => Err(errors::map("appending", e)),
            },
        }
    }

    /// The stream refused to store an append (it is full, or its storage failed): a
    /// definite refusal, nothing stored, so not a transient error and not an unknown
    /// outcome.
    fn refused(&self, e: impl std::fmt::Display) -> Error {
        Error::invalid(
            "append",
            format!(
                "the event stream {} refused to store it ({e}); nothing was stored. A full \
                 stream (max_bytes or max_messages reached) takes appends again once its \
                 limits are raised",
                self.inner.names.events_stream
            ),
        )
    }

    /// Runs `op` until it succeeds, fails for good, or `deadline` passes; transient failures
    /// (no stream leader, a timeout, a busy server) are retried with a growing pause. A
    /// stream that keeps not answering is looked up: if it is gone, that is the error.
    pub(crate) async fn retrying<T, F, Fut>(&self, deadline: Instant, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        match self.attempt(deadline, &mut op).await {
            Err(e) if e.is_transient() => self.retrying_after(e, deadline, op).await,
            done => done,
        }
    }

    /// One attempt of `op`, ended as lost (transient) when the connection drops under it.
    /// While the connection is down nothing can be answered: the attempt first waits for it
    /// (until `deadline`), instead of a full `request_timeout`.
    async fn attempt<T, F, Fut>(&self, deadline: Instant, op: &mut F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let health = &self.inner.health;
        if !health.link().connected && !health.connected_by(deadline).await {
            let down = Error::Timeout("waiting for the NATS connection".into());
            return Err(health.explain(down));
        }
        match health.or_lost(op()).await {
            Ok(done) => done,
            Err(_) => Err(lost_in_flight("a request")),
        }
    }

    /// [`retrying`](Self::retrying) after a first attempt failed with the transient `first`.
    pub(crate) async fn retrying_after<T, F, Fut>(
        &self,
        first: Error,
        deadline: Instant,
        mut op: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let health = &self.inner.health;
        let mut pause = FIRST_PAUSE;
        let mut failures = 0u32;
        let mut failure = first;
        loop {
            failures += 1;
            if !health.link().connected {
                // Nothing can succeed before the connection is back; then at once.
                if !health.connected_by(deadline).await {
                    return Err(health.explain(failure));
                }
                pause = FIRST_PAUSE;
            } else {
                if failure.kind() == ErrorKind::Unavailable && failures % 4 == 1 {
                    Box::pin(self.ensure_streams_exist()).await?;
                }
                if Instant::now() + pause > deadline {
                    return Err(health.explain(failure));
                }
                tracing::debug!(error = %failure, "transient failure; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_PAUSE);
            }
            match self.attempt(deadline, &mut op).await {
                Ok(v) => return Ok(v),
                Err(e) if e.is_transient() => failure = e,
                Err(e) => return Err(e),
            }
        }
    }

    /// Errors (and raises the alarm) when a stream of the namespace has vanished.
    pub(crate) async fn ensure_streams_exist(&self) -> Result<()> {
        for name in [
            &self.inner.names.events_stream,
            &self.inner.names.snapshots_stream,
        ] {
            // A short look: during a leader election the API may not answer at all, and
            // the caller is retrying anyway.
            let wait = self
                .inner
                .options
                .request_timeout
                .min(Duration::from_secs(1));
            let Ok(found) = tokio::time::timeout(wait, self.inner.js.get_stream(name)).await else {
                continue;
            };
            if let Err(e) = found {
                if errors::api_code(&e) == Some(code::STREAM_NOT_FOUND) {
                    tracing::error!(
                        namespace = %self.inner.namespace,
                        stream = %name,
                        "a stream of the namespace has vanished"
                    );
                    return Err(Error::NotFound(format!(
                        "stream {name} of namespace {} has vanished; it is not recreated",
                        self.inner.namespace
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Finds, by binary search over stream sequences `lo..=hi`, the message holding `version`;
/// `next(seq)` gives the actor's first message at or after `seq`.
pub(crate) async fn search_version<F, Fut>(
    version: Version,
    mut lo: u64,
    mut hi: u64,
    mut next: F,
) -> Result<Option<(u64, EventRecord)>>
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Result<Option<(u64, EventRecord)>>>,
{
    lo = lo.max(1);
    while lo <= hi {
        let mid = lo + (hi - lo) / 2;
        match next(mid).await? {
            // Nothing at or after mid, or only later versions: the answer is before it.
            None => hi = mid - 1,
            Some((_, rec)) if rec.first() > version => hi = mid - 1,
            Some((seq, rec)) if rec.last() >= version => return Ok(Some((seq, rec))),
            Some((seq, _)) => lo = seq + 1,
        }
    }
    Ok(None)
}

/// A request was in flight when its connection dropped: it may have been applied, and its
/// answer will never come. Transient: the retry re-sends it on the new connection.
pub(crate) fn lost_in_flight(what: &str) -> Error {
    Error::Unavailable {
        message: format!("{what}: the NATS connection dropped while waiting for the answer"),
        source: None,
    }
}

/// An append of `bytes` over `limit` (the server's max_payload less [`HEADER_ROOM`]).
fn too_large(events: &[NewEvent], bytes: usize, limit: usize) -> Error {
    let what = match events {
        [one] => format!("event {} ({}) is", one.id, one.event_type),
        many => format!("{} events are, in all,", many.len()),
    };
    Error::invalid(
        "append",
        format!(
            "{what} {}; one append is one JetStream message: split it over several appends, \
             keep large data out of events, or raise max_payload on the servers",
            errors::over_payload_limit(bytes, limit, HEADER_ROOM)
        ),
    )
}

fn different_content(actor: &ActorId, first_id: uuid::Uuid) -> Error {
    Error::invalid(
        "append",
        format!(
            "event id {} is already stored on {actor} with different content (or as part of a \
             different append)",
            first_id
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_header_values() {
        for n in [0u64, 7, 10, 99, 1_000_001, u64::MAX] {
            assert_eq!(decimal(n).as_str(), n.to_string());
        }
    }
}
