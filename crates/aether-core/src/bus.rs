//! Event broadcasting: the [`EventBroadcaster`] contract and the in-process [`EventBus`].

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use futures::stream::{BoxStream, StreamExt};
use tokio::sync::broadcast;
use tokio_stream::wrappers::{errors::BroadcastStreamRecvError, BroadcastStream};

use crate::error::Result;
use crate::event::Event;
use crate::id::{ActorId, Namespace};
use crate::{DescribeAggregate, EventKind};

/// What a subscription delivers.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum BusMessage {
    /// A stored event that matches the subscription's filter.
    Event(Arc<Event>),
    /// The subscriber fell behind and `missed` events of its namespace were dropped for it
    /// (some of which may not have matched its filter). Catch up from the store.
    Lagged {
        /// How many events were dropped.
        missed: u64,
    },
}

/// A live subscription: a stream of [`BusMessage`]s that ends when the bus is dropped.
pub type Subscription = BoxStream<'static, BusMessage>;

/// Which events a subscriber wants: by aggregate type, event type and actor. The empty
/// filter matches every event of the namespace; each part named narrows it (an event
/// must match every part that names something, and any one of the values named in it).
///
/// Typed, without strings: [`of`](EventFilter::of) names an aggregate type by its Rust
/// type, and [`kind`](EventFilter::kind) an event type by the `<Enum>Kind` value that
/// `#[derive(EventNames)]` generates. For names read at run time, use the string forms.
///
/// ```
/// use aether_core::{ActorId, DescribeAggregate, EventFilter, EventKind};
/// # struct Account;
/// # impl DescribeAggregate for Account {
/// #     const TYPE_NAME: &'static str = "Account";
/// #     fn command_names() -> &'static [&'static str] { &[] }
/// #     fn event_names() -> &'static [&'static str] { &["Deposited", "Withdrawn"] }
/// # }
/// # #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)] enum AccountEventKind { Deposited, Withdrawn }
/// # impl EventKind for AccountEventKind {
/// #     fn event_type(self) -> &'static str { match self { Self::Deposited => "Deposited", Self::Withdrawn => "Withdrawn" } }
/// # }
/// // Every event of every Account.
/// let accounts = EventFilter::of::<Account>();
/// // Deposits and withdrawals of one account.
/// let movements = EventFilter::of::<Account>()
///     .kinds([AccountEventKind::Deposited, AccountEventKind::Withdrawn])
///     .actor(ActorId::new("acc-1").unwrap());
/// // The same with names read at run time.
/// let dynamic = EventFilter::all()
///     .aggregate_type("Account")
///     .event_type("Deposited")
///     .event_type("Withdrawn")
///     .actor(ActorId::new("acc-1").unwrap());
/// assert_eq!(movements, dynamic);
/// ```
///
/// The parts combine as a product: an event matches when its aggregate type is one of those
/// named (if any), its event type one of those named (if any), and its actor one of those
/// named (if any). A kind names an event type only, so combine kinds with
/// [`of`](EventFilter::of) to keep another aggregate's event of the same name out; to
/// follow chosen events of two aggregate types, subscribe twice.
///
/// Events stored without an aggregate type (appended outside the actor runtime, or in
/// record format 1) match no filter that names aggregate types.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    aggregate_types: Option<HashSet<String>>,
    event_types: Option<HashSet<String>>,
    actors: Option<HashSet<ActorId>>,
}

impl EventFilter {
    /// Every event of the namespace.
    pub fn all() -> Self {
        Self::default()
    }

    /// Every event of the actors of aggregate type `A` (its
    /// [`TYPE_NAME`](DescribeAggregate::TYPE_NAME)).
    pub fn of<A: DescribeAggregate + ?Sized>() -> Self {
        Self::all().aggregate_type(A::TYPE_NAME)
    }

    /// Also accept events of actors of this aggregate type (once any aggregate type is
    /// named, only named types match).
    pub fn aggregate_type(mut self, aggregate_type: impl Into<String>) -> Self {
        self.aggregate_types
            .get_or_insert_with(HashSet::new)
            .insert(aggregate_type.into());
        self
    }

