//! Command identity: the hash and variant name recorded for caller-supplied command ids,
//! and the lookup of a command in an actor's stored history.

use std::time::Duration;

use futures::StreamExt;
use uuid::Uuid;

use crate::error::Result;
use crate::event::Event;
use crate::id::ActorId;
use crate::store::EventStore;
use crate::version::Version;

/// The 64-bit hash Aether records for a command whose id the caller supplied: XXH3-64 with
/// seed 0 (the `xxhash-rust` crate) of the command's MessagePack encoding with field names.
/// Stable across processes, machines and versions of Aether, so a reader in another
/// language can recompute it. Commands must therefore encode deterministically: use
/// `BTreeMap`, not `HashMap`, in command types.
///
/// ```
/// // The XXH3-64 test vector of the empty input.
/// assert_eq!(aether_core::support::command_hash(b""), 0x2d06_8005_38d3_94c2);
/// ```
pub fn command_hash(encoding: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(encoding)
}

/// The variant name of a command from its MessagePack encoding, as serde writes an enum
/// (externally tagged): a unit variant is its name, any other variant a one-entry map from
/// its name. `None` for other encodings (a struct or a number as the command type).
///
/// ```
/// #[derive(serde::Serialize)]
/// enum Cmd { Close, Deposit { amount: u64 } }
/// let enc = |c: &Cmd| aether_core::codec::to_vec_named(c).unwrap();
/// assert_eq!(aether_core::support::command_variant(&enc(&Cmd::Close)), Some("Close"));
/// assert_eq!(aether_core::support::command_variant(&enc(&Cmd::Deposit { amount: 1 })), Some("Deposit"));
/// assert_eq!(aether_core::support::command_variant(&aether_core::codec::to_vec_named(&7u8).unwrap()), None);
/// ```
pub fn command_variant(encoding: &[u8]) -> Option<&str> {
    let (&first, rest) = encoding.split_first()?;
    match first {
        0x81 => read_str(rest),
        0xde if rest.starts_with(&[0, 1]) => read_str(&rest[2..]),
        0xdf if rest.starts_with(&[0, 0, 0, 1]) => read_str(&rest[4..]),
        _ => read_str(encoding),
    }
}

/// The header holding the hex of a command's encoded reply on its first event in record
/// format 1 (format 2 records the reply in [`CommandRecord`](crate::CommandRecord)).
pub const REPLY_HEADER: &str = "aether-reply";

/// Whether `event` is the first event of a command the actor runtime stored: it carries a
/// command record (format 2) or the reply header (format 1).
pub fn starts_a_command(event: &Event) -> bool {
    event.command.is_some() || event.metadata.headers.contains_key(REPLY_HEADER)
}

/// A MessagePack string at the start of `b`.
fn read_str(b: &[u8]) -> Option<&str> {
    let (&m, rest) = b.split_first()?;
    let (len, rest) = match m {
        0xa0..=0xbf => (usize::from(m & 0x1f), rest),
        0xd9 => (usize::from(*rest.first()?), rest.get(1..)?),
        0xda => (
            usize::from(u16::from_be_bytes(rest.get(..2)?.try_into().ok()?)),
            rest.get(2..)?,
        ),
        _ => return None,
    };
    std::str::from_utf8(rest.get(..len)?).ok()
}

/// Where a command-id lookup starts and what it costs (see [`find_command`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct LookupCost {
    /// Single-event reads of the search for the version the id's time points to.
    pub probes: u32,
    /// Events scanned (read and compared).
    pub scanned: u64,
}

