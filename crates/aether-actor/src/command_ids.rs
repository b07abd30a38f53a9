//! The command ids an actor remembers: its last N caller-supplied ids that stored events
//! (the fast path, answered from memory) and the horizon, the greatest id it has forgotten.
//!
//! The rule (see "Command ids" in `docs/actors.md`): a remembered id is answered with its
//! stored reply; an unremembered id greater than the horizon (UUID v7 ids order by time)
//! never ran, so it runs; any other unremembered id is looked up in the stored history.
//!
//! One refinement keeps a busy actor off the lookup path: ids made in the same millisecond
//! are not ordered among themselves (their low bits are random), so a new id made in the
//! horizon's millisecond is as likely to sort below it as above. The window therefore also
//! keeps the *edge*: the forgotten ids of the horizon's millisecond (up to [`EDGE_MAX`]). An
//! id of that millisecond that is not among them was never forgotten, so it never ran.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use aether_core::{Uuid, Version};
use serde::{Deserialize, Serialize};

/// A remembered command: its id, the version of its first event and the hash of its
/// encoding (`None` for commands stored in record format 1, which has no hash). In
/// snapshots it is the array `[id, version, hash]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    into = "(Uuid, Version, Option<u64>)",
    from = "(Uuid, Version, Option<u64>)"
)]
pub(crate) struct Remembered {
    pub(crate) id: Uuid,
    pub(crate) version: Version,
    pub(crate) hash: Option<u64>,
}

impl From<Remembered> for (Uuid, Version, Option<u64>) {
    fn from(r: Remembered) -> Self {
        (r.id, r.version, r.hash)
    }
}

impl From<(Uuid, Version, Option<u64>)> for Remembered {
    fn from((id, version, hash): (Uuid, Version, Option<u64>)) -> Self {
        Remembered { id, version, hash }
    }
}

/// What the window says of a caller-supplied command id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Remembered: answer from the store, without running it.
    Known(Remembered),
    /// Never ran: run it.
    New,
    /// Maybe ran, long ago: look it up in the stored history.
    LookUp,
}

/// The most forgotten ids of the horizon's millisecond the edge holds; past it, every id of
/// that millisecond is looked up.
pub(crate) const EDGE_MAX: usize = 4096;

/// A set of ids of one millisecond: their last 64 bits are random, so they are their own
/// hash (no SipHash per command on a busy actor's path).
pub(crate) type IdSet = HashSet<Uuid, BuildHasherDefault<RandomBitsHasher>>;

/// Hashes a UUID v7 to its last 64 bits (random but for the variant's 2 bits).
#[derive(Default)]
pub(crate) struct RandomBitsHasher(u64);

impl Hasher for RandomBitsHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // `Uuid` hashes as its 16 bytes (after a length prefix for slices, which is
        // folded in too); keep the last 8 written.
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
}

/// The window of remembered ids and the horizon.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CommandIds {
    /// Oldest first; each id once. Searched by a scan: for a window of a few dozen ids that
    /// is as fast as a hash index, which would double the window's memory.
    pub(crate) recent: VecDeque<Remembered>,
    /// What was forgotten; `None` until something is (boxed: most actors never forget).
    forgotten: Option<Box<Forgotten>>,
}

/// What a window knows of the ids it forgot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Forgotten {
    /// The greatest UUID v7 id forgotten so far (`None`: only ids of other versions).
    horizon: Option<Uuid>,
    /// The forgotten v7 ids of the horizon's millisecond, while there are at most
    /// [`EDGE_MAX`]; `None` once there were more (every id of that millisecond is then
    /// looked up).
    edge: Option<IdSet>,
    /// Forgotten v7 ids dated more than [`FUTURE_MARGIN_MS`] ahead of this process's clock
    /// when they were forgotten (a client clock far ahead, or a forged id): kept apart, up
    /// to [`EDGE_MAX`], so one such id does not push the horizon into the future and send
    /// every later id down the lookup path.
    future: IdSet,
}

/// How far ahead of the local clock a forgotten id may be dated and still move the horizon.
pub(crate) const FUTURE_MARGIN_MS: u64 = 60_000;

fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn millis(id: Uuid) -> Option<u64> {
    aether_core::id_millis(id)
}

impl CommandIds {
    /// Remembers a command that stored events, forgetting the oldest beyond `capacity`.
    /// The runtime only remembers ids the window did not know (their verdict was `New`, or
    /// a lookup did not find them); replays use [`remember_once`](Self::remember_once).
    pub(crate) fn remember(&mut self, entry: Remembered, capacity: usize) {
        if capacity == 0 {
            self.forget(entry.id);
            return;
        }
        self.recent.push_back(entry);
        while self.recent.len() > capacity {
            if let Some(old) = self.recent.pop_front() {
                self.forget(old.id);
            }
        }
    }

    /// [`remember`](Self::remember), unless the id is already remembered (its first command
    /// stays the one answered).
    pub(crate) fn remember_once(&mut self, entry: Remembered, capacity: usize) {
        if !self.recent.iter().any(|r| r.id == entry.id) {
            self.remember(entry, capacity);
        }
    }

