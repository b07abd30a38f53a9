//! [`AskError`]: the technical failures of an `ask`, kept apart from domain errors.

use std::fmt;

/// Why an `ask` did not produce a domain outcome. Domain rejections are not errors of this
/// type: they are the inner `Err` of `Result<Result<Reply, DomainError>, AskError>`.
///
/// `C` is the command type: [`AskError::MailboxFull`] hands the command back so the caller
/// can retry it.
///
/// `Display` says what happened to the command, never the text of its cause: the store's
/// error behind [`AskError::Store`] and [`AskError::Load`] is their
/// [`source`](std::error::Error::source), so print the whole chain with a reporter
/// (anyhow's `{:#}`, or tracing's error fields).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AskError<C> {
    /// The actor's mailbox is full; the command was not accepted and is handed back.
    #[error("the actor's mailbox is full; the command was not accepted")]
    MailboxFull(C),
    /// The deadline passed before the actor started the command; it was withdrawn and will
    /// never run. (While the store's connection is down, this is [`AskError::Load`] with an
    /// `Unavailable` error naming the outage.)
    #[error("the deadline passed before the actor started the command; it was not run")]
    Timeout,
    /// The deadline passed after the actor started the command: it may or may not have been
    /// stored. Ask again with the same command id to learn the outcome without running the
    /// command twice. (While the store's connection is down, this is [`AskError::Store`]
    /// with an `Unavailable` error naming the outage.)
    #[error("the deadline passed while the command was running; its outcome is unknown")]
    OutcomeUnknown,
    /// Other writers kept changing the actor: the command was decided again after each
    /// version conflict and still conflicted. Nothing was stored for it.
    #[error("version conflict persisted after {attempts} attempts; nothing was stored")]
    Conflict {
        /// How many times the command was decided.
        attempts: u32,
    },
    /// Storing the command's events failed: its outcome may be unknown (a lost
    /// acknowledgement), unless the store refused the input
    /// ([`ErrorKind::InvalidInput`](aether_core::ErrorKind::InvalidInput)). The actor reloads
    /// from the store before its next command; asking again with the same command id is
    /// safe and learns the outcome. The store's error is the source.
    #[error("storing the command's events failed; {outcome}", outcome = store_outcome(.0))]
    Store(#[source] aether_core::Error),
    /// Reading from the event store failed before the command ran (activating the actor,
    /// reloading after a conflict, or looking up its command id): the command did not
    /// run. The store's error is the source.
    #[error("loading the actor failed; the command did not run")]
    Load(#[source] aether_core::Error),
    /// The command id was used before, on this actor, for another command (another variant,
    /// or the same variant with other content): nothing was run. Command ids are unique per
    /// actor; use a fresh one for a new command.
    #[error("command id {command_id} was used for {stored}; it cannot be reused for {asked}")]
    CommandIdReused {
        /// The command id.
        command_id: aether_core::Uuid,
        /// The variant of the command stored under the id.
        stored: String,
        /// The variant of the command asked now.
        asked: String,
    },
    /// The actor's stored history belongs to another aggregate type: an actor id belongs to
    /// one type. Nothing was run.
    #[error("actor {actor} is a {stored}, not a {asked}")]
    WrongAggregateType {
        /// The actor.
        actor: aether_core::ActorId,
        /// The aggregate type its history records.
        stored: String,
        /// The aggregate type it was asked through.
        asked: &'static str,
    },
    /// Events, a reply or a state could not be encoded or decoded.
    #[error(transparent)]
    Codec(aether_core::Error),
    /// The aggregate's code panicked; the actor reloads its state before the next command.
    #[error("the aggregate panicked: {0}")]
    Panicked(String),
    /// The actor system is shutting down and accepts no more commands.
    #[error("the actor system is shutting down")]
    ShuttingDown,
    /// The ask itself is invalid (a reserved header key, say, or an aggregate type whose
    /// description names an event twice): it was refused before it reached the actor, and
    /// nothing ran. The source says what is wrong.
    #[error("the ask was refused before it reached the actor; nothing ran")]
    Invalid(#[source] aether_core::Error),
}

/// What a failed append means for the command: a refused input stored nothing; any other
/// failure may have stored it (a lost acknowledgement).
fn store_outcome(e: &aether_core::Error) -> &'static str {
    if e.kind() == aether_core::ErrorKind::InvalidInput {
        "the store refused it, nothing was stored"
    } else {
        "its outcome may be unknown"
    }
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
    /// [`AskError::Store`]: the outcome may be unknown; see the store error's kind.
    Store,
    /// [`AskError::Load`]: not run; see the store error's kind.
    Load,
    /// [`AskError::CommandIdReused`]: a bug in the caller; not run.
    CommandIdReused,
    /// [`AskError::WrongAggregateType`]: a bug in the caller; not run.
    WrongAggregateType,
    /// [`AskError::Codec`]: a bug or an incompatible schema; retrying will not help.
    Codec,
    /// [`AskError::Panicked`]: a bug in the aggregate.
    Panicked,
    /// [`AskError::ShuttingDown`]: the system is stopping.
    ShuttingDown,
    /// [`AskError::Invalid`]: a bug in the caller; not run.
    Invalid,
}

impl fmt::Display for AskErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            AskErrorKind::MailboxFull => "mailbox full",
            AskErrorKind::Timeout => "timeout",
            AskErrorKind::OutcomeUnknown => "outcome unknown",
            AskErrorKind::Conflict => "conflict",
            AskErrorKind::Store => "store",
            AskErrorKind::Load => "load",
            AskErrorKind::CommandIdReused => "command id reused",
            AskErrorKind::WrongAggregateType => "wrong aggregate type",
            AskErrorKind::Codec => "codec",
            AskErrorKind::Panicked => "panicked",
            AskErrorKind::ShuttingDown => "shutting down",
            AskErrorKind::Invalid => "invalid",
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
            AskError::Load(_) => AskErrorKind::Load,
            AskError::CommandIdReused { .. } => AskErrorKind::CommandIdReused,
            AskError::WrongAggregateType { .. } => AskErrorKind::WrongAggregateType,
            AskError::Codec(_) => AskErrorKind::Codec,
            AskError::Panicked(_) => AskErrorKind::Panicked,
            AskError::ShuttingDown => AskErrorKind::ShuttingDown,
            AskError::Invalid(_) => AskErrorKind::Invalid,
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
            AskError::Store(e) | AskError::Load(e) => e.is_transient(),
            _ => false,
        }
    }

    /// Whether the command may have run (its events may be stored): an unknown outcome, or
    /// a store failure while appending that was not a refusal of the input. Every other
    /// error means it did not run. Ask again with the same command id to learn which.
    pub fn may_have_run(&self) -> bool {
        match self {
            AskError::OutcomeUnknown => true,
            AskError::Store(e) => e.kind() != aether_core::ErrorKind::InvalidInput,
            _ => false,
        }
    }

    /// The same error without the command (a `MailboxFull` becomes `MailboxFull(())`), for
    /// passing errors on where the command type does not matter.
    pub fn without_command(self) -> AskError<()> {
        self.map_mailbox_full(|_| AskError::MailboxFull(()))
    }

    /// The same error with another command type, `full` deciding what `MailboxFull` becomes.
    fn map_mailbox_full<D>(self, full: impl FnOnce(C) -> AskError<D>) -> AskError<D> {
        match self {
            AskError::MailboxFull(c) => full(c),
            AskError::Timeout => AskError::Timeout,
            AskError::OutcomeUnknown => AskError::OutcomeUnknown,
            AskError::Conflict { attempts } => AskError::Conflict { attempts },
            AskError::Store(e) => AskError::Store(e),
            AskError::Load(e) => AskError::Load(e),
            AskError::CommandIdReused {
                command_id,
                stored,
                asked,
            } => AskError::CommandIdReused {
                command_id,
                stored,
                asked,
            },
            AskError::WrongAggregateType {
                actor,
                stored,
                asked,
            } => AskError::WrongAggregateType {
                actor,
                stored,
                asked,
            },
            AskError::Codec(e) => AskError::Codec(e),
            AskError::Panicked(m) => AskError::Panicked(m),
            AskError::ShuttingDown => AskError::ShuttingDown,
            AskError::Invalid(e) => AskError::Invalid(e),
        }
    }
}