/// Finds the first event `actor` stored for the command `command_id` (the first event with
/// that causation id that [starts a command](starts_a_command))
/// among its versions `1..=to` (`Version::MAX` for the whole history), looking first where
/// the id's UUID v7 time points, less `skew`, and then, if it is not there, in the rest of
/// that range. A wrong clock makes the lookup slower, never wrong: every event of the range
/// is looked at before `None` is returned.
///
/// Timestamps along an actor's history never go backwards, so the version where the time
/// points is found by a binary search over single-event reads; the scan from there is a
/// streaming read (bounded memory). An id without a v7 time is looked for from version 1.
///
/// # Errors
/// What the store's reads return.
pub async fn find_command<S: EventStore + ?Sized>(
    store: &S,
    actor: &ActorId,
    command_id: Uuid,
    skew: Duration,
    to: Version,
) -> Result<(Option<Event>, LookupCost)> {
    let mut cost = LookupCost::default();
    let latest = store.latest_version(actor).await?.min(to);
    if latest == 0 {
        return Ok((None, cost));
    }
    let start = match crate::id_millis(command_id) {
        Some(millis) => {
            let since = i128::from(millis) * 1_000_000 - skew.as_nanos() as i128;
            first_at_or_after(store, actor, latest, since, &mut cost).await?
        }
        None => 1,
    };
    if let Some(found) = scan(store, actor, start, to, command_id, &mut cost).await? {
        return Ok((Some(found), cost));
    }
    if start > 1 {
        let found = scan(store, actor, 1, start - 1, command_id, &mut cost).await?;
        return Ok((found, cost));
    }
    Ok((None, cost))
}

/// The first version in `1..=latest` stored at or after `nanos` (Unix nanoseconds), or
/// `latest + 1` when none is.
async fn first_at_or_after<S: EventStore + ?Sized>(
    store: &S,
    actor: &ActorId,
    latest: Version,
    nanos: i128,
    cost: &mut LookupCost,
) -> Result<Version> {
    let (mut lo, mut hi) = (1, latest + 1);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        cost.probes += 1;
        let at = store.read(actor, mid, mid, 1).await?;
        match at.first() {
            Some(e) if e.timestamp.unix_timestamp_nanos() >= nanos => hi = mid,
            Some(_) => lo = mid + 1,
            // Nothing there (cannot happen below `latest`): look from the start.
            None => return Ok(1),
        }
    }
    Ok(lo)
}

/// How many events a lookup reads in one request before it streams the rest: where the
/// clocks agree, the command is among the first events read.
const FIRST_PAGE: usize = 256;

async fn scan<S: EventStore + ?Sized>(
    store: &S,
    actor: &ActorId,
    from: Version,
    to: Version,
    command_id: Uuid,
    cost: &mut LookupCost,
) -> Result<Option<Event>> {
    let matches = |e: &Event| e.metadata.causation_id == Some(command_id) && starts_a_command(e);
    // One page by a plain read first (no stream set up for a short scan), then the rest
    // streamed with bounded memory.
    let mut page = store.read(actor, from, to, FIRST_PAGE).await?;
    let full = page.len() == FIRST_PAGE;
    if let Some(at) = page.iter().position(matches) {
        cost.scanned += at as u64 + 1;
        return Ok(Some(page.swap_remove(at)));
    }
    cost.scanned += page.len() as u64;
    let next = match page.last() {
        Some(last) if full && last.version < to => last.version + 1,
        _ => return Ok(None),
    };
    let mut events = store.read_stream(actor, next, to);
    while let Some(e) = events.next().await {
        let e = e?;
        cost.scanned += 1;
        if matches(&e) {
            return Ok(Some(e));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_names_are_read_from_long_maps_and_strings() {
        let long = "V".repeat(40);
        let mut enc = vec![0xde, 0, 1, 0xd9, 40];
        enc.extend_from_slice(long.as_bytes());
        enc.push(0xc0);
        assert_eq!(command_variant(&enc), Some(long.as_str()));
        assert_eq!(command_variant(&[0xdf, 0, 0, 0, 1, 0xa1, b'A']), Some("A"));
        assert_eq!(command_variant(&[]), None);
        assert_eq!(command_variant(&[0x82, 0xa1, b'A']), None);
        assert_eq!(command_variant(&[0xa3, b'a']), None, "truncated");
        assert_eq!(command_variant(&[0xa1, 0xff]), None, "not UTF-8");
    }
}
