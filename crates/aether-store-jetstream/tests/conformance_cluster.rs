//! The store conformance suite against a 3-server cluster with replicas 3, each handle on
//! another server than the last; big replay of 100,000 events. One cluster runs every case
//! in turn (starting a cluster per case would dominate the run time); every failing case is
//! reported.
#![cfg(feature = "itest")]

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use aether_store_jetstream::JetStreamStoreOptions;
use aether_testkit::conformance::run_case;
use aether_testkit::NatsCluster;

aether_testkit::counting_allocator!();

const BIG_REPLAY_EVENTS: u64 = 100_000;

macro_rules! names {
    (() $($case:ident),* $(,)?) => {
        fn run_all(factory: impl aether_testkit::conformance::StoreFactory + Clone) -> Vec<String> {
            let mut failed = Vec::new();
            $(
                let f = factory.clone();
                let started = std::time::Instant::now();
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    run_case(
                        stringify!($case),
                        f,
                        BIG_REPLAY_EVENTS,
                        aether_testkit::conformance::cases::$case,
                    )
                }));
                eprintln!(
                    "cluster conformance {}: {} in {:?}",
                    stringify!($case),
                    if outcome.is_ok() { "ok" } else { "FAILED" },
                    started.elapsed()
                );
                if outcome.is_err() {
                    failed.push(stringify!($case).to_owned());
                }
            )*
            failed
        }
    };
}

// The suite's own list, so that every case it gains runs here too.
aether_testkit::for_each_conformance_case!(names!());

#[test]
fn conformance_on_a_three_server_cluster_with_three_replicas() {
    let cluster = NatsCluster::start(3);
    let factory = common::factory(cluster.urls(), JetStreamStoreOptions::new().replicas(3));
    let failed = run_all(factory);
    assert!(failed.is_empty(), "failed on the cluster: {failed:?}");
    drop(cluster);
}
