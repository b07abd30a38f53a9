//! The [`Ask`] request and its [`AskFuture`]: how a command reaches its actor, how the
//! caller waits for the answer until the deadline, and what a passed deadline means
//! ([`deadline_passed`]).

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use aether_core::{ActorId, EventStore, Uuid};
use tokio::sync::oneshot;

use super::TypeRuntime;
use crate::actor::{AskMsg, Headers, Msg, Outcome};
use crate::aggregate::Aggregate;
use crate::error::{rebrand, AskError};
use crate::mailbox::{Mailbox, SendError};

/// What an `ask` returns: a technical error, or the domain outcome (the reply or the
/// aggregate's domain error).
pub type AskResult<A> = Result<
    Result<<A as Aggregate>::Reply, <A as Aggregate>::Error>,
    AskError<<A as Aggregate>::Command>,
>;

/// A pending `ask`: set options, then `.await` it.
///
/// ```no_run
/// # use aether_actor::{Actors, Aggregate};
/// # async fn f<A: Aggregate>(accounts: Actors<A>, id: aether_core::ActorId, cmd: A::Command) {
/// let command_id = aether_core::Uuid::now_v7();
/// let outcome = accounts
///     .ask(&id, cmd)
///     .command_id(command_id)
///     .timeout(std::time::Duration::from_secs(2))
///     .await;
/// # }
/// ```
#[must_use = "an ask does nothing until it is awaited"]
pub struct Ask<A: Aggregate> {
    rt: Arc<TypeRuntime<A>>,
    id: ActorId,
    command: A::Command,
    command_id: Option<Uuid>,
    correlation_id: Option<Uuid>,
    timeout: Option<Duration>,
    deadline: Option<std::time::Instant>,
    headers: Option<Box<Headers>>,
    /// Why the ask cannot be sent (a reserved header key): reported when it is sent.
    invalid: Option<String>,
}

/// The header keys the runtime reserves for itself: its own headers begin with it.
pub(crate) const RESERVED_HEADER_PREFIX: &str = "aether-";

impl<A: Aggregate> std::fmt::Debug for Ask<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ask")
            .field("type", &A::TYPE_NAME)
            .field("id", &self.id)
            .field("command_id", &self.command_id)
            .finish_non_exhaustive()
    }
}

impl<A: Aggregate> Ask<A> {
    /// An ask of `command` to actor `id`, with the default options.
    pub(super) fn new(rt: Arc<TypeRuntime<A>>, id: &ActorId, command: A::Command) -> Self {
        Ask {
            rt,
            id: id.clone(),
            command,
            command_id: None,
            correlation_id: None,
            timeout: None,
            deadline: None,
            headers: None,
            invalid: None,
        }
    }

