//! A command id names one command to one actor: asking with it again for another command
//! (another variant, or the same variant with other content) is `CommandIdReused` naming
//! both variants, whether the id is remembered or found in the stored history, and runs
//! nothing. The first command's variant and hash are stored with its first event.

mod common;

use aether_actor::{ActorSystem, AskError, AskErrorKind};
use aether_core::EventStore;
use common::{history, id, Wallet, WalletCommand};

#[tokio::test]
async fn another_command_under_a_used_id_is_refused_naming_both() -> anyhow::Result<()> {
    let store = aether_store_mem::InMemoryEventStore::new(common::ns());
    for window in [64usize, 2, 0] {
        let sys = ActorSystem::builder()
            .store(store.clone())
            .recent_command_ids(window)
            .build()?;
        let wallets = sys.actors::<Wallet>();
        let w = id(&format!("w-reuse-{window}"));
        let cmd = aether_core::new_id();
        wallets
            .ask(&w, WalletCommand::Deposit(5))
            .command_id(cmd)
            .await??;
        for _ in 0..5 {
            wallets.ask(&w, WalletCommand::Deposit(1)).await??;
        }
        let err = wallets
            .ask(&w, WalletCommand::Withdraw(1))
            .command_id(cmd)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), AskErrorKind::CommandIdReused, "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("Deposit") && msg.contains("Withdraw") && msg.contains(&cmd.to_string()),
            "window {window}: {msg}"
        );
        assert!(!err.may_have_run());
        // The same variant with other content is another command too.
        let err = wallets
            .ask(&w, WalletCommand::Deposit(6))
            .command_id(cmd)
            .await
            .unwrap_err();
        match err {
            AskError::CommandIdReused { stored, asked, .. } => {
                assert_eq!((stored.as_str(), asked.as_str()), ("Deposit", "Deposit"));
            }
            other => panic!("window {window}: {other}"),
        }
        // The original command is still answered.
        assert_eq!(
            wallets
                .ask(&w, WalletCommand::Deposit(5))
                .command_id(cmd)
                .await?,
            Ok(5)
        );
        assert_eq!(store.latest_version(&w).await?, 6, "nothing more stored");
        let first = &history(&store, &w).await[0];
        let record = first.command.as_ref().expect("a command record");
        assert_eq!(record.variant.as_deref(), Some("Deposit"));
        let encoded = aether_core::codec::to_vec_named(&WalletCommand::Deposit(5))?;
        assert_eq!(
            record.hash,
            Some(aether_core::support::command_hash(&encoded))
        );
        assert_eq!(first.aggregate_type(), Some("Wallet"));
    }
    Ok(())
}

#[tokio::test]
async fn runtime_made_ids_record_no_command_fingerprint() -> anyhow::Result<()> {
    let store = aether_store_mem::InMemoryEventStore::new(common::ns());
    let sys = ActorSystem::builder().store(store.clone()).build()?;
    let w = id("w-fresh");
    sys.actors::<Wallet>()
        .ask(&w, WalletCommand::Deposit(1))
        .await??;
    let first = &history(&store, &w).await[0];
    let record = first.command.as_ref().expect("the reply is recorded");
    assert_eq!((record.variant.as_deref(), record.hash), (None, None));
    let reply: u64 = aether_core::codec::from_slice(&record.reply)?;
    assert_eq!(reply, 1);
    assert!(
        first.metadata.headers.is_empty(),
        "no reply header in format 2"
    );
    Ok(())
}
