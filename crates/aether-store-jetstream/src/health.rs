//! The health of a store handle's NATS connection: whether it is up, since when, the last
//! error, and a signal that wakes what waits on the connection.
//!
//! The state comes from async-nats's connection events when the store installed its
//! callback ([`connect`](crate::JetStreamEventStore::connect), or a [`ConnectionWatch`]
//! passed to [`open`](crate::JetStreamEventStore::open)); otherwise a task polls the
//! client's connection state and connect count every [`POLL`].
//!
//! Two things hang on it. An append in flight when the connection drops can never be
//! acknowledged (the server answers on the old connection), so it is re-sent as soon as
//! the connection is back instead of after its full `request_timeout`; and a retry loop
//! waiting out an outage resumes the moment the connection returns. Errors given up
//! during an outage name it ("NATS connection lost 3.2 s ago").

use std::future::Future;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};

use aether_core::{Error, StoreHealth};
use tokio::sync::watch;

/// How often the fallback poller looks at a client whose events the store does not get.
pub(crate) const POLL: Duration = Duration::from_millis(20);

/// The connection as the waiters see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Link {
    pub(crate) connected: bool,
    /// Bumped at every (re)connection: a request sent in an earlier epoch is never answered.
    pub(crate) epoch: u64,
}

#[derive(Debug)]
struct Detail {
    since: Instant,
    since_wall: SystemTime,
    last_error: Option<String>,
    disconnects: u64,
}

/// The shared health of one connection.
#[derive(Debug)]
pub(crate) struct Health {
    link: watch::Sender<Link>,
    detail: Mutex<Detail>,
    /// Whether connection events ever arrived.
    fed: std::sync::atomic::AtomicBool,
}

/// The connection dropped (or was replaced) while a request waited for its answer.
#[derive(Debug)]
pub(crate) struct Lost;

