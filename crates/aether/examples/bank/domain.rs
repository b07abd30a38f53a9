//! The bank domain of the `bank` example: two aggregates, `Account` and `Transfer`.
//!
//! This file depends only on `aether` and `serde`, so other code (for instance a test
//! comparing the EventStorming model of the bank with the code) can include it with
//! `#[path = ".../crates/aether/examples/bank/domain.rs"] mod domain;` and call
//! `domain::Account::describe()` and `domain::Transfer::describe()`.
//!
//! Amounts are in cents. Domain errors (an overdraft, a transfer in the wrong state) are
//! replies, not events: a rejected command stores nothing.
// Each includer uses a different part of the domain, and in a binary `pub` reaches no one.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "shared by the example and its JetStream test, which use different parts"
)]

use std::fmt;

use aether::prelude::*;
use serde::{Deserialize, Serialize};

/// Formats cents as `123.45`.
pub fn money(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

// ---------------------------------------------------------------------------------------
// Account
// ---------------------------------------------------------------------------------------

/// A bank account (actor ids like `acc-alice`). Its type name is stored with each of its
/// events, so it is written out rather than taken from the Rust name.
#[derive(Debug, Default, Clone, Copy, DescribeAggregate)]
#[aether(type_name = "Account")]
pub struct Account;

/// What a customer (or a policy) asks an account to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, CommandNames)]
pub enum AccountCommand {
    /// Opens the account for `owner`.
    OpenAccount { owner: String },
    /// Adds money; `transfer` names the transfer it belongs to, if any.
    DepositMoney {
        amount: u64,
        transfer: Option<String>,
    },
    /// Takes money out; refused when the balance is too low.
    WithdrawMoney {
        amount: u64,
        transfer: Option<String>,
    },
}

/// What happened to an account. The derive names each event after its variant and adds
/// `AccountEventKind` for typed filters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, EventNames)]
pub enum AccountEvent {
    /// The account was opened.
    AccountOpened { owner: String },
    /// Money came in.
    MoneyDeposited {
        amount: u64,
        transfer: Option<String>,
    },
    /// Money went out.
    MoneyWithdrawn {
        amount: u64,
        transfer: Option<String>,
    },
}

/// An account's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountState {
    /// The owner, once opened.
    pub owner: Option<String>,
    /// The balance in cents.
    pub balance: u64,
}

/// The reply to an accepted account command.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    /// The balance in cents after the command.
    pub balance: u64,
}

/// Why an account refused a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountError {
    /// The account is already open.
    AlreadyOpen,
    /// The account has not been opened.
    NotOpen,
    /// Amounts must be positive.
    ZeroAmount,
    /// The balance does not cover the withdrawal.
    InsufficientFunds { balance: u64, requested: u64 },
}

impl fmt::Display for AccountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccountError::AlreadyOpen => f.write_str("the account is already open"),
            AccountError::NotOpen => f.write_str("the account is not open"),
            AccountError::ZeroAmount => f.write_str("the amount must be positive"),
            AccountError::InsufficientFunds { balance, requested } => write!(
                f,
                "insufficient funds: balance {}, requested {}",
                money(*balance),
                money(*requested)
            ),
        }
    }
}

impl std::error::Error for AccountError {}

impl Aggregate for Account {
    type Command = AccountCommand;
    type Event = AccountEvent;
    type State = AccountState;
    type Reply = Balance;
    type Error = AccountError;

    /// The reply is the balance after the command: `decide` leaves it to [`reply`], which
    /// reads it from the new state.
    ///
    /// [`reply`]: Aggregate::reply
    fn decide(
        &self,
        s: &AccountState,
        command: &AccountCommand,
    ) -> Result<(Vec<AccountEvent>, Balance), AccountError> {
        match command {
            AccountCommand::OpenAccount { owner } => {
                if s.owner.is_some() {
                    return Err(AccountError::AlreadyOpen);
                }
                let opened = AccountEvent::AccountOpened {
                    owner: owner.clone(),
                };
                Ok((vec![opened], Balance::default()))
            }
            AccountCommand::DepositMoney { amount, transfer } => {
                s.owner.as_ref().ok_or(AccountError::NotOpen)?;
                if *amount == 0 {
                    return Err(AccountError::ZeroAmount);
                }
                let e = AccountEvent::MoneyDeposited {
                    amount: *amount,
                    transfer: transfer.clone(),
                };
                Ok((vec![e], Balance::default()))
            }
            AccountCommand::WithdrawMoney { amount, transfer } => {
                s.owner.as_ref().ok_or(AccountError::NotOpen)?;
                if *amount == 0 {
                    return Err(AccountError::ZeroAmount);
                }
                if *amount > s.balance {
                    return Err(AccountError::InsufficientFunds {
                        balance: s.balance,
                        requested: *amount,
                    });
                }
                let e = AccountEvent::MoneyWithdrawn {
                    amount: *amount,
                    transfer: transfer.clone(),
                };
                Ok((vec![e], Balance::default()))
            }
        }
    }

