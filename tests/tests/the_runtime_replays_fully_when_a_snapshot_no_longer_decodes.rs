//! The actor runtime on the JetStream store and a real nats-server: an actor whose newest
//! snapshot no longer decodes as its state — written by an earlier release whose state had
//! another shape under the same schema version, or garbage saved through the store API —
//! is activated by a full replay of its events, answers as if the snapshot were never
//! there, and the runtime logs a warning naming the actor.
#![cfg(feature = "itest")]

mod common;
mod runtime;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aether::{ActorSystem, Aggregate, DescribeAggregate};
use aether_core::{ActorId, ActorSnapshot, EventStore};
use aether_store_jetstream::async_nats::jetstream;
use aether_store_jetstream::JetStreamEventStore;
use aether_testkit::NatsServer;
use common::{connect, namespace, options};
use runtime::{Tally, TallyCommand, TallyEvent};
use serde::{Deserialize, Serialize};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// The tally of a later release: same type name, events and schema version, but its state
/// is a struct where the earlier release stored a number.
#[derive(Default)]
struct TallyWithCount;

/// What [`TallyWithCount`] keeps: the total and how many numbers made it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Counted {
    total: u64,
    count: u64,
}

impl DescribeAggregate for TallyWithCount {
    const TYPE_NAME: &'static str = Tally::TYPE_NAME;
    fn command_names() -> &'static [&'static str] {
        Tally::command_names()
    }
    fn event_names() -> &'static [&'static str] {
        Tally::event_names()
    }
}

impl Aggregate for TallyWithCount {
    type Command = TallyCommand;
    type Event = TallyEvent;
    type State = Counted;
    type Reply = Counted;
    type Error = ();
    fn decide(
        &self,
        s: &Counted,
        command: &TallyCommand,
    ) -> Result<(Vec<TallyEvent>, Counted), ()> {
        match command {
            TallyCommand::Add(n) => {
                let after = Counted {
                    total: s.total + n,
                    count: s.count + 1,
                };
                Ok((vec![TallyEvent::Added(*n)], after))
            }
            TallyCommand::Total => Ok((Vec::new(), *s)),
        }
    }
    fn apply(s: &mut Counted, TallyEvent::Added(n): &TallyEvent) {
        s.total += n;
        s.count += 1;
    }
}

/// One event a subscriber saw: its level, message and fields.
#[derive(Debug, Clone)]
struct Logged {
    level: tracing::Level,
    text: String,
}

/// Records every event, for the test to find the warning in.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Logged>>>);

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={value:?}", field.name()));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push_str(&format!(" {}={value}", field.name()));
    }
}

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        let logged = Logged {
            level: *event.metadata().level(),
            text: fields.0,
        };
        self.0.lock().unwrap().push(logged);
    }
}

impl Capture {
    /// The warnings that name `actor`.
    fn warnings_about(&self, actor: &ActorId) -> Vec<String> {
        let needle = format!("actor={actor}");
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.level == tracing::Level::WARN && l.text.contains(&needle))
            .map(|l| l.text.clone())
            .collect()
    }
}

fn system(store: impl EventStore) -> ActorSystem {
    ActorSystem::builder()
        .store(store)
        .snapshot_every(5)
        .ask_timeout(Duration::from_secs(10))
        .build()
        .expect("a system")
}

/// Adds 1..=12 to `actor` with the earlier release, which snapshots every 5 events and on
/// passivation; returns the total.
async fn history_with_snapshots(store: &JetStreamEventStore, actor: &ActorId) -> u64 {
    let sys = system(store.clone());
    let tallies = sys.actors::<Tally>();
    let mut total = 0;
    for n in 1..=12 {
        total = tallies
            .ask(actor, TallyCommand::Add(n))
            .await
            .expect("answered")
            .expect("accepted");
    }
    sys.shutdown().await;
    let snapshot = store.load_snapshot(actor, None).await.expect("load");
    assert_eq!(
        snapshot.map(|s| s.version),
        Some(12),
        "{actor}: snapshot on passivation"
    );
    total
}

