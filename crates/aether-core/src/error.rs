//! The one error type of Aether's core contracts.

use std::fmt;

use crate::id::ActorId;
use crate::version::{ExpectedVersion, Version};

/// A boxed error kept as the source of a backend or codec failure.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with Aether's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An optimistic-concurrency failure: the actor was not at the version the writer expected.
///
/// Nothing was stored when this is returned.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VersionConflict {
    /// The actor whose append was refused.
    pub actor_id: ActorId,
    /// What the writer expected.
    pub expected: ExpectedVersion,
    /// The version the store holds now (the latest version of the actor).
    pub actual: Version,
}

impl fmt::Display for VersionConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "version conflict on actor {}: expected {}, actual version is {}",
            self.actor_id, self.expected, self.actual
        )
    }
}

/// What kind of failure an [`Error`] is, for generic code that must decide whether to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Optimistic concurrency failed: re-read and decide again.
    Conflict,
    /// The caller passed something that can never succeed (bad name, oversized event, ...).
    InvalidInput,
    /// Something that must exist does not (for instance a stream that vanished).
    NotFound,
    /// The backend cannot serve right now; retrying later may succeed.
    Unavailable,
    /// A deadline passed.
    Timeout,
    /// Bytes could not be encoded or decoded.
    Codec,
    /// Any other backend failure; the source is kept.
    Backend,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ErrorKind::Conflict => "conflict",
            ErrorKind::InvalidInput => "invalid input",
            ErrorKind::NotFound => "not found",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Codec => "codec",
            ErrorKind::Backend => "backend",
        };
        f.write_str(s)
    }
}

