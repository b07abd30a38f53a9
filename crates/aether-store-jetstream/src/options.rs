//! Options of the JetStream store ([`JetStreamStoreOptions`]) and of the NATS connection it
//! opens ([`ConnectionOptions`]).

use std::path::PathBuf;
use std::time::Duration;

use aether_core::{Error, Result};

/// Where JetStream keeps the messages of Aether's streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Storage {
    /// On disk (the default, and the only choice for production).
    File,
    /// In server memory: lost when the server stops. For tests and caches.
    Memory,
}

/// Options of a [`JetStreamEventStore`](crate::JetStreamEventStore): stream settings,
/// retry policy, read tuning and, for [`connect`](crate::JetStreamEventStore::connect), the
/// connection.
///
/// The defaults are safe for one server; for production set
/// [`replicas(3)`](Self::replicas) on a cluster of three or more servers.
///
/// ```
/// use std::time::Duration;
/// use aether_store_jetstream::{JetStreamStoreOptions, Storage};
/// let o = JetStreamStoreOptions::new()
///     .replicas(3)
///     .storage(Storage::File)
///     .max_bytes(Some(50 << 30))
///     .duplicate_window(Duration::from_secs(30));
/// ```
#[derive(Debug, Clone)]
pub struct JetStreamStoreOptions {
    pub(crate) replicas: usize,
    pub(crate) storage: Storage,
    pub(crate) max_bytes: Option<u64>,
    pub(crate) max_messages: Option<u64>,
    pub(crate) snapshot_max_bytes: Option<u64>,
    pub(crate) duplicate_window: Duration,
    pub(crate) snapshots_retained: usize,
    pub(crate) retry_deadline: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) read_page: usize,
    pub(crate) read_buffer_bytes: usize,
    pub(crate) cache_capacity: usize,
    pub(crate) replica_reads: Option<bool>,
    pub(crate) record_format: u32,
    pub(crate) create_if_missing: bool,
    pub(crate) connection: ConnectionOptions,
    pub(crate) watch: Option<crate::ConnectionWatch>,
}

impl Default for JetStreamStoreOptions {
    fn default() -> Self {
        JetStreamStoreOptions {
            replicas: 1,
            storage: Storage::File,
            max_bytes: None,
            max_messages: None,
            snapshot_max_bytes: None,
            duplicate_window: Duration::from_secs(30),
            snapshots_retained: 3,
            retry_deadline: Duration::from_secs(12),
            request_timeout: Duration::from_secs(2),
            read_page: 256,
            read_buffer_bytes: 4 << 20,
            cache_capacity: 100_000,
            replica_reads: None,
            record_format: 2,
            create_if_missing: true,
            connection: ConnectionOptions::default(),
            watch: None,
        }
    }
}

impl JetStreamStoreOptions {
    /// The default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many servers keep a copy of every message (default 1; 3 in production, on a
    /// cluster of at least three servers; at most 5).
    ///
    /// ```
    /// let o = aether_store_jetstream::JetStreamStoreOptions::new().replicas(3);
    /// ```
    pub fn replicas(mut self, replicas: usize) -> Self {
        self.replicas = replicas;
        self
    }

    /// File (default) or memory storage for the streams.
    ///
    /// ```
    /// use aether_store_jetstream::{JetStreamStoreOptions, Storage};
    /// let o = JetStreamStoreOptions::new().storage(Storage::Memory);
    /// ```
    pub fn storage(mut self, storage: Storage) -> Self {
        self.storage = storage;
        self
    }

    /// The most bytes the event stream of a namespace may hold (default `None`: bounded
    /// only by the server's JetStream storage). A full stream refuses appends; it never
    /// drops events.
    ///
    /// ```
    /// let o = aether_store_jetstream::JetStreamStoreOptions::new().max_bytes(Some(10 << 30));
    /// ```
    pub fn max_bytes(mut self, bytes: Option<u64>) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// The most messages (appends) the event stream of a namespace may hold (default
    /// `None`: no limit). A full stream refuses appends; it never drops events.
    ///
    /// ```
    /// let o = aether_store_jetstream::JetStreamStoreOptions::new().max_messages(Some(1_000_000_000));
    /// ```
    pub fn max_messages(mut self, messages: Option<u64>) -> Self {
        self.max_messages = messages;
        self
    }

