//! The derives of Aether: the names of an aggregate's events and commands, and the
//! aggregate's description, written once — by the enums themselves.
//!
//! An event's type name is stored with it, filters and upcasters match on it, and the
//! EventStorming model check compares it with the model. These derives take each name from
//! serde (the variant's serde name, after `rename` and `rename_all`), so the stored names,
//! the payloads and the descriptions agree by construction, and a name that could not be
//! stored is a compile error. Use them through the `aether` crate, which re-exports them
//! beside the traits they implement:
//!
//! ```
//! # extern crate aether_core as aether; // what `aether` re-exports, for this crate's tests
//! use aether::{CommandNames, DescribeAggregate, EventKind, EventNames};
//! use aether_macros::{CommandNames, DescribeAggregate, EventNames};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, EventNames)]
//! #[serde(rename_all = "snake_case")]
//! enum AccountEvent {
//!     Opened { owner: String },
//!     Deposited(u64),
//!     #[serde(rename = "closed.v2")]
//!     Closed,
//! }
//!
//! #[derive(Serialize, Deserialize, CommandNames)]
//! enum AccountCommand { Open { owner: String }, Deposit(u64), Close }
//!
//! #[derive(DescribeAggregate)]
//! // With an `Aggregate` implementation, `command` and `event` come from it: leave them out.
//! #[aether(type_name = "Account", command = AccountCommand, event = AccountEvent)]
//! struct Account;
//!
//! assert_eq!(AccountEvent::EVENT_NAMES, ["opened", "deposited", "closed.v2"]);
//! assert_eq!(AccountEvent::Deposited(5).event_type(), "deposited");
//! assert_eq!(AccountEvent::Closed.kind(), AccountEventKind::Closed);
//! assert_eq!(AccountEventKind::ALL.len(), 3);
//! assert_eq!(AccountEventKind::Opened.event_type(), "opened");
//! assert_eq!(AccountCommand::Close.command_name(), "Close");
//! assert_eq!(Account::describe().events, ["opened", "deposited", "closed.v2"]);
//! ```
//!
//! # The `#[aether(..)]` attribute
//!
//! On the deriving type; each derive reads the keys that concern it, and an unknown key is
//! an error.
//!
//! | key | derive | meaning |
//! |-----|--------|---------|
//! | `crate = "path"` | all | where the traits live: the generated code names `path::EventNames` and so on (default `::aether`) |
//! | `kind = "Name"` | [`EventNames`](derive@EventNames) on an enum | the name of the generated kind enum (default `<Enum>Kind`) |
//! | `type_name = "Name"` | [`DescribeAggregate`](derive@DescribeAggregate) | the aggregate's stored type name: required |
//! | `command = Type, event = Type` | [`DescribeAggregate`](derive@DescribeAggregate) | the types whose names are described, both or neither (default: the `Aggregate` implementation's) |
//!
//! # Compile errors
//!
//! Each at the variant or attribute concerned: a union; a variant serde skips when
//! serializing (it could never be stored) or deserializing (it could never be read back);
//! two variants with one serde name; a name that is empty, longer than 256 bytes or has
//! control characters; a missing or unusable `type_name`; `command` without `event` or the
//! reverse; an unknown `#[aether]` key, or `#[aether]` on a variant or a field. Errors in
//! `#[serde(..)]` attributes are reported too, as serde reports them.

mod attrs;
mod errors;
mod expand;
mod names;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// Implements `EventNames` for an enum (one event type per variant) or a struct (one event
/// type), with serde's names, and beside an enum generates its kind enum.
///
/// For `enum AccountEvent { .. }` with visibility `V`, it generates:
///
/// * `impl EventNames for AccountEvent`: `EVENT_NAMES` lists the variants' serde names in
///   declaration order; `event_type()` returns the value's;
/// * `V enum AccountEventKind { .. }` (named by `#[aether(kind = "..")]` if given): one
///   fieldless variant per event variant, with the same identifiers, deriving `Clone`,
///   `Copy`, `Debug`, `PartialEq`, `Eq`, `Hash`, `PartialOrd` and `Ord`, implementing
///   `EventKind` with the same names, and with `V const ALL: &'static [AccountEventKind]`
///   (every kind, in declaration order);
/// * `V fn kind(&self) -> AccountEventKind` on `AccountEvent`.
///
/// The event enum may be generic; the kind enum is not. The kind enum lets pass the lints
/// the event enum lets pass (its `allow` and `expect` attributes, as `allow`). An enum named
/// `Event` gets `EventKind`, which clashes with the trait where that is imported: name the
/// kind enum otherwise with `kind`. A struct gets the `EventNames` implementation only
/// (`EVENT_NAMES` is its one serde name).
#[proc_macro_derive(EventNames, attributes(aether))]
pub fn derive_event_names(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::event_names(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Implements `CommandNames` for an enum (one command per variant) or a struct (one
/// command): `COMMAND_NAMES` lists the serde names in declaration order, `command_name()`
/// returns the value's.
#[proc_macro_derive(CommandNames, attributes(aether))]
pub fn derive_command_names(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::command_names(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Implements `DescribeAggregate` for an aggregate's behaviour type (a struct or an enum).
///
/// `#[aether(type_name = "Account")]` is required: the type name is stored with every
/// event, so it is written out rather than taken from the Rust type, which may be renamed.
/// `command_names()` and `event_names()` return the `COMMAND_NAMES` of the type's
/// `Aggregate::Command` and the `EVENT_NAMES` of its `Aggregate::Event`, or of the types
/// given as `#[aether(command = .., event = ..)]`. A generic type gets the bound
/// `Self: Aggregate` (and names for its types) unless the types are given.
#[proc_macro_derive(DescribeAggregate, attributes(aether))]
pub fn derive_describe_aggregate(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::describe_aggregate(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
