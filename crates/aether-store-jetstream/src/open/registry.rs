//! The namespace registry: telling a first open from a namespace whose streams or whose
//! registry entry vanished, so that a namespace is never started over silently.
//!
//! The streams are looked up before the registry entry is read. The entry is written at the
//! end of a first open, before any append can run, so streams that hold messages while the
//! entry is missing mean the registry was lost, not that another first open is under way;
//! empty streams without an entry are an unfinished first open (or an operator's), which is
//! finished. A stream missing at the first look is looked up again once the entry is
//! known, so a concurrent first open is not taken for a vanished stream.

use aether_core::support::retry_until;
use aether_core::{Error, Namespace, Result};
use async_nats::jetstream::stream::LastRawMessageErrorKind;
use async_nats::jetstream::{self, kv, stream};
use serde::{Deserialize, Serialize};

use super::{create_stream, events_config, existing_stream, snapshots_config, storage, verify};
use super::{with_retry, JetStreamStoreOptions};
use crate::errors::{self, code};
use crate::names::{Names, META_REGISTRY, REGISTRY_BUCKET, REGISTRY_FORMAT};

/// What the registry records of a namespace.
#[derive(Debug, Serialize, Deserialize)]
struct RegistryEntry {
    format: u32,
    events_stream: String,
    snapshots_stream: String,
    created: String,
}

impl RegistryEntry {
    fn new(names: &Names, created: aether_core::OffsetDateTime) -> Self {
        RegistryEntry {
            format: REGISTRY_FORMAT,
            events_stream: names.events_stream.clone(),
            snapshots_stream: names.snapshots_stream.clone(),
            created: created
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        }
    }
}

/// What one open works with.
struct Open<'a> {
    js: &'a jetstream::Context,
    ns: &'a Namespace,
    names: &'a Names,
    options: &'a JetStreamStoreOptions,
    /// Whether the open may create streams, the registry and its entry, and add metadata
    /// to streams (false: it only looks).
    create: bool,
}

/// A stream the namespace needs, and what the server has under its name.
struct Wanted {
    config: stream::Config,
    found: Option<stream::Info>,
}

/// Makes the namespace's streams ready: verifies them when the registry records the
/// namespace, creates them on a first open, and refuses a namespace whose streams or
/// registry entry vanished. Without `create`, nothing is created or changed: a namespace
/// without a registry entry is refused.
pub(super) async fn prepare(
    js: &jetstream::Context,
    ns: &Namespace,
    names: &Names,
    options: &JetStreamStoreOptions,
    create: bool,
) -> Result<()> {
    let open = Open {
        js,
        ns,
        names,
        options,
        create,
    };
    let mut streams = Vec::with_capacity(2);
    for config in [
        events_config(names, options),
        snapshots_config(names, options),
    ] {
        let found = existing_stream(js, &config.name, options).await?;
        if let Some(info) = &found {
            verify(&config, &info.config)?;
        }
        streams.push(Wanted { config, found });
    }
    let registry = find_registry(js, options).await?;
    let entry = match &registry {
        Some(r) => read_entry(r, &open).await?,
        None => None,
    };
    match entry {
        Some(entry) => check_registered(&open, &mut streams, &entry).await,
        None => first_open(&open, &streams, registry).await,
    }
}

/// The namespace is registered: every stream must be there.
async fn check_registered(
    open: &Open<'_>,
    streams: &mut [Wanted],
    entry: &RegistryEntry,
) -> Result<()> {
    for wanted in streams.iter_mut().filter(|s| s.found.is_none()) {
        // Looked up before a concurrent first open created it and then wrote the entry:
        // look again, now that the entry (written after the streams) is known.
        wanted.found = existing_stream(open.js, &wanted.config.name, open.options).await?;
        if let Some(info) = &wanted.found {
            verify(&wanted.config, &info.config)?;
        }
    }
    if let Some(gone) = streams.iter().find(|s| s.found.is_none()) {
        let name = &gone.config.name;
        tracing::error!(
            namespace = %open.ns,
            stream = %name,
            created = %entry.created,
            "a stream of the namespace has vanished; refusing to recreate it empty"
        );
        return Err(Error::not_found(format!(
            "stream {name} of namespace {ns} has vanished: the registry ({REGISTRY_BUCKET}, \
             key {ns}) records it as created at {}; it is not recreated empty. Restore it \
             from a backup, or, to start the namespace over on purpose, delete whatever \
             remains of its streams ({other}) and its registry key",
            entry.created,
            ns = open.ns,
            other = streams
                .iter()
                .find(|s| s.config.name != *name)
                .map_or("", |s| s.config.name.as_str()),
        )));
    }
    for info in streams.iter().filter_map(|s| s.found.as_ref()) {
        adopt(open, info).await;
    }
    Ok(())
}