    /// Adds a header to the metadata of every event the command stores (a tenant, a user,
    /// a trace id): stored and replayed with the events, and seen by subscribers. A key set
    /// twice keeps the last value. Keys beginning with `aether-` (in any case) are the
    /// runtime's own, and an empty key means nothing: either makes the ask fail with
    /// [`AskError::Invalid`] without running the command.
    ///
    /// ```no_run
    /// # use aether_actor::{Actors, Aggregate};
    /// # async fn f<A: Aggregate>(accounts: Actors<A>, id: aether_core::ActorId, cmd: A::Command) {
    /// let outcome = accounts.ask(&id, cmd).header("tenant", "acme").await;
    /// # }
    /// ```
    pub fn header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        let reserved = key
            .get(..RESERVED_HEADER_PREFIX.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(RESERVED_HEADER_PREFIX));
        if reserved || key.is_empty() {
            let why = if reserved {
                format!("header key {key:?} begins with {RESERVED_HEADER_PREFIX:?}, which Aether reserves for its own headers")
            } else {
                "a header key is empty".to_owned()
            };
            self.invalid.get_or_insert(why);
            return self;
        }
        self.headers
            .get_or_insert_with(Default::default)
            .insert(key, value.into());
        self
    }

    /// The command's id (default: a fresh UUID v7). The events the command produces carry it
    /// as their causation id, and a command id the actor has already stored events for is
    /// answered with the original reply without running the command again: retries after
    /// a timeout or an unknown outcome should reuse it.
    pub fn command_id(mut self, id: Uuid) -> Self {
        self.command_id = Some(id);
        self
    }

    /// The correlation id written on the events (default: the command id).
    pub fn correlation_id(mut self, id: Uuid) -> Self {
        self.correlation_id = Some(id);
        self
    }

    /// The deadline for the answer, counted from the `await` (default: the system's
    /// [`ask_timeout`](super::ActorSystemBuilder::ask_timeout)). If it passes before the actor
    /// started the command, the command is withdrawn ([`AskError::Timeout`]); after, the
    /// answer is [`AskError::OutcomeUnknown`].
    ///
    /// The actor checks the deadline before it decides the command: a deadline already
    /// passed (a zero timeout included) is [`AskError::Timeout`], and the command never runs.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The deadline for the answer as an instant (default: [`timeout`](Ask::timeout) from
    /// the `await`). With both, the earlier one holds. Useful when one deadline covers
    /// several steps: a deadline already passed is [`AskError::Timeout`] and the command
    /// never runs.
    ///
    /// ```no_run
    /// # use aether_actor::{Actors, Aggregate};
    /// # async fn f<A: Aggregate>(accounts: Actors<A>, id: aether_core::ActorId, cmd: A::Command) {
    /// let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    /// let outcome = accounts.ask(&id, cmd).deadline(deadline).await;
    /// # }
    /// ```
    pub fn deadline(mut self, deadline: std::time::Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Queues the command for the actor without waiting for its answer, and returns its
    /// command id: the tell of `actors.tell(id, command)`, with this ask's options (command
    /// id, correlation id, headers, deadline).
    ///
    /// A told command that later fails or is rejected is logged at WARN and counted in
    /// [`ActorStats`](crate::ActorStats) (`told_failed`, `told_rejected`); asking with the
    /// returned command id answers its stored outcome without running it again.
    ///
    /// # Errors
    /// At once: [`AskError::MailboxFull`] (with the command) when the actor's mailbox is
    /// full, [`AskError::ShuttingDown`], [`AskError::Timeout`] for a deadline already
    /// passed, [`AskError::Invalid`] for a reserved header key.
    ///
    /// # Panics
    /// Outside a Tokio runtime when the actor has to be activated, as `tokio::spawn` does.
    pub fn tell(self) -> Result<Uuid, AskError<A::Command>> {
        // A told command's id is remembered like a caller's, so that an ask with it is
        // answered from the store.
        let command_id = self.command_id.unwrap_or_else(aether_core::new_id);
        let (rt, id, msg, _) = self.command_id(command_id).message(None)?;
        match rt.send(&id, msg) {
            Ok((mailbox, _)) => {
                mailbox.wake();
                Ok(command_id)
            }
            Err(e) => Err(not_sent(e)),
        }
    }

    /// The message for the actor, with `reply` as where the answer goes, and its deadline;
    /// or why it cannot be sent.
    #[expect(
        clippy::type_complexity,
        reason = "the parts of a message ready to send"
    )]
    fn message(
        self,
        reply: Option<oneshot::Sender<Outcome<A>>>,
    ) -> Result<(Arc<TypeRuntime<A>>, ActorId, Msg<A>, tokio::time::Instant), AskError<A::Command>>
    {
        let Ask {
            rt,
            id,
            command,
            command_id,
            correlation_id,
            timeout,
            deadline,
            headers,
            invalid,
        } = self;
        if rt.shared.shutting_down.load(Ordering::Relaxed) {
            return Err(AskError::ShuttingDown);
        }
        if let Some(why) = invalid.or_else(|| rt.invalid.clone()) {
            return Err(AskError::Invalid(aether_core::Error::invalid("ask", why)));
        }
        let now = tokio::time::Instant::now();
        let timeout = timeout.unwrap_or(rt.shared.config.ask_timeout);
        // A timeout too long for the clock is no deadline at all: about 30 years.
        let mut until = now
            .checked_add(timeout)
            .unwrap_or_else(|| now + Duration::from_secs(1 << 30));
        if let Some(d) = deadline {
            until = until.min(tokio::time::Instant::from_std(d));
        }
        if until <= now {
            // Already passed: not sent, never run.
            return Err(AskError::Timeout);
        }
        let fresh_id = command_id.is_none();
        let command_id = command_id.unwrap_or_else(aether_core::new_id);
        let msg = Msg::Ask(Box::new(AskMsg {
            command,
            command_id,
            fresh_id,
            correlation_id: correlation_id.unwrap_or(command_id),
            deadline: until,
            headers,
            reply,
        }));
        Ok((rt, id, msg, until))
    }

    /// Hands the command to the actor: the synchronous first step of an ask.
    fn send(self) -> Result<Sent<A>, AskError<A::Command>> {
        let (tx, rx) = oneshot::channel::<Outcome<A>>();
        let (rt, id, msg, until) = self.message(Some(tx))?;
        match rt.send(&id, msg) {
            Ok((mailbox, seq)) => Ok(Sent {
                mailbox,
                seq,
                wait: tokio::time::timeout_at(until, rx),
                rt,
            }),
            Err(e) => Err(not_sent(e)),
        }
    }
}

/// The error of a command its actor's mailbox did not take.
fn not_sent<A: Aggregate>(e: SendError<Msg<A>>) -> AskError<A::Command> {
    match e {
        SendError::Full(Msg::Ask(m)) => AskError::MailboxFull(m.command),
        SendError::Closed(Msg::Ask(_)) => AskError::ShuttingDown,
        SendError::Full(_) | SendError::Closed(_) => {
            unreachable!("an ask message is handed back as sent")
        }
    }
}

