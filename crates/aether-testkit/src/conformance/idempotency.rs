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
