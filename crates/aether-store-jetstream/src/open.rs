//! Opening a store: the server capability check, the namespace registry, and creating or
//! verifying the streams.

use std::sync::Arc;
use std::time::Duration;

use aether_core::{Error, Namespace, Result};
use async_nats::jetstream::{self, kv, stream};
use serde::{Deserialize, Serialize};

use crate::cache::TailCache;
use crate::errors::{self, code};
use crate::names::{Names, REGISTRY_BUCKET};
use crate::options::Storage;
use crate::{Inner, JetStreamEventStore, JetStreamStoreOptions};

/// The oldest nats-server the store works with: batch direct get (one round trip for a
/// short replay) arrived in 2.11. Production should run 2.12.3 or later (durability fixes).
pub const MIN_SERVER_VERSION: (u32, u32, u32) = (2, 11, 0);

/// JetStream API level of nats-server 2.11.
const MIN_API_LEVEL: usize = 1;

/// Checks that a server of `version` (as in its INFO, for instance `"2.15.1"`) with
/// JetStream API level `api_level` has what the store needs.
///
/// ```
/// use aether_store_jetstream::check_server_capabilities;
/// assert!(check_server_capabilities("2.15.1", 5).is_ok());
/// let err = check_server_capabilities("2.9.10", 0).unwrap_err();
/// assert!(err.to_string().contains("batch direct get"));
/// ```
///
/// # Errors
/// [`Error::Backend`] naming the missing feature and the minimum version.
pub fn check_server_capabilities(version: &str, api_level: usize) -> Result<()> {
    let parsed = parse_version(version);
    let too_old = match parsed {
        Some(v) => v < MIN_SERVER_VERSION,
        None => api_level < MIN_API_LEVEL,
    };
    if too_old || api_level < MIN_API_LEVEL {
        let (a, b, c) = MIN_SERVER_VERSION;
        return Err(Error::Backend {
            message: format!(
                "nats-server {version} (JetStream API level {api_level}) lacks batch direct get, \
                 which the Aether JetStream store needs: use nats-server {a}.{b}.{c} or later \
                 (2.12.3 or later recommended)"
            ),
            source: None,
        });
    }
    Ok(())
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

/// What the registry records of a namespace.
#[derive(Debug, Serialize, Deserialize)]
struct RegistryEntry {
    format: u32,
    events_stream: String,
    snapshots_stream: String,
    created: String,
}

impl JetStreamEventStore {
    /// Connects to NATS at `url` (one or more comma-separated server URLs) with the
    /// credentials, TLS and timeouts of `options`, and opens `namespace`.
    ///
    /// # Errors
    /// As [`open`](Self::open), plus the connection's: refused credentials are
    /// [`Error::InvalidInput`], an unreachable server [`Error::Unavailable`].
    pub async fn connect(
        url: &str,
        namespace: Namespace,
        options: JetStreamStoreOptions,
    ) -> Result<Self> {
        options.validate()?;
        let nats = options.connection.to_nats(options.request_timeout).await?;
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
    /// Checks the server's capabilities, then creates the namespace's streams on first use
    /// (and records them in the `aether_registry` KV bucket) or verifies them.
    ///
    /// # Errors
    /// [`Error::Backend`] for a server without JetStream or too old (naming the missing
    /// feature and minimum version); [`Error::NotFound`] when a stream recorded in the
    /// registry has vanished (it is never recreated empty); [`Error::InvalidInput`] when an
    /// existing stream's settings are unsafe or the options are invalid.
    pub async fn open(
        client: async_nats::Client,
        namespace: Namespace,
        options: JetStreamStoreOptions,
    ) -> Result<Self> {
        options.validate()?;
        let info = client.server_info();
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
        let registry = registry_bucket(&js, &options).await?;
        // Retried like every other open-time request: during a stream leader election the
        // registry read fails for a few seconds, which must not fail the open.
        let entry = with_retry(&options, "reading the namespace registry", || {
            registry.get(namespace.as_str())
        })
        .await?;
        let events_cfg = events_config(&names, &options);
        let snapshots_cfg = snapshots_config(&names, &options);
        let recorded: Option<RegistryEntry> = entry
            .map(|bytes| {
                serde_json::from_slice(&bytes).map_err(|e| {
                    Error::codec(format!("registry entry of namespace {namespace}"), e)
                })
            })
            .transpose()?;
        for (name, cfg) in [
            (&names.events_stream, &events_cfg),
            (&names.snapshots_stream, &snapshots_cfg),
        ] {
            match (existing_config(&js, name, &options).await?, &recorded) {
                (Some(found), _) => verify(cfg, &found)?,
                (None, Some(entry)) => {
                    tracing::error!(
                        namespace = %namespace,
                        stream = %name,
                        created = %entry.created,
                        "a stream of the namespace has vanished; refusing to recreate it empty"
                    );
                    return Err(Error::NotFound(format!(
                        "stream {name} of namespace {namespace} has vanished: the registry \
                         ({REGISTRY_BUCKET}, key {namespace}) records it as created at {}; \
                         it is not recreated empty. Restore it from a backup, or delete the \
                         registry key deliberately to start the namespace over",
                        entry.created
                    )));
                }
                (None, None) => create_stream(&js, cfg, &options).await?,
            }
        }
        if recorded.is_none() {
            let entry = RegistryEntry {
                format: 1,
                events_stream: names.events_stream.clone(),
                snapshots_stream: names.snapshots_stream.clone(),
                created: aether_core::OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
            };
            let bytes =
                serde_json::to_vec(&entry).map_err(|e| Error::codec("registry entry", e))?;
            match registry.create(namespace.as_str(), bytes.into()).await {
                Ok(_) => {
                    tracing::info!(namespace = %namespace, "created the namespace's streams")
                }
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {}
                Err(e) => return Err(errors::map("recording the namespace in the registry", e)),
            }
        }

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
        let acks = crate::acks::Acks::start(client.clone(), options.request_timeout)
            .await
            .map_err(|e| errors::map("subscribing to append acknowledgements", e))?;
        Ok(JetStreamEventStore {
            inner: Arc::new(Inner {
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
        _ => Error::unavailable(format!("cannot connect to NATS at {url}: {e}"), e),
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

async fn registry_bucket(
    js: &jetstream::Context,
    options: &JetStreamStoreOptions,
) -> Result<kv::Store> {
    let deadline = tokio::time::Instant::now() + options.retry_deadline;
    loop {
        match js.get_key_value(REGISTRY_BUCKET).await {
            Ok(store) => return Ok(store),
            Err(e) if e.kind() == jetstream::context::KeyValueErrorKind::GetBucket => {
                let created = js
                    .create_key_value(kv::Config {
                        bucket: REGISTRY_BUCKET.to_owned(),
                        description: "Aether: namespaces whose streams were created".to_owned(),
                        history: 1,
                        num_replicas: options.replicas,
                        storage: storage(options.storage),
                        ..Default::default()
                    })
                    .await;
                match created {
                    Ok(store) => return Ok(store),
                    Err(e) => {
                        let err = errors::map("creating the namespace registry bucket", e);
                        if !err.is_transient() && err.kind() != aether_core::ErrorKind::Backend {
                            return Err(err);
                        }
                        // A concurrent first open may have created it: look again.
                        if tokio::time::Instant::now() > deadline {
                            return Err(err);
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
            Err(e) => {
                let err = errors::map("opening the namespace registry bucket", e);
                if tokio::time::Instant::now() > deadline {
                    return Err(err);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
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
        ..Default::default()
    }
}

async fn existing_config(
    js: &jetstream::Context,
    name: &str,
    options: &JetStreamStoreOptions,
) -> Result<Option<stream::Config>> {
    let deadline = tokio::time::Instant::now() + options.retry_deadline;
    loop {
        match js.get_stream(name).await {
            // The lookup is a stream info request: its answer is the configuration.
            Ok(s) => return Ok(Some(s.cached_info().config.clone())),
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
                if let Some(found) = existing_config(js, &cfg.name, options).await? {
                    return verify(cfg, &found);
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
    fn versions_below_the_minimum_are_refused_with_the_feature_named() {
        assert!(check_server_capabilities("2.11.0", 1).is_ok());
        assert!(check_server_capabilities("v2.12.3-beta", 2).is_ok());
        for (v, level) in [("2.10.22", 0), ("2.9.10", 0), ("2.11.0", 0), ("garbage", 0)] {
            let err = check_server_capabilities(v, level).unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.contains("batch direct get") && msg.contains("2.11.0"),
                "{msg}"
            );
        }
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