    /// The most bytes the snapshot stream of a namespace may hold (default `None`: no
    /// limit).
    ///
    /// ```
    /// let o = aether_store_jetstream::JetStreamStoreOptions::new().snapshot_max_bytes(Some(1 << 30));
    /// ```
    pub fn snapshot_max_bytes(mut self, bytes: Option<u64>) -> Self {
        self.snapshot_max_bytes = bytes;
        self
    }

    /// How long the server remembers message ids to drop re-sent appends (default 30 s).
    /// This is the window in which an `ExpectedVersion::Any` append is de-duplicated;
    /// `Exact` retries are recognised at any time by reading back. The server holds every id
    /// of the window in memory, so keep it short.
    ///
    /// ```
    /// use std::time::Duration;
    /// let o = aether_store_jetstream::JetStreamStoreOptions::new()
    ///     .duplicate_window(Duration::from_secs(10));
    /// ```
    pub fn duplicate_window(mut self, window: Duration) -> Self {
        self.duplicate_window = window;
        self
    }

    /// How many of an actor's newest snapshot saves are retained (default 3, at least 1).
    ///
    /// ```
    /// let o = aether_store_jetstream::JetStreamStoreOptions::new().snapshots_retained(5);
    /// ```
    pub fn snapshots_retained(mut self, n: usize) -> Self {
        self.snapshots_retained = n.max(1);
        self
    }

    /// How long an operation keeps retrying transient failures (a stream leader election,
    /// a server restart, a lost acknowledgement) before it reports them (default 12 s).
    ///
    /// Keep it above a stream leader election (4-7 s on loopback) plus a `request_timeout`,
    /// and below the runtime's `ask_timeout` (15 s), so that a failing store answers before
    /// the caller stops waiting: see the timeouts table in `docs/operations.md`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let o = aether_store_jetstream::JetStreamStoreOptions::new()
    ///     .retry_deadline(Duration::from_secs(30));
    /// ```
    pub fn retry_deadline(mut self, deadline: Duration) -> Self {
        self.retry_deadline = deadline;
        self
    }

    /// How long one JetStream request or acknowledgement may take before it is retried
    /// (default 2 s). A request lost with a stream leader is re-sent after this; a request
    /// lost with the connection is re-sent as soon as the connection is back.
    ///
    /// ```
    /// use std::time::Duration;
    /// let o = aether_store_jetstream::JetStreamStoreOptions::new()
    ///     .request_timeout(Duration::from_secs(2));
    /// ```
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How many messages a read fetches per round trip (default 256, at least 1).
    ///
    /// ```
    /// let o = aether_store_jetstream::JetStreamStoreOptions::new().read_page(1000);
    /// ```
    pub fn read_page(mut self, messages: usize) -> Self {
        self.read_page = messages.max(1);
        self
    }

    /// About how many bytes a streaming read buffers at a time (default 4 MiB); bounds the
    /// memory of [`read_stream`](aether_core::EventStore::read_stream).
    ///
    /// ```
    /// let o = aether_store_jetstream::JetStreamStoreOptions::new().read_buffer_bytes(16 << 20);
    /// ```
    pub fn read_buffer_bytes(mut self, bytes: usize) -> Self {
        self.read_buffer_bytes = bytes.max(64 * 1024);
        self
    }

    /// How many actors' latest (version, stream sequence) the handle remembers so an append
    /// costs one round trip (default 100,000).
    ///
    /// ```
    /// let o = aether_store_jetstream::JetStreamStoreOptions::new().cache_capacity(1_000_000);
    /// ```
    pub fn cache_capacity(mut self, actors: usize) -> Self {
        self.cache_capacity = actors;
        self
    }

    /// Whether reads may be served by any replica (direct get) when the handle cannot tell
    /// whether the replica is up to date. By default they may on one replica and may not on
    /// several: a read then asks the stream leader for the actor's latest sequence first.
    /// Reads of what this handle wrote or saw are always checked against it.
    ///
    /// ```
    /// let o = aether_store_jetstream::JetStreamStoreOptions::new().replica_reads(true);
    /// ```
    pub fn replica_reads(mut self, allowed: bool) -> Self {
        self.replica_reads = Some(allowed);
        self
    }

