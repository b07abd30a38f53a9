//! The `EventStore` conformance suite: what every Aether store must do, as named tests.
//!
//! [`event_store_conformance!`](crate::event_store_conformance) generates one `#[test]` per
//! case in [`cases`] for a store *factory*: an async function that, given a [`Namespace`],
//! opens an `Arc<dyn EventStore>` on it. Calling the factory twice with the same namespace
//! must give two handles on the same data (for a networked store, two connections; in a
//! cluster they may be connected to different servers), because the concurrency cases
//! write through several handles at once. Each generated test runs its case on a fresh,
//! unique namespace (`t_<case>_<random>`), on its own multi-threaded Tokio runtime, within
//! a time limit.
//!
//! ```no_run
//! use std::sync::Arc;
//! use aether_core::{EventStore, Namespace};
//!
//! async fn open(ns: Namespace) -> aether_core::Result<Arc<dyn EventStore>> {
//!     my_store::connect(ns).await
//! }
//! # mod my_store {
//! #     pub async fn connect(
//! #         _: aether_core::Namespace,
//! #     ) -> aether_core::Result<std::sync::Arc<dyn aether_core::EventStore>> {
//! #         Err(aether_core::Error::not_found("a store of your own"))
//! #     }
//! # }
//!
//! aether_testkit::event_store_conformance! {
//!     factory = open,
//!     big_replay_events = 1_000_000,
//! }
//! ```
//!
//! What the suite assumes of a store, beyond the [`EventStore`] contract:
//!
//! * it retains at least the 3 newest snapshots of an actor;
//! * with `ExpectedVersion::Any`, a re-sent append made right after the original (within
//!   a second, while its first event is among the actor's 10 newest) is recognised;
//! * an event of [`OVERSIZED_EVENT_BYTES`] is over its size limit;
//! * a snapshot state of [`LARGE_SNAPSHOT_BYTES`] is accepted (stored in chunks if needed).
//!
//! The big-replay case measures peak heap with the [`CountingAllocator`](crate::alloc::CountingAllocator),
//! which the macro installs as the binary's global allocator (pass
//! `install_allocator = false` when the binary installs it itself with
//! [`counting_allocator!`](crate::counting_allocator)). Under `cargo test`, which runs tests
//! of one binary in parallel threads, that case runs alone: every other case of the suite
//! waits for it, and it waits for them, so their allocations do not blur the measurement.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use aether_core::{
    ActorId, Appended, BoxError, Error, ErrorKind, Event, EventStore, EventStoreExt,
    ExpectedVersion, Namespace, NewEvent, Version,
};
use futures::TryStreamExt;

mod commands;
mod concurrency;
mod content;
mod expectations;
mod idempotency;
mod memory;
mod replay;
mod snapshots;

/// Every case of the suite, one `async fn(Harness) -> CaseResult` each.
///
/// [`event_store_conformance!`](crate::event_store_conformance) turns each into a test of
/// the same name; they can also be called directly with a [`Harness`].
pub mod cases {
    pub use super::commands::{
        aggregate_type_and_command_records_round_trip, an_append_of_two_aggregate_types_is_invalid,
        retries_compare_command_records, timestamps_never_go_backwards,
    };
    pub use super::concurrency::{
        concurrent_any_appends_lose_no_events, concurrent_exact_appends_have_one_winner_per_version,
    };
    pub use super::content::{
        event_data_round_trips_exactly, hostile_actor_ids_are_stored_distinctly,
        metadata_round_trips, namespaces_are_isolated, second_handle_sees_writes_of_the_first,
        stored_events_carry_actor_version_and_time,
    };
    pub use super::expectations::{
        any_appends_after_the_latest_version, empty_append_is_invalid_input,
        exact_appends_return_contiguous_versions, exact_version_on_missing_actor_conflicts,
        exact_zero_on_existing_actor_conflicts, multi_event_append_is_all_or_none,
        oversized_event_is_rejected_and_the_actor_stays_usable,
        wrong_expected_versions_conflict_and_store_nothing,
    };
    pub use super::idempotency::{
        any_retry_within_window_is_stored_once, append_shared_returns_what_a_read_returns,
        exact_retry_after_later_appends_returns_original, exact_retry_returns_original_result,
        retry_with_same_ids_and_other_content_is_invalid,
    };
    pub use super::memory::big_history_replays_with_bounded_memory;
    pub use super::replay::{
        read_stream_crosses_page_boundaries, replay_all_events_in_order,
        replay_between_lower_and_upper_bounds, replay_beyond_latest_version_is_empty,
        replay_from_lower_bound, replay_lower_above_upper_is_empty,
        replay_lower_equal_upper_reads_one_event, replay_never_written_actor_is_empty,
        replay_to_upper_bound, replay_with_count_limit, replay_with_count_zero_is_empty,
    };
    pub use super::snapshots::{
        large_snapshot_round_trips, read_after_snapshot_yields_later_events_once,
        snapshot_at_or_below_picks_newest_retained, snapshot_at_same_version_overwrites,
        snapshot_beyond_latest_or_at_zero_is_invalid, snapshot_load_returns_newest,
        snapshot_older_than_the_newest_is_not_kept, snapshots_are_per_actor,
        undecodable_snapshot_round_trips_and_history_stays_readable,
    };
}

