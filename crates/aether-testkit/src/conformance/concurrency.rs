//! Many writers on one actor: exactly one winner per version, nothing lost, nothing
//! interleaved.

use std::collections::HashMap;
use std::sync::Arc;

use aether_core::{Error, ExpectedVersion, NewEvent, Version};
use tokio::sync::Barrier;

use super::{actor, history, CaseResult, Harness};

const WRITERS: usize = 8;
const ROUNDS: u64 = 200;
const BATCH: u64 = 2;

/// 8 writers, each on its own handle, append a 2-event batch with the same `Exact`
/// expectation in each of 200 rounds. Every round has exactly one winner, whose append
/// returns the right versions; every loser gets `VersionConflict` with the expectation and
/// the actual version after the winner; the history is contiguous 1..=400 and each pair of
/// versions holds one winner's batch, in order.
pub async fn concurrent_exact_appends_have_one_winner_per_version(h: Harness) -> CaseResult {
    let a = actor("contended");
    let barrier = Arc::new(Barrier::new(WRITERS));
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = h.store().await?;
        let a = a.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let mut won = Vec::new();
            for r in 0..ROUNDS {
                barrier.wait().await;
                let expected = ExpectedVersion::Exact(r * BATCH);
                let events: Vec<NewEvent> = (0..BATCH)
                    .map(|i| NewEvent::new("Raced", format!("w{w}r{r}i{i}").into_bytes()))
                    .collect();
                match store.append(&a, expected, events).await {
                    Ok(done) => {
                        assert_eq!(
                            (done.first_version, done.version, done.duplicate),
                            (r * BATCH + 1, r * BATCH + BATCH, false),
                            "writer {w} round {r}: the winner's result"
                        );
                        won.push(r);
                    }
                    Err(Error::VersionConflict(c)) => {
                        assert_eq!(c.expected, expected, "writer {w} round {r}: expectation");
                        assert_eq!(c.actor_id, a, "writer {w} round {r}: actor");
                        assert_eq!(
                            c.actual,
                            r * BATCH + BATCH,
                            "writer {w} round {r}: the actual version after the winner"
                        );
                    }
                    Err(e) => panic!("writer {w} round {r}: unexpected error {e}"),
                }
            }
            won
        }));
    }
    let mut winner_of: HashMap<Version, usize> = HashMap::new();
    for (w, t) in tasks.into_iter().enumerate() {
        for r in t.await? {
            if let Some(other) = winner_of.insert(r, w) {
                panic!("round {r} has two winners: writers {other} and {w}");
            }
        }
    }
    assert_eq!(
        winner_of.len() as u64,
        ROUNDS,
        "every round has exactly one winner"
    );

    let store = h.store().await?;
    assert_eq!(store.latest_version(&a).await?, ROUNDS * BATCH);
    let events = history(&*store, &a).await?;
    let got: Vec<Version> = events.iter().map(|e| e.version).collect();
    let want: Vec<Version> = (1..=ROUNDS * BATCH).collect();
    assert_eq!(got, want, "history is contiguous");
    for (i, e) in events.iter().enumerate() {
        let (r, k) = (i as u64 / BATCH, i as u64 % BATCH);
        let w = winner_of[&r];
        assert_eq!(
            &e.data[..],
            format!("w{w}r{r}i{k}").as_bytes(),
            "v{}: the winner's batch, in order, not interleaved",
            e.version
        );
    }
    Ok(())
}

/// 8 writers, each on its own handle, append batches of 1 to 3 events with
/// `ExpectedVersion::Any` at the same time. No event is lost or duplicated; each append's
/// events sit together, in order, exactly at the versions its result reported.
pub async fn concurrent_any_appends_lose_no_events(h: Harness) -> CaseResult {
    const APPENDS: usize = 50;
    let a = actor("any-writers");
    let barrier = Arc::new(Barrier::new(WRITERS));
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = h.store().await?;
        let a = a.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut results = Vec::new();
            for i in 0..APPENDS {
                let size = i % 3 + 1;
                let events: Vec<NewEvent> = (0..size)
                    .map(|k| NewEvent::new("Any", format!("w{w}a{i}k{k}").into_bytes()))
                    .collect();
                let ids: Vec<uuid::Uuid> = events.iter().map(|e| e.id).collect();
                let done = store
                    .append(&a, ExpectedVersion::Any, events)
                    .await
                    .unwrap_or_else(|e| panic!("writer {w} append {i}: {e}"));
                assert!(
                    !done.duplicate,
                    "writer {w} append {i} reported as duplicate"
                );
                assert_eq!(
                    done.version - done.first_version + 1,
                    size as u64,
                    "writer {w} append {i}: result spans its events"
                );
                results.push((done, ids));
            }
            results
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await?);
    }
    let total: u64 = all.iter().map(|(_, ids)| ids.len() as u64).sum();

    let store = h.store().await?;
    assert_eq!(store.latest_version(&a).await?, total, "no event lost");
    let events = history(&*store, &a).await?;
    let got: Vec<Version> = events.iter().map(|e| e.version).collect();
    assert_eq!(
        got,
        (1..=total).collect::<Vec<_>>(),
        "history is contiguous"
    );
    for (done, ids) in &all {
        let stored: Vec<uuid::Uuid> = events
            [(done.first_version - 1) as usize..done.version as usize]
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(
            &stored, ids,
            "append reported at {}..={}",
            done.first_version, done.version
        );
    }
    Ok(())
}
