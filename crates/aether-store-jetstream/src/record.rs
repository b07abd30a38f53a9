//! What Aether stores in JetStream messages: the event record (one message per append,
//! holding its 1..n events) and the snapshot record.
//!
//! Both are MessagePack maps with field names and a `format` field, so a later format can
//! add fields without breaking what is stored, and a reader meeting a format it does not
//! know says so instead of guessing. Bytes that are not a well-formed record (a message
//! not written by Aether) decode to [`Error::Codec`], never a panic.

use aether_core::{
    ActorId, ActorSnapshot, Error, Event, Metadata, NewEvent, OffsetDateTime, Result,
    StorePosition, Version,
};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The format of event records written by this version of Aether.
pub(crate) const EVENT_FORMAT: u32 = 1;
/// The format of snapshot records written by this version of Aether.
pub(crate) const SNAPSHOT_FORMAT: u32 = 1;

/// The event record as serde writes it: the reference the hand-written encoder is tested
/// against.
#[cfg(test)]
#[derive(Serialize)]
struct RecordOut<'a> {
    format: u32,
    actor: &'a str,
    first: u64,
    #[serde(with = "time::serde::timestamp::nanoseconds")]
    time: OffsetDateTime,
    events: EventsOut<'a>,
}

/// The events of a record, serialized straight from the caller's slice.
#[cfg(test)]
struct EventsOut<'a>(&'a [NewEvent]);

#[cfg(test)]
impl Serialize for EventsOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|e| EventOut {
            id: e.id,
            event_type: &e.event_type,
            data: &e.data,
            meta: (e.metadata != Metadata::default()).then_some(&e.metadata),
        }))
    }
}

#[cfg(test)]
#[derive(Serialize)]
struct EventOut<'a> {
    id: Uuid,
    #[serde(rename = "type")]
    event_type: &'a str,
    #[serde(with = "serde_bytes")]
    data: &'a [u8],
    #[serde(skip_serializing_if = "Option::is_none")]
    meta: Option<&'a Metadata>,
}

/// Decoded without copying: strings and payloads borrow the message's bytes.
#[derive(Deserialize)]
struct RecordIn<'a> {
    format: u32,
    #[serde(borrow)]
    actor: std::borrow::Cow<'a, str>,
    first: u64,
    #[serde(with = "time::serde::timestamp::nanoseconds")]
    time: OffsetDateTime,
    #[serde(borrow)]
    events: Vec<EventIn<'a>>,
}

#[derive(Deserialize)]
struct EventIn<'a> {
    id: Uuid,
    #[serde(rename = "type", borrow)]
    event_type: std::borrow::Cow<'a, str>,
    #[serde(with = "serde_bytes", borrow)]
    data: std::borrow::Cow<'a, [u8]>,
    #[serde(default)]
    meta: Option<Metadata>,
}

/// One event of a decoded record; its payload is a range of the message's bytes.
struct StoredEvent {
    id: Uuid,
    event_type: String,
    data: Bytes,
    meta: Option<Metadata>,
}

/// Encodes the record of one append: `events` stored as versions `first..`.
#[cfg(test)]
pub(crate) fn encode_events(
    actor: &ActorId,
    first: Version,
    events: &[NewEvent],
    time: OffsetDateTime,
) -> Result<Vec<u8>> {
    let mut buf = bytes::BytesMut::new();
    Ok(encode_events_into(&mut buf, actor, first, events, time)?.to_vec())
}

