//! The given/when/then helper decides a command against the state of the given events.

mod common;

use aether_actor::AggregateTest;
use common::{Wallet, WalletCommand, WalletError, WalletEvent};

#[test]
fn an_accepted_command_shows_its_events_reply_and_state() {
    AggregateTest::<Wallet>::given([WalletEvent::Deposited { amount: 10 }])
        .when(WalletCommand::Withdraw(4))
        .then_expect_events([WalletEvent::Withdrawn { amount: 4 }])
        .then_expect_reply(6)
        .then_expect_state(|s| assert_eq!((s.balance, s.events), (6, 2)));
}

#[test]
fn a_rejected_command_shows_its_domain_error() {
    AggregateTest::<Wallet>::given([WalletEvent::Deposited { amount: 1 }])
        .when(WalletCommand::Withdraw(4))
        .then_expect_error(WalletError::InsufficientFunds {
            balance: 1,
            wanted: 4,
        })
        .then_expect_state(|s| assert_eq!(s.balance, 1));
}

#[test]
#[should_panic(expected = "decided events")]
fn a_wrong_expectation_fails_the_test() {
    AggregateTest::<Wallet>::given([])
        .when(WalletCommand::Deposit(1))
        .then_expect_events([WalletEvent::Deposited { amount: 2 }]);
}
