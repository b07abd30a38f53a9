//! Opening a store: waiting for the first connection, the server capability check, and
//! (in [`registry`]) the namespace registry and creating or verifying the streams.

mod registry;

use std::sync::Arc;
use std::time::Duration;

use aether_core::{Error, Namespace, Result};
use async_nats::jetstream::{self, stream};

use crate::cache::TailCache;
use crate::errors::{self, code};
use crate::names::Names;
use crate::options::Storage;
use crate::{Inner, JetStreamEventStore, JetStreamStoreOptions};

/// The oldest nats-server Aether supports. Reads use batch direct get (2.11); per-message
/// TTLs, subject delete markers, pinned consumers (2.11) and atomic batch publish (2.12)
/// are what later features rely on. 2.12.0 and 2.12.1 have them but are refused: a batch
/// direct get running alongside a write leaks the stream's lock there (nats-server#7458,
/// fixed in 2.12.2), and Aether's runtime fault tests lost acknowledged asks on both.
/// Production should run 2.12.3 or later (durability fixes).
pub const MIN_SERVER_VERSION: (u32, u32, u32) = (2, 12, 2);

/// The first version with everything in [`NEEDED_FEATURES`].
const FEATURES_VERSION: (u32, u32, u32) = (2, 12, 0);

/// What is wrong with 2.12.0 and 2.12.1.
const EARLY_2_12_DEFECTS: &str = "a batch direct get during a write can deadlock the stream \
     (nats-server#7458, fixed in 2.12.2), and acknowledged writes went missing in Aether's \
     fault tests on it";

/// JetStream API level of nats-server 2.12.
const MIN_API_LEVEL: usize = 2;

/// What a server older than [`MIN_SERVER_VERSION`] lacks.
const NEEDED_FEATURES: &str = "atomic batch publish, batch direct get, per-message TTLs, \
     subject delete markers and pinned consumers";

/// How often [`first_server_info`] says that it is still waiting.
const STILL_WAITING_EVERY: Duration = Duration::from_secs(5);

/// Checks that a server of `version` (as in its INFO, for instance `"2.15.1"`) with
/// JetStream API level `api_level` has what the store needs: nats-server
/// [`MIN_SERVER_VERSION`] (2.12.2, API level 2) or later.
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
    let (a, b, c) = MIN_SERVER_VERSION;
    let oldest = format!("{a}.{b}.{c}");
    let message = match parse_version(version) {
        Some(v) if v < FEATURES_VERSION => format!(
            "nats-server {version} is older than {oldest}, the oldest Aether supports: it \
             lacks {NEEDED_FEATURES}"
        ),
        Some(v) if v < MIN_SERVER_VERSION => format!(
            "nats-server {version} is older than {oldest}, the oldest Aether supports: \
             {EARLY_2_12_DEFECTS}"
        ),
        _ if api_level < MIN_API_LEVEL => format!(
            "nats-server {version} has JetStream API level {api_level}, below level \
             {MIN_API_LEVEL} of nats-server {oldest}, the oldest Aether supports: it lacks \
             {NEEDED_FEATURES}"
        ),
        _ => return Ok(()),
    };
    Err(Error::Backend {
        message: format!(
            "{message}. Upgrade the servers to {oldest} or later (2.12.3 or later in \
             production)"
        ),
        source: None,
    })
}

