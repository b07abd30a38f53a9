//! [`ActorSystem`] and the typed [`Actors`] handle, with what every actor of a system
//! shares ([`Shared`]). The rest of the runtime lives beside them, one concept per file:
//! - `builder`: [`ActorSystemBuilder`] and the settings;
//! - `registry`: the runtime of one aggregate type, its registry of active actors and the
//!   idle sweeper;
//! - `ask`: the [`Ask`] request, its future and its deadline;
//! - `stats`: the runtime's counters and [`ActorStats`].

mod ask;
mod builder;
mod registry;
mod stats;

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aether_core::support::lock;
use aether_core::{
    ActorId, Error, EventBroadcaster, EventFilter, EventStore, Namespace, Subscription,
};
use tokio::sync::{oneshot, Notify};

use crate::actor::Msg;
use crate::aggregate::Aggregate;

pub(crate) use ask::deadline_passed;
pub use ask::{Ask, AskFuture, AskResult};
pub use builder::ActorSystemBuilder;
pub(crate) use builder::Config;
pub(crate) use registry::TypeRuntime;
pub use stats::ActorStats;
pub(crate) use stats::Counters;

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

impl Shared {
    fn new(
        store: Arc<dyn EventStore>,
        bus: Arc<dyn EventBroadcaster>,
        namespace: Namespace,
        config: Config,
    ) -> Self {
        Shared {
            store,
            bus,
            namespace,
            config,
            shutting_down: AtomicBool::new(false),
            live: AtomicUsize::new(0),
            all_stopped: Notify::new(),
            stats: Counters::default(),
        }
    }

    /// Broadcasts the events `actor` just stored. A failure is logged, not returned: the
    /// events are stored, and subscribers catch up from the store.
    pub(crate) async fn broadcast(&self, actor: &ActorId, stored: Vec<Arc<aether_core::Event>>) {
        if let Err(e) = self.bus.publish_all(&self.namespace, stored).await {
            let error = crate::actor::traced(&e);
            tracing::warn!(actor = %actor, error, "broadcasting stored events failed");
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

/// The runtime of one aggregate type, its type erased for the system's registry of types.
trait AnyRuntime: Send + Sync {
    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
    fn passivate_all(&self) -> Vec<oneshot::Receiver<()>>;
}

/// What the clones of one [`ActorSystem`] share.
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

    /// The system over `shared`, with no aggregate type registered yet.
    fn new(shared: Shared) -> Self {
        ActorSystem {
            inner: Arc::new(SystemInner {
                shared: Arc::new(shared),
                types: Mutex::new(HashMap::new()),
            }),
        }
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

    /// Stops the system gracefully: new asks get
    /// [`AskError::ShuttingDown`](crate::AskError::ShuttingDown), every active actor
    /// finishes the commands already in its mailbox, snapshots and stops. Returns when all
    /// actors have stopped.
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
        self.inner.shared.stats.read()
    }

    /// How many actors are active (in memory), over all aggregate types.
    pub fn active_actors(&self) -> usize {
        self.inner.shared.live.load(Ordering::SeqCst)
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
        Ask::new(self.rt.clone(), id, command)
    }

    /// Whether actor `id` is active (in memory) in this system.
    pub fn is_active(&self, id: &ActorId) -> bool {
        self.rt.mailbox(id).is_some()
    }

    /// How many actors of this type are active.
    pub fn active_count(&self) -> usize {
        self.rt.active_count()
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
