//! Opening a store: waiting for the first connection, the server capability check, and
//! (in [`registry`]) the namespace registry and creating or verifying the streams.

mod registry;

use std::sync::Arc;
use std::time::Duration;

use aether_core::support::{
    ServerVersion, MIN_JETSTREAM_API_LEVEL, MIN_NATS_SERVER, MISSING_FEATURES,
    RECOMMENDED_NATS_SERVER,
};
use aether_core::{Error, Namespace, Result};
use async_nats::jetstream::{self, stream};

use crate::cache::TailCache;
use crate::errors::{self, code};
use crate::names::Names;
use crate::options::Storage;
use crate::{Inner, JetStreamEventStore, JetStreamStoreOptions};

/// How often [`first_server_info`] says that it is still waiting.
const STILL_WAITING_EVERY: Duration = Duration::from_secs(5);

/// Checks that a server of `version` (as in its INFO, for instance `"2.15.1"`) with
/// JetStream API level `api_level` has what the store needs: nats-server
/// [`MIN_NATS_SERVER`] (2.12.2, API level 2) or later; its docs say why.
///
/// ```
/// use aether_store_jetstream::check_server_capabilities;
/// assert!(check_server_capabilities("2.15.1", 3).is_ok());
/// let err = check_server_capabilities("2.11.4", 1).unwrap_err();
/// assert!(err.to_string().contains("nats-server 2.11.4 is older than 2.12.2"));
/// let err = check_server_capabilities("2.12.1", 2).unwrap_err();
/// assert!(err.to_string().contains("nats-server#7458"));
/// ```
///
/// # Errors
/// [`Error::Backend`] naming both versions (or the API levels, for a version that does not
/// parse) and what an older server lacks.
pub fn check_server_capabilities(version: &str, api_level: usize) -> Result<()> {
    let oldest = MIN_NATS_SERVER;
    let why = ServerVersion::parse(version).and_then(ServerVersion::why_unsupported);
    let message = match why {
        Some(why) => format!(
            "nats-server {version} is older than {oldest}, the oldest Aether supports: {why}"
        ),
        None if api_level < MIN_JETSTREAM_API_LEVEL => format!(
            "nats-server {version} has JetStream API level {api_level}, below level \
             {MIN_JETSTREAM_API_LEVEL} of nats-server {oldest}, the oldest Aether supports: \
             {MISSING_FEATURES}"
        ),
        None => return Ok(()),
    };
    Err(Error::Backend {
        message: format!(
            "{message}. Upgrade the servers to {oldest} or later ({RECOMMENDED_NATS_SERVER} or \
             later in production)"
        ),
        source: None,
    })
}

impl JetStreamEventStore {
    /// Connects to NATS at `url` (one or more comma-separated server URLs) with the
    /// credentials, TLS and timeouts of `options`, and opens `namespace`.
    ///
    /// # Errors
    /// As [`open`](Self::open), plus the connection's: refused credentials are
    /// [`Error::InvalidInput`], an unreachable server [`Error::Unavailable`] (with
    /// [`retry_initial_connect`](crate::ConnectionOptions::retry_initial_connect), the open
    /// waits for a server instead: see [`open`](Self::open)).
    pub async fn connect(
        url: &str,
        namespace: Namespace,
        options: JetStreamStoreOptions,
    ) -> Result<Self> {
        options.validate()?;
        let watch = crate::ConnectionWatch::new();
        let nats = options
            .connection
            .to_nats(options.request_timeout, &watch.health)
            .await?;
        let options = options.connection_watch(watch);
        let servers = server_addrs(url)?;
        let client = nats
            .connect(servers.as_slice())
            .await
            .map_err(|e| connect_error(url, e))?;
        Self::open(client, namespace, options).await
    }

