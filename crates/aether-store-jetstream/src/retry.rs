//! The store's retry of transient failures (no stream leader, a timeout, a busy server, a
//! lost connection) until a deadline, with the pauses of Aether's one retry policy
//! ([`Backoff`]), made aware of the connection: while it is down nothing is tried, and the
//! first try comes as soon as it is back.

use std::future::Future;
use std::time::Duration;

use aether_core::support::Backoff;
use aether_core::{Error, ErrorKind, Result};
use tokio::time::Instant;

use crate::errors::{self, code};
use crate::JetStreamEventStore;

impl JetStreamEventStore {
    /// Runs `op` until it succeeds, fails for good, or `deadline` passes; transient failures
    /// (no stream leader, a timeout, a busy server) are retried after the pauses of
    /// [`Backoff`]. A stream that keeps not answering is looked up: if it is gone, that is
    /// the error.
    pub(crate) async fn retrying<T, F, Fut>(&self, deadline: Instant, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        match self.attempt(deadline, &mut op).await {
            Err(e) if e.is_transient() => self.retrying_after(e, deadline, op).await,
            done => done,
        }
    }

    /// One attempt of `op`, ended as lost (transient) when the connection drops under it.
    /// While the connection is down nothing can be answered: the attempt first waits for it
    /// (until `deadline`), instead of a full `request_timeout`.
    async fn attempt<T, F, Fut>(&self, deadline: Instant, op: &mut F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let health = &self.inner.health;
        if !health.link().connected && !health.connected_by(deadline).await {
            let down = Error::timeout("waiting for the NATS connection");
            return Err(health.explain(down));
        }
        match health.or_lost(op()).await {
            Ok(done) => done,
            Err(_) => Err(lost_in_flight("a request")),
        }
    }

    /// [`retrying`](Self::retrying) after a first attempt failed with the transient `first`.
    pub(crate) async fn retrying_after<T, F, Fut>(
        &self,
        first: Error,
        deadline: Instant,
        mut op: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut backoff = Backoff::new();
        let mut failures = 0u32;
        let mut failure = first;
        loop {
            failures += 1;
            if !self
                .ready_to_retry(&mut backoff, failures, &failure, deadline)
                .await?
            {
                return Err(self.inner.health.explain(failure));
            }
            match self.attempt(deadline, &mut op).await {
                Ok(v) => return Ok(v),
                Err(e) if e.is_transient() => failure = e,
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits before the next try after `failures` transient failures, the last `failure`:
    /// while the connection is down, until it is back (then at once, the pauses started
    /// over); else the next pause of `backoff`, after looking up the streams every 4th
    /// unanswered try (a stream that is gone is the error). False when `deadline` comes
    /// first.
    async fn ready_to_retry(
        &self,
        backoff: &mut Backoff,
        failures: u32,
        failure: &Error,
        deadline: Instant,
    ) -> Result<bool> {
        let health = &self.inner.health;
        if !health.link().connected {
            // Nothing can succeed before the connection is back; then at once.
            backoff.reset();
            return Ok(health.connected_by(deadline).await);
        }
        if failure.kind() == ErrorKind::Unavailable && failures % 4 == 1 {
            Box::pin(self.ensure_streams_exist()).await?;
        }
        let Some(pause) = backoff.next_pause(deadline) else {
            return Ok(false);
        };
        tracing::debug!(
            error = failure as &dyn std::error::Error,
            "transient failure; retrying"
        );
        tokio::time::sleep(pause).await;
        Ok(true)
    }

    /// Errors (and raises the alarm) when a stream of the namespace has vanished.
    pub(crate) async fn ensure_streams_exist(&self) -> Result<()> {
        for name in [
            &self.inner.names.events_stream,
            &self.inner.names.snapshots_stream,
        ] {
            // A short look: during a leader election the API may not answer at all, and
            // the caller is retrying anyway.
            let wait = self
                .inner
                .options
                .request_timeout
                .min(Duration::from_secs(1));
            let Ok(found) = tokio::time::timeout(wait, self.inner.js.get_stream(name)).await else {
                continue;
            };
            if let Err(e) = found {
                if errors::api_code(&e) == Some(code::STREAM_NOT_FOUND) {
                    tracing::error!(
                        namespace = %self.inner.namespace,
                        stream = %name,
                        "a stream of the namespace has vanished"
                    );
                    return Err(Error::not_found(format!(
                        "stream {name} of namespace {} has vanished; it is not recreated",
                        self.inner.namespace
                    ))
                    .with_source(e));
                }
            }
        }
        Ok(())
    }
}

/// A request was in flight when its connection dropped: it may have been applied, and its
/// answer will never come. Transient: the retry re-sends it on the new connection.
pub(crate) fn lost_in_flight(what: &str) -> Error {
    Error::Unavailable {
        message: format!("{what}: the NATS connection dropped while waiting for the answer"),
        source: None,
    }
}
