//! [`AskError`]: the technical failures of an `ask`, kept apart from domain errors.

use std::fmt;

/// Why an `ask` did not produce a domain outcome. Domain rejections are not errors of this
/// type: they are the inner `Err` of `Result<Result<Reply, DomainError>, AskError>`.
///
/// `C` is the command type: [`AskError::MailboxFull`] hands the command back so the caller
/// can retry it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AskError<C> {
    /// The actor's mailbox is full; the command was not accepted and is handed back.
    #[error("the actor's mailbox is full; the command was not accepted")]
    MailboxFull(C),
    /// The deadline passed before the actor started the command; it was withdrawn and will
    /// never run.
    #[error("the deadline passed before the actor started the command; it was not run")]
    Timeout,
    /// The deadline passed after the actor started the command: it may or may not have been
    /// stored. Ask again with the same command id to learn the outcome without running the
    /// command twice.
    #[error("the deadline passed while the command was running; its outcome is unknown")]
    OutcomeUnknown,
    /// Other writers kept changing the actor: the command was decided again after each
    /// version conflict and still conflicted. Nothing was stored for it.
    #[error("version conflict persisted after {attempts} attempts; nothing was stored")]
    Conflict {
        /// How many times the command was decided.
        attempts: u32,
    },
    /// The event store failed (storing, loading or activating). When it failed while storing,
    /// the outcome may be unknown: the actor reloads from the store before its next
    /// command, and asking again with the same command id is safe.
    #[error("event store error: {0}")]
    Store(#[source] aether_core::Error),
    /// Events, a reply or a state could not be encoded or decoded.
    #[error("codec error: {0}")]
    Codec(#[source] aether_core::Error),
    /// The aggregate's code panicked; the actor reloads its state before the next command.
    #[error("the aggregate panicked: {0}")]
    Panicked(String),
    /// The actor system is shutting down and accepts no more commands.
    #[error("the actor system is shutting down")]
    ShuttingDown,
}

/// The kind of an [`AskError`], for code that decides whether to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AskErrorKind {
    /// [`AskError::MailboxFull`]: overloaded; retry later.
    MailboxFull,
    /// [`AskError::Timeout`]: not run; retry.
    Timeout,
    /// [`AskError::OutcomeUnknown`]: retry with the same command id.
    OutcomeUnknown,
    /// [`AskError::Conflict`]: heavy contention; retry later.
    Conflict,
    /// [`AskError::Store`]: see the store error's kind.
    Store,
    /// [`AskError::Codec`]: a bug or an incompatible schema; retrying will not help.
    Codec,
    /// [`AskError::Panicked`]: a bug in the aggregate.
    Panicked,
    /// [`AskError::ShuttingDown`]: the system is stopping.
    ShuttingDown,
}

impl fmt::Display for AskErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            AskErrorKind::MailboxFull => "mailbox full",
            AskErrorKind::Timeout => "timeout",
            AskErrorKind::OutcomeUnknown => "outcome unknown",
            AskErrorKind::Conflict => "conflict",
            AskErrorKind::Store => "store",
            AskErrorKind::Codec => "codec",
            AskErrorKind::Panicked => "panicked",
            AskErrorKind::ShuttingDown => "shutting down",
        };
        f.write_str(s)
    }
}

impl<C> AskError<C> {
    /// The kind of this error.
    pub fn kind(&self) -> AskErrorKind {
        match self {
            AskError::MailboxFull(_) => AskErrorKind::MailboxFull,
            AskError::Timeout => AskErrorKind::Timeout,
            AskError::OutcomeUnknown => AskErrorKind::OutcomeUnknown,
            AskError::Conflict { .. } => AskErrorKind::Conflict,
            AskError::Store(_) => AskErrorKind::Store,
            AskError::Codec(_) => AskErrorKind::Codec,
            AskError::Panicked(_) => AskErrorKind::Panicked,
            AskError::ShuttingDown => AskErrorKind::ShuttingDown,
        }
    }

    /// The command handed back by [`AskError::MailboxFull`].
    pub fn into_command(self) -> Option<C> {
        match self {
            AskError::MailboxFull(c) => Some(c),
            _ => None,
        }
    }

    /// Whether asking again (with the same command id) may succeed: a full mailbox, a
    /// timeout, an unknown outcome, a conflict, or a transient store error.
    pub fn is_retryable(&self) -> bool {
        match self {
            AskError::MailboxFull(_)
            | AskError::Timeout
            | AskError::OutcomeUnknown
            | AskError::Conflict { .. } => true,
            AskError::Store(e) => e.is_transient(),
            _ => false,
        }
    }

    /// The same error without the command (a `MailboxFull` becomes `MailboxFull(())`), for
    /// passing errors on where the command type does not matter.
    pub fn without_command(self) -> AskError<()> {
        match self {
            AskError::MailboxFull(_) => AskError::MailboxFull(()),
            AskError::Timeout => AskError::Timeout,
            AskError::OutcomeUnknown => AskError::OutcomeUnknown,
            AskError::Conflict { attempts } => AskError::Conflict { attempts },
            AskError::Store(e) => AskError::Store(e),
            AskError::Codec(e) => AskError::Codec(e),
            AskError::Panicked(m) => AskError::Panicked(m),
            AskError::ShuttingDown => AskError::ShuttingDown,
        }
    }
}

/// Errors the actor sends back, without the command (which the actor no longer has).
pub(crate) fn rebrand<C>(e: AskError<()>) -> AskError<C> {
    match e {
        // The actor never answers "mailbox full" (the caller sees it before sending); if it
        // did, the command was not run, which is what `Timeout` says.
        AskError::MailboxFull(()) => AskError::Timeout,
        AskError::Timeout => AskError::Timeout,
        AskError::OutcomeUnknown => AskError::OutcomeUnknown,
        AskError::Conflict { attempts } => AskError::Conflict { attempts },
        AskError::Store(e) => AskError::Store(e),
        AskError::Codec(e) => AskError::Codec(e),
        AskError::Panicked(m) => AskError::Panicked(m),
        AskError::ShuttingDown => AskError::ShuttingDown,
    }
}
