//! The store conformance suite against one nats-server (file storage, one replica), one
//! server per case, big replay of 1,000,000 events.
#![cfg(feature = "itest")]

mod common;

use aether_store_jetstream::JetStreamStoreOptions;
use aether_testkit::conformance::{run_case, BIG_REPLAY_EVENTS};
use aether_testkit::NatsServer;

aether_testkit::counting_allocator!();

macro_rules! single_server_cases {
    (() $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let server = NatsServer::start();
                let factory = common::factory(vec![server.url()], JetStreamStoreOptions::new());
                run_case(
                    stringify!($case),
                    factory,
                    BIG_REPLAY_EVENTS,
                    aether_testkit::conformance::cases::$case,
                );
                drop(server);
            }
        )*
    };
}

// The suite's own list, so that every case it gains runs here too.
aether_testkit::for_each_conformance_case!(single_server_cases!());