/// Encodes the record of one append into the spare room of `buf` and splits it off:
/// consecutive records share one allocation instead of each taking its own.
///
/// Written by hand, byte for byte what `rmp_serde::encode::write_named` makes of
/// [`RecordOut`] (a test holds the two equal): this runs once per append, and going through
/// serde and `io::Write` cost about twice as much (so did `rmp`'s own primitives, which write
/// through `io::Write`: 38 against 20 ns per event). Only non-empty metadata goes through
/// serde.
pub(crate) fn encode_events_into(
    buf: &mut bytes::BytesMut,
    actor: &ActorId,
    first: Version,
    events: &[NewEvent],
    time: OffsetDateTime,
) -> Result<Bytes> {
    use bytes::BufMut;
    let Ok(count) = u32::try_from(events.len()) else {
        return Err(Error::invalid("append", "too many events in one append"));
    };
    // An estimate with room to spare (metadata aside, which `put_*` grows the buffer for).
    let size = 96
        + actor.as_str().len()
        + events
            .iter()
            .map(|e| 48 + e.event_type.len() + e.data.len())
            .sum::<usize>();
    if buf.capacity() - buf.len() < size {
        buf.reserve(size.max(ARENA_CHUNK));
    }
    let start = buf.len();
    // `split` below takes the whole buffer: it holds nothing but this record.
    debug_assert_eq!(start, 0, "the arena is split after every record");
    put_map_len(buf, 5);
    put_str(buf, "format");
    put_uint(buf, u64::from(EVENT_FORMAT));
    put_str(buf, "actor");
    put_str(buf, actor.as_str());
    put_str(buf, "first");
    put_uint(buf, first);
    put_str(buf, "time");
    put_bin(buf, &time.unix_timestamp_nanos().to_be_bytes());
    put_str(buf, "events");
    put_array_len(buf, count);
    for e in events {
        let meta = e.metadata != Metadata::default();
        put_map_len(buf, if meta { 4 } else { 3 });
        put_str(buf, "id");
        put_bin(buf, e.id.as_bytes());
        put_str(buf, "type");
        put_str(buf, &e.event_type);
        put_str(buf, "data");
        put_bin(buf, &e.data);
        if meta {
            put_str(buf, "meta");
            let written = rmp_serde::encode::write_named(&mut (&mut *buf).writer(), &e.metadata);
            if let Err(err) = written {
                buf.truncate(start);
                return Err(Error::codec("cannot encode event metadata", err));
            }
        }
    }
    Ok(buf.split().freeze())
}

// MessagePack, as the `rmp` encoder writes it: the shortest form of each length and number.

/// A length header: the fix form `fix.0 | len` while `len <= fix.1` (maps, arrays, strings),
/// else the 8-bit form where the type has one (strings, binaries), else 16 or 32 bits.
/// Lengths here are bounded by the largest append, far below 4 GiB.
#[inline]
fn put_len(
    buf: &mut bytes::BytesMut,
    len: usize,
    fix: Option<(u8, usize)>,
    m8: Option<u8>,
    m16: u8,
    m32: u8,
) {
    use bytes::BufMut;
    match (fix, m8) {
        (Some((marker, max)), _) if len <= max => buf.put_u8(marker | len as u8),
        (_, Some(marker)) if len <= 0xff => {
            buf.put_u8(marker);
            buf.put_u8(len as u8);
        }
        _ if len <= 0xffff => {
            buf.put_u8(m16);
            buf.put_u16(len as u16);
        }
        _ => {
            buf.put_u8(m32);
            buf.put_u32(len as u32);
        }
    }
}

fn put_map_len(buf: &mut bytes::BytesMut, len: u32) {
    put_len(buf, len as usize, Some((0x80, 15)), None, 0xde, 0xdf);
}

fn put_array_len(buf: &mut bytes::BytesMut, len: u32) {
    put_len(buf, len as usize, Some((0x90, 15)), None, 0xdc, 0xdd);
}

fn put_str(buf: &mut bytes::BytesMut, s: &str) {
    use bytes::BufMut;
    put_len(buf, s.len(), Some((0xa0, 31)), Some(0xd9), 0xda, 0xdb);
    buf.put_slice(s.as_bytes());
}

fn put_bin(buf: &mut bytes::BytesMut, b: &[u8]) {
    use bytes::BufMut;
    put_len(buf, b.len(), None, Some(0xc4), 0xc5, 0xc6);
    buf.put_slice(b);
}

fn put_uint(buf: &mut bytes::BytesMut, n: u64) {
    use bytes::BufMut;
    match n {
        0..=0x7f => buf.put_u8(n as u8),
        0x80..=0xff => {
            buf.put_u8(0xcc);
            buf.put_u8(n as u8);
        }
        0x100..=0xffff => {
            buf.put_u8(0xcd);
            buf.put_u16(n as u16);
        }
        0x1_0000..=0xffff_ffff => {
            buf.put_u8(0xce);
            buf.put_u32(n as u32);
        }
        _ => {
            buf.put_u8(0xcf);
            buf.put_u64(n);
        }
    }
}

/// How much room the record arena takes at a time.
const ARENA_CHUNK: usize = 64 * 1024;

/// A decoded event record: the events of one append.
pub(crate) struct EventRecord {
    first: Version,
    time: OffsetDateTime,
    events: Vec<StoredEvent>,
}

impl EventRecord {
    /// The version of the first event.
    pub(crate) fn first(&self) -> Version {
        self.first
    }

    /// The version of the last event.
    pub(crate) fn last(&self) -> Version {
        self.first + self.events.len() as u64 - 1
    }

    /// When the append was made (the events' timestamp).
    pub(crate) fn time(&self) -> OffsetDateTime {
        self.time
    }

