//! A long history replays with bounded memory, measured by the counting allocator.

use aether_core::{EventStore, ExpectedVersion, NewEvent, Version};
use futures::StreamExt;

use super::{actor, CaseResult, Harness, REPLAY_HEAP_BOUND_BYTES};
use crate::alloc;

const APPEND: u64 = 1_000;

/// One actor with `big_replay_events` events, written as 1,000-event appends, replays
/// through `read_stream` in order and contiguous, every payload intact, while the peak
/// heap grows by less than [`REPLAY_HEAP_BOUND_BYTES`] (32 MiB) over what was allocated
/// before the replay started, whatever the history's length.
pub async fn big_history_replays_with_bounded_memory(h: Harness) -> CaseResult {
    assert!(
        alloc::is_installed(),
        "the counting allocator is not this binary's global allocator; \
         event_store_conformance! installs it unless `install_allocator = false`, \
         otherwise invoke aether_testkit::counting_allocator!()"
    );
    let n = h.big_replay_events();
    let store = h.store().await?;
    let a = actor("big-history");
    let mut v: Version = 0;
    while v < n {
        let k = APPEND.min(n - v);
        let events: Vec<NewEvent> = (v + 1..=v + k)
            .map(|ver| NewEvent::new("Big", ver.to_le_bytes().to_vec()))
            .collect();
        let done = store.append(&a, ExpectedVersion::Exact(v), events).await?;
        assert_eq!(done.version, v + k);
        v += k;
    }
    assert_eq!(store.latest_version(&a).await?, n);

    let base = alloc::reset_peak();
    let started = std::time::Instant::now();
    let mut stream = store.read_stream(&a, 1, Version::MAX);
    let mut expected: Version = 1;
    while let Some(event) = stream.next().await {
        let event = event?;
        assert_eq!(event.version, expected, "replay is in order and contiguous");
        assert_eq!(
            &event.data[..],
            &expected.to_le_bytes()[..],
            "payload of v{expected}"
        );
        expected += 1;
    }
    drop(stream);
    let growth = alloc::peak_bytes().saturating_sub(base);
    assert_eq!(expected - 1, n, "every event replayed");
    eprintln!(
        "replayed {n} events in {:?}; peak heap growth {} KiB (bound {} MiB)",
        started.elapsed(),
        growth / 1024,
        REPLAY_HEAP_BOUND_BYTES / (1024 * 1024)
    );
    assert!(
        growth < REPLAY_HEAP_BOUND_BYTES,
        "replaying {n} events grew the heap by {growth} bytes, over the bound of \
         {REPLAY_HEAP_BOUND_BYTES}"
    );
    Ok(())
}
