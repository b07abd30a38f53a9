//! An event larger than the server's max payload, or an append of small events that are
//! over it together, is refused as invalid input with a clear error; nothing of the append
//! is stored, the stream and the actor's history stay intact, and appends go on.
#![cfg(feature = "itest")]

mod common;

use aether_core::{ErrorKind, EventStore, EventStoreExt, ExpectedVersion, NewEvent};
use aether_store_jetstream::async_nats::jetstream;
use aether_testkit::NatsServer;
use common::{actor, batch, connect, namespace, options};

const MAX_PAYLOAD: u32 = 64 * 1024;

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
    let js = jetstream::new(store.client().clone());
    let messages = |js: jetstream::Context, name: String| async move {
        js.get_stream(&name)
            .await
            .expect("stream")
            .cached_info()
            .state
            .messages
    };
    let before = messages(js.clone(), store.events_stream().to_owned()).await;

    // One event over the limit.
    let big = NewEvent::new("Huge", vec![7u8; 100 * 1024]);
    let err = store
        .append(&id, ExpectedVersion::Exact(10), vec![big])
        .await
        .expect_err("oversized event");
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let text = err.to_string();
    let limit = store.max_append_bytes().to_string();
    assert!(
        text.contains("Huge") && text.contains(&limit),
        "the error should name the event and the limit ({limit} bytes): {text}"
    );

    // Many events, each small, together over the limit: one append is one message, so it
    // is refused whole, naming the count, the size and the limit.
    let many: Vec<NewEvent> = (0..10)
        .map(|i| NewEvent::new("Chunk", vec![i as u8; 10 * 1024]))
        .collect();
    let err = store
        .append(&id, ExpectedVersion::Exact(10), many)
        .await
        .expect_err("ten events of 10 KiB are over a 64 KiB max payload together");
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("10 events") && text.contains(&limit),
        "the error should give the count and the limit ({limit} bytes): {text}"
    );

    // The history is intact: the first 10 events and nothing of the refused appends.
    let history = store.read_all(&id).await.expect("read");
    assert_eq!(history.len(), 10);
    let fresh = connect(&server.url(), &ns, options()).await;
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
    let after = messages(js.clone(), store.events_stream().to_owned()).await;
    assert_eq!(after, before, "the refused appends stored nothing");

    // Appends go on.
    let v = 10;
    let a = store
        .append(
            &id,
            ExpectedVersion::Exact(v),
            vec![NewEvent::new("Small", b"ok".to_vec())],
        )
        .await
        .expect("append after the refusal");
    assert_eq!(a.version, v + 1);
    assert_eq!(fresh.latest_version(&id).await.expect("latest"), v + 1);
}