    /// The id of the first event.
    pub(crate) fn first_id(&self) -> Uuid {
        self.events[0].id
    }

    /// The id of the event at `version`, if the record holds it.
    pub(crate) fn id_at(&self, version: Version) -> Option<Uuid> {
        let i = version.checked_sub(self.first)?;
        self.events.get(usize::try_from(i).ok()?).map(|e| e.id)
    }

    /// Whether the record holds exactly `events` (ids, types, payloads, metadata).
    pub(crate) fn same_content(&self, events: &[NewEvent]) -> bool {
        self.events.len() == events.len()
            && self.events.iter().zip(events).all(|(s, n)| {
                s.id == n.id
                    && s.event_type == n.event_type
                    && s.data == n.data
                    && s.meta.as_ref().unwrap_or(&Metadata::default()) == &n.metadata
            })
    }

    /// Whether both records hold the same events (ids, types, payloads, metadata), whatever
    /// their versions and times.
    pub(crate) fn same_events(&self, other: &EventRecord) -> bool {
        let none = Metadata::default();
        self.events.len() == other.events.len()
            && self.events.iter().zip(&other.events).all(|(a, b)| {
                a.id == b.id
                    && a.event_type == b.event_type
                    && a.data == b.data
                    && a.meta.as_ref().unwrap_or(&none) == b.meta.as_ref().unwrap_or(&none)
            })
    }

    /// The stored events with `from <= version <= to`.
    pub(crate) fn into_events(
        self,
        actor: &ActorId,
        from: Version,
        to: Version,
    ) -> impl Iterator<Item = Event> + '_ {
        let first = self.first;
        let timestamp = self.time;
        self.events
            .into_iter()
            .enumerate()
            .map(move |(i, e)| (first + i as u64, e))
            .filter(move |(v, _)| *v >= from && *v <= to)
            .map(move |(version, e)| Event {
                id: e.id,
                event_type: e.event_type,
                actor_id: actor.clone(),
                version,
                data: e.data,
                metadata: e.meta.unwrap_or_default(),
                timestamp,
            })
    }
}

/// Decodes an event record found on `actor`'s subject (at stream sequence `seq`, for the
/// error message).
///
/// # Errors
/// [`Error::Codec`] when the bytes are not an event record Aether can read, belong to
/// another actor, or hold no events or impossible versions.
pub(crate) fn decode_events(bytes: &Bytes, actor: &ActorId, seq: u64) -> Result<EventRecord> {
    match decode_exact_layout(bytes, actor) {
        Some(rec) => Ok(rec),
        None => decode_with_serde(bytes, actor, seq),
    }
}

/// [`decode_events`] for any layout serde reads, with the reason when the bytes are not a
/// record of `actor`.
fn decode_with_serde(bytes: &Bytes, actor: &ActorId, seq: u64) -> Result<EventRecord> {
    let record: RecordIn<'_> = rmp_serde::from_slice(bytes).map_err(|e| {
        Error::codec(
            format!(
                "message {seq} on the subject of actor {actor} ({} bytes) is not an Aether event record",
                bytes.len()
            ),
            e,
        )
    })?;
    let bad = |reason: String| Error::Codec {
        message: format!("message {seq} on the subject of actor {actor}: {reason}"),
        source: None,
    };
    if record.format != EVENT_FORMAT {
        return Err(bad(format!(
            "event record format {} is unknown to this version of Aether (it reads format {EVENT_FORMAT})",
            record.format
        )));
    }
    if record.actor != actor.as_str() {
        return Err(bad(format!("holds events of actor {:?}", record.actor)));
    }
    let events: Vec<StoredEvent> = record
        .events
        .into_iter()
        .map(|e| StoredEvent {
            id: e.id,
            event_type: e.event_type.into_owned(),
            data: match e.data {
                std::borrow::Cow::Borrowed(d) => sub_bytes(bytes, d),
                std::borrow::Cow::Owned(d) => Bytes::from(d),
            },
            meta: e.meta,
        })
        .collect();
    if events.is_empty() {
        return Err(bad("holds no events".into()));
    }
    if record.first == 0 || record.first.checked_add(events.len() as u64).is_none() {
        return Err(bad(format!("first version {} is impossible", record.first)));
    }
    Ok(EventRecord {
        first: record.first,
        time: record.time,
        events,
    })
}

