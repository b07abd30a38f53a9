//! Appending: one message per append, optimistic concurrency by expected subject sequence
//! (an `Exact` append expects the sequence of the actor's last message, an `Any` append
//! loops on whatever the tail is), and idempotent retries told from conflicts by what is
//! stored. Publishing a record is in `publish`, the retry of transient failures in `retry`,
//! the reads from the stream leader that settle a refusal in `leader`.

use std::ops::ControlFlow;
use std::time::Duration;

use aether_core::support::Backoff;
use aether_core::{
    ActorId, Appended, Error, ExpectedVersion, NewEvent, OffsetDateTime, Result, StorePosition,
    Version,
};
use async_nats::Subject;
use bytes::Bytes;
use tokio::time::Instant;

use crate::cache::Tail;
use crate::errors;
use crate::publish::Published;
use crate::record::{self, EventRecord};
use crate::JetStreamEventStore;

/// Room left in a message for headers: ours, the expected sequence and the message id.
pub(crate) const HEADER_ROOM: usize = 512;

/// How many times in a row an `Exact` append is refused for a wrong sequence while the
/// leader still reports the expected version (a clustered race) before it is a conflict.
const SAME_TAIL_REFUSALS: u32 = 20;

/// What an append holds, to tell a retry of it from another append: the caller's events,
/// or the record encoded from them once they are freed.
pub(crate) enum Mine<'a> {
    Events(&'a [NewEvent]),
    Encoded {
        payload: &'a Bytes,
        first_id: uuid::Uuid,
        count: usize,
    },
}

