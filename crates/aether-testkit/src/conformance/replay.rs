//! Replay ranges and bounds: inclusive bounds, count limits, empty ranges, unknown actors.

use aether_core::{ActorSnapshot, EventStore, EventStoreExt, Version};
use futures::TryStreamExt;

use super::{actor, assert_seeded, read_both, seed, CaseResult, Harness};

const N: Version = 10;
const MAX: Version = Version::MAX;
const ALL: usize = usize::MAX;

/// An actor with events 1..=10, appended in batches of 3 (so reads cross append boundaries).
async fn seeded(
    h: &Harness,
) -> Result<
    (
        std::sync::Arc<dyn EventStore>,
        aether_core::ActorId,
        Vec<uuid::Uuid>,
    ),
    aether_core::BoxError,
> {
    let store = h.store().await?;
    let a = actor("replay-1");
    let ids = seed(&*store, &a, N, 3).await?;
    Ok((store, a, ids))
}

/// `read(1, MAX)`, `read(0, MAX)`, `read_stream` and `read_all` all return 1..=10 in order.
pub async fn replay_all_events_in_order(h: Harness) -> CaseResult {
    let (store, a, ids) = seeded(&h).await?;
    let all = read_both(&*store, &a, 1, MAX, ALL).await?;
    assert_seeded(&all, 1..=N, &ids, &a, "read(1, MAX)");
    let from0 = read_both(&*store, &a, 0, MAX, ALL).await?;
    assert_seeded(&from0, 1..=N, &ids, &a, "read(0, MAX)");
    let via_ext = store.read_all(&a).await?;
    assert_seeded(&via_ext, 1..=N, &ids, &a, "read_all");
    assert_eq!(store.count_events(&a).await?, N);
    assert_eq!(store.latest_version(&a).await?, N);
    Ok(())
}

/// A lower bound is inclusive.
pub async fn replay_from_lower_bound(h: Harness) -> CaseResult {
    let (store, a, ids) = seeded(&h).await?;
    assert_seeded(
        &read_both(&*store, &a, 4, MAX, ALL).await?,
        4..=N,
        &ids,
        &a,
        "read(4, MAX)",
    );
    assert_seeded(
        &read_both(&*store, &a, N, MAX, ALL).await?,
        N..=N,
        &ids,
        &a,
        "read(10, MAX)",
    );
    Ok(())
}

/// An upper bound is inclusive.
pub async fn replay_to_upper_bound(h: Harness) -> CaseResult {
    let (store, a, ids) = seeded(&h).await?;
    assert_seeded(
        &read_both(&*store, &a, 1, 6, ALL).await?,
        1..=6,
        &ids,
        &a,
        "read(1, 6)",
    );
    assert_seeded(
        &read_both(&*store, &a, 0, 6, ALL).await?,
        1..=6,
        &ids,
        &a,
        "read(0, 6)",
    );
    assert_seeded(
        &read_both(&*store, &a, 1, 1, ALL).await?,
        1..=1,
        &ids,
        &a,
        "read(1, 1)",
    );
    Ok(())
}

/// Both bounds together are inclusive.
pub async fn replay_between_lower_and_upper_bounds(h: Harness) -> CaseResult {
    let (store, a, ids) = seeded(&h).await?;
    assert_seeded(
        &read_both(&*store, &a, 3, 7, ALL).await?,
        3..=7,
        &ids,
        &a,
        "read(3, 7)",
    );
    assert_seeded(
        &read_both(&*store, &a, 2, 9, ALL).await?,
        2..=9,
        &ids,
        &a,
        "read(2, 9)",
    );
    Ok(())
}

/// A count limit returns the first `max` events of the range.
pub async fn replay_with_count_limit(h: Harness) -> CaseResult {
    let (store, a, ids) = seeded(&h).await?;
    assert_seeded(
        &store.read(&a, 1, MAX, 4).await?,
        1..=4,
        &ids,
        &a,
        "read(1, MAX, 4)",
    );
    assert_seeded(
        &store.read(&a, 5, MAX, 3).await?,
        5..=7,
        &ids,
        &a,
        "read(5, MAX, 3)",
    );
    assert_seeded(
        &store.read(&a, 3, 5, 100).await?,
        3..=5,
        &ids,
        &a,
        "read(3, 5, 100)",
    );
    assert_seeded(
        &store.read(&a, 9, MAX, 5).await?,
        9..=N,
        &ids,
        &a,
        "read(9, MAX, 5)",
    );
    assert_seeded(
        &store.read(&a, 2, 8, 1).await?,
        2..=2,
        &ids,
        &a,
        "read(2, 8, 1)",
    );
    Ok(())
}

