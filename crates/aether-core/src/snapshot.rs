//! [`ActorSnapshot`]: a saved actor state at a version.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::id::ActorId;
use crate::version::{StorePosition, Version};

/// An actor's state saved at a version, so that activation replays only the later events.
///
/// More may be recorded with a snapshot later: build one with [`ActorSnapshot::new`] and set
/// [`position`](Self::position) or [`timestamp`](Self::timestamp) on the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ActorSnapshot {
    /// The actor.
    pub actor_id: ActorId,
    /// The actor version the state includes (every event up to and including it).
    pub version: Version,
    /// The schema version of the state's encoding; a reader that does not know it replays
    /// from the events instead.
    pub schema_version: u32,
    /// The encoded state.
    pub state: Bytes,
    /// Where the event at `version` sits in the store, if known; a hint for replaying
    /// right after it. Stores fill it in on save when they know it.
    pub position: StorePosition,
    /// When the snapshot was taken (UTC).
    #[serde(with = "time::serde::timestamp::nanoseconds")]
    pub timestamp: OffsetDateTime,
}

impl ActorSnapshot {
    /// A snapshot of `state` at `version`, taken now, with no position hint.
    pub fn new(
        actor_id: ActorId,
        version: Version,
        schema_version: u32,
        state: impl Into<Bytes>,
    ) -> Self {
        ActorSnapshot {
            actor_id,
            version,
            schema_version,
            state: state.into(),
            position: StorePosition::UNKNOWN,
            timestamp: OffsetDateTime::now_utc(),
        }
    }
}