    /// Opens `namespace` on an existing connection. Handles of several namespaces can share
    /// one client.
    ///
    /// Waits for the client's first connection, checks the server's capabilities, then
    /// creates the namespace's streams on first use (and records them in the
    /// `aether_registry` KV bucket) or verifies them.
    ///
    /// # Waiting for the first connection
    /// A client made with `retry_initial_connect` (async-nats `retry_on_initial_connect`)
    /// is returned before it has connected. `open` waits for its first connection for as
    /// long as it takes, logging a warning every 5 s that it is still waiting (with the
    /// connection's last error when the store gets its events); bound the wait with
    /// `tokio::time::timeout` if the caller must give up, which drops the open safely.
    ///
    /// # Errors
    /// [`Error::Backend`] for a server without JetStream or older than
    /// [`MIN_NATS_SERVER`] (naming both versions); [`Error::NotFound`] when a stream
    /// recorded in the registry has vanished (it is never recreated empty), when the
    /// namespace's streams hold messages but its registry entry or bucket is missing (the
    /// registry was lost), or when the namespace does not exist and
    /// [`create_if_missing`](JetStreamStoreOptions::create_if_missing) is false;
    /// [`Error::InvalidInput`] when an existing stream's settings are unsafe or the options
    /// are invalid.
    pub async fn open(
        client: async_nats::Client,
        namespace: Namespace,
        options: JetStreamStoreOptions,
    ) -> Result<Self> {
        Self::open_with(client, namespace, options, true).await
    }

    /// [`open`](Self::open), and with `create` false
    /// [`open_existing`](Self::open_existing): the same checks, but nothing is created or
    /// changed (a namespace without a registry entry is `NotFound`, and a stream without
    /// the registry metadata is not given it).
    pub(crate) async fn open_with(
        client: async_nats::Client,
        namespace: Namespace,
        options: JetStreamStoreOptions,
        create: bool,
    ) -> Result<Self> {
        options.validate()?;
        let info = first_server_info(&client, options.watch.as_ref()).await;
        require_jetstream(&info)?;
        let js = jetstream::ContextBuilder::new()
            .timeout(options.request_timeout)
            .build(client.clone());
        // The version alone tells an old server, whose account info may not even parse.
        if ServerVersion::parse(&info.version).is_some_and(|v| v < MIN_NATS_SERVER) {
            check_server_capabilities(&info.version, 0)?;
        }
        let account = with_retry(&options, "querying the JetStream account", || {
            js.query_account()
        })
        .await?;
        check_server_capabilities(&info.version, account.requests.level)?;

        let names = Names::new(&namespace);
        registry::prepare(&js, &namespace, &names, &options, create).await?;

        Self::start(client, js, namespace, names, options, info.max_payload).await
    }

    /// Opens the namespace's streams (ready now) and the acknowledgement path, and makes
    /// the handle.
    async fn start(
        client: async_nats::Client,
        js: jetstream::Context,
        namespace: Namespace,
        names: Names,
        options: JetStreamStoreOptions,
        max_payload: usize,
    ) -> Result<Self> {
        let replica_reads = options.replica_reads.unwrap_or(options.replicas == 1);
        let events = js
            .get_stream_no_info(&names.events_stream)
            .await
            .map_err(|e| errors::map("opening the event stream", e))?;
        let snapshots = js
            .get_stream_no_info(&names.snapshots_stream)
            .await
            .map_err(|e| errors::map("opening the snapshot stream", e))?;
        let health = watch_health(&client, options.watch.as_ref());
        let acks =
            crate::acks::Acks::start(client.clone(), options.request_timeout, health.subscribe())
                .await
                .map_err(|e| errors::map("subscribing to append acknowledgements", e))?;
        Ok(JetStreamEventStore {
            inner: Arc::new(Inner {
                health,
                namespace,
                acks,
                cache: TailCache::new(options.cache_capacity),
                prefetch: crate::prefetch::Prefetch::new(options.cache_capacity),
                arena: std::sync::Mutex::new(bytes::BytesMut::new()),
                options,
                client,
                js,
                events,
                snapshots,
                names,
                max_payload,
                replica_reads,
            }),
        })
    }
}

/// Refuses a server without JetStream, naming it.
fn require_jetstream(info: &async_nats::ServerInfo) -> Result<()> {
    if info.jetstream {
        return Ok(());
    }
    Err(Error::Backend {
        message: format!(
            "nats-server {} at {}:{} has JetStream disabled; the Aether store needs it (start \
             the server with -js)",
            info.version, info.host, info.port
        ),
        source: None,
    })
}