impl Health {
    pub(crate) fn new(connected: bool) -> Arc<Health> {
        Arc::new(Health {
            link: watch::Sender::new(Link {
                connected,
                epoch: 0,
            }),
            detail: Mutex::new(Detail {
                since: Instant::now(),
                since_wall: SystemTime::now(),
                last_error: None,
                disconnects: 0,
            }),
            fed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    fn detail(&self) -> std::sync::MutexGuard<'_, Detail> {
        aether_core::support::lock(&self.detail)
    }

    pub(crate) fn link(&self) -> Link {
        *self.link.borrow()
    }

    /// A receiver of every change of the link.
    pub(crate) fn subscribe(&self) -> watch::Receiver<Link> {
        self.link.subscribe()
    }

    /// Records a connection (`true`) or its loss, logging the change. The detail changes
    /// under its lock together with the link, so a report is never half updated.
    pub(crate) fn set(&self, connected: bool) {
        let mut d = self.detail();
        let changed = self.link.send_if_modified(|l| {
            if l.connected == connected {
                return false;
            }
            l.connected = connected;
            if connected {
                l.epoch += 1;
            }
            true
        });
        if !changed {
            return;
        }
        let lasted = d.since.elapsed();
        d.since = Instant::now();
        d.since_wall = SystemTime::now();
        if connected {
            tracing::info!(
                outage_s = lasted.as_secs_f64(),
                "NATS connection restored after {:.1} s",
                lasted.as_secs_f64()
            );
        } else {
            d.disconnects += 1;
            tracing::warn!(
                last_error = d.last_error.as_deref().unwrap_or("none"),
                "NATS connection lost; appends and reads wait for it (up to the store's \
                 retry_deadline)"
            );
        }
    }

    /// A (re)connection reported by an event: a new epoch even if the link already looked
    /// up (a missed or late Disconnected), so requests of the old connection are re-sent.
    fn reconnected(&self) {
        if self.link().connected {
            let _d = self.detail();
            self.link.send_modify(|l| l.epoch += 1);
        } else {
            self.set(true);
        }
    }

    /// Whether connection events ever arrived (the watch was installed).
    pub(crate) fn fed(&self) -> bool {
        self.fed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Records the last error the connection reported.
    pub(crate) fn error(&self, error: impl std::fmt::Display) {
        self.detail().last_error = Some(error.to_string());
    }

    /// Takes in one of async-nats's connection events.
    pub(crate) fn on_event(&self, event: &async_nats::Event) {
        use async_nats::Event as E;
        self.fed.store(true, std::sync::atomic::Ordering::Relaxed);
        match event {
            E::Connected => self.reconnected(),
            E::Disconnected => self.set(false),
            E::Closed => {
                self.error("the connection was closed");
                self.set(false);
            }
            E::ServerError(e) => self.error(format!("server error: {e}")),
            E::ClientError(e) => self.error(format!("client error: {e}")),
            E::LameDuckMode => {
                tracing::warn!("the NATS server is in lame duck mode (shutting down soon)")
            }
            _ => {}
        }
    }

    /// What [`EventStore::health`](aether_core::EventStore::health) reports.
    pub(crate) fn report(&self, appends_waiting: usize) -> StoreHealth {
        let d = self.detail();
        let mut h = StoreHealth::connected_since("NATS", d.since, d.since_wall);
        h.connected = self.link().connected;
        h.last_error = d.last_error.clone();
        h.appends_waiting = appends_waiting;
        h.disconnects = d.disconnects;
        h
    }

    /// `err`, renamed after the outage when the connection is down: a transient failure
    /// given up during an outage says so instead of being a bare timeout.
    pub(crate) fn explain(&self, err: Error) -> Error {
        if !err.is_transient() {
            return err;
        }
        match self.report(0).describe_outage() {
            // This layer says the outage; what was being done travels as the source.
            Some(outage) => Error::unavailable(outage, err),
            None => err,
        }
    }

    /// Runs `f`, a request sent on the connection as it is now, unless the connection drops
    /// or is replaced first: then its answer can never come and it ends with [`Lost`].
    pub(crate) async fn or_lost<F: Future>(&self, f: F) -> Result<F::Output, Lost> {
        let mut rx = self.link.subscribe();
        let start = *rx.borrow_and_update();
        // Sent while the connection is down, the request is queued by the client and goes
        // out on the next connection: that one is its epoch.
        let epoch = if start.connected {
            start.epoch
        } else {
            start.epoch + 1
        };
        tokio::select! {
            biased;
            out = f => Ok(out),
            _ = rx.wait_for(|l| l.epoch > epoch || (l.epoch == epoch && !l.connected)) => {
                Err(Lost)
            }
        }
    }

    /// Waits until the connection is up or `deadline` passes; true when it is up.
    pub(crate) async fn connected_by(&self, deadline: tokio::time::Instant) -> bool {
        let mut rx = self.link.subscribe();
        let up = tokio::time::timeout_at(deadline, rx.wait_for(|l| l.connected)).await;
        matches!(up, Ok(Ok(_)))
    }
}

/// Feeds `health` from a client whose events the store does not receive, by polling its
/// state and connect count; ends when the health is dropped.
pub(crate) fn poll(client: async_nats::Client, health: &Arc<Health>) {
    let weak: Weak<Health> = Arc::downgrade(health);
    let stats = client.statistics();
    let mut connects = stats.connects.load(std::sync::atomic::Ordering::Relaxed);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(health) = weak.upgrade() else { return };
            let now = stats.connects.load(std::sync::atomic::Ordering::Relaxed);
            let up = client.connection_state() == async_nats::connection::State::Connected;
            if now != connects {
                // Reconnected since the last look, perhaps too briefly down to see.
                connects = now;
                health.set(false);
            }
            health.set(up);
        }
    });
}

/// Connection events for a client you build yourself, so that a store opened on it with
/// [`open`](crate::JetStreamEventStore::open) learns of a lost connection at once (and
/// logs it at WARN) instead of by polling.
///
/// [`connect`](crate::JetStreamEventStore::connect) installs one itself. With a client of
/// your own, install it with [`install`](Self::install) (or call
/// [`on_event`](Self::on_event) from your own event callback) and pass it to the store with
/// [`JetStreamStoreOptions::connection_watch`](crate::JetStreamStoreOptions::connection_watch).
///
/// ```no_run
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use aether_store_jetstream::{async_nats, ConnectionWatch, JetStreamEventStore, JetStreamStoreOptions};
///
/// let watch = ConnectionWatch::new();
/// let client = watch
///     .install(async_nats::ConnectOptions::new())
///     .connect("nats://127.0.0.1:4222")
///     .await?;
/// let store = JetStreamEventStore::open(
///     client,
///     aether_core::Namespace::new("bank")?,
///     JetStreamStoreOptions::new().connection_watch(watch),
/// )
/// .await?;
/// println!("{}", aether_core::EventStore::health(&store));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ConnectionWatch {
    pub(crate) health: Arc<Health>,
}