macro_rules! case_names {
    (() $($case:ident),* $(,)?) => {
        /// The names of every case of the suite, in the order the suite lists them.
        pub const CASE_NAMES: &[&str] = &[$(stringify!($case)),*];
    };
}
crate::for_each_conformance_case!(case_names!());

/// The outcome of a case: `Err` for a store error it did not expect (assertions panic).
pub type CaseResult = Result<(), BoxError>;

/// The future a [`StoreFactory`] returns.
pub type StoreFuture =
    Pin<Box<dyn Future<Output = aether_core::Result<Arc<dyn EventStore>>> + Send>>;

/// Opens store handles for the suite.
///
/// Implemented for every `Fn(Namespace) -> impl Future<Output = aether_core::Result<Arc<dyn EventStore>>>`,
/// so an `async fn open(ns: Namespace) -> aether_core::Result<Arc<dyn EventStore>>` is a
/// factory. Two calls with the same namespace must open two handles on the same data.
pub trait StoreFactory: Send + Sync + 'static {
    /// Opens a new handle on `namespace`.
    fn open(&self, namespace: Namespace) -> StoreFuture;
}

impl<F, Fut> StoreFactory for F
where
    F: Fn(Namespace) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = aether_core::Result<Arc<dyn EventStore>>> + Send + 'static,
{
    fn open(&self, namespace: Namespace) -> StoreFuture {
        Box::pin(self(namespace))
    }
}

/// The number of events of the big-replay case for a store on one machine.
pub const BIG_REPLAY_EVENTS: u64 = 1_000_000;

/// The bound on peak heap growth while the big-replay case streams its history.
pub const REPLAY_HEAP_BOUND_BYTES: usize = 32 * 1024 * 1024;

/// The payload size of the event every store must refuse as too large.
pub const OVERSIZED_EVENT_BYTES: usize = 8 * 1024 * 1024;

/// The state size of the large-snapshot case (over NATS's default 1 MiB max payload).
pub const LARGE_SNAPSHOT_BYTES: usize = 3 * 1024 * 1024;

/// How long one case may take before it fails.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// What a case gets: its namespace, the factory and the suite's parameters.
#[derive(Clone)]
pub struct Harness {
    inner: Arc<HarnessInner>,
}

struct HarnessInner {
    case: String,
    namespace: Namespace,
    factory: Arc<dyn StoreFactory>,
    big_replay_events: u64,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("case", &self.inner.case)
            .field("namespace", &self.inner.namespace)
            .field("big_replay_events", &self.inner.big_replay_events)
            .finish_non_exhaustive()
    }
}

impl Harness {
    /// A harness for `case` on a fresh unique namespace.
    pub fn new(case: &str, factory: impl StoreFactory, big_replay_events: u64) -> Self {
        Harness {
            inner: Arc::new(HarnessInner {
                case: case.to_owned(),
                namespace: unique_namespace(case),
                factory: Arc::new(factory),
                big_replay_events,
            }),
        }
    }

    /// The case's own namespace.
    pub fn namespace(&self) -> &Namespace {
        &self.inner.namespace
    }

