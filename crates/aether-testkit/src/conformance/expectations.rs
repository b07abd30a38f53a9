//! Expected versions and atomic appends: a wrong expectation or an invalid batch stores
//! nothing.

use aether_core::{ErrorKind, ExpectedVersion, NewEvent};

use super::{
    actor, assert_conflict, assert_kind, assert_seeded, ev, history, seed, CaseResult, Harness,
    OVERSIZED_EVENT_BYTES,
};

/// `Exact(0)` ("must not exist") on an actor with events is a conflict naming the actual
/// version; nothing is written.
pub async fn exact_zero_on_existing_actor_conflicts(h: Harness) -> CaseResult {
    let store = h.store().await?;
    let a = actor("existing");
    let ids = seed(&*store, &a, 3, 3).await?;
    let r = store
        .append(&a, ExpectedVersion::NO_ACTOR, vec![ev("again")])
        .await;
    assert_conflict(r, &a, ExpectedVersion::Exact(0), 3);
    assert_eq!(store.latest_version(&a).await?, 3);
    assert_seeded(
        &history(&*store, &a).await?,
        1..=3,
        &ids,
        &a,
        "after the conflict",
    );
    Ok(())
}

/// `Exact(v)` with `v > 0` on an actor without events is a conflict with actual 0; the
/// actor stays empty and can still be created with `Exact(0)`.
pub async fn exact_version_on_missing_actor_conflicts(h: Harness) -> CaseResult {
    let store = h.store().await?;
    let a = actor("missing");
    for v in [1, 5] {
        let r = store
            .append(&a, ExpectedVersion::Exact(v), vec![ev("x"), ev("y")])
            .await;
        assert_conflict(r, &a, ExpectedVersion::Exact(v), 0);
        assert_eq!(store.latest_version(&a).await?, 0);
        assert!(history(&*store, &a).await?.is_empty(), "nothing written");
    }
    let done = store
        .append(&a, ExpectedVersion::NO_ACTOR, vec![ev("first")])
        .await?;
    assert_eq!((done.first_version, done.version), (1, 1));
    Ok(())
}

/// Stale and future expectations on an actor at version 5 are conflicts with actual 5 and
/// write nothing; the right one then succeeds.
pub async fn wrong_expected_versions_conflict_and_store_nothing(h: Harness) -> CaseResult {
    let store = h.store().await?;
    let a = actor("at-five");
    let ids = seed(&*store, &a, 5, 2).await?;
    for v in [0, 1, 4, 6, 100] {
        let r = store
            .append(&a, ExpectedVersion::Exact(v), vec![ev("late"), ev("later")])
            .await;
        assert_conflict(r, &a, ExpectedVersion::Exact(v), 5);
    }
    assert_eq!(store.latest_version(&a).await?, 5);
    assert_seeded(
        &history(&*store, &a).await?,
        1..=5,
        &ids,
        &a,
        "after the conflicts",
    );
    let done = store
        .append(&a, ExpectedVersion::Exact(5), vec![ev("six")])
        .await?;
    assert_eq!((done.first_version, done.version), (6, 6));
    Ok(())
}

/// Appends with the right `Exact` expectation report contiguous versions.
pub async fn exact_appends_return_contiguous_versions(h: Harness) -> CaseResult {
    let store = h.store().await?;
    let a = actor("contiguous");
    let mut v = 0;
    for size in [1u64, 3, 2, 1] {
        let events = (0..size).map(|i| ev(&format!("{v}-{i}"))).collect();
        let done = store.append(&a, ExpectedVersion::Exact(v), events).await?;
        assert_eq!(
            (done.first_version, done.version, done.duplicate),
            (v + 1, v + size, false),
            "append of {size} at version {v}"
        );
        v += size;
        assert_eq!(store.latest_version(&a).await?, v);
    }
    let events = history(&*store, &a).await?;
    assert_eq!(
        events.iter().map(|e| e.version).collect::<Vec<_>>(),
        (1..=v).collect::<Vec<_>>()
    );
    Ok(())
}

/// `Any` appends right after the latest version, on a new actor and on an existing one.
pub async fn any_appends_after_the_latest_version(h: Harness) -> CaseResult {
    let store = h.store().await?;
    let a = actor("any");
    let done = store
        .append(&a, ExpectedVersion::Any, vec![ev("1")])
        .await?;
    assert_eq!(
        (done.first_version, done.version, done.duplicate),
        (1, 1, false)
    );
    let done = store
        .append(&a, ExpectedVersion::Exact(1), vec![ev("2"), ev("3")])
        .await?;
    assert_eq!((done.first_version, done.version), (2, 3));
    let done = store
        .append(&a, ExpectedVersion::Any, vec![ev("4"), ev("5")])
        .await?;
    assert_eq!(
        (done.first_version, done.version, done.duplicate),
        (4, 5, false)
    );
    let data: Vec<Vec<u8>> = history(&*store, &a)
        .await?
        .iter()
        .map(|e| e.data.to_vec())
        .collect();
    let want: Vec<Vec<u8>> = ["1", "2", "3", "4", "5"]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
    assert_eq!(data, want);
    Ok(())
}