/// The namespace is not registered: a first open, unless its streams hold messages.
async fn first_open(
    open: &Open<'_>,
    streams: &[Wanted],
    registry: Option<kv::Store>,
) -> Result<()> {
    let found = || streams.iter().filter_map(|s| s.found.as_ref());
    if let Some(used) = found().find(|i| i.state.last_sequence > 0) {
        return Err(registry_lost(open, registry.is_some(), used));
    }
    if !open.create {
        return Err(not_registered(open, registry.is_some()));
    }
    if !open.options.create_if_missing {
        return Err(not_created(open, registry.is_some(), found().count()));
    }
    for wanted in streams {
        match &wanted.found {
            Some(info) => adopt(open, info).await,
            None => create_stream(open.js, &wanted.config, open.options).await?,
        }
    }
    let registry = match registry {
        Some(r) => r,
        None => create_registry(open).await?,
    };
    write_entry(&registry, open).await
}

/// The error (and alarm) for streams that hold messages while their registry entry, or the
/// whole registry bucket, is missing.
fn registry_lost(open: &Open<'_>, bucket_exists: bool, used: &stream::Info) -> Error {
    let ns = open.ns;
    let missing = if bucket_exists {
        format!("the registry bucket {REGISTRY_BUCKET} has no key {ns}")
    } else {
        format!("the registry bucket {REGISTRY_BUCKET} is missing")
    };
    let entry = RegistryEntry::new(open.names, used.created);
    let json = serde_json::to_string(&entry).unwrap_or_default();
    let add_bucket = if bucket_exists {
        String::new()
    } else {
        format!(
            "`nats kv add {REGISTRY_BUCKET} --history=1 --replicas={} --storage={}`, then ",
            open.options.replicas,
            match open.options.storage {
                crate::Storage::File => "file",
                crate::Storage::Memory => "memory",
            }
        )
    };
    tracing::error!(
        namespace = %ns,
        stream = %used.config.name,
        last_sequence = used.state.last_sequence,
        "the namespace registry was lost while the namespace's streams hold messages; \
         refusing to open the namespace"
    );
    Error::not_found(format!(
        "namespace {ns} is not registered, yet its stream {stream} holds messages (last \
         sequence {seq}): {missing}. The registry was deleted or lost, and without it a \
         vanished stream could not be told from a new namespace, so the namespace is not \
         opened. Restore the registry from a backup, or register the namespace again: \
         {add_bucket}`nats kv put {REGISTRY_BUCKET} {ns} '{json}'` (see docs/operations.md, \
         \"A lost registry\")",
        stream = used.config.name,
        seq = used.state.last_sequence,
    ))
}

/// The error of an open that may not create anything, for a namespace without a registry
/// entry (and whose streams, if any, hold nothing).
fn not_registered(open: &Open<'_>, bucket_exists: bool) -> Error {
    let where_ = if bucket_exists {
        format!(
            "the registry bucket {REGISTRY_BUCKET} has no key {}",
            open.ns
        )
    } else {
        format!("there is no registry bucket {REGISTRY_BUCKET}")
    };
    Error::not_found(format!(
        "namespace {} is not registered: {where_}. Nothing was created; open it with \
         `open` (or create it in a deployment step) to create it",
        open.ns
    ))
}

/// The error for a namespace that does not exist when `create_if_missing` is false.
fn not_created(open: &Open<'_>, bucket_exists: bool, streams_found: usize) -> Error {
    let ns = open.ns;
    let what = match (bucket_exists, streams_found) {
        (false, 0) => format!(
            "the registry bucket {REGISTRY_BUCKET} does not exist (no namespace has been \
             created on this NATS account, or the registry was deleted) and neither do its \
             streams"
        ),
        (true, 0) => format!(
            "the registry bucket {REGISTRY_BUCKET} has no key {ns} and its streams {} and {} \
             do not exist",
            open.names.events_stream, open.names.snapshots_stream
        ),
        _ => format!(
            "it is not in the registry bucket {REGISTRY_BUCKET}, and its streams that exist \
             hold no message (an unfinished first open?)"
        ),
    };
    Error::not_found(format!(
        "namespace {ns} does not exist: {what}. It is not created because create_if_missing \
         is false: check the namespace's name, or create it once with create_if_missing(true) \
         (for instance in a deployment step)"
    ))
}

/// Adds the registry metadata to a stream made before streams carried it (or by an
/// operator), now that the stream is known to be the namespace's. Best effort: a failure is
/// logged and the next open tries again. An open that may not change anything leaves the
/// stream as it is.
async fn adopt(open: &Open<'_>, info: &stream::Info) {
    if !open.create || info.config.metadata.contains_key(META_REGISTRY) {
        return;
    }
    let mut config = info.config.clone();
    config.metadata.extend(open.names.stream_metadata());
    match open.js.update_stream(&config).await {
        Ok(_) => tracing::info!(
            stream = %config.name,
            "added the registry metadata (aether.registry, aether.namespace, aether.format) \
             to a stream that had none"
        ),
        Err(e) => tracing::warn!(
            stream = %config.name,
            error = &e as &dyn std::error::Error,
            "could not add the registry metadata to the stream; kept as it is, the next open \
             tries again"
        ),
    }
}

