//! Snapshots: one head message per save on the actor's snapshot subject (the stream keeps
//! the newest few per subject), large states in chunk messages on per-save subjects.

use aether_core::{ActorId, ActorSnapshot, Error, Result, StorePosition, Version};
use async_nats::jetstream::message::PublishMessage;
use async_nats::HeaderMap;
use bytes::{Bytes, BytesMut};
use futures::future::try_join_all;
use tokio::time::Instant;

use crate::errors;
use crate::read::Found;
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
        let subject = self.inner.names.events(&actor);
        // Where the event at `v` is stored: the replay after the snapshot starts right after.
        let (seq, v_is_last) = match self.inner.cache.get(&actor) {
            Some(t) if t.version == v => (t.seq, true),
            _ => {
                let (now, rec) = self.leader_tail(&actor, &subject, deadline).await?;
                if now.version < v {
                    return Err(Error::invalid(
                        "snapshot",
                        format!(
                            "snapshot of {actor} at version {v} is beyond its latest version {}",
                            now.version
                        ),
                    ));
                }
                match rec {
                    Some(r) if r.first() <= v => (now.seq, r.last() == v),
                    _ => match self
                        .locate(&actor, &subject, v, None, now.seq, deadline)
                        .await?
                    {
                        Some((seq, r)) => (seq, r.last() == v),
                        None => {
                            return Err(Error::Backend {
                                message: format!(
                                    "cannot find the message holding version {v} of {actor}"
                                ),
                                source: None,
                            })
                        }
                    },
                }
            }
        };
        snapshot.position = StorePosition(if v_is_last { seq } else { seq - 1 });

        let head_subject = self.inner.names.snapshot(&actor);
        let retained_before = self.snapshot_heads(&actor).await.unwrap_or_default();
        // A snapshot below the newest retained one could never be the newest: not kept, as
        // in every store. This keeps the last saved head the one at the highest version,
        // which is what `load_snapshot(None)` reads.
        if retained_before.iter().any(|(_, h)| h.snapshot.version > v) {
            tracing::debug!(actor = %actor, version = v, "snapshot below the newest retained one: not kept");
            return Ok(());
        }
        let limit = self.max_append_bytes();
        // A head is longer than its state: a state over the limit is not encoded inline.
        let inline = if snapshot.state.len() <= limit {
            Some(record::encode_snapshot(&snapshot, None)?).filter(|head| head.len() <= limit)
        } else {
            None
        };
        let head = match inline {
            Some(head) => head,
            None => {
                let chunk_size = limit.max(1024);
                let id = uuid::Uuid::new_v4().simple().to_string();
                let count = snapshot.state.len().div_ceil(chunk_size);
                let count32 = u32::try_from(count)
                    .map_err(|_| Error::invalid("snapshot", "the state is too large to store"))?;
                let mut acks = Vec::with_capacity(count);
                for (i, chunk) in snapshot.state.chunks(chunk_size).enumerate() {
                    let mut headers = HeaderMap::new();
                    headers.insert(CHUNK_HEADER, i.to_string().as_str());
                    let msg = PublishMessage::build()
                        .payload(snapshot.state.slice_ref(chunk))
                        .headers(headers);
                    let ack = self
                        .inner
                        .js
                        .send_publish(self.inner.names.chunk(&actor, &id, i as u32), msg)
                        .await
                        .map_err(|e| errors::map("storing a snapshot chunk", e))?;
                    acks.push(async move {
                        ack.await
                            .map_err(|e| errors::map("storing a snapshot chunk", e))
                    });
                }
                try_join_all(acks).await?;
                record::encode_snapshot(
                    &snapshot,
                    Some(ChunkRef {
                        id,
                        count: count32,
                        len: snapshot.state.len() as u64,
                    }),
                )?
            }
        };
        let head = Bytes::from(head);
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
        self.inner.prefetch.remember(&actor, snapshot.position.0);

        // The stream dropped the oldest heads beyond the retained number: drop their chunks.
        let retained = self.inner.options.snapshots_retained;
        let evicted = (retained_before.len() + 1).saturating_sub(retained);
        for (_, old) in retained_before.iter().take(evicted) {
            if let Some(c) = &old.chunks {
                let filter = self.inner.names.chunks(&actor, &c.id);
                if let Err(e) = self.inner.snapshots.purge().filter(filter).await {
                    tracing::warn!(actor = %actor, error = %e, "could not purge the chunks of a dropped snapshot");
                }
            }
        }
        Ok(())
    }

    pub(crate) async fn load_snapshot_impl(
        &self,
        actor: &ActorId,
        at_or_below: Option<Version>,
    ) -> Result<Option<ActorSnapshot>> {
        let head = match at_or_below {
            None => self.newest_head_prefetching(actor).await?,
            Some(v) => self
                .snapshot_heads(actor)
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
        let msg = self
            .last_message(
                &self.inner.snapshots,
                &subject,
                self.inner.replica_reads,
                "loading a snapshot",
                deadline,
            )
            .await?;
        msg.map(|m| {
            Ok((
                m.sequence,
                record::decode_snapshot(&m.payload, actor, m.sequence)?,
            ))
        })
        .transpose()
    }

    /// The retained snapshot heads of `actor`, oldest first.
    async fn snapshot_heads(&self, actor: &ActorId) -> Result<Vec<(u64, SnapshotHead)>> {
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
