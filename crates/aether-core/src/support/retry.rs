//! The one retry policy of Aether: exponential backoff with jitter, bounded by a deadline.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// Pauses between tries of a transient failure: the first is about [`Backoff::FIRST`], each
/// next one doubles up to [`Backoff::MAX`], and each is jittered down by up to half so that
/// clients retrying together spread out. A pause never ends after the caller's deadline.
///
/// ```
/// use std::time::Duration;
/// use aether_core::support::Backoff;
///
/// let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
/// let mut backoff = Backoff::new();
/// let first = backoff.next_pause(deadline).unwrap();
/// assert!(first <= Backoff::FIRST && first >= Backoff::FIRST / 2);
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

impl Backoff {
    /// The first pause of the default policy.
    pub const FIRST: Duration = Duration::from_millis(25);
    /// The longest pause of the default policy: short, so that a recovered server is used
    /// within a quarter of a second.
    pub const MAX: Duration = Duration::from_millis(250);

    /// The default policy: [`FIRST`](Self::FIRST) doubling up to [`MAX`](Self::MAX).
    pub fn new() -> Self {
        Self::with_bounds(Self::FIRST, Self::MAX)
    }

    /// A policy from `first` doubling up to `max` (at least `first`).
    pub fn with_bounds(first: Duration, max: Duration) -> Self {
        Self {
            first,
            max: max.max(first),
            next: first,
        }
    }

    /// The pause before try `n` (1 for the first pause) of this policy, jittered, without
    /// a deadline: for callers that count tries themselves (a reconnection callback).
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = aether_core::support::Backoff::with_bounds(Duration::from_millis(2), Duration::from_millis(250));
    /// assert!(b.nth_pause(3) <= Duration::from_millis(8));
    /// assert!(b.nth_pause(40) >= Duration::from_millis(125));
    /// ```
    pub fn nth_pause(&self, n: u32) -> Duration {
        let doublings = n.saturating_sub(1).min(32);
        let full = self
            .first
            .saturating_mul(1 << doublings.min(31))
            .min(self.max);
        full - full.mul_f64(fastrand::f64() * 0.5)
    }

    /// Starts again from the first pause (after a success, or when the cause changed).
    pub fn reset(&mut self) {
        self.next = self.first;
    }

    /// The pause before the next try, or `None` when it would end after `deadline` (then
    /// the caller stops and reports its last failure).
    pub fn next_pause(&mut self, deadline: Instant) -> Option<Duration> {
        let full = self.next;
        self.next = (self.next * 2).min(self.max);
        let jitter = full.mul_f64(fastrand::f64() * 0.5);
        let pause = full - jitter;
        (Instant::now() + pause <= deadline).then_some(pause)
    }
}

/// Runs `op` until it succeeds, fails with an error `is_transient` refuses, or the next
/// pause of the default [`Backoff`] would end after `deadline`; then the last error is
/// returned.
///
/// # Errors
/// The first non-transient error, or the last transient one once the deadline is near.
pub async fn retry_until<T, E, F, Fut, P>(deadline: Instant, is_transient: P, op: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    P: Fn(&E) -> bool,
{
    retry_with(Backoff::new(), deadline, is_transient, op).await
}

/// [`retry_until`] with a chosen [`Backoff`].
///
/// # Errors
/// As [`retry_until`].
pub async fn retry_with<T, E, F, Fut, P>(
    mut backoff: Backoff,
    deadline: Instant,
    is_transient: P,
    mut op: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    P: Fn(&E) -> bool,
{
    loop {
        match op().await {
            Err(e) if is_transient(&e) => match backoff.next_pause(deadline) {
                Some(pause) => tokio::time::sleep(pause).await,
                None => return Err(e),
            },
            done => return done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    #[test]
    fn pauses_double_up_to_the_cap_jittered_by_at_most_half() {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut b = Backoff::new();
        let mut full = Backoff::FIRST;
        for _ in 0..12 {
            let p = b.next_pause(deadline).unwrap();
            assert!(p <= full && p >= full / 2, "{p:?} against {full:?}");
            full = (full * 2).min(Backoff::MAX);
        }
    }

    #[test]
    fn no_pause_ends_after_the_deadline() {
        let mut b = Backoff::with_bounds(Duration::from_secs(5), Duration::from_secs(5));
        let deadline = Instant::now() + Duration::from_secs(1);
        // Even jittered, a pause of at least 2.5 s cannot fit in 1 s.
        assert_eq!(b.next_pause(deadline), None);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_transient_errors_and_stops_at_the_first_other_one() {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut tries = 0;
        let r: Result<(), Error> = retry_until(deadline, Error::is_transient, || {
            tries += 1;
            let n = tries;
            async move {
                Err(if n < 4 {
                    Error::timeout("not yet")
                } else {
                    Error::invalid("input", "never")
                })
            }
        })
        .await;
        assert_eq!(r.unwrap_err().kind(), crate::ErrorKind::InvalidInput);
        assert_eq!(tries, 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_transient_error_is_returned_once_the_deadline_is_near() {
        let start = Instant::now();
        let deadline = start + Duration::from_secs(2);
        let mut tries = 0u32;
        let r: Result<(), Error> = retry_until(deadline, Error::is_transient, || {
            tries += 1;
            async { Err(Error::timeout("still down")) }
        })
        .await;
        assert_eq!(r.unwrap_err().kind(), crate::ErrorKind::Timeout);
        assert!(Instant::now() <= deadline, "never sleeps past the deadline");
        // 2 s of pauses of at most 250 ms: at least 8 tries.
        assert!(tries >= 8, "{tries} tries");
    }
}
