//! [`StoreHealth`]: whether a store reaches its server, since when, and what failed last.

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

/// The health of an event store's connection, as [`EventStore::health`] reports it.
///
/// An embedded store is always connected. A store on a server reports whether its
/// connection is up, since when (the last change either way), the last error it saw and
/// how many appends are waiting for an answer.
///
/// ```
/// use aether_core::StoreHealth;
/// let h = StoreHealth::embedded();
/// assert!(h.connected);
/// assert_eq!(h.outage(), None);
/// assert!(h.to_string().starts_with("embedded connected"));
/// ```
///
/// [`EventStore::health`]: crate::EventStore::health
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreHealth {
    /// What the store connects to, as errors name it (`"NATS"`; `"embedded"` for a store
    /// without a server).
    pub server: &'static str,
    /// Whether the store's connection is up now.
    pub connected: bool,
    /// When the connection last came up or went down (monotonic clock).
    pub since: Instant,
    /// The same moment on the wall clock, for people and logs.
    pub since_wall: SystemTime,
    /// The last error the connection or a store operation reported, if any.
    pub last_error: Option<String>,
    /// Appends sent and not yet answered.
    pub appends_waiting: usize,
    /// How many times the connection was lost since the store opened.
    pub disconnects: u64,
}

impl StoreHealth {
    /// A store without a server: connected since the process first asked.
    pub fn embedded() -> Self {
        static START: OnceLock<(Instant, SystemTime)> = OnceLock::new();
        let (since, since_wall) = *START.get_or_init(|| (Instant::now(), SystemTime::now()));
        Self::connected_since("embedded", since, since_wall)
    }

    /// A connected store of `server`, up since `since` (`since_wall` on the wall clock).
    pub fn connected_since(server: &'static str, since: Instant, since_wall: SystemTime) -> Self {
        StoreHealth {
            server,
            connected: true,
            since,
            since_wall,
            last_error: None,
            appends_waiting: 0,
            disconnects: 0,
        }
    }

    /// How long the connection has been lost, or `None` while it is up.
    pub fn outage(&self) -> Option<Duration> {
        (!self.connected).then(|| self.since.elapsed())
    }

    /// "NATS connection lost 3.2 s ago" while the connection is down (with the last error
    /// when there is one), `None` while it is up.
    ///
    /// ```
    /// # use std::time::{Instant, SystemTime};
    /// let mut h = aether_core::StoreHealth::connected_since("NATS", Instant::now(), SystemTime::now());
    /// assert_eq!(h.describe_outage(), None);
    /// h.connected = false;
    /// assert!(h.describe_outage().unwrap().starts_with("NATS connection lost 0."));
    /// ```
    pub fn describe_outage(&self) -> Option<String> {
        let lost = self.outage()?;
        let mut s = format!(
            "{} connection lost {:.1} s ago",
            self.server,
            lost.as_secs_f64()
        );
        if let Some(e) = &self.last_error {
            s.push_str(" (last error: ");
            s.push_str(e);
            s.push(')');
        }
        Some(s)
    }
}

impl std::fmt::Display for StoreHealth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = if self.connected {
            "connected"
        } else {
            "disconnected"
        };
        write!(
            f,
            "{} {state} for {:.1} s, {} appends waiting, {} disconnects",
            self.server,
            self.since.elapsed().as_secs_f64(),
            self.appends_waiting,
            self.disconnects
        )?;
        if let Some(e) = &self.last_error {
            write!(f, ", last error: {e}")?;
        }
        Ok(())
    }
}
