//! Reads that must see everything stored go to the stream leader: an actor's tail (its
//! latest version and last message), the next message at or after a stream sequence, and
//! the message holding a given version, found by binary search over stream sequences.
//!
//! Replicas may lag behind the leader; appends (which must tell a conflict from a retry of
//! their own) and reads that must see the handle's own writes use these.

use std::future::Future;

use aether_core::{ActorId, Result, Version};
use async_nats::jetstream::message::StreamMessage;
use async_nats::jetstream::stream::{LastRawMessageErrorKind, Stream};
use tokio::time::Instant;

use crate::cache::Tail;
use crate::errors;
use crate::record::{self, EventRecord};
use crate::JetStreamEventStore;

impl JetStreamEventStore {
    /// The actor's latest version and the sequence of its last message, from the stream
    /// leader (always up to date), with that message's record.
    pub(crate) async fn leader_tail(
        &self,
        actor: &ActorId,
        subject: &str,
        deadline: Instant,
    ) -> Result<(Tail, Option<EventRecord>)> {
        let msg = self
            .leader_last_message(
                &self.inner.events,
                subject,
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

    /// The last message on `subject` of `stream`, if any, from the stream leader; transient
    /// failures retried until `deadline`. `what` names the read in errors.
    pub(crate) async fn leader_last_message(
        &self,
        stream: &Stream<()>,
        subject: &str,
        what: &str,
        deadline: Instant,
    ) -> Result<Option<StreamMessage>> {
        self.retrying(deadline, || async {
            let answer = Box::pin(stream.get_last_raw_message_by_subject(subject)).await;
            errors::found(what, answer, |e| {
                e.kind() == LastRawMessageErrorKind::NoMessageFound
            })
        })
        .await
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
        stream: &Stream<()>,
        subject: &str,
        seq: u64,
        deadline: Instant,
    ) -> Result<Option<StreamMessage>> {
        self.retrying(deadline, || async {
            let answer = stream
                .raw_message_builder()
                .sequence(seq)
                .next_by_subject(subject.to_owned())
                .send()
                .await;
            errors::found("reading from the stream leader", answer, |e| {
                e.kind() == LastRawMessageErrorKind::NoMessageFound
            })
        })
        .await
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
