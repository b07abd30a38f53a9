//! [`ActorSystemBuilder`]: the one way to make an [`ActorSystem`], and the runtime's
//! settings ([`Config`]) with their defaults.

use std::sync::Arc;
use std::time::Duration;

use aether_core::{Error, EventBroadcaster, EventBus, EventStore, Namespace};

use super::{ActorSystem, Shared};

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
    /// [`Actors::passivate`](crate::Actors::passivate)).
    ///
    /// ```
    /// let b = aether_actor::ActorSystem::builder().never_passivate();
    /// ```
    pub fn never_passivate(mut self) -> Self {
        self.config.passivate_after = None;
        self
    }

    /// How many commands may wait in one actor's mailbox (default 256, at least 1). A full
    /// mailbox answers [`AskError::MailboxFull`](crate::AskError::MailboxFull) with the command.
    ///
    /// ```
    /// let b = aether_actor::ActorSystem::builder().mailbox_capacity(16);
    /// ```
    pub fn mailbox_capacity(mut self, n: usize) -> Self {
        self.config.mailbox_capacity = n.max(1);
        self
    }

    /// How many times a command is decided again after a version conflict before
    /// [`AskError::Conflict`](crate::AskError::Conflict) (default 3).
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
        let shared = Shared::new(store, bus, namespace, self.config);
        Ok(ActorSystem::new(shared))
    }
}
