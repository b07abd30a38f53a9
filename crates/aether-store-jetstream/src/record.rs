//! What Aether stores in JetStream messages: the event record (one message per append,
//! holding its 1..n events) and the snapshot record.
//!
//! Both are MessagePack maps with field names and a `format` field, so a later format can
//! add fields without breaking what is stored, and a reader meeting a format it does not
//! know says so instead of guessing. Bytes that are not a well-formed record (a message
//! not written by Aether) decode to [`Error::Codec`], never a panic.
//!
//! Event records are written in format 2 (the default) or, for a rolling upgrade from a
//! version that reads only format 1, in format 1; both are read. `docs/jetstream.md`
//! describes both layouts byte by byte.
//!
//! The event record is encoded and, in the layout Aether writes, decoded by hand rather
//! than through rmp-serde: measured, encoding takes about 25 ns per event against twice
//! that through serde, and decoding 115 against 205 ns per event, about 20 us off an
//! activation of 100 events (`docs/benchmarks.md`, "The store"). Serde stays the reference:
//! tests hold the hand-written encoder to its bytes and anything else goes through it.
//! Every length and number cast in the codec is checked by the cast lints below.

#![warn(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap,
    clippy::cast_lossless
)]

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use aether_core::{
    ActorId, ActorSnapshot, CommandRecord, Error, Event, Metadata, NewEvent, OffsetDateTime,
    Result, StorePosition, Version,
};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The format of event records this version of Aether writes by default.
pub(crate) const EVENT_FORMAT: u32 = 2;
/// The event record format of earlier versions, still read, and written on request
/// (`JetStreamStoreOptions::record_format(1)`) during a rolling upgrade.
pub(crate) const EVENT_FORMAT_1: u32 = 1;
/// The format of snapshot records written by this version of Aether.
pub(crate) const SNAPSHOT_FORMAT: u32 = 1;

/// The metadata header a format-1 record keeps a command's reply in: the lowercase hex of
/// the reply's bytes, on the command's first event (what the actor runtime of format-1
/// versions writes and reads).
pub(crate) const REPLY_HEADER: &str = "aether-reply";

/// The event record as serde writes it: the reference the hand-written encoder is tested
/// against (format 2; format 1 has no `type` and keeps a reply in the metadata).
#[cfg(test)]
#[derive(Serialize)]
struct RecordOut<'a> {
    format: u32,
    actor: &'a str,
    first: u64,
    #[serde(with = "time::serde::timestamp::nanoseconds")]
    time: OffsetDateTime,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    aggregate_type: Option<&'a str>,
    events: EventsOut<'a>,
}

/// The events of a record, serialized straight from the caller's slice.
#[cfg(test)]
struct EventsOut<'a>(&'a [NewEvent], u32);

#[cfg(test)]
impl Serialize for EventsOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let format = self.1;
        s.collect_seq(self.0.iter().map(|e| {
            let meta = if format == EVENT_FORMAT_1 {
                format1_metadata(Some(&e.metadata), e.command.as_deref())
            } else {
                Cow::Borrowed(&e.metadata)
            };
            EventOut {
                id: e.id,
                event_type: &e.event_type,
                data: &e.data,
                meta: (*meta != Metadata::default()).then_some(meta),
                cmd: e
                    .command
                    .as_deref()
                    .filter(|_| format != EVENT_FORMAT_1)
                    .map(|c| CommandOut {
                        reply: &c.reply,
                        variant: c.variant.as_deref(),
                        hash: c.hash,
                    }),
            }
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
    meta: Option<Cow<'a, Metadata>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cmd: Option<CommandOut<'a>>,
}

#[cfg(test)]
#[derive(Serialize)]
struct CommandOut<'a> {
    #[serde(with = "serde_bytes")]
    reply: &'a [u8],
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hash: Option<u64>,
}

/// Decoded without copying: strings and payloads borrow the message's bytes. Reads both
/// formats; the keys format 1 does not have are ignored in a format-1 record.
#[derive(Deserialize)]
struct RecordIn<'a> {
    format: u32,
    #[serde(borrow)]
    actor: Cow<'a, str>,
    first: u64,
    #[serde(with = "time::serde::timestamp::nanoseconds")]
    time: OffsetDateTime,
    #[serde(rename = "type", default, borrow)]
    aggregate_type: Option<Cow<'a, str>>,
    /// Reserved (format 2): the id of the node that wrote the record. Read, not used.
    #[serde(default, borrow)]
    #[expect(dead_code, reason = "checked for its type only")]
    node: Option<Cow<'a, str>>,
    /// Reserved (format 2): the version of the shard map the writer held. Read, not used.
    #[serde(default)]
    #[expect(dead_code, reason = "checked for its type only")]
    map: Option<u64>,
    #[serde(borrow)]
    events: Vec<EventIn<'a>>,
}

#[derive(Deserialize)]
struct EventIn<'a> {
    id: Uuid,
    #[serde(rename = "type", borrow)]
    event_type: Cow<'a, str>,
    #[serde(with = "serde_bytes", borrow)]
    data: Cow<'a, [u8]>,
    #[serde(default)]
    meta: Option<Metadata>,
    #[serde(default, borrow)]
    cmd: Option<CommandIn<'a>>,
}

#[derive(Deserialize)]
struct CommandIn<'a> {
    #[serde(with = "serde_bytes", borrow)]
    reply: Cow<'a, [u8]>,
    #[serde(default)]
    variant: Option<String>,
    #[serde(default)]
    hash: Option<u64>,
}

impl EventIn<'_> {
    /// The event as stored, its payload and reply slices of `whole` (the message's bytes)
    /// where serde borrowed them; its command record only in format 2 (`v2`).
    fn stored(self, whole: &Bytes, v2: bool) -> StoredEvent {
        let bytes_of = |b: Cow<'_, [u8]>| match b {
            Cow::Borrowed(d) => sub_bytes(whole, d),
            Cow::Owned(d) => Bytes::from(d),
        };
        StoredEvent {
            id: self.id,
            event_type: self.event_type.into_owned(),
            data: bytes_of(self.data),
            meta: self.meta,
            command: self.cmd.filter(|_| v2).map(|c| {
                let mut rec = CommandRecord::new(bytes_of(c.reply));
                rec.variant = c.variant.map(std::borrow::Cow::Owned);
                rec.hash = c.hash;
                Arc::new(rec)
            }),
        }
    }
}

/// One event of a decoded record; its payload (and reply) are ranges of the message's bytes.
struct StoredEvent {
    id: Uuid,
    event_type: String,
    data: Bytes,
    meta: Option<Metadata>,
    command: Option<Arc<CommandRecord>>,
}

/// The metadata a format-1 record stores for an event with `metadata` and `command`: the
/// metadata, with the command's reply as the lowercase hex [`REPLY_HEADER`].
fn format1_metadata<'a>(
    metadata: Option<&'a Metadata>,
    command: Option<&CommandRecord>,
) -> Cow<'a, Metadata> {
    static NONE: std::sync::OnceLock<Metadata> = std::sync::OnceLock::new();
    let metadata = metadata.unwrap_or_else(|| NONE.get_or_init(Metadata::default));
    match command {
        None => Cow::Borrowed(metadata),
        Some(c) => {
            let mut m = metadata.clone();
            m.headers
                .insert(REPLY_HEADER.to_owned(), hex::encode(&c.reply));
            Cow::Owned(m)
        }
    }
}

/// Encodes the record of one append in `format` (see [`encode_events_into`]).
#[cfg(test)]
pub(crate) fn encode_events(
    actor: &ActorId,
    first: Version,
    events: &[NewEvent],
    time: OffsetDateTime,
    format: u32,
) -> Result<Vec<u8>> {
    let mut buf = bytes::BytesMut::new();
    Ok(encode_events_into(&mut buf, actor, first, events, time, format)?.to_vec())
}

