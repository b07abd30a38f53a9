//! `append_shared` returns exactly the events a read returns (timestamp included), and
//! `Appended::timestamp` is the time they were stored with; an idempotent retry returns the
//! events stored originally; metadata is kept exactly.

use aether_core::{ActorId, EventStore, ExpectedVersion, Namespace, NewEvent};
use aether_store_mem::InMemoryEventStore;

fn batch(n: usize) -> Vec<NewEvent> {
    (0..n)
        .map(|i| NewEvent::new("Added", vec![i as u8]))
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn append_shared_returns_the_stored_events() -> aether_core::Result<()> {
    let store = InMemoryEventStore::new(Namespace::new("shared")?);
    let acc = ActorId::new("acc-1")?;
    store
        .append(&acc, ExpectedVersion::Exact(0), batch(1))
        .await?;
    let events = batch(3);
    let (appended, shared) = store
        .append_shared(&acc, ExpectedVersion::Exact(1), events.clone())
        .await?;
    assert_eq!((appended.first_version, appended.version), (2, 4));
    assert!(!appended.duplicate);
    let stored = store.read(&acc, 2, 4, 10).await?;
    assert_eq!(shared.len(), 3);
    for ((s, r), n) in shared.iter().zip(&stored).zip(&events) {
        assert_eq!(**s, *r);
        assert!(n.same_content(r));
        assert_eq!(Some(r.timestamp), appended.timestamp);
    }

    // A retry after a lost acknowledgement: the original result and the original events.
    let (again, shared_again) = store
        .append_shared(&acc, ExpectedVersion::Exact(1), events)
        .await?;
    assert!(again.duplicate);
    assert_eq!((again.first_version, again.version), (2, 4));
    assert_eq!(again.timestamp, appended.timestamp);
    let again: Vec<_> = shared_again.iter().map(|e| (**e).clone()).collect();
    assert_eq!(again, stored);
    assert_eq!(store.latest_version(&acc).await?, 4);
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn append_reports_the_stored_timestamp() -> aether_core::Result<()> {
    let store = InMemoryEventStore::new(Namespace::new("shared")?);
    let acc = ActorId::new("acc-2")?;
    let appended = store.append(&acc, ExpectedVersion::Any, batch(2)).await?;
    let stored = store.read(&acc, 1, 2, 10).await?;
    assert!(stored
        .iter()
        .all(|e| Some(e.timestamp) == appended.timestamp));
    Ok(())
}

/// Metadata (correlation, causation and several headers) is kept exactly, also when many
/// events share type and header names; a retry with other headers is refused.
#[tokio::test(flavor = "current_thread")]
async fn metadata_round_trips_and_counts_for_retries() -> aether_core::Result<()> {
    use aether_core::{ErrorKind, Metadata, Uuid};
    let store = InMemoryEventStore::new(Namespace::new("shared")?);
    let acc = ActorId::new("acc-3")?;
    let mut appended = Vec::new();
    for i in 0..100u32 {
        let meta = Metadata::new()
            .correlation_id(Uuid::now_v7())
            .causation_id(Uuid::now_v7())
            .header("b-key", format!("b{i}"))
            .header("a-key", "a")
            .header(format!("own-{i}"), "x");
        let e = NewEvent::new(format!("Type{}", i % 3), vec![i as u8]).with_metadata(meta);
        store
            .append(&acc, ExpectedVersion::Exact(u64::from(i)), vec![e.clone()])
            .await?;
        appended.push(e);
    }
    let read = store.read(&acc, 1, u64::MAX, 1000).await?;
    assert_eq!(read.len(), 100);
    for (n, r) in appended.iter().zip(&read) {
        assert!(n.same_content(r), "{n:?} != {r:?}");
    }
    let mut other = appended[4].clone();
    other
        .metadata
        .headers
        .insert("a-key".into(), "changed".into());
    let err = store
        .append(&acc, ExpectedVersion::Exact(4), vec![other])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let retry = store
        .append(&acc, ExpectedVersion::Exact(4), vec![appended[4].clone()])
        .await?;
    assert!(retry.duplicate);
    assert_eq!(retry.first_version, 5);
    Ok(())
}
