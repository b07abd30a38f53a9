//! The connection to NATS (`--server`, `--creds`, `--tls-*`) and opening a namespace that
//! already exists, read-only: the CLI never creates a stream or a namespace.

use std::path::{Path, PathBuf};
use std::time::Duration;

use aether_core::Namespace;
use aether_store_jetstream::async_nats;
use aether_store_jetstream::{ConnectionOptions, JetStreamEventStore, JetStreamStoreOptions};
use anyhow::{Context, Result};

/// How long connecting may take before the CLI gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the NATS servers are and how to authenticate.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ConnectArgs {
    /// NATS server URL(s), comma-separated.
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = "AETHER_NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    pub(crate) server: String,
    /// A NATS credentials file (`.creds`: user JWT and NKey seed).
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) creds: Option<PathBuf>,
    /// CA certificates (PEM) to trust for the servers' TLS certificates; requires TLS.
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) tls_ca: Option<PathBuf>,
    /// A client certificate (PEM) for mutual TLS; needs `--tls-key`.
    #[arg(long, global = true, value_name = "FILE", requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM); needs `--tls-cert`.
    #[arg(long, global = true, value_name = "FILE", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
}

impl ConnectArgs {
    /// Connects to the servers with the store's connection options, failing within a few
    /// seconds when none answers.
    pub(crate) async fn connect(&self) -> Result<async_nats::Client> {
        self.options()?
            .connect(&self.server)
            .await
            .with_context(|| format!("cannot connect to NATS at {}", self.server))
    }

    /// The store's connection options these arguments stand for.
    fn options(&self) -> Result<ConnectionOptions> {
        let mut o = ConnectionOptions::new()
            .name("aether-cli")
            .connect_timeout(CONNECT_TIMEOUT);
        if let Some(path) = &self.creds {
            readable(path, "credentials file")?;
            o = o.credentials_file(path.clone());
        }
        if let Some(ca) = &self.tls_ca {
            readable(ca, "TLS CA file")?;
            o = o.tls_root_certificates(ca.clone()).require_tls(true);
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            readable(cert, "TLS certificate file")?;
            readable(key, "TLS key file")?;
            o = o
                .tls_client_certificate(cert.clone(), key.clone())
                .require_tls(true);
        }
        Ok(o)
    }
}

/// Fails naming `what` unless `path` is a readable file (async-nats reads it only later,
/// with a vaguer error).
fn readable(path: &Path, what: &str) -> Result<()> {
    std::fs::File::open(path)
        .map(drop)
        .with_context(|| format!("{what} {}", path.display()))
}

/// Parses a namespace given on the command line.
pub(crate) fn namespace(name: &str) -> Result<Namespace> {
    Namespace::new(name).with_context(|| format!("namespace {name:?}"))
}

/// Opens namespace `ns` as it is, read-only: its streams must exist, be recorded in the
/// registry and have Aether's settings; nothing is created.
pub(crate) async fn open(
    client: &async_nats::Client,
    ns: &Namespace,
) -> Result<JetStreamEventStore> {
    JetStreamEventStore::open_existing(client.clone(), ns.clone(), JetStreamStoreOptions::new())
        .await
        .with_context(|| format!("opening namespace {ns}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(server: &str) -> ConnectArgs {
        ConnectArgs {
            server: server.to_owned(),
            creds: None,
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
        }
    }

    #[tokio::test]
    async fn bad_server_lists_are_named_before_connecting() {
        for (server, says) in [
            (" , ", "no server URL given"),
            ("http://[::1", "is not a NATS server URL"),
        ] {
            let e = args(server).connect().await.unwrap_err();
            let text = format!("{e:#}");
            assert!(
                text.contains(says) && text.starts_with("cannot connect to NATS at"),
                "{text}"
            );
        }
    }

    #[test]
    fn a_missing_credentials_file_is_named() {
        let mut a = args("nats://127.0.0.1:4222");
        a.creds = Some(PathBuf::from("/nonexistent/ops.creds"));
        let e = a.options().unwrap_err();
        assert!(
            format!("{e:#}").starts_with("credentials file /nonexistent/ops.creds"),
            "{e:#}"
        );
    }

    #[test]
    fn namespaces_are_checked() {
        assert_eq!(namespace("bank").unwrap().as_str(), "bank");
        let e = namespace("no.dots").unwrap_err();
        assert!(
            format!("{e:#}").starts_with("namespace \"no.dots\": "),
            "{e:#}"
        );
    }
}