/// Encodes the record of one append (`events` stored as versions `first..`, stamped `time`)
/// in `format` (2, or 1 for readers of earlier versions) into the spare room of `buf` and
/// splits it off: consecutive records share one allocation instead of each taking its own.
///
/// Written by hand, byte for byte what `rmp_serde::encode::write_named` makes of
/// [`RecordOut`] (a test holds the two equal): this runs once per append, and going through
/// serde and `io::Write` cost about twice as much (so did `rmp`'s own primitives, which write
/// through `io::Write`: 38 against 20 ns per event). Metadata is written by hand too, as
/// serde writes [`Metadata`].
///
/// Format 1 drops the aggregate type and a command's variant and hash, and keeps a
/// command's reply as the hex [`REPLY_HEADER`] of its event's metadata.
pub(crate) fn encode_events_into(
    buf: &mut bytes::BytesMut,
    actor: &ActorId,
    first: Version,
    events: &[NewEvent],
    time: OffsetDateTime,
    format: u32,
) -> Result<Bytes> {
    let v1 = format == EVENT_FORMAT_1;
    // The aggregate type is the record's: every event of an append has the same one.
    let aggregate_type = events
        .first()
        .and_then(|e| e.aggregate_type.as_deref())
        .filter(|_| !v1);
    let size = record_size_bound(actor, aggregate_type, events);
    // Every length the record holds is part of it, so this bounds them all (see `len32`).
    if u32::try_from(size).is_err() {
        return Err(Error::invalid(
            "append",
            format!("{} events take more than 4 GiB in one record", events.len()),
        ));
    }
    if buf.capacity() - buf.len() < size {
        buf.reserve(size.max(ARENA_CHUNK));
    }
    // `split` below takes the whole buffer: it holds nothing but this record.
    debug_assert!(buf.is_empty(), "the arena is split after every record");
    put_map_len(buf, 5 + usize::from(aggregate_type.is_some()));
    put_str(buf, "format");
    put_uint(
        buf,
        u64::from(if v1 { EVENT_FORMAT_1 } else { EVENT_FORMAT }),
    );
    put_str(buf, "actor");
    put_str(buf, actor.as_str());
    put_str(buf, "first");
    put_uint(buf, first);
    put_str(buf, "time");
    put_bin(buf, &time.unix_timestamp_nanos().to_be_bytes());
    if let Some(t) = aggregate_type {
        put_str(buf, "type");
        put_str(buf, t);
    }
    put_str(buf, "events");
    put_array_len(buf, events.len());
    for e in events {
        put_event(buf, e, v1);
    }
    Ok(buf.split().freeze())
}

/// At least the size of the record [`encode_events_into`] writes (`put_*` grow the buffer
/// should it be short, but every length in the record is part of this bound).
fn record_size_bound(actor: &ActorId, aggregate_type: Option<&str>, events: &[NewEvent]) -> usize {
    96 + actor.as_str().len()
        + aggregate_type.map_or(0, str::len)
        + events
            .iter()
            .map(|e| {
                48 + e.event_type.len()
                    + e.data.len()
                    + metadata_estimate(&e.metadata)
                    + e.command.as_ref().map_or(0, |c| {
                        48 + 2 * c.reply.len() + c.variant.as_ref().map_or(0, |v| v.len())
                    })
            })
            .sum::<usize>()
}

/// One event of a record: its id, type and data, its metadata when it has any, and its
/// command record (format 2; format 1 keeps the reply as a metadata header instead).
fn put_event(buf: &mut bytes::BytesMut, e: &NewEvent, v1: bool) {
    let meta = has_metadata(&e.metadata);
    let (meta, reply_header, cmd) = match &e.command {
        Some(c) if v1 => (true, Some(&c.reply[..]), None),
        c => (meta, None, c.as_deref()),
    };
    put_map_len(buf, 3 + usize::from(meta) + usize::from(cmd.is_some()));
    put_str(buf, "id");
    put_bin(buf, e.id.as_bytes());
    put_str(buf, "type");
    put_str(buf, &e.event_type);
    put_str(buf, "data");
    put_bin(buf, &e.data);
    if meta {
        put_str(buf, "meta");
        put_metadata(buf, &e.metadata, reply_header);
    }
    if let Some(c) = cmd {
        put_str(buf, "cmd");
        put_command(buf, c);
    }
}

/// A command record as serde writes [`CommandOut`]: the reply, then the variant and the
/// hash when there are.
fn put_command(buf: &mut bytes::BytesMut, c: &CommandRecord) {
    put_map_len(
        buf,
        1 + usize::from(c.variant.is_some()) + usize::from(c.hash.is_some()),
    );
    put_str(buf, "reply");
    put_bin(buf, &c.reply);
    if let Some(v) = &c.variant {
        put_str(buf, "variant");
        put_str(buf, v);
    }
    if let Some(h) = c.hash {
        put_str(buf, "hash");
        put_uint(buf, h);
    }
}

/// Whether `m` is not empty (empty metadata is not written).
fn has_metadata(m: &Metadata) -> bool {
    m.correlation_id.is_some() || m.causation_id.is_some() || !m.headers.is_empty()
}

fn metadata_estimate(m: &Metadata) -> usize {
    if !has_metadata(m) {
        return 0;
    }
    80 + m
        .headers
        .iter()
        .map(|(k, v)| 10 + k.len() + v.len())
        .sum::<usize>()
}

/// `m` as serde writes [`Metadata`] with field names: a map of `correlation_id` and
/// `causation_id` (16-byte binaries, or nil) and `headers` (a map of strings, in key
/// order). With `reply`, its lowercase hex is the [`REPLY_HEADER`] (format 1).
fn put_metadata(buf: &mut bytes::BytesMut, m: &Metadata, reply: Option<&[u8]>) {
    use bytes::BufMut;
    let put_id = |buf: &mut bytes::BytesMut, id: Option<Uuid>| match id {
        Some(id) => put_bin(buf, id.as_bytes()),
        None => buf.put_u8(0xc0),
    };
    put_map_len(buf, 3);
    put_str(buf, "correlation_id");
    put_id(buf, m.correlation_id);
    put_str(buf, "causation_id");
    put_id(buf, m.causation_id);
    put_str(buf, "headers");
    match reply {
        None => {
            put_map_len(buf, m.headers.len());
            for (k, v) in &m.headers {
                put_str(buf, k);
                put_str(buf, v);
            }
        }
        Some(reply) => put_headers_with_reply(buf, &m.headers, reply),
    }
}

/// `headers` with the lowercase hex of `reply` as the [`REPLY_HEADER`] (replacing any
/// header of that name), in key order as serde writes a map.
fn put_headers_with_reply(
    buf: &mut bytes::BytesMut,
    headers: &BTreeMap<String, String>,
    reply: &[u8],
) {
    let hex = hex::encode(reply);
    let replaced = headers.contains_key(REPLY_HEADER);
    put_map_len(buf, headers.len() + usize::from(!replaced));
    let mut written = false;
    for (k, v) in headers {
        if k == REPLY_HEADER {
            continue;
        }
        if !written && k.as_str() > REPLY_HEADER {
            put_str(buf, REPLY_HEADER);
            put_str(buf, &hex);
            written = true;
        }
        put_str(buf, k);
        put_str(buf, v);
    }
    if !written {
        put_str(buf, REPLY_HEADER);
        put_str(buf, &hex);
    }
}

// MessagePack, as the `rmp` encoder writes it: the shortest form of each length and number.

/// `len`, a length within a record, as MessagePack's widest length (32 bits).
#[expect(
    clippy::cast_possible_truncation,
    reason = "encode_events_into refuses a record whose size bound is over u32::MAX, and \
              every length it writes (of a string, a binary, a map or an array) is part of it"
)]
fn len32(len: usize) -> u32 {
    debug_assert!(u32::try_from(len).is_ok(), "a record over 4 GiB");
    len as u32
}

