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
    ActorId, Error, EventBroadcaster, EventFilter, EventStore, Namespace, Subscription, Uuid,
};
use tokio::sync::{oneshot, Notify};

use crate::actor::Msg;
use crate::aggregate::Aggregate;
use crate::error::AskError;

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

impl SystemInner {
    /// The synchronous half of a shutdown: no new command is accepted, and every active
    /// actor is asked to finish what it has queued, snapshot and stop. The receivers
    /// answer as each one stops.
    fn begin_shutdown(&self) -> Vec<oneshot::Receiver<()>> {
        self.shared.shutting_down.store(true, Ordering::SeqCst);
        let runtimes: Vec<_> = lock(&self.types).values().cloned().collect();
        runtimes.iter().flat_map(|rt| rt.passivate_all()).collect()
    }
}

/// Held by every [`ActorSystem`] and [`Actors`] handle: when the last one is dropped
/// without [`shutdown`](ActorSystem::shutdown), the actors finish their queued commands,
/// snapshot and stop on their own.
struct Handles {
    inner: Arc<SystemInner>,
}

impl Drop for Handles {
    fn drop(&mut self) {
        if !self.inner.shared.shutting_down.load(Ordering::SeqCst) {
            tracing::debug!(namespace = %self.inner.shared.namespace, "the last handle of an actor system was dropped; stopping its actors");
            drop(self.inner.begin_shutdown());
        }
    }
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
/// # #[derive(serde::Serialize, serde::Deserialize)] struct Added(u64);
/// # impl aether_core::EventNames for Added { const EVENT_NAMES: &'static [&'static str] = &["Added"]; fn event_type(&self) -> &'static str { "Added" } }
/// # impl Aggregate for Counter {
/// #     type Command = u64; type Event = Added; type State = u64; type Reply = u64; type Error = ();
/// #     fn decide(&self, s: &u64, n: &u64) -> Result<(Vec<Added>, u64), ()> { Ok((vec![Added(*n)], s + n)) }
/// #     fn apply(s: &mut u64, Added(n): &Added) { *s += n }
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
///
/// Call [`shutdown`](ActorSystem::shutdown) to stop it and wait until its actors have
/// stopped. When the last `ActorSystem` and [`Actors`] handles are dropped without it, the
/// actors still finish their queued commands, snapshot and stop, in the background (the
/// Tokio runtime must keep running for that). Every live handle keeps the system running:
/// one held by a spawned task (a policy loop), and one held by the system's own actors
/// (an aggregate holding an `Actors` of another type), which is never dropped while the
/// system holds that aggregate: such a system stops on `shutdown` only. An [`Ask`] not yet
/// awaited holds no handle: awaited after the last handle is gone, it is
/// [`AskError::ShuttingDown`].
#[derive(Clone)]
pub struct ActorSystem {
    inner: Arc<SystemInner>,
    handle: Arc<Handles>,
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
        let inner = Arc::new(SystemInner {
            shared: Arc::new(shared),
            types: Mutex::new(HashMap::new()),
        });
        ActorSystem {
            handle: Arc::new(Handles {
                inner: inner.clone(),
            }),
            inner,
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
    /// returned the first time; it is cheap to clone), or when its description is unusable:
    /// an empty type name, or a command or event name that is empty, too long, has control
    /// characters or appears twice. (Through [`actors`](ActorSystem::actors), such a type's
    /// asks fail with [`AskError::Invalid`].)
    pub fn register<A: Aggregate>(&self, aggregate: A) -> Result<Actors<A>, Error> {
        if let Some(why) = registry::description_problem::<A>() {
            return Err(Error::invalid("aggregate", why));
        }
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
        Ok(Actors {
            rt,
            handle: self.handle.clone(),
        })
    }

    /// The handle to the actors of `A`, registering `A::default()` on first use. If `A`'s
    /// description is unusable (see [`register`](ActorSystem::register)), its asks fail with
    /// [`AskError::Invalid`] saying why.
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
        Actors {
            rt,
            handle: self.handle.clone(),
        }
    }