/// The record of `actor` in `bytes` when it is laid out exactly as [`encode_events_into`]
/// writes it (fields in order, no metadata, nothing after it) and valid; `None` for
/// anything else, which the serde decoder then reads or explains. Replays and activations
/// decode every message, and this reads one in a fraction of serde's time.
fn decode_exact_layout(bytes: &Bytes, actor: &ActorId) -> Option<EventRecord> {
    let mut r = MsgpackReader { buf: bytes, at: 0 };
    if r.byte()? != 0x85 || r.str()? != "format" || r.uint()? != u64::from(EVENT_FORMAT) {
        return None;
    }
    if r.str()? != "actor" || r.str()? != actor.as_str() {
        return None;
    }
    if r.str()? != "first" {
        return None;
    }
    let first = r.uint()?;
    if r.str()? != "time" {
        return None;
    }
    // As serde reads an i128: only a bin8 of 16 bytes (it refuses bin16 and bin32).
    if r.byte()? != 0xc4 || r.byte()? != 16 {
        return None;
    }
    let nanos: [u8; 16] = r.take(16)?.try_into().ok()?;
    let time = OffsetDateTime::from_unix_timestamp_nanos(i128::from_be_bytes(nanos)).ok()?;
    if r.str()? != "events" {
        return None;
    }
    let count = r.array_len()?;
    // Every event takes at least 35 bytes; the first allocation is bounded besides, so a
    // forged count cannot make it large.
    if count == 0 || count > bytes.len() / 35 {
        return None;
    }
    let mut events = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        if r.byte()? != 0x83 || r.str()? != "id" {
            return None;
        }
        let id = Uuid::from_slice(r.bin()?).ok()?;
        if r.str()? != "type" {
            return None;
        }
        let event_type = r.str()?.to_owned();
        if r.str()? != "data" {
            return None;
        }
        let data = r.bin()?;
        events.push(StoredEvent {
            id,
            event_type,
            data: sub_bytes(bytes, data),
            meta: None,
        });
    }
    if r.at != bytes.len() || first == 0 || first.checked_add(count as u64).is_none() {
        return None;
    }
    Some(EventRecord {
        first,
        time,
        events,
    })
}

/// Reads MessagePack values off a buffer; `None` past its end or on another type.
struct MsgpackReader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> MsgpackReader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let out = self.buf.get(self.at..end)?;
        self.at = end;
        Some(out)
    }

    fn byte(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn be(&mut self, n: usize) -> Option<u64> {
        Some(
            self.take(n)?
                .iter()
                .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)),
        )
    }

    fn uint(&mut self) -> Option<u64> {
        match self.byte()? {
            b @ 0x00..=0x7f => Some(u64::from(b)),
            0xcc => self.be(1),
            0xcd => self.be(2),
            0xce => self.be(4),
            0xcf => self.be(8),
            _ => None,
        }
    }

    fn str(&mut self) -> Option<&'a str> {
        let len = match self.byte()? {
            b @ 0xa0..=0xbf => usize::from(b & 0x1f),
            0xd9 => self.be(1)? as usize,
            0xda => self.be(2)? as usize,
            0xdb => self.be(4)? as usize,
            _ => return None,
        };
        std::str::from_utf8(self.take(len)?).ok()
    }

    fn bin(&mut self) -> Option<&'a [u8]> {
        let len = match self.byte()? {
            0xc4 => self.be(1)? as usize,
            0xc5 => self.be(2)? as usize,
            0xc6 => self.be(4)? as usize,
            _ => return None,
        };
        self.take(len)
    }

    fn array_len(&mut self) -> Option<usize> {
        match self.byte()? {
            b @ 0x90..=0x9f => Some(usize::from(b & 0x0f)),
            0xdc => Some(self.be(2)? as usize),
            0xdd => Some(self.be(4)? as usize),
            _ => None,
        }
    }
}

/// `part` as a slice of `whole` without copying when it lies inside it (it always does when
/// the decoder borrowed it from `whole`), else as a copy: never a panic.
fn sub_bytes(whole: &Bytes, part: &[u8]) -> Bytes {
    let start = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
    match start.checked_add(part.len()) {
        Some(end) if !part.is_empty() && end <= whole.len() => whole.slice(start..end),
        _ => Bytes::copy_from_slice(part),
    }
}

/// Where a large snapshot's state is kept: `count` chunk messages, `len` bytes in all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ChunkRef {
    /// The id of this save; chunk subjects end in `<id>.<index>`.
    pub(crate) id: String,
    /// How many chunks.
    pub(crate) count: u32,
    /// The state's length in bytes.
    pub(crate) len: u64,
}

/// A snapshot head as written: borrows the snapshot (its state is not copied).
#[derive(Serialize)]
struct SnapshotRecordOut<'a> {
    format: u32,
    actor: &'a str,
    version: u64,
    schema: u32,
    position: u64,
    #[serde(with = "time::serde::timestamp::nanoseconds")]
    timestamp: OffsetDateTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'a serde_bytes::Bytes>,
    #[serde(skip_serializing_if = "Option::is_none")]
    chunks: Option<ChunkRef>,
}