    /// The format of the event records this handle writes: 2 (the default) or 1. Both are
    /// always read.
    ///
    /// Format 2 stores the aggregate type and a command's reply, variant and hash in fields
    /// of their own. Versions of Aether before it read only format 1 and refuse a format-2
    /// record as a `Codec` error, so a rolling upgrade goes in two steps: deploy this version
    /// everywhere with `record_format(1)` (it writes what old processes read: the aggregate
    /// type, variant and hash are dropped and a reply is the `aether-reply` metadata header
    /// holding the lowercase hex of its bytes), then, once no process of an older version
    /// is left, switch to 2. Anything but 1 or 2 is refused when the store opens
    /// (`InvalidInput`).
    ///
    /// ```
    /// let during_the_upgrade = aether_store_jetstream::JetStreamStoreOptions::new().record_format(1);
    /// ```
    pub fn record_format(mut self, format: u32) -> Self {
        self.record_format = format;
        self
    }

    /// Whether opening a namespace that does not exist yet creates it (default true, as
    /// sqlx's `create_if_missing`). With false, opening a namespace that has neither a
    /// registry entry nor streams is [`NotFound`](aether_core::ErrorKind::NotFound) naming
    /// it, and nothing is created: a mistyped namespace, or one whose streams and registry
    /// were all lost, then fails instead of starting empty. Production processes should set
    /// it to false and create namespaces once, from a deployment step.
    ///
    /// ```
    /// let o = aether_store_jetstream::JetStreamStoreOptions::new().create_if_missing(false);
    /// ```
    pub fn create_if_missing(mut self, create: bool) -> Self {
        self.create_if_missing = create;
        self
    }

    /// The connection [`connect`](crate::JetStreamEventStore::connect) opens (credentials,
    /// TLS, timeouts). Ignored by [`open`](crate::JetStreamEventStore::open), which uses the
    /// client it is given.
    ///
    /// ```
    /// use aether_store_jetstream::{ConnectionOptions, JetStreamStoreOptions};
    /// let o = JetStreamStoreOptions::new()
    ///     .connection(ConnectionOptions::new().user_and_password("app", "secret"));
    /// ```
    pub fn connection(mut self, connection: ConnectionOptions) -> Self {
        self.connection = connection;
        self
    }