/// A length header: the fix form `fix.0 | len` while `len <= fix.1` (maps, arrays, strings),
/// else the 8-bit form where the type has one (strings, binaries), else 16 or 32 bits.
#[inline]
fn put_len(
    buf: &mut bytes::BytesMut,
    len: usize,
    fix: Option<(u8, u8)>,
    m8: Option<u8>,
    m16: u8,
    m32: u8,
) {
    use bytes::BufMut;
    let len = len32(len);
    match (fix, m8, u8::try_from(len), u16::try_from(len)) {
        (Some((marker, max)), _, Ok(small), _) if small <= max => buf.put_u8(marker | small),
        (_, Some(marker), Ok(byte), _) => {
            buf.put_u8(marker);
            buf.put_u8(byte);
        }
        (_, _, _, Ok(short)) => {
            buf.put_u8(m16);
            buf.put_u16(short);
        }
        _ => {
            buf.put_u8(m32);
            buf.put_u32(len);
        }
    }
}

fn put_map_len(buf: &mut bytes::BytesMut, len: usize) {
    put_len(buf, len, Some((0x80, 15)), None, 0xde, 0xdf);
}

fn put_array_len(buf: &mut bytes::BytesMut, len: usize) {
    put_len(buf, len, Some((0x90, 15)), None, 0xdc, 0xdd);
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

/// `n` in the shortest of MessagePack's unsigned forms.
fn put_uint(buf: &mut bytes::BytesMut, n: u64) {
    use bytes::BufMut;
    match (u8::try_from(n), u16::try_from(n), u32::try_from(n)) {
        (Ok(fix @ 0..=0x7f), _, _) => buf.put_u8(fix),
        (Ok(byte), _, _) => {
            buf.put_u8(0xcc);
            buf.put_u8(byte);
        }
        (_, Ok(short), _) => {
            buf.put_u8(0xcd);
            buf.put_u16(short);
        }
        (_, _, Ok(word)) => {
            buf.put_u8(0xce);
            buf.put_u32(word);
        }
        _ => {
            buf.put_u8(0xcf);
            buf.put_u64(n);
        }
    }
}

/// How much room the record arena takes at a time.
const ARENA_CHUNK: usize = 64 * 1024;

/// A record with its time replaced by `time`: the same bytes otherwise. `None` when `record`
/// is not laid out as [`encode_events_into`] writes it.
pub(crate) fn restamped(record: &Bytes, time: OffsetDateTime) -> Option<Bytes> {
    let mut r = MsgpackReader { buf: record, at: 0 };
    if !(0x85..=0x86).contains(&r.byte()?) || r.str()? != "format" {
        return None;
    }
    r.uint()?;
    if r.str()? != "actor" {
        return None;
    }
    r.str()?;
    if r.str()? != "first" {
        return None;
    }
    r.uint()?;
    if r.str()? != "time" || r.byte()? != 0xc4 || r.byte()? != 16 {
        return None;
    }
    let mut out = record.to_vec();
    out.get_mut(r.at..r.at + 16)?
        .copy_from_slice(&time.unix_timestamp_nanos().to_be_bytes());
    Some(Bytes::from(out))
}

/// A decoded event record: the events of one append.
pub(crate) struct EventRecord {
    format: u32,
    first: Version,
    time: OffsetDateTime,
    aggregate_type: Option<Arc<str>>,
    events: Vec<StoredEvent>,
}

/// One event as the comparisons of retries see it.
struct View<'a> {
    id: Uuid,
    event_type: &'a str,
    data: &'a [u8],
    meta: Option<&'a Metadata>,
    command: Option<&'a CommandRecord>,
    aggregate_type: Option<&'a str>,
}

impl View<'_> {
    /// Whether both hold the same event as far as a record of `format` tells: format 2
    /// everything, format 1 neither the aggregate type nor a command's variant and hash (its
    /// reply is a metadata header there).
    fn same(&self, other: &View<'_>, format: u32) -> bool {
        if self.id != other.id || self.event_type != other.event_type || self.data != other.data {
            return false;
        }
        if format == EVENT_FORMAT_1 {
            return format1_metadata(self.meta, self.command)
                == format1_metadata(other.meta, other.command);
        }
        let none = Metadata::default();
        self.meta.unwrap_or(&none) == other.meta.unwrap_or(&none)
            && self.command == other.command
            && self.aggregate_type == other.aggregate_type
    }
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

    /// The format the record was written in.
    #[cfg(test)]
    pub(crate) fn format(&self) -> u32 {
        self.format
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

    fn views(&self) -> impl Iterator<Item = View<'_>> {
        self.events.iter().map(|e| View {
            id: e.id,
            event_type: &e.event_type,
            data: &e.data,
            meta: e.meta.as_ref(),
            command: e.command.as_deref(),
            aggregate_type: self.aggregate_type.as_deref(),
        })
    }

    /// Whether the record holds exactly `events` as its format stores them (ids, types,
    /// payloads, metadata; in format 2 also the aggregate type and command records; in
    /// format 1 a command's reply as its hex header).
    pub(crate) fn same_content(&self, events: &[NewEvent]) -> bool {
        self.events.len() == events.len()
            && self.views().zip(events).all(|(s, n)| {
                let n = View {
                    id: n.id,
                    event_type: &n.event_type,
                    data: &n.data,
                    meta: Some(&n.metadata),
                    command: n.command.as_deref(),
                    aggregate_type: n.aggregate_type.as_deref(),
                };
                s.same(&n, self.format)
            })
    }

    /// Whether both records hold the same events, whatever their versions and times, as far
    /// as the older of their formats tells.
    pub(crate) fn same_events(&self, other: &EventRecord) -> bool {
        let format = self.format.min(other.format);
        self.events.len() == other.events.len()
            && self
                .views()
                .zip(other.views())
                .all(|(a, b)| a.same(&b, format))
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
        let aggregate_type = self.aggregate_type;
        self.events
            .into_iter()
            .enumerate()
            .map(move |(i, e)| (first + i as u64, e))
            .filter(move |(v, _)| *v >= from && *v <= to)
            .map(move |(version, e)| {
                let mut event = blank_event();
                event.id = e.id;
                event.event_type = e.event_type;
                event.actor_id = actor.clone();
                event.version = version;
                event.data = e.data;
                event.metadata = e.meta.unwrap_or_default();
                event.timestamp = timestamp;
                event.aggregate_type.clone_from(&aggregate_type);
                event.command = e.command;
                event
            })
    }
}

/// An event with nothing in it, to fill in (`Event` is built outside aether-core only from
/// a `NewEvent`, whose constructor would draw an id for nothing): a per-thread template
/// whose clone allocates nothing.
fn blank_event() -> Event {
    thread_local! {
        static BLANK: Event = Event::from_new(
            ActorId::new("blank").expect("a valid actor id"),
            0,
            NewEvent::new(String::new(), Bytes::new()),
            OffsetDateTime::UNIX_EPOCH,
        );
    }
    BLANK.with(Event::clone)
}

/// Decodes an event record found on `actor`'s subject (at stream sequence `seq`, for the
/// error message), in format 2 or 1.
///
/// # Errors
/// [`Error::Codec`] when the bytes are not an event record Aether can read (another
/// format included), belong to another actor, or hold no events or impossible versions.
pub(crate) fn decode_events(bytes: &Bytes, actor: &ActorId, seq: u64) -> Result<EventRecord> {
    match decode_exact_layout(bytes, actor) {
        Some(rec) => Ok(rec),
        None => decode_with_serde(bytes, actor, seq),
    }
}

