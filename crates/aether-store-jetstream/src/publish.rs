//! Publishing one append record: its headers (first version, count, message id, expected
//! last subject sequence), the acknowledgement path it takes, and what the server's answer
//! means (stored, a duplicate, a wrong expected sequence, a refusal).

use std::future::IntoFuture;

use aether_core::{Error, Result, Version};
use async_nats::header::{self, HeaderName, HeaderValue};
use async_nats::jetstream::context::PublishError;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::publish::PublishAck;
use async_nats::{HeaderMap, Subject};
use bytes::Bytes;
use tokio::time::Instant;

use crate::append::Mine;
use crate::errors::{self, code};
use crate::health::Lost;
use crate::retry::lost_in_flight;
use crate::JetStreamEventStore;

/// Header with the version of the first event a message holds.
pub(crate) const FIRST_VERSION_HEADER: &str = "Aether-First-Version";
/// Header with the number of events a message holds.
pub(crate) const COUNT_HEADER: &str = "Aether-Count";

const FIRST_VERSION_NAME: HeaderName = HeaderName::from_static(FIRST_VERSION_HEADER);
const COUNT_NAME: HeaderName = HeaderName::from_static(COUNT_HEADER);

/// `n` in decimal as a header value (one allocation).
fn decimal(n: u64) -> HeaderValue {
    HeaderValue::from(itoa::Buffer::new().format(n))
}

/// The server's answer to an append record.
pub(crate) enum Published {
    /// Stored (or recognised as a duplicate of a stored one: `duplicate` says).
    Stored(PublishAck),
    /// Not stored: the subject's last sequence was not the one expected.
    WrongSequence,
}

/// The headers of an append record: its first version and count, its message id (the
/// first event's id, so that a re-send is recognised), and the expected last sequence of
/// the actor's subject. Names without allocating; values formatted once, straight into
/// their strings.
fn record_headers(first: Version, mine: &Mine<'_>, expected_seq: u64) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(FIRST_VERSION_NAME, decimal(first));
    headers.insert(COUNT_NAME, decimal(mine.count() as u64));
    let mut id = uuid::Uuid::encode_buffer();
    let id = mine.first_id().hyphenated().encode_lower(&mut id);
    headers.insert(header::NATS_MESSAGE_ID, HeaderValue::from(&*id));
    headers.insert(
        header::NATS_EXPECTED_LAST_SUBJECT_SEQUENCE,
        decimal(expected_seq),
    );
    headers
}

impl JetStreamEventStore {
    /// Publishes one append record expecting `expected_seq` as the subject's last sequence,
    /// retrying transient failures until `deadline`.
    pub(crate) async fn publish(
        &self,
        subject: &Subject,
        payload: &Bytes,
        first: Version,
        mine: &Mine<'_>,
        expected_seq: u64,
        deadline: Instant,
    ) -> Result<Published> {
        // The retry loop (with its timer) is boxed and made only after a failure, so the
        // append's future stays small.
        let sent = if self.inner.health.link().connected {
            self.publish_once(subject, payload, first, mine, expected_seq)
                .await
        } else {
            // Nothing can be acknowledged before the connection is back: the retry loop
            // waits for it, then sends at once.
            Err(Error::Unavailable {
                message: "appending: the NATS connection is down".into(),
                source: None,
            })
        };
        match sent {
            Err(e) if e.is_transient() => {
                Box::pin(self.retrying_after(e, deadline, || {
                    self.publish_once(subject, payload, first, mine, expected_seq)
                }))
                .await
            }
            done => done,
        }
    }

    async fn publish_once(
        &self,
        subject: &Subject,
        payload: &Bytes,
        first: Version,
        mine: &Mine<'_>,
        expected_seq: u64,
    ) -> Result<Published> {
        let headers = record_headers(first, mine, expected_seq);
        let Ok(sent) = self.send_record(subject, headers, payload).await else {
            return Err(lost_in_flight("appending"));
        };
        match sent {
            Ok(ack) => Ok(Published::Stored(ack)),
            Err(e) => match errors::api_code(&e) {
                Some(code::WRONG_LAST_SEQUENCE | code::WRONG_LAST_SEQUENCE_CONSTANT) => {
                    Ok(Published::WrongSequence)
                }
                Some(code::STREAM_STORE_FAILED) => Err(self.refused(e)),
                _ => Err(errors::map("appending", e)),
            },
        }
    }

    /// Sends one record and waits for its acknowledgement; [`Lost`] when the connection
    /// drops first.
    async fn send_record(
        &self,
        subject: &Subject,
        headers: HeaderMap,
        payload: &Bytes,
    ) -> std::result::Result<std::result::Result<PublishAck, PublishError>, Lost> {
        // Boxed, sending and acknowledgement in one allocation: the append's own future
        // (boxed per call by the object-safe trait) stays small enough for the
        // allocator's fast path. A busy handle is acknowledged through its shared reply
        // subscription (less CPU per append); an idle one through async-nats's
        // JetStream publish (no hop through the router: lower latency). See `acks`.
        // An append sent on a connection that then drops is never acknowledged: it ends
        // at once (as lost here, or by the router, which fails every waiter of a dropped
        // connection), and the retry re-sends it when the connection is back.
        let flight = self.inner.acks.begin();
        if flight.shared() {
            let acks = &self.inner.acks;
            return Ok(Box::pin(acks.publish(subject.clone(), headers, payload.clone())).await);
        }
        let msg = PublishMessage::build()
            .payload(payload.clone())
            .headers(headers);
        let sent = self
            .inner
            .health
            .or_lost(Box::pin(async {
                match self.inner.js.send_publish(subject.clone(), msg).await {
                    Ok(ack) => ack.into_future().await,
                    Err(e) => Err(e),
                }
            }))
            .await;
        drop(flight);
        sent
    }

    /// The stream refused to store an append (it is full, or its storage failed): a
    /// definite refusal, nothing stored, so not a transient error and not an unknown
    /// outcome.
    fn refused(&self, e: impl Into<aether_core::BoxError>) -> Error {
        Error::invalid(
            "append",
            format!(
                "the event stream {} refused to store it; nothing was stored. A full \
                 stream (max_bytes or max_messages reached) takes appends again once its \
                 limits are raised",
                self.inner.names.events_stream
            ),
        )
        .with_source(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_header_values() {
        for n in [0u64, 7, 10, 99, 1_000_001, u64::MAX] {
            assert_eq!(decimal(n).as_str(), n.to_string());
        }
    }
}