/// Errors the actor sends back, without the command (which the actor no longer has).
pub(crate) fn rebrand<C>(e: AskError<()>) -> AskError<C> {
    // The actor never answers "mailbox full" (the caller sees it before sending); if it
    // did, the command was not run, which is what `Timeout` says.
    e.map_mailbox_full(|()| AskError::Timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_failure_says_whether_the_command_may_have_been_stored() {
        let refused = AskError::<()>::Store(aether_core::Error::invalid("append", "too large"));
        assert!(!refused.may_have_run());
        let text = refused.to_string();
        assert!(text.contains("nothing was stored"), "{text}");
        assert!(!text.contains("unknown"), "{text}");
        let lost = AskError::<()>::Store(aether_core::Error::timeout("no ack"));
        assert!(lost.may_have_run());
        assert_eq!(
            lost.to_string(),
            "storing the command's events failed; its outcome may be unknown"
        );
    }

    #[test]
    fn store_and_load_errors_keep_the_store_error_as_their_source_not_in_their_text() {
        use std::error::Error as _;
        let load = AskError::<()>::Load(aether_core::Error::timeout("no answer"));
        let refused = AskError::<()>::Store(aether_core::Error::invalid("append", "too large"));
        for (e, cause) in [(load, "timed out: no answer"), (refused, "too large")] {
            let source = e
                .source()
                .expect("the store error is the source")
                .to_string();
            assert!(source.contains(cause), "{source}");
            assert!(!e.to_string().contains(cause), "said twice: {e}");
        }
    }
}
