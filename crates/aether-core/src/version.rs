//! Actor versions and append expectations.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// An actor's version: the number of events it has. Versions start at 1 and are contiguous;
/// 0 means the actor has no events.
pub type Version = u64;

/// What a writer expects of the actor's version when it appends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ExpectedVersion {
    /// The actor must be exactly at this version; `Exact(0)` means it must not exist yet.
    Exact(Version),
    /// Whatever the version is. Still a compare-and-set: the store appends right after the
    /// version it reads, and retries if another writer got there first. Never a blind write.
    Any,
}

impl ExpectedVersion {
    /// `Exact(0)`: the actor must have no events.
    pub const NO_ACTOR: ExpectedVersion = ExpectedVersion::Exact(0);

    /// Whether an actor at `actual` satisfies this expectation.
    pub fn matches(self, actual: Version) -> bool {
        match self {
            ExpectedVersion::Exact(v) => v == actual,
            ExpectedVersion::Any => true,
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::Exact(0) => f.write_str("no events (version 0)"),
            ExpectedVersion::Exact(v) => write!(f, "version {v}"),
            ExpectedVersion::Any => f.write_str("any version"),
        }
    }
}

/// An opaque position in a store, recorded in snapshots so that a replay can start right
/// after them. Its meaning belongs to the store that produced it (a stream sequence for
/// JetStream); `StorePosition::UNKNOWN` (0) means "no hint, replay by version".
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
pub struct StorePosition(pub u64);

impl StorePosition {
    /// No position known.
    pub const UNKNOWN: StorePosition = StorePosition(0);
}

/// The result of a successful append. More may be said about an append later (a
/// namespace-wide position, for instance): build one with [`Appended::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Appended {
    /// The version of the first event stored by this append.
    pub first_version: Version,
    /// The actor's new version (the version of the last event stored).
    pub version: Version,
    /// Where the last event was stored (store-specific; see [`StorePosition`]).
    pub position: StorePosition,
    /// Whether this call stored nothing because the same events were already stored
    /// (an idempotent retry).
    pub duplicate: bool,
    /// The timestamp the store gave the events (for a duplicate, the one they were stored
    /// with), so that the stored form of the appended events can be rebuilt exactly from
    /// them without reading them back; `None` when the store cannot tell.
    pub timestamp: Option<OffsetDateTime>,
}

impl Appended {
    /// A new append of the events `first_version..=version`, the last stored at
    /// `position`, with the events' `timestamp` when the store knows it.
    ///
    /// ```
    /// use aether_core::{Appended, StorePosition};
    /// let a = Appended::new(1, 3, StorePosition(7), None);
    /// assert!(!a.duplicate);
    /// assert!(a.as_duplicate().duplicate);
    /// ```
    pub fn new(
        first_version: Version,
        version: Version,
        position: StorePosition,
        timestamp: Option<OffsetDateTime>,
    ) -> Self {
        Appended {
            first_version,
            version,
            position,
            duplicate: false,
            timestamp,
        }
    }

    /// The same result, for an append that stored nothing because its events were already
    /// stored (an idempotent retry).
    pub fn as_duplicate(mut self) -> Self {
        self.duplicate = true;
        self
    }
}
