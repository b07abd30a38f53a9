//! The bank example's domain (`examples/bank/domain.rs`): its self-description and its
//! decisions, checked with the given/when/then helper and on a real actor system.

#[path = "../examples/bank/domain.rs"]
mod domain;

use aether::{
    ActorId, ActorSystem, AggregateTest, DescribeAggregate, InMemoryEventStore, Namespace,
};
use domain::*;

#[test]
fn the_aggregates_describe_themselves_in_the_bank_vocabulary() {
    let account = Account::describe();
    assert_eq!(account.type_name, "Account");
    assert_eq!(
        account.commands,
        ["OpenAccount", "DepositMoney", "WithdrawMoney"]
    );
    assert_eq!(
        account.events,
        ["AccountOpened", "MoneyDeposited", "MoneyWithdrawn"]
    );
    let transfer = Transfer::describe();
    assert_eq!(transfer.type_name, "Transfer");
    assert_eq!(
        transfer.commands,
        [
            "StartTransfer",
            "RecordDebit",
            "RecordCredit",
            "FailTransfer"
        ]
    );
    assert_eq!(
        transfer.events,
        [
            "TransferStarted",
            "TransferDebited",
            "TransferCompleted",
            "TransferFailed"
        ]
    );
}

fn opened() -> AccountEvent {
    AccountEvent::AccountOpened {
        owner: "Alice".into(),
    }
}

#[test]
fn an_overdraft_is_a_rejection_not_an_event() {
    AggregateTest::<Account>::given([
        opened(),
        AccountEvent::MoneyDeposited {
            amount: 10,
            transfer: None,
        },
    ])
    .when(AccountCommand::WithdrawMoney {
        amount: 11,
        transfer: None,
    })
    .then_expect_error(AccountError::InsufficientFunds {
        balance: 10,
        requested: 11,
    })
    .then_expect_state(|s| assert_eq!(s.balance, 10));
    AggregateTest::<Account>::given([opened()])
        .when(AccountCommand::DepositMoney {
            amount: 5,
            transfer: Some("tr-1".into()),
        })
        .then_expect_events([AccountEvent::MoneyDeposited {
            amount: 5,
            transfer: Some("tr-1".into()),
        }])
        .then_expect_reply(Balance { balance: 5 });
    AggregateTest::<Account>::given([])
        .when(AccountCommand::DepositMoney {
            amount: 5,
            transfer: None,
        })
        .then_expect_error(AccountError::NotOpen);
}

#[test]
fn a_transfer_moves_through_its_states_in_order() {
    let started = TransferEvent::TransferStarted {
        from: "acc-a".into(),
        to: "acc-b".into(),
        amount: 7,
    };
    AggregateTest::<Transfer>::given([])
        .when(TransferCommand::StartTransfer {
            from: "acc-a".into(),
            to: "acc-b".into(),
            amount: 7,
        })
        .then_expect_events([started.clone()]);
    AggregateTest::<Transfer>::given([started.clone()])
        .when(TransferCommand::RecordDebit)
        .then_expect_events([TransferEvent::TransferDebited {
            to: "acc-b".into(),
            amount: 7,
        }]);
    AggregateTest::<Transfer>::given([started.clone()])
        .when(TransferCommand::RecordCredit)
        .then_expect_error(TransferError::InvalidTransition {
            status: TransferStatus::Started,
            command: "RecordCredit".into(),
        });
    AggregateTest::<Transfer>::given([started])
        .when(TransferCommand::FailTransfer {
            reason: "no money".into(),
        })
        .then_expect_reply(TransferStatus::Failed);
    AggregateTest::<Transfer>::given([])
        .when(TransferCommand::StartTransfer {
            from: "acc-a".into(),
            to: "acc-a".into(),
            amount: 7,
        })
        .then_expect_error(TransferError::SameAccount);
}

#[tokio::test]
async fn accounts_run_embedded_in_a_few_lines() -> anyhow::Result<()> {
    let system = ActorSystem::builder()
        .store(InMemoryEventStore::new(Namespace::new("bank")?))
        .build()?;
    let accounts = system.actors::<Account>();
    let alice = ActorId::new("acc-alice")?;
    accounts
        .ask(
            &alice,
            AccountCommand::OpenAccount {
                owner: "Alice".into(),
            },
        )
        .await??;
    let b = accounts
        .ask(
            &alice,
            AccountCommand::DepositMoney {
                amount: 100,
                transfer: None,
            },
        )
        .await??;
    assert_eq!(b, Balance { balance: 100 });
    let refused = accounts
        .ask(
            &alice,
            AccountCommand::WithdrawMoney {
                amount: 500,
                transfer: None,
            },
        )
        .await?;
    assert_eq!(
        refused,
        Err(AccountError::InsufficientFunds {
            balance: 100,
            requested: 500
        })
    );
    system.shutdown().await;
    Ok(())
}