/// The registry bucket, or `None` when the server has none.
///
/// Every failure but "no such bucket" is tried again until the deadline: while a
/// concurrent first open is creating the bucket (on a cluster, while its stream is being
/// placed), looking it up can fail with errors that are not transient in general.
async fn find_registry(
    js: &jetstream::Context,
    options: &JetStreamStoreOptions,
) -> Result<Option<kv::Store>> {
    let deadline = tokio::time::Instant::now() + options.retry_deadline;
    retry_until(
        deadline,
        |_: &Error| true,
        || async {
            match js.get_key_value(REGISTRY_BUCKET).await {
                Ok(store) => Ok(Some(store)),
                Err(e) if errors::api_code(&e) == Some(code::STREAM_NOT_FOUND) => Ok(None),
                Err(e) => Err(errors::map("opening the namespace registry bucket", e)),
            }
        },
    )
    .await
}

/// Creates the registry bucket, raising an alarm when other namespaces' streams exist: then
/// the bucket was lost, not never made.
///
/// Every failure is followed by a look for the bucket (a concurrent first open may have
/// created it, which makes this creation fail); transient and backend failures are tried
/// again until the deadline, as a creation racing another one on a cluster can fail with
/// a backend error ("stream name already in use") before the other's bucket is visible.
async fn create_registry(open: &Open<'_>) -> Result<kv::Store> {
    alarm_if_others_exist(open).await;
    let deadline = tokio::time::Instant::now() + open.options.retry_deadline;
    let config = kv::Config {
        bucket: REGISTRY_BUCKET.to_owned(),
        description: "Aether: namespaces whose streams were created".to_owned(),
        history: 1,
        num_replicas: open.options.replicas,
        storage: storage(open.options.storage),
        ..Default::default()
    };
    let retried = |e: &Error| e.is_transient() || e.kind() == aether_core::ErrorKind::Backend;
    retry_until(deadline, retried, || async {
        let err = match open.js.create_key_value(config.clone()).await {
            Ok(store) => return Ok(store),
            Err(e) => errors::map("creating the namespace registry bucket", e),
        };
        // A concurrent first open may have created it.
        match find_registry(open.js, open.options).await? {
            Some(store) => Ok(store),
            None => Err(err),
        }
    })
    .await
}

/// Logs an error when event streams of other namespaces exist while the registry bucket
/// does not: those namespaces will refuse to open until their entries are restored.
async fn alarm_if_others_exist(open: &Open<'_>) {
    use futures::TryStreamExt;
    let mut names = open.js.stream_names();
    let mut others = Vec::new();
    while let Ok(Some(name)) = names.try_next().await {
        if name.starts_with("AETHER_EV_") && name != open.names.events_stream {
            others.push(name);
        }
    }
    if !others.is_empty() {
        tracing::error!(
            streams = ?others,
            "the namespace registry bucket {REGISTRY_BUCKET} was missing while Aether streams \
             of other namespaces exist: it was deleted or lost. It is created again for \
             namespace {}; those namespaces refuse to open until their entries are restored \
             (see docs/operations.md, \"A lost registry\")",
            open.ns
        );
    }
}

/// The namespace's registry entry, read from the bucket's stream leader (a replica may lag
/// behind a concurrent first open), or `None` when there is none or it was deleted.
async fn read_entry(registry: &kv::Store, open: &Open<'_>) -> Result<Option<RegistryEntry>> {
    let subject = open.names.registry_subject();
    let found = with_retry(open.options, "reading the namespace registry", || async {
        match registry
            .stream
            .get_last_raw_message_by_subject(&subject)
            .await
        {
            Ok(message) => Ok(Some(message)),
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(e),
        }
    })
    .await?;
    let Some(message) = found else {
        return Ok(None);
    };
    let deleted = message
        .headers
        .get("KV-Operation")
        .is_some_and(|op| matches!(op.as_str(), "DEL" | "PURGE"));
    if deleted {
        return Ok(None);
    }
    serde_json::from_slice(&message.payload)
        .map(Some)
        .map_err(|e| {
            Error::codec(
                format!(
                    "the registry entry of namespace {} is not readable",
                    open.ns
                ),
                e,
            )
        })
}

/// Records the namespace in the registry; an entry written meanwhile by a concurrent first
/// open is as good.
async fn write_entry(registry: &kv::Store, open: &Open<'_>) -> Result<()> {
    let entry = RegistryEntry::new(open.names, aether_core::OffsetDateTime::now_utc());
    let bytes = serde_json::to_vec(&entry)
        .map_err(|e| Error::codec("cannot encode the registry entry", e))?;
    let key = open.ns.as_str();
    with_retry(
        open.options,
        "recording the namespace in the registry",
        || async {
            match registry.create(key, bytes.clone().into()).await {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Ok(()),
                Err(e) => Err(e),
            }
        },
    )
    .await?;
    tracing::info!(namespace = %open.ns, "created the namespace's streams");
    Ok(())
}