    /// The window as restored from a snapshot, trimmed to `capacity` (a system may have been
    /// restarted with a smaller window: the ids beyond it are forgotten, as facts).
    pub(crate) fn restore(
        recent: VecDeque<Remembered>,
        forgotten: (Option<Uuid>, Option<IdSet>, IdSet, bool),
        capacity: usize,
    ) -> Self {
        let (horizon, edge, future, forgot) = forgotten;
        let mut ids = CommandIds {
            forgotten: forgot.then(|| {
                Box::new(Forgotten {
                    horizon,
                    edge,
                    future,
                })
            }),
            ..CommandIds::default()
        };
        for r in recent {
            ids.remember_once(r, capacity);
        }
        ids
    }

    /// The greatest v7 id forgotten.
    pub(crate) fn horizon(&self) -> Option<Uuid> {
        self.forgotten.as_ref().and_then(|f| f.horizon)
    }

    /// The forgotten ids of the horizon's millisecond, while they are known.
    pub(crate) fn edge(&self) -> Option<&IdSet> {
        self.forgotten.as_ref().and_then(|f| f.edge.as_ref())
    }

    /// The forgotten ids dated far ahead of the clock.
    pub(crate) fn future(&self) -> Option<&IdSet> {
        self.forgotten.as_ref().map(|f| &f.future)
    }

    /// Whether any id was forgotten.
    pub(crate) fn forgot(&self) -> bool {
        self.forgotten.is_some()
    }

    fn forget(&mut self, id: Uuid) {
        let f = self.forgotten.get_or_insert_with(Box::default);
        let Some(ms) = millis(id) else { return };
        match f.horizon.and_then(millis) {
            Some(h) if ms < h => {}
            Some(h) if ms == h => {
                if f.horizon.is_some_and(|h| id > h) {
                    f.horizon = Some(id);
                }
                match &mut f.edge {
                    Some(edge) if edge.len() < EDGE_MAX => {
                        edge.insert(id);
                    }
                    _ => f.edge = None,
                }
            }
            _ if ms > now_millis() + FUTURE_MARGIN_MS && f.future.len() < EDGE_MAX => {
                f.future.insert(id);
            }
            _ => {
                f.horizon = Some(id);
                let mut edge = f.edge.take().unwrap_or_default();
                edge.clear();
                edge.insert(id);
                f.edge = Some(edge);
            }
        }
    }

    /// What to do with the caller-supplied id `id`. With `capacity` 0 every id is looked up.
    pub(crate) fn verdict(&self, id: Uuid, capacity: usize) -> Verdict {
        if capacity == 0 {
            return Verdict::LookUp;
        }
        if let Some(r) = self.recent.iter().rev().find(|r| r.id == id) {
            return Verdict::Known(*r);
        }
        let Some(f) = &self.forgotten else {
            return Verdict::New;
        };
        // Every forgotten v7 id is at or below the horizon's millisecond, and a v7 id is
        // never equal to an id of another version: an id of a later millisecond, or of the
        // horizon's millisecond but not on the edge, was never stored.
        let Some(ms) = millis(id) else {
            return Verdict::LookUp;
        };
        if f.future.contains(&id) {
            return Verdict::LookUp;
        }
        let Some(h) = f.horizon.and_then(millis) else {
            // Only ids without a v7 time were forgotten.
            return Verdict::New;
        };
        let off_edge = f.edge.as_ref().is_some_and(|e| !e.contains(&id));
        if ms > h || (ms == h && off_edge) {
            return Verdict::New;
        }
        Verdict::LookUp
    }