/// The last version and the time of an event record of `actor` (at stream sequence `seq`,
/// for the error message): only the keys before its events are read when the record is
/// laid out as Aether writes it, the whole record otherwise.
///
/// # Errors
/// As [`decode_events`].
pub(crate) fn decode_tail(
    bytes: &Bytes,
    actor: &ActorId,
    seq: u64,
) -> Result<(Version, OffsetDateTime)> {
    let mut r = MsgpackReader { buf: bytes, at: 0 };
    let tail = r.record_head(actor).and_then(|head| {
        let count = r.array_len()?;
        // Every event takes at least 35 bytes: a forged count goes to the full decoder.
        if count == 0 || count > bytes.len() / 35 || head.first == 0 {
            return None;
        }
        let last = head.first.checked_add(u64::try_from(count - 1).ok()?)?;
        Some((last, head.time))
    });
    match tail {
        Some(tail) => Ok(tail),
        None => decode_events(bytes, actor, seq).map(|rec| (rec.last(), rec.time())),
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
    if record.format != EVENT_FORMAT && record.format != EVENT_FORMAT_1 {
        return Err(bad(format!(
            "event record format {} is unknown to this version of Aether (it reads formats \
             {EVENT_FORMAT_1} and {EVENT_FORMAT})",
            record.format
        )));
    }
    if record.actor != actor.as_str() {
        return Err(bad(format!("holds events of actor {:?}", record.actor)));
    }
    // Format 1 has neither an aggregate type nor command records: such keys in a format-1
    // record are not Aether's, and ignored as unknown keys are.
    let v2 = record.format == EVENT_FORMAT;
    let events: Vec<StoredEvent> = record
        .events
        .into_iter()
        .map(|e| e.stored(bytes, v2))
        .collect();
    if events.is_empty() {
        return Err(bad("holds no events".into()));
    }
    if record.first == 0 || record.first.checked_add(events.len() as u64).is_none() {
        return Err(bad(format!("first version {} is impossible", record.first)));
    }
    Ok(EventRecord {
        format: record.format,
        first: record.first,
        time: record.time,
        aggregate_type: record.aggregate_type.filter(|_| v2).map(Arc::from),
        events,
    })
}

/// The record of `actor` in `bytes` when it is laid out exactly as [`encode_events_into`]
/// writes it (either format: keys in order, metadata as serde writes [`Metadata`], nothing
/// after it; format 2 may also hold the reserved `node` and `map` keys) and valid; `None`
/// for anything else, which the serde decoder then reads or explains. Replays and
/// activations decode every message, and this reads one in a fraction of serde's time.
fn decode_exact_layout(bytes: &Bytes, actor: &ActorId) -> Option<EventRecord> {
    let mut r = MsgpackReader { buf: bytes, at: 0 };
    let head = r.record_head(actor)?;
    let count = r.array_len()?;
    // Every event takes at least 35 bytes; the first allocation is bounded besides, so a
    // forged count cannot make it large.
    if count == 0 || count > bytes.len() / 35 {
        return None;
    }
    let mut events = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        events.push(r.event(bytes, head.v2)?);
    }
    let first = head.first;
    let fits = u64::try_from(count)
        .ok()
        .and_then(|n| first.checked_add(n))
        .is_some();
    if r.at != bytes.len() || first == 0 || !fits {
        return None;
    }
    Some(EventRecord {
        format: if head.v2 {
            EVENT_FORMAT
        } else {
            EVENT_FORMAT_1
        },
        first,
        time: head.time,
        aggregate_type: head.aggregate_type,
        events,
    })
}

/// What an event record says before its events, as [`decode_exact_layout`] reads it.
struct RecordHead {
    /// Format 2 (else 1).
    v2: bool,
    first: Version,
    time: OffsetDateTime,
    aggregate_type: Option<Arc<str>>,
}

