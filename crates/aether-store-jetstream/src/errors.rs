//! Turning async-nats failures into Aether errors, and deciding what is worth a retry.

use std::error::Error as StdError;

use aether_core::Error;
use async_nats::jetstream;

/// JetStream API error codes the store reacts to.
pub(crate) mod code {
    /// Wrong last sequence (the expectation did not hold; the text carries the sequence).
    pub(crate) const WRONG_LAST_SEQUENCE: u64 = 10071;
    /// Wrong last sequence, reported by a clustered stream for a concurrent in-flight write.
    pub(crate) const WRONG_LAST_SEQUENCE_CONSTANT: u64 = 10164;
    /// Expected-last-subject-sequence check not ready yet (503): retry.
    pub(crate) const EXPECTED_SEQ_NOT_READY: u64 = 10163;
    /// Duplicate message id in process (409): retry.
    pub(crate) const DUPLICATE_IN_PROCESS: u64 = 10158;
    /// JetStream cluster not available (no meta leader): retry.
    pub(crate) const CLUSTER_NOT_AVAILABLE: u64 = 10008;
    /// No suitable peers for placement (replicas need servers the meta leader sees as
    /// online; under load or during a restart some may briefly look offline): retry.
    pub(crate) const CLUSTER_NO_PEERS: u64 = 10005;
    /// Stream not found.
    pub(crate) const STREAM_NOT_FOUND: u64 = 10059;
    /// The stream could not store the message ("maximum bytes exceeded", "maximum messages
    /// exceeded", a storage failure): nothing was stored.
    pub(crate) const STREAM_STORE_FAILED: u64 = 10077;
    /// Replicas > 1 on a server that is not clustered.
    pub(crate) const REPLICAS_NOT_SUPPORTED: u64 = 10074;
    /// JetStream not enabled for the account.
    pub(crate) const NOT_ENABLED_FOR_ACCOUNT: u64 = 10039;
    /// JetStream not enabled.
    pub(crate) const NOT_ENABLED: u64 = 10076;
}

fn chain<'a>(
    err: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(err), |e: &&'a (dyn StdError + 'static)| (*e).source())
}

/// The JetStream API error code somewhere in `err`'s chain.
pub(crate) fn api_code(err: &(dyn StdError + 'static)) -> Option<u64> {
    chain(err).find_map(|e| {
        if let Some(js) = e.downcast_ref::<jetstream::Error>() {
            return Some(js.error_code().0);
        }
        if let Some(e) = e.downcast_ref::<jetstream::stream::LastRawMessageError>() {
            if let jetstream::stream::LastRawMessageErrorKind::JetStream(js) = e.kind() {
                return Some(js.error_code().0);
            }
        }
        if let Some(e) = e.downcast_ref::<jetstream::context::GetStreamError>() {
            if let jetstream::context::GetStreamErrorKind::JetStream(js) = e.kind() {
                return Some(js.error_code().0);
            }
        }
        if let Some(e) = e.downcast_ref::<jetstream::context::CreateStreamError>() {
            if let jetstream::context::CreateStreamErrorKind::JetStream(js) = e.kind() {
                return Some(js.error_code().0);
            }
        }
        None
    })
}

/// Why a request failed, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Nobody answered: no stream leader (an election) or no stream at all.
    NoResponders,
    /// No answer in time, or the connection dropped: the outcome is unknown.
    TimedOut,
    /// The server asked for a retry.
    Busy,
    /// The payload is over the server's limit.
    TooLarge,
    /// Anything else.
    Other,
}