    fn apply(s: &mut AccountState, event: &AccountEvent) {
        match event {
            AccountEvent::AccountOpened { owner } => s.owner = Some(owner.clone()),
            AccountEvent::MoneyDeposited { amount, .. } => s.balance += amount,
            AccountEvent::MoneyWithdrawn { amount, .. } => s.balance -= amount,
        }
    }

    fn reply(&self, s: &AccountState, _decided: Balance) -> Balance {
        Balance { balance: s.balance }
    }
}

// ---------------------------------------------------------------------------------------
// Transfer
// ---------------------------------------------------------------------------------------

/// A transfer between two accounts (actor ids like `tr-0001`), driven by policies.
#[derive(Debug, Default, Clone, Copy, DescribeAggregate)]
#[aether(type_name = "Transfer")]
pub struct Transfer;

/// What a transfer is asked to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, CommandNames)]
pub enum TransferCommand {
    /// A customer starts moving `amount` from one account to another.
    StartTransfer {
        from: String,
        to: String,
        amount: u64,
    },
    /// The source account was debited.
    RecordDebit,
    /// The target account was credited.
    RecordCredit,
    /// The transfer cannot go on (for instance the debit was refused).
    FailTransfer { reason: String },
}

/// What happened to a transfer.
#[allow(
    clippy::enum_variant_names,
    reason = "the names are the domain's shared vocabulary"
)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, EventNames)]
pub enum TransferEvent {
    /// The transfer was started.
    TransferStarted {
        from: String,
        to: String,
        amount: u64,
    },
    /// The money left the source account; it is now to be credited to `to`.
    TransferDebited { to: String, amount: u64 },
    /// The money arrived.
    TransferCompleted,
    /// The transfer failed.
    TransferFailed { reason: String },
}

/// Where a transfer stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferStatus {
    /// Not started.
    #[default]
    New,
    /// Started; waiting for the debit.
    Started,
    /// Debited; waiting for the credit.
    Debited,
    /// Done.
    Completed,
    /// Failed.
    Failed,
}

/// A transfer's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TransferState {
    /// Where it stands.
    pub status: TransferStatus,
    /// Source account.
    pub from: String,
    /// Target account.
    pub to: String,
    /// Amount in cents.
    pub amount: u64,
}

/// Why a transfer refused a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferError {
    /// The command does not fit the transfer's status.
    InvalidTransition {
        status: TransferStatus,
        command: String,
    },
    /// Source and target are the same account.
    SameAccount,
    /// Amounts must be positive.
    ZeroAmount,
}

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransferError::InvalidTransition { status, command } => {
                write!(f, "{command} is not allowed in status {status:?}")
            }
            TransferError::SameAccount => f.write_str("source and target are the same account"),
            TransferError::ZeroAmount => f.write_str("the amount must be positive"),
        }
    }
}

impl std::error::Error for TransferError {}

impl Aggregate for Transfer {
    type Command = TransferCommand;
    type Event = TransferEvent;
    type State = TransferState;
    type Reply = TransferStatus;
    type Error = TransferError;

    fn decide(
        &self,
        s: &TransferState,
        command: &TransferCommand,
    ) -> Result<(Vec<TransferEvent>, TransferStatus), TransferError> {
        use TransferStatus as S;
        let invalid = || TransferError::InvalidTransition {
            status: s.status.clone(),
            command: command.command_name().to_owned(),
        };
        match (command, &s.status) {
            (TransferCommand::StartTransfer { from, to, amount }, S::New) => {
                if from == to {
                    return Err(TransferError::SameAccount);
                }
                if *amount == 0 {
                    return Err(TransferError::ZeroAmount);
                }
                let e = TransferEvent::TransferStarted {
                    from: from.clone(),
                    to: to.clone(),
                    amount: *amount,
                };
                Ok((vec![e], S::Started))
            }
            (TransferCommand::RecordDebit, S::Started) => {
                let e = TransferEvent::TransferDebited {
                    to: s.to.clone(),
                    amount: s.amount,
                };
                Ok((vec![e], S::Debited))
            }
            (TransferCommand::RecordCredit, S::Debited) => {
                Ok((vec![TransferEvent::TransferCompleted], S::Completed))
            }
            (TransferCommand::FailTransfer { reason }, S::Started) => {
                let e = TransferEvent::TransferFailed {
                    reason: reason.clone(),
                };
                Ok((vec![e], S::Failed))
            }
            _ => Err(invalid()),
        }
    }

    fn apply(s: &mut TransferState, event: &TransferEvent) {
        match event {
            TransferEvent::TransferStarted { from, to, amount } => {
                s.status = TransferStatus::Started;
                s.from = from.clone();
                s.to = to.clone();
                s.amount = *amount;
            }
            TransferEvent::TransferDebited { .. } => s.status = TransferStatus::Debited,
            TransferEvent::TransferCompleted => s.status = TransferStatus::Completed,
            TransferEvent::TransferFailed { .. } => s.status = TransferStatus::Failed,
        }
    }
}
