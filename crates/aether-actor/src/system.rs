//! [`ActorSystem`], its builder, the typed [`Actors`] handle and the [`Ask`] request.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aether_core::{
    ActorId, Error, EventBroadcaster, EventBus, EventFilter, EventStore, Namespace, Subscription,
    Uuid,
};
use tokio::sync::{oneshot, Notify};

use crate::actor::{run_actor, AskMsg, Msg, Outcome};
use crate::aggregate::Aggregate;
use crate::error::{rebrand, AskError};
use crate::mailbox::{Mailbox, SendError};

/// What an `ask` returns: a technical error, or the domain outcome (the reply or the
/// aggregate's domain error).
pub type AskResult<A> = Result<
    Result<<A as Aggregate>::Reply, <A as Aggregate>::Error>,
    AskError<<A as Aggregate>::Command>,
>;

/// The runtime's settings (see [`ActorSystemBuilder`] for their meaning and defaults).
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) snapshot_every: u64,
    pub(crate) passivate_after: Option<Duration>,
    pub(crate) mailbox_capacity: usize,
    pub(crate) conflict_retries: u32,
    pub(crate) ask_timeout: Duration,
    pub(crate) recent_command_ids: usize,
    pub(crate) command_id_skew: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            snapshot_every: 100,
            passivate_after: Some(Duration::from_secs(120)),
            mailbox_capacity: 256,
            conflict_retries: 3,
            ask_timeout: Duration::from_secs(15),
            recent_command_ids: DEFAULT_RECENT_COMMAND_IDS,
            command_id_skew: Duration::from_secs(10),
        }
    }
}

/// How many caller-supplied command ids an active actor remembers by default.
const DEFAULT_RECENT_COMMAND_IDS: usize = 32;

/// What every actor of a system shares: the store, the broadcaster and the settings.
pub(crate) struct Shared {
    pub(crate) store: Arc<dyn EventStore>,
    pub(crate) bus: Arc<dyn EventBroadcaster>,
    pub(crate) namespace: Namespace,
    pub(crate) config: Config,
    shutting_down: AtomicBool,
    live: AtomicUsize,
    all_stopped: Notify,
    pub(crate) stats: Counters,
}

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
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// What an [`ActorSystem`] has done since it was built (see [`ActorSystem::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ActorStats {
    /// Actors activated (loaded from the store), first activations and rehydrations alike.
    pub activations: u64,
    /// Actors passivated (idle, explicitly, or at shutdown).
    pub passivations: u64,
    /// Snapshots saved.
    pub snapshots: u64,
    /// Version conflicts met while appending (each one was caught up and decided again,
    /// or ended in [`AskError::Conflict`]).
    pub conflicts: u64,
    /// Commands answered from the stored result because their id was already processed.
    pub duplicates: u64,
    /// Successful appends of decided events.
    pub appends: u64,
    /// Command ids looked up in an actor's stored history (ids outside the remembered
    /// window, at or below its horizon).
    pub command_lookups: u64,
}

impl Shared {
    /// Broadcasts the events `actor` just stored. A failure is logged, not returned: the
    /// events are stored, and subscribers catch up from the store.
    pub(crate) async fn broadcast(&self, actor: &ActorId, stored: Vec<Arc<aether_core::Event>>) {
        if let Err(e) = self.bus.publish_all(&self.namespace, stored).await {
            tracing::warn!(actor = %actor, error = %e, "broadcasting stored events failed");
        }
    }

    pub(crate) fn actor_started(&self) {
        self.live.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn actor_stopped(&self) {
        if self.live.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.all_stopped.notify_waiters();
        }
    }
}

