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
    use jetstream::context::{PublishError, PublishErrorKind, RequestError, RequestErrorKind};
    if let Some(c) = api_code(err) {
        return match c {
            code::EXPECTED_SEQ_NOT_READY
            | code::DUPLICATE_IN_PROCESS
            | code::CLUSTER_NOT_AVAILABLE
            | code::CLUSTER_NO_PEERS => Class::Busy,
            _ => Class::Other,
        };
    }
    for e in chain(err) {
        if let Some(p) = e.downcast_ref::<PublishError>() {
            match p.kind() {
                PublishErrorKind::StreamNotFound => return Class::NoResponders,
                PublishErrorKind::TimedOut | PublishErrorKind::BrokenPipe => {
                    return Class::TimedOut
                }
                PublishErrorKind::MaxPayloadExceeded => return Class::TooLarge,
                PublishErrorKind::MaxAckPending => return Class::Busy,
                _ => {}
            }
        }
        if let Some(r) = e.downcast_ref::<RequestError>() {
            match r.kind() {
                RequestErrorKind::NoResponders => return Class::NoResponders,
                RequestErrorKind::TimedOut => return Class::TimedOut,
                _ => {}
            }
        }
        if let Some(r) = e.downcast_ref::<async_nats::RequestError>() {
            match r.kind() {
                async_nats::RequestErrorKind::NoResponders => return Class::NoResponders,
                async_nats::RequestErrorKind::TimedOut => return Class::TimedOut,
                _ => {}
            }
        }
        if let Some(c) = e.downcast_ref::<jetstream::context::CreateStreamError>() {
            match c.kind() {
                jetstream::context::CreateStreamErrorKind::TimedOut => return Class::TimedOut,
                jetstream::context::CreateStreamErrorKind::JetStreamUnavailable => {
                    return Class::NoResponders
                }
                _ => {}
            }
        }
        if let Some(a) = e.downcast_ref::<jetstream::context::AccountError>() {
            match a.kind() {
                jetstream::context::AccountErrorKind::TimedOut => return Class::TimedOut,
                jetstream::context::AccountErrorKind::JetStreamUnavailable => {
                    return Class::NoResponders
                }
                _ => {}
            }
        }
        if let Some(d) = e.downcast_ref::<jetstream::stream::DirectGetError>() {
            match d.kind() {
                jetstream::stream::DirectGetErrorKind::TimedOut => return Class::TimedOut,
                jetstream::stream::DirectGetErrorKind::ErrorResponse(s, _)
                    if s == async_nats::StatusCode::NO_RESPONDERS =>
                {
                    return Class::NoResponders
                }
                _ => {}
            }
        }
        if let Some(p) = e.downcast_ref::<async_nats::PublishError>() {
            if p.kind() == async_nats::client::PublishErrorKind::MaxPayloadExceeded {
                return Class::TooLarge;
            }
            return Class::TimedOut;
        }
        if let Some(s) = e.downcast_ref::<async_nats::SubscribeError>() {
            let _ = s;
            return Class::TimedOut;
        }
    }
    Class::Other
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
        Class::TimedOut => Error::Timeout(format!("{what}: {err}")),
        Class::Busy => Error::unavailable(format!("{what}: the server asked to retry"), err),
        Class::TooLarge => Error::invalid("append", format!("{what}: {err}")),
        Class::Other => match api_code(&err) {
            Some(code::STREAM_NOT_FOUND) => Error::NotFound(format!("{what}: {err}")),
            Some(code::REPLICAS_NOT_SUPPORTED) => Error::invalid(
                "store options",
                format!("{what}: replicas above 1 need a JetStream cluster; this server is not clustered ({err})"),
            ),
            _ => Error::backend(what.to_owned(), err),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
