//! What the runtime counts: [`Counters`], bumped by the actors as they work, and
//! [`ActorStats`], the copy of them that [`ActorSystem::stats`](super::ActorSystem::stats)
//! hands out.

use std::sync::atomic::{AtomicU64, Ordering};

/// The runtime's counters (relaxed atomics).
///
/// Aligned to a cache line pair of their own: actors bump them while the callers of asks
/// read the settings next to them.
#[derive(Default)]
#[repr(align(128))]
pub(crate) struct Counters {
    pub(crate) activations: AtomicU64,
    pub(crate) passivations: AtomicU64,
    pub(crate) snapshots: AtomicU64,
    pub(crate) conflicts: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) appends: AtomicU64,
    pub(crate) lookups: AtomicU64,
    pub(crate) told_rejected: AtomicU64,
    pub(crate) told_failed: AtomicU64,
    pub(crate) reloads: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters' current values.
    pub(super) fn read(&self) -> ActorStats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ActorStats {
            activations: get(&self.activations),
            passivations: get(&self.passivations),
            snapshots: get(&self.snapshots),
            conflicts: get(&self.conflicts),
            duplicates: get(&self.duplicates),
            appends: get(&self.appends),
            command_lookups: get(&self.lookups),
            told_rejected: get(&self.told_rejected),
            told_failed: get(&self.told_failed),
            reloads: get(&self.reloads),
        }
    }
}

/// What an [`ActorSystem`](super::ActorSystem) has done since it was built (see
/// [`ActorSystem::stats`](super::ActorSystem::stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ActorStats {
    /// Actors activated (loaded from the store), first activations and rehydrations alike;
    /// reloads within an activation are counted in `reloads`.
    pub activations: u64,
    /// Actors passivated (idle, explicitly, or at shutdown).
    pub passivations: u64,
    /// Snapshots saved.
    pub snapshots: u64,
    /// Version conflicts met while appending (after each one the actor reloaded and
    /// decided again, or ended in [`AskError::Conflict`](crate::AskError::Conflict)).
    pub conflicts: u64,
    /// Commands answered from the stored result because their id was already processed.
    pub duplicates: u64,
    /// Successful appends of decided events.
    pub appends: u64,
    /// Command ids looked up in an actor's stored history (ids outside the remembered
    /// window, at or below its horizon).
    pub command_lookups: u64,
    /// Told commands ([`Actors::tell`](crate::Actors::tell)) the aggregate rejected with a
    /// domain error (each also logged at WARN).
    pub told_rejected: u64,
    /// Told commands that failed with a technical error, or whose deadline (the system's
    /// `ask_timeout` unless the ask set one) passed before they started (each also logged
    /// at WARN).
    pub told_failed: u64,
    /// States reloaded from the store within an activation: after a version conflict, a
    /// failed append, or a panic in `apply` or `reply` (`on_activate` does not run again).
    pub reloads: u64,
}