    /// The [`ConnectionWatch`](crate::ConnectionWatch) installed on the client given to
    /// [`open`](crate::JetStreamEventStore::open), so that the store learns of a lost
    /// connection from its events. Without one, `open` polls the client's state every
    /// 20 ms. Ignored by [`connect`](crate::JetStreamEventStore::connect), which installs
    /// its own.
    ///
    /// ```
    /// use aether_store_jetstream::{ConnectionWatch, JetStreamStoreOptions};
    /// let watch = ConnectionWatch::new();
    /// let o = JetStreamStoreOptions::new().connection_watch(watch.clone());
    /// ```
    pub fn connection_watch(mut self, watch: crate::ConnectionWatch) -> Self {
        self.watch = Some(watch);
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if !(1..=5).contains(&self.replicas) {
            return Err(Error::invalid(
                "store options",
                format!("replicas must be 1 to 5, not {}", self.replicas),
            ));
        }
        if self.duplicate_window.is_zero() {
            return Err(Error::invalid(
                "store options",
                "the duplicate window must not be zero",
            ));
        }
        if !(1..=2).contains(&self.record_format) {
            return Err(Error::invalid(
                "store options",
                format!(
                    "record_format must be 1 or 2, not {} (this version writes and reads event \
                     record formats 1 and 2)",
                    self.record_format
                ),
            ));
        }
        if self.request_timeout.is_zero() {
            return Err(Error::invalid(
                "store options",
                "the request timeout must not be zero",
            ));
        }
        for (name, limit) in [
            ("max_bytes", self.max_bytes),
            ("max_messages", self.max_messages),
            ("snapshot_max_bytes", self.snapshot_max_bytes),
        ] {
            if limit.is_some_and(|l| l == 0 || i64::try_from(l).is_err()) {
                return Err(Error::invalid(
                    "store options",
                    format!(
                        "{name} must be None (no limit) or 1 to {}, not {}",
                        i64::MAX,
                        limit.unwrap_or_default()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A limit as JetStream's stream configuration says it: -1 for none. The limits are
    /// validated to fit (see [`validate`](Self::validate)).
    pub(crate) fn stream_limit(limit: Option<u64>) -> i64 {
        limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX))
    }
}

#[derive(Clone, Default)]
pub(crate) enum Auth {
    #[default]
    None,
    UserPassword(String, String),
    Token(String),
    NKey(String),
    CredentialsFile(PathBuf),
    Credentials(String),
}

/// Names the kind of credential and what is not secret (the user, the file's path), never
/// a password, token, seed or credentials' content.
impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const REDACTED: &str = "<redacted>";
        match self {
            Auth::None => f.write_str("None"),
            Auth::UserPassword(user, _) => f
                .debug_struct("UserPassword")
                .field("user", user)
                .field("password", &REDACTED)
                .finish(),
            Auth::Token(_) => f.debug_tuple("Token").field(&REDACTED).finish(),
            Auth::NKey(_) => f.debug_tuple("NKey").field(&REDACTED).finish(),
            Auth::CredentialsFile(path) => f.debug_tuple("CredentialsFile").field(path).finish(),
            Auth::Credentials(_) => f.debug_tuple("Credentials").field(&REDACTED).finish(),
        }
    }
}

/// How [`JetStreamEventStore::connect`](crate::JetStreamEventStore::connect) connects to
/// NATS: credentials, TLS and timeouts. Its `Debug` shows no password, token, NKey seed or
/// credentials.
///
/// ```
/// use std::time::Duration;
/// use aether_store_jetstream::ConnectionOptions;
/// let c = ConnectionOptions::new()
///     .credentials_file("/etc/aether/app.creds")
///     .require_tls(true)
///     .tls_root_certificates("/etc/aether/ca.pem")
///     .connect_timeout(Duration::from_secs(3))
///     .name("aether-node-1");
/// ```
#[derive(Debug, Clone)]
pub struct ConnectionOptions {
    pub(crate) auth: Auth,
    pub(crate) require_tls: bool,
    pub(crate) tls_first: bool,
    pub(crate) root_certificates: Vec<PathBuf>,
    pub(crate) client_certificate: Option<(PathBuf, PathBuf)>,
    pub(crate) connect_timeout: Duration,
    pub(crate) name: Option<String>,
    pub(crate) retry_initial_connect: bool,
    pub(crate) reconnect_delay_max: Duration,
}

impl Default for ConnectionOptions {
    fn default() -> Self {
        ConnectionOptions {
            auth: Auth::None,
            require_tls: false,
            tls_first: false,
            root_certificates: Vec::new(),
            client_certificate: None,
            connect_timeout: Duration::from_secs(5),
            name: None,
            retry_initial_connect: false,
            reconnect_delay_max: Duration::from_millis(250),
        }
    }
}

impl ConnectionOptions {
    /// No credentials, no TLS requirement, a 5 s connect timeout.
    pub fn new() -> Self {
        Self::default()
    }

    /// Authenticates with a user name and password.
    ///
    /// ```
    /// let c = aether_store_jetstream::ConnectionOptions::new().user_and_password("app", "secret");
    /// ```
    pub fn user_and_password(
        mut self,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.auth = Auth::UserPassword(user.into(), password.into());
        self
    }

    /// Authenticates with a token.
    ///
    /// ```
    /// let c = aether_store_jetstream::ConnectionOptions::new().token("s3cr3t");
    /// ```
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.auth = Auth::Token(token.into());
        self
    }

    /// Authenticates with an NKey seed (`SU...`).
    ///
    /// ```
    /// let c = aether_store_jetstream::ConnectionOptions::new().nkey("SUAM...");
    /// ```
    pub fn nkey(mut self, seed: impl Into<String>) -> Self {
        self.auth = Auth::NKey(seed.into());
        self
    }

    /// Authenticates with a `.creds` file (a user JWT and its NKey seed), read at connect.
    ///
    /// ```
    /// let c = aether_store_jetstream::ConnectionOptions::new().credentials_file("app.creds");
    /// ```
    pub fn credentials_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.auth = Auth::CredentialsFile(path.into());
        self
    }

    /// Authenticates with the contents of a `.creds` file.
    ///
    /// ```
    /// let creds = std::env::var("NATS_CREDS").unwrap_or_default();
    /// let c = aether_store_jetstream::ConnectionOptions::new().credentials(creds);
    /// ```
    pub fn credentials(mut self, creds: impl Into<String>) -> Self {
        self.auth = Auth::Credentials(creds.into());
        self
    }

    /// Refuses to connect without TLS.
    ///
    /// ```
    /// let c = aether_store_jetstream::ConnectionOptions::new().require_tls(true);
    /// ```
    pub fn require_tls(mut self, required: bool) -> Self {
        self.require_tls = required;
        self
    }

    /// Starts TLS before the NATS handshake (servers with `handshake_first`).
    ///
    /// ```
    /// let c = aether_store_jetstream::ConnectionOptions::new().tls_first();
    /// ```
    pub fn tls_first(mut self) -> Self {
        self.tls_first = true;
        self.require_tls = true;
        self
    }

