//! Helpers for the implementers of Aether's contracts (event stores, broadcasters, the
//! runtime) and for Aether's own crates: one home for each policy they share.
//!
//! Applications rarely need this module. It holds:
//! - the retry policy: [`Backoff`] and [`retry_until`], used by every retry loop of the
//!   stores and the test kit;
//! - locks that ignore poisoning: [`lock`], [`read`](read()), [`write`](write());
//! - the command-record helpers a store uses to answer command-id lookups
//!   ([`find_command`], [`starts_a_command`], [`REPLY_HEADER`], ...);
//! - subject-token encoding of ids ([`encode_token`], [`decode_token`]) and the shard
//!   function ([`shard_index`]).
//!
//! ```
//! use std::time::Duration;
//! use aether_core::{support::retry_until, Error};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
//! let mut tries = 0;
//! let answer = retry_until(deadline, Error::is_transient, || {
//!     tries += 1;
//!     let now = tries;
//!     async move {
//!         if now < 3 { Err(Error::timeout("not yet")) } else { Ok(now) }
//!     }
//! })
//! .await;
//! assert_eq!(answer.unwrap(), 3);
//! # }
//! ```

mod retry;
mod server_version;
mod sync;

pub use crate::command::{
    command_hash, command_variant, find_command, starts_a_command, LookupCost, REPLY_HEADER,
};
pub use crate::id::{decode_token, encode_token, encode_token_into};
pub use crate::shard::{shard_index, shard_seed};
pub use retry::{retry_until, retry_with, Backoff};
pub use server_version::*;
pub use sync::{lock, read, write};
