//! Snapshots: newest, newest at or below a version, overwrite, bounds, large states,
//! replay after a snapshot, and states that no longer decode.

use aether_core::{ActorSnapshot, ErrorKind, EventStore, ExpectedVersion, Version};
use futures::TryStreamExt;

use super::{
    actor, assert_kind, assert_seeded, ev, history, noise, seed, CaseResult, Harness,
    LARGE_SNAPSHOT_BYTES,
};

fn snap(a: &aether_core::ActorId, version: Version, state: &str) -> ActorSnapshot {
    ActorSnapshot::new(a.clone(), version, 1, state.as_bytes().to_vec())
}

fn state_of(s: &Option<ActorSnapshot>) -> Option<(Version, Vec<u8>)> {
    s.as_ref().map(|s| (s.version, s.state.to_vec()))
}

fn some(version: Version, state: &str) -> Option<(Version, Vec<u8>)> {
    Some((version, state.as_bytes().to_vec()))
}

/// The newest snapshot is the one at the highest version, and it comes back as saved
/// (actor, version, schema version, state bytes and timestamp).
pub async fn snapshot_load_returns_newest(h: Harness) -> CaseResult {
    let store = h.store().await?;
    let a = actor("snap-newest");
    seed(&*store, &a, 10, 5).await?;
    assert!(
        store.load_snapshot(&a, None).await?.is_none(),
        "no snapshot yet"
    );
    for v in [3, 5, 7] {
        let mut s = snap(&a, v, &format!("state-{v}"));
        s.schema_version = v as u32 + 100;
        store.save_snapshot(s).await?;
    }
    let newest = ActorSnapshot::new(a.clone(), 9, 42, b"state-9".to_vec());
    store.save_snapshot(newest.clone()).await?;
    let loaded = store.load_snapshot(&a, None).await?.expect("a snapshot");
    assert_eq!(loaded.actor_id, a);
    assert_eq!(loaded.version, 9);
    assert_eq!(loaded.schema_version, 42);
    assert_eq!(loaded.state, newest.state);
    assert_eq!(loaded.timestamp, newest.timestamp, "timestamp as taken");
    let older = store
        .load_snapshot(&a, Some(8))
        .await?
        .expect("an older snapshot");
    assert_eq!((older.version, older.schema_version), (7, 107));
    Ok(())
}

/// A snapshot saved below the newest retained one is not kept: the newest stays the one at
/// the highest version, whatever the order of the saves.
pub async fn snapshot_older_than_the_newest_is_not_kept(h: Harness) -> CaseResult {
    let store = h.store().await?;
    let a = actor("snap-out-of-order");
    seed(&*store, &a, 10, 5).await?;
    store.save_snapshot(snap(&a, 9, "nine")).await?;
    store.save_snapshot(snap(&a, 7, "seven")).await?;
    assert_eq!(
        state_of(&store.load_snapshot(&a, None).await?),
        some(9, "nine"),
        "the newest is the highest version"
    );
    assert_eq!(
        state_of(&store.load_snapshot(&a, Some(8)).await?),
        None,
        "the older snapshot was not kept"
    );
    store.save_snapshot(snap(&a, 10, "ten")).await?;
    assert_eq!(
        state_of(&store.load_snapshot(&a, None).await?),
        some(10, "ten")
    );
    assert_eq!(
        state_of(&store.load_snapshot(&a, Some(9)).await?),
        some(9, "nine")
    );
    Ok(())
}

/// `load_snapshot(Some(v))` gives the newest retained snapshot at or below `v`.
pub async fn snapshot_at_or_below_picks_newest_retained(h: Harness) -> CaseResult {
    let store = h.store().await?;
    let a = actor("snap-below");
    seed(&*store, &a, 8, 4).await?;
    for v in [2, 4, 6] {
        store.save_snapshot(snap(&a, v, &format!("s{v}"))).await?;
    }
    let at = |v: Option<Version>| {
        let store = store.clone();
        let a = a.clone();
        async move { store.load_snapshot(&a, v).await.map(|s| state_of(&s)) }
    };
    assert_eq!(at(Some(1)).await?, None, "nothing at or below 1");
    assert_eq!(at(Some(2)).await?, some(2, "s2"));
    assert_eq!(at(Some(3)).await?, some(2, "s2"));
    assert_eq!(at(Some(4)).await?, some(4, "s4"));
    assert_eq!(at(Some(5)).await?, some(4, "s4"));
    assert_eq!(at(Some(6)).await?, some(6, "s6"));
    assert_eq!(at(Some(100)).await?, some(6, "s6"));
    assert_eq!(at(Some(Version::MAX)).await?, some(6, "s6"));
    assert_eq!(at(None).await?, some(6, "s6"));
    Ok(())
}