/// The server's INFO once `client` has connected. A client made with
/// `retry_on_initial_connect` returns before its first connection and knows no server until
/// then: this waits for it without bound, warning every [`STILL_WAITING_EVERY`].
async fn first_server_info(
    client: &async_nats::Client,
    watch: Option<&crate::ConnectionWatch>,
) -> async_nats::ServerInfo {
    let started = tokio::time::Instant::now();
    let mut next_warning = started + STILL_WAITING_EVERY;
    loop {
        if let Some(info) = client.try_server_info() {
            if tokio::time::Instant::now() >= started + STILL_WAITING_EVERY {
                tracing::info!(
                    server = %info.version,
                    waited_s = started.elapsed().as_secs(),
                    "connected to NATS; opening the store"
                );
            }
            return info;
        }
        let now = tokio::time::Instant::now();
        if now >= next_warning {
            let last_error = watch.and_then(|w| w.health.report(0).last_error);
            tracing::warn!(
                waited_s = started.elapsed().as_secs(),
                last_error = last_error.as_deref().unwrap_or("none reported"),
                "no NATS server reached yet (retry_initial_connect): the store's open waits \
                 for the first connection"
            );
            next_warning = now + STILL_WAITING_EVERY;
        }
        tokio::time::sleep(crate::health::POLL).await;
    }
}

/// The health of `client`'s connection: fed by `watch` when the caller installed one,
/// else by a poller.
fn watch_health(
    client: &async_nats::Client,
    watch: Option<&crate::ConnectionWatch>,
) -> Arc<crate::health::Health> {
    let up = client.connection_state() == async_nats::connection::State::Connected;
    match watch {
        Some(w) => {
            if !w.health.fed() {
                // Its first event may still be on the way, or it was never installed: the
                // poller covers both (a second feed costs at most a needless re-send).
                if up {
                    w.health.set(true);
                }
                crate::health::poll(client.clone(), &w.health);
            }
            Arc::clone(&w.health)
        }
        None => {
            let health = crate::health::Health::new(up);
            crate::health::poll(client.clone(), &health);
            health
        }
    }
}

/// Parses `url` as one or more comma-separated server URLs.
impl crate::ConnectionOptions {
    /// Connects to NATS at `url` (one or more comma-separated server URLs) with these
    /// credentials, TLS settings and timeouts, for a client of its own (an operator's tool,
    /// say) that then opens namespaces with [`JetStreamEventStore::open`] or
    /// [`JetStreamEventStore::open_existing`]. [`JetStreamEventStore::connect`] does the
    /// same and opens one namespace.
    ///
    /// ```no_run
    /// # #[tokio::main] async fn main() -> aether_core::Result<()> {
    /// let client = aether_store_jetstream::ConnectionOptions::new()
    ///     .credentials_file("ops.creds")
    ///     .connect("nats://n1:4222,nats://n2:4222")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`JetStreamEventStore::connect`]: a bad URL, credentials or TLS setting is
    /// [`Error::InvalidInput`] naming it, an unreachable server [`Error::Unavailable`].
    pub async fn connect(&self, url: &str) -> Result<async_nats::Client> {
        let watch = crate::ConnectionWatch::new();
        let request_timeout = JetStreamStoreOptions::new().request_timeout;
        let nats = self.to_nats(request_timeout, &watch.health).await?;
        let servers = server_addrs(url)?;
        nats.connect(servers.as_slice())
            .await
            .map_err(|e| connect_error(url, e))
    }
}

