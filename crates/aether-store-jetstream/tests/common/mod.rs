//! Shared by the server-backed tests: store factories and the list of conformance cases.
#![allow(dead_code)] // each test binary uses a part

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aether_core::{EventStore, Namespace};
use aether_store_jetstream::{JetStreamEventStore, JetStreamStoreOptions};
use aether_testkit::conformance::StoreFactory;

/// A factory opening a new connection per handle, to the servers of `urls` in turn (so in a
/// cluster two handles on one namespace talk to different servers).
pub(crate) fn factory(
    urls: Vec<String>,
    options: JetStreamStoreOptions,
) -> impl StoreFactory + Clone {
    let next = Arc::new(AtomicUsize::new(0));
    move |ns: Namespace| {
        let url = urls[next.fetch_add(1, Ordering::Relaxed) % urls.len()].clone();
        let options = options.clone();
        async move {
            let store = connect(&url, ns, options).await?;
            Ok(Arc::new(store) as Arc<dyn EventStore>)
        }
    }
}

/// Connects, retrying while a just-started server or cluster settles.
pub(crate) async fn connect(
    url: &str,
    ns: Namespace,
    options: JetStreamStoreOptions,
) -> aether_core::Result<JetStreamEventStore> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match JetStreamEventStore::connect(url, ns.clone(), options.clone()).await {
            Err(e) if e.is_transient() && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => return other,
        }
    }
}

/// Calls `$m!(case, case, ...)` with every case of the conformance suite.
#[macro_export]
macro_rules! with_conformance_cases {
    ($m:ident) => {
        $m! {
            replay_all_events_in_order,
            replay_from_lower_bound,
            replay_to_upper_bound,
            replay_between_lower_and_upper_bounds,
            replay_with_count_limit,
            replay_lower_equal_upper_reads_one_event,
            replay_with_count_zero_is_empty,
            replay_lower_above_upper_is_empty,
            replay_beyond_latest_version_is_empty,
            replay_never_written_actor_is_empty,
            read_stream_crosses_page_boundaries,
            concurrent_exact_appends_have_one_winner_per_version,
            concurrent_any_appends_lose_no_events,
            exact_zero_on_existing_actor_conflicts,
            exact_version_on_missing_actor_conflicts,
            wrong_expected_versions_conflict_and_store_nothing,
            exact_appends_return_contiguous_versions,
            any_appends_after_the_latest_version,
            multi_event_append_is_all_or_none,
            oversized_event_is_rejected_and_the_actor_stays_usable,
            empty_append_is_invalid_input,
            exact_retry_returns_original_result,
            exact_retry_after_later_appends_returns_original,
            any_retry_within_window_is_stored_once,
            retry_with_same_ids_and_other_content_is_invalid,
            snapshot_load_returns_newest,
            snapshot_at_or_below_picks_newest_retained,
            snapshot_at_same_version_overwrites,
            snapshot_beyond_latest_or_at_zero_is_invalid,
            large_snapshot_round_trips,
            read_after_snapshot_yields_later_events_once,
            undecodable_snapshot_round_trips_and_history_stays_readable,
            snapshots_are_per_actor,
            metadata_round_trips,
            event_data_round_trips_exactly,
            stored_events_carry_actor_version_and_time,
            second_handle_sees_writes_of_the_first,
            namespaces_are_isolated,
            hostile_actor_ids_are_stored_distinctly,
            big_history_replays_with_bounded_memory,
        }
    };
}
