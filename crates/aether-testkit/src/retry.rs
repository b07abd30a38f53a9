//! Retrying an operation while its error is transient, for tests that connect to servers
//! that are still starting or electing leaders.

use std::future::Future;
use std::time::Duration;

/// Runs `op` until it succeeds, fails with a non-transient error, or `within` has passed
/// (then its last error is returned): [`aether_core::support::retry_until`], the one retry
/// policy of Aether, with a deadline `within` from now.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::time::Duration;
/// let n = std::sync::atomic::AtomicU32::new(0);
/// let r = aether_testkit::retry_while_transient(Duration::from_secs(5), || async {
///     if n.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 2 {
///         Err(aether_core::Error::timeout("not yet"))
///     } else {
///         Ok(7)
///     }
/// })
/// .await;
/// assert_eq!(r.unwrap(), 7);
/// # }
/// ```
pub async fn retry_while_transient<T, F, Fut>(within: Duration, op: F) -> aether_core::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = aether_core::Result<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    aether_core::support::retry_until(deadline, aether_core::Error::is_transient, op).await
}