impl Mine<'_> {
    pub(crate) fn first_id(&self) -> uuid::Uuid {
        match self {
            Mine::Events(events) => events[0].id,
            Mine::Encoded { first_id, .. } => *first_id,
        }
    }

    pub(crate) fn count(&self) -> usize {
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

/// The record of an `Exact` append, encoded once, and the tail it is published after.
struct ExactRecord {
    payload: Bytes,
    /// The time stamped in the record.
    time: OffsetDateTime,
    /// What tells a retry of this append from another one.
    first_id: uuid::Uuid,
    count: usize,
    /// The actor's tail the record expects (its sequence is the expected last sequence).
    tail: Tail,
}

impl ExactRecord {
    fn mine(&self) -> Mine<'_> {
        Mine::Encoded {
            payload: &self.payload,
            first_id: self.first_id,
            count: self.count,
        }
    }

    /// Takes `now`, the tail the leader reports after a refusal while the actor is still
    /// at the expected version. The record must not be stamped before the actor's latest
    /// append, which may be later than the cache said: then the same record, a new time.
    fn follow(&mut self, now: Tail) {
        if now.time > self.time {
            if let Some(restamped) = record::restamped(&self.payload, now.time) {
                self.payload = restamped;
                self.time = now.time;
            }
        }
        self.tail = now;
    }
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
            let mut arena = aether_core::support::lock(&self.inner.arena);
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
        let tail = match self.inner.cache.get(actor) {
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
        let time = tail.next_time(OffsetDateTime::now_utc());
        let payload = self.encode(actor, v + 1, &events, time)?;
        // The caller's events are freed now, while they are still in the CPU's cache; a
        // retry or a refusal is told from another append by the record encoded from them.
        let rec = ExactRecord {
            payload,
            time,
            first_id: events[0].id,
            count: events.len(),
            tail,
        };
        drop(events);
        self.publish_exact(actor, subject, v, rec, deadline).await
    }

    /// Publishes the record of an `Exact(v)` append until it is stored, found stored
    /// already (a retry), or refused as a conflict.
    async fn publish_exact(
        &self,
        actor: &ActorId,
        subject: &Subject,
        v: Version,
        mut rec: ExactRecord,
        deadline: Instant,
    ) -> Result<Appended> {
        let mut same_tail_refusals = 0;
        loop {
            let mine = rec.mine();
            match self
                .publish(subject, &rec.payload, v + 1, &mine, rec.tail.seq, deadline)
                .await?
            {
                Published::Stored(ack) if ack.duplicate => {
                    let seq = ack.sequence;
                    return Box::pin(self.verify_duplicate(actor, subject, &mine, seq, deadline))
                        .await;
                }
                Published::Stored(ack) => {
                    return Ok(self.stored_new(actor, v + 1, rec.count, ack.sequence, rec.time))
                }
                Published::WrongSequence => {}
            }
            let (now, now_rec) = Box::pin(self.leader_tail(actor, subject, deadline)).await?;
            if now.version != v {
                let mine = rec.mine();
                let seq_of_v = Some(rec.tail.seq);
                return Box::pin(
                    self.resolve_conflict(
                        actor, subject, v, &mine, seq_of_v, now, now_rec, deadline,
                    ),
                )
                .await;
            }
            // A clustered stream refuses a write that races an in-flight one (10164) even
            // when that one fails in the end: try again.
            same_tail_refusals += 1;
            if same_tail_refusals > SAME_TAIL_REFUSALS || Instant::now() > deadline {
                let expected = ExpectedVersion::Exact(v);
                return Err(Error::conflict(actor.clone(), expected, now.version));
            }
            rec.follow(now);
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
            None => match self
                .tail_unless_stored(actor, subject, events, deadline)
                .await?
            {
                ControlFlow::Continue(now) => now,
                ControlFlow::Break(stored) => return Ok(stored),
            },
        };
        // A refusal while nothing moved is a clustered race: short pauses, not the retry
        // policy's, since no server is down.
        let mut race = Backoff::with_bounds(Duration::from_millis(1), Duration::from_millis(50));
        loop {
            let first = tail.version + 1;
            let time = tail.next_time(OffsetDateTime::now_utc());
            let payload = self.encode(actor, first, events, time)?;
            let mine = Mine::Events(events);
            match self
                .publish(subject, &payload, first, &mine, tail.seq, deadline)
                .await?
            {
                Published::Stored(ack) if ack.duplicate => {
                    let seq = ack.sequence;
                    return Box::pin(self.verify_duplicate(actor, subject, &mine, seq, deadline))
                        .await;
                }
                Published::Stored(ack) => {
                    return Ok(self.stored_new(actor, first, events.len(), ack.sequence, time))
                }
                Published::WrongSequence => {}
            }
            let now = match self
                .tail_unless_stored(actor, subject, events, deadline)
                .await?
            {
                ControlFlow::Continue(now) => now,
                ControlFlow::Break(stored) => return Ok(stored),
            };
            if Instant::now() > deadline {
                return Err(Error::timeout(format!(
                    "append to {actor} with any version: other writers kept winning for {:?}",
                    self.inner.options.retry_deadline
                )));
            }
            if now == tail {
                // Near the deadline, still the shortest pause: never a busy loop.
                let pause = race
                    .next_pause(deadline)
                    .unwrap_or(Duration::from_millis(1));
                tokio::time::sleep(pause).await;
            }
            tail = now;
        }
    }

    /// The actor's tail from the stream leader, unless its last message holds `events`
    /// already (an `Any` append retried after its first send was stored): then that
    /// append's result.
    async fn tail_unless_stored(
        &self,
        actor: &ActorId,
        subject: &Subject,
        events: &[NewEvent],
        deadline: Instant,
    ) -> Result<ControlFlow<Appended, Tail>> {
        let (now, rec) = Box::pin(self.leader_tail(actor, subject, deadline)).await?;
        let stored = self.same_append(actor, now.seq, rec.as_ref(), &Mine::Events(events))?;
        Ok(match stored {
            Some(stored) => ControlFlow::Break(stored),
            None => ControlFlow::Continue(now),
        })
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
        Appended::new(first, last, StorePosition(seq), Some(time))
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
        let appended = Appended::new(
            rec.first(),
            rec.last(),
            StorePosition(seq),
            Some(rec.time()),
        );
        Ok(Some(appended.as_duplicate()))
    }

    /// An `Exact(v)` append was refused and the actor is at `now`: a retry of an append
    /// stored earlier at `v + 1` (then its original result), or a conflict.
    #[expect(
        clippy::too_many_arguments,
        reason = "internal; each argument is a different fact of the refused append"
    )]
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
