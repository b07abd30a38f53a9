//! EventStorming models for Aether: write the domain model down, check it, look at it, and
//! keep it honest against the aggregates the code actually runs.
//!
//! * the vocabulary of an EventStorming board as plain data: a [`Model`] (the domain) with
//!   [`Person`]s, [`ExternalSystem`]s, [`BoundedContext`]s holding [`Aggregate`]s with their
//!   [`Command`]s and [`DomainEvent`]s, [`Policy`]s, [`ReadModel`]s and [`Hotspot`]s, each
//!   with a description; build it in code with consuming builders, or load and save it as
//!   TOML or JSON ([`Model::load`], [`Model::save`]); a malformed file gives a
//!   [`ParseError`] with line, column and field path (from [`Model::load`], as the
//!   `source()` of a [`ModelError`] that names the file);
//! * validation ([`Model::validate`]): every [`Finding`] at once, each with a [`Severity`],
//!   a [`Code`] and a [`Location`];
//! * rendering: a Mermaid flowchart in the EventStorming colours ([`Model::to_mermaid`]), a
//!   Markdown page ([`Model::to_markdown`]) and a text summary ([`Model::summary`]);
//! * the check against code ([`Model::check_against`]) through the
//!   [`DescribeAggregate`](aether_core::DescribeAggregate) descriptions of aggregates.
//!
//! Most users reach it through the `aether` facade with the `model` feature, as
//! `aether::model`.
//!
//! ```
//! use aether_core::DescribeAggregate;
//! use aether_model::{Aggregate, BoundedContext, Command, Model, Policy, ReadModel};
//!
//! let model = Model::new("Bank")
//!     .person("Customer")
//!     .context(
//!         BoundedContext::new("Banking")
//!             .aggregate(
//!                 Aggregate::new("Account")
//!                     .command(Command::new("OpenAccount").issued_by("Customer").emits("AccountOpened"))
//!                     .command(Command::new("DepositMoney").issued_by("Customer").emits("MoneyDeposited"))
//!                     .event("AccountOpened")
//!                     .event("MoneyDeposited"),
//!             )
//!             .read_model(ReadModel::new("AccountBalances").fed_by("AccountOpened").fed_by("MoneyDeposited")),
//!     );
//! assert!(model.validate().is_empty());
//!
//! // Files: TOML for people, JSON for tools; both round-trip.
//! let toml = model.to_toml_string()?;
//! assert_eq!(Model::from_toml_str(&toml)?, model);
//!
//! // A diagram to look at.
//! assert!(model.to_mermaid().contains(r#"["AccountOpened"]:::event"#));
//!
//! // Does the code agree?
//! struct Account;
//! impl DescribeAggregate for Account {
//!     const TYPE_NAME: &'static str = "Account";
//!     fn command_names() -> &'static [&'static str] { &["OpenAccount", "DepositMoney"] }
//!     fn event_names() -> &'static [&'static str] { &["AccountOpened", "MoneyDeposited"] }
//! }
//! assert!(model.check_against(&[Account::describe()]).is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod analysis;
mod check;
mod file;
mod model;
mod render;
mod validate;

pub use file::{Format, ModelError, ParseError};
pub use model::{
    Aggregate, BoundedContext, Command, DomainEvent, ExternalSystem, Hotspot, Model, Person,
    Policy, ReadModel,
};
pub use render::escape_mermaid_label;
pub use validate::{Code, Finding, Location, Severity};
