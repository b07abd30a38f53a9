//! Aether's event-sourced actor runtime (local). Most users reach it through the `aether`
//! facade; see the `aether` crate for the stable API.
//!
//! An actor is an [`Aggregate`]: it decides events from a command and folds them into its
//! state. The [`ActorSystem`] activates an actor on first use (newest snapshot plus the
//! events after it), runs one command at a time per actor from a bounded mailbox, appends
//! the decided events atomically at the expected version, broadcasts them once stored,
//! replies, snapshots every N events and passivates idle actors. A version conflict
//! re-reads and decides again a bounded number of times; a command id the actor has
//! already stored events for is answered with the original reply without running it again.
//!
//! Used without the facade, the derives of `aether-macros` name the traits through
//! `aether_core` (`#[aether(crate = "aether_core")]`), and `DescribeAggregate` takes the
//! command and event types explicitly:
//!
//! ```
//! use aether_actor::{ActorSystem, Aggregate};
//! use aether_core::{ActorId, Namespace};
//! use aether_macros::{CommandNames, DescribeAggregate, EventNames};
//! use aether_store_mem::InMemoryEventStore;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Default, DescribeAggregate)]
//! #[aether(crate = "aether_core", type_name = "Account", command = Command, event = AccountEvent)]
//! struct Account;
//!
//! #[derive(Debug, Serialize, Deserialize, CommandNames)]
//! #[aether(crate = "aether_core")]
//! enum Command { Deposit(u64), Withdraw(u64) }
//! #[derive(Serialize, Deserialize, EventNames)]
//! #[aether(crate = "aether_core")]
//! enum AccountEvent { Deposited(u64), Withdrawn(u64) }
//! #[derive(Debug, PartialEq, Serialize, Deserialize)]
//! enum Rejection { InsufficientFunds { balance: u64 } }
//!
//! impl Aggregate for Account {
//!     type Command = Command;
//!     type Event = AccountEvent;
//!     type State = u64; // the balance
//!     type Reply = u64; // the new balance
//!     type Error = Rejection;
//!
//!     fn decide(&self, balance: &u64, c: &Command) -> Result<(Vec<AccountEvent>, u64), Rejection> {
//!         match *c {
//!             Command::Deposit(n) => Ok((vec![AccountEvent::Deposited(n)], balance + n)),
//!             Command::Withdraw(n) if n > *balance => Err(Rejection::InsufficientFunds { balance: *balance }),
//!             Command::Withdraw(n) => Ok((vec![AccountEvent::Withdrawn(n)], balance - n)),
//!         }
//!     }
//!     fn apply(balance: &mut u64, e: &AccountEvent) {
//!         match e { AccountEvent::Deposited(n) => *balance += n, AccountEvent::Withdrawn(n) => *balance -= n }
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> anyhow::Result<()> {
//! let system = ActorSystem::builder()
//!     .store(InMemoryEventStore::new(Namespace::new("bank")?))
//!     .build()?;
//! let accounts = system.actors::<Account>();
//! let alice = ActorId::new("acc-alice")?;
//! assert_eq!(accounts.ask(&alice, Command::Deposit(100)).await?, Ok(100));
//! assert_eq!(
//!     accounts.ask(&alice, Command::Withdraw(500)).await?,
//!     Err(Rejection::InsufficientFunds { balance: 100 })
//! );
//! system.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! See `docs/actors.md` in the repository for how activation, the mailbox, conflict
//! retries, idempotency, passivation, snapshots and upcasting work.

mod actor;
mod aggregate;
mod command_ids;
mod error;
mod mailbox;
mod system;
pub mod testing;

pub use actor::{REPLY_HEADER, SCHEMA_HEADER};
pub use aggregate::Aggregate;
pub use error::{AskError, AskErrorKind};
pub use system::{ActorStats, ActorSystem, ActorSystemBuilder, Actors, Ask, AskFuture, AskResult};
pub use testing::{assert_description, AggregateOutcome, AggregateTest};