impl std::fmt::Debug for ConnectionWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionWatch")
            .field("link", &self.health.link())
            .finish_non_exhaustive()
    }
}

impl Default for ConnectionWatch {
    fn default() -> Self {
        Self::new()
    }
}

impl ConnectionWatch {
    /// A watch that has seen no connection yet.
    pub fn new() -> Self {
        ConnectionWatch {
            health: Health::new(false),
        }
    }

    /// `options` with this watch as their event callback (replacing any other).
    pub fn install(&self, options: async_nats::ConnectOptions) -> async_nats::ConnectOptions {
        let health = Arc::clone(&self.health);
        options.event_callback(move |event| {
            health.on_event(&event);
            std::future::ready(())
        })
    }

    /// Takes in one connection event: call it from an event callback of your own.
    pub fn on_event(&self, event: &async_nats::Event) {
        self.health.on_event(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_waiting_when_the_connection_drops_or_is_replaced_is_lost() {
        let h = Health::new(true);
        let never = std::future::pending::<()>();
        let waiting = h.or_lost(never);
        let drop_it = async {
            tokio::task::yield_now().await;
            h.set(false);
        };
        let (lost, ()) = tokio::join!(waiting, drop_it);
        assert!(lost.is_err());
        // Down and up again between two looks (seen only as a new epoch) loses it too.
        h.set(true);
        let waiting = h.or_lost(std::future::pending::<()>());
        let replace = async {
            tokio::task::yield_now().await;
            h.set(false);
            h.set(true);
        };
        let (lost, ()) = tokio::join!(waiting, replace);
        assert!(lost.is_err());
        assert_eq!(h.or_lost(async { 7 }).await.unwrap(), 7);
    }

    /// What `f` logs at WARN and above.
    fn warnings(f: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let out = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || out.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let bytes = buf.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn a_lost_connection_is_logged_at_warn_once_and_its_return_is_not() {
        let h = Health::new(true);
        let lost = warnings(|| {
            h.error("connection reset");
            h.set(false);
            h.set(false);
        });
        assert_eq!(lost.matches("WARN").count(), 1, "{lost}");
        assert!(lost.contains("NATS connection lost"), "{lost}");
        assert!(lost.contains("connection reset"), "{lost}");
        assert_eq!(warnings(|| h.set(true)), "");
    }

    #[tokio::test]
    async fn errors_given_up_during_an_outage_name_it() {
        let h = Health::new(true);
        let timeout = Error::timeout("appending: timed out");
        assert_eq!(h.explain(Error::timeout("x")).to_string(), "timed out: x");
        h.error("connection refused");
        h.set(false);
        let e = h.explain(timeout);
        assert_eq!(e.kind(), aether_core::ErrorKind::Unavailable);
        let msg = e.to_string();
        assert!(msg.contains("NATS connection lost 0."), "{msg}");
        assert!(msg.contains("connection refused"), "{msg}");
        assert_eq!(msg.matches("unavailable").count(), 1, "{msg}");
        let source = std::error::Error::source(&e).expect("the given-up error as source");
        assert!(
            source.to_string().contains("appending: timed out"),
            "{source}"
        );
        // Not transient: not renamed.
        let bad = h.explain(Error::not_found("gone"));
        assert_eq!(bad.kind(), aether_core::ErrorKind::NotFound);
        let r = h.report(3);
        assert!(!r.connected && r.appends_waiting == 3 && r.disconnects == 1);
    }

    #[tokio::test]
    async fn a_wait_for_the_connection_ends_when_it_comes_back() {
        let h = Health::new(false);
        let started = tokio::time::Instant::now();
        let wake = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            h.set(true);
        };
        let (up, ()) = tokio::join!(h.connected_by(started + Duration::from_secs(5)), wake);
        assert!(up && started.elapsed() < Duration::from_secs(1));
        h.set(false);
        let deadline = tokio::time::Instant::now() + Duration::from_millis(50);
        assert!(!h.connected_by(deadline).await);
    }
}
