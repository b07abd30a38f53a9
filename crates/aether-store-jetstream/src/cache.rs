//! The per-actor (version, stream sequence) cache that lets an append cost one round trip.
//!
//! Entries come from acknowledgements and reads and only move forward. A stale entry is
//! safe: the append it feeds carries an expected sequence the server refuses, and the store
//! then reads the truth from the stream leader.

use std::collections::HashMap;
use std::sync::Mutex;

use aether_core::{ActorId, Version};

const SHARDS: usize = 32;

/// What the handle last knew of an actor: its version and the stream sequence of the message
/// holding that version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tail {
    pub(crate) version: Version,
    pub(crate) seq: u64,
}

impl Tail {
    /// An actor without events.
    pub(crate) const EMPTY: Tail = Tail { version: 0, seq: 0 };
}

pub(crate) struct TailCache {
    seed: u64,
    shards: Box<[Mutex<HashMap<ActorId, Tail>>]>,
    per_shard: usize,
}

impl TailCache {
    pub(crate) fn new(capacity: usize) -> Self {
        TailCache {
            seed: aether_core::shard_seed(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: capacity.div_ceil(SHARDS),
        }
    }

    fn shard(&self, actor: &ActorId) -> std::sync::MutexGuard<'_, HashMap<ActorId, Tail>> {
        self.shards[aether_core::shard_index(self.seed, actor.as_str(), SHARDS)]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
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
            },
        );
        c.observe(
            &a,
            Tail {
                version: 3,
                seq: 30,
            },
        );
        assert_eq!(
            c.get(&a),
            Some(Tail {
                version: 5,
                seq: 50
            })
        );
        c.observe(
            &a,
            Tail {
                version: 6,
                seq: 70,
            },
        );
        assert_eq!(
            c.get(&a),
            Some(Tail {
                version: 6,
                seq: 70
            })
        );
        for i in 0..10_000 {
            c.observe(
                &ActorId::new(format!("x{i}")).unwrap(),
                Tail {
                    version: 1,
                    seq: i + 1,
                },
            );
        }
        let total: usize = c.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(total <= 64 + SHARDS, "{total}");
        assert_eq!(TailCache::new(0).get(&a), None);
    }
}