/// Reads MessagePack values off a buffer; `None` past its end or on another type.
struct MsgpackReader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> MsgpackReader<'a> {
    /// The keys of an event record before its events, in the order [`encode_events_into`]
    /// writes them, for `actor`, up to and including the `events` key.
    fn record_head(&mut self, actor: &ActorId) -> Option<RecordHead> {
        let keys = self.fixmap_len()?;
        if self.str()? != "format" {
            return None;
        }
        let v2 = match u32::try_from(self.uint()?).ok()? {
            EVENT_FORMAT => true,
            EVENT_FORMAT_1 if keys == 5 => false,
            _ => return None,
        };
        if !(5..=8).contains(&keys) || self.str()? != "actor" || self.str()? != actor.as_str() {
            return None;
        }
        if self.str()? != "first" {
            return None;
        }
        let first = self.uint()?;
        if self.str()? != "time" {
            return None;
        }
        // As serde reads an i128: only a bin8 of 16 bytes (it refuses bin16 and bin32).
        if self.byte()? != 0xc4 || self.byte()? != 16 {
            return None;
        }
        let nanos: [u8; 16] = self.take(16)?.try_into().ok()?;
        let time = OffsetDateTime::from_unix_timestamp_nanos(i128::from_be_bytes(nanos)).ok()?;
        let aggregate_type = self.optional_record_keys(keys - 5)?;
        Some(RecordHead {
            v2,
            first,
            time,
            aggregate_type,
        })
    }

    /// Format 2's `optional` keys, in this order: `type` (returned), then the reserved
    /// `node` and `map`; then the `events` key.
    fn optional_record_keys(&mut self, mut optional: u32) -> Option<Option<Arc<str>>> {
        let mut key = self.str()?;
        let mut aggregate_type = None;
        if optional > 0 && key == "type" {
            aggregate_type = Some(Arc::<str>::from(self.str()?));
            optional -= 1;
            key = self.str()?;
        }
        if optional > 0 && key == "node" {
            self.str()?;
            optional -= 1;
            key = self.str()?;
        }
        if optional > 0 && key == "map" {
            self.uint()?;
            optional -= 1;
            key = self.str()?;
        }
        (optional == 0 && key == "events").then_some(aggregate_type)
    }

    /// One event as [`encode_events_into`] writes it (a command record only in format 2,
    /// `v2`); its data a slice of `whole`.
    fn event(&mut self, whole: &Bytes, v2: bool) -> Option<StoredEvent> {
        let keys = self.fixmap_len()?;
        if !(3..=if v2 { 5 } else { 4 }).contains(&keys) || self.str()? != "id" {
            return None;
        }
        let id = Uuid::from_slice(self.bin()?).ok()?;
        if self.str()? != "type" {
            return None;
        }
        let event_type = self.str()?.to_owned();
        if self.str()? != "data" {
            return None;
        }
        let data = sub_bytes(whole, self.bin()?);
        let (meta, command) = self.optional_event_keys(whole, keys - 3, v2)?;
        Some(StoredEvent {
            id,
            event_type,
            data,
            meta,
            command,
        })
    }

    /// An event's `optional` keys: `meta`, then `cmd` (format 2 only: serde reads
    /// anything else).
    fn optional_event_keys(
        &mut self,
        whole: &Bytes,
        mut optional: u32,
        v2: bool,
    ) -> Option<(Option<Metadata>, Option<Arc<CommandRecord>>)> {
        if optional == 0 {
            return Some((None, None));
        }
        let mut meta = None;
        let mut key = self.str()?;
        if key == "meta" {
            meta = Some(self.metadata()?);
            optional -= 1;
            if optional == 0 {
                return Some((meta, None));
            }
            key = self.str()?;
        }
        if key != "cmd" || optional > 1 || !v2 {
            return None;
        }
        Some((meta, Some(Arc::new(self.command(whole)?))))
    }

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

    /// A length of `n` bytes, big-endian (`None` past what this machine can address).
    fn be_len(&mut self, n: usize) -> Option<usize> {
        usize::try_from(self.be(n)?).ok()
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
            0xd9 => self.be_len(1)?,
            0xda => self.be_len(2)?,
            0xdb => self.be_len(4)?,
            _ => return None,
        };
        std::str::from_utf8(self.take(len)?).ok()
    }

    fn bin(&mut self) -> Option<&'a [u8]> {
        let len = match self.byte()? {
            0xc4 => self.be_len(1)?,
            0xc5 => self.be_len(2)?,
            0xc6 => self.be_len(4)?,
            _ => return None,
        };
        self.take(len)
    }

    fn array_len(&mut self) -> Option<usize> {
        match self.byte()? {
            b @ 0x90..=0x9f => Some(usize::from(b & 0x0f)),
            0xdc => self.be_len(2),
            0xdd => self.be_len(4),
            _ => None,
        }
    }

    fn fixmap_len(&mut self) -> Option<u32> {
        match self.byte()? {
            b @ 0x80..=0x8f => Some(u32::from(b & 0x0f)),
            _ => None,
        }
    }

    fn map_len(&mut self) -> Option<usize> {
        match self.byte()? {
            b @ 0x80..=0x8f => Some(usize::from(b & 0x0f)),
            0xde => self.be_len(2),
            0xdf => self.be_len(4),
            _ => None,
        }
    }

    /// A uuid as serde writes an `Option<Uuid>`: a 16-byte binary, or nil.
    fn optional_id(&mut self) -> Option<Option<Uuid>> {
        if self.buf.get(self.at) == Some(&0xc0) {
            self.at += 1;
            return Some(None);
        }
        Some(Some(Uuid::from_slice(self.bin()?).ok()?))
    }

    /// [`Metadata`] as serde writes it with field names (see [`put_metadata`]).
    fn metadata(&mut self) -> Option<Metadata> {
        if self.fixmap_len()? != 3 || self.str()? != "correlation_id" {
            return None;
        }
        let mut m = Metadata::new();
        m.correlation_id = self.optional_id()?;
        if self.str()? != "causation_id" {
            return None;
        }
        m.causation_id = self.optional_id()?;
        if self.str()? != "headers" {
            return None;
        }
        let n = self.map_len()?;
        let mut headers = BTreeMap::new();
        for _ in 0..n {
            let k = self.str()?;
            let v = self.str()?;
            headers.insert(k.to_owned(), v.to_owned());
        }
        m.headers = headers;
        Some(m)
    }

    /// A command record as [`encode_events_into`] writes it; its reply a slice of `whole`.
    fn command(&mut self, whole: &Bytes) -> Option<CommandRecord> {
        let keys = self.fixmap_len()?;
        if !(1..=3).contains(&keys) || self.str()? != "reply" {
            return None;
        }
        let mut rec = CommandRecord::new(sub_bytes(whole, self.bin()?));
        let mut optional = keys - 1;
        if optional > 0 {
            let mut key = self.str()?;
            if key == "variant" {
                rec.variant = Some(std::borrow::Cow::Owned(self.str()?.to_owned()));
                optional -= 1;
                if optional > 0 {
                    key = self.str()?;
                }
            }
            if optional > 0 {
                if key != "hash" || optional > 1 {
                    return None;
                }
                rec.hash = Some(self.uint()?);
            }
        }
        Some(rec)
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
    let mut snapshot = ActorSnapshot::new(actor.clone(), record.version, record.schema, state);
    snapshot.position = StorePosition(record.position);
    snapshot.timestamp = record.timestamp;
    Ok(SnapshotHead {
        snapshot,
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

    const FORMATS: [u32; 2] = [EVENT_FORMAT_1, EVENT_FORMAT];

    /// What the actor runtime writes for one command: causation and correlation ids on every
    /// event, the aggregate type, and the command record on the first event.
    fn command_events(n: usize, reply: &[u8], with_id: bool) -> Vec<NewEvent> {
        let meta = Metadata::new()
            .correlation_id(Uuid::now_v7())
            .causation_id(Uuid::now_v7());
        (0..n)
            .map(|i| {
                let e = NewEvent::new(
                    format!("Event{i}"),
                    vec![u8::try_from(i).expect("a few events"); 12],
                )
                .with_metadata(meta.clone())
                .with_aggregate_type("Account");
                if i == 0 {
                    let c = CommandRecord::new(reply.to_vec());
                    e.with_command(if with_id {
                        c.with_command("Deposit", 0xfeed)
                    } else {
                        c
                    })
                } else {
                    e
                }
            })
            .collect()
    }

    #[test]
    fn the_tail_of_a_record_is_read_from_its_head_and_bad_records_are_codec_errors() {
        let a = actor();
        let time = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        for format in FORMATS {
            let bytes = encode_events(&a, 7, &command_events(3, b"ok", true), time, format);
            let bytes = Bytes::from(bytes.unwrap());
            assert_eq!(decode_tail(&bytes, &a, 1).unwrap(), (9, time));
        }
        let err = decode_tail(&Bytes::from_static(b"garbage"), &a, 12).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Codec);
        assert!(err.to_string().contains("message 12"), "{err}");
        let other_actor = encode_events(&actor(), 1, &command_events(1, b"", false), time, 2);
        let other_actor = Bytes::from(other_actor.unwrap());
        let b = ActorId::new("acc-bob").unwrap();
        assert_eq!(
            decode_tail(&other_actor, &b, 1).unwrap_err().kind(),
            ErrorKind::Codec
        );
    }

    #[test]
    fn event_record_round_trips_with_and_without_metadata() {
        let a = actor();
        for format in FORMATS {
            let events = vec![
                NewEvent::new("Opened", b"x".to_vec()),
                NewEvent::new("Deposited", vec![0u8, 255, 7]).with_metadata(
                    Metadata::new()
                        .correlation_id(Uuid::now_v7())
                        .causation_id(Uuid::now_v7())
                        .header("k", "v"),
                ),
            ];
            let bytes = encode_events(&a, 5, &events, OffsetDateTime::now_utc(), format).unwrap();
            let rec = decode_events(&Bytes::from(bytes), &a, 9).unwrap();
            assert_eq!(
                (rec.first(), rec.last(), rec.first_id(), rec.format()),
                (5, 6, events[0].id, format)
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
    }

    #[test]
    fn format_2_keeps_the_aggregate_type_and_command_records() {
        let a = actor();
        let events = command_events(3, b"\x81\xa7balance\x05", true);
        let bytes = encode_events(&a, 1, &events, OffsetDateTime::now_utc(), EVENT_FORMAT).unwrap();
        let bytes = Bytes::from(bytes);
        let rec = decode_exact_layout(&bytes, &a).expect("the fast path reads it");
        assert!(rec.same_content(&events));
        let stored: Vec<Event> = rec.into_events(&a, 1, 100).collect();
        assert_eq!(stored.len(), 3);
        for (n, s) in events.iter().zip(&stored) {
            assert!(n.same_content(s), "{n:?} {s:?}");
            assert_eq!(s.aggregate_type(), Some("Account"));
        }
        let cmd = stored[0].command.as_deref().unwrap();
        assert_eq!(&cmd.reply[..], b"\x81\xa7balance\x05");
        assert_eq!(cmd.variant.as_deref(), Some("Deposit"));
        assert_eq!(cmd.hash, Some(0xfeed));
        assert!(stored[1].command.is_none());
        assert!(stored[0].metadata.headers.is_empty());
        // The reply is a slice of the message, not a copy.
        let at = cmd.reply.as_ptr() as usize - bytes.as_ptr() as usize;
        assert!(at < bytes.len());
    }

    #[test]
    fn format_1_keeps_the_reply_as_a_hex_header_and_drops_the_rest() {
        let a = actor();
        let mut events = command_events(2, &[0x81, 0xa1, b'b', 0x0f], true);
        events[0]
            .metadata
            .headers
            .insert("zz".into(), "after".into());
        events[0]
            .metadata
            .headers
            .insert("aa".into(), "before".into());
        let bytes =
            encode_events(&a, 1, &events, OffsetDateTime::now_utc(), EVENT_FORMAT_1).unwrap();
        let rec = decode_exact_layout(&Bytes::from(bytes), &a).expect("the fast path reads it");
        assert_eq!(rec.format(), EVENT_FORMAT_1);
        // A retry of these events is recognised: the record holds what format 1 stores.
        assert!(rec.same_content(&events));
        let mut other_reply = events.clone();
        other_reply[0].command = Some(Arc::new(CommandRecord::new(vec![0x81u8])));
        assert!(!rec.same_content(&other_reply));
        // The variant and hash are not stored in format 1: they do not tell retries apart.
        let mut other_hash = events.clone();
        other_hash[0].command = Some(Arc::new(
            CommandRecord::new(vec![0x81, 0xa1, b'b', 0x0f]).with_command("Other", 1),
        ));
        assert!(rec.same_content(&other_hash));
        let stored: Vec<Event> = rec.into_events(&a, 1, 10).collect();
        assert_eq!(stored[0].aggregate_type, None);
        assert_eq!(stored[0].command, None);
        let h = &stored[0].metadata.headers;
        assert_eq!(h.get(REPLY_HEADER).map(String::as_str), Some("81a1620f"));
        assert_eq!(h.get("aa").map(String::as_str), Some("before"));
        assert_eq!(h.get("zz").map(String::as_str), Some("after"));
        assert!(!stored[1].metadata.headers.contains_key(REPLY_HEADER));
        assert_eq!(
            stored[1].metadata.causation_id,
            events[1].metadata.causation_id
        );
    }

    #[test]
    fn records_of_both_formats_holding_the_same_events_are_the_same_append() {
        let a = actor();
        let events = command_events(2, b"\x07", true);
        let time = OffsetDateTime::now_utc();
        let decode = |format| {
            decode_events(
                &Bytes::from(encode_events(&a, 3, &events, time, format).unwrap()),
                &a,
                1,
            )
            .unwrap()
        };
        let (v1, v2) = (decode(EVENT_FORMAT_1), decode(EVENT_FORMAT));
        assert!(v1.same_events(&v2) && v2.same_events(&v1));
        assert!(v1.same_events(&v1) && v2.same_events(&v2));
        let mut other = events.clone();
        other[1].data = Bytes::from_static(b"other");
        let o2 = decode_events(
            &Bytes::from(encode_events(&a, 3, &other, time, EVENT_FORMAT).unwrap()),
            &a,
            1,
        )
        .unwrap();
        assert!(!v1.same_events(&o2) && !o2.same_events(&v2));
    }

    fn serde_encoding(
        actor: &ActorId,
        first: Version,
        events: &[NewEvent],
        time: OffsetDateTime,
        format: u32,
    ) -> Vec<u8> {
        let record = RecordOut {
            format,
            actor: actor.as_str(),
            first,
            time,
            aggregate_type: events[0]
                .aggregate_type
                .as_deref()
                .filter(|_| format != EVENT_FORMAT_1),
            events: EventsOut(events, format),
        };
        rmp_serde::encode::to_vec_named(&record).unwrap()
    }

    /// Lengths on both sides of every MessagePack size class.
    fn edgy_len() -> impl Strategy<Value = usize> {
        prop_oneof![
            0..40usize,
            prop::sample::select(vec![127, 128, 255, 256, 65_535, 65_536, 70_000]),
        ]
    }

    fn command() -> impl Strategy<Value = Option<CommandRecord>> {
        prop::option::of((
            prop_oneof![
                0..40usize,
                prop::sample::select(vec![127, 128, 255, 256, 65_536])
            ],
            prop::option::of("[A-Za-z]{0,40}"),
            prop::option::of(any::<u64>()),
        ))
        .prop_map(|c| {
            c.map(|(len, variant, hash)| {
                let mut rec = CommandRecord::new(vec![0xa5u8; len]);
                rec.variant = variant.map(std::borrow::Cow::Owned);
                rec.hash = hash;
                rec
            })
        })
    }

    fn metadata() -> impl Strategy<Value = Metadata> {
        (
            any::<bool>(),
            any::<bool>(),
            prop::collection::btree_map(
                prop_oneof!["[a-zé-]{0,40}", Just(REPLY_HEADER.to_owned())],
                "[ -~]{0,300}",
                0..3,
            ),
        )
            .prop_map(|(corr, cause, headers)| {
                let mut m = Metadata::new();
                m.correlation_id = corr.then(Uuid::now_v7);
                m.causation_id = cause.then(Uuid::now_v7);
                m.headers = headers;
                m
            })
    }

    fn new_event() -> impl Strategy<Value = NewEvent> {
        (edgy_len(), edgy_len(), any::<u8>(), metadata(), command()).prop_map(
            |(type_len, data_len, fill, meta, cmd)| {
                let event_type: String = "é".repeat(type_len / 2) + &"t".repeat(type_len % 2 + 1);
                let mut e = NewEvent::new(event_type, vec![fill; data_len]).with_metadata(meta);
                e.command = cmd.map(Arc::new);
                e
            },
        )
    }

    fn events() -> impl Strategy<Value = Vec<NewEvent>> {
        (
            prop::collection::vec(new_event(), 1..20),
            prop::option::of(prop_oneof!["[A-Za-z]{1,20}", "[a-z]{200,300}"]),
        )
            .prop_map(|(mut events, aggregate_type)| {
                for e in &mut events {
                    e.aggregate_type = aggregate_type.as_deref().map(Arc::from);
                }
                events
            })
    }

    fn time(nanos: i128) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(nanos % 253_402_300_799_000_000_000).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn hand_written_encoding_is_what_serde_writes(
            events in events(),
            first in prop_oneof![
                1u64..300,
                prop::sample::select(vec![65_535, 65_536, u64::from(u32::MAX), u64::from(u32::MAX) + 1, u64::MAX / 2]),
            ],
            nanos in -(1i128 << 90)..(1i128 << 90),
            actor in "[a-z0-9-]{1,200}",
            format in prop::sample::select(FORMATS.to_vec()),
        ) {
            let actor = ActorId::new(actor).unwrap();
            let time = time(nanos);
            let mut arena = bytes::BytesMut::new();
            let ours = encode_events_into(&mut arena, &actor, first, &events, time, format).unwrap();
            prop_assert_eq!(&ours[..], &serde_encoding(&actor, first, &events, time, format)[..]);
            let rec = decode_events(&ours, &actor, 1).unwrap();
            prop_assert!(rec.same_content(&events));
            prop_assert_eq!(rec.time(), time);
            prop_assert_eq!(rec.format(), format);
        }
    }

    fn same_record(a: &EventRecord, b: &EventRecord) -> bool {
        a.first() == b.first()
            && a.time() == b.time()
            && a.format == b.format
            && a.aggregate_type == b.aggregate_type
            && a.same_events(b)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn the_fast_decoder_reads_what_the_encoder_writes_as_serde_does(
            events in events(),
            first in prop_oneof![1u64..300, prop::sample::select(vec![65_536, u64::MAX / 2])],
            nanos in -(1i128 << 90)..(1i128 << 90),
            format in prop::sample::select(FORMATS.to_vec()),
        ) {
            let actor = actor();
            let bytes = Bytes::from(encode_events(&actor, first, &events, time(nanos), format).unwrap());
            let by_serde = decode_with_serde(&bytes, &actor, 1).unwrap();
            // Everything the encoder writes, metadata and command records included, takes
            // the fast path.
            let fast = decode_exact_layout(&bytes, &actor);
            prop_assert!(fast.as_ref().is_some_and(|f| same_record(f, &by_serde)));
            let (fast, serde): (Vec<Event>, Vec<Event>) = (
                fast.unwrap().into_events(&actor, 1, u64::MAX).collect(),
                by_serde.into_events(&actor, 1, u64::MAX).collect(),
            );
            prop_assert_eq!(fast, serde);
            prop_assert!(decode_exact_layout(&bytes, &ActorId::new("other").unwrap()).is_none());
        }

        #[test]
        fn the_fast_decoder_agrees_with_serde_on_damaged_records(
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            cut in any::<prop::sample::Index>(),
            truncate in any::<bool>(),
            format in prop::sample::select(FORMATS.to_vec()),
            commands in any::<bool>(),
        ) {
            let actor = actor();
            let events: Vec<NewEvent> = if commands {
                command_events(3, b"\x81\xa1a\x01", true)
            } else {
                (0..3).map(|i| NewEvent::new("T", vec![i; 40])).collect()
            };
            let mut bytes = encode_events(&actor, 7, &events, OffsetDateTime::now_utc(), format).unwrap();
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
            let format = FORMATS[i % 2];
            let bytes = Bytes::from(encode_events(&actor, first, &events, time, format).unwrap());
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
    fn the_reserved_node_and_map_keys_are_read_and_ignored() {
        #[derive(Serialize)]
        struct WithReserved<'a> {
            format: u32,
            actor: &'a str,
            first: u64,
            #[serde(with = "time::serde::timestamp::nanoseconds")]
            time: OffsetDateTime,
            #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
            aggregate_type: Option<&'a str>,
            node: &'a str,
            map: u64,
            events: EventsOut<'a>,
        }
        let a = actor();
        let events = command_events(2, b"\x01", false);
        let time = OffsetDateTime::now_utc();
        for aggregate_type in [Some("Account"), None] {
            let mut events = events.clone();
            for e in &mut events {
                e.aggregate_type = aggregate_type.map(Arc::from);
            }
            let bytes = Bytes::from(
                rmp_serde::to_vec_named(&WithReserved {
                    format: 2,
                    actor: a.as_str(),
                    first: 4,
                    time,
                    aggregate_type,
                    node: "node-7",
                    map: 42,
                    events: EventsOut(&events, 2),
                })
                .unwrap(),
            );
            let fast = decode_exact_layout(&bytes, &a).expect("the fast path reads it");
            assert!(same_record(
                &fast,
                &decode_with_serde(&bytes, &a, 1).unwrap()
            ));
            assert!(fast.same_content(&events));
            assert_eq!(fast.first(), 4);
        }
        // A reserved key of the wrong type is not a record.
        #[derive(Serialize)]
        struct BadNode<'a> {
            format: u32,
            actor: &'a str,
            first: u64,
            #[serde(with = "time::serde::timestamp::nanoseconds")]
            time: OffsetDateTime,
            node: u64,
            events: EventsOut<'a>,
        }
        let bytes = Bytes::from(
            rmp_serde::to_vec_named(&BadNode {
                format: 2,
                actor: a.as_str(),
                first: 1,
                time,
                node: 3,
                events: EventsOut(&events, 2),
            })
            .unwrap(),
        );
        assert!(decode_exact_layout(&bytes, &a).is_none());
        assert_eq!(
            decode_events(&bytes, &a, 1).err().unwrap().kind(),
            ErrorKind::Codec
        );
    }

    #[test]
    fn the_fast_decoder_takes_the_time_only_as_serde_does() {
        let a = actor();
        for format in FORMATS {
            let bytes = encode_events(
                &a,
                3,
                &[NewEvent::new("T", vec![1])],
                OffsetDateTime::now_utc(),
                format,
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
    }

    #[test]
    fn a_restamped_record_differs_only_in_its_time() {
        let a = actor();
        let events = command_events(2, b"\x01", true);
        let t0 = OffsetDateTime::now_utc();
        let t1 = t0 + time::Duration::seconds(3);
        for format in FORMATS {
            let bytes = Bytes::from(encode_events(&a, 9, &events, t0, format).unwrap());
            let again = restamped(&bytes, t1).unwrap();
            assert_eq!(
                &again[..],
                &encode_events(&a, 9, &events, t1, format).unwrap()[..]
            );
            assert!(restamped(&Bytes::from_static(b"\x85\xa6format"), t1).is_none());
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
            EVENT_FORMAT,
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
            put_array_len(&mut buf, len);
            let expected = rmp_serde::to_vec(&vec![0u8; len]).unwrap();
            assert_eq!(&buf[..], &expected[..buf.len()], "array {len}");
            let mut buf = bytes::BytesMut::new();
            put_map_len(&mut buf, len);
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
    fn metadata_is_written_as_serde_writes_it() {
        let mut many = Metadata::new().causation_id(Uuid::now_v7());
        for i in 0..70_000 {
            many.headers.insert(format!("h{i}"), String::new());
        }
        for m in [
            Metadata::new(),
            Metadata::new().correlation_id(Uuid::now_v7()),
            Metadata::new().header("a", "b").header(REPLY_HEADER, "x"),
            many,
        ] {
            let mut buf = bytes::BytesMut::new();
            put_metadata(&mut buf, &m, None);
            assert_eq!(&buf[..], &rmp_serde::to_vec_named(&m).unwrap()[..]);
            let mut r = MsgpackReader { buf: &buf, at: 0 };
            assert_eq!(r.metadata(), Some(m.clone()));
            for reply in [&b""[..], b"\x00\xff", &[9u8; 200]] {
                let mut buf = bytes::BytesMut::new();
                put_metadata(&mut buf, &m, Some(reply));
                let c = CommandRecord::new(reply.to_vec());
                let expected = format1_metadata(Some(&m), Some(&c));
                assert_eq!(&buf[..], &rmp_serde::to_vec_named(&*expected).unwrap()[..]);
            }
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
                    .map(|k| NewEvent::new("T", vec![u8::try_from(k).expect("at most 17"); i * 7]))
                    .collect()
            })
            .collect();
        let records: Vec<Bytes> = batches
            .iter()
            .enumerate()
            .map(|(i, b)| {
                encode_events_into(&mut arena, &a, i as u64 + 1, b, time, FORMATS[i % 2]).unwrap()
            })
            .collect();
        for (i, (rec, b)) in records.iter().zip(&batches).enumerate() {
            assert_eq!(
                &rec[..],
                &serde_encoding(&a, i as u64 + 1, b, time, FORMATS[i % 2])[..]
            );
        }
    }

    #[test]
    fn a_record_of_another_actor_is_a_codec_error() {
        for format in FORMATS {
            let bytes = encode_events(
                &ActorId::new("other").unwrap(),
                1,
                &[NewEvent::new("T", vec![])],
                OffsetDateTime::now_utc(),
                format,
            )
            .unwrap();
            let err = decode_events(&Bytes::from(bytes), &actor(), 3)
                .err()
                .unwrap();
            assert_eq!(err.kind(), ErrorKind::Codec);
            assert!(err.to_string().contains("other"), "{err}");
        }
    }

    #[test]
    fn unknown_format_and_empty_records_are_codec_errors() {
        #[derive(Serialize)]
        struct Fake<'a> {
            format: u32,
            actor: &'a str,
            first: u64,
            #[serde(with = "time::serde::timestamp::nanoseconds")]
            time: OffsetDateTime,
            events: EventsOut<'a>,
        }
        let one = [NewEvent::new("T", vec![1])];
        for (format, first, events) in [
            (3, 1, &one[..]),
            (0, 1, &one[..]),
            (1, 1, &[][..]),
            (2, 1, &[][..]),
            (2, 0, &one[..]),
        ] {
            let bytes = rmp_serde::to_vec_named(&Fake {
                format,
                actor: "acc-alice",
                first,
                time: OffsetDateTime::now_utc(),
                events: EventsOut(events, 2),
            })
            .unwrap();
            let err = decode_events(&Bytes::from(bytes), &actor(), 1)
                .err()
                .unwrap();
            assert_eq!(err.kind(), ErrorKind::Codec);
            if format == 3 {
                assert!(
                    err.to_string()
                        .contains("event record format 3 is unknown to this version of Aether"),
                    "{err}"
                );
            }
        }
    }

    /// Bytes per command of the actor runtime (one event, causation and correlation ids, a
    /// reply of 20 bytes) in both formats. Run with `--nocapture` to see them.
    #[test]
    fn a_typical_command_takes_fewer_bytes_in_format_2() {
        let a = ActorId::new("acc-0001").unwrap();
        let reply = [
            0x81, 0xa7, b'b', b'a', b'l', b'a', b'n', b'c', b'e', 0xcd, 0x01, 0x00,
        ]
        .iter()
        .copied()
        .chain([0x5a; 8])
        .collect::<Vec<u8>>();
        assert_eq!(reply.len(), 20);
        let payload = [0x81, 0xa6, b'a', b'm', b'o', b'u', b'n', b't', 0x64];
        let meta = Metadata::new()
            .correlation_id(Uuid::now_v7())
            .causation_id(Uuid::now_v7());
        let event = NewEvent::new("Deposited", payload.to_vec())
            .with_metadata(meta)
            .with_aggregate_type("Account")
            .with_command(CommandRecord::new(reply.clone()));
        let time = OffsetDateTime::now_utc();
        let v1 = encode_events(&a, 42, std::slice::from_ref(&event), time, 1).unwrap();
        let v2 = encode_events(&a, 42, std::slice::from_ref(&event), time, 2).unwrap();
        let with_id = event.with_command(CommandRecord::new(reply).with_command("Deposit", 7));
        let v2_id = encode_events(&a, 42, &[with_id], time, 2).unwrap();
        println!(
            "one command, one event: format 1 {} bytes, format 2 {} bytes, format 2 with a \
             caller-supplied command id (variant and hash) {} bytes",
            v1.len(),
            v2.len(),
            v2_id.len()
        );
        assert!(v2.len() < v1.len(), "{} {}", v2.len(), v1.len());
    }

    /// (subject, payload) of the messages of one stream.
    type Messages = Vec<(String, Bytes)>;

    /// The messages of `tests/fixtures/format1.json`: the event stream's, the snapshot
    /// stream's.
    fn format1_fixture() -> (Messages, Messages) {
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("../tests/fixtures/format1.json")).unwrap();
        let mut events = Vec::new();
        let mut snapshots = Vec::new();
        for m in doc["messages"].as_array().unwrap() {
            let hex = m["payload_hex"].as_str().unwrap();
            let payload: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            let entry = (
                m["subject"].as_str().unwrap().to_owned(),
                Bytes::from(payload),
            );
            if m["stream"].as_str().unwrap().starts_with("AETHER_EV_") {
                events.push(entry);
            } else {
                snapshots.push(entry);
            }
        }
        (events, snapshots)
    }

    /// Records written by the actor runtime of the last format-1 version (captured from a
    /// real server, see `tests/fixtures/README.md`) decode, on the fast path, to what it
    /// stored.
    #[test]
    fn format_1_records_of_the_previous_version_decode() {
        let (events, snapshots) = format1_fixture();
        assert_eq!((events.len(), snapshots.len()), (6, 4));
        let alice = ActorId::new("acc-alice").unwrap();
        let bob = ActorId::new("acc-bob").unwrap();
        let raw = ActorId::new("raw-1").unwrap();
        let command = |n: u128| Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + n);
        let correlation = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_c0c0);
        let mut decoded = Vec::new();
        for (seq, ((subject, payload), actor)) in events
            .iter()
            .zip([&alice, &alice, &alice, &alice, &bob, &raw])
            .enumerate()
        {
            assert!(subject.ends_with(actor.as_str()), "{subject}");
            let fast = decode_exact_layout(payload, actor).expect("the fast path reads it");
            let rec = decode_events(payload, actor, seq as u64 + 1).unwrap();
            assert!(same_record(&fast, &rec));
            assert_eq!(rec.format(), EVENT_FORMAT_1);
            let time = rec.time();
            let first = rec.first();
            for (i, e) in rec.into_events(actor, 1, u64::MAX).enumerate() {
                assert_eq!(e.version, first + i as u64);
                assert_eq!(e.timestamp, time);
                assert_eq!((e.aggregate_type.clone(), e.command.clone()), (None, None));
                decoded.push(e);
            }
        }
        let versions: Vec<(&str, u64, &str)> = decoded
            .iter()
            .map(|e| (e.actor_id.as_str(), e.version, e.event_type.as_str()))
            .collect();
        assert_eq!(
            versions,
            [
                ("acc-alice", 1, "Opened"),
                ("acc-alice", 2, "Deposited"),
                ("acc-alice", 3, "Withdrawn"),
                ("acc-alice", 4, "FeeCharged"),
                ("acc-alice", 5, "Deposited"),
                ("acc-bob", 1, "Opened"),
                ("raw-1", 1, "RawA"),
                ("raw-1", 2, "RawB"),
                ("raw-1", 3, "RawC"),
            ]
        );
        // The actor runtime's metadata: causation (the command id) and correlation ids, and
        // the reply (`Receipt { balance }` in MessagePack with field names) as lowercase hex
        // on the first event of each command.
        let reply = |e: &Event| e.metadata.headers.get(REPLY_HEADER).cloned();
        let causes: Vec<Option<Uuid>> = decoded[..6]
            .iter()
            .map(|e| e.metadata.causation_id)
            .collect();
        assert_eq!(causes, [1, 2, 3, 3, 4, 5].map(|n| Some(command(n))));
        assert!(decoded[..5]
            .iter()
            .all(|e| e.metadata.correlation_id == Some(correlation)));
        assert_eq!(decoded[5].metadata.correlation_id, Some(command(5)));
        let replies: Vec<Option<String>> = decoded[..6].iter().map(reply).collect();
        assert_eq!(
            replies,
            [
                Some("81a762616c616e636500".to_owned()), // balance 0
                Some("81a762616c616e636564".to_owned()), // 100
                Some("81a762616c616e636545".to_owned()), // 69
                None,                                    // the second event of the command
                Some("81a762616c616e63654a".to_owned()), // 74
                Some("81a762616c616e636500".to_owned()),
            ]
        );
        assert_eq!(
            &decoded[0].data[..],
            b"\x81\xa6Opened\x81\xa5owner\xa5Alice"
        );
        assert_eq!(&decoded[3].data[..], b"\x81\xaaFeeCharged\x81\xa3fee\x01");
        assert_eq!(
            decoded[0].id,
            Uuid::parse_str("01a23b2c-d8bb-73fa-93b1-f26eb8d8f313").unwrap()
        );
        // The raw append: user headers, no metadata, only a correlation id.
        let raw_events = &decoded[6..];
        assert_eq!(
            raw_events.iter().map(|e| e.id).collect::<Vec<_>>(),
            [0xa1, 0xa2, 0xa3].map(Uuid::from_u128)
        );
        assert_eq!(
            raw_events[0].metadata,
            Metadata::new().header("k", "v").header("tenant", "t-1")
        );
        assert_eq!(&raw_events[1].data[..], &[0u8, 1, 2, 255]);
        assert_eq!(raw_events[1].metadata, Metadata::new());
        assert!(raw_events[2].data.is_empty());
        assert_eq!(
            raw_events[2].metadata,
            Metadata::new().correlation_id(Uuid::from_u128(0xc1))
        );

        // Snapshot heads: `position` is the sequence of the message holding the version when
        // the version is that message's last event, else the sequence before it.
        let heads: Vec<(String, u64, u32, u64)> = snapshots
            .iter()
            .map(|(subject, payload)| {
                let actor = ActorId::new(subject.rsplit('.').next().unwrap()).unwrap();
                let h = decode_snapshot(payload, &actor, 1).unwrap();
                assert!(h.chunks.is_none());
                let s = h.snapshot;
                (
                    actor.as_str().to_owned(),
                    s.version,
                    s.schema_version,
                    s.position.0,
                )
            })
            .collect();
        assert_eq!(
            heads,
            [
                ("acc-alice".to_owned(), 4, 1, 3), // v4 ends message 3 (v3-v4)
                ("acc-bob".to_owned(), 1, 1, 5),
                ("acc-alice".to_owned(), 5, 1, 4),
                ("raw-1".to_owned(), 2, 7, 5), // v2 is inside message 6 (v1-v3)
            ]
        );
        let raw_head = decode_snapshot(&snapshots[3].1, &raw, 1).unwrap();
        assert_eq!(&raw_head.snapshot.state[..], b"raw-state");
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
            b"\x85\xa6format\x02",
            b"\x86\xa6format\x02\xa5actor",
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
            let _ = restamped(&Bytes::from(bytes), OffsetDateTime::now_utc());
        }

        #[test]
        fn truncated_records_are_codec_errors(
            cut in any::<prop::sample::Index>(),
            format in prop::sample::select(FORMATS.to_vec()),
        ) {
            let a = actor();
            let bytes = encode_events(&a, 1, &command_events(2, b"\x81\xa1a\x01", true), OffsetDateTime::now_utc(), format).unwrap();
            let cut = cut.index(bytes.len());
            prop_assert_eq!(decode_events(&Bytes::copy_from_slice(&bytes[..cut]), &a, 1).err().unwrap().kind(), ErrorKind::Codec);
        }
    }
}
