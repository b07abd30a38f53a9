//! The runtime opens `tracing` spans for each ask, each activation and each append.

mod common;

use std::sync::{Arc, Mutex};

use aether_actor::ActorSystem;
use common::{id, TestStore, Wallet, WalletCommand};
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// Records the names of the spans created.
#[derive(Clone, Default)]
struct SpanNames(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> Layer<S> for SpanNames {
    fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        self.0
            .lock()
            .unwrap()
            .push(attrs.metadata().name().to_owned());
    }
}

#[tokio::test(flavor = "current_thread")]
async fn asks_activations_and_appends_are_traced() -> anyhow::Result<()> {
    let names = SpanNames::default();
    let subscriber = tracing_subscriber::registry().with(names.clone());
    let _default = tracing::subscriber::set_default(subscriber);

    let system = ActorSystem::builder().store(TestStore::new()).build()?;
    let wallets = system.actors::<Wallet>();
    wallets.ask(&id("w-1"), WalletCommand::Deposit(1)).await??;
    system.shutdown().await;

    let names = names.0.lock().unwrap().clone();
    for expected in ["ask", "activate", "append"] {
        assert!(
            names.iter().any(|n| n == expected),
            "no {expected:?} span in {names:?}"
        );
    }
    Ok(())
}