    /// The number of events of the big-replay case.
    pub fn big_replay_events(&self) -> u64 {
        self.inner.big_replay_events
    }

    /// Opens a new handle on the case's namespace.
    ///
    /// # Errors
    /// Whatever the factory returns.
    pub async fn store(&self) -> aether_core::Result<Arc<dyn EventStore>> {
        let store = self
            .inner
            .factory
            .open(self.inner.namespace.clone())
            .await?;
        assert_eq!(
            store.namespace(),
            &self.inner.namespace,
            "the factory opened a handle on another namespace"
        );
        Ok(store)
    }

    /// Opens a new handle on `namespace`.
    ///
    /// # Errors
    /// Whatever the factory returns.
    pub async fn store_in(
        &self,
        namespace: &Namespace,
    ) -> aether_core::Result<Arc<dyn EventStore>> {
        self.inner.factory.open(namespace.clone()).await
    }

    /// A fresh unique namespace, other than the case's own.
    pub fn other_namespace(&self, tag: &str) -> Namespace {
        unique_namespace(&format!("{}_{tag}", self.inner.case))
    }
}

/// A fresh namespace `t_<case>_<12 random hex digits>`, cut to the namespace length limit.
pub fn unique_namespace(case: &str) -> Namespace {
    let case: String = case
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(aether_core::MAX_NAMESPACE_LEN - 2 - 13)
        .collect();
    let rand = uuid::Uuid::new_v4().simple().to_string();
    Namespace::new(format!("t_{case}_{}", &rand[..12])).expect("a generated namespace is valid")
}

/// Cases that must run alone in their process (they measure the process's heap).
const EXCLUSIVE_CASES: &[&str] = &["big_history_replays_with_bounded_memory"];

static EXCLUSIVE: RwLock<()> = RwLock::new(());

/// Runs one case on a fresh namespace, on a new multi-threaded runtime, within
/// [`CASE_TIMEOUT`]; panics (fails the test) on any failure. Used by
/// [`event_store_conformance!`](crate::event_store_conformance).
pub fn run_case<F, Fut>(name: &str, factory: impl StoreFactory, big_replay_events: u64, case: F)
where
    F: FnOnce(Harness) -> Fut,
    Fut: Future<Output = CaseResult>,
{
    let _guard_r;
    let _guard_w;
    if EXCLUSIVE_CASES.contains(&name) {
        _guard_w = aether_core::support::write(&EXCLUSIVE);
    } else {
        _guard_r = aether_core::support::read(&EXCLUSIVE);
    }
    let harness = Harness::new(name, factory, big_replay_events);
    let namespace = harness.namespace().clone();
    /// `e` and the chain of its sources, for a failure message that says why.
    fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
        let mut text = e.to_string();
        let mut cause = e.source();
        while let Some(c) = cause {
            text.push_str(": ");
            text.push_str(&c.to_string());
            cause = c.source();
        }
        text
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let outcome = rt.block_on(async { tokio::time::timeout(CASE_TIMEOUT, case(harness)).await });
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!(
            "conformance case {name} (namespace {namespace}) failed: {}",
            with_causes(&*e)
        ),
        Err(_) => panic!(
            "conformance case {name} (namespace {namespace}) did not finish within {CASE_TIMEOUT:?}"
        ),
    }
}

/// Generates the conformance suite: one `#[test]` per case of [`cases`], named after it.
///
/// * `factory` — an expression that is a [`StoreFactory`], typically the path of an
///   `async fn(Namespace) -> aether_core::Result<Arc<dyn EventStore>>`; it is evaluated once
///   per test.
/// * `big_replay_events` — the history length of the big-replay case
///   ([`BIG_REPLAY_EVENTS`] on one machine; 100,000 on a 3-server cluster).
/// * `install_allocator = false` (optional) — do not install the
///   [`CountingAllocator`](crate::alloc::CountingAllocator); by default the macro installs it
///   as the binary's `#[global_allocator]`, so invoke the macro once per test binary.
///
/// ```no_run
/// aether_testkit::event_store_conformance! {
///     factory = open_store,
///     big_replay_events = aether_testkit::conformance::BIG_REPLAY_EVENTS,
/// }
/// ```
#[macro_export]
macro_rules! event_store_conformance {
    (factory = $factory:expr, big_replay_events = $n:expr $(,)?) => {
        $crate::counting_allocator!();
        $crate::event_store_conformance!(
            factory = $factory,
            big_replay_events = $n,
            install_allocator = false
        );
    };
    (factory = $factory:expr, big_replay_events = $n:expr, install_allocator = false $(,)?) => {
        $crate::for_each_conformance_case!($crate::__conformance_tests!($factory, $n));
    };
}

