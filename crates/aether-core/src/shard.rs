//! Lock striping helper.

/// Picks one of `shards` lock stripes for `key` with a cheap keyed hash of its bytes (a
/// multiply-rotate over 8-byte words). `seed` should be random per instance, so keys chosen
/// by an outsider cannot all land on one stripe. Not a strong hash: use it to spread keys
/// over locks (as the in-memory store and the actor runtime do), never for security or for
/// anything stored or sent between nodes (it is not stable across seeds).
///
/// `shards` must not be 0.
///
/// ```
/// let i = aether_core::support::shard_index(42, "acc-alice", 64);
/// assert!(i < 64);
/// assert_eq!(i, aether_core::support::shard_index(42, "acc-alice", 64));
/// ```
pub fn shard_index(seed: u64, key: &str, shards: usize) -> usize {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = seed ^ key.len() as u64;
    let mut words = key.as_bytes().chunks_exact(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(b)).wrapping_mul(K);
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut b = [0u8; 8];
        b[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(b)).wrapping_mul(K);
    }
    ((h ^ (h >> 29)) as usize) % shards
}

/// A random seed for [`shard_index`], different for every call (from the standard library's
/// randomly keyed hasher).
///
/// ```
/// let seed = aether_core::support::shard_seed();
/// assert!(aether_core::support::shard_index(seed, "acc-alice", 8) < 8);
/// ```
pub fn shard_seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(0u8)
}