/// A snapshot at the version of a retained one replaces it.
pub async fn snapshot_at_same_version_overwrites(h: Harness) -> CaseResult {
    let store = h.store().await?;
    let a = actor("snap-overwrite");
    seed(&*store, &a, 5, 5).await?;
    store.save_snapshot(snap(&a, 2, "two")).await?;
    store.save_snapshot(snap(&a, 4, "old")).await?;
    let mut new = snap(&a, 4, "new and longer");
    new.schema_version = 2;
    store.save_snapshot(new).await?;
    let loaded = store.load_snapshot(&a, None).await?.expect("a snapshot");
    assert_eq!(
        (loaded.version, &loaded.state[..], loaded.schema_version),
        (4, &b"new and longer"[..], 2)
    );
    assert_eq!(
        state_of(&store.load_snapshot(&a, Some(4)).await?),
        some(4, "new and longer")
    );
    assert_eq!(
        state_of(&store.load_snapshot(&a, Some(3)).await?),
        some(2, "two")
    );
    Ok(())
}

/// A snapshot at version 0, beyond the latest version, or of an actor without events is
/// `InvalidInput`, and nothing is saved.
pub async fn snapshot_beyond_latest_or_at_zero_is_invalid(h: Harness) -> CaseResult {
    let store = h.store().await?;
    let a = actor("snap-bounds");
    seed(&*store, &a, 3, 3).await?;
    for v in [0, 4, 1_000] {
        assert_kind(
            store.save_snapshot(snap(&a, v, "bad")).await,
            ErrorKind::InvalidInput,
            &format!("a snapshot at version {v} of an actor at 3"),
        );
    }
    assert!(
        store.load_snapshot(&a, None).await?.is_none(),
        "nothing saved"
    );
    let ghost = actor("snap-ghost");
    assert_kind(
        store.save_snapshot(snap(&ghost, 1, "bad")).await,
        ErrorKind::InvalidInput,
        "a snapshot of an actor without events",
    );
    assert!(store.load_snapshot(&ghost, None).await?.is_none());
    assert_eq!(store.latest_version(&ghost).await?, 0);
    store.save_snapshot(snap(&a, 3, "ok")).await?;
    assert_eq!(
        state_of(&store.load_snapshot(&a, None).await?),
        some(3, "ok")
    );
    Ok(())
}

/// A 3 MiB state (more than one NATS message by default) round-trips byte for byte, and a
/// small snapshot saved over it at the same version replaces all of it.
pub async fn large_snapshot_round_trips(h: Harness) -> CaseResult {
    let store = h.store().await?;
    let a = actor("snap-large");
    seed(&*store, &a, 2, 2).await?;
    let state = noise(LARGE_SNAPSHOT_BYTES, 0x5eed);
    store
        .save_snapshot(ActorSnapshot::new(a.clone(), 2, 7, state.clone()))
        .await?;
    let loaded = store
        .load_snapshot(&a, None)
        .await?
        .expect("the large snapshot");
    assert_eq!(loaded.state.len(), state.len(), "state length");
    assert!(loaded.state[..] == state[..], "state bytes differ");
    assert_eq!((loaded.version, loaded.schema_version), (2, 7));
    let below = store
        .load_snapshot(&a, Some(2))
        .await?
        .expect("at or below 2");
    assert!(
        below.state[..] == state[..],
        "state bytes differ (at or below)"
    );

    // Through another handle as well.
    let other = h.store().await?;
    let loaded = other
        .load_snapshot(&a, None)
        .await?
        .expect("the large snapshot");
    assert!(
        loaded.state[..] == state[..],
        "state bytes differ (second handle)"
    );

    store.save_snapshot(snap(&a, 2, "small")).await?;
    assert_eq!(
        state_of(&store.load_snapshot(&a, None).await?),
        some(2, "small")
    );
    Ok(())
}