pub(crate) fn classify(err: &(dyn StdError + 'static)) -> Class {
    if let Some(c) = api_code(err) {
        return match c {
            code::EXPECTED_SEQ_NOT_READY
            | code::DUPLICATE_IN_PROCESS
            | code::CLUSTER_NOT_AVAILABLE
            | code::CLUSTER_NO_PEERS => Class::Busy,
            _ => Class::Other,
        };
    }
    chain(err)
        .find_map(|e| request_class(e).or_else(|| context_class(e)))
        .unwrap_or(Class::Other)
}

/// The class of one error of a chain when it is a failed publish or request, if it says.
fn request_class(e: &(dyn StdError + 'static)) -> Option<Class> {
    use jetstream::context::{PublishError, PublishErrorKind, RequestError, RequestErrorKind};
    if let Some(p) = e.downcast_ref::<PublishError>() {
        return match p.kind() {
            PublishErrorKind::StreamNotFound => Some(Class::NoResponders),
            PublishErrorKind::TimedOut | PublishErrorKind::BrokenPipe => Some(Class::TimedOut),
            PublishErrorKind::MaxPayloadExceeded => Some(Class::TooLarge),
            PublishErrorKind::MaxAckPending => Some(Class::Busy),
            _ => None,
        };
    }
    if let Some(r) = e.downcast_ref::<RequestError>() {
        return match r.kind() {
            RequestErrorKind::NoResponders => Some(Class::NoResponders),
            RequestErrorKind::TimedOut => Some(Class::TimedOut),
            _ => None,
        };
    }
    if let Some(r) = e.downcast_ref::<async_nats::RequestError>() {
        return match r.kind() {
            async_nats::RequestErrorKind::NoResponders => Some(Class::NoResponders),
            async_nats::RequestErrorKind::TimedOut => Some(Class::TimedOut),
            _ => None,
        };
    }
    if let Some(p) = e.downcast_ref::<async_nats::PublishError>() {
        if p.kind() == async_nats::client::PublishErrorKind::MaxPayloadExceeded {
            return Some(Class::TooLarge);
        }
        return Some(Class::TimedOut);
    }
    // A subscription that could not be made: the connection is closing or down.
    e.is::<async_nats::SubscribeError>()
        .then_some(Class::TimedOut)
}

/// The class of one error of a chain when it is a failed JetStream API call (stream
/// creation, account query, direct get), if it says.
fn context_class(e: &(dyn StdError + 'static)) -> Option<Class> {
    use jetstream::context::CreateStreamErrorKind;
    use jetstream::context::{AccountError, AccountErrorKind, CreateStreamError};
    use jetstream::stream::{DirectGetError, DirectGetErrorKind};
    if let Some(c) = e.downcast_ref::<CreateStreamError>() {
        return match c.kind() {
            CreateStreamErrorKind::TimedOut => Some(Class::TimedOut),
            CreateStreamErrorKind::JetStreamUnavailable => Some(Class::NoResponders),
            _ => None,
        };
    }
    if let Some(a) = e.downcast_ref::<AccountError>() {
        return match a.kind() {
            AccountErrorKind::TimedOut => Some(Class::TimedOut),
            AccountErrorKind::JetStreamUnavailable => Some(Class::NoResponders),
            _ => None,
        };
    }
    if let Some(d) = e.downcast_ref::<DirectGetError>() {
        return match d.kind() {
            DirectGetErrorKind::TimedOut => Some(Class::TimedOut),
            DirectGetErrorKind::ErrorResponse(s, _)
                if s == async_nats::StatusCode::NO_RESPONDERS =>
            {
                Some(Class::NoResponders)
            }
            _ => None,
        };
    }
    None
}

/// Maps a failure of `what` to an Aether error: transient ones become `Unavailable` or
/// `Timeout` (which the store retries within its deadline), a missing stream `NotFound`.
pub(crate) fn map<E>(what: &str, err: E) -> Error
where
    E: StdError + Send + Sync + 'static,
{
    match classify(&err) {
        Class::NoResponders => Error::unavailable(
            format!("{what}: no responders (no stream leader, or the stream is missing)"),
            err,
        ),
        Class::TimedOut => Error::timeout(what).with_source(err),
        Class::Busy => Error::unavailable(format!("{what}: the server asked to retry"), err),
        Class::TooLarge => Error::invalid(
            "append",
            format!(
                "{what}: the message is over the server's max_payload as the client knows it \
                 (the server may have restarted with a smaller max_payload)"
            ),
        )
        .with_source(err),
        Class::Other => match api_code(&err) {
            Some(code::STREAM_NOT_FOUND) => Error::not_found(what).with_source(err),
            Some(code::REPLICAS_NOT_SUPPORTED) => Error::invalid(
                "store options",
                format!(
                    "{what}: replicas above 1 need a JetStream cluster; this server is not \
                     clustered"
                ),
            )
            .with_source(err),
            _ => Error::backend(what.to_owned(), err),
        },
    }
}

/// `bytes` against `limit`, the server's `max_payload` less `header_room`, with the
/// origin of the limit named: "100 KiB (102400 bytes), over the 63.5 KiB limit (65024
/// bytes): the server's max_payload of 65536 bytes less 512 bytes for headers".
pub(crate) fn over_payload_limit(bytes: usize, limit: usize, header_room: usize) -> String {
    format!(
        "{} ({bytes} bytes), over the {} limit ({limit} bytes): the server's max_payload of \
         {} bytes less {} for headers",
        human_bytes(bytes),
        human_bytes(limit),
        limit + header_room,
        human_bytes(header_room),
    )
}

/// `n` bytes for people: "512 bytes", "63.5 KiB", "1.2 MiB".
pub(crate) fn human_bytes(n: usize) -> String {
    const UNITS: [&str; 3] = ["KiB", "MiB", "GiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    let text = format!("{value:.1}");
    let text = text.strip_suffix(".0").unwrap_or(&text);
    format!("{text} {}", UNITS[unit])
}

/// The answer of a single-message get: the message, `None` when `missing` says the
/// failure only means there is no such message, or the failure of `what` mapped.
pub(crate) fn found<M, E>(
    what: &str,
    answer: std::result::Result<M, E>,
    missing: impl FnOnce(&E) -> bool,
) -> aether_core::Result<Option<M>>
where
    E: StdError + Send + Sync + 'static,
{
    match answer {
        Ok(m) => Ok(Some(m)),
        Err(e) if missing(&e) => Ok(None),
        Err(e) => Err(map(what, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_limits_name_the_servers_max_payload() {
        assert_eq!(human_bytes(512), "512 bytes");
        assert_eq!(human_bytes(4096), "4 KiB");
        assert_eq!(human_bytes(65024), "63.5 KiB");
        assert_eq!(human_bytes(1_258_291), "1.2 MiB");
        assert_eq!(human_bytes(1 << 20), "1 MiB");
        assert_eq!(human_bytes(3 << 30), "3 GiB");
        let text = over_payload_limit(1_258_291, (1 << 20) - 4096, 4096);
        assert_eq!(
            text,
            "1.2 MiB (1258291 bytes), over the 1020 KiB limit (1044480 bytes): the server's \
             max_payload of 1048576 bytes less 4 KiB for headers"
        );
    }

    #[test]
    fn a_timeout_says_timed_out_once() {
        use jetstream::context::{RequestError, RequestErrorKind};
        let e = map(
            "reading stream X",
            RequestError::new(RequestErrorKind::TimedOut),
        );
        let text = e.to_string();
        assert_eq!(e.kind(), aether_core::ErrorKind::Timeout);
        assert_eq!(text.matches("timed out").count(), 1, "{text}");
        assert!(text.contains("reading stream X"), "{text}");
    }
    use jetstream::context::{AccountError, AccountErrorKind};

    #[test]
    fn an_account_query_that_times_out_or_finds_no_jetstream_yet_is_transient() {
        let timed_out = AccountError::new(AccountErrorKind::TimedOut);
        assert_eq!(classify(&timed_out), Class::TimedOut);
        assert!(map("querying the JetStream account", timed_out).is_transient());
        let no_leader = AccountError::new(AccountErrorKind::JetStreamUnavailable);
        assert_eq!(classify(&no_leader), Class::NoResponders);
        assert!(map("querying the JetStream account", no_leader).is_transient());
        let other = AccountError::new(AccountErrorKind::Other);
        assert!(!map("querying the JetStream account", other).is_transient());
    }

    #[test]
    fn stream_creation_that_times_out_or_finds_no_peers_yet_is_transient() {
        use jetstream::context::{CreateStreamError, CreateStreamErrorKind};
        for kind in [
            CreateStreamErrorKind::TimedOut,
            CreateStreamErrorKind::JetStreamUnavailable,
        ] {
            assert!(map("creating a stream", CreateStreamError::new(kind)).is_transient());
        }
        let api = |json: &str| {
            let e: jetstream::Error = serde_json::from_str(json).unwrap();
            CreateStreamError::new(CreateStreamErrorKind::JetStream(e))
        };
        let no_peers =
            api(r#"{"code":503,"err_code":10005,"description":"no suitable peers for placement"}"#);
        assert!(map("creating a stream", no_peers).is_transient());
        let limits = api(r#"{"code":400,"err_code":10023,"description":"insufficient resources"}"#);
        assert!(!map("creating a stream", limits).is_transient());
        assert!(!map(
            "creating a stream",
            CreateStreamError::new(CreateStreamErrorKind::InvalidStreamName)
        )
        .is_transient());
    }
}
