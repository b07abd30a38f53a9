//! Direct gets: reading stored messages from any replica of a stream, without a consumer.
//! A batch direct get reads up to a page of a subject's messages in one round trip (reads,
//! replays, snapshot heads and chunks); single direct gets read a subject's last message,
//! or its next one at or after a stream sequence.
//!
//! A replica may lag behind the stream leader: callers that must see everything stored
//! check what they get against what the handle knows, or read from the leader (`leader`).

use aether_core::{Error, Result};
use async_nats::jetstream::message::StreamMessage;
use async_nats::jetstream::stream::{DirectGetErrorKind, Stream};
use async_nats::{Message, Subscriber};
use futures::StreamExt;
use tokio::time::Instant;

use crate::errors;
use crate::JetStreamEventStore;

/// One batch direct get: the messages found and how many more match after them.
pub(crate) struct Page {
    pub(crate) msgs: Vec<Found>,
    /// How many more messages match after this page, as the server reports it. Without
    /// headers nats-server 2.15.1 does not count the messages it sent off this figure, so
    /// it is an upper bound: a hint, never a reason to stop.
    pub(crate) pending: u64,
    /// Whether the server may have stopped for the batch size or byte limit rather than
    /// for want of messages (then there may be more).
    pub(crate) maybe_more: bool,
    /// The stream sequence of the last message of the page (0 when there is none).
    pub(crate) last_seq: u64,
}

/// A message of a batch read.
pub(crate) struct Found {
    /// Its stream sequence; 0 when the read asked for payloads only.
    pub(crate) seq: u64,
    /// Its subject; empty when the read asked for payloads only.
    pub(crate) subject: String,
    pub(crate) payload: bytes::Bytes,
}

/// What a batch direct get asks for.
struct BatchRequest<'a> {
    stream: &'a str,
    subject: &'a str,
    seq: u64,
    batch: usize,
    headers: bool,
}

impl JetStreamEventStore {
    /// One batch direct get on `stream`: up to `batch` messages matching `subject` (wildcards
    /// allowed) from stream sequence `seq`, in one round trip. Without `headers` the server
    /// sends payloads only, which is several times faster per message (it then skips
    /// copying and extending every stored header block); the page still tells the sequence
    /// of its last message.
    pub(crate) async fn direct_batch(
        &self,
        stream: &str,
        subject: &str,
        seq: u64,
        batch: usize,
        headers: bool,
    ) -> Result<Page> {
        let request = BatchRequest {
            stream,
            subject,
            seq,
            batch: batch.max(1),
            headers,
        };
        let replies = self.send_batch_request(&request).await?;
        self.collect_page(&request, replies).await
    }

    /// Sends the request of a batch direct get; its replies come on the subscription
    /// returned.
    async fn send_batch_request(&self, request: &BatchRequest<'_>) -> Result<Subscriber> {
        let body = serde_json::json!({
            "seq": request.seq.max(1),
            "next_by_subj": request.subject,
            "batch": request.batch,
            "max_bytes": self.inner.options.read_buffer_bytes,
            "no_hdr": !request.headers,
        });
        self.send_direct(request.stream, &body, "requesting a batch read")
            .await
    }

    /// Sends `body` to the direct-get API of `stream` (a batch, or a `multi_last`);
    /// the replies come on the subscription returned.
    pub(crate) async fn send_direct(
        &self,
        stream: &str,
        body: &serde_json::Value,
        what: &str,
    ) -> Result<Subscriber> {
        let client = &self.inner.client;
        let inbox = client.new_inbox();
        let replies = client
            .subscribe(inbox.clone())
            .await
            .map_err(|e| errors::map(what, e))?;
        client
            .publish_with_reply(
                format!("$JS.API.DIRECT.GET.{stream}"),
                inbox,
                body.to_string().into(),
            )
            .await
            .map_err(|e| errors::map(what, e))?;
        Ok(replies)
    }

    /// The next reply of a direct get, or a timeout (`late` says what did not come) once
    /// `deadline` (one timer for the whole batch, not one per message) has passed.
    pub(crate) async fn next_direct_reply(
        replies: &mut Subscriber,
        deadline: std::pin::Pin<&mut tokio::time::Sleep>,
        late: impl FnOnce() -> String,
    ) -> Result<Message> {
        tokio::select! {
            biased;
            m = replies.next() => m.ok_or_else(reply_subscription_closed),
            () = deadline => Err(Error::timeout(late())),
        }
    }

