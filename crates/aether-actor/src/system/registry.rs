//! The runtime of one aggregate type ([`TypeRuntime`]): its registry of active actors,
//! sharded by actor id; how a command finds its actor, activating it when needed; and the
//! idle sweeper that passivates the actors nobody asked for a while.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aether_core::support::lock;
use aether_core::ActorId;
use tokio::sync::oneshot;

use super::{AnyRuntime, Shared};
use crate::actor::{run_actor, Msg};
use crate::aggregate::Aggregate;
use crate::mailbox::{Mailbox, SendError};

/// The idle sweeper's period for an idle time, and how many of its ticks in a row make an
/// actor idle: the period is a quarter of the idle time (between 1 ms and 15 s); the first
/// counted tick may come right after the last command, so one tick more than the idle time
/// spans is needed. An actor is thus passivated between `idle` and `idle` plus one period
/// after its last command.
fn sweep_period(idle: Duration) -> (Duration, u32) {
    let period = (idle / 4).clamp(Duration::from_millis(1), Duration::from_secs(15));
    let ticks = idle.as_nanos().div_ceil(period.as_nanos()) + 1;
    (period, u32::try_from(ticks).unwrap_or(u32::MAX))
}

/// How many parts a type's registry has, each behind its own lock.
const SHARDS: usize = 32;

/// One part of a type's registry: the mailboxes of its active actors.
type Registry<A> = Mutex<HashMap<ActorId, Arc<Mailbox<Msg<A>>>>>;
/// A message queued for an actor: its mailbox and its sequence number there.
type Queued<A> = (Arc<Mailbox<Msg<A>>>, u64);

/// The runtime of one aggregate type: its behaviour and its active actors.
///
/// Aligned so that the reference counts of its `Arc`, which every ask updates, do not share
/// a cache line with the fields its actors read while they run on other threads.
#[repr(align(128))]
pub(crate) struct TypeRuntime<A: Aggregate> {
    pub(crate) aggregate: A,
    pub(crate) shared: Arc<Shared>,
    /// `A::TYPE_NAME`, shared by the events its actors append.
    pub(crate) type_name: Arc<str>,
    shards: Box<[Registry<A>]>,
    shard_seed: u64,
    sweeper: AtomicBool,
    /// Why `A`'s description is unusable (an empty or repeated name), if it is: every ask
    /// then fails with it.
    pub(crate) invalid: Option<String>,
}

impl<A: Aggregate> TypeRuntime<A> {
    pub(super) fn new(aggregate: A, shared: Arc<Shared>) -> Self {
        TypeRuntime {
            aggregate,
            shared,
            type_name: Arc::from(A::TYPE_NAME),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            shard_seed: aether_core::support::shard_seed(),
            sweeper: AtomicBool::new(false),
            invalid: description_problem::<A>(),
        }
    }

