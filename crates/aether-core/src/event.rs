//! Events: [`NewEvent`] (to append) and [`Event`] (stored), with their [`Metadata`].

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::codec;
use crate::error::{Error, Result};
use crate::id::ActorId;
use crate::version::Version;

/// The longest event type name, in bytes.
pub const MAX_EVENT_TYPE_LEN: usize = 256;

/// Metadata carried by every event.
///
/// `#[non_exhaustive]`: build it with [`Metadata::new`] and the setters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Metadata {
    /// Ties together everything caused by one outside request.
    #[serde(default)]
    pub correlation_id: Option<Uuid>,
    /// What directly caused this event: the id of the command that produced it.
    #[serde(default)]
    pub causation_id: Option<Uuid>,
    /// User headers, stored and replayed with the event.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

impl Metadata {
    /// Empty metadata.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the correlation id.
    pub fn correlation_id(mut self, id: Uuid) -> Self {
        self.correlation_id = Some(id);
        self
    }

    /// Sets the causation id.
    pub fn causation_id(mut self, id: Uuid) -> Self {
        self.causation_id = Some(id);
        self
    }

    /// Adds a user header.
    pub fn header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(key.into(), value.into());
        self
    }
}

/// What the first event of a command records about that command (record format 2): the
/// reply it was answered with and, when the caller supplied the command id, the command's
/// variant name and a hash of its encoding, so a retry with the same id is answered with
/// the original reply and the same id with another command is recognised.
///
/// `#[non_exhaustive]`: build it with [`CommandRecord::new`] and the setters.
///
/// ```
/// use aether_core::CommandRecord;
/// let rec = CommandRecord::new(vec![0x01u8]).with_command("Deposit", 42);
/// assert_eq!(rec.variant.as_deref(), Some("Deposit"));
/// assert_eq!(rec.hash, Some(42));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CommandRecord {
    /// The reply the command was answered with, in MessagePack with field names.
    pub reply: Bytes,
    /// The command's variant name (for instance `"Deposit"`), recorded only for command
    /// ids the caller supplied.
    #[serde(default)]
    pub variant: Option<Cow<'static, str>>,
    /// The 64-bit hash of the command's MessagePack encoding (XXH3-64, seed 0; see
    /// [`command_hash`](crate::support::command_hash)), recorded only for command ids the caller
    /// supplied.
    #[serde(default)]
    pub hash: Option<u64>,
}

impl CommandRecord {
    /// A record of a command answered with `reply` (its encoding).
    pub fn new(reply: impl Into<Bytes>) -> Self {
        CommandRecord {
            reply: reply.into(),
            variant: None,
            hash: None,
        }
    }

    /// Sets the command's variant name and the hash of its encoding.
    pub fn with_command(mut self, variant: impl Into<Cow<'static, str>>, hash: u64) -> Self {
        self.variant = Some(variant.into());
        self.hash = Some(hash);
        self
    }

    /// Bytes the record adds to an event, roughly.
    fn approx_size(&self) -> usize {
        16 + self.reply.len() + self.variant.as_ref().map_or(0, |v| v.len())
    }
}

/// An event to append: its id, type and payload. The store assigns the version and
/// timestamp.
///
/// The id makes appends idempotent: re-sending the same ids after a lost acknowledgement
/// returns the original result instead of storing them twice.
///
/// ```
/// use aether_core::NewEvent;
/// #[derive(serde::Serialize)]
/// struct Deposited { amount: u64 }
/// let e = NewEvent::encode("Deposited", &Deposited { amount: 5 }).unwrap();
/// assert_eq!(e.event_type, "Deposited");
/// ```
///
/// `#[non_exhaustive]`: build it with [`NewEvent::new`] or [`NewEvent::encode`] and the
/// `with_*` setters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewEvent {
    /// Unique id of the event (a UUID v7 by default).
    pub id: Uuid,
    /// The event's type name, for instance `"Deposited"`.
    pub event_type: String,
    /// The payload (MessagePack with field names when built with [`NewEvent::encode`]).
    pub data: Bytes,
    /// Correlation, causation and user headers.
    pub metadata: Metadata,
    /// The type of the aggregate the actor is (for instance `"Account"`); every event of
    /// one append has the same one. `None` for events appended outside the actor runtime.
    pub aggregate_type: Option<Arc<str>>,
    /// On the first event of a command: its reply, variant and hash.
    pub command: Option<Arc<CommandRecord>>,
}