/// A command handed to its actor, waiting for the answer.
struct Sent<A: Aggregate> {
    mailbox: Arc<Mailbox<Msg<A>>>,
    seq: u64,
    wait: tokio::time::Timeout<oneshot::Receiver<Outcome<A>>>,
    /// Kept to tell, when the deadline passes, whether the store is in an outage.
    rt: Arc<TypeRuntime<A>>,
}

/// A command sent to its actor: where, and the runtime it went through.
type Waiting<A> = (Arc<Mailbox<Msg<A>>>, u64, Arc<TypeRuntime<A>>);

pin_project_lite::pin_project! {
    /// The future of an [`Ask`]: hands the command to the actor on its first poll, then
    /// waits for the answer until the deadline.
    #[must_use = "an ask does nothing until it is awaited"]
    pub struct AskFuture<A: Aggregate> {
        ask: Option<Ask<A>>,
        queued: Option<Waiting<A>>,
        #[pin]
        wait: Option<tokio::time::Timeout<oneshot::Receiver<Outcome<A>>>>,
        span: tracing::Span,
    }
}

impl<A: Aggregate> std::fmt::Debug for AskFuture<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AskFuture")
            .field("type", &A::TYPE_NAME)
            .field("sent", &self.queued.is_some())
            .finish_non_exhaustive()
    }
}

impl<A: Aggregate> Future for AskFuture<A> {
    type Output = AskResult<A>;

    fn poll(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<AskResult<A>> {
        use std::task::Poll;
        let mut this = self.project();
        let _entered = (!this.span.is_disabled()).then(|| this.span.enter());
        let polled = match this.ask.take() {
            Some(ask) => match ask.send() {
                Ok(sent) => {
                    this.wait.set(Some(sent.wait));
                    // Get ready for the answer (timer and reply registered) before waking
                    // the actor: on a multi-threaded runtime, an actor woken earlier could
                    // be picked up by another worker while this poll is still running.
                    let polled = {
                        let _wake = WakeOnDrop(&sent.mailbox);
                        this.wait.as_mut().as_pin_mut().map(|w| w.poll(cx))
                    };
                    *this.queued = Some((sent.mailbox, sent.seq, sent.rt));
                    polled
                }
                Err(e) => return Poll::Ready(Err(e)),
            },
            None => this.wait.as_mut().as_pin_mut().map(|w| w.poll(cx)),
        };
        let Some(polled) = polled else {
            panic!("an ask future polled after it completed");
        };
        let outcome = std::task::ready!(polled);
        this.wait.set(None);
        let queued = this.queued.take();
        Poll::Ready(match outcome {
            Ok(Ok(outcome)) => outcome.map_err(rebrand),
            // The actor dropped the request without answering: it stopped abnormally.
            Ok(Err(_)) => Err(AskError::OutcomeUnknown),
            Err(_) => Err(match queued {
                Some((mailbox, seq, rt)) => {
                    let withdrawn = mailbox.withdraw(seq).is_some();
                    deadline_passed(&*rt.shared.store, withdrawn)
                }
                None => AskError::OutcomeUnknown,
            }),
        })
    }
}

/// The error of an ask whose deadline passed: [`AskError::Timeout`] when the command was
/// `withdrawn` unstarted, [`AskError::OutcomeUnknown`] otherwise; but while the store's
/// connection is down, the same two outcomes as [`AskError::Load`] and [`AskError::Store`]
/// with an `Unavailable` error naming the outage, so that the caller sees why.
pub(crate) fn deadline_passed<C>(store: &dyn EventStore, withdrawn: bool) -> AskError<C> {
    let Some(outage) = store.health().describe_outage() else {
        return if withdrawn {
            AskError::Timeout
        } else {
            AskError::OutcomeUnknown
        };
    };
    if withdrawn {
        AskError::Load(aether_core::Error::Unavailable {
            message: format!("{outage}; the deadline passed before the command started"),
            source: None,
        })
    } else {
        AskError::Store(aether_core::Error::Unavailable {
            message: format!("{outage}; the deadline passed while the command was running"),
            source: None,
        })
    }
}

/// Wakes a mailbox's actor when dropped (also if polling panics, so a queued command is
/// never left unnoticed).
struct WakeOnDrop<'a, M>(&'a Mailbox<M>);

impl<M> Drop for WakeOnDrop<'_, M> {
    fn drop(&mut self) {
        self.0.wake();
    }
}

impl<A: Aggregate> IntoFuture for Ask<A> {
    type Output = AskResult<A>;
    type IntoFuture = AskFuture<A>;

    fn into_future(self) -> AskFuture<A> {
        let span = tracing::debug_span!(
            "ask",
            aggregate = A::TYPE_NAME,
            actor = %self.id,
            command_id = tracing::field::Empty,
        );
        if let (false, Some(id)) = (span.is_disabled(), self.command_id) {
            span.record("command_id", tracing::field::display(id));
        }
        AskFuture {
            ask: Some(self),
            queued: None,
            wait: None,
            span,
        }
    }
}
