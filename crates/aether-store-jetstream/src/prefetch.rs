//! The activation prefetch: while `load_snapshot` reads an actor's newest snapshot, the
//! events after the snapshot this handle last saw of that actor are read at the same time,
//! so that the `read_after_snapshot` that follows finds its first page already there.
//!
//! A page is kept only when the snapshot loaded is the one it was read after, it is taken
//! once, only by a read starting within [`FRESH`] of it, and the read then checks it like
//! any page it reads itself (the history must continue from the snapshot and reach what
//! the handle knows is stored, else the read goes on to the stream leader).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aether_core::ActorId;
use tokio::time::Instant;

use crate::direct::Page;

const SHARDS: usize = 32;
/// Pages kept per shard at most (a load without the read that normally follows leaves
/// its page behind until it is replaced or too old).
const PAGES_PER_SHARD: usize = 2;
/// The largest page kept, in payload bytes.
const MAX_PAGE_BYTES: usize = 1 << 20;
/// How long a prefetched page may be used.
pub(crate) const FRESH: Duration = Duration::from_millis(20);

#[derive(Default)]
struct Shard {
    /// The store position of the newest snapshot seen of each actor.
    positions: HashMap<ActorId, u64>,
    /// Pages read after a snapshot position, with when their read was sent.
    pages: HashMap<ActorId, (u64, Instant, Page)>,
}

pub(crate) struct Prefetch {
    seed: u64,
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
}

impl Prefetch {
    pub(crate) fn new(capacity: usize) -> Self {
        Prefetch {
            seed: aether_core::support::shard_seed(),
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard: capacity.div_ceil(SHARDS),
        }
    }

    fn shard(&self, actor: &ActorId) -> std::sync::MutexGuard<'_, Shard> {
        aether_core::support::lock(
            &self.shards[aether_core::support::shard_index(self.seed, actor.as_str(), SHARDS)],
        )
    }

    /// The position of the newest snapshot of `actor` this handle saw, if it knows one.
    pub(crate) fn position(&self, actor: &ActorId) -> Option<u64> {
        if self.per_shard == 0 {
            return None;
        }
        self.shard(actor).positions.get(actor).copied()
    }

    /// Records that the newest snapshot of `actor` seen is at store position `position`.
    pub(crate) fn remember(&self, actor: &ActorId, position: u64) {
        if self.per_shard == 0 || position == 0 {
            return;
        }
        let mut shard = self.shard(actor);
        if let Some(p) = shard.positions.get_mut(actor) {
            *p = position;
            return;
        }
        if shard.positions.len() >= self.per_shard {
            shard.positions.clear();
        }
        shard.positions.insert(actor.clone(), position);
    }

    /// Keeps `page`, read from stream sequence `position + 1` by a read sent at `sent`.
    pub(crate) fn stash(&self, actor: &ActorId, position: u64, sent: Instant, page: Page) {
        let bytes: usize = page.msgs.iter().map(|m| m.payload.len()).sum();
        if self.per_shard == 0 || bytes > MAX_PAGE_BYTES {
            return;
        }
        let mut shard = self.shard(actor);
        if shard.pages.len() >= PAGES_PER_SHARD && !shard.pages.contains_key(actor) {
            shard.pages.clear();
        }
        shard.pages.insert(actor.clone(), (position, sent, page));
    }

    /// Takes the page kept for a read of `actor` from `position + 1`, if one is there and
    /// was read less than [`FRESH`] ago.
    pub(crate) fn take(&self, actor: &ActorId, position: u64) -> Option<Page> {
        if self.per_shard == 0 {
            return None;
        }
        let (p, sent, page) = self.shard(actor).pages.remove(actor)?;
        (p == position && sent.elapsed() <= FRESH).then_some(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::direct::Found;

    fn page(n: usize) -> Page {
        Page {
            msgs: (0..n)
                .map(|_| Found {
                    seq: 0,
                    subject: String::new(),
                    payload: bytes::Bytes::from_static(b"x"),
                })
                .collect(),
            pending: 0,
            maybe_more: false,
            last_seq: 9,
        }
    }

    #[test]
    fn a_page_is_taken_once_for_its_position_while_fresh() {
        let p = Prefetch::new(64);
        let a = ActorId::new("a").unwrap();
        assert_eq!(p.position(&a), None);
        p.remember(&a, 7);
        assert_eq!(p.position(&a), Some(7));
        p.stash(&a, 7, Instant::now(), page(2));
        assert!(p.take(&a, 8).is_none(), "another position");
        p.stash(&a, 7, Instant::now(), page(2));
        assert_eq!(p.take(&a, 7).map(|pg| pg.msgs.len()), Some(2));
        assert!(p.take(&a, 7).is_none(), "taken once");
        let old = Instant::now().checked_sub(FRESH * 2).unwrap();
        p.stash(&a, 7, old, page(1));
        assert!(p.take(&a, 7).is_none(), "too old");
        assert_eq!(Prefetch::new(0).position(&a), None);
        for i in 0..1000 {
            p.stash(
                &ActorId::new(format!("x{i}")).unwrap(),
                1,
                Instant::now(),
                page(1),
            );
        }
        let kept: usize = p.shards.iter().map(|s| s.lock().unwrap().pages.len()).sum();
        assert!(kept <= SHARDS * PAGES_PER_SHARD, "{kept}");
    }
}
