//! The per-actor (version, stream sequence, time) cache that lets an append cost one round
//! trip.
//!
//! Entries come from acknowledgements and reads and only move forward. A stale entry is
//! safe: the append it feeds carries an expected sequence the server refuses, and the store
//! then reads the truth from the stream leader. The time is that of the actor's latest
//! append, which the next append's time is never below.

use std::collections::HashMap;
use std::sync::Mutex;

use aether_core::{ActorId, OffsetDateTime, Version};

const SHARDS: usize = 32;

/// What the handle last knew of an actor: its version, the stream sequence of the message
/// holding that version, and that message's time (the record's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tail {
    pub(crate) version: Version,
    pub(crate) seq: u64,
    pub(crate) time: OffsetDateTime,
}

impl Tail {
    /// An actor without events.
    pub(crate) const EMPTY: Tail = Tail {
        version: 0,
        seq: 0,
        time: OffsetDateTime::UNIX_EPOCH,
    };

    /// The time of an append after this tail made at `now`: `now`, unless the actor's latest
    /// append is stamped later (another process's clock ahead of this one's, or this one's
    /// stepped back), so that timestamps never go backwards along an actor's history.
    pub(crate) fn next_time(&self, now: OffsetDateTime) -> OffsetDateTime {
        now.max(self.time)
    }
}

pub(crate) struct TailCache {
    seed: u64,
    shards: Box<[Mutex<HashMap<ActorId, Tail>>]>,
    per_shard: usize,
}

impl TailCache {
    pub(crate) fn new(capacity: usize) -> Self {
        TailCache {
            seed: aether_core::support::shard_seed(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: capacity.div_ceil(SHARDS),
        }
    }

    fn shard(&self, actor: &ActorId) -> std::sync::MutexGuard<'_, HashMap<ActorId, Tail>> {
        aether_core::support::lock(
            &self.shards[aether_core::support::shard_index(self.seed, actor.as_str(), SHARDS)],
        )
    }

    pub(crate) fn get(&self, actor: &ActorId) -> Option<Tail> {
        if self.per_shard == 0 {
            return None;
        }
        self.shard(actor).get(actor).copied()
    }

    /// Records that `actor` has reached `tail` (ignored when an entry is already further).
    pub(crate) fn observe(&self, actor: &ActorId, tail: Tail) {
        if self.per_shard == 0 || tail.version == 0 {
            return;
        }
        let mut shard = self.shard(actor);
        if let Some(t) = shard.get_mut(actor) {
            if tail.version > t.version || (tail.version == t.version && tail.seq > t.seq) {
                *t = tail;
            }
            return;
        }
        if shard.len() >= self.per_shard {
            // Crude but O(1) amortised: a full shard starts over. A missing entry only costs
            // one extra read.
            shard.clear();
        }
        shard.insert(actor.clone(), tail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_only_move_forward_and_capacity_is_bounded() {
        let c = TailCache::new(64);
        let a = ActorId::new("a").unwrap();
        c.observe(
            &a,
            Tail {
                version: 5,
                seq: 50,
                time: OffsetDateTime::UNIX_EPOCH,
            },
        );
        c.observe(
            &a,
            Tail {
                version: 3,
                seq: 30,
                time: OffsetDateTime::UNIX_EPOCH,
            },
        );
        assert_eq!(
            c.get(&a),
            Some(Tail {
                version: 5,
                seq: 50,
                time: OffsetDateTime::UNIX_EPOCH,
            })
        );
        c.observe(
            &a,
            Tail {
                version: 6,
                seq: 70,
                time: OffsetDateTime::UNIX_EPOCH,
            },
        );
        assert_eq!(
            c.get(&a),
            Some(Tail {
                version: 6,
                seq: 70,
                time: OffsetDateTime::UNIX_EPOCH,
            })
        );
        for i in 0..10_000 {
            c.observe(
                &ActorId::new(format!("x{i}")).unwrap(),
                Tail {
                    version: 1,
                    seq: i + 1,
                    time: OffsetDateTime::UNIX_EPOCH,
                },
            );
        }
        let total: usize = c.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(total <= 64 + SHARDS, "{total}");
        assert_eq!(TailCache::new(0).get(&a), None);
    }

    #[test]
    fn an_append_is_never_stamped_before_the_tail() {
        let now = OffsetDateTime::now_utc();
        let later = now + time::Duration::seconds(10);
        assert_eq!(Tail::EMPTY.next_time(now), now);
        let tail = Tail {
            version: 3,
            seq: 9,
            time: later,
        };
        assert_eq!(tail.next_time(now), later);
        assert_eq!(
            tail.next_time(later + time::Duration::NANOSECOND),
            later + time::Duration::NANOSECOND
        );
    }
}
