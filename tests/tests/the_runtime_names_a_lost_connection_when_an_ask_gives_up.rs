//! While the NATS connection is down, an ask whose deadline passes says so: its error is
//! `Load` (not run) or `Store` (may have run) with an `Unavailable` cause naming the lost
//! connection and how long ago, not a bare timeout; the system's health shows the outage;
//! once the server is back, a retry with the same command id answers and the command is
//! stored once.
#![cfg(feature = "itest")]

mod common;
mod runtime;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aether::EventStoreExt;
use aether::{AskError, AskErrorKind, ErrorKind};
use aether_testkit::NatsServer;
use common::{chain, connect, namespace};
use runtime::{ask_until_answered, system, tally, Tally, TallyCommand};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtime_names_a_lost_connection_when_an_ask_gives_up() {
    let server = Arc::new(NatsServer::start());
    let ns = namespace("rt-lost");
    // The store keeps retrying well past the asks' deadline.
    let options = common::options().retry_deadline(Duration::from_secs(30));
    let store = connect(&server.url(), &ns, options).await;
    let sys = system(store.clone(), Duration::from_secs(1));
    let tallies = sys.actors::<Tally>();
    let busy = tally(0);
    let idle = tally(1);
    tallies
        .ask(&busy, TallyCommand::Add(1))
        .await
        .expect("answered")
        .expect("accepted");
    assert!(sys.health().connected);

    server.kill();
    let seen = Instant::now();
    while sys.health().connected {
        assert!(
            seen.elapsed() < Duration::from_secs(3),
            "the outage not seen"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let id = aether::new_id();
    // An active actor: its append waits for the server. A new one: its activation does.
    for actor in [&busy, &idle] {
        let err = tallies
            .ask(actor, TallyCommand::Add(10))
            .command_id(id)
            .await
            .expect_err("no server: no answer");
        let cause = match &err {
            AskError::Store(e) | AskError::Load(e) => e,
            other => panic!("{actor}: a bare {other:?} instead of the outage"),
        };
        assert_eq!(cause.kind(), ErrorKind::Unavailable, "{err}");
        // The runtime's message, then its cause's: the chain names the outage.
        let msg = chain(&err);
        assert!(
            msg.contains("NATS connection lost") && msg.contains(" s ago"),
            "{msg}"
        );
        assert_eq!(
            err.may_have_run(),
            err.kind() == AskErrorKind::Store,
            "{actor}: {err}"
        );
    }
    let health = sys.health();
    assert!(!health.connected && health.disconnects == 1, "{health}");
    assert!(health.describe_outage().is_some());

    server.restart();
    for (actor, total) in [(&busy, 11), (&idle, 10)] {
        let (reply, _) = ask_until_answered(&tallies, actor, 10, id, Duration::from_secs(30)).await;
        assert_eq!(reply, total, "{actor}");
        let events = store.read_all(actor).await.expect("read back");
        let caused = events
            .iter()
            .filter(|e| e.metadata.causation_id == Some(id))
            .count();
        assert_eq!(caused, 1, "{actor}: the command stored once");
    }
    sys.shutdown().await;
}