fn server_addrs(url: &str) -> Result<Vec<async_nats::ServerAddr>> {
    let addrs = url
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| {
            u.parse::<async_nats::ServerAddr>().map_err(|e| {
                Error::invalid("nats url", format!("{u:?} is not a NATS server URL")).with_source(e)
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if addrs.is_empty() {
        return Err(Error::invalid("nats url", "no server URL given"));
    }
    Ok(addrs)
}

fn connect_error(url: &str, e: async_nats::ConnectError) -> Error {
    use async_nats::ConnectErrorKind as K;
    let error = match e.kind() {
        K::AuthorizationViolation | K::Authentication => Error::invalid(
            "nats credentials",
            format!("the server at {url} refused the connection (check the credentials)"),
        ),
        K::Tls => Error::invalid("nats tls", format!("TLS with {url} failed")),
        // A refused handshake (an unknown CA, a name mismatch, a missing client
        // certificate) comes as an I/O error wrapping the TLS error: no retry fixes it.
        K::Io if is_tls_failure(&e) => Error::invalid(
            "nats tls",
            format!("TLS with {url} failed (check the certificates)"),
        ),
        K::ServerParse => Error::invalid("nats url", format!("{url:?} is not a NATS address")),
        _ => Error::Unavailable {
            message: format!("cannot connect to NATS at {url}"),
            source: None,
        },
    };
    error.with_source(e)
}

/// Whether `e`'s sources hold a TLS error (an I/O error wrapping a rustls error): a
/// handshake the server or the client refused.
fn is_tls_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io
                .get_ref()
                .is_some_and(|inner| inner.is::<async_nats::rustls::Error>())
            {
                return true;
            }
        }
        source = s.source();
    }
    false
}

/// Runs `op` (an open step named `what`) until it succeeds, fails with an error that is not
/// transient, or the store's `retry_deadline` is near, with the pauses of Aether's retry
/// policy. JetStream not enabled for the account or server is said as such.
async fn with_retry<T, E, F, Fut>(
    options: &JetStreamStoreOptions,
    what: &str,
    mut op: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    let deadline = tokio::time::Instant::now() + options.retry_deadline;
    aether_core::support::retry_until(deadline, retried, || {
        let attempt = op();
        async move { attempt.await.map_err(|e| open_error(what, e)) }
    })
    .await
}

/// Whether an open step that failed with `e` is tried again (logged when it is).
fn retried(e: &Error) -> bool {
    let transient = e.is_transient();
    if transient {
        tracing::debug!(error = e as &dyn std::error::Error, "retrying");
    }
    transient
}

/// A failure of the open step `what`: JetStream not enabled is a backend error saying so,
/// anything else as `errors::map` says.
fn open_error<E>(what: &str, e: E) -> Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    let code = errors::api_code(&e);
    if matches!(
        code,
        Some(code::NOT_ENABLED | code::NOT_ENABLED_FOR_ACCOUNT)
    ) {
        return Error::backend(
            format!("{what}: JetStream is not enabled for this account or server"),
            e,
        );
    }
    errors::map(what, e)
}

fn storage(s: Storage) -> stream::StorageType {
    match s {
        Storage::File => stream::StorageType::File,
        Storage::Memory => stream::StorageType::Memory,
    }
}

/// The event stream's settings: every limit explicit, nothing ever dropped or deleted.
pub(crate) fn events_config(names: &Names, o: &JetStreamStoreOptions) -> stream::Config {
    stream::Config {
        name: names.events_stream.clone(),
        description: Some("Aether events: one message per append, one subject per actor".into()),
        subjects: vec![names.events_filter()],
        retention: stream::RetentionPolicy::Limits,
        discard: stream::DiscardPolicy::New,
        max_messages: JetStreamStoreOptions::stream_limit(o.max_messages),
        max_bytes: JetStreamStoreOptions::stream_limit(o.max_bytes),
        max_messages_per_subject: -1,
        max_age: Duration::ZERO,
        max_consumers: -1,
        storage: storage(o.storage),
        num_replicas: o.replicas,
        duplicate_window: o.duplicate_window,
        deny_delete: true,
        deny_purge: true,
        allow_direct: true,
        allow_rollup: false,
        metadata: names.stream_metadata(),
        ..Default::default()
    }
}