fn parse_version(v: &str) -> Option<(u32, u32, u32)> {
    let v = v.trim().trim_start_matches('v');
    let core = v.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u32>());
    let major = parts.next()?.ok()?;
    let minor = parts.next()?.ok()?;
    let patch = parts.next().unwrap_or(Ok(0)).ok()?;
    Some((major, minor, patch))
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
    /// [`MIN_SERVER_VERSION`] (naming both versions); [`Error::NotFound`] when a stream
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
        options.validate()?;
        let info = first_server_info(&client, options.watch.as_ref()).await;
        if !info.jetstream {
            return Err(Error::Backend {
                message: format!(
                    "nats-server {} at {}:{} has JetStream disabled; the Aether store needs it \
                     (start the server with -js)",
                    info.version, info.host, info.port
                ),
                source: None,
            });
        }
        let js = jetstream::ContextBuilder::new()
            .timeout(options.request_timeout)
            .build(client.clone());
        // The version alone tells an old server, whose account info may not even parse.
        if parse_version(&info.version).is_some_and(|v| v < MIN_SERVER_VERSION) {
            check_server_capabilities(&info.version, 0)?;
        }
        let account = with_retry(&options, "querying the JetStream account", || {
            js.query_account()
        })
        .await?;
        check_server_capabilities(&info.version, account.requests.level)?;

        let names = Names::new(&namespace);
        registry::prepare(&js, &namespace, &names, &options).await?;

        let replica_reads = options.replica_reads.unwrap_or(options.replicas == 1);
        let events = js
            .get_stream_no_info(&names.events_stream)
            .await
            .map_err(|e| errors::map("opening the event stream", e))?;
        let snapshots = js
            .get_stream_no_info(&names.snapshots_stream)
            .await
            .map_err(|e| errors::map("opening the snapshot stream", e))?;
        let max_payload = info.max_payload;
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
fn server_addrs(url: &str) -> Result<Vec<async_nats::ServerAddr>> {
    let addrs = url
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| {
            u.parse::<async_nats::ServerAddr>().map_err(|e| {
                Error::invalid("nats url", format!("{u:?} is not a NATS server URL: {e}"))
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
    match e.kind() {
        K::AuthorizationViolation | K::Authentication => Error::invalid(
            "nats credentials",
            format!("the server at {url} refused the connection: {e} (check the credentials)"),
        ),
        K::Tls => Error::invalid("nats tls", format!("TLS with {url} failed: {e}")),
        // A refused handshake (an unknown CA, a name mismatch, a missing client
        // certificate) comes as an I/O error wrapping the TLS error: no retry fixes it.
        K::Io if is_tls_failure(&e) => Error::invalid(
            "nats tls",
            format!("TLS with {url} failed: {e} (check the certificates)"),
        ),
        K::ServerParse => Error::invalid("nats url", format!("{url:?}: {e}")),
        // The cause is said once, in the message (which the docs promise), not also as
        // the source.
        _ => Error::Unavailable {
            message: format!("cannot connect to NATS at {url}: {e}"),
            source: None,
        },
    }
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
    let mut pause = Duration::from_millis(50);
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) => {
                let code = errors::api_code(&e);
                if matches!(
                    code,
                    Some(code::NOT_ENABLED | code::NOT_ENABLED_FOR_ACCOUNT)
                ) {
                    return Err(Error::backend(
                        format!("{what}: JetStream is not enabled for this account or server"),
                        e,
                    ));
                }
                let err = errors::map(what, e);
                if !err.is_transient() || tokio::time::Instant::now() + pause > deadline {
                    return Err(err);
                }
                tracing::debug!(error = %err, "retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(500));
            }
        }
    }
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
        max_messages: o.max_messages,
        max_bytes: o.max_bytes,
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
        max_bytes: o.snapshot_max_bytes,
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
    loop {
        match js.get_stream(name).await {
            // The lookup is a stream info request: its answer is the configuration and state.
            Ok(s) => return Ok(Some(s.cached_info().clone())),
            Err(e) if errors::api_code(&e) == Some(code::STREAM_NOT_FOUND) => return Ok(None),
            Err(e) => {
                let err = errors::map(&format!("looking up stream {name}"), e);
                if !err.is_transient() || tokio::time::Instant::now() > deadline {
                    return Err(err);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn create_stream(
    js: &jetstream::Context,
    cfg: &stream::Config,
    options: &JetStreamStoreOptions,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + options.retry_deadline;
    loop {
        match js.create_stream(cfg.clone()).await {
            Ok(_) => return Ok(()),
            Err(e) => {
                if errors::api_code(&e) == Some(code::REPLICAS_NOT_SUPPORTED) {
                    return Err(Error::invalid(
                        "store options",
                        format!(
                            "replicas {} need a JetStream cluster; this server is not clustered ({e})",
                            cfg.num_replicas
                        ),
                    ));
                }
                let err = errors::map(&format!("creating stream {}", cfg.name), e);
                // A concurrent first open may have created the same stream.
                if let Some(found) = existing_stream(js, &cfg.name, options).await? {
                    return verify(cfg, &found.config);
                }
                if !err.is_transient() || tokio::time::Instant::now() > deadline {
                    return Err(err);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Refuses a stream whose settings could lose or change events; warns about harmless
/// differences (replicas, storage, limits), which operators may change on purpose.
fn verify(want: &stream::Config, found: &stream::Config) -> Result<()> {
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