    /// Also accept events of this kind: [`event_type`](EventFilter::event_type) with the
    /// name `kind` stands for.
    pub fn kind(self, kind: impl EventKind) -> Self {
        self.event_type(kind.event_type())
    }

    /// Also accept events of each of these kinds.
    pub fn kinds<K: EventKind>(self, kinds: impl IntoIterator<Item = K>) -> Self {
        kinds.into_iter().fold(self, Self::kind)
    }

    /// Also accept events of this type (once any type is named, only named types match).
    pub fn event_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_types
            .get_or_insert_with(HashSet::new)
            .insert(event_type.into());
        self
    }

    /// Also accept events of this actor (once any actor is named, only named actors match).
    pub fn actor(mut self, actor: ActorId) -> Self {
        self.actors.get_or_insert_with(HashSet::new).insert(actor);
        self
    }

    /// The aggregate types named, if any.
    pub fn aggregate_types(&self) -> Option<&HashSet<String>> {
        self.aggregate_types.as_ref()
    }

    /// The event types named, if any.
    pub fn event_types(&self) -> Option<&HashSet<String>> {
        self.event_types.as_ref()
    }

    /// The actors named, if any.
    pub fn actors(&self) -> Option<&HashSet<ActorId>> {
        self.actors.as_ref()
    }

    /// Whether `event` passes the filter.
    pub fn matches(&self, event: &Event) -> bool {
        self.aggregate_types.as_ref().is_none_or(|t| {
            event
                .aggregate_type
                .as_deref()
                .is_some_and(|a| t.contains(a))
        }) && self
            .event_types
            .as_ref()
            .is_none_or(|t| t.contains(&event.event_type))
            && self
                .actors
                .as_ref()
                .is_none_or(|a| a.contains(&event.actor_id))
    }
}

/// Publishes stored events to subscribers and delivers them per namespace.
///
/// The actor runtime talks only to this trait. [`EventBus`] implements it in process;
/// `NatsEventBus` implements it across nodes. Subscribers of one namespace never receive
/// another namespace's events, whatever their filter. Publishers publish an event only
/// after it is stored.
#[async_trait]
pub trait EventBroadcaster: Send + Sync + 'static {
    /// Publishes one stored event to the namespace's subscribers.
    async fn publish(&self, namespace: &Namespace, event: Arc<Event>) -> Result<()>;

    /// Publishes stored events in order. The default publishes them one by one.
    async fn publish_all(&self, namespace: &Namespace, events: Vec<Arc<Event>>) -> Result<()> {
        for e in events {
            self.publish(namespace, e).await?;
        }
        Ok(())
    }

    /// Subscribes to the namespace's events that match `filter`, from now on.
    async fn subscribe(&self, namespace: &Namespace, filter: EventFilter) -> Result<Subscription>;
}

#[async_trait]
impl<B: EventBroadcaster + ?Sized> EventBroadcaster for Arc<B> {
    async fn publish(&self, namespace: &Namespace, event: Arc<Event>) -> Result<()> {
        (**self).publish(namespace, event).await
    }
    async fn publish_all(&self, namespace: &Namespace, events: Vec<Arc<Event>>) -> Result<()> {
        (**self).publish_all(namespace, events).await
    }
    async fn subscribe(&self, namespace: &Namespace, filter: EventFilter) -> Result<Subscription> {
        (**self).subscribe(namespace, filter).await
    }
}

/// The default number of events buffered per namespace for the slowest subscriber.
pub const DEFAULT_BUS_CAPACITY: usize = 4096;

/// The in-process [`EventBroadcaster`]: one bounded broadcast buffer per namespace.
///
/// Publishing never blocks. A subscriber that falls more than the capacity behind receives
/// [`BusMessage::Lagged`] with the number of events it missed, then continues with the
/// oldest event still buffered; it is never silently skipped ahead. Cloning is cheap and
/// clones share the same buffers.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> aether_core::Result<()> {
/// use aether_core::{EventBus, EventBroadcaster, EventFilter, Namespace};
/// let bus = EventBus::new();
/// let ns = Namespace::new("demo")?;
/// let mut sub = bus.subscribe(&ns, EventFilter::all()).await?;
/// # drop(sub);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<BusInner>,
}