/// A snapshot head as read.
#[derive(Deserialize)]
struct SnapshotRecord {
    format: u32,
    actor: String,
    version: u64,
    schema: u32,
    position: u64,
    #[serde(with = "time::serde::timestamp::nanoseconds")]
    timestamp: OffsetDateTime,
    #[serde(default)]
    state: Option<serde_bytes::ByteBuf>,
    #[serde(default)]
    chunks: Option<ChunkRef>,
}

/// Encodes a snapshot head: the state inline, or a reference to its chunks.
pub(crate) fn encode_snapshot(
    snapshot: &ActorSnapshot,
    chunks: Option<ChunkRef>,
) -> Result<Vec<u8>> {
    let record = SnapshotRecordOut {
        format: SNAPSHOT_FORMAT,
        actor: snapshot.actor_id.as_str(),
        version: snapshot.version,
        schema: snapshot.schema_version,
        position: snapshot.position.0,
        timestamp: snapshot.timestamp,
        state: chunks
            .is_none()
            .then(|| serde_bytes::Bytes::new(&snapshot.state)),
        chunks,
    };
    rmp_serde::to_vec_named(&record).map_err(|e| Error::codec("cannot encode a snapshot record", e))
}

/// A decoded snapshot head.
pub(crate) struct SnapshotHead {
    /// The snapshot, with an empty state when it is kept in chunks.
    pub(crate) snapshot: ActorSnapshot,
    /// Where the state is kept when it is not inline.
    pub(crate) chunks: Option<ChunkRef>,
}

