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
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The append's expectation did not hold; nothing was stored.
    #[error("{0}")]
    VersionConflict(Box<VersionConflict>),
    /// The input can never succeed as given.
    #[error("invalid {what}: {reason}")]
    InvalidInput {
        /// What was invalid ("namespace", "actor id", "event", ...).
        what: &'static str,
        /// Why, in words a user can act on.
        reason: String,
    },
    /// Something that must exist is missing.
    #[error("not found: {0}")]
    NotFound(String),
    /// The backend cannot serve now; a retry may succeed.
    #[error("unavailable: {message}")]
    Unavailable {
        /// What was unavailable.
        message: String,
        /// The underlying failure, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// A deadline passed before the operation completed.
    #[error("timed out: {0}")]
    Timeout(String),
    /// Bytes could not be encoded or decoded.
    #[error("codec error: {message}")]
    Codec {
        /// What was being encoded or decoded.
        message: String,
        /// The underlying codec failure, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// Any other backend failure.
    #[error("backend error: {message}")]
    Backend {
        /// What failed.
        message: String,
        /// The underlying failure.
        #[source]
        source: Option<BoxError>,
    },
}

impl Error {
    /// The kind of this error, for generic handling.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::VersionConflict(_) => ErrorKind::Conflict,
            Error::InvalidInput { .. } => ErrorKind::InvalidInput,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Unavailable { .. } => ErrorKind::Unavailable,
            Error::Timeout(_) => ErrorKind::Timeout,
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
        }
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
