//! Snapshots: one head message per save on the actor's snapshot subject (the stream keeps
//! the newest few per subject), large states in chunk messages on per-save subjects.

use aether_core::{ActorId, ActorSnapshot, Error, Result, StorePosition, Version};
use async_nats::jetstream::message::PublishMessage;
use async_nats::HeaderMap;
use bytes::{Bytes, BytesMut};
use futures::future::try_join_all;
use tokio::time::Instant;

use crate::direct::Found;
use crate::errors;
use crate::record::{self, ChunkRef, SnapshotHead};
use crate::JetStreamEventStore;

/// Header with a chunk's index.
const CHUNK_HEADER: &str = "Aether-Chunk";

impl JetStreamEventStore {
    pub(crate) async fn save_snapshot_impl(&self, mut snapshot: ActorSnapshot) -> Result<()> {
        let actor = snapshot.actor_id.clone();
        let v = snapshot.version;
        if v == 0 {
            return Err(Error::invalid(
                "snapshot",
                "a snapshot at version 0 holds no events",
            ));
        }
        let deadline = Instant::now() + self.inner.options.retry_deadline;
        snapshot.position = self.position_of(&actor, v, deadline).await?;
        let retained_before = self.retained_heads(&actor).await.unwrap_or_default();
        // A snapshot below the newest retained one could never be the newest: not kept, as
        // in every store. This keeps the last saved head the one at the highest version,
        // which is what `load_snapshot(None)` reads.
        if retained_before.iter().any(|(_, h)| h.snapshot.version > v) {
            tracing::debug!(actor = %actor, version = v, "snapshot below the newest retained one: not kept");
            return Ok(());
        }
        let head = self.encode_head(&snapshot).await?;
        self.publish_head(&actor, head, deadline).await?;
        self.inner.prefetch.remember(&actor, snapshot.position.0);
        self.purge_evicted(&actor, &retained_before).await;
        Ok(())
    }

    /// The store position a snapshot of `actor` at version `v` is taken at: that of the
    /// message holding `v` when `v` is its last event, else the one before it (the replay
    /// after the snapshot starts right after the position).
    async fn position_of(
        &self,
        actor: &ActorId,
        v: Version,
        deadline: Instant,
    ) -> Result<StorePosition> {
        let (seq, v_is_last) = match self.inner.cache.get(actor) {
            Some(t) if t.version == v => (t.seq, true),
            _ => self.message_holding(actor, v, deadline).await?,
        };
        Ok(StorePosition(if v_is_last { seq } else { seq - 1 }))
    }

    /// The stream sequence of the message holding version `v` of `actor`, from the stream
    /// leader, and whether `v` is its last event.
    async fn message_holding(
        &self,
        actor: &ActorId,
        v: Version,
        deadline: Instant,
    ) -> Result<(u64, bool)> {
        let subject = self.inner.names.events(actor);
        let (now, rec) = self.leader_tail(actor, &subject, deadline).await?;
        if now.version < v {
            return Err(Error::invalid(
                "snapshot",
                format!(
                    "snapshot of {actor} at version {v} is beyond its latest version {}",
                    now.version
                ),
            ));
        }
        if let Some(r) = rec.filter(|r| r.first() <= v) {
            return Ok((now.seq, r.last() == v));
        }
        match self
            .locate(actor, &subject, v, None, now.seq, deadline)
            .await?
        {
            Some((seq, r)) => Ok((seq, r.last() == v)),
            None => Err(Error::Backend {
                message: format!("cannot find the message holding version {v} of {actor}"),
                source: None,
            }),
        }
    }

    /// The head record of `snapshot`: its state inline when the head fits in a message,
    /// else a reference to the chunks its state is stored in first.
    async fn encode_head(&self, snapshot: &ActorSnapshot) -> Result<Bytes> {
        let limit = self.max_append_bytes();
        // A head is longer than its state: a state over the limit is not encoded inline.
        if snapshot.state.len() <= limit {
            let head = record::encode_snapshot(snapshot, None)?;
            if head.len() <= limit {
                return Ok(Bytes::from(head));
            }
        }
        let chunks = self.store_chunks(snapshot, limit.max(1024)).await?;
        Ok(Bytes::from(record::encode_snapshot(
            snapshot,
            Some(chunks),
        )?))
    }

