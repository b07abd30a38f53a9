//! An append refused with a version conflict on an actor that has no events leaves nothing
//! behind: bad requests naming ever new actors do not grow the store's memory.

use aether_core::{ActorId, ErrorKind, EventStore, ExpectedVersion, Namespace, NewEvent};
use aether_store_mem::InMemoryEventStore;

aether_testkit::counting_allocator!();

#[tokio::test(flavor = "current_thread")]
async fn conflicts_on_missing_actors_leave_no_trace() -> Result<(), aether_core::BoxError> {
    assert!(aether_testkit::alloc::is_installed());
    let store = InMemoryEventStore::new(Namespace::new("refused")?);
    // Warm up whatever the store allocates once.
    let warm = ActorId::new("warm")?;
    let _ = store
        .append(
            &warm,
            ExpectedVersion::Exact(3),
            vec![NewEvent::new("T", b"x".to_vec())],
        )
        .await;
    let before = aether_testkit::alloc::current_bytes();
    for i in 0..20_000 {
        let a = ActorId::new(format!("ghost-{i}"))?;
        let e = store
            .append(
                &a,
                ExpectedVersion::Exact(3),
                vec![NewEvent::new("T", b"x".to_vec())],
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
        assert_eq!(store.latest_version(&a).await?, 0);
    }
    let grown = aether_testkit::alloc::current_bytes().saturating_sub(before);
    assert!(
        grown < 64 * 1024,
        "20,000 refused appends left {grown} bytes behind"
    );
    Ok(())
}