/// Decodes a snapshot head found on `actor`'s snapshot subject.
///
/// # Errors
/// [`Error::Codec`] when the bytes are not a snapshot record of `actor` Aether can read.
pub(crate) fn decode_snapshot(bytes: &[u8], actor: &ActorId, seq: u64) -> Result<SnapshotHead> {
    let mut record: SnapshotRecord = rmp_serde::from_slice(bytes).map_err(|e| {
        Error::codec(
            format!("snapshot message {seq} of actor {actor} is not an Aether snapshot record"),
            e,
        )
    })?;
    let bad = |reason: String| Error::Codec {
        message: format!("snapshot message {seq} of actor {actor}: {reason}"),
        source: None,
    };
    if record.format != SNAPSHOT_FORMAT {
        return Err(bad(format!(
            "snapshot record format {} is unknown to this version of Aether (it reads format {SNAPSHOT_FORMAT})",
            record.format
        )));
    }
    if record.actor != actor.as_str() {
        return Err(bad(format!("is a snapshot of actor {:?}", record.actor)));
    }
    if record.version == 0 {
        return Err(bad("is at version 0".into()));
    }
    let state = match (record.state.take(), &record.chunks) {
        (Some(s), None) => Bytes::from(s.into_vec()),
        (None, Some(c)) => {
            if c.count == 0 || c.id.is_empty() || !c.id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(bad("has a malformed chunk reference".into()));
            }
            Bytes::new()
        }
        _ => return Err(bad("has neither an inline state nor chunks, or both".into())),
    };
    Ok(SnapshotHead {
        snapshot: ActorSnapshot {
            actor_id: actor.clone(),
            version: record.version,
            schema_version: record.schema,
            state,
            position: StorePosition(record.position),
            timestamp: record.timestamp,
        },
        chunks: record.chunks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aether_core::ErrorKind;
    use proptest::prelude::*;

    fn actor() -> ActorId {
        ActorId::new("acc-alice").unwrap()
    }

    #[test]
    fn event_record_round_trips_with_and_without_metadata() {
        let a = actor();
        let events = vec![
            NewEvent::new("Opened", b"x".to_vec()),
            NewEvent::new("Deposited", vec![0u8, 255, 7]).with_metadata(
                Metadata::new()
                    .correlation_id(Uuid::now_v7())
                    .causation_id(Uuid::now_v7())
                    .header("k", "v"),
            ),
        ];
        let bytes = encode_events(&a, 5, &events, OffsetDateTime::now_utc()).unwrap();
        let rec = decode_events(&Bytes::from(bytes), &a, 9).unwrap();
        assert_eq!(
            (rec.first(), rec.last(), rec.first_id()),
            (5, 6, events[0].id)
        );
        assert!(rec.same_content(&events));
        assert!(!rec.same_content(&events[..1]));
        let before = OffsetDateTime::now_utc() - time::Duration::seconds(5);
        let stored: Vec<Event> = rec.into_events(&a, 6, 100).collect();
        assert_eq!(stored.len(), 1);
        assert!(stored[0].timestamp > before);
        assert_eq!(stored[0].version, 6);
        assert!(events[1].same_content(&stored[0]));
    }

    fn serde_encoding(
        actor: &ActorId,
        first: Version,
        events: &[NewEvent],
        time: OffsetDateTime,
    ) -> Vec<u8> {
        let record = RecordOut {
            format: EVENT_FORMAT,
            actor: actor.as_str(),
            first,
            time,
            events: EventsOut(events),
        };
        rmp_serde::to_vec_named(&record).unwrap()
    }

    /// Lengths on both sides of every MessagePack size class.
    fn edgy_len() -> impl Strategy<Value = usize> {
        prop_oneof![
            0..40usize,
            prop::sample::select(vec![127, 128, 255, 256, 65_535, 65_536, 70_000]),
        ]
    }

    fn new_event() -> impl Strategy<Value = NewEvent> {
        (
            edgy_len(),
            edgy_len(),
            any::<bool>(),
            any::<u8>(),
            prop::collection::btree_map("[a-zé]{0,40}", "[ -~]{0,300}", 0..3),
        )
            .prop_map(|(type_len, data_len, meta, fill, headers)| {
                let event_type: String = "é".repeat(type_len / 2) + &"t".repeat(type_len % 2 + 1);
                let mut e = NewEvent::new(event_type, vec![fill; data_len]);
                if meta {
                    let mut m = Metadata::new().correlation_id(Uuid::now_v7());
                    m.headers = headers;
                    e = e.with_metadata(m);
                }
                e
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn hand_written_encoding_is_what_serde_writes(
            events in prop::collection::vec(new_event(), 1..20),
            first in prop_oneof![
                1u64..300,
                prop::sample::select(vec![65_535, 65_536, u64::from(u32::MAX), u64::from(u32::MAX) + 1, u64::MAX / 2]),
            ],
            nanos in -(1i128 << 90)..(1i128 << 90),
            actor in "[a-z0-9-]{1,200}",
        ) {
            let actor = ActorId::new(actor).unwrap();
            let time = OffsetDateTime::from_unix_timestamp_nanos(nanos % 253_402_300_799_000_000_000)
                .unwrap();
            let mut arena = bytes::BytesMut::new();
            let ours = encode_events_into(&mut arena, &actor, first, &events, time).unwrap();
            prop_assert_eq!(&ours[..], &serde_encoding(&actor, first, &events, time)[..]);
            let rec = decode_events(&ours, &actor, 1).unwrap();
            prop_assert!(rec.same_content(&events));
            prop_assert_eq!(rec.time(), time);
        }
    }

    fn same_record(a: &EventRecord, b: &EventRecord) -> bool {
        a.first() == b.first() && a.time() == b.time() && a.same_events(b)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn the_fast_decoder_reads_what_the_encoder_writes_as_serde_does(
            events in prop::collection::vec(new_event(), 1..20),
            first in prop_oneof![1u64..300, prop::sample::select(vec![65_536, u64::MAX / 2])],
            nanos in -(1i128 << 90)..(1i128 << 90),
        ) {
            let actor = actor();
            let time = OffsetDateTime::from_unix_timestamp_nanos(nanos % 253_402_300_799_000_000_000)
                .unwrap();
            let bytes = Bytes::from(encode_events(&actor, first, &events, time).unwrap());
            let by_serde = decode_with_serde(&bytes, &actor, 1).unwrap();
            match decode_exact_layout(&bytes, &actor) {
                Some(fast) => prop_assert!(same_record(&fast, &by_serde)),
                // Only metadata sends a record Aether wrote down the serde path.
                None => prop_assert!(events.iter().any(|e| e.metadata != Metadata::default())),
            }
            prop_assert!(decode_exact_layout(&bytes, &ActorId::new("other").unwrap()).is_none());
        }

        #[test]
        fn the_fast_decoder_agrees_with_serde_on_damaged_records(
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            cut in any::<prop::sample::Index>(),
            truncate in any::<bool>(),
        ) {
            let actor = actor();
            let events: Vec<NewEvent> = (0..3).map(|i| NewEvent::new("T", vec![i; 40])).collect();
            let mut bytes = encode_events(&actor, 7, &events, OffsetDateTime::now_utc()).unwrap();
            for (at, value) in flips {
                let i = at.index(bytes.len());
                bytes[i] = value;
            }
            if truncate {
                bytes.truncate(cut.index(bytes.len()));
            }
            let bytes = Bytes::from(bytes);
            if let Some(fast) = decode_exact_layout(&bytes, &actor) {
                let by_serde = decode_with_serde(&bytes, &actor, 1);
                prop_assert!(by_serde.is_ok_and(|s| same_record(&fast, &s)));
            }
        }
    }

    #[test]
    fn the_fast_decoder_reads_every_size_class_of_version_and_length() {
        let actor = actor();
        let time = OffsetDateTime::now_utc();
        let mut firsts: Vec<u64> = (1..=300).collect();
        firsts.extend([65_535, 65_536, u64::from(u32::MAX), u64::from(u32::MAX) + 1]);
        for (i, first) in firsts.into_iter().enumerate() {
            let events: Vec<NewEvent> = (0..i % 18 + 1)
                .map(|k| NewEvent::new("t".repeat(k * 3 + 1), vec![7; (k * 97) % 300]))
                .collect();
            let bytes = Bytes::from(encode_events(&actor, first, &events, time).unwrap());
            let fast = decode_exact_layout(&bytes, &actor).expect("the fast path reads it");
            assert!(same_record(
                &fast,
                &decode_with_serde(&bytes, &actor, 1).unwrap()
            ));
            assert_eq!((fast.first(), fast.time()), (first, time));
            assert!(fast.same_content(&events));
        }
    }

    #[test]
    fn the_fast_decoder_takes_the_time_only_as_serde_does() {
        let a = actor();
        let bytes = encode_events(
            &a,
            3,
            &[NewEvent::new("T", vec![1])],
            OffsetDateTime::now_utc(),
        )
        .unwrap();
        let key = b"\xa4time\xc4\x10";
        let at = bytes.windows(key.len()).position(|w| w == key).unwrap() + 5;
        for header in [&[0xc5, 0x00, 0x10][..], &[0xc6, 0x00, 0x00, 0x00, 0x10][..]] {
            let mut other = bytes[..at].to_vec();
            other.extend_from_slice(header);
            other.extend_from_slice(&bytes[at + 2..]);
            let other = Bytes::from(other);
            assert!(decode_exact_layout(&other, &a).is_none(), "{header:x?}");
            assert_eq!(
                decode_events(&other, &a, 1).is_ok(),
                decode_with_serde(&other, &a, 1).is_ok()
            );
        }
    }

    #[test]
    fn a_forged_event_count_allocates_little() {
        let a = actor();
        let bytes = encode_events(
            &a,
            3,
            &[NewEvent::new("T", vec![1])],
            OffsetDateTime::now_utc(),
        )
        .unwrap();
        // The events array header (a fixarray of 1) forged to an array32 of a huge count.
        let at = bytes.iter().rposition(|b| *b == 0x91).unwrap();
        let mut forged = bytes[..at].to_vec();
        forged.extend_from_slice(&[0xdd, 0xff, 0xff, 0xff, 0xff]);
        forged.extend_from_slice(&bytes[at + 1..]);
        let forged = Bytes::from(forged);
        assert!(decode_exact_layout(&forged, &a).is_none());
        assert!(decode_events(&forged, &a, 1).is_err());
    }

    #[test]
    fn messagepack_primitives_match_rmp_at_every_boundary() {
        let lens = [0usize, 1, 15, 16, 31, 32, 255, 256, 65_535, 65_536, 70_000];
        for len in lens {
            let text = "a".repeat(len);
            let mut buf = bytes::BytesMut::new();
            put_str(&mut buf, &text);
            assert_eq!(
                &buf[..],
                &rmp_serde::to_vec(&text).unwrap()[..],
                "str {len}"
            );
            let data = vec![7u8; len];
            let mut buf = bytes::BytesMut::new();
            put_bin(&mut buf, &data);
            let expected = rmp_serde::to_vec(serde_bytes::Bytes::new(&data)).unwrap();
            assert_eq!(&buf[..], &expected[..], "bin {len}");
            let n = u32::try_from(len).unwrap();
            let mut buf = bytes::BytesMut::new();
            put_array_len(&mut buf, n);
            let expected = rmp_serde::to_vec(&vec![0u8; len]).unwrap();
            assert_eq!(&buf[..], &expected[..buf.len()], "array {len}");
            let mut buf = bytes::BytesMut::new();
            put_map_len(&mut buf, n);
            let map: std::collections::BTreeMap<u32, u8> = (0..n).map(|k| (k, 0)).collect();
            let expected = rmp_serde::to_vec(&map).unwrap();
            assert_eq!(&buf[..], &expected[..buf.len()], "map {len}");
        }
        for n in [
            0u64,
            0x7f,
            0x80,
            0xff,
            0x100,
            0xffff,
            0x1_0000,
            0xffff_ffff,
            0x1_0000_0000,
            u64::MAX,
        ] {
            let mut buf = bytes::BytesMut::new();
            put_uint(&mut buf, n);
            assert_eq!(&buf[..], &rmp_serde::to_vec(&n).unwrap()[..], "uint {n}");
        }
    }

    #[test]
    fn records_in_one_arena_stay_apart() {
        let a = actor();
        let mut arena = bytes::BytesMut::new();
        let time = OffsetDateTime::now_utc();
        let batches: Vec<Vec<NewEvent>> = (0..200)
            .map(|i| {
                (0..i % 17 + 1)
                    .map(|k| NewEvent::new("T", vec![k as u8; i * 7]))
                    .collect()
            })
            .collect();
        let records: Vec<Bytes> = batches
            .iter()
            .enumerate()
            .map(|(i, b)| encode_events_into(&mut arena, &a, i as u64 + 1, b, time).unwrap())
            .collect();
        for (i, (rec, b)) in records.iter().zip(&batches).enumerate() {
            assert_eq!(&rec[..], &serde_encoding(&a, i as u64 + 1, b, time)[..]);
        }
    }

    #[test]
    fn a_record_of_another_actor_is_a_codec_error() {
        let bytes = encode_events(
            &ActorId::new("other").unwrap(),
            1,
            &[NewEvent::new("T", vec![])],
            OffsetDateTime::now_utc(),
        )
        .unwrap();
        let err = decode_events(&Bytes::from(bytes), &actor(), 3)
            .err()
            .unwrap();
        assert_eq!(err.kind(), ErrorKind::Codec);
        assert!(err.to_string().contains("other"), "{err}");
    }

    #[test]
    fn unknown_format_and_empty_records_are_codec_errors() {
        #[derive(Serialize)]
        struct Fake<'a> {
            format: u32,
            actor: &'a str,
            first: u64,
            events: Vec<u8>,
        }
        for (format, first) in [(2, 1), (1, 1), (1, 0)] {
            let bytes = rmp_serde::to_vec_named(&Fake {
                format,
                actor: "acc-alice",
                first,
                events: vec![],
            })
            .unwrap();
            let err = decode_events(&Bytes::from(bytes), &actor(), 1)
                .err()
                .unwrap();
            assert_eq!(err.kind(), ErrorKind::Codec);
        }
    }

    #[test]
    fn snapshot_record_round_trips_inline_and_chunked() {
        let a = actor();
        let mut s = ActorSnapshot::new(a.clone(), 7, 2, b"state".to_vec());
        s.position = StorePosition(42);
        let head = decode_snapshot(&encode_snapshot(&s, None).unwrap(), &a, 1).unwrap();
        assert_eq!(head.snapshot, s);
        assert!(head.chunks.is_none());
        let c = ChunkRef {
            id: "abc123".into(),
            count: 3,
            len: 10,
        };
        let head = decode_snapshot(&encode_snapshot(&s, Some(c.clone())).unwrap(), &a, 1).unwrap();
        assert_eq!(head.chunks, Some(c));
        assert!(head.snapshot.state.is_empty());
    }

    #[test]
    fn hostile_known_bytes_are_codec_errors() {
        let a = actor();
        for bad in [
            &b""[..],
            b"\xc1",
            b"\x80",
            b"\x84\xa6format\x01",
            b"\xdf\xff\xff\xff\xff",
            b"{\"json\":1}",
        ] {
            assert_eq!(
                decode_events(&Bytes::from_static(bad), &a, 1)
                    .err()
                    .unwrap()
                    .kind(),
                ErrorKind::Codec
            );
            assert_eq!(
                decode_snapshot(bad, &a, 1).err().unwrap().kind(),
                ErrorKind::Codec
            );
        }
    }

    proptest! {
        #[test]
        fn hostile_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let a = actor();
            let _ = decode_events(&Bytes::from(bytes.clone()), &a, 1);
            let _ = decode_snapshot(&bytes, &a, 1);
        }

        #[test]
        fn truncated_records_are_codec_errors(cut in 0usize..60) {
            let a = actor();
            let bytes = encode_events(&a, 1, &[NewEvent::new("T", b"payload".to_vec())], OffsetDateTime::now_utc()).unwrap();
            let cut = cut.min(bytes.len() - 1);
            prop_assert_eq!(decode_events(&Bytes::copy_from_slice(&bytes[..cut]), &a, 1).err().unwrap().kind(), ErrorKind::Codec);
        }
    }
}