/// Calls a macro with the name of every case of the suite, for harnesses that need their
/// own test functions (for instance one server per case, or one cluster for all cases).
///
/// `for_each_conformance_case!(my_macro!(ARGS))` expands to
/// `my_macro! { (ARGS) case_a, case_b, ... }`: the tokens given in parentheses first, then
/// the case names, each also the name of a function in [`cases`]. Keeping to this list,
/// rather than a copy, means a harness runs every case the suite gains.
///
/// ```no_run
/// macro_rules! one_server_per_case {
///     (() $($case:ident),* $(,)?) => {
///         $(
///             #[test]
///             fn $case() {
///                 let server = aether_testkit::NatsServer::start();
///                 aether_testkit::conformance::run_case(
///                     stringify!($case),
///                     factory(server.url()),
///                     aether_testkit::conformance::BIG_REPLAY_EVENTS,
///                     aether_testkit::conformance::cases::$case,
///                 );
///             }
///         )*
///     };
/// }
/// aether_testkit::for_each_conformance_case!(one_server_per_case!());
/// ```
#[macro_export]
macro_rules! for_each_conformance_case {
    ($($callback:ident)::+ ! ($($args:tt)*)) => {
        $($callback)::+ ! {
            ($($args)*)
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
            append_shared_returns_what_a_read_returns,
            snapshot_load_returns_newest,
            snapshot_at_or_below_picks_newest_retained,
            snapshot_older_than_the_newest_is_not_kept,
            snapshot_at_same_version_overwrites,
            snapshot_beyond_latest_or_at_zero_is_invalid,
            large_snapshot_round_trips,
            read_after_snapshot_yields_later_events_once,
            undecodable_snapshot_round_trips_and_history_stays_readable,
            snapshots_are_per_actor,
            metadata_round_trips,
            aggregate_type_and_command_records_round_trip,
            an_append_of_two_aggregate_types_is_invalid,
            retries_compare_command_records,
            timestamps_never_go_backwards,
            event_data_round_trips_exactly,
            stored_events_carry_actor_version_and_time,
            second_handle_sees_writes_of_the_first,
            namespaces_are_isolated,
            hostile_actor_ids_are_stored_distinctly,
            big_history_replays_with_bounded_memory,
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    (($factory:expr, $n:expr) $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::conformance::run_case(
                    stringify!($case),
                    $factory,
                    $n,
                    $crate::conformance::cases::$case,
                );
            }
        )*
    };
}

// ---- helpers shared by the cases ----

/// An event of type `Tested` whose payload is `tag`.
pub(crate) fn ev(tag: &str) -> NewEvent {
    NewEvent::new("Tested", tag.as_bytes().to_vec())
}

/// The payload the seeding helpers give the event at `version`.
pub(crate) fn seed_data(version: Version) -> Vec<u8> {
    format!("e{version}").into_bytes()
}

/// An actor id, panicking on an invalid one (ids in the suite are all valid).
pub(crate) fn actor(id: &str) -> ActorId {
    ActorId::new(id).expect("a valid actor id")
}

/// Appends `n` events (payload [`seed_data`]) in batches of `batch`, with exact
/// expectations, to an actor with no events; returns the stored ids in order.
pub(crate) async fn seed(
    store: &dyn EventStore,
    actor: &ActorId,
    n: u64,
    batch: u64,
) -> Result<Vec<uuid::Uuid>, BoxError> {
    let mut ids = Vec::with_capacity(n as usize);
    let mut v = store.latest_version(actor).await?;
    assert_eq!(v, 0, "seed expects an actor without events");
    while v < n {
        let k = batch.min(n - v);
        let events: Vec<NewEvent> = (v + 1..=v + k)
            .map(|ver| NewEvent::new("Seeded", seed_data(ver)))
            .collect();
        ids.extend(events.iter().map(|e| e.id));
        let a = store
            .append(actor, ExpectedVersion::Exact(v), events)
            .await?;
        assert_eq!(
            (a.first_version, a.version, a.duplicate),
            (v + 1, v + k, false)
        );
        v += k;
    }
    Ok(ids)
}