impl NewEvent {
    /// An event with a fresh UUID v7 id (see [`new_id`](crate::new_id)) and empty metadata.
    pub fn new(event_type: impl Into<String>, data: impl Into<Bytes>) -> Self {
        NewEvent {
            id: crate::new_id(),
            event_type: event_type.into(),
            data: data.into(),
            metadata: Metadata::default(),
            aggregate_type: None,
            command: None,
        }
    }

    /// An event whose payload is `value` in MessagePack with field names.
    ///
    /// # Errors
    /// [`Error::Codec`] when `value` cannot be serialized.
    pub fn encode<T: Serialize + ?Sized>(event_type: impl Into<String>, value: &T) -> Result<Self> {
        Ok(Self::new(event_type, codec::to_bytes_named(value)?))
    }

    /// Replaces the id.
    pub fn with_id(mut self, id: Uuid) -> Self {
        self.id = id;
        self
    }

    /// Replaces the metadata.
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// Sets the aggregate type of the actor the event is appended to.
    pub fn with_aggregate_type(mut self, aggregate_type: impl Into<Arc<str>>) -> Self {
        self.aggregate_type = Some(aggregate_type.into());
        self
    }

    /// Sets what the event records about the command that produced it (its first event).
    pub fn with_command(mut self, command: CommandRecord) -> Self {
        self.command = Some(Arc::new(command));
        self
    }

    /// The size the event takes in a store, roughly: payload, type, headers and a fixed
    /// overhead. Stores compare it with their limit.
    pub fn approx_size(&self) -> usize {
        const FIXED: usize = 64;
        FIXED
            + self.event_type.len()
            + self.data.len()
            + self
                .metadata
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.len() + 4)
                .sum::<usize>()
            + self.aggregate_type.as_ref().map_or(0, |t| t.len())
            + self.command.as_ref().map_or(0, |c| c.approx_size())
    }

    /// Checks what every store requires of the events of one append: at least one, each
    /// valid within `max_event_bytes` ([`NewEvent::validate`]), no id twice. Returns their
    /// size in all ([`NewEvent::approx_size`]), for the store to hold against its own limit.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming what is wrong.
    ///
    /// ```
    /// use aether_core::NewEvent;
    /// let e = NewEvent::new("Deposited", vec![1, 2, 3]);
    /// assert!(NewEvent::validate_append(&[e.clone()], 1024).is_ok());
    /// assert!(NewEvent::validate_append(&[e.clone(), e], 1024).is_err());
    /// assert!(NewEvent::validate_append(&[], 1024).is_err());
    /// ```
    pub fn validate_append(events: &[NewEvent], max_event_bytes: usize) -> Result<usize> {
        if events.is_empty() {
            return Err(Error::invalid(
                "append",
                "an append needs at least one event",
            ));
        }
        let mut total = 0usize;
        for e in events {
            e.validate(max_event_bytes)?;
            total += e.approx_size();
        }
        let aggregate_type = &events[0].aggregate_type;
        if let Some(other) = events.iter().find(|e| e.aggregate_type != *aggregate_type) {
            return Err(Error::invalid(
                "append",
                format!(
                    "the events of one append belong to one aggregate type, not {:?} and {:?}",
                    aggregate_type.as_deref(),
                    other.aggregate_type.as_deref()
                ),
            ));
        }
        if let Some(id) = repeated_id(events) {
            return Err(Error::invalid(
                "append",
                format!("event id {id} appears twice in one append"),
            ));
        }
        Ok(total)
    }

    /// Checks what every store requires of an event: a non-empty type name of at most
    /// [`MAX_EVENT_TYPE_LEN`] bytes without control characters, and at most `max_size` bytes
    /// in all ([`NewEvent::approx_size`]).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the event and what is wrong.
    pub fn validate(&self, max_size: usize) -> Result<()> {
        if self.event_type.is_empty() {
            return Err(Error::invalid(
                "event",
                format!("event {} has an empty type", self.id),
            ));
        }
        if self.event_type.len() > MAX_EVENT_TYPE_LEN {
            return Err(Error::invalid(
                "event",
                format!(
                    "event type of {} bytes is longer than {MAX_EVENT_TYPE_LEN}",
                    self.event_type.len()
                ),
            ));
        }
        if self.event_type.chars().any(char::is_control) {
            return Err(Error::invalid(
                "event",
                format!(
                    "event type {:?} contains control characters",
                    self.event_type
                ),
            ));
        }
        let size = self.approx_size();
        if size > max_size {
            return Err(Error::invalid(
                "event",
                format!(
                    "event {} ({}) is {size} bytes, over the limit of {max_size} bytes",
                    self.id, self.event_type
                ),
            ));
        }
        Ok(())
    }

    /// Whether a stored event carries the same content as this new one (id, type, payload
    /// and metadata; the version and timestamp are the store's).
    pub fn same_content(&self, stored: &Event) -> bool {
        self.id == stored.id
            && self.event_type == stored.event_type
            && self.data == stored.data
            && self.metadata == stored.metadata
            && self.aggregate_type == stored.aggregate_type
            && self.command == stored.command
    }
}