    /// Stops the system gracefully: new asks get
    /// [`AskError::ShuttingDown`](crate::AskError::ShuttingDown), every active actor
    /// finishes the commands already in its mailbox, snapshots and stops. Returns when all
    /// actors have stopped.
    pub async fn shutdown(&self) {
        let shared = &self.inner.shared;
        let acks = self.inner.begin_shutdown();
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
    handle: Arc<Handles>,
}

impl<A: Aggregate> Clone for Actors<A> {
    fn clone(&self) -> Self {
        Actors {
            rt: self.rt.clone(),
            handle: self.handle.clone(),
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

    /// Queues `command` for actor `id` and returns at once, with the command id it was
    /// queued under; nobody waits for its answer. A told command that later fails or is
    /// rejected is logged at WARN and counted in [`ActorStats`] (`told_failed`,
    /// `told_rejected`); like an ask, it is not started once the system's
    /// [`ask_timeout`](crate::ActorSystemBuilder::ask_timeout) has passed since it was
    /// queued (counted as failed). Asking with the returned id answers the command's
    /// stored outcome without running it again, once it has stored events; a told command
    /// that stored nothing (rejected, or never started) runs when asked. For a chosen
    /// command id, headers or a deadline, build an ask and [`tell`](Ask::tell) it:
    /// `actors.ask(&id, command).command_id(c).tell()`.
    ///
    /// ```
    /// # use aether_actor::{ActorSystem, Aggregate};
    /// # use aether_core::{ActorId, CommandNames, DescribeAggregate, EventNames, Namespace};
    /// # #[derive(Default)] struct Counter;
    /// # #[derive(Debug, serde::Serialize, serde::Deserialize)] struct Add(u64);
    /// # impl CommandNames for Add { const COMMAND_NAMES: &'static [&'static str] = &["Add"]; fn command_name(&self) -> &'static str { "Add" } }
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Added(u64);
    /// # impl EventNames for Added { const EVENT_NAMES: &'static [&'static str] = &["Added"]; fn event_type(&self) -> &'static str { "Added" } }
    /// # impl DescribeAggregate for Counter {
    /// #     const TYPE_NAME: &'static str = "Counter";
    /// #     fn command_names() -> &'static [&'static str] { &["Add"] }
    /// #     fn event_names() -> &'static [&'static str] { &["Added"] }
    /// # }
    /// # impl Aggregate for Counter {
    /// #     type Command = Add; type Event = Added; type State = u64; type Reply = u64; type Error = String;
    /// #     fn decide(&self, s: &u64, Add(n): &Add) -> Result<(Vec<Added>, u64), String> { Ok((vec![Added(*n)], s + n)) }
    /// #     fn apply(s: &mut u64, Added(n): &Added) { *s += n }
    /// # }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> anyhow::Result<()> {
    /// # let store = aether_store_mem::InMemoryEventStore::new(Namespace::new("demo")?);
    /// # let system = ActorSystem::builder().store(store).build()?;
    /// let counters = system.actors::<Counter>();
    /// let id = ActorId::new("counter-1")?;
    /// let command_id = counters.tell(&id, Add(2))?;
    /// // The same id asked again: answered from the store, not run twice.
    /// assert_eq!(counters.ask(&id, Add(2)).command_id(command_id).await?, Ok(2));
    /// # system.shutdown().await;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// At once: [`AskError::MailboxFull`](crate::AskError::MailboxFull) with the command,
    /// or [`AskError::ShuttingDown`](crate::AskError::ShuttingDown).
    ///
    /// # Panics
    /// Outside a Tokio runtime when the actor has to be activated, as `tokio::spawn` does.
    pub fn tell(&self, id: &ActorId, command: A::Command) -> Result<Uuid, AskError<A::Command>> {
        Ask::new(self.rt.clone(), id, command).tell()
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