/// Builds an [`ActorSystem`]. Only the store is required.
///
/// ```
/// use std::time::Duration;
/// use aether_actor::ActorSystem;
/// use aether_core::{EventBus, Namespace};
/// use aether_store_mem::InMemoryEventStore;
///
/// let system = ActorSystem::builder()
///     .store(InMemoryEventStore::new(Namespace::new("bank").unwrap()))
///     .broadcaster(EventBus::new())
///     .snapshot_every(50)
///     .passivate_after(Duration::from_secs(60))
///     .mailbox_capacity(128)
///     .conflict_retries(5)
///     .build()
///     .unwrap();
/// assert_eq!(system.namespace().as_str(), "bank");
/// ```
#[derive(Default)]
pub struct ActorSystemBuilder {
    store: Option<Arc<dyn EventStore>>,
    bus: Option<Arc<dyn EventBroadcaster>>,
    namespace: Option<Namespace>,
    config: Config,
}

impl std::fmt::Debug for ActorSystemBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActorSystemBuilder")
            .field("namespace", &self.namespace)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ActorSystemBuilder {
    /// The event store (required). Its namespace is the system's namespace.
    ///
    /// ```
    /// # use aether_core::Namespace;
    /// let b = aether_actor::ActorSystem::builder()
    ///     .store(aether_store_mem::InMemoryEventStore::new(Namespace::new("bank").unwrap()));
    /// ```
    pub fn store(mut self, store: impl EventStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// The event store, already shared.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use aether_core::{EventStore, Namespace};
    /// let store: Arc<dyn EventStore> =
    ///     Arc::new(aether_store_mem::InMemoryEventStore::new(Namespace::new("bank").unwrap()));
    /// let b = aether_actor::ActorSystem::builder().shared_store(store.clone());
    /// ```
    pub fn shared_store(mut self, store: Arc<dyn EventStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Where stored events are published (default: a new in-process [`EventBus`], reachable
    /// through [`ActorSystem::broadcaster`]).
    ///
    /// ```
    /// let b = aether_actor::ActorSystem::builder().broadcaster(aether_core::EventBus::new());
    /// ```
    pub fn broadcaster(mut self, bus: impl EventBroadcaster) -> Self {
        self.bus = Some(Arc::new(bus));
        self
    }

    /// The broadcaster, already shared.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let bus: Arc<dyn aether_core::EventBroadcaster> = Arc::new(aether_core::EventBus::new());
    /// let b = aether_actor::ActorSystem::builder().shared_broadcaster(bus);
    /// ```
    pub fn shared_broadcaster(mut self, bus: Arc<dyn EventBroadcaster>) -> Self {
        self.bus = Some(bus);
        self
    }

    /// The namespace; optional, but when given it must be the store's (a check against
    /// wiring a store of another namespace by mistake).
    ///
    /// ```
    /// let b = aether_actor::ActorSystem::builder()
    ///     .namespace(aether_core::Namespace::new("bank").unwrap());
    /// ```
    pub fn namespace(mut self, namespace: Namespace) -> Self {
        self.namespace = Some(namespace);
        self
    }

    /// Save a snapshot each time an actor has `n` events more than its last snapshot
    /// (default 100; 0 turns periodic snapshots off). Actors also snapshot when passivated.
    ///
    /// ```
    /// let b = aether_actor::ActorSystem::builder().snapshot_every(500);
    /// ```
    pub fn snapshot_every(mut self, n: u64) -> Self {
        self.config.snapshot_every = n;
        self
    }

    /// Passivate an actor (snapshot it, then free it) after it has been idle this long
    /// (default 120 s).
    ///
    /// ```
    /// let b = aether_actor::ActorSystem::builder()
    ///     .passivate_after(std::time::Duration::from_secs(30));
    /// ```
    pub fn passivate_after(mut self, idle: Duration) -> Self {
        self.config.passivate_after = Some(idle);
        self
    }

    /// Never passivate idle actors (they stay in memory until [`ActorSystem::shutdown`] or
    /// [`Actors::passivate`]).
    ///
    /// ```
    /// let b = aether_actor::ActorSystem::builder().never_passivate();
    /// ```
    pub fn never_passivate(mut self) -> Self {
        self.config.passivate_after = None;
        self
    }

    /// How many commands may wait in one actor's mailbox (default 256, at least 1). A full
    /// mailbox answers [`AskError::MailboxFull`] with the command.
    ///
    /// ```
    /// let b = aether_actor::ActorSystem::builder().mailbox_capacity(16);
    /// ```
    pub fn mailbox_capacity(mut self, n: usize) -> Self {
        self.config.mailbox_capacity = n.max(1);
        self
    }

    /// How many times a command is decided again after a version conflict before
    /// [`AskError::Conflict`] (default 3).
    ///
    /// ```
    /// let b = aether_actor::ActorSystem::builder().conflict_retries(10);
    /// ```
    pub fn conflict_retries(mut self, n: u32) -> Self {
        self.config.conflict_retries = n;
        self
    }

    /// The deadline of an `ask` that does not set its own (default 15 s: above the JetStream
    /// store's `retry_deadline` of 12 s, so that a store that gives up answers before the
    /// caller stops waiting, and long enough for a stream leader election; see the timeouts
    /// table in `docs/operations.md`).
    ///
    /// ```
    /// let b = aether_actor::ActorSystem::builder()
    ///     .ask_timeout(std::time::Duration::from_millis(500));
    /// ```
    pub fn ask_timeout(mut self, timeout: Duration) -> Self {
        self.config.ask_timeout = timeout;
        self
    }

    /// How many caller-supplied command ids each active actor remembers (default 32): the
    /// window answered from memory, without a round trip. Older ids are not forgotten as
    /// facts: they are looked up in the actor's stored history (see "Command ids" in
    /// `docs/actors.md`), so this bounds speed, never correctness. Each id costs 40 bytes
    /// while the actor is active, and the window is kept in snapshots. 0 sends every
    /// caller-supplied id to the stored-history lookup.
    ///
    /// ```
    /// let b = aether_actor::ActorSystem::builder().recent_command_ids(256);
    /// ```
    pub fn recent_command_ids(mut self, n: usize) -> Self {
        self.config.recent_command_ids = n;
        self
    }

    /// How far a caller's clock may be ahead of the clock that stamped the command's events
    /// for a command-id lookup to find the command where its UUID v7 time points, less this
    /// allowance (default 10 s). A clock further off only makes the lookup slower (it then
    /// scans the rest of the history), never wrong; a larger allowance makes every lookup
    /// scan more.
    ///
    /// ```
    /// let b = aether_actor::ActorSystem::builder()
    ///     .command_id_clock_skew(std::time::Duration::from_secs(600));
    /// ```
    pub fn command_id_clock_skew(mut self, skew: Duration) -> Self {
        self.config.command_id_skew = skew;
        self
    }

    /// Builds the system.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when no store was given or the namespace differs from the
    /// store's.
    pub fn build(self) -> Result<ActorSystem, Error> {
        let store = self
            .store
            .ok_or_else(|| Error::invalid("actor system", "an event store is required"))?;
        let namespace = store.namespace().clone();
        if let Some(ns) = &self.namespace {
            if *ns != namespace {
                return Err(Error::invalid(
                    "actor system",
                    format!("namespace {ns} differs from the store's namespace {namespace}"),
                ));
            }
        }
        let bus = self.bus.unwrap_or_else(|| Arc::new(EventBus::new()));
        Ok(ActorSystem {
            inner: Arc::new(SystemInner {
                shared: Arc::new(Shared {
                    store,
                    bus,
                    namespace,
                    config: self.config,
                    shutting_down: AtomicBool::new(false),
                    live: AtomicUsize::new(0),
                    all_stopped: Notify::new(),
                    stats: Counters::default(),
                }),
                types: Mutex::new(HashMap::new()),
            }),
        })
    }
}

trait AnyRuntime: Send + Sync {
    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
    fn passivate_all(&self) -> Vec<oneshot::Receiver<()>>;
}

struct SystemInner {
    shared: Arc<Shared>,
    types: Mutex<HashMap<TypeId, Arc<dyn AnyRuntime>>>,
}

/// The local event-sourced actor runtime: it activates actors on first use, runs one
/// command at a time per actor, stores their events, broadcasts them, snapshots and
/// passivates. Cloning is cheap; clones share everything.
///
/// Register each aggregate type once with [`register`](ActorSystem::register) (or
/// [`actors`](ActorSystem::actors) for `Default` types) and talk to its actors through the
/// returned [`Actors`] handle.
///
/// ```
/// # use aether_actor::{ActorSystem, Aggregate};
/// # use aether_core::{ActorId, DescribeAggregate, Namespace};
/// # use aether_store_mem::InMemoryEventStore;
/// # #[derive(Default)] struct Counter;
/// # impl DescribeAggregate for Counter {
/// #     const TYPE_NAME: &'static str = "Counter";
/// #     fn command_names() -> &'static [&'static str] { &["Add"] }
/// #     fn event_names() -> &'static [&'static str] { &["Added"] }
/// # }
/// # impl Aggregate for Counter {
/// #     type Command = u64; type Event = u64; type State = u64; type Reply = u64; type Error = ();
/// #     fn event_type(_: &u64) -> &'static str { "Added" }
/// #     fn decide(&self, s: &u64, n: &u64) -> Result<(Vec<u64>, u64), ()> { Ok((vec![*n], s + n)) }
/// #     fn apply(s: &mut u64, n: &u64) { *s += n }
/// # }
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> anyhow::Result<()> {
/// let system = ActorSystem::builder()
///     .store(InMemoryEventStore::new(Namespace::new("demo")?))
///     .build()?;
/// let counters = system.actors::<Counter>();
/// let id = ActorId::new("counter-1")?;
/// assert_eq!(counters.ask(&id, 2).await?, Ok(2));
/// assert_eq!(counters.ask(&id, 3).await?, Ok(5));
/// system.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ActorSystem {
    inner: Arc<SystemInner>,
}

impl std::fmt::Debug for ActorSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActorSystem")
            .field("namespace", &self.inner.shared.namespace)
            .field("config", &self.inner.shared.config)
            .finish_non_exhaustive()
    }
}

impl ActorSystem {
    /// A builder; only [`store`](ActorSystemBuilder::store) is required.
    pub fn builder() -> ActorSystemBuilder {
        ActorSystemBuilder::default()
    }

    /// The namespace of the system's store.
    pub fn namespace(&self) -> &Namespace {
        &self.inner.shared.namespace
    }

    /// The event store.
    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.inner.shared.store
    }

    /// The health of the store's connection: connected or not, since when, the last error,
    /// the appends waiting for an answer. An embedded store is always connected.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let store = aether_store_mem::InMemoryEventStore::new(aether_core::Namespace::new("ns").unwrap());
    /// let system = aether_actor::ActorSystem::builder().store(store).build().unwrap();
    /// let health = system.health();
    /// assert!(health.connected && health.appends_waiting == 0);
    /// # }
    /// ```
    pub fn health(&self) -> aether_core::StoreHealth {
        self.inner.shared.store.health()
    }

    /// The broadcaster stored events are published on.
    pub fn broadcaster(&self) -> &Arc<dyn EventBroadcaster> {
        &self.inner.shared.bus
    }

    /// Subscribes to this system's namespace on its broadcaster: every event stored by its
    /// actors from now on that matches `filter`.
    ///
    /// # Errors
    /// What the broadcaster's `subscribe` returns.
    pub async fn subscribe(&self, filter: EventFilter) -> Result<Subscription, Error> {
        let shared = &self.inner.shared;
        shared.bus.subscribe(&shared.namespace, filter).await
    }

    /// Registers the aggregate type `A`, with `aggregate` as the behaviour shared by all its
    /// actors, and returns the handle to its actors.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `A` is already registered in this system (use the handle
    /// returned the first time; it is cheap to clone).
    pub fn register<A: Aggregate>(&self, aggregate: A) -> Result<Actors<A>, Error> {
        let mut types = lock(&self.inner.types);
        if types.contains_key(&TypeId::of::<A>()) {
            return Err(Error::invalid(
                "aggregate",
                format!(
                    "{} is already registered in this actor system",
                    A::TYPE_NAME
                ),
            ));
        }
        let rt = Arc::new(TypeRuntime::new(aggregate, self.inner.shared.clone()));
        types.insert(TypeId::of::<A>(), rt.clone());
        Ok(Actors { rt })
    }

    /// The handle to the actors of `A`, registering `A::default()` on first use.
    pub fn actors<A: Aggregate + Default>(&self) -> Actors<A> {
        let mut types = lock(&self.inner.types);
        let rt = types
            .entry(TypeId::of::<A>())
            .or_insert_with(|| Arc::new(TypeRuntime::new(A::default(), self.inner.shared.clone())))
            .clone();
        drop(types);
        let rt = rt
            .as_any()
            .downcast::<TypeRuntime<A>>()
            .unwrap_or_else(|_| {
                unreachable!("the runtime registered under TypeId::of::<A>() is A's")
            });
        Actors { rt }
    }

    /// Stops the system gracefully: new asks get [`AskError::ShuttingDown`], every active
    /// actor finishes the commands already in its mailbox, snapshots and stops. Returns when
    /// all actors have stopped.
    pub async fn shutdown(&self) {
        let shared = &self.inner.shared;
        shared.shutting_down.store(true, Ordering::SeqCst);
        let runtimes: Vec<_> = lock(&self.inner.types).values().cloned().collect();
        let acks: Vec<_> = runtimes.iter().flat_map(|rt| rt.passivate_all()).collect();
        for ack in acks {
            let _ = ack.await;
        }
        loop {
            let stopped = shared.all_stopped.notified();
            if shared.live.load(Ordering::SeqCst) == 0 {
                break;
            }
            // No actor is activated any more; wake up now and then in case a
            // notification is missed.
            let _ = tokio::time::timeout(Duration::from_millis(50), stopped).await;
        }
    }

    /// What the system has done so far: activations, passivations, snapshots, conflicts,
    /// duplicates, appends.
    pub fn stats(&self) -> ActorStats {
        let c = &self.inner.shared.stats;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ActorStats {
            activations: get(&c.activations),
            passivations: get(&c.passivations),
            snapshots: get(&c.snapshots),
            conflicts: get(&c.conflicts),
            duplicates: get(&c.duplicates),
            appends: get(&c.appends),
            command_lookups: get(&c.lookups),
        }
    }

    /// How many actors are active (in memory), over all aggregate types.
    pub fn active_actors(&self) -> usize {
        self.inner.shared.live.load(Ordering::SeqCst)
    }
}

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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