    /// The replies of a batch direct get, up to the end-of-batch status, within one
    /// `request_timeout` for the whole batch (one timer, not one per message).
    async fn collect_page(
        &self,
        request: &BatchRequest<'_>,
        mut replies: Subscriber,
    ) -> Result<Page> {
        let timeout = self.inner.options.request_timeout;
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut msgs = Vec::new();
        loop {
            let msg = Self::next_direct_reply(&mut replies, deadline.as_mut(), || {
                format!(
                    "batch read of {} on {}: no complete reply within {timeout:?}",
                    request.subject, request.stream
                )
            })
            .await?;
            match msg.status.map(|s| s.as_u16()) {
                None | Some(200) => msgs.push(found(msg, request.headers)),
                Some(204) => return Ok(self.end_of_batch(&msg, msgs, request.batch)),
                Some(404) => {
                    return Ok(Page {
                        msgs,
                        pending: 0,
                        last_seq: 0,
                        maybe_more: false,
                    })
                }
                Some(code) => return Err(batch_refused(request.stream, code, msg.description)),
            }
        }
    }

    /// The page that the end-of-batch status `msg` closes, with what it says is left.
    fn end_of_batch(&self, msg: &Message, msgs: Vec<Found>, batch: usize) -> Page {
        let header = |name: &str| {
            msg.headers
                .as_ref()
                .and_then(|h| h.get(name))
                .and_then(|v| v.as_str().parse().ok())
                .unwrap_or(0)
        };
        // The server stops a batch early only when no message is left or the byte limit is
        // reached (it counts subject, stored headers and payload; 1 KiB a message covers
        // the headers Aether stores, with room to spare).
        let sent: usize = msgs.iter().map(|m| m.payload.len() + 1024).sum();
        Page {
            pending: header("Nats-Num-Pending"),
            last_seq: header("Nats-Last-Sequence"),
            maybe_more: msgs.len() >= batch || sent >= self.inner.options.read_buffer_bytes,
            msgs,
        }
    }

    /// The last message on `subject` of `stream`, if any, by direct get from any replica;
    /// transient failures retried until `deadline`. `what` names the read in errors.
    pub(crate) async fn direct_last_message(
        &self,
        stream: &Stream<()>,
        subject: &str,
        what: &str,
        deadline: Instant,
    ) -> Result<Option<StreamMessage>> {
        self.retrying(deadline, || async {
            let answer = Box::pin(stream.direct_get_last_for_subject(subject)).await;
            errors::found(what, answer, |e| e.kind() == DirectGetErrorKind::NotFound)
        })
        .await
    }

    /// The first message on `subject` of the event stream at or after stream sequence
    /// `seq`, if any, by direct get from any replica; transient failures retried until
    /// `deadline`.
    pub(crate) async fn direct_next_message(
        &self,
        subject: &str,
        seq: u64,
        deadline: Instant,
    ) -> Result<Option<StreamMessage>> {
        self.retrying(deadline, || async {
            let events = &self.inner.events;
            let answer = events.direct_get_next_for_subject(subject, Some(seq)).await;
            errors::found("looking for a version", answer, |e| {
                e.kind() == DirectGetErrorKind::NotFound
            })
        })
        .await
    }
}

/// A message of a batch reply; its sequence and subject are read from its headers when the
/// read asked for them.
fn found(msg: Message, headers: bool) -> Found {
    let (seq, subject) = match (&msg.headers, headers) {
        (Some(h), true) => (
            h.get("Nats-Sequence")
                .and_then(|v| v.as_str().parse().ok())
                .unwrap_or(0),
            h.get("Nats-Subject")
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default(),
        ),
        _ => (0, String::new()),
    };
    Found {
        seq,
        subject,
        payload: msg.payload,
    }
}

/// The connection closed the reply subscription of a batch read (it is closing or was
/// drained).
fn reply_subscription_closed() -> Error {
    Error::Unavailable {
        message: "batch read: the connection closed the reply subscription".into(),
        source: None,
    }
}

/// A batch read answered with the status `code` (and the server's `description`).
pub(crate) fn batch_refused(stream: &str, code: u16, description: Option<String>) -> Error {
    if code == 503 {
        return Error::Unavailable {
            message: format!(
                "batch read on {stream}: no responders (no stream leader, or no stream)"
            ),
            source: None,
        };
    }
    Error::Backend {
        message: format!(
            "batch read on {stream} refused: {code} {}",
            description.unwrap_or_default()
        ),
        source: None,
    }
}