/// Snapshot at 10 plus events 11..=15: `read_after_snapshot` yields exactly 11..=15, once
/// each, whether the snapshot was loaded from the store (with its position) or built
/// without a position; later appends show up after them.
pub async fn read_after_snapshot_yields_later_events_once(h: Harness) -> CaseResult {
    let store = h.store().await?;
    let a = actor("snap-replay");
    let mut ids = seed(&*store, &a, 10, 4).await?;
    store.save_snapshot(snap(&a, 10, "at ten")).await?;
    for v in 11..=15u64 {
        let e = aether_core::NewEvent::new("Seeded", super::seed_data(v));
        ids.push(e.id);
        store
            .append(&a, ExpectedVersion::Exact(v - 1), vec![e])
            .await?;
    }
    let loaded = store.load_snapshot(&a, None).await?.expect("the snapshot");
    let after: Vec<_> = store.read_after_snapshot(&loaded).try_collect().await?;
    assert_seeded(&after, 11..=15, &ids, &a, "after the loaded snapshot");

    let unpositioned = snap(&a, 10, "at ten");
    let after: Vec<_> = store
        .read_after_snapshot(&unpositioned)
        .try_collect()
        .await?;
    assert_seeded(
        &after,
        11..=15,
        &ids,
        &a,
        "after a snapshot without a position",
    );

    let other = h.store().await?;
    let after: Vec<_> = other.read_after_snapshot(&loaded).try_collect().await?;
    assert_seeded(
        &after,
        11..=15,
        &ids,
        &a,
        "after the snapshot, second handle",
    );

    store.save_snapshot(snap(&a, 15, "at fifteen")).await?;
    let at15 = store
        .load_snapshot(&a, None)
        .await?
        .expect("the snapshot at 15");
    let after: Vec<_> = store.read_after_snapshot(&at15).try_collect().await?;
    assert!(after.is_empty(), "nothing after the latest version");

    store
        .append(&a, ExpectedVersion::Exact(15), vec![ev("sixteen")])
        .await?;
    let after: Vec<_> = store.read_after_snapshot(&loaded).try_collect().await?;
    assert_eq!(
        after.iter().map(|e| e.version).collect::<Vec<_>>(),
        (11..=16).collect::<Vec<_>>()
    );
    Ok(())
}

/// A snapshot whose state no longer decodes (unknown schema, hostile bytes) comes back
/// byte-identical, so the runtime can detect it, and the full history stays readable, so
/// it can fall back to a full replay.
pub async fn undecodable_snapshot_round_trips_and_history_stays_readable(h: Harness) -> CaseResult {
    let store = h.store().await?;
    let a = actor("snap-garbage");
    let ids = seed(&*store, &a, 6, 3).await?;
    let garbage = b"\xc1\xff\x00\x92not MessagePack at all\xdf\xff\xff\xff\xff".to_vec();
    store
        .save_snapshot(ActorSnapshot::new(a.clone(), 6, 999, garbage.clone()))
        .await?;
    let loaded = store.load_snapshot(&a, None).await?.expect("the snapshot");
    assert_eq!(loaded.state.to_vec(), garbage, "state bytes byte-identical");
    assert_eq!(loaded.schema_version, 999);

    #[derive(Debug, serde::Deserialize)]
    struct AccountState {
        #[expect(dead_code, reason = "only decoded to show that decoding fails")]
        balance: u64,
    }
    assert_kind(
        aether_core::codec::from_slice::<AccountState>(&loaded.state),
        ErrorKind::Codec,
        "decoding a garbage state",
    );
    assert_seeded(
        &history(&*store, &a).await?,
        1..=6,
        &ids,
        &a,
        "full history for a fallback replay",
    );
    Ok(())
}

/// Snapshots belong to one actor: another actor of the namespace never sees them.
pub async fn snapshots_are_per_actor(h: Harness) -> CaseResult {
    let store = h.store().await?;
    let (a, b) = (actor("snap-a"), actor("snap-b"));
    seed(&*store, &a, 3, 3).await?;
    seed(&*store, &b, 3, 3).await?;
    store.save_snapshot(snap(&a, 3, "a's")).await?;
    assert!(store.load_snapshot(&b, None).await?.is_none());
    assert!(store.load_snapshot(&b, Some(3)).await?.is_none());
    store.save_snapshot(snap(&b, 2, "b's")).await?;
    assert_eq!(
        state_of(&store.load_snapshot(&a, None).await?),
        some(3, "a's")
    );
    assert_eq!(
        state_of(&store.load_snapshot(&b, None).await?),
        some(2, "b's")
    );
    let loaded = store.load_snapshot(&b, None).await?.expect("b's snapshot");
    assert_eq!(loaded.actor_id, b);
    Ok(())
}
