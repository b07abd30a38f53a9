//! An event larger than the server's max payload, or an append of small events that are
//! over it together, is refused as invalid input with a clear error; nothing of the append
//! is stored, the stream and the actor's history stay intact, and appends go on, one just
//! under the limit stored as one message.
#![cfg(feature = "itest")]

mod common;

use aether_core::{ErrorKind, EventStore, EventStoreExt, ExpectedVersion, NewEvent};
use aether_store_jetstream::async_nats::jetstream;
use aether_store_jetstream::JetStreamEventStore;
use aether_testkit::NatsServer;
use common::{actor, batch, connect, namespace, options};

const MAX_PAYLOAD: u32 = 64 * 1024;

/// The events stored before the refusals: five appends of two.
const STORED: u64 = 10;

/// How many messages the event stream of `store` holds.
async fn messages(store: &JetStreamEventStore) -> u64 {
    let js = jetstream::new(store.client().clone());
    js.get_stream(store.events_stream())
        .await
        .expect("stream")
        .cached_info()
        .state
        .messages
}

/// An append of `events` over the limit: refused as invalid input, with a message that
/// says `names` (what is too large) and gives the limit.
async fn assert_refused_over_the_limit(
    store: &JetStreamEventStore,
    events: Vec<NewEvent>,
    names: &str,
) {
    let err = store
        .append(&actor(0), ExpectedVersion::Exact(STORED), events)
        .await
        .expect_err("an append over the max payload");
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let text = err.to_string();
    let limit = store.max_append_bytes().to_string();
    assert!(
        text.contains(names) && text.contains(&limit),
        "the error should say {names:?} and the limit ({limit} bytes): {text}"
    );
}

/// The history is intact: the first [`STORED`] events and nothing of the refused appends,
/// on `store` and on `fresh`.
async fn assert_history_intact(store: &JetStreamEventStore, fresh: &JetStreamEventStore) {
    let id = actor(0);
    assert_eq!(store.latest_version(&id).await.expect("latest"), STORED);
    let history = store.read_all(&id).await.expect("read");
    assert_eq!(history.len() as u64, STORED);
    let reread = fresh
        .read_all(&id)
        .await
        .expect("read on a fresh connection");
    assert_eq!(reread, history);
    let first: Vec<NewEvent> = (0..5).flat_map(|r| batch(0, r, 2)).collect();
    for (i, (e, n)) in history.iter().zip(&first).enumerate() {
        assert_eq!(e.version, i as u64 + 1);
        assert!(n.same_content(e), "version {} changed", e.version);
    }
}

/// Appends go on after the refusals: a small one, then one just under the limit, which is
/// stored as one message.
async fn assert_appends_go_on(store: &JetStreamEventStore, fresh: &JetStreamEventStore) {
    let id = actor(0);
    let before = messages(store).await;
    let v = STORED;
    let small = vec![NewEvent::new("Small", b"ok".to_vec())];
    let a = store
        .append(&id, ExpectedVersion::Exact(v), small)
        .await
        .expect("append after the refusal");
    assert_eq!(a.version, v + 1);
    assert_eq!(fresh.latest_version(&id).await.expect("latest"), v + 1);
    let fits: Vec<NewEvent> = (0..5)
        .map(|_| NewEvent::new("Big", vec![7u8; 10 * 1024]))
        .collect();
    let a = store
        .append(&id, ExpectedVersion::Exact(v + 1), fits)
        .await
        .expect("five events of 10 KiB fit a 64 KiB max payload");
    assert_eq!(a.version, v + 6);
    assert_eq!(fresh.latest_version(&id).await.expect("latest"), v + 6);
    assert_eq!(messages(store).await, before + 2, "one message per append");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_event_is_refused_and_stream_stays_intact() {
    let server = NatsServer::builder().max_payload(MAX_PAYLOAD).start();
    let ns = namespace("big");
    let store = connect(&server.url(), &ns, options()).await;
    assert!(store.max_append_bytes() < MAX_PAYLOAD as usize);
    let id = actor(0);
    for r in 0..5 {
        store
            .append(&id, ExpectedVersion::Exact(r as u64 * 2), batch(0, r, 2))
            .await
            .expect("small append");
    }
    let before = messages(&store).await;

    // One event over the limit: the error names it.
    let big = NewEvent::new("Huge", vec![7u8; 100 * 1024]);
    assert_refused_over_the_limit(&store, vec![big], "Huge").await;
    // Ten events of 10 KiB, each small, together over a 64 KiB max payload: one append is
    // one message, so it is refused whole, the error giving the count.
    let many: Vec<NewEvent> = (0..10)
        .map(|i| NewEvent::new("Chunk", vec![i as u8; 10 * 1024]))
        .collect();
    assert_refused_over_the_limit(&store, many, "10 events").await;

    let fresh = connect(&server.url(), &ns, options()).await;
    assert_history_intact(&store, &fresh).await;
    assert_eq!(
        messages(&store).await,
        before,
        "the refused appends stored nothing"
    );
    assert_appends_go_on(&store, &fresh).await;
}