    /// Stores the state of `snapshot` in chunk messages of `chunk_size` bytes, on subjects
    /// of a new save id, all acknowledged before this returns.
    async fn store_chunks(&self, snapshot: &ActorSnapshot, chunk_size: usize) -> Result<ChunkRef> {
        let actor = &snapshot.actor_id;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let count = u32::try_from(snapshot.state.len().div_ceil(chunk_size)).map_err(|e| {
            Error::invalid("snapshot", "the state is too large to store").with_source(e)
        })?;
        let mut acks = Vec::new();
        for (i, chunk) in (0..count).zip(snapshot.state.chunks(chunk_size)) {
            let mut headers = HeaderMap::new();
            headers.insert(CHUNK_HEADER, itoa::Buffer::new().format(i));
            let msg = PublishMessage::build()
                .payload(snapshot.state.slice_ref(chunk))
                .headers(headers);
            let ack = self
                .inner
                .js
                .send_publish(self.inner.names.chunk(actor, &id, i), msg)
                .await
                .map_err(|e| errors::map("storing a snapshot chunk", e))?;
            acks.push(async move {
                ack.await
                    .map_err(|e| errors::map("storing a snapshot chunk", e))
            });
        }
        try_join_all(acks).await?;
        Ok(ChunkRef {
            id,
            count,
            len: snapshot.state.len() as u64,
        })
    }

    /// Publishes the head record `head` on the snapshot subject of `actor`, retrying
    /// transient failures until `deadline`.
    async fn publish_head(&self, actor: &ActorId, head: Bytes, deadline: Instant) -> Result<()> {
        let head_subject = self.inner.names.snapshot(actor);
        // One id for every send of this head: a re-send (after a lost connection or a lost
        // acknowledgement) is dropped as a duplicate instead of evicting an older snapshot.
        let head_id = uuid::Uuid::new_v4().simple().to_string();
        self.retrying(deadline, || async {
            let ack = self
                .inner
                .js
                .send_publish(
                    head_subject.clone(),
                    PublishMessage::build()
                        .payload(head.clone())
                        .message_id(&head_id),
                )
                .await
                .map_err(|e| errors::map("storing a snapshot", e))?;
            ack.await.map_err(|e| errors::map("storing a snapshot", e))
        })
        .await?;
        Ok(())
    }

    /// The stream dropped the oldest heads beyond the retained number when the new one was
    /// stored: their chunks are purged (a failure is logged; the chunks stay unread).
    async fn purge_evicted(&self, actor: &ActorId, retained_before: &[(u64, SnapshotHead)]) {
        let retained = self.inner.options.snapshots_retained;
        let evicted = (retained_before.len() + 1).saturating_sub(retained);
        for (_, old) in retained_before.iter().take(evicted) {
            if let Some(c) = &old.chunks {
                let filter = self.inner.names.chunks(actor, &c.id);
                if let Err(e) = self.inner.snapshots.purge().filter(filter).await {
                    tracing::warn!(actor = %actor, error = &e as &dyn std::error::Error, "could not purge the chunks of a dropped snapshot");
                }
            }
        }
    }

    pub(crate) async fn load_snapshot_impl(
        &self,
        actor: &ActorId,
        at_or_below: Option<Version>,
    ) -> Result<Option<ActorSnapshot>> {
        let head = match at_or_below {
            None => self.newest_head_prefetching(actor).await?,
            Some(v) => self
                .retained_heads(actor)
                .await?
                .into_iter()
                .filter(|(_, h)| h.snapshot.version <= v)
                .max_by_key(|(seq, h)| (h.snapshot.version, *seq)),
        };
        let Some((_, head)) = head else {
            return Ok(None);
        };
        let SnapshotHead {
            mut snapshot,
            chunks,
        } = head;
        if let Some(c) = chunks {
            snapshot.state = self.read_chunks(actor, &c).await?;
        }
        Ok(Some(snapshot))
    }

    /// The newest snapshot head of `actor`. When the handle knows where the actor's newest
    /// snapshot was, the events after that position are read at the same time and kept for
    /// the `read_after_snapshot` that normally follows (see the `prefetch` module).
    async fn newest_head_prefetching(
        &self,
        actor: &ActorId,
    ) -> Result<Option<(u64, SnapshotHead)>> {
        let Some(known) = self.inner.prefetch.position(actor) else {
            let head = self.newest_head(actor).await?;
            if let Some((_, h)) = &head {
                self.inner.prefetch.remember(actor, h.snapshot.position.0);
            }
            return Ok(head);
        };
        let subject = self.inner.names.events(actor);
        let sent = Instant::now();
        // The batch read, the longer of the two, is sent first.
        let (page, head) = futures::future::join(
            Box::pin(self.direct_batch(
                &self.inner.names.events_stream,
                &subject,
                known.saturating_add(1),
                self.inner.options.read_page,
                false,
            )),
            self.newest_head(actor),
        )
        .await;
        let head = head?;
        if let Some((_, h)) = &head {
            let position = h.snapshot.position.0;
            match page {
                // A failed prefetch costs nothing: the read will ask again.
                Ok(page) if position == known => {
                    self.inner.prefetch.stash(actor, position, sent, page)
                }
                _ => self.inner.prefetch.remember(actor, position),
            }
        }
        Ok(head)
    }