/// The snapshot stream's settings: the newest `snapshots_retained` heads per actor; chunks
/// of large snapshots on their own subjects, purged when their head is dropped.
pub(crate) fn snapshots_config(names: &Names, o: &JetStreamStoreOptions) -> stream::Config {
    stream::Config {
        name: names.snapshots_stream.clone(),
        description: Some("Aether snapshots: the newest few per actor".into()),
        subjects: vec![names.snapshots_filter()],
        retention: stream::RetentionPolicy::Limits,
        discard: stream::DiscardPolicy::Old,
        max_messages: -1,
        max_bytes: JetStreamStoreOptions::stream_limit(o.snapshot_max_bytes),
        max_messages_per_subject: o.snapshots_retained as i64,
        max_age: Duration::ZERO,
        max_consumers: -1,
        storage: storage(o.storage),
        num_replicas: o.replicas,
        duplicate_window: o.duplicate_window,
        deny_delete: true,
        deny_purge: false,
        allow_direct: true,
        allow_rollup: false,
        metadata: names.stream_metadata(),
        ..Default::default()
    }
}

/// The stream `name` (its configuration and state), or `None` when there is none.
async fn existing_stream(
    js: &jetstream::Context,
    name: &str,
    options: &JetStreamStoreOptions,
) -> Result<Option<stream::Info>> {
    let deadline = tokio::time::Instant::now() + options.retry_deadline;
    aether_core::support::retry_until(deadline, Error::is_transient, || async {
        match js.get_stream(name).await {
            // The lookup is a stream info request: its answer is the configuration and state.
            Ok(s) => Ok(Some(s.cached_info().clone())),
            Err(e) if errors::api_code(&e) == Some(code::STREAM_NOT_FOUND) => Ok(None),
            Err(e) => Err(errors::map(&format!("looking up stream {name}"), e)),
        }
    })
    .await
}

/// Creates the stream `cfg` describes; one a concurrent first open created meanwhile is
/// verified instead.
async fn create_stream(
    js: &jetstream::Context,
    cfg: &stream::Config,
    options: &JetStreamStoreOptions,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + options.retry_deadline;
    aether_core::support::retry_until(deadline, Error::is_transient, || async {
        let Err(e) = js.create_stream(cfg.clone()).await else {
            return Ok(());
        };
        if errors::api_code(&e) == Some(code::REPLICAS_NOT_SUPPORTED) {
            return Err(Error::invalid(
                "store options",
                format!(
                    "replicas {} need a JetStream cluster; this server is not clustered",
                    cfg.num_replicas
                ),
            )
            .with_source(e));
        }
        let err = errors::map(&format!("creating stream {}", cfg.name), e);
        // A concurrent first open may have created the same stream.
        match existing_stream(js, &cfg.name, options).await? {
            Some(found) => verify(cfg, &found.config),
            None => Err(err),
        }
    })
    .await
}

/// Refuses a stream whose settings could lose or change events; warns about harmless
/// differences (replicas, storage, limits), which operators may change on purpose.
fn verify(want: &stream::Config, found: &stream::Config) -> Result<()> {
    let unsafe_diffs = unsafe_differences(want, found);
    if !unsafe_diffs.is_empty() {
        return Err(Error::invalid(
            "stream",
            format!(
                "existing stream {} has unsafe settings for Aether: {}",
                want.name,
                unsafe_diffs.join("; ")
            ),
        ));
    }
    if found.num_replicas != want.num_replicas
        || found.storage != want.storage
        || found.max_bytes != want.max_bytes
        || found.max_messages != want.max_messages
    {
        tracing::warn!(
            stream = %want.name,
            replicas = found.num_replicas,
            storage = ?found.storage,
            max_bytes = found.max_bytes,
            max_messages = found.max_messages,
            "existing stream differs from the options (kept as it is)"
        );
    }
    Ok(())
}