/// Breaks the newest snapshot of `garbage` (state bytes that are no state, saved through
/// the store) and of `unreadable` (a head that is no snapshot record, published raw on its
/// subject by a program other than Aether).
async fn break_snapshots(store: &JetStreamEventStore, garbage: &ActorId, unreadable: &ActorId) {
    let state = &b"\xc1 not msgpack"[..];
    let junk = ActorSnapshot::new(garbage.clone(), 12, Tally::SNAPSHOT_SCHEMA_VERSION, state);
    store
        .save_snapshot(junk)
        .await
        .expect("save the junk snapshot");
    let subject = format!("aether.sn.{}.{}", store.namespace(), unreadable.to_token());
    let js = jetstream::new(store.client().clone());
    js.publish(subject, "not a snapshot record".into())
        .await
        .expect("publish")
        .await
        .expect("stored");
}

/// Asserts that a warning about `actor`'s snapshot saying `what` was logged.
fn assert_warned(capture: &Capture, actor: &ActorId, what: &str) {
    let warnings = capture.warnings_about(actor);
    assert!(
        warnings
            .iter()
            .any(|w| w.contains(what) && w.contains("snapshot_version=")),
        "{actor}: no warning {what:?} in {warnings:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtime_replays_fully_when_a_snapshot_no_longer_decodes() {
    let capture = Capture::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(capture.clone()))
        .expect("the only subscriber of this test binary");
    let server = NatsServer::start();
    let store = connect(&server.url(), &namespace("rt-snap"), options()).await;
    let reshaped = ActorId::new("tally-reshaped").unwrap();
    let garbage = ActorId::new("tally-garbage").unwrap();
    let unreadable = ActorId::new("tally-unreadable").unwrap();
    let total = history_with_snapshots(&store, &reshaped).await;
    assert_eq!(history_with_snapshots(&store, &garbage).await, total);
    assert_eq!(history_with_snapshots(&store, &unreadable).await, total);
    break_snapshots(&store, &garbage, &unreadable).await;
    assert!(capture.warnings_about(&reshaped).is_empty());

    // The later release reads the number-shaped snapshot: a full replay (all 12 events,
    // once each), then it goes on from there.
    let later = system(store.clone());
    let counted = later.actors::<TallyWithCount>();
    let reply = counted.ask(&reshaped, TallyCommand::Total).await;
    assert_eq!(reply.expect("answered"), Ok(Counted { total, count: 12 }));
    let next = counted.ask(&reshaped, TallyCommand::Add(100)).await;
    let after = Counted {
        total: total + 100,
        count: 13,
    };
    assert_eq!(next.expect("answered"), Ok(after));
    later.shutdown().await;
    assert_warned(
        &capture,
        &reshaped,
        "the snapshot does not decode; replaying all events",
    );

    // The earlier release reads the junk state and the unreadable head: full replays.
    let earlier = system(store.clone());
    let tallies = earlier.actors::<Tally>();
    for actor in [&garbage, &unreadable] {
        let reply = tallies.ask(actor, TallyCommand::Total).await;
        assert_eq!(
            reply.expect("answered"),
            Ok(total),
            "{actor}: a full replay"
        );
    }
    earlier.shutdown().await;
    assert_warned(
        &capture,
        &garbage,
        "the snapshot does not decode; replaying all events",
    );
    let unread = "the newest snapshot cannot be read; replaying all events";
    assert_warned(&capture, &unreadable, unread);

    // The later release's own snapshot (saved at passivation) is read without a warning.
    let warned = capture.warnings_about(&reshaped).len();
    let again = system(store.clone());
    let reply = again
        .actors::<TallyWithCount>()
        .ask(&reshaped, TallyCommand::Total)
        .await;
    assert_eq!(reply.expect("answered"), Ok(after));
    assert_eq!(
        capture.warnings_about(&reshaped).len(),
        warned,
        "the new snapshot decodes"
    );
    again.shutdown().await;
}