    async fn newest_head(&self, actor: &ActorId) -> Result<Option<(u64, SnapshotHead)>> {
        let subject = self.inner.names.snapshot(actor);
        let deadline = Instant::now() + self.inner.options.retry_deadline;
        let (stream, what) = (&self.inner.snapshots, "loading a snapshot");
        let msg = if self.inner.replica_reads {
            self.direct_last_message(stream, &subject, what, deadline)
                .await?
        } else {
            self.leader_last_message(stream, &subject, what, deadline)
                .await?
        };
        msg.map(|m| {
            Ok((
                m.sequence,
                record::decode_snapshot(&m.payload, actor, m.sequence)?,
            ))
        })
        .transpose()
    }

    /// The retained snapshot heads of `actor`, oldest first.
    pub(crate) async fn retained_heads(&self, actor: &ActorId) -> Result<Vec<(u64, SnapshotHead)>> {
        let subject = self.inner.names.snapshot(actor);
        let msgs = self
            .messages(
                &subject,
                self.inner.options.snapshots_retained + 4,
                usize::MAX,
            )
            .await?;
        msgs.into_iter()
            .map(|m| Ok((m.seq, record::decode_snapshot(&m.payload, actor, m.seq)?)))
            .collect()
    }

    async fn read_chunks(&self, actor: &ActorId, c: &ChunkRef) -> Result<Bytes> {
        let filter = self.inner.names.chunks(actor, &c.id);
        let msgs = self
            .messages(&filter, c.count as usize, c.count as usize)
            .await?;
        let missing = || Error::Codec {
            message: format!(
                "snapshot of {actor}: {} of its {} chunks are missing or malformed",
                c.count as usize - msgs.len().min(c.count as usize),
                c.count
            ),
            source: None,
        };
        // The head's count and length are stored bytes too: nothing is sized by them until
        // the chunks they describe are there.
        if msgs.len() != c.count as usize {
            return Err(missing());
        }
        let mut parts: Vec<Option<Bytes>> = vec![None; msgs.len()];
        for m in &msgs {
            let index: usize = m
                .subject
                .rsplit('.')
                .next()
                .and_then(|s| s.parse().ok())
                .ok_or_else(missing)?;
            *parts.get_mut(index).ok_or_else(missing)? = Some(m.payload.clone());
        }
        let held: u64 = msgs.iter().map(|m| m.payload.len() as u64).sum();
        if held != c.len {
            return Err(Error::Codec {
                message: format!(
                    "snapshot of {actor}: its chunks hold {held} bytes, not {}",
                    c.len
                ),
                source: None,
            });
        }
        // `held` is what the messages hold, so it fits in memory.
        let mut state = BytesMut::with_capacity(held as usize);
        for p in parts {
            state.extend_from_slice(&p.ok_or_else(missing)?);
        }
        Ok(state.freeze())
    }

    /// Up to `max` messages of the snapshot stream matching `subject`, from its first, by
    /// batch direct get (or from the leader when replicas may lag).
    async fn messages(&self, subject: &str, page: usize, max: usize) -> Result<Vec<Found>> {
        let deadline = Instant::now() + self.inner.options.retry_deadline;
        let stream = &self.inner.names.snapshots_stream;
        let mut out = Vec::new();
        let mut seq = 1;
        while out.len() < max {
            if self.inner.replica_reads {
                let p = self
                    .retrying(deadline, || {
                        self.direct_batch(stream, subject, seq, page, true)
                    })
                    .await?;
                let n = p.msgs.len();
                seq = p.last_seq + 1;
                out.extend(p.msgs);
                if p.pending == 0 || n == 0 || !p.maybe_more {
                    break;
                }
            } else {
                let next = self
                    .leader_next_message(&self.inner.snapshots, subject, seq, deadline)
                    .await?;
                let Some(m) = next else { break };
                seq = m.sequence + 1;
                out.push(Found {
                    seq: m.sequence,
                    subject: m.subject.to_string(),
                    payload: m.payload,
                });
            }
        }
        Ok(out)
    }
}