/// What in `found` differs from `want` in a way that could lose or change events.
fn unsafe_differences(want: &stream::Config, found: &stream::Config) -> Vec<String> {
    let mut unsafe_diffs = Vec::new();
    if found.subjects != want.subjects {
        unsafe_diffs.push(format!(
            "subjects {:?} (want {:?})",
            found.subjects, want.subjects
        ));
    }
    if found.retention != want.retention {
        unsafe_diffs.push(format!(
            "retention {:?} (want {:?})",
            found.retention, want.retention
        ));
    }
    if found.discard != want.discard {
        unsafe_diffs.push(format!(
            "discard {:?} (want {:?})",
            found.discard, want.discard
        ));
    }
    if found.max_messages_per_subject != want.max_messages_per_subject {
        unsafe_diffs.push(format!(
            "max_msgs_per_subject {} (want {})",
            found.max_messages_per_subject, want.max_messages_per_subject
        ));
    }
    if found.max_age != want.max_age {
        unsafe_diffs.push(format!("max_age {:?} (want none)", found.max_age));
    }
    if found.deny_delete != want.deny_delete || (want.deny_purge && !found.deny_purge) {
        unsafe_diffs.push("deletes or purges are allowed".to_owned());
    }
    if !found.allow_direct {
        unsafe_diffs.push("allow_direct is off".to_owned());
    }
    unsafe_diffs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comma_separated_urls_are_several_servers_and_bad_ones_are_clear_errors() {
        let addrs =
            server_addrs("nats://127.0.0.1:4222, nats://127.0.0.1:4223,127.0.0.1:4224").unwrap();
        assert_eq!(addrs.len(), 3);
        for bad in ["", " , ", "nats://127.0.0.1:notaport"] {
            let err = server_addrs(bad).unwrap_err();
            assert_eq!(
                err.kind(),
                aether_core::ErrorKind::InvalidInput,
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn versions_below_2_12_2_are_refused_naming_both_versions() {
        assert!(check_server_capabilities("2.12.2", 2).is_ok());
        for v in ["2.12.0", "2.12.1", "v2.12.1-RC.2"] {
            let msg = check_server_capabilities(v, 2).unwrap_err().to_string();
            let says = format!("nats-server {v} is older than 2.12.2, the oldest Aether supports");
            assert!(msg.contains(&says) && msg.contains("deadlock"), "{msg}");
        }
        assert!(check_server_capabilities("v2.12.3-beta", 2).is_ok());
        assert!(check_server_capabilities("2.15.1", 3).is_ok());
        for v in ["2.11.4", "2.10.22", "2.9.10", "v2.11.99-RC.1"] {
            let msg = check_server_capabilities(v, 1).unwrap_err().to_string();
            let says = format!("nats-server {v} is older than 2.12.2, the oldest Aether supports");
            assert!(msg.contains(&says), "{msg}");
            assert!(msg.contains("atomic batch publish"), "{msg}");
        }
        // A version that does not parse is judged by its API level.
        let msg = check_server_capabilities("garbage", 1)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("API level 1, below level 2 of nats-server 2.12.2"),
            "{msg}"
        );
        assert!(msg.contains("it lacks atomic batch publish"), "{msg}");
        assert!(
            msg.contains("Upgrade the servers to 2.12.2 or later"),
            "{msg}"
        );
        assert!(check_server_capabilities("garbage", 2).is_ok());
        // A new version reporting an old API level is refused too.
        assert!(check_server_capabilities("2.12.2", 1).is_err());
    }

    #[test]
    fn stream_settings_are_safe() {
        let names = Names::new(&Namespace::new("bank").unwrap());
        let o = JetStreamStoreOptions::new();
        let ev = events_config(&names, &o);
        assert_eq!(ev.discard, stream::DiscardPolicy::New);
        assert_eq!(ev.max_messages_per_subject, -1);
        assert!(ev.deny_delete && ev.deny_purge && ev.allow_direct);
        assert_eq!(ev.max_age, Duration::ZERO);
        assert!(verify(&ev, &ev).is_ok());
        let mut bad = ev.clone();
        bad.discard = stream::DiscardPolicy::Old;
        bad.deny_purge = false;
        let err = verify(&ev, &bad).unwrap_err().to_string();
        assert!(err.contains("discard") && err.contains("purges"), "{err}");
        let sn = snapshots_config(&names, &o);
        assert_eq!(sn.max_messages_per_subject, 3);
    }
}