const SHARDS: usize = 32;

type Registry<A> = Mutex<HashMap<ActorId, Arc<Mailbox<Msg<A>>>>>;
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
}

impl<A: Aggregate> TypeRuntime<A> {
    fn new(aggregate: A, shared: Arc<Shared>) -> Self {
        TypeRuntime {
            aggregate,
            shared,
            type_name: Arc::from(A::TYPE_NAME),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            shard_seed: aether_core::shard_seed(),
            sweeper: AtomicBool::new(false),
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
        &self.shards[aether_core::shard_index(self.shard_seed, id.as_str(), SHARDS)]
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
    fn send(
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

    fn mailbox(&self, id: &ActorId) -> Option<Arc<Mailbox<Msg<A>>>> {
        lock(self.shard(id)).get(id).cloned()
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

/// The handle to the actors of one aggregate type `A` in an [`ActorSystem`]. Cheap to
/// clone.
pub struct Actors<A: Aggregate> {
    rt: Arc<TypeRuntime<A>>,
}

impl<A: Aggregate> Clone for Actors<A> {
    fn clone(&self) -> Self {
        Actors {
            rt: self.rt.clone(),
        }
    }
}

impl<A: Aggregate> std::fmt::Debug for Actors<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Actors")
            .field("type", &A::TYPE_NAME)
            .field("active", &self.active_count())
            .finish()
    }
}

impl<A: Aggregate> Actors<A> {
    /// Asks actor `id` to handle `command`. Await the returned [`Ask`], optionally after
    /// setting a deadline or a command id on it.
    ///
    /// The result is `Err(AskError)` for a technical failure, `Ok(Err(domain_error))` when
    /// the aggregate rejected the command, and `Ok(Ok(reply))` when it was accepted (its
    /// events, if any, are then stored and broadcast).
    ///
    /// # Panics
    /// Awaiting the ask outside a Tokio runtime with its time driver enabled panics, as
    /// `tokio::spawn` and Tokio timers do.
    pub fn ask(&self, id: &ActorId, command: A::Command) -> Ask<A> {
        Ask {
            rt: self.rt.clone(),
            id: id.clone(),
            command,
            command_id: None,
            correlation_id: None,
            timeout: None,
            deadline: None,
        }
    }

    /// Whether actor `id` is active (in memory) in this system.
    pub fn is_active(&self, id: &ActorId) -> bool {
        self.rt.mailbox(id).is_some()
    }

    /// How many actors of this type are active.
    pub fn active_count(&self) -> usize {
        self.rt.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// Passivates actor `id` now: it finishes the commands already queued, snapshots and
    /// frees its memory. Returns `false` when it was not active.
    pub async fn passivate(&self, id: &ActorId) -> bool {
        let Some(mailbox) = self.rt.mailbox(id) else {
            return false;
        };
        let (tx, rx) = oneshot::channel();
        if mailbox.force_send(Msg::Passivate(tx)).is_err() {
            return false;
        }
        rx.await.is_ok()
    }

    /// The system's namespace.
    pub fn namespace(&self) -> &Namespace {
        &self.rt.shared.namespace
    }

    #[cfg(test)]
    pub(crate) fn runtime(&self) -> &Arc<TypeRuntime<A>> {
        &self.rt
    }
}

/// A pending `ask`: set options, then `.await` it.
///
/// ```no_run
/// # use aether_actor::{Actors, Aggregate};
/// # async fn f<A: Aggregate>(accounts: Actors<A>, id: aether_core::ActorId, cmd: A::Command) {
/// let command_id = aether_core::Uuid::now_v7();
/// let outcome = accounts
///     .ask(&id, cmd)
///     .command_id(command_id)
///     .timeout(std::time::Duration::from_secs(2))
///     .await;
/// # }
/// ```
#[must_use = "an ask does nothing until it is awaited"]
pub struct Ask<A: Aggregate> {
    rt: Arc<TypeRuntime<A>>,
    id: ActorId,
    command: A::Command,
    command_id: Option<Uuid>,
    correlation_id: Option<Uuid>,
    timeout: Option<Duration>,
    deadline: Option<std::time::Instant>,
}

impl<A: Aggregate> std::fmt::Debug for Ask<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ask")
            .field("type", &A::TYPE_NAME)
            .field("id", &self.id)
            .field("command_id", &self.command_id)
            .finish_non_exhaustive()
    }
}

impl<A: Aggregate> Ask<A> {
    /// The command's id (default: a fresh UUID v7). The events the command produces carry it
    /// as their causation id, and a command id the actor has already stored events for is
    /// answered with the original reply without running the command again: retries after
    /// a timeout or an unknown outcome should reuse it.
    pub fn command_id(mut self, id: Uuid) -> Self {
        self.command_id = Some(id);
        self
    }

    /// The correlation id written on the events (default: the command id).
    pub fn correlation_id(mut self, id: Uuid) -> Self {
        self.correlation_id = Some(id);
        self
    }

    /// The deadline for the answer, counted from the `await` (default: the system's
    /// [`ask_timeout`](ActorSystemBuilder::ask_timeout)). If it passes before the actor
    /// started the command, the command is withdrawn ([`AskError::Timeout`]); after, the
    /// answer is [`AskError::OutcomeUnknown`].
    ///
    /// The actor checks the deadline before it decides the command: a deadline already
    /// passed (a zero timeout included) is [`AskError::Timeout`], and the command never runs.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The deadline for the answer as an instant (default: [`timeout`](Ask::timeout) from
    /// the `await`). With both, the earlier one holds. Useful when one deadline covers
    /// several steps: a deadline already passed is [`AskError::Timeout`] and the command
    /// never runs.
    ///
    /// ```no_run
    /// # use aether_actor::{Actors, Aggregate};
    /// # async fn f<A: Aggregate>(accounts: Actors<A>, id: aether_core::ActorId, cmd: A::Command) {
    /// let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    /// let outcome = accounts.ask(&id, cmd).deadline(deadline).await;
    /// # }
    /// ```
    pub fn deadline(mut self, deadline: std::time::Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Hands the command to the actor: the synchronous first step of an ask.
    fn send(self) -> Result<Sent<A>, AskError<A::Command>> {
        let Ask {
            rt,
            id,
            command,
            command_id,
            correlation_id,
            timeout,
            deadline,
        } = self;
        if rt.shared.shutting_down.load(Ordering::Relaxed) {
            return Err(AskError::ShuttingDown);
        }
        let now = tokio::time::Instant::now();
        let timeout = timeout.unwrap_or(rt.shared.config.ask_timeout);
        // A timeout too long for the clock is no deadline at all: about 30 years.
        let mut until = now
            .checked_add(timeout)
            .unwrap_or_else(|| now + Duration::from_secs(1 << 30));
        if let Some(d) = deadline {
            until = until.min(tokio::time::Instant::from_std(d));
        }
        if until <= now {
            // Already passed: not sent, never run.
            return Err(AskError::Timeout);
        }
        let fresh_id = command_id.is_none();
        let command_id = command_id.unwrap_or_else(aether_core::new_id);
        let (tx, rx) = oneshot::channel::<Outcome<A>>();
        let msg = Msg::Ask(Box::new(AskMsg {
            command,
            command_id,
            fresh_id,
            correlation_id: correlation_id.unwrap_or(command_id),
            deadline: until,
            reply: tx,
        }));
        match rt.send(&id, msg) {
            Ok((mailbox, seq)) => Ok(Sent {
                mailbox,
                seq,
                wait: tokio::time::timeout_at(until, rx),
                rt,
            }),
            Err(SendError::Full(Msg::Ask(m))) => Err(AskError::MailboxFull(m.command)),
            Err(SendError::Closed(Msg::Ask(_))) => Err(AskError::ShuttingDown),
            Err(_) => unreachable!("an ask message is handed back as sent"),
        }
    }
}

/// A command handed to its actor, waiting for the answer.
struct Sent<A: Aggregate> {
    mailbox: Arc<Mailbox<Msg<A>>>,
    seq: u64,
    wait: tokio::time::Timeout<oneshot::Receiver<Outcome<A>>>,
    /// Kept to tell, when the deadline passes, whether the store is in an outage.
    rt: Arc<TypeRuntime<A>>,
}

/// A command sent to its actor: where, and the runtime it went through.
type Waiting<A> = (Arc<Mailbox<Msg<A>>>, u64, Arc<TypeRuntime<A>>);

pin_project_lite::pin_project! {
    /// The future of an [`Ask`]: hands the command to the actor on its first poll, then
    /// waits for the answer until the deadline.
    #[must_use = "an ask does nothing until it is awaited"]
    pub struct AskFuture<A: Aggregate> {
        ask: Option<Ask<A>>,
        queued: Option<Waiting<A>>,
        #[pin]
        wait: Option<tokio::time::Timeout<oneshot::Receiver<Outcome<A>>>>,
        span: tracing::Span,
    }
}

impl<A: Aggregate> std::fmt::Debug for AskFuture<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AskFuture")
            .field("type", &A::TYPE_NAME)
            .field("sent", &self.queued.is_some())
            .finish_non_exhaustive()
    }
}

impl<A: Aggregate> Future for AskFuture<A> {
    type Output = AskResult<A>;