/// The error of every core contract ([`EventStore`](crate::EventStore),
/// [`EventBroadcaster`](crate::EventBroadcaster), ids, codec).
///
/// Match on [`Error::kind`] in generic code; match on the variants where the details matter.
///
/// `Display` says this layer's message once, after its kind ("codec error: cannot decode
/// ..."), and never the text of its source, which `source()` gives: print the whole chain
/// with a reporter (anyhow's `{:#}`). A message that already starts with its kind's prefix
/// is not prefixed again, so wrapping one error's text in another of its kind reads once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The append's expectation did not hold; nothing was stored.
    VersionConflict(Box<VersionConflict>),
    /// The input can never succeed as given.
    InvalidInput {
        /// What was invalid ("namespace", "actor id", "event", ...).
        what: &'static str,
        /// Why, in words a user can act on.
        reason: String,
        /// The underlying failure, when there is one (a parser's error, for instance).
        #[source]
        source: Option<BoxError>,
    },
    /// Something that must exist is missing.
    NotFound {
        /// What is missing.
        message: String,
        /// The underlying failure, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// The backend cannot serve now; a retry may succeed.
    Unavailable {
        /// What was unavailable.
        message: String,
        /// The underlying failure, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// A deadline passed before the operation completed.
    Timeout {
        /// What did not complete in time.
        message: String,
        /// The underlying failure, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// Bytes could not be encoded or decoded.
    Codec {
        /// What was being encoded or decoded.
        message: String,
        /// The underlying codec failure, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// Any other backend failure.
    Backend {
        /// What failed.
        message: String,
        /// The underlying failure.
        #[source]
        source: Option<BoxError>,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::VersionConflict(c) => fmt::Display::fmt(c, f),
            Error::InvalidInput { what, reason, .. } => {
                let repeated = reason
                    .strip_prefix("invalid ")
                    .and_then(|r| r.strip_prefix(what))
                    .is_some_and(|r| r.starts_with(": "));
                if repeated {
                    f.write_str(reason)
                } else {
                    write!(f, "invalid {what}: {reason}")
                }
            }
            Error::NotFound { message, .. } => prefixed(f, "not found", message),
            Error::Unavailable { message, .. } => prefixed(f, "unavailable", message),
            Error::Timeout { message, .. } => prefixed(f, "timed out", message),
            Error::Codec { message, .. } => prefixed(f, "codec error", message),
            Error::Backend { message, .. } => prefixed(f, "backend error", message),
        }
    }
}

/// Writes `prefix: message`, or `message` alone when it already says `prefix` first.
fn prefixed(f: &mut fmt::Formatter<'_>, prefix: &str, message: &str) -> fmt::Result {
    match message.strip_prefix(prefix) {
        Some(rest) if rest.is_empty() || rest.starts_with(": ") => f.write_str(message),
        _ => write!(f, "{prefix}: {message}"),
    }
}

impl Error {
    /// The kind of this error, for generic handling.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::VersionConflict(_) => ErrorKind::Conflict,
            Error::InvalidInput { .. } => ErrorKind::InvalidInput,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Unavailable { .. } => ErrorKind::Unavailable,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::Codec { .. } => ErrorKind::Codec,
            Error::Backend { .. } => ErrorKind::Backend,
        }
    }

    /// The conflict details, when this is a [`Error::VersionConflict`].
    pub fn as_conflict(&self) -> Option<&VersionConflict> {
        match self {
            Error::VersionConflict(c) => Some(c),
            _ => None,
        }
    }

    /// Builds a [`Error::VersionConflict`].
    pub fn conflict(actor_id: ActorId, expected: ExpectedVersion, actual: Version) -> Self {
        Error::VersionConflict(Box::new(VersionConflict {
            actor_id,
            expected,
            actual,
        }))
    }

    /// Builds an [`Error::InvalidInput`].
    pub fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            what,
            reason: reason.into(),
            source: None,
        }
    }

    /// Builds an [`Error::NotFound`]; attach a cause with [`with_source`](Self::with_source).
    pub fn not_found(message: impl Into<String>) -> Self {
        Error::NotFound {
            message: message.into(),
            source: None,
        }
    }

    /// Builds an [`Error::Timeout`]; attach a cause with [`with_source`](Self::with_source).
    pub fn timeout(message: impl Into<String>) -> Self {
        Error::Timeout {
            message: message.into(),
            source: None,
        }
    }

    /// This error with `source` as its cause (replacing any it had); a
    /// [`Error::VersionConflict`], which has no cause, is returned unchanged.
    ///
    /// ```
    /// use std::error::Error as _;
    /// let e = aether_core::Error::timeout("reading stream S")
    ///     .with_source(std::io::Error::other("no answer in 2 s"));
    /// assert_eq!(e.to_string(), "timed out: reading stream S");
    /// assert_eq!(e.source().unwrap().to_string(), "no answer in 2 s");
    /// ```
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        match &mut self {
            Error::VersionConflict(_) => {}
            Error::InvalidInput { source: s, .. }
            | Error::NotFound { source: s, .. }
            | Error::Unavailable { source: s, .. }
            | Error::Timeout { source: s, .. }
            | Error::Codec { source: s, .. }
            | Error::Backend { source: s, .. } => *s = Some(source.into()),
        }
        self
    }

    /// Builds an [`Error::Unavailable`] with a source.
    pub fn unavailable(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Unavailable {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// Builds an [`Error::Backend`] with a source.
    pub fn backend(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Backend {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// Builds an [`Error::Codec`] with a source.
    pub fn codec(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Codec {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// Whether retrying the same operation later may succeed (unavailable or timed out).
    pub fn is_transient(&self) -> bool {
        matches!(self.kind(), ErrorKind::Unavailable | ErrorKind::Timeout)
    }
}

impl From<VersionConflict> for Error {
    fn from(c: VersionConflict) -> Self {
        Error::VersionConflict(Box::new(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The prefixes `Display` writes, each of which must appear at most once.
    const PREFIXES: [&str; 6] = [
        "codec error",
        "backend error",
        "unavailable",
        "timed out",
        "not found",
        "invalid append",
    ];

    fn cause() -> std::io::Error {
        std::io::Error::other("unexpected end of input")
    }

    #[test]
    fn no_display_repeats_its_prefix_for_the_common_constructions() {
        let inner = Error::codec("cannot decode an event payload", cause());
        let cases = [
            // A layer over a source of the same kind: the source's text stays in source().
            Error::codec(
                "cannot decode the reply",
                Error::codec("cannot decode", cause()),
            ),
            Error::backend("opening the namespace", Error::backend("querying", cause())),
            Error::unavailable("appending: no stream leader", Error::timeout("x")),
            // A message made of another error's text (a habit to avoid, read once anyway).
            Error::codec(inner.to_string(), inner),
            Error::Backend {
                message: "backend error: the registry".into(),
                source: None,
            },
            Error::unavailable("unavailable: connection lost", cause()),
            Error::timeout("timed out"),
            Error::timeout("timed out: reading stream AETHER_EV_bank"),
            Error::not_found("not found: stream AETHER_EV_bank"),
            Error::invalid("append", "invalid append: 3 events over the limit"),
            Error::invalid("append", "3 events of 2 MiB are over the 1 MiB limit"),
        ];
        for e in &cases {
            let text = e.to_string();
            for prefix in PREFIXES {
                assert!(
                    text.matches(prefix).count() <= 1,
                    "{prefix:?} repeated: {text}"
                );
            }
            let kind_said = PREFIXES.iter().any(|p| text.starts_with(p));
            assert!(kind_said, "the kind is said first: {text}");
        }
        assert_eq!(
            cases[0].to_string(),
            "codec error: cannot decode the reply",
            "the source's text is not in Display"
        );
        let source = std::error::Error::source(&cases[0]).expect("the source is kept");
        assert_eq!(source.to_string(), "codec error: cannot decode");
        assert_eq!(cases[6].to_string(), "timed out");
    }

    #[test]
    fn a_conflict_says_actor_expected_and_actual_once() {
        let e = Error::conflict(ActorId::new("acc-1").unwrap(), ExpectedVersion::Exact(2), 3);
        let text = e.to_string();
        assert_eq!(text.matches("version conflict").count(), 1, "{text}");
        assert!(text.contains("acc-1") && text.contains('3'), "{text}");
    }

    /// Joins `e` and its sources as a reporter prints them.
    fn chain(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
        let mut layers = vec![e.to_string()];
        let mut next = e.source();
        while let Some(s) = next {
            layers.push(s.to_string());
            next = s.source();
        }
        layers
    }

    #[test]
    fn every_kind_keeps_its_cause_as_source_and_says_it_once() {
        let parse = "x".parse::<u32>().unwrap_err();
        let root = parse.to_string();
        let conflict = Error::conflict(ActorId::new("a").unwrap(), ExpectedVersion::Exact(1), 2);
        let errors = [
            Error::invalid("nats url", "\"x\" is not a NATS address").with_source(parse.clone()),
            Error::not_found("stream AETHER_EV_x").with_source(parse.clone()),
            Error::timeout("reading stream AETHER_EV_x").with_source(parse.clone()),
            Error::unavailable("appending", parse.clone()),
            Error::codec("decoding an event", parse.clone()),
            Error::backend(
                "opening",
                Error::timeout("creating stream").with_source(parse),
            ),
        ];
        for e in &errors {
            let layers = chain(e);
            assert_eq!(
                layers.last().unwrap(),
                &root,
                "the root cause is reachable: {layers:?}"
            );
            let joined = layers.join(": ");
            assert_eq!(joined.matches(&root).count(), 1, "said once: {joined}");
            assert!(
                !layers[0].contains(&root),
                "Display is this layer only: {joined}"
            );
        }
        assert_eq!(
            chain(&errors[5]).len(),
            3,
            "three layers: {:?}",
            chain(&errors[5])
        );
        let conflict = conflict.with_source(std::io::Error::other("ignored"));
        assert!(
            std::error::Error::source(&conflict).is_none(),
            "a conflict has no cause"
        );
    }
}