/// `from == to` reads exactly that event (or nothing past the end).
pub async fn replay_lower_equal_upper_reads_one_event(h: Harness) -> CaseResult {
    let (store, a, ids) = seeded(&h).await?;
    assert_seeded(
        &read_both(&*store, &a, 5, 5, ALL).await?,
        5..=5,
        &ids,
        &a,
        "read(5, 5)",
    );
    assert_seeded(
        &read_both(&*store, &a, 1, 1, ALL).await?,
        1..=1,
        &ids,
        &a,
        "read(1, 1)",
    );
    assert_seeded(
        &read_both(&*store, &a, N, N, ALL).await?,
        N..=N,
        &ids,
        &a,
        "read(10, 10)",
    );
    assert!(
        read_both(&*store, &a, N + 1, N + 1, ALL).await?.is_empty(),
        "read(11, 11)"
    );
    Ok(())
}

/// `max == 0` reads nothing.
pub async fn replay_with_count_zero_is_empty(h: Harness) -> CaseResult {
    let (store, a, _) = seeded(&h).await?;
    assert!(
        store.read(&a, 1, MAX, 0).await?.is_empty(),
        "read(1, MAX, 0)"
    );
    assert!(store.read(&a, 3, 3, 0).await?.is_empty(), "read(3, 3, 0)");
    Ok(())
}

/// `from > to` reads nothing, in both forms.
pub async fn replay_lower_above_upper_is_empty(h: Harness) -> CaseResult {
    let (store, a, _) = seeded(&h).await?;
    assert!(
        read_both(&*store, &a, 7, 3, ALL).await?.is_empty(),
        "read(7, 3)"
    );
    assert!(
        read_both(&*store, &a, 2, 1, ALL).await?.is_empty(),
        "read(2, 1)"
    );
    assert!(
        read_both(&*store, &a, MAX, 1, ALL).await?.is_empty(),
        "read(MAX, 1)"
    );
    assert!(
        read_both(&*store, &a, 1, 0, ALL).await?.is_empty(),
        "read(1, 0)"
    );
    Ok(())
}

/// Ranges past the latest version read nothing; ranges that straddle it stop at it.
pub async fn replay_beyond_latest_version_is_empty(h: Harness) -> CaseResult {
    let (store, a, ids) = seeded(&h).await?;
    assert!(
        read_both(&*store, &a, N + 1, MAX, ALL).await?.is_empty(),
        "read(11, MAX)"
    );
    assert!(
        read_both(&*store, &a, N + 1, N + 20, ALL).await?.is_empty(),
        "read(11, 30)"
    );
    assert!(
        read_both(&*store, &a, MAX, MAX, ALL).await?.is_empty(),
        "read(MAX, MAX)"
    );
    assert_seeded(
        &read_both(&*store, &a, 8, 1000, ALL).await?,
        8..=N,
        &ids,
        &a,
        "read(8, 1000)",
    );
    Ok(())
}

/// A never-written actor has version 0, no events, no snapshot, and an empty replay from
/// any snapshot-like starting point; an actor next to it with events changes nothing.
pub async fn replay_never_written_actor_is_empty(h: Harness) -> CaseResult {
    let (store, _written, _) = seeded(&h).await?;
    let ghost = actor("never-written");
    assert_eq!(store.latest_version(&ghost).await?, 0);
    assert!(read_both(&*store, &ghost, 0, MAX, ALL).await?.is_empty());
    assert!(read_both(&*store, &ghost, 1, 5, ALL).await?.is_empty());
    assert!(store.read(&ghost, 1, MAX, 10).await?.is_empty());
    assert_eq!(store.count_events(&ghost).await?, 0);
    assert!(store.load_snapshot(&ghost, None).await?.is_none());
    assert!(store.load_snapshot(&ghost, Some(5)).await?.is_none());
    let fake = ActorSnapshot::new(ghost.clone(), 3, 1, vec![]);
    let after: Vec<_> = store.read_after_snapshot(&fake).try_collect().await?;
    assert!(
        after.is_empty(),
        "read_after_snapshot of a never-written actor"
    );
    // Reading did not create it.
    assert_eq!(store.latest_version(&ghost).await?, 0);
    Ok(())
}

/// Streaming reads of a history longer than any sensible page (1,200 events) return every
/// event once, in order, for whole and partial ranges.
pub async fn read_stream_crosses_page_boundaries(h: Harness) -> CaseResult {
    let store = h.store().await?;
    let a = actor("long-history");
    let n = 1_200;
    let ids = seed(&*store, &a, n, 100).await?;
    let all: Vec<_> = store.read_stream(&a, 1, MAX).try_collect().await?;
    assert_seeded(&all, 1..=n, &ids, &a, "read_stream(1, MAX)");
    let part: Vec<_> = store.read_stream(&a, 250, 1_000).try_collect().await?;
    assert_seeded(&part, 250..=1_000, &ids, &a, "read_stream(250, 1000)");
    let tail: Vec<_> = store.read_stream(&a, 1_199, MAX).try_collect().await?;
    assert_seeded(&tail, 1_199..=n, &ids, &a, "read_stream(1199, MAX)");
    let ranged = store.read(&a, 300, 900, 500).await?;
    assert_seeded(&ranged, 300..=799, &ids, &a, "read(300, 900, 500)");
    assert_eq!(store.count_events(&a).await?, n);
    Ok(())
}