struct BusInner {
    capacity: usize,
    channels: RwLock<HashMap<Namespace, broadcast::Sender<Arc<Event>>>>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBus")
            .field("capacity", &self.inner.capacity)
            .finish_non_exhaustive()
    }
}

impl EventBus {
    /// A bus buffering [`DEFAULT_BUS_CAPACITY`] events per namespace.
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_BUS_CAPACITY)
    }

    /// A bus buffering `capacity` events per namespace (at least 1).
    pub fn with_capacity(capacity: usize) -> Self {
        EventBus {
            inner: Arc::new(BusInner {
                capacity: capacity.max(1),
                channels: RwLock::new(HashMap::new()),
            }),
        }
    }

    fn sender(&self, namespace: &Namespace) -> broadcast::Sender<Arc<Event>> {
        if let Some(tx) = crate::support::read(&self.inner.channels).get(namespace) {
            return tx.clone();
        }
        let mut map = crate::support::write(&self.inner.channels);
        map.entry(namespace.clone())
            .or_insert_with(|| broadcast::channel(self.inner.capacity).0)
            .clone()
    }
}

#[async_trait]
impl EventBroadcaster for EventBus {
    async fn publish(&self, namespace: &Namespace, event: Arc<Event>) -> Result<()> {
        // An error only means nobody is subscribed, which is not a failure.
        let _ = self.sender(namespace).send(event);
        Ok(())
    }

    async fn publish_all(&self, namespace: &Namespace, events: Vec<Arc<Event>>) -> Result<()> {
        let tx = self.sender(namespace);
        for e in events {
            let _ = tx.send(e);
        }
        Ok(())
    }

    async fn subscribe(&self, namespace: &Namespace, filter: EventFilter) -> Result<Subscription> {
        let rx = self.sender(namespace).subscribe();
        let stream = BroadcastStream::new(rx).filter_map(move |item| {
            let out = match item {
                Ok(event) if filter.matches(&event) => Some(BusMessage::Event(event)),
                Ok(_) => None,
                Err(BroadcastStreamRecvError::Lagged(missed)) => {
                    Some(BusMessage::Lagged { missed })
                }
            };
            std::future::ready(out)
        });
        Ok(stream.boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{event::NewEvent, version::Version};

    fn ev(actor: &str, v: Version, ty: &str) -> Arc<Event> {
        Arc::new(Event::from_new(
            ActorId::new(actor).unwrap(),
            v,
            NewEvent::new(ty, vec![1u8]),
            time::OffsetDateTime::now_utc(),
        ))
    }

    /// An event of `actor` stored by an aggregate of type `aggregate` (`None`: untyped).
    fn typed(actor: &str, aggregate: Option<&str>, ty: &str) -> Event {
        let mut new = NewEvent::new(ty, vec![1u8]);
        if let Some(a) = aggregate {
            new = new.with_aggregate_type(a);
        }
        Event::from_new(
            ActorId::new(actor).unwrap(),
            1,
            new,
            time::OffsetDateTime::now_utc(),
        )
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    enum Kind {
        Opened,
        Closed,
    }

    impl EventKind for Kind {
        fn event_type(self) -> &'static str {
            match self {
                Kind::Opened => "Opened",
                Kind::Closed => "Closed",
            }
        }
    }

    struct Account;
    impl DescribeAggregate for Account {
        const TYPE_NAME: &'static str = "Account";
        fn command_names() -> &'static [&'static str] {
            &[]
        }
        fn event_names() -> &'static [&'static str] {
            &["Opened", "Closed"]
        }
    }