    /// Heap bytes the window holds.
    #[cfg(test)]
    pub(crate) fn heap_bytes(&self) -> usize {
        // A hash set's buckets and one control byte each.
        let set = |s: &IdSet| s.capacity() * (std::mem::size_of::<Uuid>() + 1);
        self.recent.capacity() * std::mem::size_of::<Remembered>()
            + self.edge().map_or(0, set)
            + self
                .forgotten
                .as_ref()
                .map_or(0, |_| std::mem::size_of::<Forgotten>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v7(millis: u64) -> Uuid {
        aether_core::new_id_at(millis)
    }

    fn entry(id: Uuid, version: Version) -> Remembered {
        Remembered {
            id,
            version,
            hash: Some(version),
        }
    }

    #[test]
    fn a_window_that_forgot_nothing_runs_every_unknown_id() {
        let mut ids = CommandIds::default();
        let a = v7(1_000);
        ids.remember(entry(a, 1), 4);
        assert_eq!(ids.verdict(a, 4), Verdict::Known(entry(a, 1)));
        assert_eq!(ids.verdict(v7(10), 4), Verdict::New);
        assert_eq!(ids.verdict(Uuid::new_v4(), 4), Verdict::New);
    }

    #[test]
    fn ids_at_or_below_the_horizon_are_looked_up_and_ids_above_it_run() {
        let mut ids = CommandIds::default();
        for (i, ms) in [1_000u64, 3_000, 2_000, 4_000, 5_000]
            .into_iter()
            .enumerate()
        {
            ids.remember(entry(v7(ms), i as u64 + 1), 2);
        }
        // Forgotten: 1_000, 3_000, 2_000: the horizon is the greatest, 3_000.
        let h = ids.horizon().unwrap();
        assert_eq!(aether_core::id_millis(h), Some(3_000));
        assert!(ids.forgot());
        assert_eq!(ids.verdict(h, 2), Verdict::LookUp);
        assert_eq!(ids.verdict(v7(2_500), 2), Verdict::LookUp, "a clock behind");
        assert_eq!(ids.verdict(v7(3_001), 2), Verdict::New);
        assert_eq!(
            ids.verdict(v7(3_000), 2),
            Verdict::New,
            "same ms, never forgotten"
        );
        assert_eq!(
            ids.verdict(Uuid::new_v4(), 2),
            Verdict::LookUp,
            "no v7 time"
        );
        assert_eq!(ids.recent.len(), 2);
    }

    #[test]
    fn ids_of_the_horizons_millisecond_are_told_apart_by_the_edge() {
        let mut ids = CommandIds::default();
        let same: Vec<Uuid> = (0..100).map(|_| v7(7_000)).collect();
        for (i, id) in same.iter().enumerate() {
            ids.remember(entry(*id, i as u64 + 1), 10);
        }
        // 90 forgotten, all of millisecond 7_000, in random order of their low bits.
        for id in &same[..90] {
            assert_eq!(ids.verdict(*id, 10), Verdict::LookUp);
        }
        for id in &same[90..] {
            assert!(matches!(ids.verdict(*id, 10), Verdict::Known(_)));
        }
        for _ in 0..1_000 {
            assert_eq!(ids.verdict(v7(7_000), 10), Verdict::New);
        }
        assert_eq!(ids.verdict(v7(6_999), 10), Verdict::LookUp);
        // A later millisecond starts a new edge.
        for i in 0..20 {
            ids.remember(entry(v7(8_000), 200 + i), 10);
        }
        assert_eq!(ids.edge().map(IdSet::len), Some(10));
        assert_eq!(ids.verdict(same[95], 10), Verdict::LookUp);
    }

    #[test]
    fn an_overflowing_edge_looks_every_id_of_its_millisecond_up() {
        let mut ids = CommandIds::default();
        for i in 0..(EDGE_MAX as u64 + 2) {
            ids.remember(entry(v7(9_000), i + 1), 1);
        }
        assert_eq!(ids.edge(), None);
        assert_eq!(ids.verdict(v7(9_000), 1), Verdict::LookUp);
        assert_eq!(ids.verdict(v7(9_001), 1), Verdict::New);
    }

    #[test]
    fn an_id_dated_far_ahead_does_not_move_the_horizon() {
        let mut ids = CommandIds::default();
        let ahead = v7(now_millis() + 3_600_000);
        ids.remember(entry(ahead, 1), 1);
        ids.remember(entry(v7(now_millis()), 2), 1);
        assert_eq!(
            ids.horizon(),
            None,
            "only the future-dated id was forgotten"
        );
        assert_eq!(ids.verdict(ahead, 1), Verdict::LookUp);
        assert_eq!(ids.verdict(v7(now_millis()), 1), Verdict::New);
    }

    #[test]
    fn forgetting_only_v4_ids_keeps_v7_ids_on_the_fast_path() {
        let mut ids = CommandIds::default();
        ids.remember(entry(Uuid::new_v4(), 1), 1);
        ids.remember(entry(Uuid::new_v4(), 2), 1);
        assert!(ids.forgot());
        assert_eq!(ids.horizon(), None);
        assert_eq!(ids.verdict(v7(1), 1), Verdict::New);
        assert_eq!(ids.verdict(Uuid::new_v4(), 1), Verdict::LookUp);
    }

    #[test]
    fn capacity_zero_looks_every_id_up() {
        let mut ids = CommandIds::default();
        let a = v7(5);
        ids.remember(entry(a, 1), 0);
        assert!(ids.recent.is_empty());
        assert_eq!(ids.verdict(a, 0), Verdict::LookUp);
        assert_eq!(ids.verdict(v7(u64::MAX >> 20), 0), Verdict::LookUp);
    }

    #[test]
    fn an_empty_window_holds_no_heap_and_a_full_one_is_counted() {
        let mut ids = CommandIds::default();
        assert_eq!(ids.heap_bytes(), 0);
        for i in 0..64 {
            ids.remember(entry(v7(i), i + 1), 64);
        }
        assert!(ids.heap_bytes() >= 64 * std::mem::size_of::<Remembered>());
        eprintln!(
            "a full window of 64: {} bytes ({} per id)",
            ids.heap_bytes(),
            std::mem::size_of::<Remembered>()
        );
    }
}