    /// Starts the idle sweeper of this aggregate type if passivation is on and it is not
    /// running: a task that, every quarter of the idle time, asks the actors idle for
    /// longer than it to passivate. One timer per type instead of one per actor keeps idle
    /// actors small and commands free of timer bookkeeping.
    fn ensure_sweeper(self: &Arc<Self>) {
        let Some(idle) = self.shared.config.passivate_after else {
            return;
        };
        if self.sweeper.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = Arc::downgrade(self);
        let (period, ticks) = sweep_period(idle);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                // Stop once the system and all its actors are gone, or it shuts down.
                let Some(rt) = weak.upgrade() else { return };
                if rt.shared.shutting_down.load(Ordering::Relaxed) {
                    return;
                }
                for shard in rt.shards.iter() {
                    let idle_ones: Vec<_> = lock(shard)
                        .values()
                        .filter(|m| m.tick() >= ticks)
                        .cloned()
                        .collect();
                    for m in idle_ones {
                        let _ = m.force_send(Msg::IdleCheck);
                    }
                }
            }
        });
    }

    /// How many sweeper ticks in a row make an actor idle.
    pub(crate) fn idle_ticks(&self) -> u32 {
        self.shared
            .config
            .passivate_after
            .map_or(u32::MAX, |idle| sweep_period(idle).1)
    }

    fn shard(&self, id: &ActorId) -> &Registry<A> {
        &self.shards[aether_core::support::shard_index(self.shard_seed, id.as_str(), SHARDS)]
    }

    /// Removes `mailbox` from the registry if it is still the one registered for `id`.
    pub(crate) fn unregister(&self, id: &ActorId, mailbox: &Arc<Mailbox<Msg<A>>>) {
        let mut map = lock(self.shard(id));
        if map.get(id).is_some_and(|m| Arc::ptr_eq(m, mailbox)) {
            map.remove(id);
            // Give memory back once most actors of the shard have passivated.
            if map.capacity() > 64 && map.len() < map.capacity() / 4 {
                let keep = map.len() * 2;
                map.shrink_to(keep);
            }
        }
    }

    /// Queues `msg` for `id`, activating the actor if needed. `Closed` when the actor would
    /// have to be activated while the system shuts down.
    pub(super) fn send(
        self: &Arc<Self>,
        id: &ActorId,
        mut msg: Msg<A>,
    ) -> Result<Queued<A>, SendError<Msg<A>>> {
        let capacity = self.shared.config.mailbox_capacity;
        loop {
            let mailbox = {
                let mut map = lock(self.shard(id));
                match map.get(id) {
                    Some(m) => m.clone(),
                    None => {
                        // Checked under the shard's lock, which `shutdown` takes after setting
                        // the flag to passivate the actors: an actor is either seen by it or
                        // never activated, so none outlives the shutdown.
                        if self.shared.shutting_down.load(Ordering::SeqCst) {
                            return Err(SendError::Closed(msg));
                        }
                        let m = Arc::new(Mailbox::new());
                        map.insert(id.clone(), m.clone());
                        self.shared.actor_started();
                        // The actor gets its own copy of the id: callers keep cloning theirs,
                        // and sharing its reference count would bounce it between threads.
                        let own = ActorId::new(id.as_str()).unwrap_or_else(|_| id.clone());
                        tokio::spawn(run_actor(self.clone(), own, m.clone()));
                        self.ensure_sweeper();
                        m
                    }
                }
            };
            match mailbox.try_send(msg, capacity) {
                Ok(seq) => return Ok((mailbox, seq)),
                Err(SendError::Full(m)) => return Err(SendError::Full(m)),
                Err(SendError::Closed(m)) => {
                    // The actor passivated between the lookup and the send; activate anew.
                    self.unregister(id, &mailbox);
                    msg = m;
                }
            }
        }
    }

    /// The mailbox of actor `id`, when it is active.
    pub(super) fn mailbox(&self, id: &ActorId) -> Option<Arc<Mailbox<Msg<A>>>> {
        lock(self.shard(id)).get(id).cloned()
    }

    /// How many actors of this type are active.
    pub(super) fn active_count(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }
}

impl<A: Aggregate> AnyRuntime for TypeRuntime<A> {
    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }

    fn passivate_all(&self) -> Vec<oneshot::Receiver<()>> {
        let mut acks = Vec::new();
        for shard in self.shards.iter() {
            let mailboxes: Vec<_> = lock(shard).values().cloned().collect();
            for m in mailboxes {
                let (tx, rx) = oneshot::channel();
                if m.force_send(Msg::Passivate(tx)).is_ok() {
                    acks.push(rx);
                }
            }
        }
        acks
    }
}

/// What is wrong with `A`'s names, if anything: the type name, and the command and event
/// names (empty, too long, with control characters, or repeated).
pub(crate) fn description_problem<A: Aggregate>() -> Option<String> {
    use aether_core::names::check_names;
    use aether_core::EventNames;
    let own = <A::Event as EventNames>::EVENT_NAMES;
    check_names("aggregate type", &[A::TYPE_NAME])
        .and_then(|()| check_names("command", A::command_names()))
        .and_then(|()| check_names("event", A::event_names()))
        .and_then(|()| check_names("event", own))
        .and_then(|()| agree(A::event_names(), own))
        .err()
        .map(|why| {
            format!(
                "the description of aggregate type {:?} is unusable: {why}",
                A::TYPE_NAME
            )
        })
}

/// Whether the description's event names are the event type's own (in any order): events
/// are stored under the latter, and tools read the former.
fn agree(described: &[&str], own: &[&str]) -> Result<(), String> {
    fn missing<'a>(from: &[&str], of: &[&'a str]) -> Option<&'a str> {
        of.iter().find(|n| !from.contains(n)).copied()
    }
    if let Some(name) = missing(described, own) {
        return Err(format!(
            "the event type names {name:?}, which event_names() does not list"
        ));
    }
    if let Some(name) = missing(own, described) {
        return Err(format!(
            "event_names() lists {name:?}, which the event type does not name"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweeper_ticks_four_times_per_idle_period_at_most_every_15_s() {
        let (ms, secs) = (Duration::from_millis, Duration::from_secs);
        assert_eq!(sweep_period(ms(100)), (ms(25), 5));
        assert_eq!(sweep_period(secs(120)), (secs(15), 9));
        assert_eq!(sweep_period(secs(3600)), (secs(15), 241));
        assert_eq!(sweep_period(Duration::ZERO), (ms(1), 1));
        assert_eq!(sweep_period(ms(2)), (ms(1), 3));
    }
}