    fn poll(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<AskResult<A>> {
        use std::task::Poll;
        let mut this = self.project();
        let _entered = (!this.span.is_disabled()).then(|| this.span.enter());
        let polled = match this.ask.take() {
            Some(ask) => match ask.send() {
                Ok(sent) => {
                    this.wait.set(Some(sent.wait));
                    // Get ready for the answer (timer and reply registered) before waking
                    // the actor: on a multi-threaded runtime, an actor woken earlier could
                    // be picked up by another worker while this poll is still running.
                    let polled = {
                        let _wake = WakeOnDrop(&sent.mailbox);
                        this.wait.as_mut().as_pin_mut().map(|w| w.poll(cx))
                    };
                    *this.queued = Some((sent.mailbox, sent.seq, sent.rt));
                    polled
                }
                Err(e) => return Poll::Ready(Err(e)),
            },
            None => this.wait.as_mut().as_pin_mut().map(|w| w.poll(cx)),
        };
        let Some(polled) = polled else {
            panic!("an ask future polled after it completed");
        };
        let outcome = std::task::ready!(polled);
        this.wait.set(None);
        let queued = this.queued.take();
        Poll::Ready(match outcome {
            Ok(Ok(outcome)) => outcome.map_err(rebrand),
            // The actor dropped the request without answering: it stopped abnormally.
            Ok(Err(_)) => Err(AskError::OutcomeUnknown),
            Err(_) => Err(match queued {
                Some((mailbox, seq, rt)) => {
                    let withdrawn = mailbox.withdraw(seq).is_some();
                    deadline_passed(&*rt.shared.store, withdrawn)
                }
                None => AskError::OutcomeUnknown,
            }),
        })
    }
}

/// The error of an ask whose deadline passed: [`AskError::Timeout`] when the command was
/// `withdrawn` unstarted, [`AskError::OutcomeUnknown`] otherwise; but while the store's
/// connection is down, the same two outcomes as [`AskError::Load`] and [`AskError::Store`]
/// with an `Unavailable` error naming the outage, so that the caller sees why.
pub(crate) fn deadline_passed<C>(store: &dyn EventStore, withdrawn: bool) -> AskError<C> {
    let Some(outage) = store.health().describe_outage() else {
        return if withdrawn {
            AskError::Timeout
        } else {
            AskError::OutcomeUnknown
        };
    };
    if withdrawn {
        AskError::Load(aether_core::Error::Unavailable {
            message: format!("{outage}; the deadline passed before the command started"),
            source: None,
        })
    } else {
        AskError::Store(aether_core::Error::Unavailable {
            message: format!("{outage}; the deadline passed while the command was running"),
            source: None,
        })
    }
}

/// Wakes a mailbox's actor when dropped (also if polling panics, so a queued command is
/// never left unnoticed).
struct WakeOnDrop<'a, M>(&'a Mailbox<M>);

impl<M> Drop for WakeOnDrop<'_, M> {
    fn drop(&mut self) {
        self.0.wake();
    }
}

impl<A: Aggregate> IntoFuture for Ask<A> {
    type Output = AskResult<A>;
    type IntoFuture = AskFuture<A>;

    fn into_future(self) -> AskFuture<A> {
        let span = tracing::debug_span!(
            "ask",
            aggregate = A::TYPE_NAME,
            actor = %self.id,
            command_id = tracing::field::Empty,
        );
        if let (false, Some(id)) = (span.is_disabled(), self.command_id) {
            span.record("command_id", tracing::field::display(id));
        }
        AskFuture {
            ask: Some(self),
            queued: None,
            wait: None,
            span,
        }
    }
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
