//! Cheap UUID v7 ids for events and commands.
//!
//! A UUID v7 is a millisecond Unix timestamp followed by 74 bits for uniqueness. Here they
//! come from a per-thread [`fastrand`] generator (64 bits of state) seeded once per thread
//! from the operating system's entropy (through a random UUID v4), which is several times
//! cheaper than a cryptographic generator behind a shared monotonic context. Ids need to be
//! unique, not secret: two threads repeat each other only if their 64-bit seeds meet. Unlike
//! [`Uuid::now_v7`], ids made in the same millisecond are not ordered among themselves;
//! nothing in Aether orders events by id (versions order them).

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use uuid::Uuid;

/// A fresh UUID v7: what [`NewEvent::new`](crate::NewEvent::new) gives an event and the
/// actor runtime a command.
///
/// ```
/// let id = aether_core::new_id();
/// assert_eq!(id.get_version_num(), 7);
/// assert_ne!(id, aether_core::new_id());
/// ```
pub fn new_id() -> Uuid {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    new_id_at(millis)
}

/// A fresh UUID v7 stamped `millis` (milliseconds since the Unix epoch).
pub fn new_id_at(millis: u64) -> Uuid {
    thread_local! {
        // Seeded from the OS: fastrand's own thread seed hashes only the clock and thread id.
        static RNG: RefCell<fastrand::Rng> =
            RefCell::new(fastrand::Rng::with_seed(Uuid::new_v4().as_u64_pair().0));
    }
    let random = RNG.with(|rng| rng.borrow_mut().u128(..)).to_le_bytes();
    let mut bytes = [0u8; 10];
    bytes.copy_from_slice(&random[..10]);
    uuid::Builder::from_unix_timestamp_millis(millis, &bytes).into_uuid()
}

/// The millisecond timestamp of a UUID v7, if `id` is one: its first 48 bits.
pub fn id_millis(id: Uuid) -> Option<u64> {
    let b = id.as_bytes();
    (b[6] >> 4 == 7).then(|| u64::from_be_bytes([0, 0, b[0], b[1], b[2], b[3], b[4], b[5]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_v7_unique_and_carry_the_time() {
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let ids: Vec<Uuid> = (0..10_000).map(|_| new_id()).collect();
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
        for id in &ids {
            assert_eq!(id.get_version_num(), 7);
            assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
            let millis = id_millis(*id).unwrap();
            assert_eq!(id_millis(new_id_at(millis)), Some(millis));
            assert!(millis >= before && millis <= before + 60_000, "{id}");
        }
    }

    #[test]
    fn threads_make_different_ids() {
        let per_thread: Vec<Vec<Uuid>> = (0..8)
            .map(|_| std::thread::spawn(|| (0..2_000).map(|_| new_id()).collect()))
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        let all: std::collections::HashSet<Uuid> = per_thread.iter().flatten().copied().collect();
        assert_eq!(all.len(), 8 * 2_000);
    }
}