    /// Trusts the CA certificates in a PEM file (in addition to the system's).
    ///
    /// ```
    /// let c = aether_store_jetstream::ConnectionOptions::new().tls_root_certificates("ca.pem");
    /// ```
    pub fn tls_root_certificates(mut self, pem: impl Into<PathBuf>) -> Self {
        self.root_certificates.push(pem.into());
        self
    }

    /// Presents a client certificate (mutual TLS): PEM certificate and key files.
    ///
    /// ```
    /// let c = aether_store_jetstream::ConnectionOptions::new()
    ///     .tls_client_certificate("client.pem", "client-key.pem");
    /// ```
    pub fn tls_client_certificate(
        mut self,
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Self {
        self.client_certificate = Some((cert.into(), key.into()));
        self
    }

    /// How long the first connection may take (default 5 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = aether_store_jetstream::ConnectionOptions::new().connect_timeout(Duration::from_secs(2));
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The connection's name, shown by the server's monitoring.
    ///
    /// ```
    /// let c = aether_store_jetstream::ConnectionOptions::new().name("aether-node-1");
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Keeps trying when no server is reachable at start instead of failing:
    /// [`connect`](crate::JetStreamEventStore::connect) then waits for the first connection
    /// (with no time limit, logging at WARN every 5 s while it waits; wrap it in
    /// `tokio::time::timeout` for a bound) and opens the namespace once a server answers.
    /// For processes started before their servers.
    ///
    /// ```
    /// let c = aether_store_jetstream::ConnectionOptions::new().retry_initial_connect(true);
    /// ```
    pub fn retry_initial_connect(mut self, retry: bool) -> Self {
        self.retry_initial_connect = retry;
        self
    }

    /// The longest pause between two reconnection attempts after the connection is lost
    /// (default 250 ms). Attempts start at once and back off exponentially up to this,
    /// each pause shortened by a random part of up to half, so that many clients do not
    /// reconnect in step. A short cap means a restarted server is found again quickly;
    /// async-nats's own default reaches 4 s.
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = aether_store_jetstream::ConnectionOptions::new()
    ///     .reconnect_delay_max(Duration::from_secs(1));
    /// ```
    pub fn reconnect_delay_max(mut self, max: Duration) -> Self {
        self.reconnect_delay_max = max;
        self
    }

    /// The async-nats options these stand for, reporting connection events to `health`.
    pub(crate) async fn to_nats(
        &self,
        request_timeout: Duration,
        health: &std::sync::Arc<crate::health::Health>,
    ) -> Result<async_nats::ConnectOptions> {
        let mut o = match &self.auth {
            Auth::None => async_nats::ConnectOptions::new(),
            Auth::UserPassword(u, p) => {
                async_nats::ConnectOptions::with_user_and_password(u.clone(), p.clone())
            }
            Auth::Token(t) => async_nats::ConnectOptions::with_token(t.clone()),
            Auth::NKey(seed) => {
                // Checked here, so a bad seed is named as such rather than reported as a
                // failed authentication.
                nkeys::KeyPair::from_seed(seed)
                    .map_err(|e| Error::invalid("nkey", "not a valid NKey seed").with_source(e))?;
                async_nats::ConnectOptions::with_nkey(seed.clone())
            }
            Auth::CredentialsFile(path) => async_nats::ConnectOptions::with_credentials_file(path)
                .await
                .map_err(|e| {
                    Error::invalid(
                        "credentials file",
                        format!("cannot read {}", path.display()),
                    )
                    .with_source(e)
                })?,
            Auth::Credentials(creds) => async_nats::ConnectOptions::with_credentials(creds)
                .map_err(|e| {
                    Error::invalid("credentials", "not a valid .creds content").with_source(e)
                })?,
        };
        if self.require_tls {
            o = o.require_tls(true);
        }
        if self.tls_first {
            o = o.tls_first();
        }
        for pem in &self.root_certificates {
            o = o.add_root_certificates(pem.clone());
        }
        if let Some((cert, key)) = &self.client_certificate {
            o = o.add_client_certificate(cert.clone(), key.clone());
        }
        if let Some(name) = &self.name {
            o = o.name(name);
        }
        if self.retry_initial_connect {
            o = o.retry_on_initial_connect();
        }
        let max = self.reconnect_delay_max;
        o = o.reconnect_delay_callback(move |attempts| reconnect_delay(attempts, max));
        let health = std::sync::Arc::clone(health);
        o = o.event_callback(move |event| {
            health.on_event(&event);
            std::future::ready(())
        });
        Ok(o.connection_timeout(self.connect_timeout)
            .request_timeout(Some(request_timeout)))
    }
}

/// The pause before reconnection attempt `attempts` (1 for the first): none for the first,
/// then Aether's [`Backoff`](aether_core::support::Backoff) from 2 ms up to `max`.
fn reconnect_delay(attempts: usize, max: Duration) -> Duration {
    if attempts <= 1 {
        return Duration::ZERO;
    }
    let backoff = aether_core::support::Backoff::with_bounds(Duration::from_millis(2), max);
    backoff.nth_pause(u32::try_from(attempts - 1).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnection_pauses_grow_to_the_cap_with_jitter() {
        let max = Duration::from_millis(250);
        assert_eq!(reconnect_delay(0, max), Duration::ZERO);
        assert_eq!(reconnect_delay(1, max), Duration::ZERO);
        for attempts in 2..200 {
            let full = Duration::from_millis(1 << (attempts - 1).min(32)).min(max);
            let d = reconnect_delay(attempts, max);
            assert!(d <= full && d >= full / 2, "{attempts}: {d:?}");
        }
        assert!(reconnect_delay(usize::MAX, max) <= max);
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let secrets = [
            "pa55w0rd-xyz",
            "t0ken-xyz",
            "SUAJ4SEEDXYZ",
            "-----BEGIN NATS USER JWT-----\neyJ0eXAi\n------END NATS USER JWT------",
        ];
        let options = [
            ConnectionOptions::new().user_and_password("app-user", secrets[0]),
            ConnectionOptions::new().token(secrets[1]),
            ConnectionOptions::new().nkey(secrets[2]),
            ConnectionOptions::new().credentials(secrets[3]),
            ConnectionOptions::new().credentials_file("/etc/aether/app.creds"),
        ];
        for c in options {
            let store = JetStreamStoreOptions::new().connection(c.clone());
            for text in [format!("{c:?}"), format!("{c:#?}"), format!("{store:?}")] {
                for secret in secrets {
                    assert!(!text.contains(secret), "{secret:?} shown: {text}");
                }
                assert!(text.contains("Auth") || text.contains("auth"), "{text}");
            }
        }
        let user = format!(
            "{:?}",
            ConnectionOptions::new().user_and_password("app-user", "x")
        );
        assert!(
            user.contains("app-user") && user.contains("<redacted>"),
            "{user}"
        );
        let file = format!(
            "{:?}",
            ConnectionOptions::new().credentials_file("/etc/a.creds")
        );
        assert!(file.contains("/etc/a.creds"), "{file}");
    }

    #[test]
    fn the_record_format_is_1_or_2() {
        assert_eq!(JetStreamStoreOptions::new().record_format, 2);
        for ok in [1, 2] {
            assert!(JetStreamStoreOptions::new()
                .record_format(ok)
                .validate()
                .is_ok());
        }
        for bad in [0, 3, u32::MAX] {
            let e = JetStreamStoreOptions::new()
                .record_format(bad)
                .validate()
                .unwrap_err();
            assert_eq!(e.kind(), aether_core::ErrorKind::InvalidInput);
            assert!(
                e.to_string().contains("record_format must be 1 or 2"),
                "{e}"
            );
        }
    }

    #[test]
    fn no_limit_is_none_and_limits_that_do_not_fit_are_refused() {
        let o = JetStreamStoreOptions::new();
        assert_eq!(
            (o.max_bytes, o.max_messages, o.snapshot_max_bytes),
            (None, None, None)
        );
        assert_eq!(JetStreamStoreOptions::stream_limit(None), -1);
        assert_eq!(
            JetStreamStoreOptions::stream_limit(Some(10 << 30)),
            10 << 30
        );
        assert!(o.clone().max_bytes(Some(1)).validate().is_ok());
        let bad = [
            o.clone().max_bytes(Some(0)),
            o.clone().max_messages(Some(u64::MAX)),
            o.clone().snapshot_max_bytes(Some(1 << 63)),
        ];
        for (options, name) in bad
            .iter()
            .zip(["max_bytes", "max_messages", "snapshot_max_bytes"])
        {
            let e = options.validate().unwrap_err();
            assert_eq!(e.kind(), aether_core::ErrorKind::InvalidInput);
            assert!(
                e.to_string().contains(&format!("{name} must be None")),
                "{e}"
            );
        }
    }
}
