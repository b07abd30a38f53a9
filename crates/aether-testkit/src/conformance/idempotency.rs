//! Idempotent retries: the same event ids are stored once; the same ids with other content
//! are refused.

use aether_core::{ErrorKind, Event, ExpectedVersion, Metadata, NewEvent};

use super::{actor, assert_kind, ev, history, CaseResult, Harness};

fn ids(events: &[Event]) -> Vec<uuid::Uuid> {
    events.iter().map(|e| e.id).collect()
}

/// Re-sending an `Exact` append (a retry after a lost acknowledgement) returns the
/// original versions with `duplicate` set and stores nothing more.
pub async fn exact_retry_returns_original_result(h: Harness) -> CaseResult {
    let store = h.store().await?;
    let a = actor("retry");
    let batch = vec![ev("a"), ev("b")];
    let first = store
        .append(&a, ExpectedVersion::Exact(0), batch.clone())
        .await?;
    assert_eq!(
        (first.first_version, first.version, first.duplicate),
        (1, 2, false)
    );
    for attempt in 0..2 {
        let again = store
            .append(&a, ExpectedVersion::Exact(0), batch.clone())
            .await?;
        assert_eq!(
            (again.first_version, again.version, again.duplicate),
            (1, 2, true),
            "retry {attempt}"
        );
    }
    // Through a second handle too (a retry may come over a new connection).
    let other = h.store().await?;
    let again = other
        .append(&a, ExpectedVersion::Exact(0), batch.clone())
        .await?;
    assert_eq!(
        (again.first_version, again.version, again.duplicate),
        (1, 2, true)
    );
    assert_eq!(store.latest_version(&a).await?, 2, "stored once");
    let events = history(&*store, &a).await?;
    assert_eq!(ids(&events), batch.iter().map(|e| e.id).collect::<Vec<_>>());
    Ok(())
}

/// An `Exact` retry is recognised also after later appends, for any earlier append.
pub async fn exact_retry_after_later_appends_returns_original(h: Harness) -> CaseResult {
    let store = h.store().await?;
    let a = actor("retry-later");
    let one = vec![ev("a")];
    let two = vec![ev("b"), ev("c")];
    let three = vec![ev("d")];
    store
        .append(&a, ExpectedVersion::Exact(0), one.clone())
        .await?;
    store
        .append(&a, ExpectedVersion::Exact(1), two.clone())
        .await?;
    store
        .append(&a, ExpectedVersion::Exact(3), three.clone())
        .await?;
    for _ in 0..3 {
        store
            .append(&a, ExpectedVersion::Any, vec![ev("filler")])
            .await?;
    }
    let again = store
        .append(&a, ExpectedVersion::Exact(1), two.clone())
        .await?;
    assert_eq!(
        (again.first_version, again.version, again.duplicate),
        (2, 3, true)
    );
    let again = store
        .append(&a, ExpectedVersion::Exact(0), one.clone())
        .await?;
    assert_eq!(
        (again.first_version, again.version, again.duplicate),
        (1, 1, true)
    );
    let again = store
        .append(&a, ExpectedVersion::Exact(3), three.clone())
        .await?;
    assert_eq!(
        (again.first_version, again.version, again.duplicate),
        (4, 4, true)
    );
    assert_eq!(store.latest_version(&a).await?, 7, "nothing stored twice");
    let events = history(&*store, &a).await?;
    let want: Vec<_> = one.iter().chain(&two).chain(&three).map(|e| e.id).collect();
    assert_eq!(ids(&events[..4]), want);
    Ok(())
}

/// Re-sending an `Any` append whose events are among the newest is recognised: the
/// original versions come back with `duplicate` set and nothing is stored twice.
pub async fn any_retry_within_window_is_stored_once(h: Harness) -> CaseResult {
    let store = h.store().await?;
    let a = actor("retry-any");
    let batch = vec![ev("a"), ev("b")];
    let first = store
        .append(&a, ExpectedVersion::Any, batch.clone())
        .await?;
    assert_eq!(
        (first.first_version, first.version, first.duplicate),
        (1, 2, false)
    );
    let again = store
        .append(&a, ExpectedVersion::Any, batch.clone())
        .await?;
    assert_eq!(
        (again.first_version, again.version, again.duplicate),
        (1, 2, true)
    );
    for i in 0..3 {
        store
            .append(&a, ExpectedVersion::Any, vec![ev(&format!("later-{i}"))])
            .await?;
    }
    let again = store
        .append(&a, ExpectedVersion::Any, batch.clone())
        .await?;
    assert_eq!(
        (again.first_version, again.version, again.duplicate),
        (1, 2, true)
    );
    let single = vec![ev("single")];
    let first = store
        .append(&a, ExpectedVersion::Any, single.clone())
        .await?;
    let again = store.append(&a, ExpectedVersion::Any, single).await?;
    assert_eq!(
        (again.first_version, again.version, again.duplicate),
        (first.version, first.version, true)
    );
    assert_eq!(store.latest_version(&a).await?, 6, "stored once");
    assert_eq!(history(&*store, &a).await?.len(), 6);
    Ok(())
}