    #[test]
    fn typed_filters_match_the_aggregate_type_and_every_other_part_named() {
        let of = EventFilter::of::<Account>();
        assert!(of.matches(&typed("a-1", Some("Account"), "Opened")));
        assert!(
            !of.matches(&typed("c-1", Some("Cart"), "Opened")),
            "another aggregate type"
        );
        assert!(
            !of.matches(&typed("a-1", None, "Opened")),
            "an untyped event"
        );
        let opened = EventFilter::of::<Account>().kind(Kind::Opened);
        assert!(opened.matches(&typed("a-1", Some("Account"), "Opened")));
        assert!(
            !opened.matches(&typed("a-1", Some("Account"), "Closed")),
            "another kind"
        );
        assert!(
            !opened.matches(&typed("c-1", Some("Cart"), "Opened")),
            "same name, other type"
        );
        let one = opened.clone().actor(ActorId::new("a-1").unwrap());
        assert!(one.matches(&typed("a-1", Some("Account"), "Opened")));
        assert!(
            !one.matches(&typed("a-2", Some("Account"), "Opened")),
            "another actor"
        );
        let both = EventFilter::all().kinds([Kind::Opened, Kind::Closed]);
        assert!(
            both.matches(&typed("a-1", None, "Closed")),
            "kinds alone ignore the type"
        );
        let types = EventFilter::all()
            .aggregate_type("Account")
            .aggregate_type("Cart");
        assert!(types.matches(&typed("c-1", Some("Cart"), "Opened")));
        assert!(!types.matches(&typed("o-1", Some("Order"), "Opened")));
        assert_eq!(
            EventFilter::all().kinds(["Opened"]),
            EventFilter::all().event_type("Opened"),
            "a string is a kind of its own name"
        );
    }

    /// Everything `sub` delivers until the bus is gone: events only.
    async fn events_of(sub: Subscription) -> Vec<Arc<Event>> {
        sub.map(|m| match m {
            BusMessage::Event(e) => e,
            other => panic!("unexpected {other:?}"),
        })
        .collect()
        .await
    }

    #[tokio::test]
    async fn namespaces_are_isolated_and_filters_apply() {
        let bus = EventBus::new();
        let a = Namespace::new("a").unwrap();
        let b = Namespace::new("b").unwrap();
        let subscribe = |filter| bus.subscribe(&a, filter);
        let all_a = subscribe(EventFilter::all()).await.unwrap();
        let typed_a = subscribe(EventFilter::all().event_type("T2"))
            .await
            .unwrap();
        // Filters naming actors of namespace b: one only b has, one both have.
        let b_only_actor = subscribe(EventFilter::all().actor(ActorId::new("only-b").unwrap()));
        let b_only_actor = b_only_actor.await.unwrap();
        let shared_actor = subscribe(EventFilter::all().actor(ActorId::new("x").unwrap()));
        let shared_actor = shared_actor.await.unwrap();
        let in_b = [ev("x", 1, "T2"), ev("only-b", 1, "T2"), ev("x", 2, "T1")];
        let in_a = [ev("x", 1, "T1"), ev("x", 2, "T2")];
        bus.publish(&b, in_b[0].clone()).await.unwrap();
        bus.publish(&a, in_a[0].clone()).await.unwrap();
        bus.publish_all(&b, in_b[1..].to_vec()).await.unwrap();
        bus.publish(&a, in_a[1].clone()).await.unwrap();
        drop(bus);
        // Each subscriber gets exactly namespace a's matching events: ids and payloads.
        assert_eq!(events_of(all_a).await, in_a);
        assert_eq!(events_of(typed_a).await, [in_a[1].clone()]);
        let leaked = events_of(b_only_actor).await;
        assert!(
            leaked.is_empty(),
            "namespace b's events reached a: {leaked:?}"
        );
        assert_eq!(events_of(shared_actor).await, in_a);
    }

    #[tokio::test]
    async fn a_lagging_subscriber_is_told_how_many_it_missed() {
        let bus = EventBus::with_capacity(4);
        let ns = Namespace::new("lag").unwrap();
        let mut sub = bus.subscribe(&ns, EventFilter::all()).await.unwrap();
        for v in 1..=10 {
            bus.publish(&ns, ev("x", v, "T")).await.unwrap();
        }
        drop(bus);
        let got: Vec<_> = sub.by_ref().collect().await;
        assert_eq!(got[0], BusMessage::Lagged { missed: 6 });
        let versions: Vec<_> = got[1..]
            .iter()
            .map(|m| match m {
                BusMessage::Event(e) => e.version,
                BusMessage::Lagged { .. } => 0,
            })
            .collect();
        assert_eq!(versions, vec![7, 8, 9, 10]);
    }
}