/// A multi-event append stores all its events or none: a batch with one oversized event,
/// or with a wrong expectation, stores none of its events; a valid 10-event batch stores
/// all ten, contiguous and in order.
pub async fn multi_event_append_is_all_or_none(h: Harness) -> CaseResult {
    let store = h.store().await?;
    let a = actor("atomic");
    let ids = seed(&*store, &a, 2, 2).await?;

    let big = NewEvent::new("Huge", vec![7u8; OVERSIZED_EVENT_BYTES]);
    let batch = vec![ev("ok-1"), ev("ok-2"), big, ev("ok-3")];
    assert_kind(
        store.append(&a, ExpectedVersion::Exact(2), batch).await,
        ErrorKind::InvalidInput,
        "a batch with an oversized event",
    );
    assert_eq!(
        store.latest_version(&a).await?,
        2,
        "none of the batch stored"
    );
    assert_seeded(
        &history(&*store, &a).await?,
        1..=2,
        &ids,
        &a,
        "after the oversized batch",
    );

    let batch: Vec<NewEvent> = (0..5).map(|i| ev(&format!("stale-{i}"))).collect();
    let r = store.append(&a, ExpectedVersion::Exact(1), batch).await;
    assert_conflict(r, &a, ExpectedVersion::Exact(1), 2);
    assert_eq!(
        store.latest_version(&a).await?,
        2,
        "none of the stale batch stored"
    );

    let batch: Vec<NewEvent> = (0..10).map(|i| ev(&format!("all-{i}"))).collect();
    let batch_ids: Vec<_> = batch.iter().map(|e| e.id).collect();
    let done = store.append(&a, ExpectedVersion::Exact(2), batch).await?;
    assert_eq!((done.first_version, done.version), (3, 12));
    let events = history(&*store, &a).await?;
    assert_eq!(events.len(), 12);
    let stored: Vec<_> = events[2..].iter().map(|e| e.id).collect();
    assert_eq!(stored, batch_ids, "all ten stored, in order");
    for (i, e) in events[2..].iter().enumerate() {
        assert_eq!(e.version, 3 + i as u64);
        assert_eq!(&e.data[..], format!("all-{i}").as_bytes());
    }
    Ok(())
}

/// A single event over the store's size limit is `InvalidInput`; nothing is stored and the
/// actor keeps working at the same version.
pub async fn oversized_event_is_rejected_and_the_actor_stays_usable(h: Harness) -> CaseResult {
    let store = h.store().await?;
    let a = actor("oversized");
    let big = NewEvent::new("Huge", vec![1u8; OVERSIZED_EVENT_BYTES]);
    assert_kind(
        store
            .append(&a, ExpectedVersion::NO_ACTOR, vec![big.clone()])
            .await,
        ErrorKind::InvalidInput,
        "an oversized first event",
    );
    assert_eq!(store.latest_version(&a).await?, 0);
    seed(&*store, &a, 3, 3).await?;
    assert_kind(
        store.append(&a, ExpectedVersion::Any, vec![big]).await,
        ErrorKind::InvalidInput,
        "an oversized event with Any",
    );
    assert_eq!(store.latest_version(&a).await?, 3);
    let done = store
        .append(&a, ExpectedVersion::Exact(3), vec![ev("after")])
        .await?;
    assert_eq!(done.version, 4);
    assert_eq!(history(&*store, &a).await?.len(), 4);
    Ok(())
}

/// An append without events is `InvalidInput` and creates nothing.
pub async fn empty_append_is_invalid_input(h: Harness) -> CaseResult {
    let store = h.store().await?;
    let a = actor("empty-append");
    assert_kind(
        store
            .append(&a, ExpectedVersion::NO_ACTOR, Vec::new())
            .await,
        ErrorKind::InvalidInput,
        "an empty append",
    );
    assert_kind(
        store.append(&a, ExpectedVersion::Any, Vec::new()).await,
        ErrorKind::InvalidInput,
        "an empty append with Any",
    );
    assert_eq!(store.latest_version(&a).await?, 0);
    assert!(history(&*store, &a).await?.is_empty());
    Ok(())
}
