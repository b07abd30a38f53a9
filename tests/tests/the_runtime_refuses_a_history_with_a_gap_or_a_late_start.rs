//! The actor runtime on the JetStream store and a real nats-server, facing an actor whose
//! stored history is broken: records published raw on its subject (here: records the
//! store wrote in another namespace, copied with some left out) so that its versions have
//! a gap (1, 2, 4), begin at 3, repeat a version (1, 2, 2), or gain a gap while the actor
//! is active. Every ask to it is a `Codec` error naming the actor and the versions — never
//! a panic, never an answer from a wrong state — again on every retry, and nothing is
//! appended to the broken history.
#![cfg(feature = "itest")]

mod common;
mod runtime;

use std::time::Duration;

use aether::{Actors, AskErrorKind};
use aether_core::{ActorId, EventStore, Namespace};
use aether_store_jetstream::async_nats::jetstream;
use aether_store_jetstream::JetStreamEventStore;
use aether_testkit::NatsServer;
use common::{connect, namespace, options};
use runtime::{system, Tally, TallyCommand};

/// The stored record of each version 1..=4 of one actor, as payloads.
struct Records(Vec<Vec<u8>>);

impl Records {
    /// Writes `Add(1)` .. `Add(4)` to `actor` through the runtime on `store` (one
    /// record each), and reads the four records back raw.
    async fn written(store: &JetStreamEventStore, actor: &ActorId) -> Records {
        let sys = system(store.clone(), Duration::from_secs(10));
        let tallies = sys.actors::<Tally>();
        for n in 1..=4 {
            let reply = tallies.ask(actor, TallyCommand::Add(n)).await;
            assert!(matches!(reply, Ok(Ok(_))), "{actor}: {reply:?}");
        }
        sys.shutdown().await;
        let js = jetstream::new(store.client().clone());
        let stream = js.get_stream(store.events_stream()).await.expect("stream");
        let subject = subject(store.namespace(), actor);
        let mut records = Vec::new();
        let mut seq = 1;
        while records.len() < 4 {
            let m = stream
                .raw_message_builder()
                .sequence(seq)
                .next_by_subject(subject.clone())
                .send()
                .await
                .expect("a stored record");
            records.push(m.payload.to_vec());
            seq = m.sequence + 1;
        }
        Records(records)
    }

    /// Publishes the records of `versions`, in that order, on `actor`'s subject of
    /// `store`'s namespace, as a program other than Aether might.
    async fn publish(&self, store: &JetStreamEventStore, actor: &ActorId, versions: &[usize]) {
        let js = jetstream::new(store.client().clone());
        for v in versions {
            js.publish(
                subject(store.namespace(), actor),
                self.0[v - 1].clone().into(),
            )
            .await
            .expect("publish")
            .await
            .expect("stored");
        }
    }
}

/// `aether.ev.<ns>.<actor-token>`, as `docs/jetstream.md` lays it out.
fn subject(ns: &Namespace, actor: &ActorId) -> String {
    format!("aether.ev.{ns}.{}", actor.to_token())
}

/// How many messages the event stream of `store` holds.
async fn messages(store: &JetStreamEventStore) -> u64 {
    let js = jetstream::new(store.client().clone());
    let mut stream = js.get_stream(store.events_stream()).await.expect("stream");
    stream.info().await.expect("info").state.messages
}

/// Asks `actor` to add, twice: both asks must fail alike with an error that is not
/// retryable and says the command did not run, naming the actor and saying `what`.
async fn assert_refused(tallies: &Actors<Tally>, actor: &ActorId, what: &str) {
    for attempt in 0..2 {
        let err = tallies
            .ask(actor, TallyCommand::Add(1_000))
            .await
            .expect_err("a broken history cannot be asked");
        let message = format!("{err}");
        eprintln!("{actor}: {} error: {message}", err.kind());
        // The store checks every read for a history that does not continue: a `Codec`
        // error (the stored bytes are not a valid history), which no retry fixes.
        assert_eq!(
            err.kind(),
            AskErrorKind::Codec,
            "{actor}, attempt {attempt}: {message}"
        );
        assert!(!err.may_have_run(), "{actor}: {message}");
        assert!(
            !err.is_retryable(),
            "{actor}: retrying cannot mend a history: {message}"
        );
        let named = format!("history of {actor} {what}");
        assert!(message.contains(&named), "{named:?} not in {message}");
    }
    // Nor does a query answer from a state built on the broken history.
    let total = tallies.ask(actor, TallyCommand::Total).await;
    assert!(
        total.is_err(),
        "{actor}: answered {total:?} from a broken history"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtime_refuses_a_history_with_a_gap_or_a_late_start() {
    let server = NatsServer::start();
    let source = connect(&server.url(), &namespace("rt-src"), options()).await;
    let broken = connect(&server.url(), &namespace("rt-gap"), options()).await;
    let gap = ActorId::new("tally-gap").unwrap();
    let late = ActorId::new("tally-late").unwrap();
    let twice = ActorId::new("tally-twice").unwrap();
    let torn = ActorId::new("tally-torn").unwrap();
    for (actor, versions) in [
        (&gap, &[1, 2, 4][..]),
        (&late, &[3, 4]),
        (&twice, &[1, 2, 2]),
    ] {
        let records = Records::written(&source, actor).await;
        records.publish(&broken, actor, versions).await;
    }
    let torn_records = Records::written(&source, &torn).await;
    torn_records.publish(&broken, &torn, &[1, 2]).await;

    let sys = system(broken.clone(), Duration::from_secs(10));
    let tallies = sys.actors::<Tally>();
    // The torn actor is active, at version 2, when version 4 appears behind its back.
    let total = tallies.ask(&torn, TallyCommand::Total).await;
    assert_eq!(total.expect("answered"), Ok(3), "{torn}: 1 + 2");
    torn_records.publish(&broken, &torn, &[4]).await;
    let stored = messages(&broken).await;

    assert_refused(&tallies, &gap, "jumps from version 2 to 4").await;
    assert_refused(&tallies, &late, "starts at version 3, not 1").await;
    assert_refused(&tallies, &twice, "repeats version 2 after version 2").await;
    assert_refused(&tallies, &torn, "jumps from version 2 to 4").await;
    assert_eq!(
        messages(&broken).await,
        stored,
        "nothing appended to a broken history"
    );
    sys.shutdown().await;
}