/// The versions of `events`.
pub(crate) fn versions(events: &[Event]) -> Vec<Version> {
    events.iter().map(|e| e.version).collect()
}

/// Checks that `events` are exactly the seeded events `range`, in order.
pub(crate) fn assert_seeded(
    events: &[Event],
    range: std::ops::RangeInclusive<Version>,
    ids: &[uuid::Uuid],
    actor: &ActorId,
    what: &str,
) {
    let expected: Vec<Version> = range.clone().collect();
    assert_eq!(versions(events), expected, "{what}: versions");
    for e in events {
        assert_eq!(&e.actor_id, actor, "{what}: actor id of v{}", e.version);
        assert_eq!(
            e.id,
            ids[(e.version - 1) as usize],
            "{what}: id of v{}",
            e.version
        );
        assert_eq!(
            &e.data[..],
            &seed_data(e.version)[..],
            "{what}: payload of v{}",
            e.version
        );
    }
}

/// Reads through both `read` (with `max`) and `read_stream`, checks both agree, returns them.
pub(crate) async fn read_both(
    store: &dyn EventStore,
    actor: &ActorId,
    from: Version,
    to: Version,
    max: usize,
) -> Result<Vec<Event>, BoxError> {
    let ranged = store.read(actor, from, to, max).await?;
    if max == usize::MAX {
        let streamed: Vec<Event> = store.read_stream(actor, from, to).try_collect().await?;
        assert_eq!(
            versions(&streamed),
            versions(&ranged),
            "read_stream({from}, {to}) and read({from}, {to}) disagree"
        );
        assert_eq!(
            streamed, ranged,
            "read_stream and read return different events"
        );
    }
    Ok(ranged)
}

/// Checks that `result` is a version conflict with these details.
pub(crate) fn assert_conflict(
    result: aether_core::Result<Appended>,
    actor: &ActorId,
    expected: ExpectedVersion,
    actual: Version,
) {
    match result {
        Err(Error::VersionConflict(c)) => {
            assert_eq!(&c.actor_id, actor, "conflict names the actor");
            assert_eq!(c.expected, expected, "conflict carries the expectation");
            assert_eq!(c.actual, actual, "conflict carries the actual version");
        }
        other => panic!(
            "expected a version conflict (expected {expected}, actual {actual}), got {other:?}"
        ),
    }
}

/// Checks that `result` is an error of `kind`.
pub(crate) fn assert_kind<T: std::fmt::Debug>(
    result: aether_core::Result<T>,
    kind: ErrorKind,
    what: &str,
) {
    match result {
        Err(e) if e.kind() == kind => {}
        other => panic!("{what}: expected an error of kind {kind}, got {other:?}"),
    }
}

/// The whole history of `actor`, streamed.
pub(crate) async fn history(
    store: &dyn EventStore,
    actor: &ActorId,
) -> Result<Vec<Event>, BoxError> {
    Ok(store.read_all(actor).await?)
}

/// Deterministic pseudo-random bytes (xorshift64*), for payloads that must not compress.
pub(crate) fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_names_are_unique_and_include_the_memory_case() {
        let unique: std::collections::HashSet<_> = CASE_NAMES.iter().collect();
        assert_eq!(unique.len(), CASE_NAMES.len());
        assert!(CASE_NAMES.len() >= 40);
        for exclusive in EXCLUSIVE_CASES {
            assert!(CASE_NAMES.contains(exclusive), "{exclusive}");
        }
    }

    #[test]
    fn unique_namespaces_are_valid_and_distinct() {
        let long = "x".repeat(200);
        let a = unique_namespace(&long);
        let b = unique_namespace(&long);
        assert_ne!(a, b);
        assert!(a.as_str().starts_with("t_xxx"));
        let odd = unique_namespace("a.b c/é");
        assert!(odd.as_str().starts_with("t_a_b_c__"), "{odd}");
    }
}