/// A stored event: immutable, with its actor, version and the time it was stored.
///
/// `#[non_exhaustive]`: stores build it with [`Event::from_new`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Event {
    /// Unique id of the event.
    pub id: Uuid,
    /// The event's type name.
    pub event_type: String,
    /// The actor the event belongs to.
    pub actor_id: ActorId,
    /// The actor's version after this event (1 for its first event).
    pub version: Version,
    /// The payload.
    pub data: Bytes,
    /// Correlation, causation and user headers.
    pub metadata: Metadata,
    /// When the store accepted the event (UTC): the appending process's wall clock,
    /// clamped so that timestamps never go backwards along an actor's history.
    #[serde(with = "time::serde::timestamp::nanoseconds")]
    pub timestamp: OffsetDateTime,
    /// The type of the aggregate the actor is, as recorded by the append (record format 2);
    /// `None` for events stored without one (format 1, or appended outside the runtime).
    #[serde(default)]
    pub aggregate_type: Option<Arc<str>>,
    /// On the first event of a command: its reply, variant and hash (record format 2).
    #[serde(default)]
    pub command: Option<Arc<CommandRecord>>,
}

impl Event {
    /// Builds the stored form of `new` at `version`, stamped `timestamp`.
    pub fn from_new(
        actor_id: ActorId,
        version: Version,
        new: NewEvent,
        timestamp: OffsetDateTime,
    ) -> Self {
        Event {
            id: new.id,
            event_type: new.event_type,
            actor_id,
            version,
            data: new.data,
            metadata: new.metadata,
            timestamp,
            aggregate_type: new.aggregate_type,
            command: new.command,
        }
    }

    /// The type of the aggregate the actor is, when the append recorded it.
    pub fn aggregate_type(&self) -> Option<&str> {
        self.aggregate_type.as_deref()
    }

    /// Decodes the payload from MessagePack.
    ///
    /// # Errors
    /// [`Error::Codec`] naming the event when the bytes do not decode as `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T> {
        codec::from_slice(&self.data).map_err(|e| match e {
            Error::Codec { message, source } => Error::Codec {
                message: format!(
                    "event {} v{} of {} ({}): {message}",
                    self.id, self.version, self.actor_id, self.event_type
                ),
                source,
            },
            other => other,
        })
    }
}

/// The first id that appears twice among `events`; pairwise for a few events, with a set
/// for many.
fn repeated_id(events: &[NewEvent]) -> Option<Uuid> {
    const SMALL: usize = 16;
    if events.len() <= SMALL {
        return events
            .iter()
            .enumerate()
            .find(|(i, e)| events[..*i].iter().any(|p| p.id == e.id))
            .map(|(_, e)| e.id);
    }
    let mut ids = std::collections::HashSet::with_capacity(events.len());
    events.iter().find(|e| !ids.insert(e.id)).map(|e| e.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_id_is_found_among_few_and_among_many_events() {
        for n in [2usize, 16, 17, 200] {
            let mut events: Vec<NewEvent> =
                (0..n).map(|i| NewEvent::new("T", vec![i as u8])).collect();
            assert!(NewEvent::validate_append(&events, 1024).is_ok(), "{n}");
            let id = events[n / 3].id;
            events[n - 1] = events[n - 1].clone().with_id(id);
            let err = NewEvent::validate_append(&events, 1024).unwrap_err();
            assert!(err.to_string().contains("appears twice"), "{n}: {err}");
        }
        let total = NewEvent::validate_append(&[NewEvent::new("T", vec![0; 10])], 1024).unwrap();
        assert_eq!(total, NewEvent::new("T", vec![0; 10]).approx_size());
    }
}