/// Re-sending stored event ids with other content (payload, type or metadata), with
/// `Exact` or `Any`, is `InvalidInput`, and nothing is stored.
pub async fn retry_with_same_ids_and_other_content_is_invalid(h: Harness) -> CaseResult {
    let store = h.store().await?;
    let a = actor("retry-changed");
    let batch = vec![ev("a"), ev("b")];
    store
        .append(&a, ExpectedVersion::Exact(0), batch.clone())
        .await?;
    let before = history(&*store, &a).await?;

    let other_data = vec![
        NewEvent::new("Tested", b"A".to_vec()).with_id(batch[0].id),
        batch[1].clone(),
    ];
    let other_type = vec![
        batch[0].clone(),
        NewEvent::new("Renamed", b"b".to_vec()).with_id(batch[1].id),
    ];
    let other_meta = vec![
        batch[0]
            .clone()
            .with_metadata(Metadata::new().header("k", "v")),
        batch[1].clone(),
    ];
    for (what, changed) in [
        ("payload", other_data),
        ("type", other_type),
        ("metadata", other_meta),
    ] {
        for expected in [ExpectedVersion::Exact(0), ExpectedVersion::Any] {
            assert_kind(
                store.append(&a, expected, changed.clone()).await,
                ErrorKind::InvalidInput,
                &format!("same ids, other {what}, {expected}"),
            );
            assert_eq!(
                store.latest_version(&a).await?,
                2,
                "nothing stored ({what}, {expected})"
            );
        }
    }
    assert_eq!(
        history(&*store, &a).await?,
        before,
        "stored events unchanged"
    );
    Ok(())
}

/// Checks one `append_shared` result: its versions are `want` (first, last, duplicate),
/// and its events are what a read of those versions returns.
async fn check(
    store: &dyn aether_core::EventStore,
    a: &aether_core::ActorId,
    what: &str,
    result: (aether_core::Appended, Vec<std::sync::Arc<Event>>),
    want: (u64, u64, bool),
) -> CaseResult {
    let (appended, shared) = result;
    assert_eq!(
        (appended.first_version, appended.version, appended.duplicate),
        want,
        "{what}: the versions appended"
    );
    let read = store
        .read(a, appended.first_version, appended.version, usize::MAX)
        .await?;
    let shared: Vec<Event> = shared.iter().map(|e| (**e).clone()).collect();
    assert_eq!(
        shared, read,
        "{what}: the shared events are what a read returns"
    );
    if let Some(t) = appended.timestamp {
        assert!(
            read.iter().all(|e| e.timestamp == t),
            "{what}: Appended::timestamp is the stored events' timestamp"
        );
    }
    Ok(())
}

/// What [`append_shared`](aether_core::EventStore::append_shared) returns is what a later
/// read returns (ids, types, payloads, actor, versions, timestamps, metadata), for a new
/// append with `Exact` and with `Any`, and for re-sent appends (`Exact` after later appends,
/// `Any` within the window, and through a second handle): the original events, as stored.
pub async fn append_shared_returns_what_a_read_returns(h: Harness) -> CaseResult {
    let store = h.store().await?;
    let a = actor("append-shared");
    let meta = Metadata::new()
        .correlation_id(uuid::Uuid::now_v7())
        .causation_id(uuid::Uuid::now_v7())
        .header("tenant", "blue")
        .header("trace", "0af7651916cd43dd");
    let first = vec![
        ev("a").with_metadata(meta.clone()),
        NewEvent::new("Other", b"b".to_vec()),
    ];
    let second = vec![ev("c").with_metadata(Metadata::new().header("k", "v"))];

    let r = store
        .append_shared(&a, ExpectedVersion::Exact(0), first.clone())
        .await?;
    check(&*store, &a, "new Exact append", r, (1, 2, false)).await?;
    let r = store
        .append_shared(&a, ExpectedVersion::Any, second.clone())
        .await?;
    check(&*store, &a, "new Any append", r, (3, 3, false)).await?;
    // Later appends, so that the timestamps of the originals are not the newest ones.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    store
        .append(&a, ExpectedVersion::Exact(3), vec![ev("later")])
        .await?;
    let r = store
        .append_shared(&a, ExpectedVersion::Exact(0), first.clone())
        .await?;
    check(
        &*store,
        &a,
        "Exact retry after later appends",
        r,
        (1, 2, true),
    )
    .await?;
    let r = store
        .append_shared(&a, ExpectedVersion::Any, second.clone())
        .await?;
    check(&*store, &a, "Any retry within the window", r, (3, 3, true)).await?;
    let other = h.store().await?;
    let r = other
        .append_shared(&a, ExpectedVersion::Exact(2), second.clone())
        .await?;
    check(
        &*other,
        &a,
        "Exact retry through a second handle",
        r,
        (3, 3, true),
    )
    .await?;
    assert_eq!(store.latest_version(&a).await?, 4, "nothing stored twice");
    Ok(())
}
