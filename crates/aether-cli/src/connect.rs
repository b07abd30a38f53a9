//! The connection to NATS (`--server`, `--creds`, `--tls-*`) and opening a namespace that
//! already exists, read-only: the CLI never creates a stream or a namespace.

use std::path::{Path, PathBuf};
use std::time::Duration;

use aether_core::Namespace;
use aether_store_jetstream::async_nats::{self, ServerAddr};
use aether_store_jetstream::{JetStreamEventStore, JetStreamStoreOptions};
use anyhow::{bail, Context, Result};

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
    /// Connects to the servers, failing within a few seconds when none answers.
    pub(crate) async fn connect(&self) -> Result<async_nats::Client> {
        let servers = server_addrs(&self.server)?;
        let options = self.options().await?;
        options
            .connect(servers.as_slice())
            .await
            .with_context(|| format!("cannot connect to NATS at {}", self.server))
    }

    async fn options(&self) -> Result<async_nats::ConnectOptions> {
        let mut o = match &self.creds {
            Some(path) => {
                readable(path, "credentials file")?;
                async_nats::ConnectOptions::with_credentials_file(path)
                    .await
                    .with_context(|| format!("credentials file {}", path.display()))?
            }
            None => async_nats::ConnectOptions::new(),
        };
        if let Some(ca) = &self.tls_ca {
            readable(ca, "TLS CA file")?;
            o = o.add_root_certificates(ca.clone()).require_tls(true);
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            readable(cert, "TLS certificate file")?;
            readable(key, "TLS key file")?;
            o = o
                .add_client_certificate(cert.clone(), key.clone())
                .require_tls(true);
        }
        Ok(o.name("aether-cli").connection_timeout(CONNECT_TIMEOUT))
    }
}

/// Fails naming `what` unless `path` is a readable file (async-nats reads it only later,
/// with a vaguer error).
fn readable(path: &Path, what: &str) -> Result<()> {
    std::fs::File::open(path)
        .map(drop)
        .with_context(|| format!("{what} {}", path.display()))
}

/// `url` as one or more comma-separated server URLs.
fn server_addrs(url: &str) -> Result<Vec<ServerAddr>> {
    let addrs = url
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| {
            u.parse::<ServerAddr>()
                .with_context(|| format!("--server: {u:?} is not a NATS server URL"))
        })
        .collect::<Result<Vec<_>>>()?;
    if addrs.is_empty() {
        bail!("--server: no server URL given");
    }
    Ok(addrs)
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

    #[test]
    fn server_lists_are_comma_separated_urls() {
        assert_eq!(
            server_addrs("nats://a:4222, nats://b:4223").unwrap().len(),
            2
        );
        assert_eq!(server_addrs("127.0.0.1:4222").unwrap().len(), 1);
        let e = server_addrs(" , ").unwrap_err();
        assert_eq!(e.to_string(), "--server: no server URL given");
        let e = server_addrs("http://[::1").unwrap_err();
        assert!(
            format!("{e:#}").contains("is not a NATS server URL"),
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
